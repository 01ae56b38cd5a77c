/* SPDX-License-Identifier: MIT */
/* The top level's .deleted/: blocks unlinked while held, to read and save. */

/*
 * A block unlinked while some process still has it open or mapped keeps
 * its memory and has no name: /dev/shm no longer shows it, `df` may read
 * empty.  The holders scan finds such inodes through their holders' /proc
 * links (holders_cache.c shares the scan); .deleted/ shows each as
 * NAME@INO, the name it last had in the mount and its inode number, so a
 * name unlinked and made again while both inodes are held gives two
 * entries.  Reading one goes through a holder's /proc/PID/fd or map_files
 * (shmblock_holders_open checks the inode) with pread, never a mapping, so
 * a holder shrinking the block can't SIGBUS the daemon.
 *
 * Nothing here is writable: -EROFS for every change (the holders xattrs
 * answer -EPERM as they do everywhere).  Entries carry no cached entry or
 * attributes: they come and go with the processes that hold them.  Nodes
 * are children of the .deleted node (key: the inode number), which is a
 * child of the root, so they never meet the block nodes' name and inode
 * hashes or the watch.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holders_cache.h"
#include "ops_deleted.h"

/* st_ino of .deleted/: no tmpfs inode gets this near 2^64. */
#define DELETED_DIR_INO ((ino_t)UINT64_MAX - 1)

bool deleted_is_dir_name(const char *name)
{
	return !strcmp(name, DELETED_DIR_NAME);
}

static const struct node *root_node(struct shmfs *fs)
{
	return inode_get(fs->inodes, FUSE_ROOT_ID);
}

/* ---- the directory ---- */

static int dir_stat(struct shmfs *fs, struct stat *st)
{
	struct stat dir;

	if (fstat(fs->dirfd, &dir) < 0)
		return -errno;
	memset(st, 0, sizeof(*st));
	st->st_ino = DELETED_DIR_INO;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_blksize = dir.st_blksize;
	st->st_atim = dir.st_atim;
	st->st_mtim = dir.st_mtim;
	st->st_ctim = dir.st_ctim;
	return 0;
}

int deleted_dir_entry(fuse_req_t req, struct fuse_entry_param *e)
{
	struct shmfs *fs = req_fs(req);
	struct node *root = inode_get(fs->inodes, FUSE_ROOT_ID);
	struct node *node;
	struct stat st;
	int rc = dir_stat(fs, &st);

	if (rc == 0)
		rc = inode_ref_child(fs->inodes, root, NODE_DELETED_DIR, 0,
				     NULL, &node);
	if (rc == 0)
		shmfs_fill_entry(fs, e, node, &st);
	return rc;
}

/*
 * The name .deleted/ shows for `e`: NAME@INO, NAME the mount's name for
 * the block's last name (shortened to fit NAME_MAX; a semaphore's is
 * sem.NAME).  false for what the mount does not show: a named block,
 * another prefix's.
 */
static bool entry_name(const struct shmfs *fs,
		       const struct shmblock_holders_entry *e,
		       char out[NAME_MAX + 1])
{
	char ino[24], shown[NAME_MAX + 1];
	const char *name;
	size_t len;
	int n;

	if (!e->deleted || !(name = shmfs_mount_name(fs, e->name, shown)))
		return false;
	n = snprintf(ino, sizeof(ino), "@%llu", (unsigned long long)e->ino);
	len = strlen(name);
	if (len + (size_t)n > NAME_MAX)
		len = NAME_MAX - (size_t)n;
	memcpy(out, name, len);
	memcpy(out + len, ino, (size_t)n + 1);
	return true;
}

static void entry_stat(const struct shmblock_holders_entry *e, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = e->dev;
	st->st_ino = e->ino;
	st->st_mode = S_IFREG | (e->mode & 07777);
	/* It has no name, but a link count of 0 is not for the dcache. */
	st->st_nlink = 1;
	st->st_uid = e->uid;
	st->st_gid = e->gid;
	st->st_size = (off_t)e->size;
	st->st_blocks = (blkcnt_t)(e->alloc / 512);
	st->st_blksize = 4096;
}

