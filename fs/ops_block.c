/* SPDX-License-Identifier: MIT */
/* File operations on a block: attributes, open, read, write, xattrs. */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "holders_cache.h"
#include "lifetime.h"
#include "ops_block.h"
#include "passthrough.h"
#include "shmblock.h"
#include "shmdir.h"

/* Largest xattr value Linux allows. */
#define XATTR_VALUE_MAX 65536

/*
 * The node's block handle, attached by name when the node has none and held
 * while an open file or a request uses it: every hold is dropped with
 * node_drop, and the last drop closes the handle.  So the daemon keeps a
 * descriptor only for blocks open through the mount, and `ls -l` of a
 * million blocks costs none (stat never attaches; xattr calls hold and drop).
 * An open file holds the block it opened, so renames and unlinks outside
 * the mount don't matter to it.  The daemon never maps a block
 * (SHMBLOCK_NOMAP): its data path is pread/pwrite, which can't SIGBUS when
 * someone shrinks the block.  Errors: -ESTALE when the node's name now names
 * another file or none (the kernel then looks the name up again), and the
 * core's.
 */
static int node_hold(struct shmfs *fs, struct node *node, struct shmblock **out)
{
	char name[NAME_MAX + 1], shm_name[NAME_MAX + 1];
	struct shmblock *blk = NULL;
	unsigned flags = SHMBLOCK_NOMAP;
	struct stat st;
	int rc = 0;

	pthread_mutex_lock(&node->lock);
	if (node->blk)
		goto out;
	rc = inode_name(fs->inodes, node, name);
	if (rc == 0)
		rc = shmfs_block_name(fs, name, shm_name);
	if (rc < 0)
		goto out_stale;
	rc = shmblock_attach_at(fs->dirfd, shm_name, flags, &blk);
	if (rc == -EACCES) {
		flags |= SHMBLOCK_RDONLY;
		rc = shmblock_attach_at(fs->dirfd, shm_name, flags, &blk);
	}
	if (rc < 0)
		goto out_stale;
	if (fstat(shmblock_fd(blk), &st) < 0) {
		rc = -errno;
		shmblock_close(blk);
		goto out;
	}
	if (st.st_dev != node->dev || st.st_ino != node->ino) {
		shmblock_close(blk);
		rc = -ESTALE;
		goto out;
	}
	node->blk = blk;
	node->read_only = flags & SHMBLOCK_RDONLY;
	goto out;

out_stale:
	/*
	 * The name is gone, or is now a symlink (ELOOP: never followed) or
	 * something other than a regular file: the kernel looks it up again.
	 */
	if (rc == -ENOENT || rc == -EINVAL || rc == -ELOOP)
		rc = -ESTALE;
out:
	if (rc == 0)
		node->nheld++;
	*out = node->blk;
	pthread_mutex_unlock(&node->lock);
	return rc;
}

int block_adopt(struct shmfs *fs, struct node *node, const char *shm_name,
		int fd)
{
	struct shmblock *blk;
	int rc = shmblock_attach_fd(fs->dirfd, shm_name, fd, SHMBLOCK_NOMAP,
				    &blk);

	if (rc < 0) {
		close(fd);
		return rc;
	}
	/* Held by nobody yet: the open that follows takes the first hold. */
	pthread_mutex_lock(&node->lock);
	if (!node->blk) {
		node->blk = blk;
		node->read_only = false;
		blk = NULL;
	}
	pthread_mutex_unlock(&node->lock);
	shmblock_close(blk);
	return 0;
}

/* Drops a hold of node_hold; the last one closes the handle. */
static void node_drop(struct node *node)
{
	struct shmblock *blk = NULL;

	pthread_mutex_lock(&node->lock);
	if (--node->nheld == 0) {
		blk = node->blk;
		node->blk = NULL;
	}
	pthread_mutex_unlock(&node->lock);
	shmblock_close(blk);
}

