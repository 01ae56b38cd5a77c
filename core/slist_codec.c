/* SPDX-License-Identifier: MIT */
/* One ShareableList item's fields: its format, code and slot, both ways. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shmblock.h"
#include "slist_codec.h"

static const char FMT_INT[8] = "q";
static const char FMT_FLOAT[8] = "d";
static const char FMT_BOOL[8] = { 'x', 'x', 'x', 'x', 'x', 'x', 'x', '?' };
static const char FMT_NONE[8] = "xxxxxx?x";

bool shmblock__utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			need = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

/*
 * Parses "<n>s": decimal digits without a leading zero, then 's', then NUL
 * padding.  Returns n, or 0 if the field is anything else.
 */
static uint64_t parse_str_format(const unsigned char fmt[8])
{
	uint64_t n = 0;
	int i = 0;

	if (fmt[0] < '1' || fmt[0] > '9')
		return 0;
	while (i < 8 && fmt[i] >= '0' && fmt[i] <= '9')
		n = n * 10 + (uint64_t)(fmt[i++] - '0');
	if (i == 8 || fmt[i] != 's')
		return 0;
	for (i++; i < 8; i++)
		if (fmt[i] != '\0')
			return 0;
	return n;
}

int shmblock__slist_item_type(const unsigned char fmt[8], int code,
			      uint64_t slot_len)
{
	uint64_t n;

	if (!memcmp(fmt, FMT_INT, 8) || !memcmp(fmt, FMT_FLOAT, 8) ||
	    !memcmp(fmt, FMT_BOOL, 8)) {
		if (code != SLIST_CODE_PLAIN || slot_len < SLIST_WORD)
			return -EBADMSG;
		return fmt[0] == 'q'   ? SHMBLOCK_TYPE_INT
		       : fmt[0] == 'd' ? SHMBLOCK_TYPE_FLOAT
				       : SHMBLOCK_TYPE_BOOL;
	}
	if (!memcmp(fmt, FMT_NONE, 8)) {
		if (code != SLIST_CODE_NONE || slot_len < SLIST_WORD)
			return -EBADMSG;
		return SHMBLOCK_TYPE_NONE;
	}
	/*
	 * CPython always writes "<slot length>s" (at creation the slot is
	 * sized from the format, on assignment the format from the slot).
	 */
	n = parse_str_format(fmt);
	if (n == 0 || n != slot_len)
		return -EBADMSG;
	if (code == SLIST_CODE_STR)
		return SHMBLOCK_TYPE_STR;
	if (code == SLIST_CODE_BYTES)
		return SHMBLOCK_TYPE_BYTES;
	return -EBADMSG;
}

bool shmblock__slist_item_torn(const unsigned char fmt[8], int code,
			       uint64_t slot_len)
{
	static const unsigned char zero[8];

	if (code < SLIST_CODE_PLAIN || code > SLIST_CODE_NONE)
		return false;
	if (!memcmp(fmt, zero, sizeof(zero)))
		return true;
	/* The format with the code that goes with it, as a store ends. */
	if (!memcmp(fmt, FMT_NONE, 8))
		code = SLIST_CODE_NONE;
	else if (parse_str_format(fmt))
		code = SLIST_CODE_STR;
	else
		code = SLIST_CODE_PLAIN;
	return shmblock__slist_item_type(fmt, code, slot_len) >= 0;
}

int shmblock__slist_decode(enum shmblock_type type, const unsigned char *slot,
			   uint64_t slot_len, struct shmblock_value *out)
{
	size_t len;

	out->type = type;
	switch (type) {
	case SHMBLOCK_TYPE_INT:
		out->i = slist_load_i64(slot);
		return 0;
	case SHMBLOCK_TYPE_FLOAT:
		memcpy(&out->f, slot, sizeof(out->f));
		return 0;
	case SHMBLOCK_TYPE_BOOL:
		/* struct's '?' unpacks any non-zero byte as True. */
		out->b = slot[7] != 0;
		return 0;
	case SHMBLOCK_TYPE_NONE:
		return 0;
	case SHMBLOCK_TYPE_STR:
	case SHMBLOCK_TYPE_BYTES:
		/* CPython's rstrip(b"\0"). */
		len = (size_t)slot_len;
		while (len > 0 && slot[len - 1] == '\0')
			len--;
		if (type == SHMBLOCK_TYPE_STR &&
		    !shmblock__utf8_valid(slot, len))
			return -EILSEQ;
		out->s.ptr = (const char *)slot;
		out->s.len = len;
		return 0;
	}
	return -EBADMSG;
}