/* Entries and attributes are not cached: holders come and go. */
static void fill_entry(struct fuse_entry_param *e, struct node *node,
		       const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->ino = inode_id(node);
	e->generation = node->generation;
	e->attr = *st;
}

static void dir_lookup(fuse_req_t req, struct node *dir, const char *name)
{
	struct shmfs *fs = req_fs(req);
	const struct shmblock_holders_entry *ent;
	char want[NAME_MAX + 1], *end;
	struct fuse_entry_param e;
	struct holders_ref *ref;
	const char *at = strrchr(name, '@');
	unsigned long long ino;
	struct node *node;
	struct stat st;
	int rc;

	if (!at || at[1] < '0' || at[1] > '9') {
		reply_rc(req, -ENOENT);
		return;
	}
	errno = 0;
	ino = strtoull(at + 1, &end, 10);
	if (*end || errno) {
		reply_rc(req, -ENOENT);
		return;
	}
	rc = holders_cache_get(fs, 0, 0, &ref);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	ent = shmblock_holders_find(ref->snap, root_node(fs)->dev, ino);
	if (!ent || !entry_name(fs, ent, want) || strcmp(want, name)) {
		rc = -ENOENT;
		goto out;
	}
	entry_stat(ent, &st);
	rc = inode_ref_child(fs->inodes, dir, NODE_DELETED_FILE, ino, &st,
			     &node);
	if (rc == 0) {
		fill_entry(&e, node, &st);
		reply_entry(req, &e);
	}
out:
	if (rc < 0)
		reply_rc(req, rc);
	holders_cache_put(ref);
}

/* An open .deleted/: the names and inodes of one scan. */
struct dir_list {
	size_t n;
	struct dir_name {
		char name[NAME_MAX + 1];
		uint64_t ino;
	} * names;
};

static int list_take(struct shmfs *fs, struct dir_list *l)
{
	const struct shmblock_holders_entry *e;
	struct holders_ref *ref;
	size_t i, count;
	int rc = holders_cache_get(fs, 0, 0, &ref);

	if (rc < 0)
		return rc;
	count = shmblock_holders_count(ref->snap);
	l->names = calloc(count ? count : 1, sizeof(*l->names));
	if (!l->names) {
		holders_cache_put(ref);
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		e = shmblock_holders_entry(ref->snap, i);
		if (entry_name(fs, e, l->names[l->n].name))
			l->names[l->n++].ino = e->ino;
	}
	holders_cache_put(ref);
	return 0;
}

static void dir_opendir(fuse_req_t req, struct node *dir,
			struct fuse_file_info *fi)
{
	struct dir_list *l = calloc(1, sizeof(*l));
	int rc = l ? list_take(req_fs(req), l) : -ENOMEM;

	if (rc < 0) {
		free(l);
		reply_rc(req, rc);
		return;
	}
	fi->fh = (uintptr_t)l;
	if (fuse_reply_open(req, fi) != 0) {
		free(l->names);
		free(l);
	}
}

static void dir_releasedir(fuse_req_t req, struct node *dir,
			   struct fuse_file_info *fi)
{
	struct dir_list *l = (struct dir_list *)(uintptr_t)fi->fh;

	free(l->names);
	free(l);
	reply_rc(req, 0);
}

