/* SPDX-License-Identifier: MIT */
/* List blocks, read only: a block's layout, its items, and whether it is a list. */

/*
 * The daemon never maps a block.  Everything it knows about a list comes
 * from preads checked by the core (the header walker and the per-item
 * reads), so a block that another process truncates, grows or scribbles on
 * while we look can only make a read fail, never make the daemon read out
 * of bounds or take a SIGBUS.  It reads the header and tables, then only
 * the items a request needs, so a request costs what the list holds.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "inode.h"
#include "list_block.h"

int list_snap_take(int fd, bool known, struct list_snap *snap)
{
	int rc;

	memset(snap, 0, sizeof(*snap));
	snap->fd = fd;
	/* The core's settled probe: one retry loop, one back-off. */
	rc = shmblock_slist_probe_settled(fd, LIST_MAX_BLOCK,
					  known ? SHMBLOCK_SETTLE_KNOWN : 0,
					  &snap->st, &snap->lay);
	if (rc < 0) {
		list_snap_free(snap);
		return rc;
	}
	snap->len = (size_t)snap->st.st_size;
	snap->shallow = rc == 1;
	return 0;
}

/*
 * The layout cache: the last whole probe's layout of a few blocks, for the
 * requests about one item (list_snap_take_item).  A layout is shared by
 * the snapshots that use it and freed by the last one; a new probe of the
 * same block replaces it.  Bounded in entries and in items held (about 24
 * bytes an item), so a user's huge lists cost the daemon at most that.
 */
#define LAYOUT_CACHE_SLOTS 16
#define LAYOUT_CACHE_ITEMS (1u << 20)

struct list_layout_ref {
	struct shmblock_slist_layout *lay;
	dev_t dev;
	ino_t ino;
	unsigned refs; /* the cache's one, and a snapshot's each */
	uint64_t used; /* the cache's clock at the last use */
};

static struct {
	pthread_mutex_t lock;
	struct list_layout_ref *slot[LAYOUT_CACHE_SLOTS];
	uint64_t items, clock;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void ref_put_locked(struct list_layout_ref *ref)
{
	if (--ref->refs)
		return;
	shmblock_slist_layout_free(ref->lay);
	free(ref);
}

/* Takes slot i's layout out of the cache. */
static void cache_drop_locked(size_t i)
{
	cache.items -= cache.slot[i]->lay->count;
	ref_put_locked(cache.slot[i]);
	cache.slot[i] = NULL;
}

/* The cached layout of `st`'s block at its size, referenced, or NULL. */
static struct list_layout_ref *cache_get(const struct stat *st)
{
	struct list_layout_ref *ref = NULL;
	size_t i;

