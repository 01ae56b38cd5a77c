/* SPDX-License-Identifier: MIT */
/* The kind of a top-level name, decided in one place (kind.h). */

#include <errno.h>
#include <fcntl.h>

#include "array_block.h"
#include "kind.h"
#include "list_block.h"
#include "shmblock.h"

/*
 * A "sem.*" file is a semaphore when the core reads it as one: by pread,
 * so a file truncated meanwhile is an error, never a SIGBUS.  -EAGAIN (it
 * kept changing under 16 reads) is a semaphore in use.  What the daemon
 * can't read or that is no semaphore is a plain block.
 */
static int sem_kind(const struct shmfs *fs, const char *shm_name,
		    const struct stat *st, enum shm_kind *kind)
{
	struct shmblock_sem_state state;
	int rc;

	*kind = SHM_KIND_PLAIN;
	if (st->st_size != SHMBLOCK_SEM_SIZE)
		return 0;
	rc = shmblock_sem_read_at(fs->dirfd, shm_name, &state);
	if (rc == 0 || rc == -EAGAIN)
		*kind = SHM_KIND_SEMAPHORE;
	else if (rc == -ENOENT || rc == -EINVAL || rc == -ELOOP)
		return -ENOENT;
	else if (rc != -EBADMSG && rc != -EACCES && rc != -ENOTSUP)
		return rc;
	return 0;
}

int shm_kind_of(const struct shmfs *fs, const char *shm_name, struct stat *st,
		enum shm_kind *kind)
{
	int rc;

	if (fstatat(fs->dirfd, shm_name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -ENOENT;
	if (shmfs_sem_name(shm_name))
		return sem_kind(fs, shm_name, st, kind);
	rc = list_block_test(fs, shm_name, st);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		*kind = SHM_KIND_LIST;
		return 0;
	}
	rc = array_block_test(fs, shm_name, st);
	if (rc < 0)
		return rc;
	*kind = rc == ARRAY_TEST_NPY	    ? SHM_KIND_ARRAY
		: rc == ARRAY_TEST_DECLARED ? SHM_KIND_DECLARED
					    : SHM_KIND_PLAIN;
	return 0;
}

enum node_kind shm_kind_node(enum shm_kind kind)
{
	if (kind == SHM_KIND_SEMAPHORE)
		return NODE_SEM;
	if (kind == SHM_KIND_ARRAY)
		return NODE_ARRAY;
	return kind == SHM_KIND_LIST ? NODE_LIST : NODE_BLOCK;
}

mode_t shm_kind_type(enum shm_kind kind)
{
	return kind == SHM_KIND_LIST ? S_IFDIR : S_IFREG;
}
