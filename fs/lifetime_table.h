/* SPDX-License-Identifier: MIT */
/*
 * The lifetime enforcer's state (lifetime.c): the blocks with a policy,
 * hashed by name, and their owners, one record per distinct process,
 * hashed by pid, so that a wake costs what changed, not the number of
 * policies.  Only the enforcer's thread touches the tables.
 */
#ifndef SHMFS_LIFETIME_TABLE_H
#define SHMFS_LIFETIME_TABLE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "block_id.h"
#include "fs.h"
#include "shmblock.h"

/* Set once a last-holder block has been seen held, for a restart. */
#define LIFETIME_XATTR_HELD "trusted.shmfs.held"

struct procwatch;
struct owner;

/* A block with a policy (honoured or not: an ignored one is logged once). */
struct entry {
	char name[NAME_MAX + 1];
	struct block_id id;
	char value[SHMBLOCK_LIFETIME_TEXT_MAX];
	struct shmblock_lifetime lt;
	bool honoured;
	size_t index;		 /* in l->all */
	struct entry *name_next; /* hash chain */
	struct owner *owner;	 /* OWNER, honoured: its process */
	struct entry *owner_next;
	bool armed;	  /* LAST_HOLDER: seen held */
	uint64_t busy_ns; /* IDLE: when the idle time starts */
	bool was_held;	  /* IDLE: held at the last scan */
};

/* One process that owns blocks, however many. */
struct owner {
	pid_t pid;
	uint64_t start;
	struct entry *entries; /* by owner_next */
	struct owner *next;    /* hash chain */
};

/* An owner to look at again (after an exit event, or an error). */
struct recheck {
	pid_t pid;
	uint64_t due_ns, gap_ns;
};

struct table {
	void **b; /* buckets, a power of two */
	size_t nb;
};

struct lifetime {
	struct shmfs *fs;
	uint64_t period_ns;
	int stop_fd, wake_fd, close_fd; /* close_fd: -1 while not needed */
	pthread_t thread;
	bool running;
	/* The watch's side: names to read again, under `lock`. */
	pthread_mutex_t lock;
	char **pending;
	size_t npending, cap_pending;
	bool reread_all;
	/*
	 * Also under `lock`, from the thread: whether it may be reading
	 * blocks now (between two polls), and how many entries it had when
	 * it last went to sleep.  While it sleeps with none, a block that
	 * goes away needs no look (lifetime_note_event).
	 */
	bool busy;
	size_t tracked;
	/* The thread's own. */
	struct entry **all;
	size_t n, cap;
	struct table names, owners;
	size_t nowners, nholders_pol;
	struct recheck *rechecks;
	size_t nrechecks, cap_rechecks;
	bool sweep_owners;	/* events were lost: look at every owner */
	uint64_t next_sweep_ns; /* without the connector */
	uint64_t reread_due_ns; /* a pass over the directory failed: again
				   then; 0: none */
	struct procwatch *pw;
	uint64_t scan_cost_ns, scan_end_ns, last_scan_ns;
	uint64_t wanted_ns; /* the scan asked for; 0: none */
	char doubt[160];    /* why the last scan removed nothing */
	uid_t dir_uid;
};

/* Whether the honoured policy of `e` needs holders scans. */
bool lifetime_needs_holders(const struct entry *e);

/* The path of a block for the path-based calls, which open nothing. */
void lifetime_block_path(const struct shmfs *fs, const char *name, char *path,
			 size_t len);

/* The entry of `name`, or NULL. */
struct entry *lifetime_find(struct lifetime *l, const char *name);

/* The owner record of `pid`, or NULL. */
struct owner *lifetime_owner(struct lifetime *l, pid_t pid);

/* Attaches `e` to the owner record of (pid, start): -ENOMEM or 0. */
int lifetime_owner_attach(struct lifetime *l, struct entry *e);

/* Frees `e`, out of both tables (the last entry takes its index). */
void lifetime_drop(struct lifetime *l, struct entry *e);

/* A new, empty entry for `name`, in both tables; NULL without memory. */
struct entry *lifetime_add(struct lifetime *l, const char *name);

#endif
