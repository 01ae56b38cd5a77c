/* SPDX-License-Identifier: MIT */
/* Private helpers shared by the buffer and the handle layers of ShareableList. */
#ifndef SHMBLOCK_SLIST_LAYOUT_H
#define SHMBLOCK_SLIST_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "shmblock.h"

/*
 * The layout, after CPython's Lib/multiprocessing/shared_memory.py (all
 * fields native int64 unless noted, no padding):
 *
 *   0             N
 *   8             3.9+: N+1 offsets into the data area (offsets[0] = 0)
 *                 3.8:  N item sizes (each >= 8 in a CPython-made list)
 *   header        data area, D bytes: item i in its slot
 *   header+D      N format strings, 8 bytes each, NUL padded
 *   header+D+8N   N back-transform codes, int8
 *
 * header is 16 + 8N (3.9+) or 8 + 8N (3.8); the block is header + D + 9N.
 */
#define SLIST_WORD 8u
#define SLIST_MAX_SLOT SHMBLOCK_SLIST_MAX_SLOT

/* Back-transform codes. */
enum {
	SLIST_CODE_PLAIN = 0, /* int, float, bool */
	SLIST_CODE_STR = 1,
	SLIST_CODE_BYTES = 2,
	SLIST_CODE_NONE = 3,
};

/* Fields are copied out with memcpy: the block need not be aligned. */
static inline int64_t slist_load_i64(const unsigned char *p)
{
	int64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void slist_store_i64(unsigned char *p, int64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * The type an item has, from a private copy of its 8-byte format, its code
 * and its slot length; -EBADMSG unless they form one of CPython's forms.
 */
int shmblock__slist_item_type(const unsigned char fmt[8], int code,
			      uint64_t slot_len);

/*
 * Decodes an item from a private copy of its slot (`slot_len` bytes, at
 * least 8 for scalars).  STR/BYTES point into `slot`.  Errors: -EILSEQ.
 */
int shmblock__slist_decode(enum shmblock_type type, const unsigned char *slot,
			   uint64_t slot_len, struct shmblock_value *out);

/*
 * Encodes `value` into item `index` (its slot described by `item`), with the
 * format and code arrays at the given block offsets.
 * Errors: -EINVAL (bad value), -EFBIG.
 */
int shmblock__slist_encode(const struct shmblock_slist_item *item,
			   uint64_t formats_offset, uint64_t codes_offset,
			   size_t index, const struct shmblock_value *value,
			   struct shmblock_slist_edit *out);

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

/*
 * The whole walk: header, every offset (or size), the size equation and,
 * with `deep`, every format and code.  With `out` non-NULL *out gets the
 * layout, its items array grown as the walk proceeds (shallow: types are
 * left SHMBLOCK_TYPE_NONE).  Errors: as walk_head, -ENOMEM.
 */
int shmblock__slist_walk_all(struct slist_walk *w, bool deep,
			     struct shmblock_slist_layout **out);

/* Strict UTF-8 check, as Python's decoder (no surrogates, no overlongs). */
bool shmblock__utf8_valid(const unsigned char *s, size_t len);

#endif
