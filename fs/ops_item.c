/* SPDX-License-Identifier: MIT */
/* The files inside a list directory: items, .format and .json. */

/*
 * Item i of a list is L/<i>.<type> (docs/lists.md); the bare <i> and
 * <i>.<any type> resolve too, and a write through a typed name stores that
 * type, by CPython's rules.  .format and .json are text made from the list.
 * Python stores through its mapping without any inotify event, so nothing
 * here is cached by the kernel: attribute timeouts are 0 and files are
 * opened direct_io.  Each request works on one copy of the list
 * (list_edit.h).  A list that went away answers ESTALE where the kernel can
 * look the path up again (getattr, open) and EIO on an open file.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list_edit.h"
#include "list_text.h"
#include "ops_item.h"

/* Largest value one handle accumulates: an appended str may be this big. */
#define WRITE_MAX (SLIST_MAX_SLOT_BYTES + 1)
#define SLIST_MAX_SLOT_BYTES 9999992u
/* Largest value written to an existing item's handle beyond its capacity. */
#define WRITE_SLACK 4096

#define XATTR_CAPACITY "user.shmfs.capacity"

/*
 * An open item or hidden file.  Threads may read and write one open file at
 * the same time (a descriptor shared by threads), so `lock` protects every
 * field but `append`, which is set before the file is handed out.
 */
struct item_fh {
	pthread_mutex_t lock;
	char *text;             /* what reads return, rendered at offset 0 */
	size_t text_len;
	bool have_text;
	char *wbuf;             /* what the handle wrote, offset-addressed */
	size_t wlen, wcap;
	bool append;            /* created the item: may rebuild the list */
};

static uint64_t key_index(const struct node *node)
{
	return node->child_key >> 3;
}

static int key_type(const struct node *node)
{
	return (int)(node->child_key & 7);
}

static bool is_json(const struct node *node)
{
	return node->kind == NODE_LIST_META && node->child_key == ITEM_KEY_JSON;
}

/* On an open file, a list that went away is an I/O error. */
static int open_file_rc(int rc)
{
	return rc == -ESTALE ? -EIO : rc;
}

/* The content of the file `node` from a copy of its list. */
static int render(const struct list_snap *snap, struct node *node,
		  struct text *t)
{
	if (node->kind == NODE_LIST_ENTRY) {
		if (key_index(node) >= snap->lay->count)
			return -ESTALE;
		return list_text_item(snap, key_index(node), t);
	}
	if (is_json(node))
		return list_text_json(snap, t);
	return list_text_format(snap, t);
}

/* The attributes of a file inside the list: the block's, without x. */
static void file_attr(const struct stat *block, const struct node *node,
		      size_t size, bool read_only, struct stat *st)
{
	mode_t perm = block->st_mode & 0666;

	*st = *block;
	if (read_only)
		perm &= 0444;
	st->st_mode = S_IFREG | perm;
	st->st_nlink = 1;
	st->st_ino = (ino_t)inode_id(node);
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

/* Attributes of `node`, its size from a rendering of `snap`. */
static int attr_from(const struct list_snap *snap, bool read_only,
		     struct node *node, struct stat *st)
{
	struct text t = { 0 };
	int rc = render(snap, node, &t);

	/* An item CPython could not read either (bad UTF-8) shows empty. */
	if (rc == -EILSEQ) {
		text_free(&t);
		rc = 0;
	}
	if (rc == 0)
		file_attr(&snap->st, node, t.len,
			  read_only || node->kind == NODE_LIST_META, st);
	text_free(&t);
	return rc;
}

/* Loads the list of `node`. */
static int load(struct shmfs *fs, struct node *node, struct list_view *view)
{
	return list_view_load(fs, node->parent, view);
}

/* Attributes of `node` from a fresh copy of its list. */
static int node_attr(struct shmfs *fs, struct node *node, struct stat *st)
{
	struct list_view view;
	int rc = load(fs, node, &view);

	if (rc == 0)
		rc = attr_from(&view.snap, view.read_only, node, st);
	list_view_close(&view);
	return rc;
}

void item_reply_entry(fuse_req_t req, struct node *child,
		      const struct list_snap *snap, bool read_only)
{
	struct fuse_entry_param e;
	int rc;

	memset(&e, 0, sizeof(e));
	e.ino = inode_id(child);
	e.generation = child->generation;
	rc = attr_from(snap, read_only, child, &e.attr);
	if (rc < 0) {
		inode_forget(req_fs(req)->inodes, child, 1);
		reply_rc(req, rc);
		return;
	}
	reply_entry(req, &e);
}

static void item_getattr(fuse_req_t req, struct node *node)
{
	struct stat st;
	int rc = node_attr(req_fs(req), node, &st);

	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, 0);
}

