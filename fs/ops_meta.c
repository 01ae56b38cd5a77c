/* SPDX-License-Identifier: MIT */
/*
 * A list's .format and .json: text made from the whole list, read-only
 * but for writes of what they already show (a restore's; docs/lists.md).
 * An open file reads the text of its open.  The entry and attributes are
 * cached as an item's (ops_item.c): the name stands
 * while the list does, and an open that renders a size other than the one
 * last told drops the attributes, so a `cat L/.json` is an OPEN and its
 * READs, not a LOOKUP and a GETATTR that each render the whole list too.
 * A list that went away answers ESTALE (getattr, open).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "list_edit.h"
#include "list_text.h"
#include "node_ops.h"
#include "ops_lock.h"
#include "ops_meta.h"

/*
 * An open .format or .json: the text at open.  A handle open for writing
 * (a restore's: tar x --overwrite, cp -a, rsync --inplace) takes only what
 * the file already shows (docs/lists.md, "Shell habits"): `len` is the
 * length its content has (0 after O_TRUNC), every byte written must be
 * the text's at that offset, and the close wants the content whole.
 */
struct meta_fh {
	pthread_mutex_t lock; /* held by a read or write while it replies */
	struct text t;
	bool writing;
	size_t len;
	int failed; /* a write was refused: heard, the close answers 0 */
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
		      const struct list_snap *snap, bool read_only)
{
	struct stat st;
	int rc = list_file_attr_from(snap, read_only, child, render, &st);

	list_file_reply_entry(req, child, rc, &st, req_fs(req)->timeout,
			      list_file_attr_timeout(req_fs(req)));
}

/* Attributes of `node` from a fresh copy of its list. */
static int node_attr(struct shmfs *fs, struct node *node, struct stat *st)
{
	return list_file_node_attr(fs, node, LIST_WHOLE, false, render, st);
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

/*
 * ftruncate of a handle open for writing: a cut of its content, or NULs
 * the text doesn't have (-EPERM, refused as a write).
 */
static int truncate_fh(struct meta_fh *fh, off_t size)
{
	int rc = 0;

	pthread_mutex_lock(&fh->lock);
	if (fh->failed)
		rc = fh->failed;
	else if (!fh->writing || size < 0 || (size_t)size > fh->len)
		rc = fh->failed = -EPERM;
	else
		fh->len = (size_t)size;
	pthread_mutex_unlock(&fh->lock);
	return rc;
}

static void meta_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	struct meta_fh *fh = fi ? (struct meta_fh *)(uintptr_t)fi->fh : NULL;
	struct stat st;
	int rc = node_attr(req_fs(req), node, &st);

	/* Mode and owner as an item's (list_file_same_owner). */
	if (rc == 0 && !list_file_same_owner(&st, attr, to_set))
		rc = -EPERM;
	else if (rc == 0 && to_set & FUSE_SET_ATTR_SIZE && fh)
		rc = truncate_fh(fh, attr->st_size);
	else if (rc == 0 && to_set & FUSE_SET_ATTR_SIZE)
		rc = attr->st_size == st.st_size ? 0 : -EPERM;
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
		     bool read_only, struct node *node,
		     struct fuse_file_info *fi)
{
	struct meta_fh *fh;
	struct text t = { 0 };
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY && read_only)
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
	fh->writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	fh->len = fh->writing && fi->flags & O_TRUNC ? 0 : t.len;
	fi->fh = (uintptr_t)fh;
	/* Each close releases the process's locks (ops_lock.c). */
	fi->noflush = 0;
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
		rc = open_from(req_fs(req), &view.snap, view.read_only, node,
			       fi);
	list_view_close(&view);
	if (rc < 0)
		reply_rc(req, rc);
	else if (fuse_reply_open(req, fi) != 0)
		fh_free((struct meta_fh *)(uintptr_t)fi->fh);
}

/*
 * A close: what a handle open for writing holds must be the whole text
 * (an O_TRUNC open that wrote less would leave the file shorter: -EPERM).
 * After a refused write the writer heard already: 0.
 */
static void meta_flush(fuse_req_t req, struct node *node,
		       struct fuse_file_info *fi)
{
	struct meta_fh *fh = (struct meta_fh *)(uintptr_t)fi->fh;
	int rc = 0;

	node_locks_flush(req_fs(req), node, fi);
	pthread_mutex_lock(&fh->lock);
	if (fh->writing && !fh->failed && fh->len != fh->t.len)
		rc = -EPERM;
	pthread_mutex_unlock(&fh->lock);
	reply_rc(req, rc);
}

/*
 * A write takes bytes the text has at that offset (nothing is stored: the
 * file shows them already); anything else is -EPERM, and so are the later
 * writes of the handle, so that no part of another text looks accepted.
 */
static void meta_write(fuse_req_t req, struct node *node, const char *buf,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct meta_fh *fh = (struct meta_fh *)(uintptr_t)fi->fh;
	int rc = 0;

	pthread_mutex_lock(&fh->lock);
	if (fi->flags & O_APPEND)
		off = (off_t)fh->len;
	if (fh->failed)
		rc = fh->failed;
	else if (off < 0 || (size_t)off > fh->len || size > fh->t.len ||
		 (size_t)off > fh->t.len - size ||
		 memcmp(fh->t.buf + off, buf, size))
		rc = fh->failed = -EPERM;
	else if ((size_t)off + size > fh->len)
		fh->len = (size_t)off + size;
	pthread_mutex_unlock(&fh->lock);
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_write(req, size);
}

static void meta_release(fuse_req_t req, struct node *node,
			 struct fuse_file_info *fi)
{
	node_locks_release(req_fs(req), node, fi);
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
	.write = meta_write,
	.flush = meta_flush,
	.release = meta_release,
	.fallocate = list_file_fallocate,
	.setxattr = list_file_setxattr,
	.getxattr = meta_getxattr,
	.listxattr = meta_listxattr,
	.removexattr = list_file_removexattr,
	.getlk = node_getlk,
	.setlk = node_setlk,
	.flock = node_flock,
};
