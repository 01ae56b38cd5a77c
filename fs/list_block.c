/* SPDX-License-Identifier: MIT */
/* List blocks, read only: a block's layout, its items, and whether it is a list. */

/*
 * The daemon never maps a block.  Everything it knows about a list comes
 * from preads checked by the core (the header walker and the per-item
 * reads), so a block that another process truncates, grows or scribbles on
 * while we look can only make a read fail, never make the daemon read out
 * of bounds or take a SIGBUS.  It reads the header and tables, then only
 * the items a request needs, so a request costs what the list holds.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "inode.h"
#include "list_block.h"

/* Probes of a block whose header is a list's but whose tables are not. */
#define PROBE_TRIES 8

/*
 * Whether the block's size is backed by memory.  Every page of a list that
 * CPython, the core or the mount made has been written (the struct packing
 * writes every slot), so its allocated size covers all its whole pages.  A
 * sparse block that claims a list of 256 MiB may cost its maker 4 KiB; it
 * is a plain block here, and the daemon never reads its holes.
 */
static bool backed(const struct stat *st)
{
	uint64_t whole = (uint64_t)st->st_size & ~(uint64_t)4095;

	return (uint64_t)st->st_blocks * 512 >= whole;
}

/* Sleeps a little longer each try: a writer preempted midway finishes. */
static void back_off(int tries)
{
	struct timespec ts = { 0, 50000L << (tries < 6 ? tries : 6) };

	if (tries == 0)
		sched_yield();
	else
		nanosleep(&ts, NULL);
}

/* Whether 8 bytes are one of CPython's formats for a slot of `cap`. */
static bool format_shape(const unsigned char f[8], uint64_t cap)
{
	static const char *const scalars[] = { "q", "d", "xxxxxxx?",
					       "xxxxxx?x" };
	char want[24];
	size_t i;

	/* NUL padded to 8 bytes, every byte compared. */
	for (i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		memset(want, 0, sizeof(want));
		strcpy(want, scalars[i]);
		if (!memcmp(f, want, 8))
			return true;
	}
	memset(want, 0, sizeof(want));
	snprintf(want, sizeof(want), "%llus", (unsigned long long)cap);
	return want[8] == '\0' && !memcmp(f, want, 8);
}

/*
 * Whether tables that fail validation are what CPython's store leaves for
 * an instant: it zero-fills an item's format (struct.pack_into), writes the
 * new one, then the code; so each item's format is zero or one of the
 * formats its slot may have, and its code is any of the four, agreeing or
 * not.  Anything else is no list being stored into.  Read in bounded
 * chunks; false when the tables can't be read.
 */
static bool torn_like(int fd, const struct shmblock_slist_layout *lay)
{
	static const unsigned char zero[8];
	unsigned char fmt[8 * 256], code[256];
	uint64_t i, k, n;

	for (i = 0; i < lay->count; i += n) {
		n = lay->count - i < 256 ? lay->count - i : 256;
		if (pread(fd, fmt, 8 * n,
			  (off_t)(lay->formats_offset + 8 * i)) !=
			    (ssize_t)(8 * n) ||
		    pread(fd, code, n, (off_t)(lay->codes_offset + i)) !=
			    (ssize_t)n)
			return false;
		for (k = 0; k < n; k++) {
			if (code[k] > 3)
				return false;
			if (memcmp(&fmt[8 * k], zero, 8) &&
			    !format_shape(&fmt[8 * k],
					  lay->items[i + k].capacity))
				return false;
		}
	}
	return true;
}

/*
 * The deep probe, with the block's size read afresh.  -ENOTSUP: its size
 * rules a list out, and nothing of it is read.
 */
static int probe(int fd, struct list_snap *snap)
{
	if (fstat(fd, &snap->st) < 0)
		return -errno;
	if (snap->st.st_size < 8 ||
	    (uint64_t)snap->st.st_size > LIST_MAX_BLOCK || !backed(&snap->st))
		return -ENOTSUP;
	snap->len = (size_t)snap->st.st_size;
	return shmblock_slist_probe_fd(fd, (uint64_t)snap->len, 0, &snap->lay);
}

int list_snap_take(int fd, bool known, struct list_snap *snap)
{
	struct shmblock_slist_layout *shallow = NULL;
	int rc, tries;

	memset(snap, 0, sizeof(*snap));
	snap->fd = fd;
	for (tries = 0;; tries++) {
		rc = probe(fd, snap);
		if (rc != -EBADMSG && rc != -EAGAIN)
			break;
		if (rc == -EBADMSG) {
			/* Broken tables under a list's header: a store half done? */
			shmblock_slist_layout_free(shallow);
			shallow = NULL;
			if (shmblock_slist_probe_fd(fd, (uint64_t)snap->len,
						    SHMBLOCK_PROBE_SHALLOW,
						    &shallow) < 0)
				break;
			if (!known && !torn_like(fd, shallow)) {
				shmblock_slist_layout_free(shallow);
				shallow = NULL;
				break;
			}
		}
		if (tries == PROBE_TRIES)
			break;
		back_off(tries);
	}
	if (rc == -ENOTSUP)
		rc = -EBADMSG;
	/*
	 * Tables torn the way a store tears them through every try (a writer
	 * storing in a loop, or preempted midway through a store): still a
	 * list, and so is a block known as one.
	 */
	if (rc == -EBADMSG && shallow) {
		snap->lay = shallow;
		shallow = NULL;
		snap->shallow = true;
		rc = 0;
	}
	shmblock_slist_layout_free(shallow);
	if (rc < 0)
		list_snap_free(snap);
	return rc;
}

