/* SPDX-License-Identifier: MIT */
/* The one ShareableList header walker, over a buffer or a descriptor. */

/*
 * Three callers read a list's header: the buffer validator, the mapped
 * handle (one item at a time) and the pread probe of a process that never
 * maps blocks.  They share this walker so that they accept exactly the same
 * blocks.  Every field is copied into a local once, through a cursor that
 * refuses to read outside its region, and checked with overflow-safe
 * arithmetic before it is used.
 */

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmblock.h"
#include "slist_codec.h"
#include "slist_walk.h"

/*
 * The descriptor windows, 64 KiB in all.  The offsets (8 bytes an item) and
 * the formats (8) get equal shares and the codes (1) the rest, so the three
 * regions are refilled at about the same pace.
 */
#define WIN_WORDS (28u << 10)
#define WIN_FORMATS (28u << 10)
#define WIN_CODES (8u << 10)
/* The first items array, grown by doubling as items are validated. */
#define ITEMS_FIRST 64u

int shmblock__pread_full(int fd, unsigned char *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EAGAIN;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void cursor_region(struct slist_cursor *c, uint64_t start, uint64_t end)
{
	c->start = start;
	c->end = end;
	c->win_len = 0;
}

/*
 * Points *p at the `n` bytes at `off` (n <= 8).  A buffer is read in place;
 * a descriptor window is refilled from `off` up to the region's end or the
 * window's capacity, so a region is read front to back in few preads and
 * never beyond its end.
 */
static int cursor_get(struct slist_cursor *c, uint64_t off, size_t n,
		      const unsigned char **p)
{
	uint64_t len;
	int rc;

	if (off < c->start || off > c->end || n > c->end - off)
		return -EBADMSG; /* a walker bug; refuse, never read */
	if (c->buf) {
		*p = c->buf + off;
		return 0;
	}
	if (off < c->win_off || off - c->win_off + n > c->win_len) {
		len = c->end - off < c->win_cap ? c->end - off : c->win_cap;
		c->win_len = 0;
		rc = shmblock__pread_full(c->fd, c->win, (size_t)len, off);
		if (rc < 0)
			return rc;
		c->win_off = off;
		c->win_len = len;
	}
	*p = c->win + (off - c->win_off);
	return 0;
}

static int cursor_i64(struct slist_cursor *c, uint64_t off, int64_t *v)
{
	const unsigned char *p;
	int rc;

	*v = 0;
	rc = cursor_get(c, off, SLIST_WORD, &p);
	if (rc == 0)
		*v = slist_load_i64(p);
	return rc;
}

int shmblock__slist_walk_init(struct slist_walk *w, const void *buf, int fd,
			      uint64_t size)
{
	memset(w, 0, sizeof(*w));
	w->size = size;
	w->words.buf = w->formats.buf = w->codes.buf = buf;
	w->words.fd = w->formats.fd = w->codes.fd = fd;
	if (buf)
		return 0;
	w->mem = malloc(WIN_WORDS + WIN_FORMATS + WIN_CODES);
	if (!w->mem)
		return -ENOMEM;
	w->words.win = w->mem;
	w->words.win_cap = WIN_WORDS;
	w->formats.win = w->mem + WIN_WORDS;
	w->formats.win_cap = WIN_FORMATS;
	w->codes.win = w->mem + WIN_WORDS + WIN_FORMATS;
	w->codes.win_cap = WIN_CODES;
	return 0;
}

void shmblock__slist_walk_fini(struct slist_walk *w)
{
	free(w->mem);
	w->mem = NULL;
}

/* An empty list: 3.8 writes just N, 3.9+ adds offsets[0] = 0. */
static int walk_empty(struct slist_walk *w)
{
	int64_t first;
	int rc;

	if (w->size == SLIST_WORD) {
		w->version = SHMBLOCK_SLIST_PY38;
		w->header = SLIST_WORD;
		return 0;
	}
	if (w->size != 2 * SLIST_WORD)
		return -EBADMSG;
	rc = cursor_i64(&w->words, SLIST_WORD, &first);
	if (rc < 0)
		return rc;
	if (first != 0)
		return -EBADMSG;
	w->version = SHMBLOCK_SLIST_PY39;
	w->header = 2 * SLIST_WORD;
	return 0;
}

int shmblock__slist_walk_head(struct slist_walk *w)
{
	int64_t raw;
	uint64_t n;
	int rc;

	/* Past INT64_MAX no size is a file's, and the sums below can't wrap. */
	if (w->size < SLIST_WORD || w->size > (uint64_t)INT64_MAX)
		return -EBADMSG;
	cursor_region(&w->words, 0,
		      w->size < 2 * SLIST_WORD ? w->size : 2 * SLIST_WORD);
	rc = cursor_i64(&w->words, 0, &raw);
	if (rc < 0)
		return rc;
	/* Both layouts need at least 8 + 17 bytes an item. */
	if (raw < 0 || (uint64_t)raw > (w->size - SLIST_WORD) / 17)
		return -EBADMSG;
	n = (uint64_t)raw;
	w->count = n;
	if (n == 0) {
		rc = walk_empty(w);
	} else {
		/* offsets[0] is 0 only in 3.9+; a 3.8 size is at least 8. */
		rc = cursor_i64(&w->words, SLIST_WORD, &raw);
		w->version = raw == 0 ? SHMBLOCK_SLIST_PY39
				      : SHMBLOCK_SLIST_PY38;
		w->header = SLIST_WORD * n +
			    (w->version == SHMBLOCK_SLIST_PY39 ? 2 : 1) *
				    SLIST_WORD;
		if (rc == 0 && w->header + 9 * n > w->size)
			rc = -EBADMSG;
	}
	if (rc < 0)
		return rc;
	w->room = w->size - w->header - 9 * n;
	cursor_region(&w->words, 0, w->header);
	cursor_region(&w->formats, w->header + w->room,
		      w->header + w->room + SLIST_WORD * n);
	cursor_region(&w->codes, w->size - n, w->size);
	return 0;
}

/* 3.9+: the slot [*start, *end) of item i, as the offsets table says. */
static int slot39(struct slist_walk *w, uint64_t i, uint64_t *start,
		  uint64_t *end)
{
	int64_t a = 0, b = 0;
	int rc;

	rc = cursor_i64(&w->words, SLIST_WORD + SLIST_WORD * i, &a);
	if (rc == 0)
		rc = cursor_i64(&w->words, 2 * SLIST_WORD + SLIST_WORD * i, &b);
	if (rc < 0)
		return rc;
	if (a < 0 || b < a || (uint64_t)b > w->room)
		return -EBADMSG;
	*start = (uint64_t)a;
	*end = (uint64_t)b;
	return 0;
}

/* 3.8: the size of item i, which must fit the room left after `start`. */
static int size38(struct slist_walk *w, uint64_t i, uint64_t start,
		  uint64_t *end)
{
	int64_t raw;
	int rc;

	rc = cursor_i64(&w->words, SLIST_WORD + SLIST_WORD * i, &raw);
	if (rc < 0)
		return rc;
	if (raw < 0 || (uint64_t)raw > w->room - start)
		return -EBADMSG;
	*end = start + (uint64_t)raw;
	return 0;
}

/* The next slot of a front-to-back walk; *prev is where the last ended. */
static int next_slot(struct slist_walk *w, uint64_t i, uint64_t *prev,
		     uint64_t *start, uint64_t *end)
{
	int rc;

	if (w->version == SHMBLOCK_SLIST_PY38) {
		*start = *prev;
		rc = size38(w, i, *start, end);
	} else {
		rc = slot39(w, i, start, end);
		if (rc == 0 && *start != *prev)
			rc = -EBADMSG;
	}
	if (rc == 0)
		*prev = *end;
	return rc;
}

/*
 * Item i's type, from its format and code, against its slot length; or
 * (SLIST_TORN) whether they are what a store may leave: NONE, or -EBADMSG.
 */
static int item_type(struct slist_walk *w, uint64_t i, uint64_t slot_len,
		     enum slist_depth depth)
{
	const unsigned char *p;
	unsigned char fmt[8];
	int rc;

	rc = cursor_get(&w->formats, w->formats.start + SLIST_WORD * i,
			SLIST_WORD, &p);
	if (rc < 0)
		return rc;
	memcpy(fmt, p, sizeof(fmt));
	rc = cursor_get(&w->codes, w->codes.start + i, 1, &p);
	if (rc < 0)
		return rc;
	if (depth == SLIST_DEEP)
		return shmblock__slist_item_type(fmt, (int8_t)*p, slot_len);
	if (!shmblock__slist_item_torn(fmt, (int8_t)*p, slot_len))
		return -EBADMSG;
	return SHMBLOCK_TYPE_NONE;
}

/* The size equation: the data area the header describes fills the room. */
int shmblock__slist_walk_sized(struct slist_walk *w)
{
	uint64_t i, prev = 0, end;
	int64_t last;
	int rc;

	if (w->count == 0)
		return 0;
	if (w->version == SHMBLOCK_SLIST_PY39) {
		rc = cursor_i64(&w->words, SLIST_WORD + SLIST_WORD * w->count,
				&last);
		if (rc < 0)
			return rc;
		return last >= 0 && (uint64_t)last == w->room ? 0 : -EBADMSG;
	}
	for (i = 0; i < w->count; i++) {
		rc = size38(w, i, prev, &end);
		if (rc < 0)
			return rc;
		prev = end;
	}
	return prev == w->room ? 0 : -EBADMSG;
}

int shmblock__slist_walk_item(struct slist_walk *w, uint64_t index, bool deep,
			      struct shmblock_slist_item *item)
{
	uint64_t i, prev = 0, start = 0, end = 0;
	int rc = 0, type = SHMBLOCK_TYPE_NONE;

	if (index >= w->count)
		return -ERANGE;
	if (w->version == SHMBLOCK_SLIST_PY39) {
		rc = slot39(w, index, &start, &end);
	} else {
		for (i = 0; i <= index && rc == 0; i++)
			rc = next_slot(w, i, &prev, &start, &end);
	}
	if (rc < 0)
		return rc;
	if (deep) {
		type = item_type(w, index, end - start, SLIST_DEEP);
		if (type < 0)
			return type;
	}
	item->offset = w->header + start;
	item->capacity = end - start;
	item->type = (enum shmblock_type)type;
	return 0;
}

/* Appends an item, growing the array with what has been validated. */
static int items_push(struct shmblock_slist_layout *lay, size_t *cap,
		      uint64_t max, const struct shmblock_slist_item *item)
{
	struct shmblock_slist_item *grown;
	uint64_t want;

	if (lay->count == *cap) {
		want = *cap ? (uint64_t)*cap * 2 : ITEMS_FIRST;
		if (want > max)
			want = max;
		grown = realloc(lay->items, (size_t)want * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		lay->items = grown;
		*cap = (size_t)want;
	}
	lay->items[lay->count++] = *item;
	return 0;
}

/* Every item front to back; `lay` (if any) gets them as they pass. */
static int walk_items(struct slist_walk *w, enum slist_depth depth,
		      struct shmblock_slist_layout *lay)
{
	struct shmblock_slist_item item;
	uint64_t i, prev = 0, start, end;
	size_t cap = 0;
	int rc, type = SHMBLOCK_TYPE_NONE;

	for (i = 0; i < w->count; i++) {
		rc = next_slot(w, i, &prev, &start, &end);
		if (rc < 0)
			return rc;
		if (depth != SLIST_SHALLOW) {
			type = item_type(w, i, end - start, depth);
			if (type < 0)
				return type;
		}
		if (!lay)
			continue;
		item.offset = w->header + start;
		item.capacity = end - start;
		item.type = (enum shmblock_type)type;
		rc = items_push(lay, &cap, w->count, &item);
		if (rc < 0)
			return rc;
	}
	return prev == w->room ? 0 : -EBADMSG;
}

int shmblock__slist_walk_all(struct slist_walk *w, enum slist_depth depth,
			     struct shmblock_slist_layout **out)
{
	struct shmblock_slist_layout *lay = NULL;
	int rc;

	rc = shmblock__slist_walk_head(w);
	if (rc < 0)
		return rc;
	if (out) {
		lay = calloc(1, sizeof(*lay));
		if (!lay)
			return -ENOMEM;
	}
	rc = walk_items(w, depth, lay);
	if (rc < 0) {
		shmblock_slist_layout_free(lay);
		return rc;
	}
	if (!lay)
		return 0;
	lay->version = w->version;
	lay->size = w->size;
	lay->data_offset = w->header;
	lay->formats_offset = w->header + w->room;
	lay->codes_offset = w->size - w->count;
	*out = lay;
	return 0;
}

SHMBLOCK_API int shmblock_slist_probe_fd(int fd, uint64_t size, unsigned flags,
					 struct shmblock_slist_layout **out)
{
	struct slist_walk w;
	int rc;

	if (flags & ~SHMBLOCK_PROBE_SHALLOW)
		return -EINVAL;
	rc = shmblock__slist_walk_init(&w, NULL, fd, size);
	if (rc < 0)
		return rc;
	rc = shmblock__slist_walk_all(
		&w, flags & SHMBLOCK_PROBE_SHALLOW ? SLIST_SHALLOW : SLIST_DEEP,
		out);
	shmblock__slist_walk_fini(&w);
	return rc;
}

SHMBLOCK_API int
shmblock_slist_probe_torn_fd(int fd, uint64_t size,
			     struct shmblock_slist_layout **out)
{
	struct slist_walk w;
	int rc;

	rc = shmblock__slist_walk_init(&w, NULL, fd, size);
	if (rc < 0)
		return rc;
	rc = shmblock__slist_walk_all(&w, SLIST_TORN, out);
	shmblock__slist_walk_fini(&w);
	return rc;
}

SHMBLOCK_API void shmblock_slist_layout_free(struct shmblock_slist_layout *lay)
{
	if (!lay)
		return;
	free(lay->items);
	free(lay);
}
