/* SPDX-License-Identifier: MIT */
/* The one ShareableList header walker, over a buffer or a descriptor. */
#ifndef SHMBLOCK_SLIST_WALK_H
#define SHMBLOCK_SLIST_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmblock.h"

/*
 * The one header walker (core/slist_walk.c).  It reaches the block through
 * three cursors, one a region (the count and offsets or sizes, the formats,
 * the codes), so that each region is read front to back: over a buffer a
 * cursor is a bounds check, over a descriptor a window filled by pread.
 */
struct slist_cursor {
	const unsigned char *buf;  /* the buffer source, or NULL */
	int fd;			   /* the descriptor source */
	unsigned char *win;	   /* fd: the window... */
	size_t win_cap;		   /* ...its capacity */
	uint64_t win_off, win_len; /* fd: what the window holds now */
	uint64_t start, end;	   /* the region this cursor may read */
};

struct slist_walk {
	struct slist_cursor words, formats, codes;
	unsigned char *mem; /* fd: the three windows, 64 KiB */
	uint64_t size;	    /* the block's size */
	/* Set by shmblock__slist_walk_head: */
	enum shmblock_slist_version version;
	uint64_t count;	 /* N */
	uint64_t header; /* = the data area's offset */
	uint64_t room;	 /* what the data area must fill */
};

/*
 * Prepares a walk of `size` bytes at `buf`, or (buf NULL) of the block open
 * at `fd` read with pread in chunks of at most 64 KiB in all.
 * Errors: -ENOMEM (fd only).
 */
int shmblock__slist_walk_init(struct slist_walk *w, const void *buf, int fd,
			      uint64_t size);
void shmblock__slist_walk_fini(struct slist_walk *w);

/*
 * Header only: the count fits the size, the version, the areas.  Not yet the
 * size equation.  Errors: -EBADMSG, -EAGAIN and pread's (fd).
 */
int shmblock__slist_walk_head(struct slist_walk *w);

/*
 * After walk_head: the size equation, the layout's size computed from the
 * header equals the block's (3.9+: reads the last offset; 3.8: sums every
 * size, O(N)).  Errors: as walk_head.
 */
int shmblock__slist_walk_sized(struct slist_walk *w);

/*
 * After walk_sized: item `index`'s slot (3.9+: two offsets; 3.8: the sizes
 * up to it) and, with `deep`, its type from its format and code.  Reads
 * only those fields.  Errors: as walk_head, and -ERANGE.
 */
int shmblock__slist_walk_item(struct slist_walk *w, uint64_t index, bool deep,
			      struct shmblock_slist_item *item);

/* How a whole walk checks each item's format and code. */
enum slist_depth {
	SLIST_SHALLOW, /* not at all */
	SLIST_DEEP,    /* one of CPython's forms, which gives the item's type */
	SLIST_TORN,    /* what a store in progress may leave for an instant */
};

/*
 * The whole walk: header, every offset (or size), the size equation and,
 * by `depth`, every format and code.  With `out` non-NULL *out gets the
 * layout, its items array grown as the walk proceeds (types are left
 * SHMBLOCK_TYPE_NONE unless SLIST_DEEP).  Errors: as walk_head, -ENOMEM.
 */
int shmblock__slist_walk_all(struct slist_walk *w, enum slist_depth depth,
			     struct shmblock_slist_layout **out);

/* Reads exactly `len` bytes at `off`; -EAGAIN when the file ends before. */
int shmblock__pread_full(int fd, unsigned char *p, size_t len, uint64_t off);

#endif
