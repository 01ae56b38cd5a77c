/* SPDX-License-Identifier: MIT */
/*
 * lsshm's kinds: what a block holds (a ShareableList, a .npy array, an
 * array declared by its xattrs, a glibc semaphore, plain bytes), found
 * with pread and fgetxattr, never by mapping the block.
 */
#ifndef LSSHM_KIND_H
#define LSSHM_KIND_H

#include <stdbool.h>
#include <stdint.h>

#include "lsshm_text.h"
#include "shmblock.h"

/* The xattrs that declare a raw block an array (docs/arrays.md). */
#define LSSHM_XATTR_DTYPE "user.shmfs.dtype"
#define LSSHM_XATTR_SHAPE "user.shmfs.shape"

enum lsshm_kind_type {
	LSSHM_UNKNOWN,	 /* not ours to read: "?" */
	LSSHM_PLAIN,	 /* none of the below */
	LSSHM_LIST,	 /* a ShareableList */
	LSSHM_ARRAY,	 /* its bytes are a .npy file */
	LSSHM_DECLARED,	 /* raw bytes; user.shmfs.dtype and .shape say */
	LSSHM_SEMAPHORE, /* sem.NAME holding a glibc semaphore */
};

struct lsshm_kind {
	enum lsshm_kind_type type;
	uint64_t items; /* a list's */
	/* A semaphore's state, if two reads agreed (have_sem). */
	bool have_sem;
	struct shmblock_sem_state sem;
	/* An array's descr (UTF-8) and shape ("1000x3", "()" if 0-d). */
	struct sbuf dtype, shape;
};

/*
 * Finds the kind of entry `e` of the snapshot, its directory `dirfd`: a
 * named block opened in it (O_NOFOLLOW, never blocking), a deleted one
 * through its holders, and checked to be the inode the scan saw.  A block
 * with no memory allocated reads as zeros: its kind comes from its size
 * (and its xattrs) without opening it.  Reads at most the block, and a
 * header no longer than SHMBLOCK_NPY_HEADER_MAX.  Returns 0 or -ENOMEM;
 * *k is to be freed with lsshm_kind_free either way.
 */
int lsshm_kind_get(int dirfd, const struct shmblock_holders *snap,
		   const struct shmblock_holders_entry *e,
		   struct lsshm_kind *k);

/* Frees what lsshm_kind_get allocated. */
void lsshm_kind_free(struct lsshm_kind *k);

/*
 * Appends the KIND cell: "plain", "list[N]", "array[DTYPE SHAPE]",
 * "array[DTYPE SHAPE] (declared)", "semaphore", or "?".
 */
void lsshm_kind_text(const struct lsshm_kind *k, struct sbuf *b);

#endif