/* Writes the 8-byte format field for a type and slot. */
void shmblock__slist_render_format(enum shmblock_type type, uint64_t cap,
				   char fmt[8])
{
	char tmp[24];

	switch (type) {
	case SHMBLOCK_TYPE_INT:
		memcpy(fmt, FMT_INT, 8);
		return;
	case SHMBLOCK_TYPE_FLOAT:
		memcpy(fmt, FMT_FLOAT, 8);
		return;
	case SHMBLOCK_TYPE_BOOL:
		memcpy(fmt, FMT_BOOL, 8);
		return;
	case SHMBLOCK_TYPE_NONE:
		memcpy(fmt, FMT_NONE, 8);
		return;
	case SHMBLOCK_TYPE_STR:
	case SHMBLOCK_TYPE_BYTES:
		break;
	}
	/* cap <= 9999999 for every validated or new slot: it fits. */
	memset(fmt, 0, 8);
	snprintf(tmp, sizeof(tmp), "%" PRIu64 "s", cap);
	memcpy(fmt, tmp, strnlen(tmp, 8));
}

int shmblock__slist_code_of(enum shmblock_type type)
{
	switch (type) {
	case SHMBLOCK_TYPE_STR:
		return SLIST_CODE_STR;
	case SHMBLOCK_TYPE_BYTES:
		return SLIST_CODE_BYTES;
	case SHMBLOCK_TYPE_NONE:
		return SLIST_CODE_NONE;
	default:
		return SLIST_CODE_PLAIN;
	}
}

/* The 8 data bytes CPython's struct.pack_into writes for a scalar. */
void shmblock__slist_pack_scalar(const struct shmblock_value *v,
				 unsigned char out[8])
{
	memset(out, 0, 8);
	switch (v->type) {
	case SHMBLOCK_TYPE_INT:
		slist_store_i64(out, v->i);
		break;
	case SHMBLOCK_TYPE_FLOAT:
		memcpy(out, &v->f, 8);
		break;
	case SHMBLOCK_TYPE_BOOL:
		out[7] = v->b ? 1 : 0;
		break;
	default:
		/* None packs as the '?' of False; 'x' pads are zeros. */
		break;
	}
}

int shmblock__slist_encode(const struct shmblock_slist_item *item,
			   uint64_t formats_offset, uint64_t codes_offset,
			   size_t index, const struct shmblock_value *value,
			   struct shmblock_slist_edit *out)
{
	struct shmblock_slist_edit e;

	memset(&e, 0, sizeof(e));
	e.data_offset = item->offset;
	switch (value->type) {
	case SHMBLOCK_TYPE_INT:
	case SHMBLOCK_TYPE_FLOAT:
	case SHMBLOCK_TYPE_BOOL:
	case SHMBLOCK_TYPE_NONE:
		/* Only a hostile "<n>s" slot is shorter than 8 bytes. */
		if (item->capacity < SLIST_WORD)
			return -EFBIG;
		e.data_len = SLIST_WORD;
		shmblock__slist_pack_scalar(value, e.scalar);
		break;
	case SHMBLOCK_TYPE_STR:
	case SHMBLOCK_TYPE_BYTES:
		if (!value->s.ptr && value->s.len)
			return -EINVAL;
		if (value->type == SHMBLOCK_TYPE_STR &&
		    !shmblock__utf8_valid((const unsigned char *)value->s.ptr,
					  value->s.len))
			return -EINVAL;
		if (value->s.len > item->capacity)
			return -EFBIG;
		e.data_len = item->capacity;
		e.payload = value->s.ptr;
		e.payload_len = value->s.len;
		break;
	default:
		return -EINVAL;
	}
	/*
	 * A str/bytes slot keeps "<cap>s" and a number slot becomes
	 * "<allocated length>s"; the validator made both the same number.
	 */
	shmblock__slist_render_format(value->type, item->capacity, e.format);
	e.format_offset = formats_offset + (uint64_t)index * SLIST_WORD;
	e.code_offset = codes_offset + index;
	e.code = (int8_t)shmblock__slist_code_of(value->type);
	*out = e;
	return 0;
}
