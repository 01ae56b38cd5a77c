/* SPDX-License-Identifier: MIT */
/*
 * Locks on the files of the mount (docs/locks.md): the handlers that every
 * file kind's table names, and the hooks its flush and release call.  A
 * block's locks (a block, a list's .raw, an array, a semaphore) are the
 * block's own (locks.h); the files only the mount shows (items, .json,
 * .format, an array's view) have locks among the mount's users alone.
 */
#ifndef SHMFS_OPS_LOCK_H
#define SHMFS_OPS_LOCK_H

#include "node_ops.h"

void node_getlk(fuse_req_t req, struct node *node, struct fuse_file_info *fi,
		struct flock *lock);
void node_setlk(fuse_req_t req, struct node *node, struct fuse_file_info *fi,
		struct flock *lock, int sleep);
void node_flock(fuse_req_t req, struct node *node, struct fuse_file_info *fi,
		int op);

/* A close (FLUSH) of an open file of `node`: its process's record locks go. */
void node_locks_flush(struct shmfs *fs, struct node *node,
		      const struct fuse_file_info *fi);

/* The open file `fi` of `node` is released: its OFD locks and flock go. */
void node_locks_release(struct shmfs *fs, struct node *node,
			const struct fuse_file_info *fi);

#endif
