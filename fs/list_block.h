/* SPDX-License-Identifier: MIT */
/* List blocks, read only: private copies of a block, and whether it is a list. */
#ifndef SHMFS_LIST_BLOCK_H
#define SHMFS_LIST_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "shmblock.h"

struct shmfs;

/* The xattr mkdir puts on an empty list's block; value "1". */
#define LIST_XATTR "user.shmfs.list"

/* Blocks larger than this are never shown as lists (the daemon copies them). */
#define LIST_MAX_BLOCK (256u << 20)

/* A validated private copy of a list block. */
struct list_snap {
	unsigned char *buf;
	size_t len;
	struct stat st;                         /* of the block, at the copy */
	struct shmblock_slist_layout *lay;
};

/*
 * Copies the block open at `fd` with pread (its size from fstat, copied
 * again when the size changed meanwhile, a bounded number of times) and
 * validates the copy.  With `stable`, the copy is taken until two
 * consecutive ones are identical, so no store can be half in it.
 * Errors: -EBADMSG (not a list, or larger than LIST_MAX_BLOCK), -EAGAIN (the
 * block kept changing), -ENOMEM, pread's and fstat's.
 */
int list_snap_take(int fd, bool stable, struct list_snap *snap);
void list_snap_free(struct list_snap *snap);

/*
 * Whether the block open at `fd` (stat `st`) is shown as a list: its bytes
 * validate, and a list of no items needs the LIST_XATTR mark (a 16-byte
 * block of zeros is byte for byte an empty list).  A few small preads reject
 * most non-lists before the whole block is copied.  Returns 1, 0 or -errno.
 */
int list_probe(int fd, const struct stat *st);

/*
 * Opens the block `shm_name` of the shm directory (read-write if it can,
 * else read-only), refusing anything but a regular file.  Returns the
 * descriptor or -errno (-ENOENT for a non-regular file).
 */
int list_block_open(const struct shmfs *fs, const char *shm_name,
		    bool *read_only);

/*
 * Classifies the block `shm_name`: fills `st` and returns 1 for a list, 0
 * for a plain block, or -errno (-ENOENT: gone, or not a regular file).
 */
int list_classify(const struct shmfs *fs, const char *shm_name,
		  struct stat *st);

#endif
