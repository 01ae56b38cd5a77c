/* SPDX-License-Identifier: MIT */
/* Arrays as files (ops_array.c): what the top level asks of views. */
#ifndef SHMFS_OPS_ARRAY_H
#define SHMFS_OPS_ARRAY_H

#include <stdbool.h>

#include "fs.h"

/*
 * The entry of the view `name` (NAME.npy, a name no block has): the view
 * of the declared array of the block NAME, holding one reference to its
 * node.  Errors: -ENOENT (no such view), -ENOMEM, and those of reading the
 * block.
 */
int array_view_ref(struct shmfs *fs, const char *name,
		   struct fuse_entry_param *e);

/* Whether `name` is a view now (as array_view_ref finds it). */
bool array_view_exists(struct shmfs *fs, const char *name);

#endif
