/* SPDX-License-Identifier: MIT */
/* One ShareableList item's fields: its format, code and slot, both ways. */
#ifndef SHMBLOCK_SLIST_CODEC_H
#define SHMBLOCK_SLIST_CODEC_H

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
 * This file knows one item; core/slist_walk.h walks the tables.
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

/* Strict UTF-8 check, as Python's decoder (no surrogates, no overlongs). */
bool shmblock__utf8_valid(const unsigned char *s, size_t len);

/*
 * The type an item has, from a private copy of its 8-byte format, its code
 * and its slot length; -EBADMSG unless they form one of CPython's forms.
 */
int shmblock__slist_item_type(const unsigned char fmt[8], int code,
			      uint64_t slot_len);

/*
 * Whether a format and code are what a store into a slot of `slot_len`
 * bytes may leave for an instant: CPython zero-fills the format
 * (struct.pack_into), writes the new one, then the code; so the format is
 * zero or one of the formats the slot may have, and the code any of the
 * four, agreeing with the format or not.  Every well-formed item is one.
 */
bool shmblock__slist_item_torn(const unsigned char fmt[8], int code,
			       uint64_t slot_len);

/*
 * Decodes an item from a private copy of its slot (`slot_len` bytes, at
 * least 8 for scalars).  STR/BYTES point into `slot`.  Errors: -EILSEQ.
 */
int shmblock__slist_decode(enum shmblock_type type, const unsigned char *slot,
			   uint64_t slot_len, struct shmblock_value *out);

/* Writes the 8-byte format field of a type in a slot of `cap` bytes. */
void shmblock__slist_render_format(enum shmblock_type type, uint64_t cap,
				   char fmt[8]);

/* The back-transform code of a type. */
int shmblock__slist_code_of(enum shmblock_type type);

/* The 8 data bytes CPython's struct.pack_into writes for a scalar. */
void shmblock__slist_pack_scalar(const struct shmblock_value *v,
				 unsigned char out[8]);

/*
 * Encodes `value` into item `index` (its slot described by `item`), with the
 * format and code arrays at the given block offsets.
 * Errors: -EINVAL (bad value), -EFBIG.
 */
int shmblock__slist_encode(const struct shmblock_slist_item *item,
			   uint64_t formats_offset, uint64_t codes_offset,
			   size_t index, const struct shmblock_value *value,
			   struct shmblock_slist_edit *out);

#endif
