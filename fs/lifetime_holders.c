/* SPDX-License-Identifier: MIT */
/* Holders policies judged on scans (lifetime_holders.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "holders_cache.h"
#include "holders_doubt.h"
#include "inode.h"
#include "lifetime_holders.h"
#include "lifetime_learn.h"
#include "shmblock.h"
#include "shmdir.h"

/* The number of processes other than the daemon that hold `he`. */
static size_t others(const struct shmblock_holders_entry *he)
{
	size_t i, n = 0;

	for (i = 0; he && i < he->nholders; i++)
		n += he->holders[i].pid != getpid();
	return n;
}

/*
 * Marks a last-holder block as held once, for the next daemon: through a
 * descriptor checked to be of that block, never by a name that may have
 * changed meanwhile.
 */
static void mark_held(struct lifetime *l, struct entry *e)
{
	struct block_id id;
	int fd = openat(l->fs->dirfd, e->name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOATIME |
				O_CLOEXEC);

	if (fd < 0)
		return;
	if (block_id_fd(fd, &id) == 0 && block_id_same(&id, &e->id))
		fsetxattr(fd, LIFETIME_XATTR_HELD, "1", 1, 0);
	close(fd);
}

/* A block taken for removal (shmdir_take). */
struct taken {
	struct entry *e;
	char tmp[NAME_MAX + 1];
};

/*
 * Removes the blocks of `cand` that no one holds: each is taken under a
 * private name (no one opens it by name after that), then one scan
 * started after all the takes says which are still unheld.
 */
static void remove_unheld(struct lifetime *l, struct entry **cand, size_t n)
{
	struct taken *t = calloc(n, sizeof(*t));
	struct shmblock_holders *snap = NULL;
	size_t i, nt = 0;
	char why[160];
	int rc;

	if (!t)
		return;
	for (i = 0; i < n; i++) {
		struct entry *e = cand[i];

		rc = shmdir_take(l->fs, e->name, &e->id,
				 SHMBLOCK_XATTR_LIFETIME, e->value, t[nt].tmp);
		if (rc == 0) {
			t[nt++].e = e;
			continue;
		}
		lifetime_log_kept(l, e, rc);
		cand[i] = NULL; /* forgotten below, after the scan */
	}
	rc = nt ? shmblock_holders_scan(l->fs->dirfd,
					SHMBLOCK_HOLDERS_NO_DELETED, &snap)
		: 0;
	if (rc < 0)
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: holders scan: %s; nothing removed",
			  strerror(-rc));
	for (i = 0; i < nt; i++) {
		struct entry *e = t[i].e;
		bool held = !snap ||
			    shmdir_held(l->fs, snap, &e->id, why, sizeof(why));

		if (held) {
			shmdir_settle(l->fs, e->name, t[i].tmp, &e->id, false);
			e->busy_ns = shmfs_now_ns();
			continue;
		}
		rc = shmdir_settle(l->fs, e->name, t[i].tmp, &e->id, true);
		if (rc == 0)
			lifetime_log_removed(l, e->name, &e->id, e->value,
					     lifetime_reason(e));
		else
			lifetime_log_kept(l, e, rc);
		lifetime_forget(l, e);
	}
	shmblock_holders_free(snap);
	free(t);
}

/* Judges every holders policy on scan `snap`. */
static void judge_scan(struct lifetime *l, struct shmblock_holders *snap)
{
	struct shmblock_holders_stats stats;
	struct entry **cand = NULL;
	char why[160];
	size_t i, ncand = 0;
	bool doubt;
	uint64_t now;

	shmblock_holders_stats(snap, &stats);
	l->scan_cost_ns = stats.elapsed_ns;
	l->scan_end_ns = stats.started_ns + stats.elapsed_ns;
	l->last_scan_ns = stats.started_ns;
	doubt = holders_doubt(snap, why, sizeof(why));
	if (doubt && strcmp(why, l->doubt))
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: holders scan incomplete (%s): no block "
			  "is removed until a complete one",
			  why);
	else if (!doubt && l->doubt[0])
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: holders scan complete again");
	snprintf(l->doubt, sizeof(l->doubt), "%s", doubt ? why : "");
	now = shmfs_now_ns();
	for (i = 0; i < l->n; i++) {
		struct entry *e = l->all[i];
		bool held;

		if (!lifetime_needs_holders(e))
			continue;
		held = others(shmblock_holders_find(snap, e->id.dev,
						    e->id.ino)) ||
		       inode_in_use(l->fs->inodes, e->id.dev, e->id.ino);
		if (held) {
			if (!e->armed &&
			    e->lt.kind == SHMBLOCK_LIFETIME_LAST_HOLDER) {
				e->armed = true;
				mark_held(l, e);
			}
			e->busy_ns = now;
			e->was_held = true;
		} else if (e->was_held &&
			   e->lt.kind == SHMBLOCK_LIFETIME_IDLE) {
			/* Let go since the last scan: idle from now at the
			 * earliest, never from before the release. */
			e->was_held = false;
			e->busy_ns = now;
		} else if (!doubt &&
			   (e->lt.kind == SHMBLOCK_LIFETIME_LAST_HOLDER
				    ? e->armed
				    : now - e->busy_ns >=
					      e->lt.idle_seconds *
						      1000000000ull)) {
			if (!cand)
				cand = calloc(l->n, sizeof(*cand));
			if (cand)
				cand[ncand++] = e;
		}
	}
	if (ncand)
		remove_unheld(l, cand, ncand);
	free(cand);
}

void lifetime_take_scan(struct lifetime *l)
{
	struct shmblock_holders_stats st;
	struct holders_ref *ref;
	uint64_t v;

	if (read(holders_cache_fd(), &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	ref = holders_cache_latest();
	if (!ref)
		return;
	shmblock_holders_stats(ref->snap, &st);
	if (l->wanted_ns && st.started_ns < l->wanted_ns &&
	    st.started_ns <= l->last_scan_ns) {
		/* The scan asked for failed: ask again a period on. */
		l->wanted_ns = 0;
		l->last_scan_ns = shmfs_now_ns();
	}
	if (st.started_ns > l->last_scan_ns) {
		if (l->wanted_ns && l->wanted_ns <= st.started_ns)
			l->wanted_ns = 0;
		if (l->nholders_pol)
			judge_scan(l, ref->snap);
		else
			l->last_scan_ns = st.started_ns;
	}
	holders_cache_put(ref);
}

void lifetime_follow_closes(struct lifetime *l, bool on)
{
	if (on && l->close_fd < 0) {
		l->close_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (l->close_fd >= 0 &&
		    inotify_add_watch(l->close_fd, l->fs->shmdir,
				      IN_CLOSE_WRITE | IN_CLOSE_NOWRITE |
					      IN_ONLYDIR) < 0) {
			close(l->close_fd);
			l->close_fd = -1;
		}
	} else if (!on && l->close_fd >= 0) {
		close(l->close_fd);
		l->close_fd = -1;
	}
}

void lifetime_read_closes(struct lifetime *l)
{
	char buf[16 * 1024]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct entry *e;
	ssize_t n;
	char *p;

	while ((n = read(l->close_fd, buf, sizeof(buf))) > 0)
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				lifetime_scan_soon(l);
			else if (ev->len && (e = lifetime_find(l, ev->name)) &&
				 lifetime_needs_holders(e))
				lifetime_scan_soon(l);
		}
}
