/* SPDX-License-Identifier: MIT */
/*
 * A list's .format and .json: text made from the whole list, read-only
 * (docs/lists.md).  An open file reads the text of its open.  The entry
 * and attributes are cached as an item's (ops_item.c): the name stands
 * while the list does, and an open that renders a size other than the one
 * last told drops the attributes, so a `cat L/.json` is an OPEN and its
 * READs, not a LOOKUP and a GETATTR that each render the whole list too.
 * A list that went away answers ESTALE (getattr, open).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "list_edit.h"
#include "list_text.h"
#include "node_ops.h"
#include "ops_meta.h"

/* An open .format or .json: the text at open. */
struct meta_fh {
	pthread_mutex_t lock; /* held by a read while it replies */
	struct text t;
};

/* The content of `node` from a copy of its list. */
static int render(const struct list_snap *snap, struct node *node,
		  struct text *t)
{
	if (node->child_key == ITEM_KEY_JSON)
		return list_text_json(snap, t);
	return list_text_format(snap, t);
}

void meta_reply_entry(fuse_req_t req, struct node *child,
		      const struct list_snap *snap)
{
	struct stat st;
	int rc = list_file_attr_from(snap, true, child, render, &st);

	list_file_reply_entry(req, child, rc, &st, req_fs(req)->timeout,
			      list_file_attr_timeout(req_fs(req)));
}

/* Attributes of `node` from a fresh copy of its list. */
static int node_attr(struct shmfs *fs, struct node *node, struct stat *st)
{
	return list_file_node_attr(fs, node, LIST_WHOLE, true, render, st);
}

static void meta_getattr(fuse_req_t req, struct node *node)
{
	struct stat st;
	int rc = node_attr(req_fs(req), node, &st);

	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, list_file_attr_timeout(req_fs(req)));
}

static void meta_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	struct stat st;
	int rc = 0;

	if (to_set &
	    (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		rc = -EPERM;
	else if (to_set & FUSE_SET_ATTR_SIZE)
		rc = -EACCES;
	if (rc == 0)
		rc = node_attr(req_fs(req), node, &st);
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, list_file_attr_timeout(req_fs(req)));
}

static void fh_free(struct meta_fh *fh)
{
	if (!fh)
		return;
	list_file_fh_retire(&fh->lock);
	text_free(&fh->t);
	free(fh);
}

/* Opens `node` from a copy of its list: checks and fills fi. */
static int open_from(struct shmfs *fs, const struct list_snap *snap,
		     struct node *node, struct fuse_file_info *fi)
{
	struct meta_fh *fh;
	struct text t = { 0 };
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	rc = render(snap, node, &t);
	if (rc == -EILSEQ)
		rc = 0;
	if (rc < 0)
		goto fail;
	list_file_check_told(fs, node, t.len);
	fh = calloc(1, sizeof(*fh));
	if (!fh) {
		rc = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&fh->lock, NULL);
	fh->t = t;
	fi->fh = (uintptr_t)fh;
	fi->noflush = 1;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
fail:
	text_free(&t);
	return rc;
}

static void meta_open(fuse_req_t req, struct node *node,
		      struct fuse_file_info *fi)
{
	struct list_view view;
	int rc = list_view_load(req_fs(req), node->parent, &view);

	if (rc == 0)
		rc = open_from(req_fs(req), &view.snap, node, fi);
	list_view_close(&view);
	if (rc < 0)
		reply_rc(req, rc);
	else if (fuse_reply_open(req, fi) != 0)
		fh_free((struct meta_fh *)(uintptr_t)fi->fh);
}

static void meta_release(fuse_req_t req, struct node *node,
			 struct fuse_file_info *fi)
{
	fh_free((struct meta_fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void meta_read(fuse_req_t req, struct node *node, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct meta_fh *fh = (struct meta_fh *)(uintptr_t)fi->fh;

	pthread_mutex_lock(&fh->lock);
	list_file_reply_text(req, fh->t.buf, fh->t.len, size, off);
	pthread_mutex_unlock(&fh->lock);
}

/* No xattrs. */
static void meta_getxattr(fuse_req_t req, struct node *node, const char *name,
			  size_t size)
{
	reply_rc(req, shmfs_xattr_absent(name));
}

static void meta_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	reply_xattr(req, "", 0, size);
}

const struct node_ops meta_ops = {
	.is_dir = false,
	.getattr = meta_getattr,
	.setattr = meta_setattr,
	.open = meta_open,
	.read = meta_read,
	.release = meta_release,
	.fallocate = list_file_fallocate,
	.setxattr = list_file_setxattr,
	.getxattr = meta_getxattr,
	.listxattr = meta_listxattr,
	.removexattr = list_file_removexattr,
};