/*
 * True when the kernel reached `node` through a name that no longer leads to
 * it: the block was unlinked, or replaced by a rename, outside the mount, and
 * the watch's invalidation of the name has not reached the kernel yet.
 * Opening or truncating it by that name would act on a file nobody can find
 * any more (a write through the mount would be lost); -ESTALE makes the
 * kernel look the name up again.  A node unlinked through the mount has no
 * name and is only reached through files already open, so it is left alone.
 */
static bool unlinked_behind_us(struct shmfs *fs, struct node *node,
			       struct shmblock *blk)
{
	char name[NAME_MAX + 1];
	struct stat st;

	return fstat(shmblock_fd(blk), &st) == 0 && st.st_nlink == 0 &&
	       inode_name(fs->inodes, node, name) == 0;
}

static void block_getattr(fuse_req_t req, struct node *node)
{
	struct shmfs *fs = req_fs(req);
	struct stat st;
	int rc = shmfs_node_stat(fs, node, &st);

	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

/* Whether the caller of `req` is in group `gid`, as the kernel would ask. */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[64];
	int n, i;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 64, groups);
	for (i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * Clears the set-id bits of a block as a write or truncate by the caller
 * does on tmpfs: set-user-id always, set-group-id when group execute is set
 * or the caller is not in the block's group.  The daemon does this itself
 * (FUSE_HANDLE_KILLPRIV_V2), so that the kernel needn't ask for
 * security.capability before every write.  A caller with CAP_FSETID keeps
 * the bits; the daemon can't see capabilities and takes root for it.
 * Returns 0 or -errno.
 */
static int clear_set_id(fuse_req_t req, int fd)
{
	mode_t kill = 0;
	struct stat st;

	if (fuse_req_ctx(req)->uid == 0)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!(st.st_mode & (S_ISUID | S_ISGID)) || !S_ISREG(st.st_mode))
		return 0;
	if (st.st_mode & S_ISUID)
		kill |= S_ISUID;
	if (st.st_mode & S_ISGID &&
	    (st.st_mode & S_IXGRP || !caller_in_group(req, st.st_gid)))
		kill |= S_ISGID;
	if (kill && fchmod(fd, st.st_mode & 07777 & ~kill) < 0)
		return -errno;
	return 0;
}

static int set_attrs(struct shmfs *fs, struct shmblock *blk,
		     const struct stat *attr, int to_set)
{
	int rc;

	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0)
			return -EINVAL;
		rc = shmblock_resize(blk, (size_t)attr->st_size,
				     fs->sparse ? SHMBLOCK_SPARSE : 0);
		if (rc < 0)
			return rc;
	}
	return shmdir_set_attrs(shmblock_fd(blk), attr, to_set, 07777);
}

static void block_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	struct shmfs *fs = req_fs(req);
	struct shmblock *blk = NULL;
	struct stat st;
	int rc = node_hold(fs, node, &blk);

	if (rc < 0)
		blk = NULL;
	/* A truncate(2) by name; ftruncate(2) of an open file comes with fi. */
	if (rc == 0 && !fi && unlinked_behind_us(fs, node, blk))
		rc = -ESTALE;
	if (rc == 0)
		rc = set_attrs(fs, blk, attr, to_set);
	if (rc == 0 && to_set & FUSE_SET_ATTR_SIZE)
		rc = clear_set_id(req, shmblock_fd(blk));
	if (rc == 0)
		rc = fstat(shmblock_fd(blk), &st) < 0 ? -errno : 0;
	if (blk)
		node_drop(node);
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

/*
 * The node's passthrough backing id, registered at its first open.  The
 * kernel wants every passthrough open of an inode to use the same backing
 * file, so there is one per node, for the node's whole life.  Returns the id
 * or 0 when the daemon serves this node's data.
 */
static int node_backing(struct shmfs *fs, struct node *node)
{
	int id;

	pthread_mutex_lock(&node->lock);
	if (node->backing_id == 0 && passthrough_active(fs->pt)) {
		id = passthrough_backing_open(fs->pt, shmblock_fd(node->blk));
		if (id <= 0)
			shmfs_log(fs, LOG_WARNING,
				  "passthrough refused for a block (%s); "
				  "the daemon serves its data",
				  strerror(-id));
		node->backing_id = id > 0 ? id : -1;
	}
	id = node->backing_id;
	pthread_mutex_unlock(&node->lock);
	return id > 0 ? id : 0;
}

