/* SPDX-License-Identifier: MIT */
/* ShareableList layouts in plain buffers: validate, read, encode sets, build. */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmblock.h"
#include "slist_codec.h"
#include "slist_walk.h"

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
	return shmblock__slist_walk_all(&w, SLIST_DEEP, out);
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
			shmblock__slist_pack_scalar(v, p + data + off);
		}
		shmblock__slist_render_format(
			v->type, slot, (char *)p + formats + SLIST_WORD * i);
		p[codes + i] = (unsigned char)shmblock__slist_code_of(v->type);
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

		shmblock__slist_render_format(lay->items[i].type,
					      lay->items[i].capacity, fmt);
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
