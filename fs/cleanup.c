/* SPDX-License-Identifier: MIT */
/* -o cleanup: the blocks this mount created, unlinked when it unmounts. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block_id.h"
#include "cleanup.h"
#include "shmblock.h"

struct created_set {
	pthread_mutex_t lock; /* protects everything below */
	struct block_id *ids;
	size_t count, capacity;
};

int created_set_create(struct created_set **out)
{
	struct created_set *set = calloc(1, sizeof(*set));

	if (!set)
		return -ENOMEM;
	pthread_mutex_init(&set->lock, NULL);
	*out = set;
	return 0;
}

void created_set_free(struct created_set *set)
{
	if (!set)
		return;
	pthread_mutex_destroy(&set->lock);
	free(set->ids);
	free(set);
}

/* A regular file's identity, `rc` from block_id_*: -EINVAL for any other. */
static int regular(int rc, const struct block_id *id)
{
	return rc == 0 && !S_ISREG(id->mode) ? -EINVAL : rc;
}

int created_set_add(struct created_set *set, int fd)
{
	struct block_id id;
	int rc = regular(block_id_fd(fd, &id), &id);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&set->lock);
	if (set->count == set->capacity) {
		size_t cap = set->capacity ? set->capacity * 2 : 16;
		struct block_id *ids = realloc(set->ids, cap * sizeof(*ids));

		if (!ids) {
			pthread_mutex_unlock(&set->lock);
			return -ENOMEM;
		}
		set->ids = ids;
		set->capacity = cap;
	}
	set->ids[set->count++] = id;
	pthread_mutex_unlock(&set->lock);
	return 0;
}

void created_set_remove(struct created_set *set, dev_t dev, ino_t ino)
{
	size_t i;

	pthread_mutex_lock(&set->lock);
	for (i = 0; i < set->count; i++) {
		if (set->ids[i].dev == dev && set->ids[i].ino == ino) {
			set->ids[i] = set->ids[--set->count];
			break;
		}
	}
	pthread_mutex_unlock(&set->lock);
}

static bool contains(struct created_set *set, const struct block_id *id)
{
	size_t i;

	for (i = 0; i < set->count; i++)
		if (block_id_same(&set->ids[i], id))
			return true;
	return false;
}

bool created_set_has_fd(struct created_set *set, int fd)
{
	struct block_id id;
	bool found;

	if (regular(block_id_fd(fd, &id), &id) < 0)
		return false;
	pthread_mutex_lock(&set->lock);
	found = contains(set, &id);
	pthread_mutex_unlock(&set->lock);
	return found;
}

/* Unlinks `name` if it is one of the set's; returns 1 if it did. */
static int unlink_ours(struct created_set *set, int dirfd, const char *name)
{
	struct block_id id;

	if (regular(block_id_of(dirfd, name, &id), &id) < 0)
		return 0;
	return contains(set, &id) && shmblock_unlink_name_at(dirfd, name) == 0;
}

/*
 * The semaphores made through the mount, "sem." `prefix` "NAME" (the
 * core's listing leaves sem.* out).  Returns how many were unlinked or
 * -errno.
 */
static int unlink_sems(struct created_set *set, int dirfd, const char *prefix)
{
	size_t plen = strlen(prefix), sem = strlen("sem.");
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int done = 0, rc;

	if (!dir) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while ((errno = 0, de = readdir(dir)))
		if (!strncmp(de->d_name, "sem.", sem) &&
		    !strncmp(de->d_name + sem, prefix, plen) &&
		    de->d_name[sem + plen])
			done += unlink_ours(set, dirfd, de->d_name);
	rc = -errno;
	closedir(dir);
	return rc < 0 ? rc : done;
}

int created_set_unlink_all(struct created_set *set, int dirfd,
			   const char *prefix)
{
	struct shmblock_list *it;
	const char *name;
	size_t plen = strlen(prefix);
	int rc, done = 0;

	rc = shmblock_list_open(dirfd, &it);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&set->lock);
	while ((rc = shmblock_list_next(it, &name)) > 0) {
		if (strncmp(name, prefix, plen) || !name[plen])
			continue;
		done += unlink_ours(set, dirfd, name);
	}
	shmblock_list_close(it);
	if (rc == 0) {
		rc = unlink_sems(set, dirfd, prefix);
		done += rc > 0 ? rc : 0;
	}
	pthread_mutex_unlock(&set->lock);
	return rc < 0 ? rc : done;
}
