/* SPDX-License-Identifier: MIT */
/* The items of a list directory (.format and .json: ops_meta.c). */

/*
 * Item i of a list is L/<i>.<type> (docs/lists.md); the bare <i> and
 * <i>.<any type> resolve too, and a write through a typed name stores that
 * type, by CPython's rules.  Python stores through its mapping without any
 * inotify event, so the kernel never caches an item's content: files are
 * opened direct_io and every read at offset 0 renders the item anew.  Item names and attributes
 * are cached (LIST_FILE_ATTR_TIMEOUT), which saves a cat three of its six requests:
 * a name stands for an index below the list's length, which only an
 * append through the mount (the kernel sees the CREATE) or a new block
 * under the list's name (an inotify event: the watch drops the list's
 * entry and so every entry below it) changes; the mode and owner are the
 * block's, whose changes the watch sees too (IN_ATTRIB).  Only the size
 * follows a store without any event: an open or read that renders a size
 * other than the one last replied drops the kernel's attributes
 * (told_size), and a stat with no read in between is at most
 * LIST_FILE_ATTR_TIMEOUT late.  Each request works on one copy of the list
 * (list_edit.h).  A list that went away answers ESTALE where the kernel can
 * look the path up again (getattr, open) and EIO on an open file.
 *
 * A value is stored whole or not at all, as CPython's sl[i] = v: a
 * writable handle collects what is written and stores it at FLUSH (each
 * close(2), whose error FLUSH's is) or at RELEASE if no flush came.
 * write() refuses what can't fit (EFBIG: a handle holds at most what its
 * item can, item_limit, so an open file never pins more) and text that no
 * continuation makes a value of its type (EINVAL, list_text_prefix), so
 * that a shell hears it; the close checks the whole value.  A refused
 * value changes nothing: a shell's redirection closes a copy of the
 * descriptor before it writes (bash: open, dup2, close), and that FLUSH
 * stores O_TRUNC's empty value; what such an earlier close of the handle
 * stored is taken back when the value is refused (list_edit_undo).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list_edit.h"
#include "list_file.h"
#include "list_text.h"
#include "node_ops.h"
#include "ops_item.h"

/*
 * Room for a number's text beyond its slot: int() and float() take
 * whitespace, underscores and non-ASCII digits, so a number's text may be
 * longer than its 8 bytes.
 */
#define NUMBER_TEXT_SLACK 4096

#define XATTR_CAPACITY "user.shmfs.capacity"

/*
 * An open item.  Threads may read and write one open file at
 * the same time (a descriptor shared by threads), so `lock` protects every
 * field but `append`, which is set before the file is handed out.
 */
struct item_fh {
	pthread_mutex_t lock;
	char *text; /* what reads return, rendered at offset 0 */
	size_t text_len;
	bool have_text;
	char *wbuf; /* what the handle wrote, offset-addressed */
	size_t wlen, wcap;
	size_t limit; /* wlen never exceeds it (item_limit) */
	int type;     /* the text's type: the name's, or the item's at open */
	bool gapless; /* no write began past the text's end */
	size_t valid; /* a str's text is whole UTF-8 characters up to here */
	bool dirty;   /* wbuf is a value to store */
	int failed;   /* a refused write: the value is lost */
	bool append;  /* created the item: may rebuild the list */
	struct list_undo undo; /* what this handle's closes stored */
};

/* On an open file, a list that went away is an I/O error. */
static int open_file_rc(int rc)
{
	return rc == -ESTALE ? -EIO : rc;
}

/* The content of the item `node` from a copy of its list. */
static int render(const struct list_snap *snap, struct node *node,
		  struct text *t)
{
	if (item_key_index(node) >= snap->lay->count)
		return -ESTALE;
	return list_text_item(snap, item_key_index(node), t);
}

static double attr_timeout(const struct shmfs *fs)
{
	return list_file_attr_timeout(fs);
}

/* Attributes of `node`, its size from a rendering of `snap`. */
static int attr_from(const struct list_snap *snap, bool read_only,
		     struct node *node, struct stat *st)
{
	return list_file_attr_from(snap, read_only, node, render, st);
}

/* Loads the list of `node`, for this item alone. */
static int load(struct shmfs *fs, struct node *node, struct list_view *view)
{
	return list_view_load_item(fs, node->parent, item_key_index(node),
				   view);
}

/* Attributes of `node` from a fresh copy of its list. */
static int node_attr(struct shmfs *fs, struct node *node, struct stat *st)
{
	return list_file_node_attr(fs, node, item_key_index(node), false,
				   render, st);
}

