/* SPDX-License-Identifier: MIT */
/*
 * Whether a holders scan may settle "held by no one" (docs/security.md,
 * "Removal only when sure"): a scan that could not inspect some process
 * can't, unless that process is beyond the daemon's reach altogether.
 */
#ifndef SHMFS_HOLDERS_DOUBT_H
#define SHMFS_HOLDERS_DOUBT_H

#include <stdbool.h>
#include <stddef.h>

#include "shmblock.h"

/*
 * Whether `snap` leaves a doubt: some process it could not inspect might
 * hold any block.  A process is passed over only when the kernel refused
 * it for lack of privilege (EACCES, EPERM) and it has a capability the
 * daemon lacks: no local user can start such a process (in some
 * containers pid 1 is one).  Anything else (EMFILE, ENOMEM, a process
 * whose status can't be read...) is a doubt.  `why` gets a line for the
 * log naming the first doubtful process and its error.
 */
bool holders_doubt(const struct shmblock_holders *snap, char *why, size_t len);

#endif
