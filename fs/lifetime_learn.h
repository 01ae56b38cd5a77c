/* SPDX-License-Identifier: MIT */
/*
 * The lifetime enforcer learns the policies of the mount's blocks (a name
 * read again on each of its events) and removes a block its policy gives
 * up, only if it is still that block and carries that policy.
 */
#ifndef SHMFS_LIFETIME_LEARN_H
#define SHMFS_LIFETIME_LEARN_H

#include "block_id.h"
#include "lifetime_table.h"

/*
 * Asks the holders scanner for a scan, spaced so that scans take a tenth
 * of the time at most.
 */
void lifetime_scan_soon(struct lifetime *l);

/*
 * Reads the block `name` again: its identity and its policy, followed
 * from now on (an owner already gone removes the block at once), or
 * dropped with its trust record when withdrawn.
 */
void lifetime_reread(struct lifetime *l, const char *name);

/* Every block of the directory, and every entry gone since. */
void lifetime_reread_all(struct lifetime *l);

/* Why a block of entry `e` is removed, for the log. */
const char *lifetime_reason(const struct entry *e);

void lifetime_log_removed(struct lifetime *l, const char *name,
			  const struct block_id *id, const char *value,
			  const char *reason);
/* The outcome of a removal that did not happen (shmdir_take's), logged. */
void lifetime_log_kept(struct lifetime *l, const struct entry *e, int rc);

/* Drops `e` and reads its name afresh (another block may have it now). */
void lifetime_forget(struct lifetime *l, struct entry *e);

/* Removes the block of an owner policy, if it still is that block. */
void lifetime_remove_owned(struct lifetime *l, struct entry *e,
			   const char *reason);

#endif
