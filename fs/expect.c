/* SPDX-License-Identifier: MIT */
/* The namespace events the mount causes itself (expect.h). */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "fs.h"

struct expected_event {
	struct expected_event *next;
	uint32_t mask;
	char name[];
};

struct expect_set {
	pthread_mutex_t lock; /* protects `head` */
	struct expected_event *head;
	_Atomic uint64_t last_own_ns; /* the mount's last change of its own */
};

void expect_note_write(struct expect_set *set)
{
	atomic_store_explicit(&set->last_own_ns, shmfs_now_ns(),
			      memory_order_relaxed);
}

bool expect_recent(const struct expect_set *set, uint64_t now_ns,
		   uint64_t window_ns)
{
	uint64_t last =
		atomic_load_explicit(&set->last_own_ns, memory_order_relaxed);

	return last && now_ns - last < window_ns;
}

int expect_set_create(struct expect_set **out)
{
	struct expect_set *set = calloc(1, sizeof(*set));

	if (!set)
		return -ENOMEM;
	pthread_mutex_init(&set->lock, NULL);
	*out = set;
	return 0;
}

void expect_set_free(struct expect_set *set)
{
	if (!set)
		return;
	expect_clear(set);
	pthread_mutex_destroy(&set->lock);
	free(set);
}

void expect_add(struct expect_set *set, const char *shm_name, uint32_t mask)
{
	size_t len = strlen(shm_name) + 1;
	struct expected_event *e;

	expect_note_write(set);
	e = malloc(sizeof(*e) + len);
	if (!e)
		return;
	e->mask = mask;
	memcpy(e->name, shm_name, len);
	pthread_mutex_lock(&set->lock);
	e->next = set->head;
	set->head = e;
	pthread_mutex_unlock(&set->lock);
}

bool expect_take(struct expect_set *set, const char *shm_name, uint32_t mask)
{
	struct expected_event **p, *e;
	bool found = false;

	pthread_mutex_lock(&set->lock);
	for (p = &set->head; (e = *p); p = &e->next) {
		if ((e->mask & mask) && !strcmp(e->name, shm_name)) {
			*p = e->next;
			free(e);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&set->lock);
	return found;
}

void expect_clear(struct expect_set *set)
{
	struct expected_event *e;

	pthread_mutex_lock(&set->lock);
	while ((e = set->head)) {
		set->head = e->next;
		free(e);
	}
	pthread_mutex_unlock(&set->lock);
}
