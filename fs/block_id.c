/* SPDX-License-Identifier: MIT */
/* A block's identity (block_id.h). */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "block_id.h"

static int id_at(int dirfd, const char *name, int flags, struct block_id *id)
{
	struct statx stx;

	if (statx(dirfd, name, flags | AT_STATX_SYNC_AS_STAT,
		  STATX_TYPE | STATX_MODE | STATX_INO | STATX_BTIME, &stx) < 0)
		return -errno;
	memset(id, 0, sizeof(*id));
	id->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	id->ino = stx.stx_ino;
	if (stx.stx_mask & STATX_BTIME) {
		id->btime_sec = stx.stx_btime.tv_sec;
		id->btime_nsec = stx.stx_btime.tv_nsec;
	}
	id->mode = stx.stx_mode;
	return 0;
}

int block_id_of(int dirfd, const char *name, struct block_id *id)
{
	return id_at(dirfd, name, AT_SYMLINK_NOFOLLOW, id);
}

int block_id_fd(int fd, struct block_id *id)
{
	return id_at(fd, "", AT_EMPTY_PATH, id);
}

bool block_id_same(const struct block_id *a, const struct block_id *b)
{
	return a->dev == b->dev && a->ino == b->ino &&
	       a->btime_sec == b->btime_sec && a->btime_nsec == b->btime_nsec;
}
