/* SPDX-License-Identifier: MIT */
/* A list as a directory: what the top level needs of it. */
#ifndef SHMFS_OPS_LIST_H
#define SHMFS_OPS_LIST_H

#include "node_ops.h"

/*
 * Fills an entry for the list node `node` of the block `block`: a directory
 * whose dentry is cached fs->timeout (the watch invalidates it) and whose
 * attributes are not (stores through mappings make no event).
 */
void list_fill_dir_entry(const struct shmfs *fs, struct fuse_entry_param *e,
			 struct node *node, const struct stat *block);

#endif
