/* SPDX-License-Identifier: MIT */
/*
 * The lifetime enforcer (lifetime.h; docs/shmfs.md, "Lifetimes";
 * docs/security.md for what it costs and how it fails).
 *
 * One thread keeps a table of the mount's blocks that carry a policy other
 * than persist, hashed by name, filled by one pass over the shm directory
 * at start and then by the names the watch queues (lifetime_note_event).
 * Owners are kept apart, one record per distinct process, hashed by pid.
 * The thread sleeps in poll on a fixed set of descriptors, however many
 * policies there are:
 *   - the process event connector (procwatch.c): an exit of a thread of an
 *     owner makes the thread look at that owner (and again a little later:
 *     the event comes before the process is a zombie); without the
 *     connector, every owner is looked at once a scan period;
 *   - the holders scanner's eventfd (holders_cache.c): the thread asks for
 *     a scan when a holders policy is learned, when a followed block is
 *     closed, and once a period, and judges the blocks on each scan;
 *   - while some block has a last-holder or idle policy, an inotify watch
 *     of its own for close events.
 * A block is removed only when the daemon is sure: a scan that could not
 * inspect some process (holders_doubt.h) removes nothing, an owner whose
 * /proc can't be read has not exited, and the blocks a scan finds unheld
 * are taken under private names and looked at once more by one scan
 * started after the take (shmdir_take, shmdir_held, shmdir_settle).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "holders_cache.h"
#include "holders_doubt.h"
#include "inode.h"
#include "lifetime.h"
#include "procwatch.h"
#include "shmblock.h"
#include "shmdir.h"

struct owner;

/* A block with a policy (honoured or not: an ignored one is logged once). */
struct entry {
	char name[NAME_MAX + 1];
	struct block_id id;
	char value[SHMBLOCK_LIFETIME_TEXT_MAX];
	struct shmblock_lifetime lt;
	bool honoured;
	size_t index;		 /* in l->all */
	struct entry *name_next; /* hash chain */
	struct owner *owner;	 /* OWNER, honoured: its process */
	struct entry *owner_next;
	bool armed;	  /* LAST_HOLDER: seen held */
	uint64_t busy_ns; /* IDLE: when the idle time starts */
	bool was_held;	  /* IDLE: held at the last scan */
};

/* One process that owns blocks, however many. */
struct owner {
	pid_t pid;
	uint64_t start;
	struct entry *entries; /* by owner_next */
	struct owner *next;    /* hash chain */
};

/* An owner to look at again (after an exit event, or an error). */
struct recheck {
	pid_t pid;
	uint64_t due_ns, gap_ns;
};

struct table {
	void **b; /* buckets, a power of two */
	size_t nb;
};

struct lifetime {
	struct shmfs *fs;
	uint64_t period_ns;
	int stop_fd, wake_fd, close_fd; /* close_fd: -1 while not needed */
	pthread_t thread;
	bool running;
	/* The watch's side: names to read again, under `lock`. */
	pthread_mutex_t lock;
	char **pending;
	size_t npending, cap_pending;
	bool reread_all;
	/*
	 * Also under `lock`, from the thread: whether it may be reading
	 * blocks now (between two polls), and how many entries it had when
	 * it last went to sleep.  While it sleeps with none, a block that
	 * goes away needs no look (lifetime_note_event).
	 */
	bool busy;
	size_t tracked;
	/* The thread's own. */
	struct entry **all;
	size_t n, cap;
	struct table names, owners;
	size_t nowners, nholders_pol;
	struct recheck *rechecks;
	size_t nrechecks, cap_rechecks;
	bool sweep_owners;	/* events were lost: look at every owner */
	uint64_t next_sweep_ns; /* without the connector */
	struct procwatch *pw;
	uint64_t scan_cost_ns, scan_end_ns, last_scan_ns;
	uint64_t wanted_ns; /* the scan asked for; 0: none */
	char doubt[160];    /* why the last scan removed nothing */
	uid_t dir_uid;
};

/*
 * How long the thread lets changes gather after a wake: a burst of creates
 * and removals costs one wake, not two a block, and a policy is followed
 * at most this much later.
 */
