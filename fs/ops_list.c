/* SPDX-License-Identifier: MIT */
/* A ShareableList as a directory of typed item files (docs/lists.md). */

/*
 * A block whose bytes hold a ShareableList is a directory:
 *
 *   L/<i>.<type>   item i (ops_item.c)
 *   L/.raw         the block itself, served as a block (ops_block.c)
 *   L/.format      the struct format string (ops_meta.c)
 *   L/.json        a consistent snapshot of the whole list (ops_meta.c)
 *
 * Creating "<len>.<type>" appends an item; the directory's attributes are
 * its block's.  Each request works on one copy of the list (list_edit.h).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "holders_cache.h"
#include "lifetime_trust.h"
#include "list_edit.h"
#include "list_text.h"
#include "ops_item.h"
#include "ops_list.h"
#include "ops_meta.h"
#include "shmdir.h"

#define XATTR_FORMAT "user.shmfs.format"

/* The attributes a list directory shows: the block's, x where r is. */
static void dir_attr(const struct stat *block, struct stat *st)
{
	mode_t perm = block->st_mode & 07777 & ~(mode_t)0111;

	*st = *block;
	perm |= (perm & 0444) >> 2;
	st->st_mode = S_IFDIR | perm;
	st->st_nlink = 2;
}

void list_fill_dir_entry(const struct shmfs *fs, struct fuse_entry_param *e,
			 struct node *node, const struct stat *block)
{
	memset(e, 0, sizeof(*e));
	e->ino = inode_id(node);
	e->generation = node->generation;
	dir_attr(block, &e->attr);
	/*
	 * The block's attributes, whose changes the watch sees (it drops the
	 * list's entry and attributes): cached as a block's are.
	 */
	e->entry_timeout = fs->timeout;
	e->attr_timeout = fs->timeout;
}

/* .raw: the list's block as a file, with the block's own attributes. */
static void lookup_raw(fuse_req_t req, struct node *dir,
		       const struct list_view *view)
{
	struct fuse_entry_param e;
	struct node *child;
	int rc = inode_ref_child(req_fs(req)->inodes, dir, NODE_LIST_RAW,
				 ITEM_KEY_RAW, &view->snap.st, &child);

	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = inode_id(child);
	e.generation = child->generation;
	e.attr = view->snap.st;
	reply_entry(req, &e);
}

/* The child `key` of `kind`, referenced, replied from `view`. */
static void reply_child(fuse_req_t req, struct node *dir, enum node_kind kind,
			uint64_t key, const struct list_view *view)
{
	struct node *child;
	int rc = inode_ref_child(req_fs(req)->inodes, dir, kind, key, NULL,
				 &child);

	if (rc < 0)
		reply_rc(req, rc);
	else if (kind == NODE_LIST_META)
		meta_reply_entry(req, child, &view->snap, view->read_only);
	else
		item_reply_entry(req, child, &view->snap, view->read_only);
}

static void list_lookup(fuse_req_t req, struct node *dir, const char *name)
{
	bool json = !strcmp(name, ".json");
	struct list_view view;
	uint64_t index;
	int rc, type = 0;

	/* .json and .format render the whole list; the rest one item. */
	if (!strcmp(name, ".format") || json) {
		index = LIST_WHOLE;
	} else if (!strcmp(name, ".raw")) {
		index = LIST_HEADER;
	} else {
		rc = list_text_parse_name(name, &index, &type);
		if (rc < 0) {
			reply_rc(req, rc);
			return;
		}
	}
	rc = index == LIST_WHOLE
		     ? list_view_load(req_fs(req), dir, &view)
		     : list_view_load_item(req_fs(req), dir, index, &view);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	if (!strcmp(name, ".raw"))
		lookup_raw(req, dir, &view);
	else if (!strcmp(name, ".format") || json)
		reply_child(req, dir, NODE_LIST_META,
			    json ? ITEM_KEY_JSON : ITEM_KEY_FORMAT, &view);
	else if (index >= view.snap.lay->count)
		reply_rc(req, -ENOENT);
	else
		reply_child(req, dir, NODE_LIST_ENTRY, item_key(index, type),
			    &view);
	list_view_close(&view);
}

static void list_getattr(fuse_req_t req, struct node *node)
{
	struct list_view view;
	struct stat st;
	int rc = list_view_load_item(req_fs(req), node, LIST_HEADER, &view);

	if (rc == 0)
		dir_attr(&view.snap.st, &st);
	list_view_close(&view);
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, req_fs(req)->timeout);
}