static void item_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	struct stat st;
	int rc;

	/* Items: truncating to 0 is how shells open for writing; a no-op. */
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		      FUSE_SET_ATTR_GID)) {
		rc = -EPERM;
		goto out_err;
	}
	if (to_set & FUSE_SET_ATTR_SIZE &&
	    (attr->st_size != 0 || node->kind == NODE_LIST_META)) {
		rc = node->kind == NODE_LIST_META ? -EACCES : -EINVAL;
		goto out_err;
	}
	rc = node_attr(req_fs(req), node, &st);
	if (rc < 0)
		goto out_err;
	fuse_reply_attr(req, &st, 0);
	return;
out_err:
	reply_rc(req, rc);
}

static void fh_free(struct item_fh *fh)
{
	if (!fh)
		return;
	/*
	 * The kernel completes a read while our reply is being written, so
	 * the RELEASE that follows a close can arrive while the reading
	 * thread still holds the file: wait for it to let go.
	 */
	pthread_mutex_lock(&fh->lock);
	pthread_mutex_unlock(&fh->lock);
	pthread_mutex_destroy(&fh->lock);
	free(fh->text);
	free(fh->wbuf);
	free(fh);
}

/* Opens `node` from a copy of its list: checks and fills fi. */
static int open_from(const struct list_snap *snap, bool read_only,
		     struct node *node, struct fuse_file_info *fi, bool append)
{
	int accmode = fi->flags & O_ACCMODE;
	struct item_fh *fh;
	struct text t = { 0 };
	int rc;

	if (node->kind == NODE_LIST_META && accmode != O_RDONLY)
		return -EACCES;
	rc = render(snap, node, &t);
	if (rc == -EILSEQ)
		rc = 0;
	if (rc < 0)
		goto fail;
	if (accmode != O_RDONLY && read_only) {
		rc = -EACCES;
		goto fail;
	}
	fh = calloc(1, sizeof(*fh));
	if (!fh) {
		rc = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&fh->lock, NULL);
	/* .format and .json are what they were at open; items read fresh. */
	if (node->kind == NODE_LIST_META) {
		fh->text = t.buf;
		fh->text_len = t.len;
		fh->have_text = true;
		t.buf = NULL;
	}
	fh->append = append;
	fi->fh = (uintptr_t)fh;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;
	rc = 0;
fail:
	text_free(&t);
	return rc;
}

void item_reply_create(fuse_req_t req, struct node *child,
		       const struct list_snap *snap, bool read_only,
		       bool appended, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int rc;

	memset(&e, 0, sizeof(e));
	e.ino = inode_id(child);
	e.generation = child->generation;
	rc = attr_from(snap, read_only, child, &e.attr);
	if (rc == 0)
		rc = open_from(snap, read_only, child, fi, appended);
	if (rc < 0) {
		inode_forget(req_fs(req)->inodes, child, 1);
		reply_rc(req, rc);
		return;
	}
	if (fuse_reply_create(req, &e, fi) != 0) {
		fh_free((struct item_fh *)(uintptr_t)fi->fh);
		inode_forget(req_fs(req)->inodes, child, 1);
	}
}

static void item_open(fuse_req_t req, struct node *node,
		      struct fuse_file_info *fi)
{
	struct list_view view;
	int rc = load(req_fs(req), node, &view);

	if (rc == 0)
		rc = open_from(&view.snap, view.read_only, node, fi, false);
	list_view_close(&view);
	if (rc < 0)
		reply_rc(req, rc);
	else if (fuse_reply_open(req, fi) != 0)
		fh_free((struct item_fh *)(uintptr_t)fi->fh);
}

