/* SPDX-License-Identifier: MIT */
/* ShareableList layouts in plain buffers: validate, read, encode sets, build. */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmblock.h"
#include "slist_layout.h"

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

/* The slot a new list gives a value, or 0 for a bad value. */
static uint64_t new_slot_size(const struct shmblock_value *v, int *err)
{
	switch (v->type) {
	case SHMBLOCK_TYPE_INT:
	case SHMBLOCK_TYPE_FLOAT:
	case SHMBLOCK_TYPE_BOOL:
	case SHMBLOCK_TYPE_NONE:
		return SLIST_WORD;
	case SHMBLOCK_TYPE_STR:
	case SHMBLOCK_TYPE_BYTES:
		if (!v->s.ptr && v->s.len) {
			*err = -EINVAL;
			return 0;
		}
		if (v->type == SHMBLOCK_TYPE_STR &&
		    !shmblock__utf8_valid((const unsigned char *)v->s.ptr,
					  v->s.len)) {
			*err = -EINVAL;
			return 0;
		}
		if (v->s.len >= SLIST_MAX_SLOT) {
			*err = -EFBIG;
			return 0;
		}
		return SLIST_WORD * (v->s.len / SLIST_WORD + 1);
	}
	*err = -EINVAL;
	return 0;
}

/* Writes the 8-byte format field for a type and slot. */
static void render_format(enum shmblock_type type, uint64_t cap, char fmt[8])
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

static int code_of(enum shmblock_type type)
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
static void pack_scalar(const struct shmblock_value *v, unsigned char out[8])
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
		pack_scalar(value, e.scalar);
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
	render_format(value->type, item->capacity, e.format);
	e.format_offset = formats_offset + (uint64_t)index * SLIST_WORD;
	e.code_offset = codes_offset + index;
	e.code = (int8_t)code_of(value->type);
	*out = e;
	return 0;
}

/* True if [off, off + n) lies inside a buffer of len bytes. */
static bool range_ok(uint64_t off, uint64_t n, size_t len)
{
	return off <= len && n <= len - off;
}

SHMBLOCK_API int
shmblock_slist_edit_apply(const struct shmblock_slist_edit *edit, void *buf,
			  size_t len)
{
	unsigned char *p = buf;

	if (!range_ok(edit->data_offset, edit->data_len, len) ||
	    !range_ok(edit->format_offset, SLIST_WORD, len) ||
	    !range_ok(edit->code_offset, 1, len))
		return -EINVAL;
	if (edit->payload ? edit->payload_len > edit->data_len
			  : edit->data_len != SLIST_WORD)
		return -EINVAL;
	/* CPython rewrites the format and code first, then packs the data. */
	memcpy(p + edit->format_offset, edit->format, SLIST_WORD);
	memcpy(p + edit->code_offset, &edit->code, 1);
	if (edit->payload) {
		memcpy(p + edit->data_offset, edit->payload, edit->payload_len);
		memset(p + edit->data_offset + edit->payload_len, 0,
		       edit->data_len - edit->payload_len);
	} else {
		memcpy(p + edit->data_offset, edit->scalar, SLIST_WORD);
	}
	return 0;
}

SHMBLOCK_API int shmblock_slist_validate(const void *buf, size_t len,
					 struct shmblock_slist_layout **out)
{
	struct slist_walk w;

	if (!buf)
		return len ? -EINVAL : -EBADMSG;
	/* A buffer walk allocates nothing but the layout itself. */
	(void)shmblock__slist_walk_init(&w, buf, -1, len);
	return shmblock__slist_walk_all(&w, true, out);
}

SHMBLOCK_API void shmblock_slist_layout_free(struct shmblock_slist_layout *lay)
{
	if (!lay)
		return;
	free(lay->items);
	free(lay);
}

SHMBLOCK_API int shmblock_slist_read(const struct shmblock_slist_layout *lay,
				     const void *buf, size_t len, size_t index,
				     struct shmblock_value *out)
{
	const struct shmblock_slist_item *item;

	if (len != lay->size)
		return -EINVAL;
	if (index >= lay->count)
		return -ERANGE;
	item = &lay->items[index];
	if (!range_ok(item->offset, item->capacity, len))
		return -EINVAL;
	return shmblock__slist_decode(item->type,
				      (const unsigned char *)buf + item->offset,
				      item->capacity, out);
}

SHMBLOCK_API int
shmblock_slist_encode_set(const struct shmblock_slist_layout *lay, size_t index,
			  const struct shmblock_value *value,
			  struct shmblock_slist_edit *out)
{
	if (index >= lay->count)
		return -ERANGE;
	return shmblock__slist_encode(&lay->items[index], lay->formats_offset,
				      lay->codes_offset, index, value, out);
}

