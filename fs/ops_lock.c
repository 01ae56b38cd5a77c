/* SPDX-License-Identifier: MIT */
/* Locks on the files of the mount: each open file's lock target. */

#include "ops_lock.h"
#include "locks.h"
#include "shmblock.h"

/*
 * A file open on a block holds it (node->blk, block_handle.c): its locks
 * are the block's (a block, a list's .raw, an array, a semaphore).  Any
 * other file's locks live on a description the daemon makes for them,
 * keyed by the node (no block has device -1): items, .json and .format,
 * and an array's view NAME.npy, whose bytes are not the block's (it holds
 * the block NAME, but a range of the view is another range of the block).
 */
static struct lock_target target_of(struct node *node)
{
	if (node->blk && node->kind != NODE_ARRAY_VIEW)
		return (struct lock_target){ .dev = node->dev,
					     .ino = node->ino,
					     .fd = shmblock_fd(node->blk) };
	return (struct lock_target){ .dev = (dev_t)-1,
				     .ino = (ino_t)inode_id(node),
				     .fd = -1 };
}

void node_getlk(fuse_req_t req, struct node *node, struct fuse_file_info *fi,
		struct flock *lock)
{
	struct lock_target t = target_of(node);

	locks_getlk(req, &t, fi, lock);
}

void node_setlk(fuse_req_t req, struct node *node, struct fuse_file_info *fi,
		struct flock *lock, int sleep)
{
	struct lock_target t = target_of(node);

	locks_setlk(req, &t, fi, lock, sleep);
}

void node_flock(fuse_req_t req, struct node *node, struct fuse_file_info *fi,
		int op)
{
	struct lock_target t = target_of(node);

	locks_flock(req, &t, fi, op);
}

void node_locks_flush(struct shmfs *fs, struct node *node,
		      const struct fuse_file_info *fi)
{
	struct lock_target t = target_of(node);

	locks_flush(fs->locks, &t, fi->lock_owner);
}

void node_locks_release(struct shmfs *fs, struct node *node,
			const struct fuse_file_info *fi)
{
	struct lock_target t = target_of(node);

	locks_release(fs->locks, &t, fi);
}
