/* SPDX-License-Identifier: MIT */
/* The mount's top level: the blocks of the shm directory, under the prefix. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "block_handle.h"
#include "kind.h"
#include "list_block.h"
#include "listing.h"
#include "node_ops.h"
#include "ops_array.h"
#include "ops_deleted.h"
#include "ops_list.h"
#include "ops_sem.h"
#include "passthrough.h"
#include "shmblock.h"
#include "shmdir.h"
#include "watch.h"

/* The block `name` of the mount, if it is one: a regular file. */
static int stat_block(const struct shmfs *fs, const char *name, struct stat *st)
{
	char shm_name[NAME_MAX + 1];
	int rc = shmfs_block_name(fs, name, shm_name);

	if (rc < 0)
		return rc;
	if (fstatat(fs->dirfd, shm_name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return S_ISREG(st->st_mode) ? 0 : -ENOENT;
}

/*
 * The entry of the block `name`, a file or a list directory, holding one
 * reference to its node.  Errors: -ENOENT, -EINVAL (not a block name),
 * -ENAMETOOLONG, -ENOMEM.
 */
static int ref_name(struct shmfs *fs, const char *name,
		    struct fuse_entry_param *e)
{
	char shm_name[NAME_MAX + 1];
	enum shm_kind kind;
	struct node *node;
	struct stat st;
	int rc = shmfs_block_name(fs, name, shm_name);

	if (rc == 0)
		rc = shm_kind_of(fs, shm_name, &st, &kind);
	/* No block NAME.npy: the view of a declared array NAME, if any. */
	if (rc == -ENOENT)
		return array_view_ref(fs, name, e);
	if (rc < 0)
		return rc;
	/* A kind that changed without an event: listings ask afresh. */
	listing_note_kind(fs->listing, shm_name, st.st_ino, kind);
	if (shm_kind_node(kind) == NODE_LIST) {
		rc = inode_ref_list(fs->inodes, name, &st, &node);
		if (rc == 0)
			list_fill_dir_entry(fs, e, node, &st);
	} else if (shm_kind_node(kind) == NODE_SEM) {
		rc = inode_ref_sem(fs->inodes, name, &st, &node);
		if (rc == 0)
			shmfs_fill_entry(fs, e, node, &st);
	} else {
		rc = inode_ref_kind(fs->inodes, name, &st, shm_kind_node(kind),
				    &node);
		if (rc == 0)
			shmfs_fill_entry(fs, e, node, &st);
	}
	return rc;
}

static void root_lookup(fuse_req_t req, struct node *dir, const char *name)
{
	struct shmfs *fs = req_fs(req);
	struct fuse_entry_param e;
	int rc = deleted_is_dir_name(name) ? deleted_dir_entry(req, &e)
					   : ref_name(fs, name, &e);

	/* A name that can't be a block simply isn't there. */
	if (rc == -EINVAL)
		rc = -ENOENT;
	/*
	 * Missing names are not cached: another process may create the name
	 * at any moment, and the watch's invalidation would arrive only after
	 * the kernel answered from its cache (measured: a stale ENOENT in a
	 * quarter of tight create-outside-then-stat loops).
	 */
	if (rc < 0)
		reply_rc(req, rc);
	else
		reply_entry(req, &e);
}

static void root_getattr(fuse_req_t req, struct node *dir)
{
	struct shmfs *fs = req_fs(req);
	struct stat st;

	if (fstat(fs->dirfd, &st) < 0) {
		reply_rc(req, -errno);
		return;
	}
	fuse_reply_attr(req, &st, fs->timeout);
}

static void root_mknod(fuse_req_t req, struct node *dir, const char *name,
		       mode_t mode)
{
	struct shmfs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct node *node;
	struct stat st;
	int fd, rc;

	/* Blocks are regular files; devices, fifos and sockets are not. */
	if ((mode & S_IFMT) != S_IFREG && (mode & S_IFMT) != 0) {
		reply_rc(req, -EPERM);
		return;
	}
	if (shmfs_sem_name(name)) {
		sem_mknod(req, name, mode & 07777);
		return;
	}
	fd = shmdir_make_block(req, name, mode, O_RDONLY, &st);
	if (fd < 0) {
		reply_rc(req, fd);
		return;
	}
	close(fd);
	rc = inode_ref_block(fs->inodes, name, &st, &node);
	if (rc < 0) {
		shmdir_unmake_block(fs, name, &st);
		reply_rc(req, rc);
		return;
	}
	shmfs_fill_entry(fs, &e, node, &st);
	reply_entry(req, &e);
}

static void root_create(fuse_req_t req, struct node *dir, const char *name,
			mode_t mode, struct fuse_file_info *fi)
{
	struct shmfs *fs = req_fs(req);
	char shm_name[NAME_MAX + 1];
	struct fuse_entry_param e;
	struct node *node;
	struct stat st;
	bool made = true;
	int fd, rc, backing_id;

	if (shmfs_sem_name(name)) {
		sem_create(req, name, mode & 07777, fi);
		return;
	}
	fd = shmdir_make_block(req, name, mode, O_RDWR, &st);
	if (fd == -EEXIST && !(fi->flags & O_EXCL)) {
		/* Created by someone else since the kernel looked: open it. */
		made = false;
		rc = stat_block(fs, name, &st);
		if (rc < 0)
			goto out_err;
	} else if (fd < 0) {
		rc = fd;
		goto out_err;
	}
	rc = inode_ref_block(fs->inodes, name, &st, &node);
	if (rc < 0) {
		if (made)
			close(fd);
		goto out_unmake;
	}
	/* The descriptor that made the block serves the open too. */
	if (made) {
		rc = shmfs_block_name(fs, name, shm_name);
		if (rc < 0)
			close(fd);
		else
			rc = block_adopt(fs, node, shm_name, fd);
		if (rc < 0) {
			inode_forget(fs->inodes, node, 1);
			goto out_unmake;
		}
	}
	/* A block made here is empty: O_TRUNC would only cost a syscall. */
	if (made)
		fi->flags &= ~O_TRUNC;
	rc = block_open_prepare(fs, node, fi, &backing_id);
	if (rc < 0) {
		inode_forget(fs->inodes, node, 1);
		goto out_unmake;
	}
	/*
	 * O_TRUNC may have changed an existing block; a block made here is
	 * empty and has the attributes shmdir_make_block read.
	 */
	if (!made && fstat(shmblock_fd(node->blk), &st) < 0) {
		rc = -errno;
		block_open_undo(node, fi);
		inode_forget(fs->inodes, node, 1);
		goto out_unmake;
	}
	shmfs_fill_entry(fs, &e, node, &st);
	if (backing_id > 0)
		passthrough_mark_reply(fs->pt, backing_id);
	if (fuse_reply_create(req, &e, fi) != 0) {
		block_open_undo(node, fi);
		inode_forget(fs->inodes, node, 1);
	}
	return;

out_unmake:
	if (made)
		shmdir_unmake_block(fs, name, &st);
out_err:
	reply_rc(req, rc);
}

static void root_unlink(fuse_req_t req, struct node *dir, const char *name)
{
	struct shmfs *fs = req_fs(req);
	char shm_name[NAME_MAX + 1];
	int rc = shmfs_block_name(fs, name, shm_name);

	if (rc == -EINVAL)
		rc = -ENOENT;
	if (rc == 0)
		rc = shmdir_unlink(fs, shm_name);
	if (rc == 0)
		inode_unname(fs->inodes, name);
	/* A view is made, not stored: it goes with its block's xattrs. */
	if (rc == -ENOENT && array_view_exists(fs, name))
		rc = -EPERM;
	reply_rc(req, rc);
}

/*
 * The top level's directories are lists: rmdir removes the block even when
 * the list has items, as configfs removes an item with its attributes.
 */
static void root_rmdir(fuse_req_t req, struct node *dir, const char *name)
{
	struct shmfs *fs = req_fs(req);
	char shm_name[NAME_MAX + 1];
	enum shm_kind kind;
	struct stat st;
	int rc = shmfs_block_name(fs, name, shm_name);

	/* .deleted/ shadows a block of that name: not the mount's to remove. */
	if (deleted_is_dir_name(name))
		rc = -EPERM;
	if (rc == 0)
		rc = shm_kind_of(fs, shm_name, &st, &kind);
	if (rc == 0 && shm_kind_type(kind) != S_IFDIR)
		rc = -ENOTDIR;
	if (rc == 0) {
		rc = shmdir_unlink(fs, shm_name);
		if (rc == 0)
			inode_unname(fs->inodes, name);
	}
	reply_rc(req, rc == -EINVAL ? -ENOENT : rc);
}

static void root_rename(fuse_req_t req, struct node *dir, const char *name,
			struct node *newdir, const char *newname,
			unsigned flags)
{
	struct shmfs *fs = req_fs(req);
	char from[NAME_MAX + 1], to[NAME_MAX + 1];
	int rc;

	if (newdir->kind != NODE_ROOT) {
		reply_rc(req, newdir->kind == NODE_BLOCK ? -ENOTDIR : -EXDEV);
		return;
	}
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		reply_rc(req, -EINVAL);
		return;
	}
	if (deleted_is_dir_name(name) || deleted_is_dir_name(newname)) {
		reply_rc(req, -EPERM);
		return;
	}
	/* A semaphore's name is for semaphores (fs.h), a block's for blocks. */
	if (shmfs_sem_name(name) != shmfs_sem_name(newname)) {
		reply_rc(req, -EPERM);
		return;
	}
	rc = shmfs_block_name(fs, name, from);
	if (rc == -EINVAL)
		rc = -ENOENT;
	if (rc == 0) {
		rc = shmfs_block_name(fs, newname, to);
		if (rc == -ENOENT)
			rc = (flags & RENAME_EXCHANGE) ? -ENOENT : -EPERM;
	}
	if (rc == 0)
		rc = shmdir_rename(fs, from, to, flags);
	if (rc == 0)
		inode_rename(fs->inodes, name, newname,
			     flags & RENAME_EXCHANGE);
	reply_rc(req, rc);
}

static void root_opendir(fuse_req_t req, struct node *dir,
			 struct fuse_file_info *fi)
{
	struct shmfs *fs = req_fs(req);
	struct dir_snapshot *snap = calloc(1, sizeof(*snap));

	if (!snap) {
		reply_rc(req, -ENOMEM);
		return;
	}
	fi->fh = (uintptr_t)snap;
	/*
	 * The kernel may keep the listing in the directory's page cache and
	 * serve later listings from it.  It drops it itself when the mount
	 * changes the directory, the watch drops it when a block appears,
	 * goes, moves or changes kind outside, and so does every opendir
	 * that may not share it (listing_open), which covers the moment
	 * before the watch has seen a change.
	 */
	fi->cache_readdir = fi->keep_cache =
		listing_open(fs->listing, watch_hurry(fs->watch), snap);
	if (fuse_reply_open(req, fi) != 0)
		free(snap);
}

static void root_releasedir(fuse_req_t req, struct node *dir,
			    struct fuse_file_info *fi)
{
	struct dir_snapshot *snap = (struct dir_snapshot *)(uintptr_t)fi->fh;

	dir_snapshot_clear(snap);
	free(snap);
	fuse_reply_err(req, 0);
}

/*
 * Adds the entry at index `i` (0 ".", 1 "..", then the snapshot) to `buf`.
 * Returns the bytes used, 0 to skip the entry, or more than `room` when it
 * doesn't fit (nothing is referenced then).
 */
static size_t add_entry(fuse_req_t req, void *arg, size_t i, char *buf,
			size_t room, bool plus)
{
	struct dir_snapshot *snap = arg;
	struct shmfs *fs = req_fs(req);
	struct fuse_entry_param e;
	const char *name;
	size_t need;

	/* .deleted/ shadows a block of its name, and is itself not listed. */
	if (i >= 2 && deleted_is_dir_name(snap->entries[i - 2].name))
		return 0;
	/* fuse_add_direntry reads only the inode number and the type. */
	if (i < 2) {
		name = i == 0 ? "." : "..";
		e.attr.st_ino = inode_get(fs->inodes, FUSE_ROOT_ID)->ino;
		e.attr.st_mode = S_IFDIR;
	} else {
		const struct dir_entry *d = &snap->entries[i - 2];

		name = d->name;
		e.attr.st_ino = d->ino;
		/* A kind not asked is DT_UNKNOWN (type bits 0): never wrong. */
		e.attr.st_mode = d->unknown ? 0 : shm_kind_type(d->kind);
	}
	if (!plus)
		return fuse_add_direntry(req, buf, room, name, &e.attr,
					 dir_snapshot_pos(snap, i));
	need = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
	if (need > room)
		return need;
	/*
	 * A plus entry carries attributes and a reference from a lookup of
	 * its own, so its type is the kind that lookup finds, never the
	 * snapshot's (nor DT_UNKNOWN).
	 */
	memset(&e, 0, sizeof(e));
	if (i < 2) {
		e.attr.st_ino = inode_get(fs->inodes, FUSE_ROOT_ID)->ino;
		e.attr.st_mode = S_IFDIR;
	} else if (ref_name(fs, name, &e) < 0)
		/* Gone now. */
		return 0;
	need = fuse_add_direntry_plus(req, buf, room, name, &e,
				      dir_snapshot_pos(snap, i));
	if (need > room && e.ino)
		inode_forget(fs->inodes, inode_get(fs->inodes, e.ino), 1);
	return need;
}

static void root_readdir(fuse_req_t req, struct node *dir, size_t size,
			 off_t off, struct fuse_file_info *fi, bool plus)
{
	struct dir_snapshot *snap = (struct dir_snapshot *)(uintptr_t)fi->fh;
	struct shmfs *fs = req_fs(req);
	int rc;

	/*
	 * A handle can start past 0 when the kernel's cached listing was
	 * dropped while it was being read from: it goes on after the
	 * position reached, in a listing of now.
	 */
	if (off == 0 || !snap->taken) {
		rc = listing_take(fs, watch_listing_gen(fs->watch), snap);
		if (rc < 0) {
			reply_rc(req, rc);
			return;
		}
	}
	reply_readdir(req, size, dir_snapshot_seek(snap, off), snap->count + 2,
		      plus, add_entry, snap);
}

/*
 * A directory made in the top level is a list: an empty one, 16 zero bytes
 * marked LIST_XATTR (zeros alone are a plain block, see list_probe).
 */
static void root_mkdir(fuse_req_t req, struct node *dir, const char *name,
		       mode_t mode)
{
	struct shmfs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct node *node;
	struct stat st;
	int fd, rc;

	/* The block is a file: its mode is the directory's without x. */
	fd = shmdir_make_block(req, name, mode & 07666, O_RDWR, &st);
	if (fd < 0) {
		rc = fd;
		goto out_err;
	}
	/* Marked before it has its 16 bytes: never zeros without the mark. */
	if (fsetxattr(fd, LIST_XATTR, "1", 1, 0) < 0)
		goto fail;
	if (!fs->sparse && (rc = -posix_fallocate(fd, 0, 16)) < 0)
		goto fail_rc;
	if (ftruncate(fd, 16) < 0 || fstat(fd, &st) < 0)
		goto fail;
	close(fd);
	rc = inode_ref_list(fs->inodes, name, &st, &node);
	if (rc < 0) {
		shmdir_unmake_block(fs, name, &st);
		goto out_err;
	}
	list_fill_dir_entry(fs, &e, node, &st);
	reply_entry(req, &e);
	return;

fail:
	rc = -errno;
fail_rc:
	shmdir_unmake_block(fs, name, &st);
	close(fd);
out_err:
	reply_rc(req, rc);
}

/* The shm directory itself is not the mount's to change. */
static void root_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	reply_rc(req, -EPERM);
}

static void root_setxattr(fuse_req_t req, struct node *node, const char *name,
			  const char *value, size_t size, int flags)
{
	reply_rc(req, -EPERM);
}

static void root_removexattr(fuse_req_t req, struct node *node,
			     const char *name)
{
	reply_rc(req, -EPERM);
}

static void root_getxattr(fuse_req_t req, struct node *node, const char *name,
			  size_t size)
{
	reply_rc(req, shmfs_xattr_absent(name));
}

static void root_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	reply_xattr(req, NULL, 0, size);
}

const struct node_ops root_ops = {
	.is_dir = true,
	.lookup = root_lookup,
	.mknod = root_mknod,
	.mkdir = root_mkdir,
	.create = root_create,
	.unlink = root_unlink,
	.rmdir = root_rmdir,
	.rename = root_rename,
	.opendir = root_opendir,
	.readdir = root_readdir,
	.releasedir = root_releasedir,
	.getattr = root_getattr,
	.setattr = root_setattr,
	.setxattr = root_setxattr,
	.getxattr = root_getxattr,
	.listxattr = root_listxattr,
	.removexattr = root_removexattr,
};