static void item_release(fuse_req_t req, struct node *node,
			 struct fuse_file_info *fi)
{
	fh_free((struct item_fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void item_read(fuse_req_t req, struct node *node, size_t size,
		      off_t off, struct fuse_file_info *fi)
{
	struct item_fh *fh = (struct item_fh *)(uintptr_t)fi->fh;
	struct list_view view;
	struct text t = { 0 };
	int rc;

	pthread_mutex_lock(&fh->lock);
	/* An item is read anew at offset 0, so a store shows at once. */
	if (node->kind == NODE_LIST_ENTRY && (off == 0 || !fh->have_text)) {
		rc = load(req_fs(req), node, &view);
		if (rc == 0)
			rc = render(&view.snap, node, &t);
		list_view_close(&view);
		if (rc < 0) {
			text_free(&t);
			reply_rc(req, open_file_rc(rc));
			goto out_unlock;
		}
		free(fh->text);
		fh->text = t.buf;
		fh->text_len = t.len;
		fh->have_text = true;
	}
	if (off < 0 || (uint64_t)off >= fh->text_len) {
		fuse_reply_buf(req, NULL, 0);
		goto out_unlock;
	}
	if (size > fh->text_len - (size_t)off)
		size = fh->text_len - (size_t)off;
	fuse_reply_buf(req, fh->text + off, size);
out_unlock:
	pthread_mutex_unlock(&fh->lock);
}

static void write_locked(fuse_req_t req, struct node *node, const char *buf,
			 size_t size, off_t off, struct fuse_file_info *fi)
{
	struct item_fh *fh = (struct item_fh *)(uintptr_t)fi->fh;
	struct shmfs *fs = req_fs(req);
	size_t end, limit = WRITE_MAX;
	char *old = NULL;
	size_t old_len = fh->wlen;
	int rc;

	if (node->kind != NODE_LIST_ENTRY) {
		reply_rc(req, -EBADF);
		return;
	}
	if (fi->flags & O_APPEND)
		off = (off_t)fh->wlen;
	if (off < 0 || (uint64_t)off > limit || size > limit - (size_t)off) {
		reply_rc(req, -EFBIG);
		return;
	}
	end = (size_t)off + size;
	if (end > fh->wcap) {
		size_t cap = end < 64 ? 64 : end * 2 > limit ? limit : end * 2;
		char *b = realloc(fh->wbuf, cap);

		if (!b) {
			reply_rc(req, -ENOMEM);
			return;
		}
		fh->wbuf = b;
		fh->wcap = cap;
	}
	/* Keep what this write overwrites, to undo it if the value fails. */
	if (off < (off_t)fh->wlen) {
		size_t n = end < fh->wlen ? size : fh->wlen - (size_t)off;

		old = malloc(n ? n : 1);
		if (!old) {
			reply_rc(req, -ENOMEM);
			return;
		}
		memcpy(old, fh->wbuf + off, n);
	}
	if ((size_t)off > fh->wlen)
		memset(fh->wbuf + fh->wlen, 0, (size_t)off - fh->wlen);
	memcpy(fh->wbuf + off, buf, size);
	if (end > fh->wlen)
		fh->wlen = end;
	rc = list_edit_set(fs, node->parent, key_index(node), key_type(node),
			   fh->wbuf ? fh->wbuf : "", fh->wlen, fh->append);
	if (rc < 0) {
		if (old)
			memcpy(fh->wbuf + off, old,
			       end < old_len ? size : old_len - (size_t)off);
		fh->wlen = old_len;
		free(old);
		reply_rc(req, open_file_rc(rc));
		return;
	}
	free(old);
	fh->have_text = false;
	fuse_reply_write(req, size);
}

static void item_write(fuse_req_t req, struct node *node, const char *buf,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct item_fh *fh = (struct item_fh *)(uintptr_t)fi->fh;

	pthread_mutex_lock(&fh->lock);
	write_locked(req, node, buf, size, off, fi);
	pthread_mutex_unlock(&fh->lock);
}

/* Replies to getxattr with `value` (or its size). */
static void reply_value(fuse_req_t req, const char *value, size_t len,
			size_t size)
{
	reply_xattr(req, value, (ssize_t)len, size);
}

static void item_getxattr(fuse_req_t req, struct node *node, const char *name,
			  size_t size)
{
	struct list_view view;
	char num[32];
	int rc;

	if (node->kind == NODE_LIST_META || strcmp(name, XATTR_CAPACITY)) {
		reply_rc(req, -ENODATA);
		return;
	}
	rc = list_view_load(req_fs(req), node->parent, &view);
	if (rc == 0 && key_index(node) >= view.snap.lay->count)
		rc = -ESTALE;
	if (rc == 0)
		snprintf(num, sizeof(num), "%" PRIu64,
			 view.snap.lay->items[key_index(node)].capacity);
	list_view_close(&view);
	if (rc < 0)
		reply_rc(req, rc);
	else
		reply_value(req, num, strlen(num), size);
}

static void item_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	static const char capacity[] = XATTR_CAPACITY;

	if (node->kind == NODE_LIST_META)
		reply_value(req, "", 0, size);
	else
		reply_value(req, capacity, sizeof(capacity), size);
}

/* Items and hidden files carry no xattrs of their own. */
static void item_setxattr(fuse_req_t req, struct node *node, const char *name,
			  const char *value, size_t size, int flags)
{
	reply_rc(req, -EPERM);
}

static void item_removexattr(fuse_req_t req, struct node *node,
			     const char *name)
{
	reply_rc(req, -EPERM);
}

static void item_fallocate(fuse_req_t req, struct node *node, int mode,
			   off_t offset, off_t length)
{
	reply_rc(req, -EOPNOTSUPP);
}

const struct node_ops item_ops = {
	.getattr = item_getattr,
	.setattr = item_setattr,
	.open = item_open,
	.read = item_read,
	.write = item_write,
	.release = item_release,
	.fallocate = item_fallocate,
	.setxattr = item_setxattr,
	.getxattr = item_getxattr,
	.listxattr = item_listxattr,
	.removexattr = item_removexattr,
};