SHMBLOCK_API int shmblock_slist_layout_size(const struct shmblock_value *values,
					    size_t count, size_t *size)
{
	uint64_t total, slot;
	size_t i;
	int err = 0;

	if (!values && count)
		return -EINVAL;
	if (count > (SIZE_MAX - 2 * SLIST_WORD) / 17 / 2)
		return -EFBIG;
	total = 2 * SLIST_WORD + 17 * (uint64_t)count;
	for (i = 0; i < count; i++) {
		slot = new_slot_size(&values[i], &err);
		if (!slot)
			return err;
		if (slot > SIZE_MAX - total)
			return -EFBIG;
		total += slot;
	}
	if (total > (uint64_t)INT64_MAX)
		return -EFBIG;
	*size = (size_t)total;
	return 0;
}

SHMBLOCK_API int shmblock_slist_build(const struct shmblock_value *values,
				      size_t count, void *buf, size_t len)
{
	unsigned char *p = buf;
	uint64_t header, data, formats, codes, off;
	size_t size, i;
	int rc, err = 0;

	rc = shmblock_slist_layout_size(values, count, &size);
	if (rc < 0)
		return rc;
	if (len != size || !buf)
		return -EINVAL;
	memset(p, 0, len);
	header = 2 * SLIST_WORD + SLIST_WORD * (uint64_t)count;
	data = header;
	slist_store_i64(p, (int64_t)count);
	off = 0;
	for (i = 0; i < count; i++) {
		off += new_slot_size(&values[i], &err);
		slist_store_i64(p + 2 * SLIST_WORD + SLIST_WORD * i,
				(int64_t)off);
	}
	formats = data + off;
	codes = formats + SLIST_WORD * (uint64_t)count;
	off = 0;
	for (i = 0; i < count; i++) {
		const struct shmblock_value *v = &values[i];
		uint64_t slot = new_slot_size(v, &err);

		if (v->type == SHMBLOCK_TYPE_STR ||
		    v->type == SHMBLOCK_TYPE_BYTES) {
			if (v->s.len)
				memcpy(p + data + off, v->s.ptr, v->s.len);
		} else {
			pack_scalar(v, p + data + off);
		}
		render_format(v->type, slot,
			      (char *)p + formats + SLIST_WORD * i);
		p[codes + i] = (unsigned char)code_of(v->type);
		off += slot;
	}
	return 0;
}

SHMBLOCK_API ssize_t shmblock_slist_format_render(
	const struct shmblock_slist_layout *lay, char *out, size_t outlen)
{
	size_t total = 0, i;

	for (i = 0; i < lay->count; i++) {
		char fmt[9];
		size_t n;

		render_format(lay->items[i].type, lay->items[i].capacity, fmt);
		fmt[8] = '\0';
		n = strlen(fmt);
		if (outlen && total < outlen - 1)
			memcpy(out + total, fmt,
			       n < outlen - 1 - total ? n : outlen - 1 - total);
		total += n;
	}
	if (outlen)
		out[total < outlen - 1 ? total : outlen - 1] = '\0';
	return (ssize_t)total;
}

/* Python's int == float: exact, as CPython compares them. */
static bool int_equals_float(int64_t i, double f)
{
	if (isnan(f) || f < -9223372036854775808.0 ||
	    f >= 9223372036854775808.0)
		return false;
	/* In range, so the conversion is defined; it truncates a fraction. */
	if ((double)(int64_t)f != f)
		return false;
	return (int64_t)f == i;
}

static bool numeric(const struct shmblock_value *v, bool *is_float, int64_t *i,
		    double *f)
{
	switch (v->type) {
	case SHMBLOCK_TYPE_INT:
		*is_float = false;
		*i = v->i;
		return true;
	case SHMBLOCK_TYPE_BOOL:
		*is_float = false;
		*i = v->b ? 1 : 0;
		return true;
	case SHMBLOCK_TYPE_FLOAT:
		*is_float = true;
		*f = v->f;
		return true;
	default:
		return false;
	}
}

SHMBLOCK_API bool shmblock_value_equal(const struct shmblock_value *a,
				       const struct shmblock_value *b)
{
	bool af, bf;
	int64_t ai = 0, bi = 0;
	double ad = 0, bd = 0;

	if (numeric(a, &af, &ai, &ad)) {
		if (!numeric(b, &bf, &bi, &bd))
			return false;
		if (af && bf)
			return ad == bd;
		if (af)
			return int_equals_float(bi, ad);
		if (bf)
			return int_equals_float(ai, bd);
		return ai == bi;
	}
	if (a->type != b->type)
		return false;
	if (a->type == SHMBLOCK_TYPE_NONE)
		return true;
	if (a->type == SHMBLOCK_TYPE_STR || a->type == SHMBLOCK_TYPE_BYTES)
		return a->s.len == b->s.len &&
		       (a->s.len == 0 || !memcmp(a->s.ptr, b->s.ptr, a->s.len));
	return false;
}