#define LIFETIME_GATHER_NS 2000000L
/* Rechecks of an owner after an exit event: 1 ms, doubling to 1 s. */
#define RECHECK_FIRST_NS 1000000ull
#define RECHECK_LAST_NS 1000000000ull
/* More owners waiting for a second look than this: look at them all. */
#define RECHECK_MAX 4096

static bool needs_holders(const struct entry *e)
{
	return e->honoured && (e->lt.kind == SHMBLOCK_LIFETIME_LAST_HOLDER ||
			       e->lt.kind == SHMBLOCK_LIFETIME_IDLE);
}

/* The path of a block for the path-based calls, which open nothing. */
static void block_path(const struct shmfs *fs, const char *name, char *path,
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

static struct entry *find(struct lifetime *l, const char *name)
{
	struct entry *e;

	if (!l->names.nb)
		return NULL;
	for (e = l->names.b[name_slot(l, name)]; e; e = e->name_next)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}

static struct owner *owner_find(struct lifetime *l, pid_t pid)
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

/* Attaches `e` to the owner record of (pid, start): -ENOMEM or 0. */
static int owner_attach(struct lifetime *l, struct entry *e)
{
	struct owner *o = owner_find(l, e->lt.pid);
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

static void drop(struct lifetime *l, struct entry *e)
{
	struct entry **ep;

	owner_detach(l, e);
	if (needs_holders(e))
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

/* A new, empty entry for `name`, in both tables; NULL without memory. */
static struct entry *add(struct lifetime *l, const char *name)
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

/* Whether `uid` may unlink a block owned by `owner` (/dev/shm is sticky). */
static bool may_unlink(const struct lifetime *l, uid_t uid, uid_t owner)
{
	return uid == 0 || uid == owner || uid == l->dir_uid;
}

/*
 * Writes (`rec` non-NULL) or removes the trust record of the block `name`,
 * through a descriptor checked to be of block `id`: never on another block
 * that took the name.  0 or -errno.
 */
static int set_record(struct lifetime *l, const char *name,
		      const struct block_id *id, const char *rec)
{
	struct block_id now;
	int rc = 0, fd = openat(l->fs->dirfd, name,
				O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOATIME |
					O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (block_id_fd(fd, &now) < 0 || !block_id_same(&now, id))
		rc = -ESTALE;
	else if (rec &&
		 fsetxattr(fd, LIFETIME_XATTR_BY, rec, strlen(rec), 0) < 0)
		rc = -errno;
	else if (!rec && fremovexattr(fd, LIFETIME_XATTR_BY) < 0 &&
		 errno != ENODATA)
		rc = -errno;
	close(fd);
	return rc;
}

#define WRITABLE_BY_OTHERS                                                  \
	"the block is writable by group or others, who may not remove it, " \
	"and the policy was not set through the mount by one who may"

/*
 * Whether the policy `value` on block `name` (of stat `st`, identity `id`)
 * may be honoured, and if not, why.  Anyone who may write a block may set
 * its xattr, and the daemon can't tell who did; so the trust is decided
 * once, when the daemon first sees the value, and recorded as root in
 * LIFETIME_XATTR_BY, so that nothing done later (a chmod) changes it:
 *   "UID VALUE"  set through the mount by UID, or first seen on a block
 *                no one but its owner UID may write (no group or other
 *                write bit; with an ACL these bits are its mask, which
 *                bounds every named entry): honoured while UID may remove
 *                the block;
 *   "- VALUE"    first seen on a block others may write, or set through
 *                the mount by one who may not remove it: ignored.
 * A record of another value is a value not seen before: judged anew.
 */
static const char *judge(struct lifetime *l, const char *name, const char *path,
			 const struct stat *st, const struct block_id *id,
			 const char *value)
{
	char by[SHMBLOCK_LIFETIME_TEXT_MAX + 32], *sp, *end;
	unsigned long uid;
	bool others;
	ssize_t n;

	n = lgetxattr(path, LIFETIME_XATTR_BY, by, sizeof(by) - 1);
	if (n >= 0) {
		by[n] = '\0';
		sp = strchr(by, ' ');
		if (sp && !strcmp(sp + 1, value)) {
			if (sp == by + 1 && by[0] == '-')
				return WRITABLE_BY_OTHERS;
			uid = strtoul(by, &end, 10);
			if (end == sp && sp != by)
				return may_unlink(l, (uid_t)uid, st->st_uid)
					       ? NULL
					       : "its setter may not remove "
						 "the block";
		}
	}
	others = st->st_mode & (S_IWGRP | S_IWOTH);
	if (others)
		snprintf(by, sizeof(by), "- %s", value);
	else
		snprintf(by, sizeof(by), "%lu %s", (unsigned long)st->st_uid,
			 value);
	/* Unrecorded, a chmod could promote it later: not honoured. */
	if (set_record(l, name, id, by) < 0)
		return "its trust could not be recorded";
	return others ? WRITABLE_BY_OTHERS : NULL;
}

static void remove_owned(struct lifetime *l, struct entry *e,
			 const char *reason);

/* Starts following an owner; an owner already gone removes the block. */
static void watch_owner(struct lifetime *l, struct entry *e)
{
	int rc;

	/* "owner=PID" written directly: completed now. */
	rc = e->lt.start_time
		     ? 0
		     : procwatch_start_time(e->lt.pid, &e->lt.start_time);
	if (rc == 0)
		rc = procwatch_exited(e->lt.pid, e->lt.start_time);
	else if (rc == -ESRCH)
		rc = 1;
	else {
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: %s: owner %ld: %s; not followed until "
			  "the block changes",
			  e->name, (long)e->lt.pid, strerror(-rc));
		e->honoured = false;
		return;
	}
	if (rc == 1) {
		remove_owned(l, e, "its owner has exited");
		return;
	}
	if (rc == -EINVAL) {
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: ignored %s: policy %s: %ld is a thread, "
			  "not a process",
			  e->name, e->value, (long)e->lt.pid);
		e->honoured = false;
		return;
	}
	if (owner_attach(l, e) < 0) {
		shmfs_log(l->fs, LOG_ERR,
			  "lifetime: out of memory; %s not followed", e->name);
		e->honoured = false;
		return;
	}
	/* Could not tell (EMFILE...): not exited; looked at again soon. */
	if (rc < 0) {
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: %s: owner %ld: %s; looked at again later",
			  e->name, (long)e->lt.pid, strerror(-rc));
		l->sweep_owners = true;
	}
}

/* Asks the scanner for a scan, spaced so that scans take a tenth of the
 * time at most. */
static void scan_soon(struct lifetime *l)
{
	uint64_t due = l->scan_end_ns + 9 * l->scan_cost_ns;

	if (due < shmfs_now_ns())
		due = shmfs_now_ns();
	if (!l->wanted_ns || due < l->wanted_ns) {
		l->wanted_ns = due;
		holders_cache_want(due);
	}
}

/* Reads the policy `value` of `name` (of stat st, identity id) afresh. */
static void learn(struct lifetime *l, const char *name, const char *path,
		  const struct stat *st, const struct block_id *id,
		  const char *value)
{
	struct entry *e = find(l, name);
	struct shmblock_lifetime lt = { 0 };
	const char *why = NULL;
	char held;

	if (shmblock_lifetime_parse(value, strlen(value), &lt) < 0)
		why = "not a valid policy";
	else if (lt.kind == SHMBLOCK_LIFETIME_PERSIST) {
		if (e)
			drop(l, e);
		return;
	} else if (lt.kind == SHMBLOCK_LIFETIME_OWNER && !lt.pid)
		why = "\"owner\" without a pid (set it through the mount or "
		      "shmblock_set_lifetime, which fill in the caller)";
	else
		why = judge(l, name, path, st, id, value);
	if (e && block_id_same(&e->id, id) && !strcmp(e->value, value) &&
	    e->honoured == !why)
		return; /* nothing new: keep its state */
	if (e)
		drop(l, e);
	e = add(l, name);
	if (!e) {
		shmfs_log(l->fs, LOG_ERR,
			  "lifetime: out of memory; %s not followed", name);
		return;
	}
	snprintf(e->value, sizeof(e->value), "%s", value);
	e->id = *id;
	e->lt = lt;
	e->honoured = !why;
	e->busy_ns = shmfs_now_ns();
	e->armed = lgetxattr(path, LIFETIME_XATTR_HELD, &held, 1) >= 0;
	if (why) {
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: ignored %s (inode "
			  "%llu): policy %s: %s",
			  name, (unsigned long long)id->ino, value, why);
		return;
	}
	if (lt.kind == SHMBLOCK_LIFETIME_OWNER) {
		watch_owner(l, e);
		return;
	}
	l->nholders_pol++;
	/* See who holds it now: a holder that lets go soon is not missed. */
	scan_soon(l);
}

/* Reads the block `name` again: its identity and its policy. */
static void reread(struct lifetime *l, const char *name)
{
	char path[64 + NAME_MAX], value[SHMBLOCK_LIFETIME_TEXT_MAX], c;
	struct block_id id;
	struct entry *e = find(l, name);
	struct stat st;
	bool exists = false;
	ssize_t n = -1;

	if (!shmfs_mount_name(l->fs, name) || shmfs_tmp_name(name, NULL))
		return;
	block_path(l->fs, name, path, sizeof(path));
	if (fstatat(l->fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && block_id_of(l->fs->dirfd, name, &id) == 0) {
		exists = true;
		n = lgetxattr(path, SHMBLOCK_XATTR_LIFETIME, value,
			      sizeof(value) - 1);
	}
	if (n < 0) {
		if (e)
			drop(l, e);
		/* The policy withdrawn: its trust goes with it. */
		if (exists && errno == ENODATA &&
		    lgetxattr(path, LIFETIME_XATTR_BY, &c, 0) >= 0)
			set_record(l, name, &id, NULL);
		return;
	}
	value[n] = '\0';
	if (n && value[n - 1] == '\n')
		value[n - 1] = '\0';
	learn(l, name, path, &st, &id, value);
}

static void reread_all(struct lifetime *l)
{
	int fd = openat(l->fs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t i;

	if (!d) {
		if (fd >= 0)
			close(fd);
		shmfs_log(l->fs, LOG_ERR, "lifetime: reading %s: %s",
			  l->fs->shmdir, strerror(errno));
		return;
	}
	/* The ones gone since: backwards, as drop moves the last one. */
	for (i = l->n; i-- > 0;)
		if (i < l->n)
			reread(l, l->all[i]->name);
	while ((de = readdir(d)))
		if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)
			reread(l, de->d_name);
	closedir(d);
}

static const char *reason_of(const struct entry *e)
{
	switch (e->lt.kind) {
	case SHMBLOCK_LIFETIME_OWNER:
		return "its owner has exited";
	case SHMBLOCK_LIFETIME_LAST_HOLDER:
		return "its last holder has let go";
	default:
		return "it sat idle";
	}
}

static void log_removed(struct lifetime *l, const char *name,
			const struct block_id *id, const char *value,
			const char *reason)
{
	shmfs_log(l->fs, LOG_NOTICE,
		  "lifetime: removed %s (inode %llu): policy %s: %s", name,
		  (unsigned long long)id->ino, value, reason);
}

/* The outcome of a removal that did not happen, for the log. */
static void log_kept(struct lifetime *l, const struct entry *e, int rc)
{
	if (rc == -ESTALE)
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: %s is another block "
			  "now; left alone (policy %s of inode %llu)",
			  e->name, e->value, (unsigned long long)e->id.ino);
	else if (rc != -ENOENT && rc != -EAGAIN && rc != -EBUSY)
		shmfs_log(l->fs, LOG_WARNING,
			  "lifetime: could not remove %s "
			  "(inode %llu): %s",
			  e->name, (unsigned long long)e->id.ino,
			  strerror(-rc));
}

/* Drops `e` and reads its name afresh (another block may have it now). */
static void forget(struct lifetime *l, struct entry *e)
{
	char name[NAME_MAX + 1];

	snprintf(name, sizeof(name), "%s", e->name);
	drop(l, e);
	reread(l, name);
}

/* Removes the block of an owner policy, if it still is that block. */
static void remove_owned(struct lifetime *l, struct entry *e,
			 const char *reason)
{
	int rc = shmdir_remove_same(l->fs, e->name, &e->id,
				    SHMBLOCK_XATTR_LIFETIME, e->value, 0);

	if (rc == 0)
		log_removed(l, e->name, &e->id, e->value, reason);
	else
		log_kept(l, e, rc);
	forget(l, e);
}

/* ---- owners ---- */

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
	struct owner *o = owner_find(l, pid);
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
		e = names[i] ? find(l, names[i]) : NULL;
		if (e && e->owner && e->owner->pid == pid &&
		    e->owner->start == start)
			remove_owned(l, e, "its owner has exited");
		free(names[i]);
	}
	free(names);
	return 1;
}