void item_reply_entry(fuse_req_t req, struct node *child,
		      const struct list_snap *snap, bool read_only)
{
	struct shmfs *fs = req_fs(req);
	struct stat st;
	int rc = attr_from(snap, read_only, child, &st);

	list_file_reply_entry(req, child, rc, &st, fs->timeout,
			      attr_timeout(fs));
}

static void item_getattr(fuse_req_t req, struct node *node)
{
	struct stat st;
	int rc = node_attr(req_fs(req), node, &st);

	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, attr_timeout(req_fs(req)));
}

/*
 * truncate(2) of an item to 0: through an open handle (ftruncate) its
 * pending value becomes empty, stored at close like a written one; by path
 * there is no handle to wait for, so the empty value ('' or b''; an error
 * for the types whose empty text is no value) is stored at once.  Other
 * sizes have no meaning for a value: -EINVAL.
 */
static int item_truncate(struct shmfs *fs, struct node *node, off_t size,
			 struct fuse_file_info *fi)
{
	struct item_fh *fh = fi ? (struct item_fh *)(uintptr_t)fi->fh : NULL;

	if (size != 0)
		return -EINVAL;
	if (!fh)
		return open_file_rc(
			list_edit_set(fs, node->parent, item_key_index(node),
				      item_key_type(node), "", 0, false, NULL));
	pthread_mutex_lock(&fh->lock);
	fh->wlen = 0;
	fh->gapless = true;
	fh->valid = 0;
	fh->dirty = true;
	pthread_mutex_unlock(&fh->lock);
	return 0;
}

static void item_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	struct stat st;
	int rc;

	if (to_set &
	    (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		rc = -EPERM;
		goto out_err;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		rc = item_truncate(req_fs(req), node, attr->st_size, fi);
		if (rc < 0)
			goto out_err;
	}
	rc = node_attr(req_fs(req), node, &st);
	if (rc < 0)
		goto out_err;
	fuse_reply_attr(req, &st, attr_timeout(req_fs(req)));
	return;
out_err:
	reply_rc(req, rc);
}

static void fh_free(struct item_fh *fh)
{
	if (!fh)
		return;
	list_file_fh_retire(&fh->lock);
	free(fh->text);
	free(fh->wbuf);
	list_undo_free(&fh->undo);
	free(fh);
}

/*
 * The most text a writable handle of `node` collects: what the item can
 * hold.  str and bytes must fit the slot (a str's one trailing newline is
 * dropped), numbers get their text's slack; the handle of an appended item
 * rebuilds the list, so it may hold the largest slot.
 */
static size_t item_limit(const struct list_snap *snap, const struct node *node,
			 int type, bool append)
{
	const struct shmblock_slist_item *item =
		&snap->lay->items[item_key_index(node)];

	if (append)
		return (size_t)SHMBLOCK_SLIST_MAX_SLOT + 1;
	if (type == SHMBLOCK_TYPE_BYTES)
		return (size_t)item->capacity;
	if (type == SHMBLOCK_TYPE_STR)
		return (size_t)item->capacity + 1;
	return (size_t)item->capacity + NUMBER_TEXT_SLACK;
}

/*
 * Sets a writable handle up: O_TRUNC makes the empty value pending (stored
 * at close even if nothing is written), unless the open just appended the
 * item, which then holds its type's default already; O_APPEND starts from
 * the item's text `t` at open, so what is written adds to it as to a file.
 */
static int open_for_writing(const struct list_snap *snap, struct node *node,
			    struct fuse_file_info *fi, struct item_fh *fh,
			    const struct text *t)
{
	fh->type = item_key_type(node);
	if (fh->type == LIST_TYPE_BARE)
		fh->type = list_snap_type(snap, item_key_index(node));
	if (fh->type < 0)
		return fh->type;
	fh->gapless = true;
	fh->limit = item_limit(snap, node, fh->type, fh->append);
	if (fi->flags & O_TRUNC) {
		fh->dirty = !fh->append;
		return 0;
	}
	if (!(fi->flags & O_APPEND) || t->len == 0)
		return 0;
	/* Read through another type's name, the text may exceed the limit:
	 * storing it tells. */
	if (t->len > fh->limit)
		fh->limit = t->len;
	fh->wbuf = malloc(t->len);
	if (!fh->wbuf)
		return -ENOMEM;
	memcpy(fh->wbuf, t->buf, t->len);
	fh->wlen = fh->wcap = t->len;
	return 0;
}

/* Opens `node` from a copy of its list: checks and fills fi. */
static int open_from(struct shmfs *fs, const struct list_snap *snap,
		     bool read_only, struct node *node,
		     struct fuse_file_info *fi, bool append)
{
	int accmode = fi->flags & O_ACCMODE;
	struct item_fh *fh;
	struct text t = { 0 };
	int rc;

