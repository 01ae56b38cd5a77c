/* SPDX-License-Identifier: MIT */
/*
 * The top level's .deleted/: blocks unlinked while still held, read-only
 * (docs/holders.md, "In the mount").  What the top level needs of it.
 */
#ifndef SHMFS_OPS_DELETED_H
#define SHMFS_OPS_DELETED_H

#include "node_ops.h"

#define DELETED_DIR_NAME ".deleted"

/* .deleted/ and the files in it. */
extern const struct node_ops deleted_ops;

/*
 * Whether `name` in the top level is .deleted/: the mount's directory
 * shadows a block of that name, which the mount then neither shows nor
 * lets be removed or renamed through it.
 */
bool deleted_is_dir_name(const char *name);

/* Looks .deleted/ up: an entry holding one reference.  Errors: -ENOMEM. */
int deleted_dir_entry(fuse_req_t req, struct fuse_entry_param *e);

/*
 * Adds .deleted/ to a readdir(plus) reply of the top level at `buf`, as
 * fuse_add_direntry(_plus) does: the bytes used, more than `room` when it
 * doesn't fit (nothing referenced then), 0 to leave it out.
 */
size_t deleted_dir_dirent(fuse_req_t req, char *buf, size_t room,
			  off_t next, bool plus);

#endif
