/* SPDX-License-Identifier: MIT */
/* The daemon's copy of the top level's listing (see listing.h). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "array_block.h"
#include "fs.h"
#include "kind.h"
#include "listing.h"
#include "watch.h"

/* A block name the mount shows, in arrival order and by hash. */
struct name_entry {
	struct name_entry *hash_next;
	struct name_entry *prev, *next;
	uint64_t stamp; /* the listing's epoch when last changed */
	uint64_t pos;	/* the name's position (listing.h) */
	ino_t ino;
	bool known; /* ino and kind known, the block settled */
	/* ino read or stat-ed, and no event since that may have put another
	 * block under the name */
	bool has_ino;
	enum shm_kind kind;
	uint64_t mark;	 /* the last read of the directory that found it */
	time_t event_at; /* of its last event, in CLOCK_MONOTONIC seconds */
	char name[];	 /* the shm name */
};

struct name_set {
	struct name_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	size_t name_bytes; /* the names' lengths, terminators included */
	uint64_t next_pos;
	struct name_entry *head, *tail; /* by position */
};

struct listing {
	pthread_mutex_t lock; /* protects everything below */
	struct name_set set;
	uint64_t epoch;	    /* bumped by every change of the set */
	bool valid;	    /* the set is the directory, given the events */
	uint64_t scan_mark; /* counts reads of the directory (rescan) */
	/*
	 * What may be in the kernel's cached listing since it was last
	 * dropped (listing_open): the snapshots of cached handles still
	 * open, and for those closed, the one listing they all were (`gen`
	 * and `epoch`, if `closed`), or `dirty` when they differed or some
	 * open one may still fill it with a listing that is not current.
	 */
	struct dir_snapshot *live;
	bool closed, dirty;
	uint64_t gen, closed_epoch;
};

static int set_init(struct name_set *s)
{
	memset(s, 0, sizeof(*s));
	s->nbuckets = 1024;
	s->next_pos = LISTING_FIRST_POS;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	return s->buckets ? 0 : -ENOMEM;
}