/*
 * A chown keeps a directory's set-id bits on tmpfs, where it clears a
 * regular file's: the block is a file, so put back what its chown took.
 */
static int keep_set_id(int fd, const struct stat *before, int to_set)
{
	struct stat after;

	if (!(to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) ||
	    to_set & FUSE_SET_ATTR_MODE || !(before->st_mode & 06000))
		return 0;
	if (fstat(fd, &after) < 0)
		return -errno;
	if ((after.st_mode & 06000) == (before->st_mode & 06000))
		return 0;
	return fchmod(fd, (after.st_mode & 01777) | (before->st_mode & 06000)) <
			       0
		       ? -errno
		       : 0;
}

/* chmod, chown and times of a list directory go to its block. */
static void list_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	struct list_view view;
	struct stat st;
	int rc;

	rc = list_view_load_item(req_fs(req), node, LIST_HEADER, &view);
	if (rc == 0 && to_set & FUSE_SET_ATTR_SIZE)
		rc = -EISDIR;
	/* The block keeps a file's mode: the directory's x bits are derived. */
	if (rc == 0)
		rc = shmdir_set_attrs(view.fd, attr, to_set, ~(mode_t)0111);
	if (rc == 0)
		rc = keep_set_id(view.fd, &view.snap.st, to_set);
	if (rc == 0 && fstat(view.fd, &st) < 0)
		rc = -errno;
	list_view_close(&view);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	dir_attr(&st, &st);
	fuse_reply_attr(req, &st, req_fs(req)->timeout);
}

/* What create and mknod may make: "<len>.<type>". */
static int creatable(const char *name, uint64_t *index, int *type)
{
	if (!strcmp(name, ".raw") || !strcmp(name, ".format") ||
	    !strcmp(name, ".json"))
		return -EEXIST;
	if (list_text_parse_name(name, index, type) < 0 ||
	    *type == LIST_TYPE_BARE)
		return -EINVAL;
	return 0;
}

static void list_create(fuse_req_t req, struct node *dir, const char *name,
			mode_t mode, struct fuse_file_info *fi)
{
	struct shmfs *fs = req_fs(req);
	struct list_snap after = { 0 };
	struct node *child;
	bool ro = false;
	uint64_t index;
	int type, rc;

	rc = creatable(name, &index, &type);
	if (rc == 0)
		rc = list_edit_append(fs, dir, index, type, &after, &ro);
	if (rc == 0 && (fi->flags & O_EXCL))
		rc = -EEXIST;
	if (rc >= 0) {
		int made = rc;

		rc = inode_ref_child(fs->inodes, dir, NODE_LIST_ENTRY,
				     item_key(index, type), NULL, &child);
		if (rc == 0)
			item_reply_create(req, child, &after, ro, made == 1,
					  fi);
	}
	if (rc < 0)
		reply_rc(req, rc);
	list_snap_free(&after);
}

static void list_mknod(fuse_req_t req, struct node *dir, const char *name,
		       mode_t mode)
{
	struct shmfs *fs = req_fs(req);
	struct list_snap after = { 0 };
	struct node *child;
	bool ro = false;
	uint64_t index;
	int type, rc;

	if ((mode & S_IFMT) != S_IFREG && (mode & S_IFMT) != 0) {
		reply_rc(req, -EPERM);
		return;
	}
	rc = creatable(name, &index, &type);
	if (rc == 0)
		rc = list_edit_append(fs, dir, index, type, &after, &ro);
	if (rc == 0)
		rc = -EEXIST;
	if (rc > 0)
		rc = inode_ref_child(fs->inodes, dir, NODE_LIST_ENTRY,
				     item_key(index, type), NULL, &child);
	if (rc == 0)
		item_reply_entry(req, child, &after, ro);
	else
		reply_rc(req, rc);
	list_snap_free(&after);
}

/* Lists hold no directories, and their items can't be removed or moved:
 * CPython lists have a fixed length. */
static void list_mkdir(fuse_req_t req, struct node *dir, const char *name,
		       mode_t mode)
{
	reply_rc(req, -EPERM);
}

static void list_unlink(fuse_req_t req, struct node *dir, const char *name)
{
	reply_rc(req, -EPERM);
}

static void list_rename(fuse_req_t req, struct node *dir, const char *name,
			struct node *newdir, const char *newname,
			unsigned flags)
{
	reply_rc(req, -EPERM);
}

