/* SPDX-License-Identifier: MIT */
/* The holders scan's tables: entries by (dev, ino), records, processes. */
#ifndef SHMBLOCK_HOLDERS_TABLE_H
#define SHMBLOCK_HOLDERS_TABLE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "holders_mount.h"
#include "shmblock.h"

#define DELETED_SUFFIX " (deleted)"
#define DELETED_LEN (sizeof(DELETED_SUFFIX) - 1)

/* One descriptor or mapping of one inode by one process. */
struct rec {
	uint32_t entry; /* index into snap->entries */
	uint32_t proc;	/* index into scan->procs */
	unsigned how;
	int fd;
	uint64_t start, end;
};

struct proc {
	pid_t pid;
	uid_t uid;
	char comm[16];
};

/*
 * A hash slot keeps the key beside the index, so a lookup never reads the
 * entry: with 10,000 entries every read of one is a cache miss, and the
 * lookups were 4% of a scan.
 */
struct slot {
	uint64_t ino;
	uint64_t dev;
	uint32_t idx; /* entry index + 1; 0 is an empty slot */
};

struct shmblock_holders {
	struct shmblock_holders_entry *entries;
	size_t nentries, entries_cap;
	struct slot *hash;
	size_t hash_cap; /* a power of two, at least twice nentries */
	struct shmblock_holder *holders;
	size_t nholders;
	struct shmblock_holders_stats stats;
	bool partial;
	struct shmblock_holders_gap *gaps; /* the unreadable processes */
	size_t ngaps, gaps_cap;		   /* (nunreadable, unless short
					      of memory) */
};

/* What the scan needs only while it runs. */
struct scan {
	struct shmblock_holders *snap;
	unsigned flags;
	bool one_block;	       /* scan_block: no new entries */
	int dirfd;	       /* the shm directory */
	dev_t dirdev;	       /* its filesystem */
	char prefix[PATH_MAX]; /* its path with a trailing '/' */
	size_t prefix_len;
	struct rec *recs;
	size_t nrecs, recs_cap;
	struct proc *procs;
	size_t nprocs, procs_cap;
	char *buf; /* maps text, reused from process to process */
	size_t buf_cap;
	char *dents;	 /* a descriptor directory's entries */
	bool no_procmap; /* the kernel has no PROCMAP_QUERY: read maps */
	struct holders_mounts mounts; /* the shmfs mounts we see */
};

/* Grows *p (of *cap elements of `size` bytes) to hold at least `need`. */
int shmblock__holders_grow(void *p, size_t *cap, size_t need, size_t size);

/* The index of the entry of (dev, ino), or -1. */
long shmblock__holders_find_index(const struct shmblock_holders *snap,
				  uint64_t dev, uint64_t ino);

/* Rebuilds the hash for the current entries, sized for at least `n`. */
int shmblock__holders_hash_rebuild(struct shmblock_holders *snap, size_t n);

/* Copies a stat's attributes into an entry. */
void shmblock__holders_fill_stat(struct shmblock_holders_entry *e,
				 const struct stat *st);

/* Adds an entry (its name `namelen` bytes); its index, or -ENOMEM. */
long shmblock__holders_add_entry(struct shmblock_holders *snap,
				 const char *name, size_t namelen, bool deleted,
				 uint64_t dev, uint64_t ino,
				 const struct stat *st);

/* Records that process `proc` holds entry `entry` (`how`). */
int shmblock__holders_add_rec(struct scan *sc, long entry, uint32_t proc,
			      unsigned how, int fd, uint64_t start,
			      uint64_t end);

/*
 * An inode of the directory's filesystem missing from the table, seen under
 * `path`: its new entry's index, -1 for "not ours", or -ENOMEM.
 */
long shmblock__holders_new_entry(struct scan *sc, const char *path, size_t len,
				 uint64_t dev, uint64_t ino,
				 const struct stat *st);

/*
 * A file of a shmfs mount (device `dev`, inode `ino`, `path` the text of
 * its /proc link or map line): its entry's index, or -1.
 */
long shmblock__holders_mounted_entry(struct scan *sc, uint64_t dev,
				     uint64_t ino, const char *path,
				     size_t len);

/* Step 3: sorts the entries and merges the records into holders. */
int shmblock__holders_finish(struct scan *sc);

#endif
