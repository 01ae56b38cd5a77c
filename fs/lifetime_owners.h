/* SPDX-License-Identifier: MIT */
/*
 * The owners of owner= policies, followed through the process event
 * connector (procwatch.h) or, without it, looked at once a period.  An
 * owner the daemon can't look at has not exited.
 */
#ifndef SHMFS_LIFETIME_OWNERS_H
#define SHMFS_LIFETIME_OWNERS_H

#include <stdint.h>
#include <sys/types.h>

#include "lifetime_table.h"

/*
 * procwatch_read's callback (`arg` the struct lifetime): thread group
 * `tgid` has exited (0: events were lost).
 */
void lifetime_on_exit(void *arg, pid_t tgid);

/* Looks at every owner (events lost, no connector, or one unreadable). */
void lifetime_sweep_owners(struct lifetime *l);

/* Looks at the owners whose second look is due at `now`. */
void lifetime_do_rechecks(struct lifetime *l, uint64_t now);

/* When the next recheck is due, or 0 for none. */
uint64_t lifetime_recheck_due(const struct lifetime *l);

#endif