	pthread_mutex_lock(&cache.lock);
	for (i = 0; i < LAYOUT_CACHE_SLOTS; i++) {
		struct list_layout_ref *r = cache.slot[i];

		if (!r || r->dev != st->st_dev || r->ino != st->st_ino)
			continue;
		if (r->lay->size != (uint64_t)st->st_size) {
			cache_drop_locked(i);
			continue;
		}
		r->refs++;
		r->used = ++cache.clock;
		ref = r;
		break;
	}
	pthread_mutex_unlock(&cache.lock);
	return ref;
}

/*
 * Keeps `snap`'s layout (a whole probe's) as its block's, shared from now
 * on with `snap`.  A layout the cache can't hold stays the snapshot's own.
 */
static void cache_put(struct list_snap *snap)
{
	struct list_layout_ref *ref;
	size_t i;

	if (snap->lay->version != SHMBLOCK_SLIST_PY39 ||
	    snap->lay->count == 0 || snap->lay->count > LAYOUT_CACHE_ITEMS)
		return;
	ref = calloc(1, sizeof(*ref));
	if (!ref)
		return;
	ref->lay = snap->lay;
	ref->dev = snap->st.st_dev;
	ref->ino = snap->st.st_ino;
	ref->refs = 2;
	pthread_mutex_lock(&cache.lock);
	ref->used = ++cache.clock;
	for (i = 0; i < LAYOUT_CACHE_SLOTS; i++)
		if (cache.slot[i] && cache.slot[i]->dev == ref->dev &&
		    cache.slot[i]->ino == ref->ino)
			cache_drop_locked(i);
	/* Room: the least recently used go first. */
	for (;;) {
		bool room = cache.items + ref->lay->count <= LAYOUT_CACHE_ITEMS;
		size_t free_slot = LAYOUT_CACHE_SLOTS,
		       oldest = LAYOUT_CACHE_SLOTS;

		for (i = 0; i < LAYOUT_CACHE_SLOTS; i++) {
			if (!cache.slot[i])
				free_slot = i;
			else if (oldest == LAYOUT_CACHE_SLOTS ||
				 cache.slot[i]->used < cache.slot[oldest]->used)
				oldest = i;
		}
		if (room && free_slot < LAYOUT_CACHE_SLOTS) {
			i = free_slot;
			break;
		}
		cache_drop_locked(oldest);
	}
	cache.slot[i] = ref;
	cache.items += ref->lay->count;
	pthread_mutex_unlock(&cache.lock);
	snap->shared = ref;
}

static void ref_put(struct list_layout_ref *ref)
{
	pthread_mutex_lock(&cache.lock);
	ref_put_locked(ref);
	pthread_mutex_unlock(&cache.lock);
}

/* Forgets `ref` as its block's layout (it no longer matches the block). */
static void cache_forget(struct list_layout_ref *ref)
{
	size_t i;

	pthread_mutex_lock(&cache.lock);
	for (i = 0; i < LAYOUT_CACHE_SLOTS; i++)
		if (cache.slot[i] == ref)
			cache_drop_locked(i);
	ref_put_locked(ref);
	pthread_mutex_unlock(&cache.lock);
}

int list_snap_take_item(int fd, uint64_t index, struct list_snap *snap)
{
	struct list_layout_ref *ref;
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	ref = cache_get(&st);
	if (ref) {
		rc = shmblock_slist_recheck_fd(fd, ref->lay, index);
		if (rc == 0) {
			memset(snap, 0, sizeof(*snap));
			snap->fd = fd;
			snap->st = st;
			snap->len = (size_t)st.st_size;
			snap->lay = ref->lay;
			snap->shallow = true;
			snap->shared = ref;
			return 0;
		}
		cache_forget(ref);
		if (rc != -EBADMSG)
			return rc;
	}
	rc = list_snap_take(fd, true, snap);
	if (rc == 0 && !snap->shallow)
		cache_put(snap);
	return rc;
}

int list_snap_type(const struct list_snap *snap, uint64_t index)
{
	struct shmblock_value v;
	char *owned;
	int rc;

	if (index >= snap->lay->count)
		return -ERANGE;
	if (!snap->shallow)
		return (int)snap->lay->items[index].type;
	rc = list_snap_read(snap, index, &v, &owned);
	free(owned);
	if (rc == -EILSEQ)
		return SHMBLOCK_TYPE_STR; /* a str that is no UTF-8 */
	return rc < 0 ? rc : (int)v.type;
}

void list_snap_item_layout(const struct list_snap *snap, uint64_t index,
			   struct shmblock_slist_layout *one,
			   struct shmblock_slist_item *item)
{
	*one = *snap->lay;
	*item = snap->lay->items[index];
	one->count = 1;
	one->items = item;
	one->formats_offset += 8 * index;
	one->codes_offset += index;
}

void list_snap_free(struct list_snap *snap)
{
	if (snap->shared)
		ref_put(snap->shared);
	else
		shmblock_slist_layout_free(snap->lay);
	free(snap->buf);
	memset(snap, 0, sizeof(*snap));
	snap->fd = -1;
}

int list_snap_read(const struct list_snap *snap, uint64_t index,
		   struct shmblock_value *v, char **owned)
{
	size_t cap;
	int rc;

