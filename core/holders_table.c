/* SPDX-License-Identifier: MIT */
/* The holders scan's tables, and the snapshot it leaves (core/holders.c). */

/*
 * The entry table (the blocks, hashed by (dev, ino)), the records the scan
 * of the processes adds to it, their merge into one holder an entry and
 * process (step 3 of the scan), and the calls that read the snapshot.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "shmblock.h"
#include "holders_table.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * Makes the pages of a big array present with one madvise (Linux 5.14;
 * ignored before) before it is written all over: fresh pages took a fault
 * each, two where a read came first (the zero page, then a copy), and the
 * arrays of a scan of 10,000 blocks took 1,500 faults, a tenth of lsshm's
 * time beside the scan.  Small ones are left to the faults.
 */
static void populate(void *p, size_t len)
{
	const uintptr_t page = (uintptr_t)getpagesize();
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(page - 1);

	if (len >= (64u << 10) && end > start)
		madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}

/* Zeroed memory for a big table, present before it is filled. */
static void *table_alloc(size_t n, size_t size)
{
	size_t len;
	void *p;

	if (n && size > SIZE_MAX / n)
		return NULL;
	len = n * size;
	p = malloc(len ? len : 1);
	if (!p)
		return NULL;
	populate(p, len);
	memset(p, 0, len);
	return p;
}

/* Grows *p (of *cap elements of `size` bytes) to hold at least `need`. */
int shmblock__holders_grow(void *p, size_t *cap, size_t need, size_t size)
{
	void **arr = p;
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = reallocarray(*arr, n, size);
	if (!q)
		return -ENOMEM;
	/* The new part is filled next. */
	populate((char *)q + *cap * size, (n - *cap) * size);
	*arr = q;
	*cap = n;
	return 0;
}

/* ---- the entry table ---- */

/* Fibonacci hashing: the product's top bits are its well mixed ones. */
static size_t hash_slot(uint64_t dev, uint64_t ino, size_t cap)
{
	uint64_t h = (ino ^ (dev << 32 | dev >> 32)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> (64 - __builtin_ctzll(cap)));
}

long shmblock__holders_find_index(const struct shmblock_holders *snap,
				  uint64_t dev, uint64_t ino)
{
	size_t i;

	if (!snap->hash_cap)
		return -1;
	for (i = hash_slot(dev, ino, snap->hash_cap);;
	     i = (i + 1) & (snap->hash_cap - 1)) {
		const struct slot *sl = &snap->hash[i];

		if (!sl->idx)
			return -1;
		if (sl->ino == ino && sl->dev == dev)
			return sl->idx - 1;
	}
}

static void hash_put(struct shmblock_holders *snap, size_t idx)
{
	const struct shmblock_holders_entry *e = &snap->entries[idx];
	size_t i = hash_slot(e->dev, e->ino, snap->hash_cap);

	while (snap->hash[i].idx)
		i = (i + 1) & (snap->hash_cap - 1);
	snap->hash[i].ino = e->ino;
	snap->hash[i].dev = e->dev;
	snap->hash[i].idx = (uint32_t)idx + 1;
}

/* Rebuilds the hash for the current entries, sized for at least `n`. */
int shmblock__holders_hash_rebuild(struct shmblock_holders *snap, size_t n)
{
	size_t cap = 64, i;
	struct slot *h;

	while (cap < 2 * n)
		cap *= 2;
	h = table_alloc(cap, sizeof(*h));
	if (!h)
		return -ENOMEM;
	free(snap->hash);
	snap->hash = h;
	snap->hash_cap = cap;
	for (i = 0; i < snap->nentries; i++)
		hash_put(snap, i);
	return 0;
}

void shmblock__holders_fill_stat(struct shmblock_holders_entry *e,
				 const struct stat *st)
{
	e->have_stat = true;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = (uint64_t)st->st_size;
	e->alloc = (uint64_t)st->st_blocks * 512;
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
}

/*
 * Adds an entry for an inode not yet in the table; `st` NULL when its
 * attributes are unknown.  Returns its index or -ENOMEM.
 */
