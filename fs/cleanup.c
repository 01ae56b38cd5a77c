/* SPDX-License-Identifier: MIT */
/* -o cleanup: the blocks this mount created, unlinked when it unmounts. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int created_set_unlink_all(struct created_set *set, int dirfd,
			   const char *prefix)
{
	struct shmblock_list *it;
	struct block_id id;
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
		if (regular(block_id_of(dirfd, name, &id), &id) < 0)
			continue;
		if (contains(set, &id) &&
		    shmblock_unlink_name_at(dirfd, name) == 0)
			done++;
	}
	pthread_mutex_unlock(&set->lock);
	shmblock_list_close(it);
	return rc < 0 ? rc : done;
}
