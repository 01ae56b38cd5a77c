/* SPDX-License-Identifier: MIT */
/* The lowlevel operations table of the daemon. */
#ifndef SHMFS_OPS_H
#define SHMFS_OPS_H

#include "fs.h"

/* Each request goes to the handler of its node's kind (node_ops.h). */
extern const struct fuse_lowlevel_ops shmfs_ops;

#endif
