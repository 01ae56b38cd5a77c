/* SPDX-License-Identifier: MIT */
/*
 * Locks through the mount are the block's (docs/locks.md): fcntl record
 * locks, OFD locks and flock taken on a file of the mount are taken by the
 * daemon on the block itself, so they conflict with those taken directly
 * in the shm directory, both ways.
 *
 * Each lock owner the kernel names (a process's file table for POSIX
 * locks, an open file for OFD locks and flock) gets its own open file
 * description of the block, on which the daemon takes OFD locks (fcntl
 * F_OFD_SETLK) or flock: OFD locks conflict with every other description's
 * and with classic POSIX locks of every process, and they merge and split
 * per description exactly as POSIX locks do per process.  A wait (F_SETLKW,
 * flock without LOCK_NB) runs in a thread of its own, never in a worker,
 * and ends with EINTR when the kernel interrupts the request.
 */
#ifndef SHMFS_LOCKS_H
#define SHMFS_LOCKS_H

#include <fcntl.h>

#include "fs.h"

/* Descriptions (one per owner, block and kind) a user may have. */
#define LOCKS_MAX_PER_USER 256
#define LOCKS_MAX 4096
/* Lock waits under way at once for one user, and for everyone. */
#define LOCKS_WAITERS_PER_USER 64
#define LOCKS_WAITERS_MAX 512

struct locks;

/* The block a request is about: its identity and a descriptor of it. */
struct lock_target {
	dev_t dev;
	ino_t ino;
	int fd; /* held by the daemon for the open file; never locked */
};

/* Sets up the mount's lock table.  Errors: -ENOMEM, sigaction's. */
int locks_create(struct locks **out);

/*
 * Ends every wait (its request gets EINTR if the kernel still listens),
 * waits for their threads and closes every description.  NULL is fine.
 */
void locks_free(struct locks *l);

/* GETLK: the first lock that would conflict with `lock`, or F_UNLCK. */
void locks_getlk(fuse_req_t req, const struct lock_target *t,
		 struct fuse_file_info *fi, struct flock *lock);

/* SETLK and SETLKW (sleep): replies now, or from a waiting thread. */
void locks_setlk(fuse_req_t req, const struct lock_target *t,
		 struct fuse_file_info *fi, struct flock *lock, int sleep);

/* flock(2) emulated by the kernel: `op` is LOCK_SH/EX/UN, maybe LOCK_NB. */
void locks_flock(fuse_req_t req, const struct lock_target *t,
		 struct fuse_file_info *fi, int op);

/*
 * A close(2) of a file of the block by the process whose POSIX lock owner
 * is `owner` (FLUSH): all its record locks on the block go, as on close.
 */
void locks_flush(struct locks *l, const struct lock_target *t, uint64_t owner);

/*
 * The open file `fi` of the block is gone (RELEASE): its OFD locks and
 * its flock go.
 */
void locks_release(struct locks *l, const struct lock_target *t,
		   const struct fuse_file_info *fi);

#endif
