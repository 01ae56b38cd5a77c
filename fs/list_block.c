/* SPDX-License-Identifier: MIT */
/* List blocks, read only: private copies of a block, and whether it is a list. */

/*
 * The daemon never maps a block.  Everything it knows about a list comes
 * from a private pread copy validated by the core (shmblock_slist_validate),
 * so a block that another process truncates, grows or scribbles on while we
 * look can only make a copy fail validation, never make the daemon read out
 * of bounds or take a SIGBUS.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "list_block.h"

/* Copies of a block whose size keeps changing are given up after this. */
#define SNAP_TRIES 8
/* Copies of a block that keeps changing, for a stable snapshot. */
#define STABLE_TRIES 16
/* 3.8 item sizes read at a time by the probe. */
#define PROBE_CHUNK 256

/* Reads exactly len bytes at off; -EAGAIN when the file is shorter now. */
static int pread_full(int fd, void *buf, size_t len, off_t off)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EAGAIN;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

void list_snap_free(struct list_snap *snap)
{
	shmblock_slist_layout_free(snap->lay);
	free(snap->buf);
	memset(snap, 0, sizeof(*snap));
}

/* One copy of the whole block, of the size it had before and after. */
static int copy_block(int fd, struct list_snap *snap)
{
	struct stat after;
	int rc, tries;

	for (tries = 0; tries < SNAP_TRIES; tries++) {
		if (fstat(fd, &snap->st) < 0)
			return -errno;
		if (snap->st.st_size < 8 ||
		    (uint64_t)snap->st.st_size > LIST_MAX_BLOCK)
			return -EBADMSG;
		free(snap->buf);
		snap->len = (size_t)snap->st.st_size;
		snap->buf = malloc(snap->len);
		if (!snap->buf)
			return -ENOMEM;
		rc = pread_full(fd, snap->buf, snap->len, 0);
		if (rc == -EAGAIN)
			continue;       /* shrunk under us: again */
		if (rc < 0)
			return rc;
		if (fstat(fd, &after) < 0)
			return -errno;
		if (after.st_size == snap->st.st_size)
			return 0;
	}
	return -EAGAIN;
}

int list_snap_take(int fd, bool stable, struct list_snap *snap)
{
	struct list_snap other = { 0 };
	int rc, tries;

	memset(snap, 0, sizeof(*snap));
	rc = copy_block(fd, snap);
	for (tries = 0; stable && rc == 0; tries++) {
		if (tries == STABLE_TRIES) {
			rc = -EAGAIN;
			break;
		}
		rc = copy_block(fd, &other);
		if (rc < 0)
			break;
		if (other.len == snap->len &&
		    !memcmp(other.buf, snap->buf, snap->len))
			break;
		/* Changed between the two copies: keep the newer, read again. */
		free(snap->buf);
		*snap = other;
		memset(&other, 0, sizeof(other));
	}
	free(other.buf);
	if (rc == 0)
		rc = shmblock_slist_validate(snap->buf, snap->len, &snap->lay);
	if (rc < 0)
		list_snap_free(snap);
	return rc;
}

/* The 8-byte native integer at `off`, or -EAGAIN past the end. */
static int read_i64(int fd, off_t off, int64_t *out)
{
	return pread_full(fd, out, sizeof(*out), off);
}

/*
 * Cheap checks on the header alone: the count fits the size, and the sizes
 * the header implies (3.9+: 16 + 8N + D + 9N with D the last offset; 3.8:
 * 8 + 8N + sum of the item sizes + 9N) match the block.  Returns 1 when the
 * block may be a list, 0 when it can't, or -errno.
 */
static int probe_header(int fd, uint64_t size)
{
	int64_t n, last, first, item, sizes[PROBE_CHUNK];
	uint64_t i, count, sum;
	int rc;

	rc = read_i64(fd, 0, &n);
	if (rc < 0)
		return rc == -EAGAIN ? 0 : rc;
	if (n < 0 || (uint64_t)n > (size - 8) / 17)
		return 0;
	count = (uint64_t)n;
	if (16 + 8 * count + 9 * count <= size) {
		rc = read_i64(fd, (off_t)(8 + 8 * count), &last);
		if (rc < 0)
			return rc == -EAGAIN ? 0 : rc;
		if (last >= 0 && (uint64_t)last <= size &&
		    16 + 17 * count + (uint64_t)last == size)
			return 1;
	}
	if (count == 0)
		return size == 8;       /* 3.8's empty list */
	rc = read_i64(fd, 8, &first);
	if (rc < 0)
		return rc == -EAGAIN ? 0 : rc;
	if (first <= 0)
		return 0;               /* 3.9's offsets start at 0 */
	for (i = 0, sum = 0; i < count; i++) {
		if (i % PROBE_CHUNK == 0) {
			uint64_t k = count - i < PROBE_CHUNK ? count - i
							     : PROBE_CHUNK;

			rc = pread_full(fd, sizes, k * 8, (off_t)(8 + 8 * i));
			if (rc < 0)
				return rc == -EAGAIN ? 0 : rc;
		}
		memcpy(&item, &sizes[i % PROBE_CHUNK], sizeof(item));
		if (item < 0 || (uint64_t)item > size - sum)
			return 0;
		sum += (uint64_t)item;
	}
	return 8 + 17 * count + sum == size;
}

int list_probe(int fd, const struct stat *st)
{
	struct list_snap snap;
	char mark[8];
	bool empty;
	int rc;

	if (!S_ISREG(st->st_mode) || st->st_size < 8 ||
	    (uint64_t)st->st_size > LIST_MAX_BLOCK)
		return 0;
	rc = probe_header(fd, (uint64_t)st->st_size);
	if (rc <= 0)
		return rc;
	rc = list_snap_take(fd, false, &snap);
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

int list_block_open(const struct shmfs *fs, const char *shm_name,
		    bool *read_only)
{
	const int flags = O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	struct stat st;
	int fd, rc;

	*read_only = false;
	fd = openat(fs->dirfd, shm_name, O_RDWR | flags);
	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
		*read_only = true;
		fd = openat(fs->dirfd, shm_name, O_RDONLY | flags);
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

int list_classify(const struct shmfs *fs, const char *shm_name,
		  struct stat *st)
{
	int fd, rc;

	/* Most blocks are ruled out by their size, without opening them. */
	if (fstatat(fs->dirfd, shm_name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -ENOENT;
	if (st->st_size < 8 || (uint64_t)st->st_size > LIST_MAX_BLOCK)
		return 0;
	fd = openat(fs->dirfd, shm_name,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		/* Unreadable by the daemon: it can't show it as a list. */
		return errno == ENOENT ? -ENOENT : 0;
	if (fstat(fd, st) < 0) {
		rc = -errno;
	} else if (!S_ISREG(st->st_mode)) {
		rc = -ENOENT;
	} else {
		rc = list_probe(fd, st);
		if (rc < 0 && rc != -ENOMEM)
			rc = 0;
	}
	close(fd);
	return rc;
}
