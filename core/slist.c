/* SPDX-License-Identifier: MIT */
/* ShareableLists in mapped blocks: create, attach, get, set, count, index. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shmblock.h"
#include "slist_codec.h"
#include "slist_walk.h"

struct shmblock_slist {
	struct shmblock *blk;
	bool rdonly;
};

/*
 * Where one item lives, worked out from fields copied out of the mapping
 * and checked against the mapped size.  Nothing here points into the block.
 */
struct located {
	struct shmblock_slist_item item;
	uint64_t formats_offset;
	uint64_t codes_offset;
};

/*
 * Starts a walk of the mapping: its header, checked against the mapped
 * size.  The walker copies each field it reads into a local once, so the
 * mapping is never read outside [0, size).
 */
static int walk_mapping(const struct shmblock_slist *sl, struct slist_walk *w)
{
	const void *p = shmblock_data(sl->blk);

	if (!p)
		return -EBADMSG;
	(void)shmblock__slist_walk_init(w, p, -1, shmblock_size(sl->blk));
	return shmblock__slist_walk_head(w);
}

/*
 * Item `index`: the header, the size equation (3.9+: three words; 3.8: the
 * sum of every size, O(N)), the item's offsets, its format and code.
 */
static int locate(const struct shmblock_slist *sl, size_t index,
		  struct located *loc)
{
	struct slist_walk w;
	int rc;

	rc = walk_mapping(sl, &w);
	if (rc == 0)
		rc = shmblock__slist_walk_sized(&w);
	if (rc == 0)
		rc = shmblock__slist_walk_item(&w, index, true, &loc->item);
	if (rc < 0)
		return rc;
	loc->formats_offset = w.header + w.room;
	loc->codes_offset = w.size - w.count;
	return 0;
}

/* A private copy of the whole block, validated; for the O(N) calls. */
static int snapshot(const struct shmblock_slist *sl, unsigned char **copy,
		    struct shmblock_slist_layout **lay)
{
	size_t len = shmblock_size(sl->blk);
	const void *data = shmblock_data(sl->blk);
	unsigned char *buf;
	int rc;

	if (!data)
		return -EBADMSG;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, data, len);
	rc = shmblock_slist_validate(buf, len, lay);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*copy = buf;
	return 0;
}

static int wrap(struct shmblock *blk, bool rdonly, struct shmblock_slist **out)
{
	struct shmblock_slist *sl = calloc(1, sizeof(*sl));

	if (!sl)
		return -ENOMEM;
	sl->blk = blk;
	sl->rdonly = rdonly;
	*out = sl;
	return 0;
}

SHMBLOCK_API int shmblock_slist_create_at(int dirfd, const char *name,
					  const struct shmblock_value *values,
					  size_t count, mode_t mode,
					  struct shmblock_slist **out)
{
	struct shmblock *blk;
	size_t size;
	int rc;

	rc = shmblock_slist_layout_size(values, count, &size);
	if (rc < 0)
		return rc;
	rc = shmblock_create_at(dirfd, name, size, mode, 0, &blk);
	if (rc < 0)
		return rc;
	rc = shmblock_slist_build(values, count, shmblock_data(blk), size);
	if (rc < 0)
		goto out_unlink;
	rc = wrap(blk, false, out);
	if (rc < 0)
		goto out_unlink;
	return 0;

out_unlink:
	shmblock_unlink(blk);
	shmblock_close(blk);
	return rc;
}

SHMBLOCK_API int shmblock_slist_create(const char *name,
				       const struct shmblock_value *values,
				       size_t count, mode_t mode,
				       struct shmblock_slist **out)
{
	return shmblock_slist_create_at(SHMBLOCK_DEFAULT_DIR, name, values,
					count, mode, out);
}

SHMBLOCK_API int shmblock_slist_attach_at(int dirfd, const char *name,
					  unsigned flags,
					  struct shmblock_slist **out)
{
	struct shmblock_slist *sl = NULL;
	struct shmblock_slist_layout *lay = NULL;
	struct shmblock *blk;
	unsigned char *copy;
	int rc;

	if (flags & SHMBLOCK_NOMAP)
		return -EINVAL;
	rc = shmblock_attach_at(dirfd, name, flags, &blk);
	if (rc < 0)
		return rc;
	rc = wrap(blk, flags & SHMBLOCK_RDONLY, &sl);
	if (rc < 0)
		goto out_close;
	rc = snapshot(sl, &copy, &lay);
	if (rc < 0)
		goto out_free;
	free(copy);
	shmblock_slist_layout_free(lay);
	*out = sl;
	return 0;

out_free:
	free(sl);
out_close:
	shmblock_close(blk);
	return rc;
}

SHMBLOCK_API int shmblock_slist_attach(const char *name, unsigned flags,
				       struct shmblock_slist **out)
{
	return shmblock_slist_attach_at(SHMBLOCK_DEFAULT_DIR, name, flags, out);
}