/*
 * With O_APPEND and data through the daemon, writes must go to the end of the
 * block as it is at that moment, which only a descriptor opened O_APPEND
 * gives atomically (pwrite then ignores the offset).  Returns it or -errno.
 */
static int open_append_fd(struct shmblock *blk)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", shmblock_fd(blk));
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static bool is_set_id(const struct shmblock *blk)
{
	struct stat st;

	return fstat(shmblock_fd(blk), &st) == 0 &&
	       st.st_mode & (S_ISUID | S_ISGID);
}

/* The open of an open file's block, held until it is released. */
static int open_checked(struct shmfs *fs, struct node *node,
			struct fuse_file_info *fi, struct shmblock **out)
{
	struct shmblock *blk;
	int rc = node_hold(fs, node, &blk);

	if (rc < 0)
		return rc;
	if (unlinked_behind_us(fs, node, blk))
		rc = -ESTALE;
	else if ((fi->flags & O_ACCMODE) != O_RDONLY && node->read_only)
		rc = -EACCES;
	else if (fi->flags & O_TRUNC)
		rc = shmblock_resize(blk, 0, 0);
	if (rc < 0)
		node_drop(node);
	*out = blk;
	return rc;
}

int block_open_prepare(struct shmfs *fs, struct node *node,
		       struct fuse_file_info *fi, int *backing_id)
{
	struct shmblock *blk;
	int rc, fd, accmode = fi->flags & O_ACCMODE;

	*backing_id = 0;
	fi->fh = 0;
	rc = open_checked(fs, node, fi, &blk);
	if (rc < 0)
		return rc;
	shmfs_log_mode(fs);
	/* close(2) needn't ask the daemon: there is nothing to flush. */
	fi->noflush = 1;
	/*
	 * A set-id block's writes come through the daemon, which clears the
	 * bits as tmpfs would (a passthrough write can't, see clear_set_id).
	 * Only before the node has a backing file: the kernel doesn't let
	 * passthrough and other opens of one inode mix.
	 */
	if (node->backing_id == 0 && is_set_id(blk))
		*backing_id = 0;
	else
		*backing_id = node_backing(fs, node);
	if (*backing_id > 0) {
		/* Read, write and mmap go to the block's pages in the kernel. */
		fi->direct_io = 0;
		fi->keep_cache = 0;
		return 0;
	}
	/* Every read and write comes here: no page cache to go stale. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fi->flags & O_APPEND && accmode != O_RDONLY) {
		fd = open_append_fd(blk);
		if (fd < 0) {
			node_drop(node);
			return fd;
		}
		fi->fh = (uint64_t)fd + 1;
	}
	return 0;
}

void block_open_undo(struct node *node, struct fuse_file_info *fi)
{
	if (fi->fh)
		close((int)(fi->fh - 1));
	fi->fh = 0;
	node_drop(node);
}

static void block_open(fuse_req_t req, struct node *node,
		       struct fuse_file_info *fi)
{
	struct shmfs *fs = req_fs(req);
	int rc, backing_id;

	rc = block_open_prepare(fs, node, fi, &backing_id);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	if (fi->flags & O_TRUNC &&
	    (rc = clear_set_id(req, shmblock_fd(node->blk))) < 0) {
		block_open_undo(node, fi);
		reply_rc(req, rc);
		return;
	}
	if (backing_id > 0)
		passthrough_mark_reply(fs->pt, backing_id);
	if (fuse_reply_open(req, fi) != 0)
		block_open_undo(node, fi);
}

static void block_release(fuse_req_t req, struct node *node,
			  struct fuse_file_info *fi)
{
	/* An open file pins its node: it is still there. */
	block_open_undo(node, fi);
	reply_rc(req, 0);
}