long shmblock__holders_add_entry(struct shmblock_holders *snap,
				 const char *name, size_t namelen, bool deleted,
				 uint64_t dev, uint64_t ino,
				 const struct stat *st)
{
	struct shmblock_holders_entry *e;
	char *copy;
	int rc;

	if (snap->nentries >= UINT32_MAX - 1)
		return -ENOMEM;
	rc = shmblock__holders_grow(&snap->entries, &snap->entries_cap,
				    snap->nentries + 1, sizeof(*snap->entries));
	if (rc < 0)
		return rc;
	if (2 * (snap->nentries + 1) > snap->hash_cap) {
		rc = shmblock__holders_hash_rebuild(snap, snap->nentries + 1);
		if (rc < 0)
			return rc;
	}
	copy = strndup(name, namelen);
	if (!copy)
		return -ENOMEM;
	e = &snap->entries[snap->nentries];
	memset(e, 0, sizeof(*e));
	if (st)
		shmblock__holders_fill_stat(e, st);
	e->name = copy;
	e->deleted = deleted;
	e->dev = dev;
	e->ino = ino;
	hash_put(snap, snap->nentries);
	return (long)snap->nentries++;
}

int shmblock__holders_add_rec(struct scan *sc, long entry, uint32_t proc,
			      unsigned how, int fd, uint64_t start,
			      uint64_t end)
{
	struct rec *r;
	int rc;

	rc = shmblock__holders_grow(&sc->recs, &sc->recs_cap, sc->nrecs + 1,
				    sizeof(*sc->recs));
	if (rc < 0)
		return rc;
	r = &sc->recs[sc->nrecs++];
	r->entry = (uint32_t)entry;
	r->proc = proc;
	r->how = how;
	r->fd = fd;
	r->start = start;
	r->end = end;
	/* Counts records for now; shmblock__holders_finish() turns it into holders. */
	sc->snap->entries[entry].nholders++;
	return 0;
}

/*
 * An inode of the directory's filesystem missing from the table, seen under
 * `path` (a link's or a map line's text).  If the name is in the directory
 * and is that inode, the block was made after the listing: a named entry.
 * Otherwise, when the text says " (deleted)", a deleted entry under the old
 * name.  Anything else (renamed out of the directory, in a subdirectory)
 * is not ours.  Returns the entry index, -1 for "not ours", or -ENOMEM.
 */