/*
 * A listing: the hidden files, then "<i>.<type>" per item.  The handle
 * keeps the block it opened, as an open directory of tmpfs keeps its
 * inode: a list renamed over or appended to meanwhile (a new block under
 * the name) is still read, never an error.
 */
struct list_dir {
	int fd; /* the block opendir found */
	char **names;
	size_t count;
	bool fresh; /* taken by opendir, not read yet */
};

static void list_dir_clear(struct list_dir *d)
{
	size_t i;

	for (i = 0; i < d->count; i++)
		free(d->names[i]);
	free(d->names);
	d->names = NULL;
	d->count = 0;
}

static int list_dir_take(const struct list_snap *snap, struct list_dir *d)
{
	/*
	 * .raw first: a backup (tar c, cp -a) then holds the block before the
	 * views made of it, so its restore writes the block before .format
	 * and .json, which take only what they show (docs/lists.md).
	 */
	static const char *const hidden[] = { ".raw", ".format", ".json" };
	char name[40];
	uint64_t i;
	int rc = 0;

	list_dir_clear(d);
	d->names = calloc(snap->lay->count + 3, sizeof(*d->names));
	if (!d->names)
		return -ENOMEM;
	for (i = 0; i < 3; i++)
		if (!(d->names[d->count++] = strdup(hidden[i])))
			rc = -ENOMEM;
	for (i = 0; i < snap->lay->count && rc == 0; i++) {
		int type = list_snap_type(snap, i);

		if (type < 0) {
			rc = type;
			break;
		}
		snprintf(name, sizeof(name), "%" PRIu64 ".%s", i,
			 list_type_names[type]);
		if (!(d->names[d->count++] = strdup(name)))
			rc = -ENOMEM;
	}
	if (rc < 0)
		list_dir_clear(d);
	return rc;
}

/* Takes the listing again from the handle's block, as it is now. */
static int list_dir_reload(struct list_dir *d)
{
	struct list_snap snap;
	int rc = list_snap_take(d->fd, true, &snap);

	if (rc == 0)
		rc = list_dir_take(&snap, d);
	list_snap_free(&snap);
	/* The block the directory was opened on is no list any more. */
	return rc == -EBADMSG ? -EIO : rc;
}

static void list_dir_free(struct list_dir *d)
{
	list_dir_clear(d);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

static void list_opendir(fuse_req_t req, struct node *dir,
			 struct fuse_file_info *fi)
{
	struct list_dir *d = calloc(1, sizeof(*d));
	struct list_view view;
	int rc;

	if (!d) {
		reply_rc(req, -ENOMEM);
		return;
	}
	/* The first readdir lists what opendir saw: one load for both. */
	rc = list_view_load(req_fs(req), dir, &view);
	if (rc == 0)
		rc = list_dir_take(&view.snap, d);
	d->fd = view.fd;
	view.fd = -1;
	list_view_close(&view);
	if (rc < 0) {
		list_dir_free(d);
		reply_rc(req, rc);
		return;
	}
	d->fresh = true;
	fi->fh = (uintptr_t)d;
	/* The listing changes without any event: never cache it. */
	fi->cache_readdir = 0;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) != 0)
		list_dir_free(d);
}

static void list_releasedir(fuse_req_t req, struct node *dir,
			    struct fuse_file_info *fi)
{
	list_dir_free((struct list_dir *)(uintptr_t)fi->fh);
	reply_rc(req, 0);
}

/* Entry `i` of an open list: 0 ".", 1 "..", then the names. */
static size_t add_entry(fuse_req_t req, void *arg, size_t i, char *buf,
			size_t room, bool plus)
{
	const struct list_dir *d = arg;
	struct fuse_entry_param e;
	const char *name;

	memset(&e, 0, sizeof(e));
	if (i < 2) {
		name = i == 0 ? "." : "..";
		e.attr.st_mode = S_IFDIR;
	} else {
		name = d->names[i - 2];
		e.attr.st_mode = S_IFREG;
	}
	e.attr.st_ino = (ino_t)(i + 1);
	/*
	 * Plus entries carry no node (ino 0): the kernel looks each name up,
	 * and ops_item.c says what it may cache.
	 */
	return shmfs_add_dirent(req, buf, room, name, &e, (off_t)i + 1, plus);
}