static void on_exit_event(void *arg, pid_t tgid)
{
	struct lifetime *l = arg;

	if (!tgid)
		l->sweep_owners = true;
	else if (owner_find(l, tgid))
		recheck_add(l, tgid, 0);
}

/* Every owner (events lost, no connector, or an owner unreadable). */
static void sweep_owners(struct lifetime *l)
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

static void do_rechecks(struct lifetime *l, uint64_t now)
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

/* ---- holders ---- */

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
		log_kept(l, e, rc);
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
			log_removed(l, e->name, &e->id, e->value, reason_of(e));
		else
			log_kept(l, e, rc);
		forget(l, e);
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

		if (!needs_holders(e))
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

/* A scan is done: judge on it if it began after the last one judged. */
static void take_scan(struct lifetime *l)
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

/*
 * The close events, only while some policy needs holders: every close of
 * any block of the directory wakes the thread (docs/shmfs.md has the
 * cost).
 */
static void follow_closes(struct lifetime *l, bool on)
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

/* Reads the close events. */
static void read_closes(struct lifetime *l)
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
				scan_soon(l);
			else if (ev->len && (e = find(l, ev->name)) &&
				 needs_holders(e))
				scan_soon(l);
		}
}

static void take_pending(struct lifetime *l)
{
	char **names;
	size_t i, n;
	bool all;
	uint64_t v;

	if (read(l->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&l->lock);
	names = l->pending;
	n = l->npending;
	all = l->reread_all;
	l->pending = NULL;
	l->npending = l->cap_pending = 0;
	l->reread_all = false;
	pthread_mutex_unlock(&l->lock);
	if (all)
		reread_all(l);
	for (i = 0; i < n; i++) {
		if (!all)
			reread(l, names[i]);
		free(names[i]);
	}
	free(names);
}

/* How long poll may sleep: until a recheck or a sweep is due. */
static int poll_timeout(struct lifetime *l, uint64_t now)
{
	uint64_t due = 0;
	size_t i;

	for (i = 0; i < l->nrechecks; i++)
		if (!due || l->rechecks[i].due_ns < due)
			due = l->rechecks[i].due_ns;
	if (l->nowners && (l->sweep_owners || procwatch_fd(l->pw) < 0) &&
	    (!due || l->next_sweep_ns < due))
		due = l->next_sweep_ns;
	if (!due)
		return -1;
	if (due <= now)
		return 0;
	return (int)((due - now + 999999) / 1000000);
}

static void *lifetime_thread(void *arg)
{
	struct lifetime *l = arg;
	struct pollfd pfd[5];
	uint64_t now;
	int rc;

	pthread_setname_np(pthread_self(), "shmfs-lifetime");
	reread_all(l);
	for (;;) {
		pthread_mutex_lock(&l->lock);
		l->busy = false;
		l->tracked = l->n;
		pthread_mutex_unlock(&l->lock);
		follow_closes(l, l->nholders_pol > 0);
		/* Once a period while some block needs holders. */
		if (l->nholders_pol && !l->wanted_ns) {
			l->wanted_ns = l->last_scan_ns + l->period_ns;
			holders_cache_want(l->wanted_ns);
		}
		pfd[0] = (struct pollfd){ .fd = l->stop_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = l->wake_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = l->close_fd, .events = POLLIN };
		pfd[3] = (struct pollfd){ .fd = procwatch_fd(l->pw),
					  .events = POLLIN };
		pfd[4] = (struct pollfd){ .fd = holders_cache_fd(),
					  .events = POLLIN };
		rc = poll(pfd, 5, poll_timeout(l, shmfs_now_ns()));
		pthread_mutex_lock(&l->lock);
		l->busy = true;
		pthread_mutex_unlock(&l->lock);
		if (rc < 0 && errno != EINTR) {
			shmfs_log(l->fs, LOG_ERR, "lifetime: poll: %s",
				  strerror(errno));
			break;
		}
		if (pfd[0].revents)
			break;
		if (pfd[1].revents) {
			/* Let a burst of changes gather: one wake for all. */
			nanosleep(&(struct timespec){ 0, LIFETIME_GATHER_NS },
				  NULL);
			take_pending(l);
		}
		if (l->close_fd >= 0 && pfd[2].revents)
			read_closes(l);
		if (pfd[3].fd >= 0 && pfd[3].revents)
			procwatch_read(l->pw, on_exit_event, l);
		now = shmfs_now_ns();
		do_rechecks(l, now);
		if (l->nowners && (l->sweep_owners || pfd[3].fd < 0) &&
		    now >= l->next_sweep_ns)
			sweep_owners(l);
		if (pfd[4].revents)
			take_scan(l);
	}
	return NULL;
}

int lifetime_start(struct shmfs *fs, double scan_period)
{
	struct lifetime *l = calloc(1, sizeof(*l));
	struct stat st;
	int rc;

	if (!l)
		return -ENOMEM;
	l->fs = fs;
	l->period_ns = (uint64_t)(scan_period * 1e9);
	l->close_fd = -1;
	l->busy = true;
	l->dir_uid = fstat(fs->dirfd, &st) == 0 ? st.st_uid : 0;
	pthread_mutex_init(&l->lock, NULL);
	l->stop_fd = eventfd(0, EFD_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stop_fd < 0 || l->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = procwatch_open(fs, &l->pw);
	if (rc < 0)
		goto fail;
	__atomic_store_n(&fs->lifetime, l, __ATOMIC_RELEASE);
	rc = -pthread_create(&l->thread, NULL, lifetime_thread, l);
	if (rc == 0) {
		l->running = true;
		return 0;
	}
	__atomic_store_n(&fs->lifetime, NULL, __ATOMIC_RELEASE);
fail:
	procwatch_close(l->pw);
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return rc;
}

void lifetime_stop(struct shmfs *fs)
{
	struct lifetime *l = fs->lifetime;
	uint64_t one = 1;

	if (!l || !l->running)
		return;
	if (write(l->stop_fd, &one, sizeof(one)) < 0)
		shmfs_log(fs, LOG_ERR, "lifetime: stop: %s", strerror(errno));
	pthread_join(l->thread, NULL);
	l->running = false;
}

void lifetime_free(struct shmfs *fs)
{
	struct lifetime *l = fs->lifetime;
	size_t i;

	if (!l)
		return;
	lifetime_stop(fs);
	fs->lifetime = NULL;
	while (l->n)
		drop(l, l->all[l->n - 1]);
	for (i = 0; i < l->npending; i++)
		free(l->pending[i]);
	free(l->pending);
	free(l->all);
	free(l->names.b);
	free(l->owners.b);
	free(l->rechecks);
	procwatch_close(l->pw);
	follow_closes(l, false);
	close(l->stop_fd);
	close(l->wake_fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void lifetime_note_event(struct shmfs *fs, const char *shm_name, uint32_t mask)
{
	struct lifetime *l = __atomic_load_n(&fs->lifetime, __ATOMIC_ACQUIRE);
	uint64_t one = 1;
	bool wake;
	char *copy;

	/* A stream of writes changes no policy. */
	if (!l || mask == IN_MODIFY)
		return;
	pthread_mutex_lock(&l->lock);
	/*
	 * A block gone while the thread sleeps with no entry: nothing to drop.
	 * Any look it takes later is after the removal, so can't find it.
	 */
	if (shm_name && !(mask & ~(uint32_t)(IN_DELETE | IN_MOVED_FROM)) &&
	    !l->busy && !l->tracked) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	/* The thread takes all pending names at once: one wake for them. */
	wake = !l->npending && !l->reread_all;
	if (!shm_name || (mask & IN_Q_OVERFLOW)) {
		l->reread_all = true;
	} else if (l->npending &&
		   !strcmp(l->pending[l->npending - 1], shm_name)) {
		/* Read once for both: a reread sees the block as it is now. */
	} else if (!l->reread_all) {
		if (l->npending == l->cap_pending) {
			size_t cap = l->cap_pending ? 2 * l->cap_pending : 16;
			char **p = realloc(l->pending, cap * sizeof(*p));

			if (p) {
				l->pending = p;
				l->cap_pending = cap;
			}
		}
		copy = l->npending < l->cap_pending ? strdup(shm_name) : NULL;
		if (copy)
			l->pending[l->npending++] = copy;
		else
			l->reread_all = true;
	}
	pthread_mutex_unlock(&l->lock);
	if (wake && write(l->wake_fd, &one, sizeof(one)) < 0)
		shmfs_log(fs, LOG_ERR, "lifetime: wake: %s", strerror(errno));
}

/* The process (thread group) of thread `tid`, as FUSE names the caller. */
static pid_t tgid_of(pid_t tid)
{
	char path[64], line[128];
	long tgid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)tid);
	f = fopen(path, "re");
	if (!f)
		return tid;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %ld", &tgid) == 1)
			break;
	fclose(f);
	return tgid > 0 ? (pid_t)tgid : tid;
}

int lifetime_remove_xattr(int fd)
{
	/* The trust first: the value is never there without its record. */
	if (fremovexattr(fd, LIFETIME_XATTR_BY) < 0 && errno != ENODATA)
		return -errno;
	if (fremovexattr(fd, SHMBLOCK_XATTR_LIFETIME) < 0)
		return -errno;
	return 0;
}

int lifetime_set_xattr(fuse_req_t req, int fd, const char *value, size_t size,
		       int flags)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct shmfs *fs = req_fs(req);
	char text[SHMBLOCK_LIFETIME_TEXT_MAX], by[sizeof(text) + 32];
	struct shmblock_lifetime lt;
	struct stat st, dir;
	ssize_t n;
	int rc;

	rc = shmblock_lifetime_parse(value, size, &lt);
	if (rc < 0)
		return rc;
	if (lt.kind == SHMBLOCK_LIFETIME_OWNER && !lt.pid)
		lt.pid = tgid_of(ctx->pid);
	rc = shmblock_lifetime_resolve(&lt);
	if (rc < 0)
		return rc;
	n = shmblock_lifetime_format(&lt, text, sizeof(text));
	if (n < 0)
		return (int)n;
	if (fstat(fd, &st) < 0 || fstat(fs->dirfd, &dir) < 0)
		return -errno;
	/*
	 * The record first: the policy's own event then finds it there.  A
	 * setter who may not remove the block is recorded too ("- VALUE"),
	 * so that nothing done later turns the value into a trusted one.
	 */
	if (ctx->uid == 0 || ctx->uid == st.st_uid || ctx->uid == dir.st_uid)
		snprintf(by, sizeof(by), "%lu %s", (unsigned long)ctx->uid,
			 text);
	else
		snprintf(by, sizeof(by), "- %s", text);
	if (fsetxattr(fd, LIFETIME_XATTR_BY, by, strlen(by), 0) < 0)
		return -errno;
	if (fsetxattr(fd, SHMBLOCK_XATTR_LIFETIME, text, (size_t)n, flags) < 0)
		return -errno;
	return 0;
}
