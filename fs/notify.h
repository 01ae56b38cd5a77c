/* SPDX-License-Identifier: MIT */
/*
 * Readiness: going to the background so that the parent exits only once the
 * mount answers requests, and systemd's notification protocol (READY=1,
 * STOPPING=1, and STATUS= lines: the shm directory, the mount point, the
 * data path and the number of blocks, kept current every 10 s) through
 * libsystemd's sd_notify.  Only main.c calls it.
 */
#ifndef SHMFS_NOTIFY_H
#define SHMFS_NOTIFY_H

#include <stdbool.h>

struct shmfs;
struct notify;

/* True when built with libsystemd, so that NOTIFY_SOCKET is honoured. */
bool notify_has_sd_notify(void);

/*
 * Goes to the background unless `foreground`: forks, and the parent waits
 * until the child reports readiness (exit 0) or failure (exit 1, or the
 * child's death).  The child starts a new session and moves to "/", but
 * keeps stdin/out/err until it is ready, so that errors and the data path
 * line reach whoever mounted.  In the foreground it only moves to "/".
 * Call before any thread starts.  Returns 0 in the process that goes on
 * (the parent never returns), or -errno.
 */
int notify_daemonize(bool foreground, struct notify **out);

/*
 * Starts a thread that waits until `mountpoint` answers a request (a stat
 * of the mount's root, which the kernel holds until INIT is answered), then
 * logs the data path, sends READY=1 when NOTIFY_SOCKET is set, and lets the
 * background parent exit 0.  If the stat fails, the parent exits 1 and the
 * daemon ends itself with SIGTERM.  `mountpoint` and `fs` must outlive
 * notify_finish().  Returns 0 or -errno.
 */
int notify_start(struct notify *n, struct shmfs *fs, const char *mountpoint);

/* Sends STOPPING=1 (with NOTIFY_SOCKET): the mount is going away. */
void notify_stopping(struct notify *n);

/*
 * Waits for the thread (the session must be gone by then, so that a stat
 * still waiting fails), tells a waiting parent that the mount failed, and
 * frees `n`.  NULL is allowed.
 */
void notify_finish(struct notify *n);

#endif