SHMBLOCK_API void shmblock_slist_close(struct shmblock_slist *sl)
{
	if (!sl)
		return;
	shmblock_close(sl->blk);
	free(sl);
}

SHMBLOCK_API struct shmblock *
shmblock_slist_block(const struct shmblock_slist *sl)
{
	return sl->blk;
}

SHMBLOCK_API ssize_t shmblock_slist_len(const struct shmblock_slist *sl)
{
	struct slist_walk w;
	int rc;

	rc = walk_mapping(sl, &w);
	if (rc == 0)
		rc = shmblock__slist_walk_sized(&w);
	return rc < 0 ? rc : (ssize_t)w.count;
}

SHMBLOCK_API int shmblock_slist_type(const struct shmblock_slist *sl,
				     size_t index)
{
	struct located loc;
	int rc;

	rc = locate(sl, index, &loc);
	return rc < 0 ? rc : (int)loc.item.type;
}

SHMBLOCK_API int shmblock_slist_get(const struct shmblock_slist *sl,
				    size_t index, struct shmblock_value *out,
				    void *buf, size_t buflen)
{
	const unsigned char *p = shmblock_data(sl->blk);
	unsigned char word[8], *copy;
	struct located loc;
	size_t cap;
	int rc;

	rc = locate(sl, index, &loc);
	if (rc < 0)
		return rc;
	if (loc.item.type != SHMBLOCK_TYPE_STR &&
	    loc.item.type != SHMBLOCK_TYPE_BYTES) {
		memcpy(word, p + loc.item.offset, sizeof(word));
		return shmblock__slist_decode(loc.item.type, word, sizeof(word),
					      out);
	}
	/*
	 * Copy the slot once, then strip and check the copy.  Straight into
	 * the caller's buffer when the whole slot fits, else via the heap.
	 */
	cap = (size_t)loc.item.capacity;
	copy = cap <= buflen ? buf : malloc(cap);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, p + loc.item.offset, cap);
	rc = shmblock__slist_decode(loc.item.type, copy, cap, out);
	if (rc == 0 && copy != buf) {
		if (out->s.len <= buflen) {
			if (out->s.len)
				memcpy(buf, copy, out->s.len);
			out->s.ptr = buf;
		} else {
			out->s.ptr = NULL;
			rc = -ENOBUFS;
		}
	}
	if (copy != buf)
		free(copy);
	return rc;
}

SHMBLOCK_API int shmblock_slist_set(struct shmblock_slist *sl, size_t index,
				    const struct shmblock_value *value)
{
	struct shmblock_slist_edit edit;
	struct located loc;
	int rc;

	if (sl->rdonly)
		return -EACCES;
	rc = locate(sl, index, &loc);
	if (rc < 0)
		return rc;
	rc = shmblock__slist_encode(&loc.item, loc.formats_offset,
				    loc.codes_offset, index, value, &edit);
	if (rc < 0)
		return rc;
	return shmblock_slist_edit_apply(&edit, shmblock_data(sl->blk),
					 shmblock_size(sl->blk));
}

/* Scans a validated copy; returns the count, or the first index (-ENOENT). */
static ssize_t scan(const struct shmblock_slist *sl,
		    const struct shmblock_value *value, bool first)
{
	struct shmblock_slist_layout *lay;
	unsigned char *copy;
	ssize_t found = 0;
	size_t i;
	int rc;

	rc = snapshot(sl, &copy, &lay);
	if (rc < 0)
		return rc;
	for (i = 0; i < lay->count; i++) {
		struct shmblock_value item;

		/* A str CPython can't decode raises there; it equals nothing here. */
		if (shmblock_slist_read(lay, copy, lay->size, i, &item) < 0)
			continue;
		if (!shmblock_value_equal(&item, value))
			continue;
		if (first) {
			found = (ssize_t)i;
			goto out;
		}
		found++;
	}
	if (first)
		found = -ENOENT;
out:
	shmblock_slist_layout_free(lay);
	free(copy);
	return found;
}

SHMBLOCK_API ssize_t shmblock_slist_count(const struct shmblock_slist *sl,
					  const struct shmblock_value *value)
{
	return scan(sl, value, false);
}

SHMBLOCK_API ssize_t shmblock_slist_index(const struct shmblock_slist *sl,
					  const struct shmblock_value *value)
{
	return scan(sl, value, true);
}

SHMBLOCK_API ssize_t shmblock_slist_format(const struct shmblock_slist *sl,
					   char *out, size_t outlen)
{
	struct shmblock_slist_layout *lay;
	unsigned char *copy;
	ssize_t rc;

	rc = snapshot(sl, &copy, &lay);
	if (rc < 0)
		return rc;
	rc = shmblock_slist_format_render(lay, out, outlen);
	shmblock_slist_layout_free(lay);
	free(copy);
	return rc;
}
