/* SPDX-License-Identifier: MIT */
/*
 * A block node's handle (a block file, or a list's .raw): the model the
 * block handlers (ops_block.c) and the top level's create (ops_root.c)
 * share.  docs/shmfs.md, "A node's handle", has its lifetime.
 */
#ifndef SHMFS_BLOCK_HANDLE_H
#define SHMFS_BLOCK_HANDLE_H

#include <stdbool.h>

#include "fs.h"
#include "inode.h"

struct shmblock;

/*
 * Holds the node's block handle (*out), attached by name when the node has
 * none (a view's, NODE_ARRAY_VIEW, is its block's, read only).  An open file or a request holds it while it uses the block: every
 * hold is dropped with node_drop, and the last drop closes the handle.  So the daemon keeps a
 * descriptor only for blocks open through the mount, and `ls -l` of a
 * million blocks costs none (stat never attaches; xattr calls hold and drop).
 * An open file holds the block it opened, so renames and unlinks outside
 * the mount don't matter to it.  The daemon never maps a block
 * (SHMBLOCK_NOMAP): its data path is pread/pwrite, which can't SIGBUS when
 * someone shrinks the block.  Errors: -ESTALE when the node's name now names
 * another file or none (the kernel then looks the name up again), and the
 * core's.
 */
int node_hold(struct shmfs *fs, struct node *node, struct shmblock **out);

/* Drops a hold of node_hold; the last one closes the handle. */
void node_drop(struct node *node);

/*
 * Whether a block node held by the calling request (node_hold) is held
 * besides: an open file through the mount, or another request.
 */
bool node_held_elsewhere(struct node *node);

/*
 * True when the kernel reached `node` through a name that no longer leads to
 * it: the block was unlinked, or replaced by a rename, outside the mount, and
 * the watch's invalidation of the name has not reached the kernel yet.
 * Opening or truncating it by that name would act on a file nobody can find
 * any more (a write through the mount would be lost); -ESTALE makes the
 * kernel look the name up again.  A node unlinked through the mount has no
 * name and is only reached through files already open, so it is left alone.
 */
bool node_unlinked_behind_us(struct shmfs *fs, struct node *node,
			     struct shmblock *blk);

/*
 * Opens `node` for an OPEN or CREATE reply: holds its block (checked by
 * name, O_TRUNC applied), fills `fi` and sets *backing_id to the
 * passthrough backing id, or 0 when the daemon serves the data.  On error
 * nothing is left open.  Errors: -ESTALE (the name no longer names this
 * block), -EACCES, and the core's.
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

/*
 * The O_APPEND descriptor block_open_prepare opened for the open file
 * `fi` (writes through the daemon), or -1.
 */
int block_append_fd(const struct fuse_file_info *fi);

/* Undoes a block_open_prepare that succeeded (the reply failed, a release). */
void block_open_undo(struct node *node, struct fuse_file_info *fi);

#endif
