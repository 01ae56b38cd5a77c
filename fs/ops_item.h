/* SPDX-License-Identifier: MIT */
/* The items of a list directory: what the list's handlers need of them. */
#ifndef SHMFS_OPS_ITEM_H
#define SHMFS_OPS_ITEM_H

#include <stdint.h>

#include "list_block.h"
#include "list_file.h"

/*
 * Replies to a LOOKUP or MKNOD with `child` (an item, referenced once by the
 * caller), its attributes made from `snap`, a copy of its list.  On error
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
