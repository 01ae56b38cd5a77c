/* SPDX-License-Identifier: MIT */
/* Private helpers shared by the buffer and the handle layers of ShareableList. */
#ifndef SHMBLOCK_SLIST_LAYOUT_H
#define SHMBLOCK_SLIST_LAYOUT_H

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
/* The biggest slot whose "<n>s" format still fits 8 bytes. */
#define SLIST_MAX_SLOT 9999992u

/* Back-transform codes. */
enum {
	SLIST_CODE_PLAIN = 0,	/* int, float, bool */
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

/* Strict UTF-8 check, as Python's decoder (no surrogates, no overlongs). */
bool shmblock__utf8_valid(const unsigned char *s, size_t len);

#endif
