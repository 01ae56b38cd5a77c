/* SPDX-License-Identifier: MIT */
/* The kind cache: block name to list-or-not, for listings (see kindcache.h). */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kindcache.h"

struct kind_entry {
	struct kind_entry *next;
	ino_t ino;
	bool is_list;
	char name[];
};

struct kind_cache {
	pthread_mutex_t lock;   /* protects everything below */
	struct kind_entry **buckets;
	size_t nbuckets;        /* a power of two */
	size_t count;
	uint64_t epoch;         /* bumped by every drop and clear */
};

static size_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 32));
}

static struct kind_entry **slot(struct kind_cache *c, const char *name)
{
	return &c->buckets[name_hash(name) & (c->nbuckets - 1)];
}

/* The link that points at `name`'s entry, or at the chain's end. */
static struct kind_entry **find(struct kind_cache *c, const char *name)
{
	struct kind_entry **p;

	for (p = slot(c, name); *p; p = &(*p)->next)
		if (!strcmp((*p)->name, name))
			break;
	return p;
}

int kind_cache_create(struct kind_cache **out)
{
	struct kind_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->nbuckets = 1024;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

static void free_all(struct kind_cache *c)
{
	struct kind_entry *e, *next;
	size_t i;

	for (i = 0; i < c->nbuckets; i++) {
		for (e = c->buckets[i]; e; e = next) {
			next = e->next;
			free(e);
		}
		c->buckets[i] = NULL;
	}
	c->count = 0;
}

void kind_cache_free(struct kind_cache *c)
{
	if (!c)
		return;
	free_all(c);
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int kind_cache_get(struct kind_cache *c, const char *shm_name, ino_t ino)
{
	struct kind_entry *e;
	int rc = -ENOENT;

	pthread_mutex_lock(&c->lock);
	e = *find(c, shm_name);
	if (e && e->ino == ino)
		rc = e->is_list;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

uint64_t kind_cache_epoch(struct kind_cache *c)
{
	uint64_t epoch;

	pthread_mutex_lock(&c->lock);
	epoch = c->epoch;
	pthread_mutex_unlock(&c->lock);
	return epoch;
}

/* Doubles the table when it gets crowded; failure is harmless. */
static void maybe_grow(struct kind_cache *c)
{
	size_t i, size = c->nbuckets * 2;
	struct kind_entry **nb, *e, *next;

	if (c->count < c->nbuckets * 2)
		return;
	nb = calloc(size, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < c->nbuckets; i++) {
		for (e = c->buckets[i]; e; e = next) {
			next = e->next;
			e->next = nb[name_hash(e->name) & (size - 1)];
			nb[name_hash(e->name) & (size - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = size;
}

bool kind_cache_settled(const struct stat *st, const struct timespec *now)
{
	return st->st_mtim.tv_sec + KIND_CACHE_SETTLED < now->tv_sec &&
	       st->st_ctim.tv_sec + KIND_CACHE_SETTLED < now->tv_sec;
}

void kind_cache_put(struct kind_cache *c, uint64_t epoch,
		    const char *shm_name, const struct stat *st, bool is_list,
		    const struct timespec *now)
{
	size_t len = strlen(shm_name) + 1;
	struct kind_entry **p, *e;

	if (!kind_cache_settled(st, now))
		return;
	pthread_mutex_lock(&c->lock);
	if (c->epoch != epoch)
		goto out;
	p = find(c, shm_name);
	if (*p) {
		(*p)->ino = st->st_ino;
		(*p)->is_list = is_list;
		goto out;
	}
	e = malloc(sizeof(*e) + len);
	if (!e)
		goto out;
	e->ino = st->st_ino;
	e->is_list = is_list;
	memcpy(e->name, shm_name, len);
	e->next = *slot(c, shm_name);
	*slot(c, shm_name) = e;
	c->count++;
	maybe_grow(c);
out:
	pthread_mutex_unlock(&c->lock);
}

void kind_cache_drop(struct kind_cache *c, const char *shm_name)
{
	struct kind_entry **p, *e;

	pthread_mutex_lock(&c->lock);
	c->epoch++;
	p = find(c, shm_name);
	e = *p;
	if (e) {
		*p = e->next;
		free(e);
		c->count--;
	}
	pthread_mutex_unlock(&c->lock);
}

void kind_cache_clear(struct kind_cache *c)
{
	pthread_mutex_lock(&c->lock);
	c->epoch++;
	free_all(c);
	pthread_mutex_unlock(&c->lock);
}
