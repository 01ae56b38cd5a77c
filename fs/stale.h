/* SPDX-License-Identifier: MIT */
/* A mount point left behind by a shmfs daemon that died: found and cleared. */
#ifndef SHMFS_STALE_H
#define SHMFS_STALE_H

/*
 * Resolves the mount point `arg` to an absolute path in *out (malloc'd).
 * When `arg` is the mount point of a FUSE file system whose daemon has ended
 * (stat answers ENOTCONN) and that file system was shmfs, it is detached
 * first (umount2 MNT_DETACH, or `fusermount3 -u -z` when not root): every
 * block lives in the shm directory, so nothing is lost, and the new mount
 * shows them all.  A dead mount of another file system is left alone.
 * Prints what went wrong to stderr.  Errors: -ENOTCONN (a dead mount that is
 * not shmfs's, or one that could not be detached), and realpath's.
 */
int stale_mount_resolve(const char *arg, char **out);

#endif
