/* SPDX-License-Identifier: MIT */
/*
 * The mount's FUSE connection in the fusectl file system: its number, cut
 * on demand, and a guardian process that cuts it when the daemon dies.
 */
#ifndef SHMFS_CONNECTION_H
#define SHMFS_CONNECTION_H

#include <sys/types.h>

/*
 * The connection of the FUSE mount at `mountpoint` (the mount's device
 * number, from /proc/self/mountinfo, read without touching the mount);
 * 0 when not found.
 */
unsigned connection_of(const char *mountpoint);

/*
 * Cuts connection `conn`, as `umount -f` would: every request waiting for
 * an answer ends with ECONNABORTED.  Mounts fusectl if it is missing.
 */
void connection_abort(unsigned conn);

/*
 * Forks the guardian of `conn`: a process holding nothing but the
 * connection's abort file, which cuts the connection when the calling
 * thread ends, however it ends (docs/reliability.md, "A killed daemon").  Call
 * from the thread that lives as long as the daemon.  Errors: -ENOTCONN
 * (no such connection), open's and fork's.
 */
int connection_guard(unsigned conn, pid_t *guardian);

/* Ends the guardian at an orderly exit (the connection is left alone). */
void connection_unguard(pid_t guardian);

#endif