int list_snap_type(const struct list_snap *snap, uint64_t index)
{
	struct shmblock_value v;
	char *owned;
	int rc;

	if (index >= snap->lay->count)
		return -ERANGE;
	if (!snap->shallow)
		return (int)snap->lay->items[index].type;
	rc = list_snap_read(snap, index, &v, &owned);
	free(owned);
	return rc < 0 ? rc : (int)v.type;
}

void list_snap_free(struct list_snap *snap)
{
	shmblock_slist_layout_free(snap->lay);
	free(snap->buf);
	memset(snap, 0, sizeof(*snap));
	snap->fd = -1;
}

int list_snap_read(const struct list_snap *snap, uint64_t index,
		   struct shmblock_value *v, char **owned)
{
	size_t cap;
	int rc;

	*owned = NULL;
	if (index >= snap->lay->count)
		return -ERANGE;
	if (snap->buf)
		return shmblock_slist_read(snap->lay, snap->buf, snap->len,
					   index, v);
	/* A str or bytes value is at most its slot; scalars need no room. */
	cap = (size_t)snap->lay->items[index].capacity;
	*owned = malloc(cap ? cap : 1);
	if (!*owned)
		return -ENOMEM;
	rc = shmblock_slist_get_fd(snap->fd, snap->lay, index, v, *owned, cap);
	/*
	 * Ill-formed on every try of a list that is one: a store preempted
	 * midway (a zeroed format) for longer than the tries; again later.
	 */
	if (rc == -EBADMSG)
		rc = -EAGAIN;
	if (rc < 0 ||
	    (v->type != SHMBLOCK_TYPE_STR && v->type != SHMBLOCK_TYPE_BYTES)) {
		free(*owned);
		*owned = NULL;
	}
	return rc;
}

int list_probe(int fd, const struct stat *st, bool known)
{
	struct list_snap snap;
	char mark[8];
	bool empty;
	int rc;

	if (!S_ISREG(st->st_mode) || st->st_size < 8 ||
	    (uint64_t)st->st_size > LIST_MAX_BLOCK)
		return 0;
	rc = list_snap_take(fd, known, &snap);
	if (rc == -EBADMSG || rc == -EAGAIN)
		return 0;
	if (rc < 0)
		return rc;
	empty = snap.lay->count == 0;
	list_snap_free(&snap);
	if (!empty)
		return 1;
	/* Zeros are an empty list too: only mkdir's mark makes them one. */
	return fgetxattr(fd, LIST_XATTR, mark, sizeof(mark)) > 0;
}

/*
 * Opens a block for the daemon's own reads.  O_NOATIME: looking at a block
 * to show it is not a read by anyone, and tmpfs leaves atime alone when
 * nobody reads (only the owner or CAP_FOWNER may ask, so a daemon that is
 * not root opens others' blocks without it).
 */
static int open_own(const struct shmfs *fs, const char *shm_name, int flags)
{
	int fd;

	flags |= O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	fd = openat(fs->dirfd, shm_name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(fs->dirfd, shm_name, flags);
	return fd;
}

int list_block_open(const struct shmfs *fs, const char *shm_name,
		    bool *read_only)
{
	struct stat st;
	int fd, rc;

	*read_only = false;
	fd = open_own(fs, shm_name, O_RDWR);
	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
		*read_only = true;
		fd = open_own(fs, shm_name, O_RDONLY);
	}
	if (fd < 0)
		return errno == ELOOP || errno == ENXIO ? -ENOENT : -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

int list_block_test(const struct shmfs *fs, const char *shm_name,
		    struct stat *st)
{
	int fd, rc;

	/* Most blocks are ruled out by their size, without opening them. */
	if (st->st_size < 8 || (uint64_t)st->st_size > LIST_MAX_BLOCK ||
	    !backed(st))
		return 0;
	fd = open_own(fs, shm_name, O_RDONLY);
	if (fd < 0)
		/* Unreadable by the daemon: it can't show it as a list. */
		return errno == ENOENT ? -ENOENT : 0;
	if (fstat(fd, st) < 0) {
		rc = -errno;
	} else if (!S_ISREG(st->st_mode)) {
		rc = -ENOENT;
	} else {
		/* The kernel knows it as a list: a torn look changes no kind. */
		rc = list_probe(fd, st,
				inode_has_other_kind(fs->inodes, st->st_dev,
						     st->st_ino, NODE_BLOCK));
		if (rc < 0 && rc != -ENOMEM)
			rc = 0;
	}
	close(fd);
	return rc;
}
