/* SPDX-License-Identifier: MIT */
/*
 * A block's identity: its device, inode number and birth time.  A name
 * later given to another file (a new inode, or the same inode number come
 * back with another birth time) is not the same block.  The -o cleanup set
 * (cleanup.c) and a removal decided on a block (shmdir.c, lifetime.c) keep
 * their blocks by it.
 */
#ifndef SHMFS_BLOCK_ID_H
#define SHMFS_BLOCK_ID_H

#include <stdbool.h>
#include <stdint.h>

struct block_id {
	uint64_t dev;
	uint64_t ino;
	int64_t btime_sec; /* 0 and 0 where the fs keeps no birth time */
	uint32_t btime_nsec;
	uint32_t mode; /* the file type and mode: not part of the identity */
};

/* The identity of the file `name` of `dirfd`, never followed.  Errors:
 * statx's. */
int block_id_of(int dirfd, const char *name, struct block_id *id);

/* The identity of the file open at `fd`.  Errors: statx's. */
int block_id_fd(int fd, struct block_id *id);

/*
 * Whether two identities are of one block, field by field: the struct has
 * padding, which memcmp would compare too.
 */
bool block_id_same(const struct block_id *a, const struct block_id *b);

#endif