/* Entry `i` of an open .deleted/: 0 ".", 1 "..", then the names. */
static size_t add_entry(fuse_req_t req, void *arg, size_t i, char *buf,
			size_t room, bool plus)
{
	const struct dir_list *l = arg;
	struct fuse_entry_param e;
	const char *name;

	memset(&e, 0, sizeof(e));
	if (i < 2) {
		name = i == 0 ? "." : "..";
		e.attr.st_ino = i == 0 ? DELETED_DIR_INO
				       : root_node(req_fs(req))->ino;
		e.attr.st_mode = S_IFDIR;
	} else {
		name = l->names[i - 2].name;
		e.attr.st_ino = l->names[i - 2].ino;
		e.attr.st_mode = S_IFREG;
	}
	/* Plus entries carry no node (ino 0): the kernel looks the names up,
	 * which checks they are still held.  An entry's offset is the next's. */
	return shmfs_add_dirent(req, buf, room, name, &e, (off_t)i + 1, plus);
}

static void dir_readdir(fuse_req_t req, struct node *dir, size_t size,
			off_t off, struct fuse_file_info *fi, bool plus)
{
	struct dir_list *l = (struct dir_list *)(uintptr_t)fi->fh;

	reply_readdir(req, size, (size_t)off, l->n + 2, plus, add_entry, l);
}

static void deleted_refuse(fuse_req_t req, struct node *dir, const char *name)
{
	reply_rc(req, -EROFS);
}

static void deleted_mknod(fuse_req_t req, struct node *dir, const char *name,
			  mode_t mode)
{
	reply_rc(req, -EROFS);
}

static void deleted_create(fuse_req_t req, struct node *dir, const char *name,
			   mode_t mode, struct fuse_file_info *fi)
{
	reply_rc(req, -EROFS);
}

static void deleted_rename(fuse_req_t req, struct node *dir, const char *name,
			   struct node *newdir, const char *newname,
			   unsigned flags)
{
	reply_rc(req, -EROFS);
}

/* ---- the files ---- */

/*
 * The scan's entry of a .deleted/ file node, with a reference to the scan
 * in *ref.  Errors: -ENOENT (its last holder let go), the scan's.
 */
static int file_entry(struct shmfs *fs, struct node *node,
		      struct holders_ref **ref,
		      const struct shmblock_holders_entry **out)
{
	const struct shmblock_holders_entry *e;
	int rc = holders_cache_get(fs, 0, 0, ref);

	if (rc < 0)
		return rc;
	e = shmblock_holders_find((*ref)->snap, node->dev, node->ino);
	if (!e || !e->deleted) {
		holders_cache_put(*ref);
		return -ENOENT;
	}
	*out = e;
	return 0;
}

/* Attributes are not cached: holders come and go. */
static void reply_attr(fuse_req_t req, int rc, const struct stat *st)
{
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, st, 0);
}

static void dir_getattr(fuse_req_t req, struct node *node)
{
	struct stat st;
	int rc = dir_stat(req_fs(req), &st);

	reply_attr(req, rc, &st);
}

static void file_getattr(fuse_req_t req, struct node *node)
{
	const struct shmblock_holders_entry *e;
	struct holders_ref *ref;
	struct stat st;
	int rc = file_entry(req_fs(req), node, &ref, &e);

	if (rc == 0) {
		entry_stat(e, &st);
		holders_cache_put(ref);
	}
	reply_attr(req, rc, &st);
}

static void deleted_setattr(fuse_req_t req, struct node *node,
			    struct stat *attr, int to_set,
			    struct fuse_file_info *fi)
{
	reply_rc(req, -EROFS);
}

