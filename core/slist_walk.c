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
#include "slist_layout.h"

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

/* Reads exactly len bytes at off; -EAGAIN when the file ends before. */
static int pread_full(int fd, unsigned char *p, size_t len, uint64_t off)
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
		rc = pread_full(c->fd, c->win, (size_t)len, off);
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

/* Item i's type, from its format and code, against its slot length. */
static int item_type(struct slist_walk *w, uint64_t i, uint64_t slot_len)
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
	return shmblock__slist_item_type(fmt, (int8_t)*p, slot_len);
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
		type = item_type(w, index, end - start);
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
static int walk_items(struct slist_walk *w, bool deep,
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
		if (deep) {
			type = item_type(w, i, end - start);
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

int shmblock__slist_walk_all(struct slist_walk *w, bool deep,
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
	rc = walk_items(w, deep, lay);
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
	rc = shmblock__slist_walk_all(&w, !(flags & SHMBLOCK_PROBE_SHALLOW),
				      out);
	shmblock__slist_walk_fini(&w);
	return rc;
}

/*
 * How often get_fd reads an item that keeps changing before giving up.
 * The first tries are separated by sched_yield: a CPython loop storing into
 * one item changes it every few microseconds, about as long as one try, so
 * many quick tries find a quiet moment where a few slow ones don't (16 tries
 * with sleeps gave up on 2% of .json reads, 57 quick ones on 0.1%; a try
 * by span, below, is shorter still).  The
 * last ones sleep, 100 us doubling to 6.4 ms, because a writer preempted in
 * the middle of a store leaves the item half written until it runs again.
 */
#define GET_TRIES 64
#define GET_YIELDS 57
/* The chunk in which a str/bytes slot is read a second time to compare. */
#define CMP_CHUNK 4096u

/* An item's format and code, as one pread pair saw them. */
struct item_tag {
	unsigned char fmt[8];
	int8_t code;
};

static int read_tag(int fd, const struct shmblock_slist_layout *lay,
		    size_t index, struct item_tag *tag)
{
	int rc;

	rc = pread_full(fd, tag->fmt, sizeof(tag->fmt),
			lay->formats_offset + SLIST_WORD * (uint64_t)index);
	if (rc == 0)
		rc = pread_full(fd, (unsigned char *)&tag->code, 1,
				lay->codes_offset + index);
	return rc;
}

/* 1 if the `len` bytes at `off` still equal `copy`, 0 if not, or -errno. */
static int still_equal(int fd, const unsigned char *copy, size_t len,
		       uint64_t off)
{
	unsigned char chunk[CMP_CHUNK];
	size_t n;
	int rc;

	while (len) {
		n = len < sizeof(chunk) ? len : sizeof(chunk);
		rc = pread_full(fd, chunk, n, off);
		if (rc < 0)
			return rc;
		if (memcmp(chunk, copy, n))
			return 0;
		copy += n;
		len -= n;
		off += n;
	}
	return 1;
}

/*
 * Where a try reads the slot: a scalar's 8 bytes into `word`; a str/bytes
 * slot into the caller's buffer when the whole slot fits, else into `heap`,
 * allocated at the first str/bytes try (a format bounds it to 9999999).
 */
struct slot_copy {
	unsigned char word[SLIST_WORD];
	unsigned char *buf;
	size_t buflen;
	unsigned char *heap;
	unsigned char *at; /* where the last try put it */
};

static int slot_dest(struct slot_copy *sc, int type, uint64_t cap)
{
	if (type != SHMBLOCK_TYPE_STR && type != SHMBLOCK_TYPE_BYTES) {
		sc->at = sc->word;
		return SLIST_WORD;
	}
	if (cap <= sc->buflen) {
		sc->at = sc->buf;
		return 0;
	}
	if (!sc->heap)
		sc->heap = malloc((size_t)cap);
	if (!sc->heap)
		return -ENOMEM;
	sc->at = sc->heap;
	return 0;
}

/*
 * One try: tag, slot, tag, slot.  CPython stores the format, then the code,
 * then the data, so a store caught midway shows either as a tag that
 * changed between the two reads or as a slot that did; only a reader whose
 * four reads all fall between CPython's code and data writes sees the new
 * type over the old bytes (that is what the block then holds).  Returns the
 * item's type, -EAGAIN when something changed, -EBADMSG, or -errno.
 */
static int read_once(int fd, const struct shmblock_slist_layout *lay,
		     size_t index, struct slot_copy *sc)
{
	const struct shmblock_slist_item *item = &lay->items[index];
	struct item_tag a, b;
	size_t len = 0;
	int rc, type;

	rc = read_tag(fd, lay, index, &a);
	if (rc < 0)
		return rc;
	type = shmblock__slist_item_type(a.fmt, a.code, item->capacity);
	if (type >= 0) {
		rc = slot_dest(sc, type, item->capacity);
		if (rc < 0)
			return rc;
		len = rc ? SLIST_WORD : (size_t)item->capacity;
		rc = pread_full(fd, sc->at, len, item->offset);
		if (rc < 0)
			return rc;
	}
	rc = read_tag(fd, lay, index, &b);
	if (rc < 0)
		return rc;
	if (memcmp(a.fmt, b.fmt, sizeof(a.fmt)) || a.code != b.code)
		return -EAGAIN;
	if (type < 0)
		return type;
	rc = still_equal(fd, sc->at, len, item->offset);
	if (rc < 0)
		return rc;
	return rc ? type : -EAGAIN;
}

/*
 * An item whose slot, format and code lie within SPAN_MAX bytes is read in
 * one pread a copy: the kernel copies 16 KiB in about a microsecond, where
 * read_once's six reads take several, so a CPython loop storing into the
 * item leaves far more quiet moments for two copies in a row to agree in.
 * Farther apart, a copy would take longer than the six reads and move far
 * more bytes than the item has (the first items of a list of 16,000 ints
 * lie 128 KiB from their formats).
 */
#define SPAN_MAX (16u << 10)
#define SPAN_STACK 2048u

/* Where one item's parts lie inside its span. */
struct span {
	uint64_t start;
	size_t len, slot, fmt, code;
};

static bool item_span(const struct shmblock_slist_layout *lay, size_t index,
		      struct span *sp)
{
	const struct shmblock_slist_item *item = &lay->items[index];
	uint64_t fmt = lay->formats_offset + SLIST_WORD * (uint64_t)index;
	uint64_t code = lay->codes_offset + index;
	uint64_t lo = item->offset < fmt ? item->offset : fmt;
	uint64_t hi = item->offset + item->capacity;

	if (hi < code + 1)
		hi = code + 1;
	if (hi - lo > SPAN_MAX)
		return false;
	sp->start = lo;
	sp->len = (size_t)(hi - lo);
	sp->slot = (size_t)(item->offset - lo);
	sp->fmt = (size_t)(fmt - lo);
	sp->code = (size_t)(code - lo);
	return true;
}

/*
 * One try by span: two copies back to back, which must agree on the
 * format, the code and the slot's bytes that the type reads.  A store
 * caught midway differs between them (or leaves an ill-formed format in
 * both, which the caller retries), as in read_once.  The slot is left in
 * `copy` (at sc->at; a scalar in sc->word).
 */
static int span_once(int fd, const struct shmblock_slist_layout *lay,
		     size_t index, const struct span *sp, unsigned char *copy,
		     unsigned char *check, struct slot_copy *sc)
{
	uint64_t cap = lay->items[index].capacity;
	bool text;
	size_t len;
	int rc, type;

	rc = pread_full(fd, copy, sp->len, sp->start);
	if (rc == 0)
		rc = pread_full(fd, check, sp->len, sp->start);
	if (rc < 0)
		return rc;
	if (memcmp(copy + sp->fmt, check + sp->fmt, SLIST_WORD) ||
	    copy[sp->code] != check[sp->code])
		return -EAGAIN;
	type = shmblock__slist_item_type(copy + sp->fmt, (int8_t)copy[sp->code],
					 cap);
	if (type < 0)
		return type;
	text = type == SHMBLOCK_TYPE_STR || type == SHMBLOCK_TYPE_BYTES;
	len = text ? (size_t)cap : SLIST_WORD;
	if (memcmp(copy + sp->slot, check + sp->slot, len))
		return -EAGAIN;
	sc->at = text ? copy + sp->slot : sc->word;
	if (!text)
		memcpy(sc->word, copy + sp->slot, SLIST_WORD);
	return type;
}

/* Decodes a stable copy into out, copying str/bytes into the caller's buf. */
static int deliver(int type, const struct slot_copy *sc, uint64_t cap,
		   struct shmblock_value *out)
{
	int rc;

	if (sc->at == sc->word)
		return shmblock__slist_decode(type, sc->word, SLIST_WORD, out);
	rc = shmblock__slist_decode(type, sc->at, cap, out);
	if (rc < 0 || sc->at == sc->buf)
		return rc;
	if (out->s.len > sc->buflen) {
		out->s.ptr = NULL;
		return -ENOBUFS;
	}
	if (out->s.len)
		memcpy(sc->buf, sc->at, out->s.len);
	out->s.ptr = (const char *)sc->buf;
	return 0;
}

/* Whether the item lies inside the layout (which is the caller's). */
static bool item_sane(const struct shmblock_slist_layout *lay,
		      const struct shmblock_slist_item *item, size_t index)
{
	return item->offset <= lay->size &&
	       item->capacity <= lay->size - item->offset &&
	       lay->codes_offset < lay->size &&
	       index < lay->size - lay->codes_offset &&
	       lay->formats_offset <= lay->codes_offset &&
	       index < (lay->codes_offset - lay->formats_offset) / SLIST_WORD;
}

/* Lets a writer that is midway through a store finish it. */
static void back_off(int tries)
{
	struct timespec ts = { 0, 0 };

	if (tries < GET_YIELDS) {
		sched_yield();
		return;
	}
	ts.tv_nsec = 100000L << (tries - GET_YIELDS);
	nanosleep(&ts, NULL);
}

/* Folds one failed try into the result so far: the same fault, or -EAGAIN. */
static int fold(int tries, int so_far, int rc)
{
	return tries == 0 || rc == so_far ? rc : -EAGAIN;
}

SHMBLOCK_API int shmblock_slist_get_fd(int fd,
				       const struct shmblock_slist_layout *lay,
				       size_t index, struct shmblock_value *out,
				       void *buf, size_t buflen)
{
	struct slot_copy sc = { .buf = buf, .buflen = buf ? buflen : 0 };
	unsigned char pair[2 * SPAN_STACK], *span_buf = NULL;
	int rc, result = -EAGAIN, tries;
	struct span sp;
	bool by_span;

	if (index >= lay->count)
		return -ERANGE;
	if (!item_sane(lay, &lay->items[index], index))
		return -EINVAL;
	by_span = item_span(lay, index, &sp);
	if (by_span) {
		span_buf = sp.len <= SPAN_STACK ? pair : malloc(2 * sp.len);
		if (!span_buf)
			return -ENOMEM;
	}
	for (tries = 0; tries < GET_TRIES; tries++) {
		if (tries)
			back_off(tries);
		if (by_span)
			rc = span_once(fd, lay, index, &sp, span_buf,
				       span_buf + sp.len, &sc);
		else
			rc = read_once(fd, lay, index, &sc);
		if (rc >= 0)
			rc = deliver(rc, &sc, lay->items[index].capacity, out);
		/* A store midway can look ill-formed; the same fault each time can't. */
		if (rc != -EAGAIN && rc != -EBADMSG && rc != -EILSEQ) {
			result = rc;
			break;
		}
		result = fold(tries, result, rc);
		/*
		 * Text that stays undecodable through the quick tries is taken
		 * as it is: CPython leaves such items behind (docs), and its own
		 * reader fails on them too, so they must not cost the sleeps.
		 */
		if (result == -EILSEQ && tries + 1 >= GET_YIELDS)
			break;
	}
	free(sc.heap);
	if (span_buf != pair)
		free(span_buf);
	return result;
}