long shmblock__holders_new_entry(struct scan *sc, const char *path, size_t len,
				 uint64_t dev, uint64_t ino,
				 const struct stat *st)
{
	const char *name;
	size_t namelen;
	bool deleted = false;
	struct stat nst;

	if (sc->one_block || len <= sc->prefix_len ||
	    memcmp(path, sc->prefix, sc->prefix_len))
		return -1;
	name = path + sc->prefix_len;
	namelen = len - sc->prefix_len;
	if (namelen >= NAME_MAX + 1 + DELETED_LEN || memchr(name, '/', namelen))
		return -1;
	if (namelen <= NAME_MAX) {
		char n[NAME_MAX + 1];

		memcpy(n, name, namelen);
		n[namelen] = '\0';
		if (fstatat(sc->dirfd, n, &nst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    nst.st_dev == dev && nst.st_ino == ino &&
		    S_ISREG(nst.st_mode))
			return shmblock__holders_add_entry(
				sc->snap, name, namelen, false, dev, ino, &nst);
	}
	if (namelen > DELETED_LEN && !memcmp(name + namelen - DELETED_LEN,
					     DELETED_SUFFIX, DELETED_LEN)) {
		deleted = true;
		namelen -= DELETED_LEN;
	}
	if (!deleted || (sc->flags & SHMBLOCK_HOLDERS_NO_DELETED))
		return -1;
	return shmblock__holders_add_entry(sc->snap, name, namelen, true, dev,
					   ino, st);
}

/*
 * A file of a shmfs mount: the mount shows a block under the block's own
 * inode number and under its name less the mount's prefix (fs/inode.c), so
 * it is this directory's block of that inode whose name ends in the file's.
 * A mount of another directory would have to have a block of the same inode
 * number and a name ending the same way to be taken for one of ours.
 */
long shmblock__holders_mounted_entry(struct scan *sc, uint64_t dev,
				     uint64_t ino, const char *path, size_t len)
{
	const struct shmblock_holders_entry *e;
	size_t n, elen;
	const char *name =
		holders_mounts_name(&sc->mounts, (dev_t)dev, path, len, &n);
	long idx;

	if (!name)
		return -1;
	idx = shmblock__holders_find_index(sc->snap, sc->dirdev, ino);
	if (idx < 0)
		return -1;
	e = &sc->snap->entries[idx];
	elen = strlen(e->name);
	if (e->deleted || elen < n || memcmp(e->name + elen - n, name, n))
		return -1;
	return idx;
}

/* ---- step 3: sort entries, merge records into holders ---- */

static int cmp_entry(const void *a, const void *b, void *arg)
{
	const struct shmblock_holders_entry *entries = arg;
	const struct shmblock_holders_entry *x = &entries[*(const uint32_t *)a];
	const struct shmblock_holders_entry *y = &entries[*(const uint32_t *)b];
	int c;

	if (x->deleted != y->deleted)
		return x->deleted ? 1 : -1;
	c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_rec(const void *a, const void *b, void *arg)
{
	const struct proc *procs = arg;
	const struct rec *x = a, *y = b;
	pid_t px, py;

	if (x->entry != y->entry)
		return x->entry < y->entry ? -1 : 1;
	px = procs[x->proc].pid;
	py = procs[y->proc].pid;
	return px < py ? -1 : px > py;
}

static void merge_rec(struct shmblock_holder *h, const struct rec *r)
{
	h->how |= r->how;
	if (r->how & SHMBLOCK_HELD_FD) {
		h->nfds++;
		if (h->fd < 0)
			h->fd = r->fd;
	} else {
		h->nmaps++;
		if (!h->map_end) {
			h->map_start = r->start;
			h->map_end = r->end;
		}
	}
}

/*
 * Sorts the entries (named by name, then deleted by old name and inode),
 * dropping deleted ones whose every holder was rolled back, and merges the
 * records into one holder per (entry, process).
 */
int shmblock__holders_finish(struct scan *sc)
{
	struct shmblock_holders *snap = sc->snap;
	struct shmblock_holders_entry *sorted = NULL;
	uint32_t *order, *newidx;
	size_t i, n = 0, old = snap->nentries;
	int rc = -ENOMEM;

	order = calloc(snap->nentries + 1, sizeof(*order));
	newidx = calloc(snap->nentries + 1, sizeof(*newidx));
	snap->holders = table_alloc(sc->nrecs + 1, sizeof(*snap->holders));
	if (!order || !newidx || !snap->holders)
		goto out;
	for (i = 0; i < snap->nentries; i++) {
		if (snap->entries[i].deleted && !snap->entries[i].nholders)
			free((char *)snap->entries[i].name);
		else
			order[n++] = (uint32_t)i;
	}
	qsort_r(order, n, sizeof(*order), cmp_entry, snap->entries);
	for (i = 0; i < n; i++) {
		newidx[order[i]] = (uint32_t)i;
		snap->entries[order[i]].nholders = 0;
	}
	if (n == old) {
		/*
		 * Nothing dropped: put them in order in place, one cycle of
		 * the permutation at a time, rather than in a new table of
		 * 80 bytes an entry (a fault every 50 entries).  order[j] = j
		 * marks a place done.
		 */
		for (i = 0; i < n; i++) {
			struct shmblock_holders_entry tmp;
			size_t j = i, k;

			if (order[i] == i)
				continue;
			tmp = snap->entries[i];
			for (;;) {
				k = order[j];
				order[j] = (uint32_t)j;
				if (k == i) {
					snap->entries[j] = tmp;
					break;
				}
				snap->entries[j] = snap->entries[k];
				j = k;
			}
		}
	} else {
		sorted = calloc(n + 1, sizeof(*sorted));
		if (!sorted)
			goto out;
		for (i = 0; i < n; i++)
			sorted[i] = snap->entries[order[i]];
		free(snap->entries);
		snap->entries = sorted;
		snap->entries_cap = n + 1;
		sorted = NULL;
	}
	snap->nentries = n;

	for (i = 0; i < sc->nrecs; i++)
		sc->recs[i].entry = newidx[sc->recs[i].entry];
	/* No holder at all: recs may be NULL, which qsort_r must not get. */
	if (sc->nrecs)
		qsort_r(sc->recs, sc->nrecs, sizeof(*sc->recs), cmp_rec,
			sc->procs);
	for (i = 0; i < sc->nrecs; i++) {
		const struct rec *r = &sc->recs[i];
		const struct proc *pr = &sc->procs[r->proc];
		struct shmblock_holders_entry *e = &snap->entries[r->entry];
		struct shmblock_holder *h;

		if (!i || r->entry != sc->recs[i - 1].entry ||
		    pr->pid != sc->procs[sc->recs[i - 1].proc].pid) {
			h = &snap->holders[snap->nholders++];
			h->pid = pr->pid;
			h->uid = pr->uid;
			h->fd = -1;
			memcpy(h->comm, pr->comm, sizeof(h->comm));
			if (!e->nholders)
				e->holders = h;
			e->nholders++;
		}
		merge_rec(&snap->holders[snap->nholders - 1], r);
	}
	/*
	 * Every slot still holds its (dev, ino): unless an entry was dropped,
	 * renumbering them in one pass over the table beats an insert (a
	 * cache miss) for every entry.
	 */
	if (n == old) {
		for (i = 0; i < snap->hash_cap; i++)
			if (snap->hash[i].idx)
				snap->hash[i].idx =
					newidx[snap->hash[i].idx - 1] + 1;
		rc = 0;
	} else {
		rc = shmblock__holders_hash_rebuild(snap, n);
	}
out:
	free(order);
	free(newidx);
	free(sorted);
	return rc;
}

SHMBLOCK_API void shmblock_holders_free(struct shmblock_holders *snap)
{
	size_t i;

	if (!snap)
		return;
	for (i = 0; i < snap->nentries; i++)
		free((char *)snap->entries[i].name);
	free(snap->entries);
	free(snap->hash);
	free(snap->holders);
	free(snap->gaps);
	free(snap);
}

SHMBLOCK_API bool
shmblock_holders_is_partial(const struct shmblock_holders *snap)
{
	return snap->partial;
}

/*
 * A gap is a process the scan could not inspect, in whole or in part: any
 * error but the process being gone (ENOENT, ESRCH), EMFILE and ENFILE
 * included; its holdings may be missing from the snapshot.  There are
 * nunreadable of them, or fewer if the list ran out of memory (the
 * snapshot is partial all the same).
 */
SHMBLOCK_API const struct shmblock_holders_gap *
shmblock_holders_gap(const struct shmblock_holders *snap, size_t i)
{
	if (i >= snap->ngaps)
		return NULL;
	return &snap->gaps[i];
}

SHMBLOCK_API void shmblock_holders_stats(const struct shmblock_holders *snap,
					 struct shmblock_holders_stats *out)
{
	*out = snap->stats;
}

SHMBLOCK_API size_t shmblock_holders_count(const struct shmblock_holders *snap)
{
	return snap->nentries;
}

SHMBLOCK_API const struct shmblock_holders_entry *
shmblock_holders_entry(const struct shmblock_holders *snap, size_t i)
{
	return i < snap->nentries ? &snap->entries[i] : NULL;
}

SHMBLOCK_API const struct shmblock_holders_entry *
shmblock_holders_find(const struct shmblock_holders *snap, uint64_t dev,
		      uint64_t ino)
{
	long idx = shmblock__holders_find_index(snap, dev, ino);

	return idx < 0 ? NULL : &snap->entries[idx];
}

SHMBLOCK_API const struct shmblock_holders_entry *
shmblock_holders_find_name(const struct shmblock_holders *snap,
			   const char *name)
{
	size_t lo = 0, hi = snap->nentries;

	/* Named entries come first, sorted by name. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct shmblock_holders_entry *e = &snap->entries[mid];
		int c = e->deleted ? 1 : strcmp(e->name, name);

		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Opens `path` read-only if it is still the inode asked for. */
static int open_checked(const char *path, uint64_t dev, uint64_t ino)
{
	struct stat st;
	int fd, err;

	/* O_NONBLOCK: whatever a reused descriptor is now, don't wait on it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (st.st_dev != dev || st.st_ino != ino || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

SHMBLOCK_API int shmblock_holders_open(const struct shmblock_holders *snap,
				       uint64_t dev, uint64_t ino)
{
	const struct shmblock_holders_entry *e =
		shmblock_holders_find(snap, dev, ino);
	char path[96];
	int rc = -ENOENT, fd;
	size_t i;

	if (!e)
		return -ENOENT;
	for (i = 0; i < e->nholders; i++) {
		const struct shmblock_holder *h = &e->holders[i];

		if (h->fd >= 0) {
			snprintf(path, sizeof(path), "/proc/%d/fd/%d",
				 (int)h->pid, h->fd);
			fd = open_checked(path, dev, ino);
			if (fd >= 0)
				return fd;
			/* A refusal says more than "gone" about why we failed. */
			if (rc == -ENOENT)
				rc = fd;
		}
		if (h->map_end) {
			snprintf(path, sizeof(path),
				 "/proc/%d/map_files/%llx-%llx", (int)h->pid,
				 (unsigned long long)h->map_start,
				 (unsigned long long)h->map_end);
			fd = open_checked(path, dev, ino);
			if (fd >= 0)
				return fd;
			if (rc == -ENOENT)
				rc = fd;
		}
	}
	return rc == -ESRCH ? -ENOENT : rc;
}
