/* SPDX-License-Identifier: MIT */
/* The files inside a list directory: what the list's handlers need of them. */
#ifndef SHMFS_OPS_ITEM_H
#define SHMFS_OPS_ITEM_H

#include <stdint.h>

#include "list_block.h"
#include "node_ops.h"

/* Child keys of a list's hidden files; items use item_key(). */
enum { ITEM_KEY_RAW = 1, ITEM_KEY_FORMAT = 2, ITEM_KEY_JSON = 3 };

/* The child key of item `index` named with `type` (or LIST_TYPE_BARE). */
static inline uint64_t item_key(uint64_t index, int type)
{
	return index << 3 | (uint64_t)type;
}

/*
 * Replies to a LOOKUP, MKNOD or CREATE-less entry request with `child` (an
 * item, .format or .json, referenced once by the caller), its attributes
 * made from `snap`, a copy of its list (a stable one for .json).  On error
 * the reference is dropped and the error replied.
 */
void item_reply_entry(fuse_req_t req, struct node *child,
		      const struct list_snap *snap, bool read_only);

/*
 * Replies to a CREATE in a list with `child` (an item, referenced once),
 * open for `fi`, from `snap`, the list after the item was made.  `appended`:
 * the item was just appended, so its handle may grow the list.
 */
void item_reply_create(fuse_req_t req, struct node *child,
		       const struct list_snap *snap, bool read_only,
		       bool appended, struct fuse_file_info *fi);

#endif
