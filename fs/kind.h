/* SPDX-License-Identifier: MIT */
/*
 * The kind of a top-level name: what the mount shows a block as.  One
 * function decides it (shm_kind_of), and every reader asks it: lookup
 * (ops_root.c), the listing copy (listing.c) and the watch (watch.c).  The
 * node kind that serves it, and so its handler table, and its d_type
 * follow from the kind here too.  A new kind of block adds its test to
 * shm_kind_of and its node kind to shm_kind_node.
 */
#ifndef SHMFS_KIND_H
#define SHMFS_KIND_H

#include <sys/stat.h>

#include "fs.h"
#include "inode.h"

enum shm_kind {
	SHM_KIND_PLAIN,	    /* a block, shown as a regular file */
	SHM_KIND_LIST,	    /* a ShareableList, shown as a directory */
	SHM_KIND_ARRAY,	    /* reserved: not told apart yet (plain) */
	SHM_KIND_SEMAPHORE, /* reserved: not told apart yet (plain) */
};

/*
 * Classifies the block `shm_name` of the shm directory: fills `st` and
 * *kind.  Returns 0 or -errno (-ENOENT: gone, or not a regular file).
 */
int shm_kind_of(const struct shmfs *fs, const char *shm_name, struct stat *st,
		enum shm_kind *kind);

/* The node kind that serves a top-level name of `kind`. */
enum node_kind shm_kind_node(enum shm_kind kind);

/* The file type bits (S_IFDIR, S_IFREG) a name of `kind` shows. */
mode_t shm_kind_type(enum shm_kind kind);

#endif