	rc = render(snap, node, &t);
	if (rc == -EILSEQ)
		rc = 0;
	if (rc < 0)
		goto fail;
	list_file_check_told(fs, node, t.len);
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
	fh->append = append;
	fi->noflush = 1;
	if (accmode != O_RDONLY) {
		rc = open_for_writing(snap, node, fi, fh, &t);
		if (rc < 0) {
			fh_free(fh);
			goto fail;
		}
		/* Each close stores the value and reports its error. */
		fi->noflush = 0;
	}
	fi->fh = (uintptr_t)fh;
	fi->direct_io = 1;
	fi->keep_cache = 0;
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
	e.entry_timeout = req_fs(req)->timeout;
	e.attr_timeout = attr_timeout(req_fs(req));
	rc = attr_from(snap, read_only, child, &e.attr);
	if (rc == 0)
		rc = open_from(req_fs(req), snap, read_only, child, fi,
			       appended);
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
		rc = open_from(req_fs(req), &view.snap, view.read_only, node,
			       fi, false);
	list_view_close(&view);
	if (rc < 0)
		reply_rc(req, rc);
	else if (fuse_reply_open(req, fi) != 0)
		fh_free((struct item_fh *)(uintptr_t)fi->fh);
}

/*
 * A value refused: what an earlier close of the handle stored is taken
 * back, so that the item holds what it held before the open (a store
 * another process made since stays).
 */
static void take_back(struct shmfs *fs, struct node *node, struct item_fh *fh)
{
	list_edit_undo(fs, node->parent, item_key_index(node), &fh->undo);
	fh->have_text = false;
}

/*
 * Stores the handle's pending value, once.  After a refused write there is
 * none: the writer heard of it from write(), so the close answers 0.
 */
static int store_locked(struct shmfs *fs, struct node *node, struct item_fh *fh)
{
	int rc;

	fh->failed = 0;
	if (!fh->dirty)
		return 0;
	fh->dirty = false;
	fh->have_text = false;
	rc = list_edit_set(fs, node->parent, item_key_index(node),
			   item_key_type(node), fh->wbuf ? fh->wbuf : "",
			   fh->wlen, fh->append, &fh->undo);
	if (rc == -EINVAL || rc == -EFBIG)
		take_back(fs, node, fh);
	return open_file_rc(rc);
}

static void item_flush(fuse_req_t req, struct node *node,
		       struct fuse_file_info *fi)
{
	struct item_fh *fh = (struct item_fh *)(uintptr_t)fi->fh;
	int rc;

	pthread_mutex_lock(&fh->lock);
	rc = store_locked(req_fs(req), node, fh);
	pthread_mutex_unlock(&fh->lock);
	reply_rc(req, rc);
}

/*
 * A value no flush stored (the kernel sends FLUSH at each close, so this
 * is a backstop) is stored at release; nobody is left to hear an error.
 */
static void item_release(fuse_req_t req, struct node *node,
			 struct fuse_file_info *fi)
{
	struct item_fh *fh = (struct item_fh *)(uintptr_t)fi->fh;

	if (fh->dirty) {
		pthread_mutex_lock(&fh->lock);
		store_locked(req_fs(req), node, fh);
		pthread_mutex_unlock(&fh->lock);
	}
	fh_free(fh);
	fuse_reply_err(req, 0);
}

static void item_read(fuse_req_t req, struct node *node, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct item_fh *fh = (struct item_fh *)(uintptr_t)fi->fh;
	struct list_view view;
	struct text t = { 0 };
	int rc;

	pthread_mutex_lock(&fh->lock);
	/* An item is read anew at offset 0, so a store shows at once. */
	if (off == 0 || !fh->have_text) {
		rc = load(req_fs(req), node, &view);
		if (rc == 0)
			rc = render(&view.snap, node, &t);
		list_view_close(&view);
		if (rc < 0) {
			text_free(&t);
			reply_rc(req, open_file_rc(rc));
			goto out_unlock;
		}
		list_file_check_told(req_fs(req), node, t.len);
		free(fh->text);
		fh->text = t.buf;
		fh->text_len = t.len;
		fh->have_text = true;
	}
	list_file_reply_text(req, fh->text, fh->text_len, size, off);
out_unlock:
	pthread_mutex_unlock(&fh->lock);
}

/*
 * A refused write loses the pending value, as a failed sl[i] = v stores
 * nothing: the buffer goes (an open file keeps no memory for it), the
 * later writes until the next close fail alike, so that no part of the
 * value is ever stored, and what an earlier close stored is taken back.
 */
