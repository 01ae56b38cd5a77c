/* SPDX-License-Identifier: MIT */
/* The namespace events the mount causes itself, for the watch to skip. */
#ifndef SHMFS_EXPECT_H
#define SHMFS_EXPECT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * When the mount creates, unlinks or renames a block, the kernel updates its
 * own entries for that, so the watch skips the one matching inotify event
 * (IN_CREATE, IN_DELETE, IN_MOVED_FROM or IN_MOVED_TO) instead of
 * invalidating the fresh entry.  The one writer of the shm directory
 * (shmdir.c) adds an expectation before each syscall and removes it again if
 * the syscall fails; the watch takes it when the event comes.  Attribute
 * events are never expected (inotify merges repeated ones, so a skip could
 * swallow an outside change).
 */
struct expect_set;

/* Errors: -ENOMEM. */
int expect_set_create(struct expect_set **out);
/* NULL is ignored. */
void expect_set_free(struct expect_set *set);

/* Expects one event of `mask` about `shm_name`; out of memory: no skip. */
void expect_add(struct expect_set *set, const char *shm_name, uint32_t mask);

/* Removes one expectation of `mask` on `shm_name`; true if there was one. */
bool expect_take(struct expect_set *set, const char *shm_name, uint32_t mask);

/* Events were lost: nothing expected can be matched any more. */
void expect_clear(struct expect_set *set);

/*
 * The mount is about to change a block's data itself (an item stored
 * through the mount): an IN_MODIFY will come, which is not skipped.
 */
void expect_note_write(struct expect_set *set);

/*
 * Whether the mount changed the directory or a block itself (expect_add,
 * expect_note_write) in the last `window_ns` before `now_ns`
 * (CLOCK_MONOTONIC): the watch lets events gather only then (watch.c).
 */
bool expect_recent(const struct expect_set *set, uint64_t now_ns,
		   uint64_t window_ns);

#endif