static void block_read(fuse_req_t req, struct node *node, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	char *buf;
	ssize_t n;

	/* Only an open file reads, and opening attached the block. */
	if (!node->blk) {
		reply_rc(req, -EBADF);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		reply_rc(req, -ENOMEM);
		return;
	}
	n = pread(shmblock_fd(node->blk), buf, size, off);
	if (n < 0)
		reply_rc(req, -errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void block_write(fuse_req_t req, struct node *node, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	int fd, rc;
	ssize_t n;

	if (!node->blk) {
		reply_rc(req, -EBADF);
		return;
	}
	fd = fi->fh ? (int)(fi->fh - 1) : shmblock_fd(node->blk);
	rc = clear_set_id(req, shmblock_fd(node->blk));
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	n = pwrite(fd, buf, size, off);
	if (n < 0)
		reply_rc(req, -errno);
	else
		fuse_reply_write(req, (size_t)n);
}

static void block_fallocate(fuse_req_t req, struct node *node, int mode,
			    off_t offset, off_t length)
{
	struct shmblock *blk;
	int rc = node_hold(req_fs(req), node, &blk);

	if (rc == 0) {
		if (fallocate(shmblock_fd(blk), mode, offset, length) < 0)
			rc = -errno;
		node_drop(node);
	}
	reply_rc(req, rc);
}

static void block_setxattr(fuse_req_t req, struct node *node, const char *name,
			   const char *value, size_t size, int flags)
{
	struct shmblock *blk;
	int rc = holders_xattr_is(name) ? -EPERM
					: node_hold(req_fs(req), node, &blk);

	if (rc == 0) {
		if (!strcmp(name, SHMBLOCK_XATTR_LIFETIME))
			rc = lifetime_set_xattr(req, shmblock_fd(blk), value,
						size, flags);
		else if (fsetxattr(shmblock_fd(blk), name, value, size, flags))
			rc = -errno;
		node_drop(node);
	}
	reply_rc(req, rc);
}

/* Replies with the block's xattr `name`, or with its xattr list (name NULL). */
static void reply_block_xattr(fuse_req_t req, struct node *node,
			      const char *name, size_t size)
{
	struct shmblock *blk;
	char *buf = NULL;
	ssize_t n;
	int rc = node_hold(req_fs(req), node, &blk);

	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	if (size > XATTR_VALUE_MAX)
		size = XATTR_VALUE_MAX;
	if (!name)
		n = shmfs_xattr_names(req, shmblock_fd(blk),
				      sizeof(HOLDERS_XATTR_NAMES), &buf);
	else if (size && !(buf = malloc(size)))
		n = -ENOMEM;
	else if ((n = fgetxattr(shmblock_fd(blk), name, buf, size)) < 0)
		n = -errno;
	if (!name)
		n = holders_xattr_list_append(buf, n);
	node_drop(node);
	reply_xattr(req, buf, n, size);
	free(buf);
}

static void block_getxattr(fuse_req_t req, struct node *node, const char *name,
			   size_t size)
{
	if (holders_xattr_is(name))
		holders_reply_node(req, node, name, size);
	else
		reply_block_xattr(req, node, name, size);
}

static void block_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	reply_block_xattr(req, node, NULL, size);
}

static void block_removexattr(fuse_req_t req, struct node *node,
			      const char *name)
{
	struct shmblock *blk;
	int rc = holders_xattr_is(name) ? -EPERM
					: node_hold(req_fs(req), node, &blk);

	if (rc == 0) {
		if (!strcmp(name, SHMBLOCK_XATTR_LIFETIME))
			rc = lifetime_remove_xattr(shmblock_fd(blk));
		else if (fremovexattr(shmblock_fd(blk), name) < 0)
			rc = -errno;
		node_drop(node);
	}
	reply_rc(req, rc);
}

const struct node_ops block_ops = {
	.getattr = block_getattr,
	.setattr = block_setattr,
	.open = block_open,
	.read = block_read,
	.write = block_write,
	.release = block_release,
	.fallocate = block_fallocate,
	.setxattr = block_setxattr,
	.getxattr = block_getxattr,
	.listxattr = block_listxattr,
	.removexattr = block_removexattr,
};
