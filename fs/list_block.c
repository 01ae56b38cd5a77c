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
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "inode.h"
#include "list_block.h"

int list_snap_take(int fd, bool known, struct list_snap *snap)
{
	int rc;

	memset(snap, 0, sizeof(*snap));
	snap->fd = fd;
	/* The core's settled probe: one retry loop, one back-off. */
	rc = shmblock_slist_probe_settled(fd, LIST_MAX_BLOCK,
					  known ? SHMBLOCK_SETTLE_KNOWN : 0,
					  &snap->st, &snap->lay);
	if (rc < 0) {
		list_snap_free(snap);
		return rc;
	}
	snap->len = (size_t)snap->st.st_size;
	snap->shallow = rc == 1;
	return 0;
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
	    !shmblock_stat_backed(st))
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