static void set_destroy(struct name_set *s)
{
	struct name_entry *e, *next;

	for (e = s->head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(s->buckets);
	memset(s, 0, sizeof(*s));
}

/* The link that points at `name`'s entry, or at its chain's end. */
static struct name_entry **set_find(struct name_set *s, const char *name)
{
	struct name_entry **p =
		&s->buckets[shmfs_name_hash(name) & (s->nbuckets - 1)];

	for (; *p; p = &(*p)->hash_next)
		if (!strcmp((*p)->name, name))
			break;
	return p;
}

/* Doubles the table when it gets crowded; failure only slows lookups. */
static void set_maybe_grow(struct name_set *s)
{
	size_t size = s->nbuckets * 2, slot;
	struct name_entry **nb, *e;

	if (s->count < s->nbuckets * 2 || !(nb = calloc(size, sizeof(*nb))))
		return;
	for (e = s->head; e; e = e->next) {
		slot = shmfs_name_hash(e->name) & (size - 1);
		e->hash_next = nb[slot];
		nb[slot] = e;
	}
	free(s->buckets);
	s->buckets = nb;
	s->nbuckets = size;
}

/* Appends `name`, nothing known about it.  NULL when out of memory. */
static struct name_entry *set_add(struct name_set *s, const char *name,
				  uint64_t stamp)
{
	size_t len = strlen(name) + 1;
	struct name_entry **link = set_find(s, name);
	struct name_entry *e;

	if (*link)
		return *link;
	e = calloc(1, sizeof(*e) + len);
	if (!e)
		return NULL;
	memcpy(e->name, name, len);
	e->stamp = stamp;
	e->pos = s->next_pos++;
	*link = e;
	e->prev = s->tail;
	if (s->tail)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	s->count++;
	s->name_bytes += len;
	set_maybe_grow(s);
	return e;
}

static void set_remove(struct name_set *s, struct name_entry **link)
{
	struct name_entry *e = *link;

	*link = e->hash_next;
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	s->count--;
	s->name_bytes -= strlen(e->name) + 1;
	free(e);
}

int listing_create(struct listing **out)
{
	struct listing *l = calloc(1, sizeof(*l));

	if (!l || set_init(&l->set) < 0) {
		free(l);
		return -ENOMEM;
	}
	pthread_mutex_init(&l->lock, NULL);
	*out = l;
	return 0;
}

void listing_free(struct listing *l)
{
	if (!l)
		return;
	set_destroy(&l->set);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void listing_note_event(struct shmfs *fs, const char *shm_name, uint32_t mask)
{
	const uint32_t moved = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM;
	struct listing *l = fs->listing;
	struct name_entry **link, *e;
	struct timespec now;
	struct stat st;
	bool there = true, have_ino = false;

	/*
	 * A name created or moved in or away (it may still be there after
	 * RENAME_EXCHANGE) is stat-ed: asked now, the answer is at least as
	 * new as the event, and any later change makes a later event.  It
	 * gives the inode number a listing shows with a kind not asked yet,
	 * and whether the name is a block at all (a FIFO is not shown).
	 */
	if (mask & moved) {
		if (fstatat(fs->dirfd, shm_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			there = have_ino = S_ISREG(st.st_mode);
		else if (errno == ENOENT)
			there = false;
	}
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	pthread_mutex_lock(&l->lock);
	l->epoch++;
	link = set_find(&l->set, shm_name);
	e = *link;
	if ((mask & IN_DELETE) || !there) {
		if (e)
			set_remove(&l->set, link);
		e = NULL;
	} else if (mask & moved) {
		e = set_add(&l->set, shm_name, l->epoch);
		if (!e)
			l->valid = false;
	}
	if (e) {
		e->known = false;
		if (mask & moved) {
			e->has_ino = have_ino;
			e->ino = have_ino ? st.st_ino : 0;
		}
		e->stamp = l->epoch;
		e->event_at = now.tv_sec;
	}
	pthread_mutex_unlock(&l->lock);
}

void listing_note_lost(struct listing *l)
{
	struct name_entry *e;

	pthread_mutex_lock(&l->lock);
	l->epoch++;
	l->valid = false;
	/*
	 * A lost event may have changed a block's kind under the same inode
	 * (a write, a truncate, an xattr), which a read of the directory
	 * does not show: every kind is asked afresh.
	 */
	for (e = l->set.head; e; e = e->next)
		e->known = false;
	pthread_mutex_unlock(&l->lock);
}

void listing_note_kind(struct listing *l, const char *shm_name, ino_t ino,
		       enum shm_kind kind)
{
	struct name_entry *e;

	pthread_mutex_lock(&l->lock);
	e = *set_find(&l->set, shm_name);
	if (e && (e->known || e->has_ino) &&
	    (e->ino != ino || (e->known && e->kind != kind))) {
		e->known = false;
		if (e->ino != ino)
			e->has_ino = false;
		e->stamp = ++l->epoch;
	}
	pthread_mutex_unlock(&l->lock);
}

/* A read of the shm directory: the shown names and their inode numbers. */
struct dir_read {
	struct read_name {
		ino_t ino;
		size_t off; /* of the name in `names` */
	} * entries;
	size_t count, cap;
	char *names;
	size_t len, names_cap;
};

static int dir_read_add(struct dir_read *r, const char *name, ino_t ino)
{
	size_t len = strlen(name) + 1;
	void *p;

	if (r->count == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		p = realloc(r->entries, r->cap * sizeof(*r->entries));
		if (!p)
			return -ENOMEM;
		r->entries = p;
	}
	if (r->len + len > r->names_cap) {
		r->names_cap = r->names_cap ? r->names_cap * 2 : 16384;
		if (r->names_cap < r->len + len)
			r->names_cap = r->len + len;
		p = realloc(r->names, r->names_cap);
		if (!p)
			return -ENOMEM;
		r->names = p;
	}
	memcpy(r->names + r->len, name, len);
	r->entries[r->count].ino = ino;
	r->entries[r->count++].off = r->len;
	r->len += len;
	return 0;
}

static int dir_read(struct shmfs *fs, struct dir_read *r)
{
	char shown[NAME_MAX + 1];
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0;

	memset(r, 0, sizeof(*r));
	fd = openat(fs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while ((errno = 0, de = readdir(dir))) {
		if (!shmfs_mount_name(fs, de->d_name, shown) ||
		    (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
			continue;
		rc = dir_read_add(r, de->d_name, de->d_ino);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = -errno;
	closedir(dir);
	return rc;
}

/*
 * Reads the shm directory into the set.  A name still there keeps its
 * position, and what was known about it if its inode is the same; new
 * names come after, in the order read.  The set is valid unless an event
 * came in since `epoch` was read: the read may predate it.
 */
static int rescan(struct shmfs *fs, struct listing *l, uint64_t epoch)
{
	struct name_entry **link, *e, *next;
	struct dir_read r;
	uint64_t mark;
	size_t i;
	int rc;

	rc = dir_read(fs, &r);
	if (rc < 0)
		goto out;
	pthread_mutex_lock(&l->lock);
	mark = ++l->scan_mark;
	for (i = 0; i < r.count; i++) {
		const char *name = r.names + r.entries[i].off;

		link = set_find(&l->set, name);
		e = *link;
		if (!e) {
			e = set_add(&l->set, name, l->epoch + 1);
			if (!e) {
				/* The set may lack names now: read again. */
				l->valid = false;
				l->epoch++;
				pthread_mutex_unlock(&l->lock);
				rc = -ENOMEM;
				goto out;
			}
		} else if (e->ino != r.entries[i].ino) {
			e->known = false;
		}
		e->ino = r.entries[i].ino;
		e->has_ino = true;
		e->stamp = l->epoch + 1;
		e->mark = mark;
	}
	/*
	 * Names not read are gone, unless an event touched them since the
	 * caller's epoch: a block made after the read went past its name
	 * exists, and dropping it would give it a new position later, which
	 * a readdir served partly from the kernel's cache could list twice.
	 */
	for (e = l->set.head; e; e = next) {
		next = e->next;
		if (e->mark != mark && e->stamp <= epoch)
			set_remove(&l->set, set_find(&l->set, e->name));
	}
	l->valid = l->epoch == epoch;
	l->epoch++;
	pthread_mutex_unlock(&l->lock);
out:
	free(r.entries);
	free(r.names);
	return rc;
}

/*
 * Whether `snap` is the listing as it is now, the watch's gen being `gen`.
 * Called with the lock held.
 */
static bool is_current(const struct listing *l, const struct dir_snapshot *snap,
		       uint64_t gen)
{
	return snap->current && snap->gen == gen && snap->epoch == l->epoch;
}

/* A cached handle's snapshot: the kernel may have its listing. */
static void live_add(struct listing *l, struct dir_snapshot *snap)
{
	pthread_mutex_lock(&l->lock);
	snap->owner = l;
	snap->prev = NULL;
	snap->next = l->live;
	if (l->live)
		l->live->prev = snap;
	l->live = snap;
	pthread_mutex_unlock(&l->lock);
}

/* Its handle is done: what it listed may stay in the kernel's cache. */
static void live_remove(struct dir_snapshot *snap)
{
	struct listing *l = snap->owner;

	pthread_mutex_lock(&l->lock);
	if (snap->prev)
		snap->prev->next = snap->next;
	else
		l->live = snap->next;
	if (snap->next)
		snap->next->prev = snap->prev;
	if (!snap->current || (l->closed && (l->gen != snap->gen ||
					     l->closed_epoch != snap->epoch)))
		l->dirty = true;
	l->closed = true;
	l->gen = snap->gen;
	l->closed_epoch = snap->epoch;
	pthread_mutex_unlock(&l->lock);
}

void dir_snapshot_clear(struct dir_snapshot *snap)
{
	bool cached = snap->cached;

	if (snap->owner)
		live_remove(snap);
	free(snap->entries);
	free(snap->names);
	free(snap->view_names);
	memset(snap, 0, sizeof(*snap));
	snap->cached = cached;
}

off_t dir_snapshot_pos(const struct dir_snapshot *snap, size_t i)
{
	return i < 2 ? (off_t)i + 1 : snap->entries[i - 2].pos;
}

size_t dir_snapshot_seek(const struct dir_snapshot *snap, off_t pos)
{
	size_t lo = 0, hi = snap->count, mid;

	if (pos < 2)
		return pos < 0 ? 0 : (size_t)pos;
	/* The first entry past `pos`: positions grow along the entries. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (snap->entries[mid].pos <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 2;
}

/* True when the block of `st` has not changed for LISTING_SETTLED s. */
static bool block_settled(const struct stat *st, const struct timespec *now)
{
	return st->st_mtim.tv_sec + LISTING_SETTLED < now->tv_sec &&
	       st->st_ctim.tv_sec + LISTING_SETTLED < now->tv_sec;
}

/* A name of the snapshot asked about afresh. */
struct fresh_kind {
	size_t index;
	const char *shm_name; /* in the snapshot's names */
	int rc;		      /* shm_kind_of's answer: 0 or -errno */
	enum shm_kind kind;
	struct stat st;
};

/*
 * Whether `e` had an event within the last LISTING_SETTLED seconds and a
 * bit: its block changed then (mtime or ctime), so asking about it now
 * gives an answer the listing can't keep.
 */
static bool event_recent(const struct name_entry *e, time_t now)
{
	return e->event_at && now - e->event_at <= LISTING_SETTLED + 1;
}

/*
 * Whether a listing leaves the kind of `e`, not known, unknown (DT_UNKNOWN)
 * rather than asking: past the first LISTING_ASK_MAX names with a recent
 * event (`*recent` counts them), unless its inode number is unknown too and
 * `need_ino`.
 */
static bool leave_unknown(const struct name_entry *e, time_t now, bool need_ino,
			  size_t *recent)
{
	if (!event_recent(e, now) || (*recent)++ < LISTING_ASK_MAX)
		return false;
	return e->has_ino || !need_ino;
}

/*
 * Copies the set into `snap`.  The entries whose kind is unknown are listed
 * in `*asks` (allocated): those with no recent event, the first
 * LISTING_ASK_MAX of those with one, and those whose inode number is
 * unknown too if `need_ino` or if there are at most LISTING_ASK_MAX of
 * them (a stat each costs less than a read of the directory).  The others
 * are marked unknown, and `*no_ino` counts those of them whose inode number
 * is not known.  The listing's epoch and validity are put in `*epoch` and
 * `*valid`.
 */
static int copy_set(struct listing *l, size_t prefix_len,
		    struct dir_snapshot *snap, bool need_ino,
		    struct fresh_kind **asks, size_t *nasks, size_t *no_ino,
		    uint64_t *epoch, bool *valid)
{
	const struct name_entry *e;
	size_t i, n = 0, recent = 0, unknown = 0, unknown_ino = 0;
	struct timespec now;
	char *p, *q;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	pthread_mutex_lock(&l->lock);
	*epoch = l->epoch;
	*valid = l->valid;
	*no_ino = 0;
	for (e = l->set.head; e; e = e->next) {
		unknown += !e->known;
		unknown_ino += !e->known && !e->has_ino;
	}
	if (unknown_ino <= LISTING_ASK_MAX)
		need_ino = true;
	snap->entries = calloc(l->set.count + 1, sizeof(*snap->entries));
	/* Under a prefix, room for the semaphores' names after the rest. */
	snap->names = malloc(l->set.name_bytes * (prefix_len ? 2 : 1) + 1);
	*asks = calloc(unknown + 1, sizeof(**asks));
	if (!snap->entries || !snap->names || !*asks) {
		pthread_mutex_unlock(&l->lock);
		free(*asks);
		*asks = NULL;
		return -ENOMEM;
	}
	p = snap->names;
	q = snap->names + l->set.name_bytes;
	for (i = 0, e = l->set.head; e; e = e->next, i++) {
		size_t len = strlen(e->name) + 1;

		/* The shm name, of which the entry shows the end. */
		memcpy(p, e->name, len);
		snap->entries[i].name = p + prefix_len;
		/* A semaphore's "sem.PNAME" shows as "sem.NAME" (fs.h). */
		if (prefix_len && shmfs_sem_name(e->name)) {
			size_t sem = sizeof(SHMFS_SEM_PREFIX) - 1;

			memcpy(q, SHMFS_SEM_PREFIX, sem);
			memcpy(q + sem, e->name + sem + prefix_len,
			       len - sem - prefix_len);
			snap->entries[i].name = q;
			q += len - prefix_len;
		}
		snap->entries[i].ino = e->ino;
		snap->entries[i].pos = (off_t)(e->pos * 2);
		snap->entries[i].kind = e->kind;
		if (!e->known &&
		    leave_unknown(e, now.tv_sec, need_ino, &recent)) {
			snap->entries[i].unknown = true;
			*no_ino += !e->has_ino;
		} else if (!e->known) {
			(*asks)[n].shm_name = p;
			(*asks)[n++].index = i;
		}
		p += len;
	}
	snap->count = i;
	*nasks = n;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

/*
 * Keeps what the listing learnt about names not changed since `epoch`:
 * kinds of settled blocks, and names that are gone.
 */
static void keep_answers(struct listing *l, const struct fresh_kind *asks,
			 size_t nasks, uint64_t epoch,
			 const struct timespec *now)
{
	struct name_entry **link, *e;
	size_t i;

	pthread_mutex_lock(&l->lock);
	for (i = 0; i < nasks; i++) {
		const struct fresh_kind *a = &asks[i];

		link = set_find(&l->set, a->shm_name);
		e = *link;
		if (!e || e->stamp > epoch)
			continue;
		if (a->rc == -ENOENT) {
			set_remove(&l->set, link);
			continue;
		}
		if (a->rc < 0)
			continue;
		e->ino = a->st.st_ino;
		e->has_ino = true;
		if (block_settled(&a->st, now)) {
			e->known = true;
			e->kind = a->kind;
		}
	}
	pthread_mutex_unlock(&l->lock);
}

/*
 * Adds after each declared array of `snap` its view NAME.npy, unless a
 * block has that name (listing.h).  Errors: -ENOMEM.
 */
static int add_views(struct listing *l, size_t prefix_len,
		     struct dir_snapshot *snap)
{
	struct dir_entry *entries;
	size_t i, j, n = 0, bytes = 0, len;
	char *p;

	for (i = 0; i < snap->count; i++) {
		if (snap->entries[i].unknown ||
		    snap->entries[i].kind != SHM_KIND_DECLARED)
			continue;
		n++;
		bytes += prefix_len + strlen(snap->entries[i].name) +
			 ARRAY_VIEW_SUFFIX_LEN + 1;
	}
	if (!n)
		return 0;
	entries = calloc(snap->count + n, sizeof(*entries));
	snap->view_names = p = malloc(bytes);
	if (!entries || !p) {
		free(entries);
		return -ENOMEM;
	}
	pthread_mutex_lock(&l->lock);
	for (i = j = 0; i < snap->count; i++) {
		const struct dir_entry *d = &snap->entries[i];
		/* The shm name, of which the entry shows the end. */
		const char *shm_name = d->name - prefix_len;

		entries[j++] = *d;
		if (d->unknown || d->kind != SHM_KIND_DECLARED)
			continue;
		len = strlen(shm_name);
		if (len + ARRAY_VIEW_SUFFIX_LEN > NAME_MAX)
			continue;
		memcpy(p, shm_name, len);
		memcpy(p + len, ARRAY_VIEW_SUFFIX, ARRAY_VIEW_SUFFIX_LEN + 1);
		if (*set_find(&l->set, p))
			continue;
		entries[j] = *d;
		entries[j].name = p + prefix_len;
		entries[j].ino = array_view_ino(d->ino);
		entries[j++].pos = d->pos + 1;
		p += len + ARRAY_VIEW_SUFFIX_LEN + 1;
	}
	pthread_mutex_unlock(&l->lock);
	free(snap->entries);
	snap->entries = entries;
	snap->count = j;
	return 0;
}

int listing_take(struct shmfs *fs, uint64_t gen, struct dir_snapshot *snap)
{
	struct listing *l = fs->listing;
	struct fresh_kind *asks = NULL;
	struct timespec now;
	size_t nasks = 0, no_ino = 0, i, j;
	bool scan, valid, settled = true;
	uint64_t epoch;
	int rc;

	dir_snapshot_clear(snap);
	pthread_mutex_lock(&l->lock);
	scan = gen == WATCH_BUSY || !l->valid;
	epoch = l->epoch;
	pthread_mutex_unlock(&l->lock);
	if (scan) {
		rc = rescan(fs, l, epoch);
		if (rc < 0)
			goto out;
	}
	rc = copy_set(l, fs->prefix_len, snap, scan, &asks, &nasks, &no_ino,
		      &epoch, &valid);
	if (rc == 0 && no_ino) {
		/*
		 * Names left unasked, some with no inode number: one read of
		 * the directory gives them all (those that came since are
		 * asked about).
		 */
		free(asks);
		asks = NULL;
		dir_snapshot_clear(snap);
		rc = rescan(fs, l, epoch);
		if (rc == 0)
			rc = copy_set(l, fs->prefix_len, snap, true, &asks,
				      &nasks, &no_ino, &epoch, &valid);
	}
	if (rc < 0)
		goto out;

	clock_gettime(CLOCK_REALTIME, &now);
	for (i = 0; i < nasks; i++) {
		struct fresh_kind *a = &asks[i];
		struct dir_entry *d = &snap->entries[a->index];

		a->rc = shm_kind_of(fs, a->shm_name, &a->st, &a->kind);
		if (a->rc < 0)
			continue;
		d->ino = a->st.st_ino;
		d->kind = a->kind;
		if (!block_settled(&a->st, &now))
			settled = false;
	}
	for (i = 0; i < snap->count; i++)
		if (snap->entries[i].unknown)
			settled = false;
	if (nasks)
		keep_answers(l, asks, nasks, epoch, &now);
	for (i = 0; i < nasks; i++)
		if (asks[i].rc < 0)
			snap->entries[asks[i].index].name = NULL;
	for (i = j = 0; i < snap->count; i++)
		if (snap->entries[i].name)
			snap->entries[j++] = snap->entries[i];
	snap->count = j;
	rc = add_views(l, fs->prefix_len, snap);
	if (rc < 0)
		goto out;
	snap->taken = true;
	snap->gen = gen;
	snap->epoch = epoch;
	snap->current = gen != WATCH_BUSY && valid && settled;
	if (snap->cached)
		live_add(l, snap);
out:
	free(asks);
	if (rc < 0)
		dir_snapshot_clear(snap);
	return rc;
}

bool listing_open(struct listing *l, uint64_t gen, struct dir_snapshot *snap)
{
	const struct dir_snapshot *s;
	bool stale = false;

	pthread_mutex_lock(&l->lock);
	for (s = l->live; s; s = s->next)
		if (!is_current(l, s, gen))
			stale = true;
	snap->cached =
		gen != WATCH_BUSY && l->valid && !stale && !l->dirty &&
		(!l->closed || (l->gen == gen && l->closed_epoch == l->epoch));
	if (!snap->cached) {
		/*
		 * The kernel drops its cache at this open: from now on only
		 * the open snapshots may fill it again.
		 */
		l->closed = false;
		l->dirty = stale;
	}
	pthread_mutex_unlock(&l->lock);
	return snap->cached;
}
