/* SPDX-License-Identifier: MIT */
/* The inotify watch that keeps the kernel's caches true to the shm directory. */
#ifndef SHMFS_WATCH_H
#define SHMFS_WATCH_H

#include <stdint.h>

struct shmfs;
struct watch;

/*
 * Starts a thread that watches fs->shmdir and invalidates the kernel's
 * entries and attributes of whatever changes there.  Call after the session
 * is mounted (and after daemonizing).  Errors: inotify's, -ENOMEM.
 */
int watch_start(struct shmfs *fs, struct watch **out);

/*
 * Asks the thread to stop and waits up to a second.  Returns 0 when it has
 * stopped, or -ETIMEDOUT when it is stuck in a notification: that waits on a
 * directory lock held by a request that got no answer because the session
 * loop has ended, and only aborting the connection releases it.  Call before
 * the session is unmounted.
 */
int watch_stop(struct watch *w);

/* watch_listing_gen() while the watch has events still to handle. */
#define WATCH_BUSY UINT64_MAX

/*
 * A number that changes whenever the watch learns that the mount's listing
 * changed outside (a block under the prefix appeared, went, moved or
 * changed kind), or WATCH_BUSY while inotify holds events the watch has not
 * handled yet.  Two equal answers other than WATCH_BUSY mean no outside
 * change in between: an event is queued before the syscall that caused it
 * returns.  `w` may be NULL (WATCH_BUSY).
 */
uint64_t watch_listing_gen(struct watch *w);

/*
 * watch_listing_gen(); when that is WATCH_BUSY, also asks the thread to
 * handle at once the events queued now, without waiting for it.
 */
uint64_t watch_hurry(struct watch *w);

/* Waits for the thread to end and frees the watch.  NULL is ignored. */
void watch_free(struct watch *w);

#endif
