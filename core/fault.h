/* SPDX-License-Identifier: MIT */
/* Private: touching shared memory that another process may truncate. */
#ifndef SHMBLOCK_FAULT_H
#define SHMBLOCK_FAULT_H

#include <stddef.h>

/*
 * Calls fn(arg) so that a SIGBUS raised by an access to [addr, addr + len)
 * made by this thread during the call ends the call instead of the
 * process: shmblock__fault_guarded then returns -EFAULT.  Otherwise it
 * returns what fn returned.
 *
 * A shared mapping of a file SIGBUSes when the file is truncated under it;
 * nothing stops another process from doing that between a size check and
 * the access, so the check alone can't keep a daemon that maps other
 * users' files alive.  The first call installs a SIGBUS handler for the
 * process (pthread_once).  The handler jumps back only for a fault the
 * kernel raised (si_code > 0) at an address inside the range of a guard
 * that the faulting thread has open; every other SIGBUS goes to the
 * disposition that was in place before, as if the handler were not there
 * (a default one still ends the process with SIGBUS).  A program that
 * installs its own SIGBUS handler after the first call must chain to the
 * handler it replaces, or a fault in the range kills it again.
 *
 * fn is left by siglongjmp: it must only load and store (atomically or
 * not) in the range, and hold no lock nor allocate while it does.  Guards
 * don't nest.  Errors: -EFAULT (the range faulted), -EINVAL (the handler
 * could not be installed), and fn's own.
 */
int shmblock__fault_guarded(const volatile void *addr, size_t len,
			    int (*fn)(void *arg), void *arg);

#endif
