/* SPDX-License-Identifier: MIT */
/* The inotify watch that keeps the kernel's caches true to the shm directory. */
#ifndef SHMFS_WATCH_H
#define SHMFS_WATCH_H

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

/* Waits for the thread to end and frees the watch.  NULL is ignored. */
void watch_free(struct watch *w);

#endif