static int write_refused(struct shmfs *fs, struct node *node,
			 struct item_fh *fh, int rc)
{
	take_back(fs, node, fh);
	free(fh->wbuf);
	fh->wbuf = NULL;
	fh->wlen = fh->wcap = 0;
	fh->dirty = false;
	fh->failed = rc;
	return rc;
}

/* Makes room for `end` bytes, within the handle's limit. */
static int reserve(struct item_fh *fh, size_t end)
{
	size_t cap = end < 64 ? 64 : end;
	char *b;

	if (end <= fh->wcap)
		return 0;
	if (cap <= fh->limit / 2)
		cap *= 2;
	else if (cap < fh->limit)
		cap = fh->limit;
	b = realloc(fh->wbuf, cap);
	if (!b)
		return -ENOMEM;
	fh->wbuf = b;
	fh->wcap = cap;
	return 0;
}

/*
 * The first byte of a str's text to check again after a write at `off`:
 * the start of the character `off` falls in (the text before `valid` is
 * whole characters).
 */
static size_t recheck_from(const struct item_fh *fh, size_t off)
{
	size_t at = off < fh->valid ? off : fh->valid;

	while (at > 0 && ((unsigned char)fh->wbuf[at - 1] & 0xc0) == 0x80)
		at--;
	if (at > 0 && (unsigned char)fh->wbuf[at - 1] >= 0xc0)
		at--;
	return at;
}

/*
 * Adds a write to the handle's pending value; nothing is stored yet.  A
 * chunk may end anywhere, inside a UTF-8 character or a number too: what
 * is written so far must only be the beginning of some value of the type
 * (list_text_prefix), checked while the writes leave no hole; the value is
 * checked whole at close.  Returns the bytes taken or -errno.
 */
static int write_locked(struct shmfs *fs, struct node *node, struct item_fh *fh,
			const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	size_t end;
	int rc;

	if (fh->failed)
		return fh->failed;
	/* The kernel's offset comes from a size it cached: the handle knows. */
	if (fi->flags & O_APPEND)
		off = (off_t)fh->wlen;
	if (off < 0 || (uint64_t)off > fh->limit ||
	    size > fh->limit - (size_t)off)
		return write_refused(fs, node, fh, -EFBIG);
	end = (size_t)off + size;
	rc = reserve(fh, end);
	if (rc < 0)
		return write_refused(fs, node, fh, rc);
	if ((size_t)off > fh->wlen) {
		memset(fh->wbuf + fh->wlen, 0, (size_t)off - fh->wlen);
		fh->gapless = false; /* a hole: the close judges */
	}
	if (fh->gapless)
		fh->valid = recheck_from(fh, (size_t)off);
	memcpy(fh->wbuf + off, buf, size);
	if (end > fh->wlen)
		fh->wlen = end;
	fh->dirty = true;
	if (fh->gapless &&
	    list_text_prefix(fh->type, fh->wbuf, fh->wlen, &fh->valid) < 0)
		return write_refused(fs, node, fh, -EINVAL);
	return (int)size;
}

static void item_write(fuse_req_t req, struct node *node, const char *buf,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct item_fh *fh = (struct item_fh *)(uintptr_t)fi->fh;
	int rc;

	pthread_mutex_lock(&fh->lock);
	rc = write_locked(req_fs(req), node, fh, buf, size, off, fi);
	pthread_mutex_unlock(&fh->lock);
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_write(req, (size_t)rc);
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

	if (strcmp(name, XATTR_CAPACITY)) {
		reply_rc(req, shmfs_xattr_absent(name));
		return;
	}
	rc = load(req_fs(req), node, &view);
	if (rc == 0 && item_key_index(node) >= view.snap.lay->count)
		rc = -ESTALE;
	if (rc == 0)
		snprintf(num, sizeof(num), "%" PRIu64,
			 view.snap.lay->items[item_key_index(node)].capacity);
	list_view_close(&view);
	if (rc < 0)
		reply_rc(req, rc);
	else
		reply_value(req, num, strlen(num), size);
}

static void item_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	static const char capacity[] = XATTR_CAPACITY;

	reply_value(req, capacity, sizeof(capacity), size);
}

const struct node_ops item_ops = {
	.is_dir = false,
	.getattr = item_getattr,
	.setattr = item_setattr,
	.open = item_open,
	.read = item_read,
	.write = item_write,
	.flush = item_flush,
	.release = item_release,
	.fallocate = list_file_fallocate,
	.setxattr = list_file_setxattr,
	.getxattr = item_getxattr,
	.listxattr = item_listxattr,
	.removexattr = list_file_removexattr,
};
