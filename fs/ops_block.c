/* SPDX-License-Identifier: MIT */
/* File operations on a block: attributes, open, read, write (xattrs:
 * block_xattr.c). */

#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block_handle.h"
#include "block_xattr.h"
#include "node_ops.h"
#include "passthrough.h"
#include "shmblock.h"
#include "shmdir.h"

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
	    (st.st_mode & S_IXGRP || !shmfs_caller_in_group(req, st.st_gid)))
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
	if (rc == 0 && !fi && node_unlinked_behind_us(fs, node, blk))
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

const struct node_ops block_ops = {
	.is_dir = false,
	.getattr = block_getattr,
	.setattr = block_setattr,
	.open = block_open,
	.read = block_read,
	.write = block_write,
	.release = block_release,
	.fallocate = block_fallocate,
	.setxattr = block_xattr_set,
	.getxattr = block_xattr_get,
	.listxattr = block_xattr_list,
	.removexattr = block_xattr_remove,
};
