/* SPDX-License-Identifier: MIT */
/*
 * The xattrs of a file that is a block's, shared by the handler tables
 * whose nodes hold a block (node_hold): a block and a list's .raw
 * (ops_block.c), a semaphore (ops_sem.c).  The user's xattrs are the
 * block's own; SHMBLOCK_XATTR_LIFETIME is checked and completed
 * (lifetime.h); the holders xattrs are computed, read-only
 * (holders_cache.h).  Each replies to `req`.
 */
#ifndef SHMFS_BLOCK_XATTR_H
#define SHMFS_BLOCK_XATTR_H

#include "fs.h"
#include "inode.h"

void block_xattr_set(fuse_req_t req, struct node *node, const char *name,
		     const char *value, size_t size, int flags);
void block_xattr_get(fuse_req_t req, struct node *node, const char *name,
		     size_t size);
void block_xattr_list(fuse_req_t req, struct node *node, size_t size);
void block_xattr_remove(fuse_req_t req, struct node *node, const char *name);

#endif