	*owned = NULL;
	if (index >= snap->lay->count)
		return -ERANGE;
	if (snap->buf)
		return shmblock_slist_read(snap->lay, snap->buf, snap->len,
					   index, v);
	/* A str or bytes value is at most its slot; scalars need no room. */
	cap = (size_t)snap->lay->items[index].capacity;
	*owned = malloc(cap ? cap : 1);
	if (!*owned)
		return -ENOMEM;
	rc = shmblock_slist_get_fd(snap->fd, snap->lay, index, v, *owned, cap);
	/*
	 * Ill-formed on every try of a list that is one: a store preempted
	 * midway (a zeroed format) for longer than the tries; again later.
	 */
	if (rc == -EBADMSG)
		rc = -EAGAIN;
	if (rc < 0 ||
	    (v->type != SHMBLOCK_TYPE_STR && v->type != SHMBLOCK_TYPE_BYTES)) {
		free(*owned);
		*owned = NULL;
	}
	return rc;
}

int list_snap_each(const struct list_snap *snap, shmblock_slist_each_fn *fn,
		   void *arg)
{
	struct shmblock_value v;
	uint64_t i;
	int rc = 0;

	if (!snap->buf)
		return shmblock_slist_each_fd(snap->fd, snap->lay, 0,
					      (size_t)snap->lay->count, fn,
					      arg);
	for (i = 0; i < snap->lay->count && rc == 0; i++) {
		rc = shmblock_slist_read(snap->lay, snap->buf, snap->len, i,
					 &v);
		if (rc == 0)
			rc = fn(arg, (size_t)i, &v);
	}
	return rc;
}

int list_probe(int fd, const struct stat *st, bool known)
{
	struct list_snap snap;
	char mark[8];
	bool empty;
	int rc;

	if (!S_ISREG(st->st_mode) || st->st_size < 8 ||
	    (uint64_t)st->st_size > LIST_MAX_BLOCK)
		return 0;
	rc = list_snap_take(fd, known, &snap);
	if (rc == -EBADMSG || rc == -EAGAIN)
		return 0;
	if (rc < 0)
		return rc;
	empty = snap.lay->count == 0;
	list_snap_free(&snap);
	if (!empty)
		return 1;
	/* Zeros are an empty list too: only mkdir's mark makes them one. */
	return fgetxattr(fd, LIST_XATTR, mark, sizeof(mark)) > 0;
}

/*
 * Opens a block for the daemon's own reads.  O_NOATIME: looking at a block
 * to show it is not a read by anyone, and tmpfs leaves atime alone when
 * nobody reads (only the owner or CAP_FOWNER may ask, so a daemon that is
 * not root opens others' blocks without it).
 */
static int open_own(const struct shmfs *fs, const char *shm_name, int flags)
{
	int fd;

	flags |= O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	fd = openat(fs->dirfd, shm_name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(fs->dirfd, shm_name, flags);
	return fd;
}

int list_block_open(const struct shmfs *fs, const char *shm_name,
		    bool *read_only)
{
	struct stat st;
	int fd, rc;

	*read_only = false;
	fd = open_own(fs, shm_name, O_RDWR);
	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
		*read_only = true;
		fd = open_own(fs, shm_name, O_RDONLY);
	}
	if (fd < 0)
		return errno == ELOOP || errno == ENXIO ? -ENOENT : -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

int list_block_test(const struct shmfs *fs, const char *shm_name,
		    struct stat *st)
{
	int fd, rc;

	/* Most blocks are ruled out by their size, without opening them. */
	if (st->st_size < 8 || (uint64_t)st->st_size > LIST_MAX_BLOCK ||
	    !shmblock_stat_backed(st))
		return 0;
	fd = open_own(fs, shm_name, O_RDONLY);
	if (fd < 0)
		/* Unreadable by the daemon: it can't show it as a list. */
		return errno == ENOENT ? -ENOENT : 0;
	if (fstat(fd, st) < 0) {
		rc = -errno;
	} else if (!S_ISREG(st->st_mode)) {
		rc = -ENOENT;
	} else {
		/* The kernel knows it as a list: a torn look changes no kind. */
		rc = list_probe(fd, st,
				inode_has_other_kind(fs->inodes, st->st_dev,
						     st->st_ino, NODE_BLOCK));
		if (rc < 0 && rc != -ENOMEM)
			rc = 0;
	}
	close(fd);
	return rc;
}
