/* SPDX-License-Identifier: MIT */
/*
 * The top level's .deleted/: blocks unlinked while still held, read-only
 * (docs/holders.md, "In the mount").  What the top level needs of it.
 */
#ifndef SHMFS_OPS_DELETED_H
#define SHMFS_OPS_DELETED_H

#include "node_ops.h"

#define DELETED_DIR_NAME ".deleted"

/*
 * Whether `name` in the top level is .deleted/.  It is found by name but
 * not listed, as ZFS's .zfs with snapdir=hidden: the top level lists the
 * blocks and nothing else.  It shadows a block of its name, which the
 * mount then neither shows nor lets be removed or renamed through it.
 */
bool deleted_is_dir_name(const char *name);

/* Looks .deleted/ up: an entry holding one reference.  Errors: -ENOMEM. */
int deleted_dir_entry(fuse_req_t req, struct fuse_entry_param *e);

#endif
