/* SPDX-License-Identifier: MIT */
/*
 * The lifetime enforcer (docs/shmfs.md, "Lifetimes"): follows the
 * SHMBLOCK_XATTR_LIFETIME policies of the mount's blocks and removes a
 * block when its owner exits, its last holder lets go, or it sits idle.
 * Its thread is here; its parts are lifetime_table (the state),
 * lifetime_trust (whose policy counts; setxattr through the mount),
 * lifetime_learn (policies read, blocks removed), lifetime_owners and
 * lifetime_holders (the two ways a policy gives a block up).
 */
#ifndef SHMFS_LIFETIME_H
#define SHMFS_LIFETIME_H

#include <stdint.h>

#include "fs.h"

/* The default period of the holders scan, seconds. */
#define LIFETIME_SCAN_DEFAULT 2.0

/*
 * Starts the enforcer's thread: it reads every policy of the mount's
 * blocks, then follows them (call after watch_start, so that no change
 * falls between the two).  Sets fs->lifetime.  `scan_period` is the
 * holders scan's, in seconds (> 0).  Errors: -ENOMEM, thread and
 * eventfd errors.
 */
int lifetime_start(struct shmfs *fs, double scan_period);

/*
 * Stops the thread (no removal after it returns).  The watch may still
 * call lifetime_note_event; lifetime_free once the watch is freed.
 */
void lifetime_stop(struct shmfs *fs);
void lifetime_free(struct shmfs *fs);

/*
 * From the watch: the block `shm_name` was created, removed, moved or had
 * its attributes or xattrs changed (`mask`, inotify's); shm_name NULL with
 * IN_Q_OVERFLOW: events were lost.  Cheap: queues the name for the thread.
 */
void lifetime_note_event(struct shmfs *fs, const char *shm_name, uint32_t mask);

#endif
