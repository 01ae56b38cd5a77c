/* SPDX-License-Identifier: MIT */
/* Which blocks of the shm directory a listing found to be lists, kept until inotify reports a change. */
#ifndef SHMFS_KINDCACHE_H
#define SHMFS_KINDCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * A listing of the top level must give each entry's type (a list is a
 * directory), which takes a stat and often a read of the block's header.
 * The kind cache keeps that answer per block name and inode number, so that
 * listing a big unchanged directory again costs no syscall per entry.
 *
 * It trusts inotify: the watch drops a name on every event about it (its
 * own namespace changes included), and everything on a queue overflow.  A
 * block's kind can also change through stores in a mapping, which make no
 * event; so only blocks whose data and attributes have not changed for
 * KIND_CACHE_SETTLED seconds are kept (a ShareableList is created and filled
 * within one call), and a lookup always classifies afresh.
 */
#define KIND_CACHE_SETTLED 2

struct kind_cache;

/* Errors: -ENOMEM. */
int kind_cache_create(struct kind_cache **out);
void kind_cache_free(struct kind_cache *c);

/* 1 a list, 0 a plain block, -ENOENT when not known for this inode. */
int kind_cache_get(struct kind_cache *c, const char *shm_name, ino_t ino);

/*
 * The epoch to hand to kind_cache_put, taken before classifying: a drop in
 * between makes the put a no-op, so a classification that raced with a
 * change is never kept.
 */
uint64_t kind_cache_epoch(struct kind_cache *c);

/*
 * Keeps the kind of `shm_name` as classified from `st` (taken by the
 * classification), if the block has settled.  Out of memory only loses the
 * entry.
 */
void kind_cache_put(struct kind_cache *c, uint64_t epoch,
		    const char *shm_name, const struct stat *st, bool is_list,
		    const struct timespec *now);

/* True when the block of `st` has not changed for KIND_CACHE_SETTLED s. */
bool kind_cache_settled(const struct stat *st, const struct timespec *now);

/* Something happened to `shm_name`. */
void kind_cache_drop(struct kind_cache *c, const char *shm_name);
/* Events were lost. */
void kind_cache_clear(struct kind_cache *c);

#endif
