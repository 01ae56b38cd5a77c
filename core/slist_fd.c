/* SPDX-License-Identifier: MIT */
/* Reading a list through a descriptor while other processes store into it. */

/*
 * The daemon never maps a block: it reads a list's layout with the walker
 * (core/slist_walk.c) and its items with pread.  CPython stores into an
 * item by writing its format, then its code, then its data, so a reader
 * may catch an item, or the whole tables, midway: the two readers here
 * retry, with one back-off, until what they read holds still, and tell a
 * store in progress from a block that is no list.
 */

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmblock.h"
#include "slist_codec.h"
#include "slist_walk.h"

/* The tries of a back-off that sleep, the last ones (back_off). */
#define BACK_OFF_SLEEPS 7
/* The settled probe's tries after the first. */
#define PROBE_TRIES 8

/*
 * How often get_fd reads an item that keeps changing before giving up.
 * The first tries are separated by sched_yield: a CPython loop storing into
 * one item changes it every few microseconds, about as long as one try, so
 * many quick tries find a quiet moment where a few slow ones don't (16 tries
 * with sleeps gave up on 2% of .json reads, 57 quick ones on 0.1%; a try
 * by span, below, is shorter still).  The last ones sleep (back_off).
 */
#define GET_TRIES 64
#define GET_YIELDS (GET_TRIES - BACK_OFF_SLEEPS)
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

	rc = shmblock__pread_full(fd, tag->fmt, sizeof(tag->fmt),
				  lay->formats_offset +
					  SLIST_WORD * (uint64_t)index);
	if (rc == 0)
		rc = shmblock__pread_full(fd, (unsigned char *)&tag->code, 1,
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
		rc = shmblock__pread_full(fd, chunk, n, off);
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
		rc = shmblock__pread_full(fd, sc->at, len, item->offset);
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

	rc = shmblock__pread_full(fd, copy, sp->len, sp->start);
	if (rc == 0)
		rc = shmblock__pread_full(fd, check, sp->len, sp->start);
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

/*
 * The one back-off of the readers: try `attempt` of `attempts` (from 0)
 * yields the processor, but for the last BACK_OFF_SLEEPS, which sleep
 * 100 us doubling to 6.4 ms (12.7 ms in all), because a writer preempted
 * in the middle of a store leaves the item half written until it runs
 * again.
 */
static void back_off(int attempt, int attempts)
{
	struct timespec ts = { 0, 0 };
	int sleeps = attempt - (attempts - BACK_OFF_SLEEPS);

	if (sleeps < 0) {
		sched_yield();
		return;
	}
	ts.tv_nsec = 100000L << sleeps;
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
			back_off(tries, GET_TRIES);
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

SHMBLOCK_API int
shmblock_slist_recheck_fd(int fd, const struct shmblock_slist_layout *lay,
			  size_t index)
{
	const struct shmblock_slist_item *item;
	unsigned char count[SLIST_WORD], pair[2 * SLIST_WORD];
	uint64_t start;
	int rc;

	if (lay->version != SHMBLOCK_SLIST_PY39)
		return -ENOTSUP;
	rc = shmblock__pread_full(fd, count, sizeof(count), 0);
	if (rc < 0)
		return rc;
	if (slist_load_i64(count) != (int64_t)lay->count)
		return -EBADMSG;
	if (index >= lay->count)
		return 0;
	/* offsets[index] and offsets[index + 1]: the item's slot. */
	rc = shmblock__pread_full(fd, pair, sizeof(pair),
				  SLIST_WORD + SLIST_WORD * (uint64_t)index);
	if (rc < 0)
		return rc;
	item = &lay->items[index];
	start = item->offset - lay->data_offset;
	if (slist_load_i64(pair) != (int64_t)start ||
	    slist_load_i64(pair + SLIST_WORD) !=
		    (int64_t)(start + item->capacity))
		return -EBADMSG;
	return 0;
}

/*
 * shmblock_slist_each_fd: many items at once.  The data of a run of
 * neighbouring items (slots within RUN_DATA, RUN_ITEMS at most), their
 * formats and their codes, each in one pread, twice in a row (as one
 * item's span is, span_once).  An item whose format, code and slot agree
 * in both copies and decode is a value it held; any other (or one whose
 * slot alone exceeds a run) is read by shmblock_slist_get_fd, with its
 * tries.  Memory: about 200 KiB, and one item's slot.  Errors: -ERANGE,
 * -EINVAL (an item outside the layout), -ENOMEM, get_fd's, fn's.
 *
 * shmblock_slist_recheck_fd: a layout probed earlier at the same size
 * still places item `index` when the count and the item's two offsets
 * read back as it says: they fix the data area, the tables and the slot.
 * Nothing else is read.  3.9+ layouts only (3.8's slot needs every size
 * before it): -ENOTSUP; -EAGAIN when the file is shorter now.
 */
#define RUN_DATA (64u << 10)
#define RUN_ITEMS 4096u

/* One copy of a run's three regions. */
struct run_copy {
	unsigned char *data, *fmts, *codes;
};

static int run_read(int fd, const struct shmblock_slist_layout *lay,
		    size_t first, size_t n, uint64_t data_len,
		    struct run_copy *c)
{
	int rc;

	rc = shmblock__pread_full(fd, c->data, (size_t)data_len,
				  lay->items[first].offset);
	if (rc == 0)
		rc = shmblock__pread_full(fd, c->fmts, SLIST_WORD * n,
					  lay->formats_offset +
						  SLIST_WORD * (uint64_t)first);
	if (rc == 0)
		rc = shmblock__pread_full(fd, c->codes, n,
					  lay->codes_offset + first);
	return rc;
}

/*
 * Item `k` of the run from two copies: its type when they agree and it is
 * well formed, the value into *v (str and bytes pointing into a.data);
 * -EAGAIN when it must be read alone.
 */
static int run_item(const struct shmblock_slist_layout *lay, size_t first,
		    size_t k, const struct run_copy *a,
		    const struct run_copy *b, struct shmblock_value *v)
{
	const struct shmblock_slist_item *item = &lay->items[first + k];
	size_t at = (size_t)(item->offset - lay->items[first].offset), len;
	int type;

	if (memcmp(a->fmts + SLIST_WORD * k, b->fmts + SLIST_WORD * k,
		   SLIST_WORD) ||
	    a->codes[k] != b->codes[k])
		return -EAGAIN;
	type = shmblock__slist_item_type(a->fmts + SLIST_WORD * k,
					 (int8_t)a->codes[k], item->capacity);
	if (type < 0)
		return -EAGAIN;
	len = type == SHMBLOCK_TYPE_STR || type == SHMBLOCK_TYPE_BYTES
		      ? (size_t)item->capacity
		      : SLIST_WORD;
	if (memcmp(a->data + at, b->data + at, len))
		return -EAGAIN;
	return shmblock__slist_decode(type, a->data + at, len, v) < 0 ? -EAGAIN
								      : 0;
}

/* Reads item `index` alone (shmblock_slist_get_fd) and hands it to fn. */
static int each_alone(int fd, const struct shmblock_slist_layout *lay,
		      size_t index, shmblock_slist_each_fn *fn, void *arg)
{
	uint64_t cap = lay->items[index].capacity;
	struct shmblock_value v;
	void *buf = malloc(cap ? (size_t)cap : 1);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = shmblock_slist_get_fd(fd, lay, index, &v, buf, (size_t)cap);
	if (rc == 0)
		rc = fn(arg, index, &v);
	free(buf);
	return rc;
}

SHMBLOCK_API int shmblock_slist_each_fd(int fd,
					const struct shmblock_slist_layout *lay,
					size_t first, size_t count,
					shmblock_slist_each_fn *fn, void *arg)
{
	struct run_copy a, b;
	unsigned char *mem;
	size_t i = first, end, n, k;
	uint64_t data_len;
	int rc = 0;

	if (first > lay->count || count > lay->count - first)
		return -ERANGE;
	for (k = first; k < first + count; k++)
		if (!item_sane(lay, &lay->items[k], k))
			return -EINVAL;
	mem = malloc(2 * (RUN_DATA + (SLIST_WORD + 1) * RUN_ITEMS));
	if (!mem)
		return -ENOMEM;
	a.data = mem;
	a.fmts = a.data + RUN_DATA;
	a.codes = a.fmts + SLIST_WORD * RUN_ITEMS;
	b.data = a.codes + RUN_ITEMS;
	b.fmts = b.data + RUN_DATA;
	b.codes = b.fmts + SLIST_WORD * RUN_ITEMS;
	while (rc == 0 && i < first + count) {
		const struct shmblock_slist_item *it = lay->items;

		/* The run: neighbours whose slots fit RUN_DATA together. */
		for (end = i;
		     end < first + count && end - i < RUN_ITEMS &&
		     it[end].offset + it[end].capacity - it[i].offset <=
			     RUN_DATA;
		     end++)
			;
		if (end == i) {
			rc = each_alone(fd, lay, i++, fn, arg);
			continue;
		}
		n = end - i;
		data_len = it[end - 1].offset + it[end - 1].capacity -
			   it[i].offset;
		rc = run_read(fd, lay, i, n, data_len, &a);
		if (rc == 0)
			rc = run_read(fd, lay, i, n, data_len, &b);
		for (k = 0; rc == 0 && k < n; k++) {
			struct shmblock_value v;

			if (run_item(lay, i, k, &a, &b, &v) == 0)
				rc = fn(arg, i + k, &v);
			else
				rc = each_alone(fd, lay, i + k, fn, arg);
		}
		i = end;
	}
	free(mem);
	return rc;
}

SHMBLOCK_API bool shmblock_stat_backed(const struct stat *st)
{
	uint64_t whole = (uint64_t)st->st_size & ~(uint64_t)4095;

	return (uint64_t)st->st_blocks * 512 >= whole;
}

/* One deep probe at the size fstat gives now; -ENOTSUP: none is a list's. */
static int probe_now(int fd, uint64_t max_size, struct stat *st,
		     struct shmblock_slist_layout **out)
{
	if (fstat(fd, st) < 0)
		return -errno;
	if (st->st_size < 8 || (uint64_t)st->st_size > max_size ||
	    !shmblock_stat_backed(st))
		return -ENOTSUP;
	return shmblock_slist_probe_fd(fd, (uint64_t)st->st_size, 0, out);
}

SHMBLOCK_API int
shmblock_slist_probe_settled(int fd, uint64_t max_size, unsigned flags,
			     struct stat *st,
			     struct shmblock_slist_layout **out)
{
	struct shmblock_slist_layout *shallow = NULL;
	uint64_t size;
	int rc, tries;

	if (flags & ~SHMBLOCK_SETTLE_KNOWN)
		return -EINVAL;
	for (tries = 0;; tries++) {
		rc = probe_now(fd, max_size, st, out);
		if (rc != -EBADMSG && rc != -EAGAIN)
			break;
		if (rc == -EBADMSG) {
			/* Broken tables under a list's header: a store half done? */
			shmblock_slist_layout_free(shallow);
			shallow = NULL;
			size = (uint64_t)st->st_size;
			rc = flags & SHMBLOCK_SETTLE_KNOWN
				     ? shmblock_slist_probe_fd(
					       fd, size, SHMBLOCK_PROBE_SHALLOW,
					       &shallow)
				     : shmblock_slist_probe_torn_fd(fd, size,
								    &shallow);
			if (rc < 0) {
				rc = -EBADMSG;
				break;
			}
			rc = -EBADMSG;
		}
		if (tries == PROBE_TRIES)
			break;
		back_off(tries, PROBE_TRIES);
	}
	if (rc == -ENOTSUP)
		rc = -EBADMSG;
	/*
	 * Tables torn the way a store tears them through every try (a writer
	 * storing in a loop, or preempted midway through a store): still a
	 * list, and so is a block known as one.
	 */
	if (rc == -EBADMSG && shallow) {
		if (!out)
			shmblock_slist_layout_free(shallow);
		else
			*out = shallow;
		return 1;
	}
	shmblock_slist_layout_free(shallow);
	return rc;
}
