/* SPDX-License-Identifier: MIT */
/* The kind of a top-level name, decided in one place (kind.h). */

#include <errno.h>
#include <fcntl.h>

#include "kind.h"
#include "list_block.h"

int shm_kind_of(const struct shmfs *fs, const char *shm_name, struct stat *st,
		enum shm_kind *kind)
{
	int rc;

	if (fstatat(fs->dirfd, shm_name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -ENOENT;
	rc = list_block_test(fs, shm_name, st);
	if (rc < 0)
		return rc;
	*kind = rc == 1 ? SHM_KIND_LIST : SHM_KIND_PLAIN;
	return 0;
}

enum node_kind shm_kind_node(enum shm_kind kind)
{
	return kind == SHM_KIND_LIST ? NODE_LIST : NODE_BLOCK;
}

mode_t shm_kind_type(enum shm_kind kind)
{
	return kind == SHM_KIND_LIST ? S_IFDIR : S_IFREG;
}
