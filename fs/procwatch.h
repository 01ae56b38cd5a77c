/* SPDX-License-Identifier: MIT */
/*
 * Process exits at a cost in descriptors that does not grow with the
 * processes followed (docs/security.md, "Descriptors"): the kernel's
 * process event connector, one netlink socket for every exit on the
 * machine; where it can't be had (no CAP_NET_ADMIN, another network or
 * pid namespace), a timer and a look at each followed process.
 */
#ifndef SHMFS_PROCWATCH_H
#define SHMFS_PROCWATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs.h"

struct procwatch;

/*
 * Opens the connector and checks that its pids are ours (a thread of our
 * own is seen to exit); else the watch works by timer (procwatch_fd -1).
 * Errors: -ENOMEM.
 */
int procwatch_open(struct shmfs *fs, struct procwatch **out);
void procwatch_close(struct procwatch *pw);

/* The descriptor to poll for exits, or -1: look at each process in turn. */
int procwatch_fd(const struct procwatch *pw);

/*
 * Reads the pending events: `fn` is called with the thread group of each
 * exiting thread (a group's last thread included), and with pid 0 when
 * events were lost (look at every process).
 */
void procwatch_read(struct procwatch *pw, void (*fn)(void *arg, pid_t tgid),
		    void *arg);

/*
 * Whether process `pid` that started at `start` (field 22 of its stat) has
 * exited, as far as the daemon can be sure: 1 exited (gone, its pid taken
 * by another, or its whole thread group has exited), 0 running, or a
 * negative errno when it can't tell (EMFILE...): a caller that would act
 * on an exit does not.  -EINVAL: `pid` is a thread, not a process.
 * Uses one descriptor for the moment of the call.
 */
int procwatch_exited(pid_t pid, uint64_t start);

/* The start time (field 22 of stat) of `pid`: 0, -ESRCH (gone), -errno. */
int procwatch_start_time(pid_t pid, uint64_t *out);

#endif
