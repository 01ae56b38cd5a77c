/* SPDX-License-Identifier: MIT */
/* The daemon's copy of the top level's listing, kept true by the watch. */
#ifndef SHMFS_LISTING_H
#define SHMFS_LISTING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kind.h"

struct shmfs;

/*
 * Listing the top level means listing the shm directory, and giving each
 * entry's type: a list is a directory, which takes a stat and often a read
 * of the block's header.  Doing that for every listing of a big directory
 * costs several times what tmpfs takes to list it.  So the daemon keeps the
 * names of the blocks the mount shows, their inode numbers and kinds, and
 * the watch keeps them true from inotify:
 *
 *  - a name created or moved in, or moved away (RENAME_EXCHANGE reports
 *    both names as moved away and in, the same events as two renames in a
 *    row), is stat-ed at once: a block there is in the copy with its inode
 *    number and an unknown kind; anything else is not (gone, a FIFO);
 *  - a name deleted is removed (it comes back only with a later event);
 *  - any other event makes the name's kind unknown.
 *
 * A listing asks afresh (stat, and the header for a block that may be a
 * list) about names whose kind is unknown, and keeps the answers only for
 * blocks settled for LISTING_SETTLED seconds: a block can turn into a list
 * through stores into its mapping, which make no event (a ShareableList is
 * created and filled within one call).  Of the names with an event in the
 * last LISTING_SETTLED seconds and a bit, whose blocks changed then and
 * whose answers it could not keep, it asks about LISTING_ASK_MAX at most;
 * the others are listed as DT_UNKNOWN, never as a guess: a reader that
 * needs the type stats the name, and that LOOKUP finds the kind.  They keep
 * the inode number of the watch's stat or of the last read of the
 * directory; should more than LISTING_ASK_MAX of them have none (the stat
 * failed, a lookup found another inode), the listing reads the directory
 * (fewer are asked about).  So the first listing after thousands of blocks
 * appeared costs no stat and no header probe per name, and the first one
 * after they settled learns their kinds for the listings after it.  A
 * READDIRPLUS entry carries attributes from a lookup of its own
 * (fs/ops_root.c), so its type is always the kind found then.
 *
 * Inotify queues an event before the syscall that caused it returns.  So
 * once the watch has handled every queued event, the copy is the directory
 * as it is now, and a listing needs no read of the directory.  Otherwise, or
 * after events were lost, or at the first listing, it reads the directory;
 * after events were lost it also asks about every kind afresh (a lost event
 * may have changed one under the same inode).
 */
#define LISTING_SETTLED 2
#define LISTING_ASK_MAX 256

/*
 * Every name has a position of its own, given when it joins the copy and
 * kept while it stays: a readdir goes on after the position it reached,
 * whichever listing serves the rest (the kernel's, or a later one of the
 * daemon's), so a name that stays is neither skipped nor repeated when
 * others come and go.  1 and 2 are "." and "..".  A name of position P
 * is listed at offset 2P, and the view NAME.npy of a declared array
 * (ops_array.c) at 2P + 1, right after its block: a view comes and goes
 * with its block's kind and keeps its place meanwhile.  A view is listed
 * once its block's kind was asked (not for a DT_UNKNOWN entry), and not
 * when a block has its name (a real block wins).
 */
#define LISTING_FIRST_POS 3

struct listing;

/* One listing of the top level, as an open directory handle holds it. */
struct dir_snapshot {
	struct dir_entry {
		ino_t ino;
		off_t pos;	  /* the name's position */
		const char *name; /* as the mount shows it */
		enum shm_kind kind;
		bool unknown; /* kind not asked: DT_UNKNOWN */
	} * entries;
	size_t count;
	bool taken;
	char *names;	  /* where the names point */
	char *view_names; /* where views' names point */
	/* Whether the handle shares the kernel's cached listing. */
	bool cached;
	/* Taken by a cached handle: what it was the listing of (listing.c). */
	struct listing *owner;
	struct dir_snapshot *prev, *next;
	uint64_t gen, epoch;
	bool current;
};

/* Errors: -ENOMEM. */
int listing_create(struct listing **out);
void listing_free(struct listing *l);

/*
 * Fills `snap` (emptied first) with the mount's listing.  `gen` is
 * watch_listing_gen() taken just before: WATCH_BUSY unless the watch has
 * handled every event queued so far.  Errors: those of reading the shm
 * directory, -ENOMEM.
 */
int listing_take(struct shmfs *fs, uint64_t gen, struct dir_snapshot *snap);

/*
 * At an opendir (`gen` is watch_listing_gen() now): true when the handle
 * may share the kernel's cached listing, which the kernel then keeps (it
 * is the directory as it is now); false when the handle reads only its
 * own listings and the kernel drops its cache.  The kernel fills its cache
 * from the replies to every handle that shares it, and reads it in the
 * middle of a readdir too, so it is shared only while every listing that
 * went or may still go into it since it was last dropped is the directory
 * as it is now: taken with no event left to handle, no change of the copy
 * since, and every block in it settled for LISTING_SETTLED seconds (it may
 * still be turning into a list through its mapping, which makes no event).
 * Sets snap->cached.
 */
bool listing_open(struct listing *l, uint64_t gen, struct dir_snapshot *snap);

/* Empties `snap`. */
void dir_snapshot_clear(struct dir_snapshot *snap);

/*
 * Entry `i` of a readdir of `snap` (0 ".", 1 "..", then the snapshot's
 * entries): its position, and the first entry after position `pos`.
 */
off_t dir_snapshot_pos(const struct dir_snapshot *snap, size_t i);
size_t dir_snapshot_seek(const struct dir_snapshot *snap, off_t pos);

/* The watch: an inotify event of `mask` about `shm_name`, a shown name. */
void listing_note_event(struct shmfs *fs, const char *shm_name, uint32_t mask);
/* The watch: events were lost. */
void listing_note_lost(struct listing *l);

/*
 * A lookup found `shm_name` to be of `kind` with inode `ino`: if the
 * listing knows otherwise (a kind changed without an event), it asks again
 * next time.
 */
void listing_note_kind(struct listing *l, const char *shm_name, ino_t ino,
		       enum shm_kind kind);

#endif
