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
	SHM_KIND_ARRAY,	    /* a .npy block: a regular file (ops_array.c) */
	SHM_KIND_SEMAPHORE, /* a glibc named semaphore, sem.NAME (ops_sem.c) */
	SHM_KIND_DECLARED,  /* a raw block with a declared dtype and shape:
			     * a plain file, and a view NAME.npy beside it */
};

/*
 * Classifies the block `shm_name` of the shm directory: fills `st` and
 * *kind.  A "sem.*" name is a semaphore when its 32 bytes are a valid
 * glibc semaphore (read, never mapped), and a plain block otherwise,
 * never a list.  Returns 0 or -errno (-ENOENT: gone, or not a regular
 * file).
 */
int shm_kind_of(const struct shmfs *fs, const char *shm_name, struct stat *st,
		enum shm_kind *kind);

/* The node kind that serves a top-level name of `kind`. */
enum node_kind shm_kind_node(enum shm_kind kind);

/* The file type bits (S_IFDIR, S_IFREG) a name of `kind` shows. */
mode_t shm_kind_type(enum shm_kind kind);

#endif
