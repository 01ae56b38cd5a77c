/* SPDX-License-Identifier: MIT */
/* The owners of owner= policies (lifetime_owners.h). */

#include <stdlib.h>
#include <string.h>

#include "lifetime_learn.h"
#include "lifetime_owners.h"
#include "procwatch.h"

/* Rechecks of an owner after an exit event: 1 ms, doubling to 1 s. */
#define RECHECK_FIRST_NS 1000000ull
#define RECHECK_LAST_NS 1000000000ull
/* More owners waiting for a second look than this: look at them all. */
#define RECHECK_MAX 4096

static void recheck_add(struct lifetime *l, pid_t pid, uint64_t gap)
{
	size_t i;

	for (i = 0; i < l->nrechecks; i++)
		if (l->rechecks[i].pid == pid)
			return;
	if (l->nrechecks == l->cap_rechecks) {
		size_t cap = l->cap_rechecks ? 2 * l->cap_rechecks : 16;
		struct recheck *p;

		p = cap <= RECHECK_MAX ? realloc(l->rechecks, cap * sizeof(*p))
				       : NULL;
		if (!p) {
			l->sweep_owners = true;
			return;
		}
		l->rechecks = p;
		l->cap_rechecks = cap;
	}
	l->rechecks[l->nrechecks++] =
		(struct recheck){ pid, shmfs_now_ns() + gap, gap };
}

/*
 * Looks at owner `pid`: 1 exited (its blocks are removed), 0 running, or
 * -errno when it can't tell (nothing is removed).
 */
static int look_at_owner(struct lifetime *l, pid_t pid)
{
	struct owner *o = lifetime_owner(l, pid);
	char **names;
	size_t n = 0, i;
	struct entry *e;
	uint64_t start;
	int rc;

	if (!o)
		return 0;
	start = o->start;
	rc = procwatch_exited(pid, start);
	if (rc != 1)
		return rc;
	for (e = o->entries; e; e = e->owner_next)
		n++;
	/* Removing may reread a name and change the owner's list. */
	names = calloc(n, sizeof(*names));
	for (i = 0, e = o->entries; names && e; e = e->owner_next)
		names[i++] = strdup(e->name);
	for (i = 0; names && i < n; i++) {
		e = names[i] ? lifetime_find(l, names[i]) : NULL;
		if (e && e->owner && e->owner->pid == pid &&
		    e->owner->start == start)
			lifetime_remove_owned(l, e, "its owner has exited");
		free(names[i]);
	}
	free(names);
	return 1;
}

void lifetime_on_exit(void *arg, pid_t tgid)
{
	struct lifetime *l = arg;

	if (!tgid)
		l->sweep_owners = true;
	else if (lifetime_owner(l, tgid))
		recheck_add(l, tgid, 0);
}

void lifetime_sweep_owners(struct lifetime *l)
{
	pid_t *pids;
	size_t i, n = 0, b;
	struct owner *o;
	bool unsure = false;

	l->sweep_owners = false;
	pids = calloc(l->nowners + 1, sizeof(*pids));
	if (!pids) {
		l->sweep_owners = true;
		return;
	}
	for (b = 0; b < l->owners.nb; b++)
		for (o = l->owners.b[b]; o; o = o->next)
			pids[n++] = o->pid;
	for (i = 0; i < n; i++)
		if (look_at_owner(l, pids[i]) < 0)
			unsure = true;
	free(pids);
	/* Some could not be looked at: again at the next sweep. */
	if (unsure)
		l->sweep_owners = true;
	l->next_sweep_ns = shmfs_now_ns() + l->period_ns;
}

void lifetime_do_rechecks(struct lifetime *l, uint64_t now)
{
	size_t i;

	for (i = 0; i < l->nrechecks;) {
		struct recheck *r = &l->rechecks[i];
		int rc;

		if (r->due_ns > now) {
			i++;
			continue;
		}
		rc = look_at_owner(l, r->pid);
		r = &l->rechecks[i];
		/* Running: again a little later, until it is clearly so. */
		if (rc == 0 || rc < 0) {
			r->gap_ns = r->gap_ns ? 2 * r->gap_ns
					      : RECHECK_FIRST_NS;
			if (rc < 0 && r->gap_ns > RECHECK_LAST_NS)
				r->gap_ns = RECHECK_LAST_NS;
			if (r->gap_ns <= RECHECK_LAST_NS) {
				r->due_ns = now + r->gap_ns;
				i++;
				continue;
			}
		}
		l->rechecks[i] = l->rechecks[--l->nrechecks];
	}
}

uint64_t lifetime_recheck_due(const struct lifetime *l)
{
	uint64_t due = 0;
	size_t i;

	for (i = 0; i < l->nrechecks; i++)
		if (!due || l->rechecks[i].due_ns < due)
			due = l->rechecks[i].due_ns;
	return due;
}
