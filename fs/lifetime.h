/* SPDX-License-Identifier: MIT */
/*
 * The lifetime enforcer (docs/shmfs.md, "Lifetimes"): follows the
 * SHMBLOCK_XATTR_LIFETIME policies of the mount's blocks and removes a
 * block when its owner exits, its last holder lets go, or it sits idle.
 */
#ifndef SHMFS_LIFETIME_H
#define SHMFS_LIFETIME_H

#include <stdint.h>

#include "fs.h"

/*
 * Who set a policy, as the daemon judged it when it first saw the value
 * (lifetime.c, judge): "UID VALUE" or "- VALUE" (root only).
 */
#define LIFETIME_XATTR_BY "trusted.shmfs.lifetime_by"
/* Set once a last-holder block has been seen held, for a restart. */
#define LIFETIME_XATTR_HELD "trusted.shmfs.held"

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

/*
 * setxattr of SHMBLOCK_XATTR_LIFETIME through the mount on the block open
 * at `fd`: the value is checked and completed ("owner" = the caller's
 * process, with its start time), stored, and marked as set by the caller
 * (LIFETIME_XATTR_BY) when the caller may remove the block.
 * Errors: -EINVAL (not a policy), -ESRCH (no such owner), fsetxattr's.
 */
int lifetime_set_xattr(fuse_req_t req, int fd, const char *value, size_t size,
		       int flags);

/*
 * removexattr of SHMBLOCK_XATTR_LIFETIME through the mount on the block
 * open at `fd`: the policy and its trust record go together.
 * Errors: fremovexattr's (-ENODATA: no policy).
 */
int lifetime_remove_xattr(int fd);

#endif
