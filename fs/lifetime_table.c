/* SPDX-License-Identifier: MIT */
/* The lifetime enforcer's tables (lifetime_table.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifetime_table.h"

bool lifetime_needs_holders(const struct entry *e)
{
	return e->honoured && (e->lt.kind == SHMBLOCK_LIFETIME_LAST_HOLDER ||
			       e->lt.kind == SHMBLOCK_LIFETIME_IDLE);
}

void lifetime_block_path(const struct shmfs *fs, const char *name, char *path,
			 size_t len)
{
	snprintf(path, len, "/proc/self/fd/%d/%s", fs->dirfd, name);
}

/* ---- the two hash tables ---- */

static size_t name_slot(const struct lifetime *l, const char *name)
{
	return shmfs_name_hash(name) & (l->names.nb - 1);
}

static size_t pid_slot(const struct lifetime *l, pid_t pid)
{
	uint64_t h = (uint64_t)(uint32_t)pid * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (l->owners.nb - 1);
}

/* Doubles a table's buckets while it has fewer than half `count`. */
static void rehash(struct lifetime *l, struct table *t, size_t count,
		   bool names)
{
	size_t nb = t->nb ? t->nb : 64, oldnb = t->nb, i;
	void **b, **old = t->b;

	while (nb < count / 2)
		nb *= 2;
	if (t->b && nb == t->nb)
		return;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* chains get longer, lookups still work */
	t->b = b;
	t->nb = nb;
	for (i = 0; i < oldnb; i++) {
		void *p = old[i], *next;

		for (; p; p = next) {
			size_t slot;

			if (names) {
				struct entry *e = p;

				next = e->name_next;
				slot = name_slot(l, e->name);
				e->name_next = b[slot];
			} else {
				struct owner *o = p;

				next = o->next;
				slot = pid_slot(l, o->pid);
				o->next = b[slot];
			}
			b[slot] = p;
		}
	}
	free(old);
}

struct entry *lifetime_find(struct lifetime *l, const char *name)
{
	struct entry *e;

	if (!l->names.nb)
		return NULL;
	for (e = l->names.b[name_slot(l, name)]; e; e = e->name_next)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}

struct owner *lifetime_owner(struct lifetime *l, pid_t pid)
{
	struct owner *o;

	if (!l->owners.nb)
		return NULL;
	for (o = l->owners.b[pid_slot(l, pid)]; o; o = o->next)
		if (o->pid == pid)
			return o;
	return NULL;
}

/* Detaches `e` from its owner, freeing an owner left with no block. */
static void owner_detach(struct lifetime *l, struct entry *e)
{
	struct owner *o = e->owner, **op;
	struct entry **ep;

	if (!o)
		return;
	for (ep = &o->entries; *ep; ep = &(*ep)->owner_next)
		if (*ep == e) {
			*ep = e->owner_next;
			break;
		}
	e->owner = NULL;
	if (o->entries)
		return;
	for (op = (struct owner **)&l->owners.b[pid_slot(l, o->pid)]; *op;
	     op = &(*op)->next)
		if (*op == o) {
			*op = o->next;
			break;
		}
	l->nowners--;
	free(o);
}

int lifetime_owner_attach(struct lifetime *l, struct entry *e)
{
	struct owner *o = lifetime_owner(l, e->lt.pid);
	size_t slot;

	if (o && o->start != e->lt.start_time)
		o = NULL; /* another process had the pid: never both live */
	if (!o) {
		rehash(l, &l->owners, l->nowners + 1, false);
		if (!l->owners.nb)
			return -ENOMEM;
		o = calloc(1, sizeof(*o));
		if (!o)
			return -ENOMEM;
		o->pid = e->lt.pid;
		o->start = e->lt.start_time;
		slot = pid_slot(l, o->pid);
		o->next = l->owners.b[slot];
		l->owners.b[slot] = o;
		l->nowners++;
	}
	e->owner = o;
	e->owner_next = o->entries;
	o->entries = e;
	return 0;
}

void lifetime_drop(struct lifetime *l, struct entry *e)
{
	struct entry **ep;

	owner_detach(l, e);
	if (lifetime_needs_holders(e))
		l->nholders_pol--;
	for (ep = (struct entry **)&l->names.b[name_slot(l, e->name)]; *ep;
	     ep = &(*ep)->name_next)
		if (*ep == e) {
			*ep = e->name_next;
			break;
		}
	l->all[e->index] = l->all[--l->n];
	l->all[e->index]->index = e->index;
	free(e);
}

struct entry *lifetime_add(struct lifetime *l, const char *name)
{
	struct entry *e;
	size_t slot;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct entry **p = realloc(l->all, cap * sizeof(*p));

		if (!p)
			return NULL;
		l->all = p;
		l->cap = cap;
	}
	rehash(l, &l->names, l->n + 1, true);
	e = l->names.nb ? calloc(1, sizeof(*e)) : NULL;
	if (!e)
		return NULL;
	snprintf(e->name, sizeof(e->name), "%s", name);
	slot = name_slot(l, name);
	e->name_next = l->names.b[slot];
	l->names.b[slot] = e;
	e->index = l->n;
	l->all[l->n++] = e;
	return e;
}
