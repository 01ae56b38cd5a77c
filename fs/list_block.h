/* SPDX-License-Identifier: MIT */
/* List blocks, read only: a block's layout, its items, and whether it is a list. */
#ifndef SHMFS_LIST_BLOCK_H
#define SHMFS_LIST_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "fs.h"
#include "shmblock.h"

struct list_layout_ref;

/* The xattr mkdir puts on an empty list's block; value "1". */
#define LIST_XATTR "user.shmfs.list"

/* Blocks larger than this are never shown as lists. */
#define LIST_MAX_BLOCK (256u << 20)

/*
 * A list as the daemon reads it: the layout from the block's header and
 * tables (shmblock_slist_probe_fd), and its items read one by one, each a
 * value the item really held (shmblock_slist_get_fd), never a whole copy
 * of the block.  Or a list built in memory (a rebuild's), with `buf`.
 */
struct list_snap {
	int fd;		    /* the block, borrowed; -1 for a built list */
	unsigned char *buf; /* a built list's bytes, else NULL */
	size_t len;
	struct stat st; /* of the block, at the probe */
	struct shmblock_slist_layout *lay;
	bool shallow; /* no item types in lay: read each afresh */
	struct list_layout_ref *shared; /* lay is the cache's (list_block.c) */
};

/*
 * Reads the layout of the block open at `fd`, as the core's settled probe
 * does (shmblock_slist_probe_settled, LIST_MAX_BLOCK at most).  A store
 * half done by another process (CPython zero-fills a format before
 * writing it, then writes the code) makes a layout look broken for an
 * instant: a block whose header and offsets are a list's is probed again,
 * a bounded number of times.  If its
 * formats and codes kept changing meanwhile (a writer storing in a loop),
 * or the block is `known` as a list (the writer may be preempted midway),
 * it is still a list, whose item types are read one by one (`shallow`): a
 * transient failure is no change of kind.  Tables that hold still and are
 * not a list's make a block no list.
 * Errors: -EBADMSG (not a list; or larger than LIST_MAX_BLOCK; or sparse:
 * its size is not backed by memory, so reading it would cost the daemon
 * what its maker never paid), -EAGAIN, -ENOMEM, pread's and fstat's.
 */
int list_snap_take(int fd, bool known, struct list_snap *snap);

/*
 * The layout for a request about item `index` alone (or, index >= the
 * count, about the list's header: its count and attributes), at a cost
 * that doesn't grow with the list: the layout the last whole probe of the
 * same block (device, inode, size) found, kept in a small cache, once the
 * block's count and the item's slot are checked to be where it says
 * (shmblock_slist_recheck_fd); a whole probe when they are not, or the
 * cache has none (and then it keeps the new one).  What else the tables
 * hold is not read.  The snapshot is shallow: item types are read afresh
 * (list_snap_type).  A list of no items, a 3.8 layout and layouts too big
 * for the cache are probed whole each time.  Errors: as list_snap_take.
 */
int list_snap_take_item(int fd, uint64_t index, struct list_snap *snap);
void list_snap_free(struct list_snap *snap);

/* The type of item `index` (read afresh for a shallow layout), or -errno. */
int list_snap_type(const struct list_snap *snap, uint64_t index);

/*
 * A layout of item `index` (< the count) alone: its tables start at the
 * item's format and code, so that item 0 of `one` is item `index` of the
 * list to the core's encoding (shmblock_slist_encode_set, which needs the
 * slot, not the type: a shallow snapshot's will do).  `item` is its items
 * array.
 */
void list_snap_item_layout(const struct list_snap *snap, uint64_t index,
			   struct shmblock_slist_layout *one,
			   struct shmblock_slist_item *item);

/*
 * Reads item `index`: str and bytes point into *owned, a buffer to free
 * (NULL for other types).  Errors: -ERANGE, -EAGAIN (the item changed, or
 * was ill-formed, on every try: a store in progress), -EILSEQ, -ENOMEM,
 * pread's.
 */
int list_snap_read(const struct list_snap *snap, uint64_t index,
		   struct shmblock_value *v, char **owned);

/*
 * Reads every item, in order, each a value it held (list_snap_read's), and
 * calls fn for each (shmblock_slist_each_fd: neighbouring items in a few
 * reads).  Errors: list_snap_read's, fn's.
 */
int list_snap_each(const struct list_snap *snap, shmblock_slist_each_fn *fn,
		   void *arg);

/*
 * Whether the block open at `fd` (stat `st`) is shown as a list: its layout
 * is a list's (`known`: as list_snap_take), and a list of no items needs
 * the LIST_XATTR mark (a 16-byte block of zeros is byte for byte an empty
 * list).  Returns 1, 0 or -errno.
 */
int list_probe(int fd, const struct stat *st, bool known);

/*
 * Opens the block `shm_name` of the shm directory (read-write if it can,
 * else read-only), refusing anything but a regular file.  Returns the
 * descriptor or -errno (-ENOENT for a non-regular file).
 */
int list_block_open(const struct shmfs *fs, const char *shm_name,
		    bool *read_only);

/*
 * The list test of shm_kind_of (kind.h): whether the regular file
 * `shm_name`, of stat `st` (refreshed when it is opened), is shown as a
 * list.  Returns 1, 0 or -errno (-ENOENT: gone, or no regular file now).
 */
int list_block_test(const struct shmfs *fs, const char *shm_name,
		    struct stat *st);

#endif
