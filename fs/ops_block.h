/* SPDX-License-Identifier: MIT */
/* A block as a file: what the top level's create needs of it. */
#ifndef SHMFS_OPS_BLOCK_H
#define SHMFS_OPS_BLOCK_H

#include "node_ops.h"

/*
 * Opens `node` for an OPEN or CREATE reply: fills `fi` and sets
 * *backing_id to the passthrough backing id, or 0 when the daemon serves the
 * data.  On error nothing is left open.  Errors: -ESTALE (the name no longer
 * names this block), -EACCES, and the core's.
 */
int block_open_prepare(struct shmfs *fs, struct node *node,
		       struct fuse_file_info *fi, int *backing_id);

/*
 * Gives `node`, just made by a CREATE, the read-write descriptor `fd` that
 * made its block `shm_name`, for the block_open_prepare that follows to
 * use instead of opening the block again.  Takes fd, whatever it returns.
 * Errors: the core's.
 */
int block_adopt(struct shmfs *fs, struct node *node, const char *shm_name,
		int fd);

/* Undoes a block_open_prepare that succeeded (the reply failed). */
void block_open_undo(struct node *node, struct fuse_file_info *fi);

#endif