static void deleted_open(fuse_req_t req, struct node *node,
			 struct fuse_file_info *fi)
{
	struct shmfs *fs = req_fs(req);
	const struct shmblock_holders_entry *e;
	struct holders_ref *ref;
	int fd;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || fi->flags & O_TRUNC) {
		reply_rc(req, -EROFS);
		return;
	}
	fd = file_entry(fs, node, &ref, &e);
	if (fd < 0) {
		reply_rc(req, fd);
		return;
	}
	/* Without default_permissions the kernel asks nobody but us. */
	if (!holders_may_read(req, e->mode, e->uid, e->gid))
		fd = -EACCES;
	else
		fd = shmblock_holders_open(ref->snap, node->dev, node->ino);
	holders_cache_put(ref);
	if (fd < 0) {
		reply_rc(req, fd);
		return;
	}
	fi->fh = (uint64_t)fd;
	/* Every read comes here: the holders may change the bytes. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0)
		close(fd);
}

static void deleted_read(fuse_req_t req, struct node *node, size_t size,
			 off_t off, struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	ssize_t n;

	if (!buf) {
		reply_rc(req, -ENOMEM);
		return;
	}
	n = pread((int)fi->fh, buf, size, off);
	if (n < 0)
		reply_rc(req, -errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void deleted_write(fuse_req_t req, struct node *node, const char *buf,
			  size_t size, off_t off, struct fuse_file_info *fi)
{
	reply_rc(req, -EROFS);
}

static void deleted_release(fuse_req_t req, struct node *node,
			    struct fuse_file_info *fi)
{
	close((int)fi->fh);
	reply_rc(req, 0);
}

static void deleted_fallocate(fuse_req_t req, struct node *node, int mode,
			      off_t offset, off_t length)
{
	reply_rc(req, -EROFS);
}

static void deleted_getxattr(fuse_req_t req, struct node *node,
			     const char *name, size_t size)
{
	const struct shmblock_holders_entry *e;
	struct holders_ref *ref;
	int rc;

	/* The block's own xattrs are not reached: only the holders'. */
	if (!holders_xattr_is(name)) {
		reply_rc(req, -ENODATA);
		return;
	}
	rc = file_entry(req_fs(req), node, &ref, &e);
	if (rc == 0 && !holders_may_read(req, e->mode, e->uid, e->gid)) {
		holders_cache_put(ref);
		rc = -EACCES;
	}
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	holders_reply_entry(req, ref, e, name, size);
	holders_cache_put(ref);
}

static void deleted_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	char buf[sizeof(HOLDERS_XATTR_NAMES)];

	reply_xattr(req, buf, holders_xattr_list_append(buf, 0), size);
}

/* .deleted/ itself has no xattrs. */
static void dir_getxattr(fuse_req_t req, struct node *node, const char *name,
			 size_t size)
{
	reply_rc(req, -ENODATA);
}

static void dir_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	reply_xattr(req, NULL, 0, size);
}

static void deleted_setxattr(fuse_req_t req, struct node *node,
			     const char *name, const char *value, size_t size,
			     int flags)
{
	reply_rc(req, holders_xattr_is(name) ? -EPERM : -EROFS);
}

static void deleted_removexattr(fuse_req_t req, struct node *node,
				const char *name)
{
	reply_rc(req, holders_xattr_is(name) ? -EPERM : -EROFS);
}

static void deleted_mkdir(fuse_req_t req, struct node *dir, const char *name,
			  mode_t mode)
{
	reply_rc(req, -EROFS);
}

const struct node_ops deleted_dir_ops = {
	.is_dir = true,
	.lookup = dir_lookup,
	.mknod = deleted_mknod,
	.mkdir = deleted_mkdir,
	.create = deleted_create,
	.unlink = deleted_refuse,
	.rmdir = deleted_refuse,
	.rename = deleted_rename,
	.opendir = dir_opendir,
	.readdir = dir_readdir,
	.releasedir = dir_releasedir,
	.getattr = dir_getattr,
	.setattr = deleted_setattr,
	.setxattr = deleted_setxattr,
	.getxattr = dir_getxattr,
	.listxattr = dir_listxattr,
	.removexattr = deleted_removexattr,
};

const struct node_ops deleted_file_ops = {
	.is_dir = false,
	.getattr = file_getattr,
	.setattr = deleted_setattr,
	.setxattr = deleted_setxattr,
	.getxattr = deleted_getxattr,
	.listxattr = deleted_listxattr,
	.removexattr = deleted_removexattr,
	.open = deleted_open,
	.read = deleted_read,
	.write = deleted_write,
	.release = deleted_release,
	.fallocate = deleted_fallocate,
};
