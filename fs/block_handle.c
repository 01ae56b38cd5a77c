/* SPDX-License-Identifier: MIT */
/*
 * A block node's handle: the block attached while an open file or a
 * request holds it, its passthrough backing file, and the open of a block
 * file (block_handle.h).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "array_block.h"
#include "block_handle.h"
#include "passthrough.h"
#include "shmblock.h"

int node_hold(struct shmfs *fs, struct node *node, struct shmblock **out)
{
	char name[NAME_MAX + 1], shm_name[NAME_MAX + 1];
	const bool view = node->kind == NODE_ARRAY_VIEW;
	struct shmblock *blk = NULL;
	unsigned flags = SHMBLOCK_NOMAP;
	struct stat st;
	int rc = 0;

	pthread_mutex_lock(&node->lock);
	if (node->blk)
		goto out;
	/* A view NAME.npy reads the block NAME, and only reads it. */
	if (view)
		flags |= SHMBLOCK_RDONLY;
	rc = inode_name(fs->inodes, node, name);
	if (rc == 0)
		rc = view ? array_view_block_name(fs, name, shm_name)
			  : shmfs_block_name(fs, name, shm_name);
	if (rc < 0)
		goto out_stale;
	rc = shmblock_attach_at(fs->dirfd, shm_name, flags, &blk);
	if (rc == -EACCES && !view) {
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
	if (st.st_dev != node->dev ||
	    (view ? array_view_ino(st.st_ino) : st.st_ino) != node->ino) {
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

void node_drop(struct node *node)
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

bool node_held_elsewhere(struct node *node)
{
	bool held;

	pthread_mutex_lock(&node->lock);
	held = node->nheld > 1;
	pthread_mutex_unlock(&node->lock);
	return held;
}

bool node_unlinked_behind_us(struct shmfs *fs, struct node *node,
			     struct shmblock *blk)
{
	char name[NAME_MAX + 1];
	struct stat st;

	return fstat(shmblock_fd(blk), &st) == 0 && st.st_nlink == 0 &&
	       inode_name(fs->inodes, node, name) == 0;
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

/*
 * An open file's fi->fh: a serial number in the high 32 bits, which tells
 * open files apart for their locks (ops_lock.c), and its O_APPEND
 * descriptor + 1 in the low ones (0: none).
 */
static atomic_uint open_serial;

int block_append_fd(const struct fuse_file_info *fi)
{
	return (int)(uint32_t)fi->fh - 1;
}

/* The open of an open file's block, held until it is released. */
static int open_checked(struct shmfs *fs, struct node *node,
			struct fuse_file_info *fi, struct shmblock **out)
{
	struct shmblock *blk;
	int rc = node_hold(fs, node, &blk);

	if (rc < 0)
		return rc;
	if (node_unlinked_behind_us(fs, node, blk))
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
	fi->fh = (uint64_t)(atomic_fetch_add(&open_serial, 1) + 1) << 32;
	/* Nothing to flush, but a close releases the process's locks. */
	fi->noflush = 0;
	/*
	 * A set-id block's writes come through the daemon, which clears the
	 * bits as tmpfs would (a passthrough write can't, see ops_block.c:clear_set_id).
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
		fi->fh |= (uint64_t)fd + 1;
	}
	return 0;
}

void block_open_undo(struct node *node, struct fuse_file_info *fi)
{
	if (block_append_fd(fi) >= 0)
		close(block_append_fd(fi));
	fi->fh = 0;
	node_drop(node);
}
