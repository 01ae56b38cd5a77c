/* SPDX-License-Identifier: MIT */
/* A list's .format and .json: what the list's handlers need of them. */
#ifndef SHMFS_OPS_META_H
#define SHMFS_OPS_META_H

#include "list_block.h"
#include "list_file.h"

/*
 * Replies to a LOOKUP with `child` (.format or .json, referenced once by
 * the caller), its attributes made from `snap`, a copy of its list (a
 * stable one for .json).  On error the reference is dropped and the error
 * replied.
 */
void meta_reply_entry(fuse_req_t req, struct node *child,
		      const struct list_snap *snap);

#endif