static void list_readdir(fuse_req_t req, struct node *dir, size_t size,
			 off_t off, struct fuse_file_info *fi, bool plus)
{
	struct list_dir *d = (struct list_dir *)(uintptr_t)fi->fh;
	int rc;

	/* A rewind lists the list as it is now. */
	if (off == 0 && !d->fresh) {
		rc = list_dir_reload(d);
		if (rc < 0) {
			reply_rc(req, rc);
			return;
		}
	}
	d->fresh = false;
	reply_readdir(req, size, (size_t)off, d->count + 2, plus, add_entry, d);
}

static void list_getxattr(fuse_req_t req, struct node *node, const char *name,
			  size_t size)
{
	struct text t = { 0 };
	struct list_view view;
	char *buf = NULL;
	ssize_t n;
	int rc;

	if (holders_xattr_is(name)) {
		holders_reply_node(req, node, name, size);
		return;
	}
	/* The format is every item's: the whole list for it alone. */
	rc = strcmp(name, XATTR_FORMAT)
		     ? list_view_load_item(req_fs(req), node, LIST_HEADER,
					   &view)
		     : list_view_load(req_fs(req), node, &view);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	if (!strcmp(name, XATTR_FORMAT)) {
		rc = list_text_format(&view.snap, &t);
		if (rc == 0)
			reply_xattr(req, t.buf, (ssize_t)t.len - 1, size);
		else
			reply_rc(req, rc);
		goto out;
	}
	/* Anything else is the block's own. */
	if (size > XATTR_SIZE_MAX)
		size = XATTR_SIZE_MAX;
	if (size && !(buf = malloc(size))) {
		reply_rc(req, -ENOMEM);
		goto out;
	}
	n = fgetxattr(view.fd, name, buf, size);
	if (n < 0)
		n = errno == ENODATA ? shmfs_xattr_absent(name) : -errno;
	reply_xattr(req, buf, n, size);
out:
	free(buf);
	text_free(&t);
	list_view_close(&view);
}

static void list_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	static const char format[] = XATTR_FORMAT;
	struct list_view view;
	char *buf = NULL;
	ssize_t n;
	int rc = list_view_load_item(req_fs(req), node, LIST_HEADER, &view);

	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	/* The block's own, then the computed format. */
	n = shmfs_xattr_names(req, view.fd,
			      sizeof(format) + sizeof(HOLDERS_XATTR_NAMES),
			      &buf);
	if (n >= 0) {
		memcpy(buf + n, format, sizeof(format));
		n += (ssize_t)sizeof(format);
	}
	n = holders_xattr_list_append(buf, n);
	reply_xattr(req, buf, n, size);
	free(buf);
	list_view_close(&view);
}

/* The list's xattrs are its block's, but for the computed format. */
static void set_xattr(fuse_req_t req, struct node *node, const char *name,
		      const char *value, size_t size, int flags, bool remove)
{
	struct list_view view;
	int rc;

	if (!strcmp(name, XATTR_FORMAT) || holders_xattr_is(name)) {
		reply_rc(req, -EPERM);
		return;
	}
	rc = list_view_load_item(req_fs(req), node, LIST_HEADER, &view);
	if (rc == 0 && !remove && !strcmp(name, SHMBLOCK_XATTR_LIFETIME))
		rc = lifetime_set_xattr(req, view.fd, value, size, flags,
					false);
	else if (rc == 0 &&
		 (remove ? fremovexattr(view.fd, name)
			 : fsetxattr(view.fd, name, value, size, flags)))
		rc = -errno;
	list_view_close(&view);
	reply_rc(req, rc);
}

static void list_setxattr(fuse_req_t req, struct node *node, const char *name,
			  const char *value, size_t size, int flags)
{
	set_xattr(req, node, name, value, size, flags, false);
}

static void list_removexattr(fuse_req_t req, struct node *node,
			     const char *name)
{
	set_xattr(req, node, name, NULL, 0, 0, true);
}

const struct node_ops list_ops = {
	.is_dir = true,
	.lookup = list_lookup,
	.mknod = list_mknod,
	.mkdir = list_mkdir,
	.create = list_create,
	.unlink = list_unlink,
	.rename = list_rename,
	.opendir = list_opendir,
	.readdir = list_readdir,
	.releasedir = list_releasedir,
	.getattr = list_getattr,
	.setattr = list_setattr,
	.setxattr = list_setxattr,
	.getxattr = list_getxattr,
	.listxattr = list_listxattr,
	.removexattr = list_removexattr,
};
