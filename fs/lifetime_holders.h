/* SPDX-License-Identifier: MIT */
/*
 * The last-holder and idle= policies, judged on the holders scanner's
 * scans (holders_cache.h), asked for when a policy is learned, when a
 * followed block is closed, and once a period.  A scan that left a doubt
 * (holders_doubt.h) removes nothing; the blocks a scan finds unheld are
 * taken under private names and looked at once more by one scan started
 * after the take (shmdir_take, shmdir_held, shmdir_settle).
 */
#ifndef SHMFS_LIFETIME_HOLDERS_H
#define SHMFS_LIFETIME_HOLDERS_H

#include <stdbool.h>

#include "lifetime_table.h"

/* A scan is published (holders_cache_fd): judge on it if it is new. */
void lifetime_take_scan(struct lifetime *l);

/*
 * Follows the close events of the directory (`on`) into l->close_fd, or
 * stops: only while some policy needs holders, as every close of any
 * block of the directory wakes the thread (docs/shmfs.md has the cost).
 */
void lifetime_follow_closes(struct lifetime *l, bool on);

/* Reads the close events: a followed block closed asks for a scan. */
void lifetime_read_closes(struct lifetime *l);

#endif
