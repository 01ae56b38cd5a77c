/* SPDX-License-Identifier: MIT */
/* A named semaphore as a file: what the top level needs of it (ops_sem.c). */
#ifndef SHMFS_OPS_SEM_H
#define SHMFS_OPS_SEM_H

#include "kind.h"
#include "node_ops.h"

/*
 * CREATE of the mount name `name` ("sem.NAME"): makes the semaphore with
 * value 0 (shmdir_make_sem; the value written next is posted), or opens
 * the one someone made since the kernel looked (without O_EXCL).  Replies.
 */
void sem_create(fuse_req_t req, const char *name, mode_t mode,
		struct fuse_file_info *fi);

/* MKNOD of a regular file "sem.NAME": a semaphore of value 0.  Replies. */
void sem_mknod(fuse_req_t req, const char *name, mode_t mode);

#endif
