/* SPDX-License-Identifier: MIT */
/*
 * The lifetime enforcer (lifetime.h; docs/shmfs.md, "Lifetimes").
 *
 * One thread keeps a table of the mount's blocks that carry a policy other
 * than persist, filled by one pass over the shm directory at start and
 * then by the names the watch queues (lifetime_note_event).  It sleeps in
 * poll on:
 *   - a pidfd per owner policy: readable the moment the owner exits;
 *   - while some block has a last-holder or idle policy, an inotify watch
 *     of its own for close events (a holder closing a descriptor, or
 *     exiting), which brings the next holders scan forward, and the
 *     period of that scan (munmap makes no event).
 * Every removal goes through shmdir_remove_same, which removes the very
 * block the decision was made on, or nothing.
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
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "lifetime.h"
#include "shmblock.h"
#include "shmdir.h"

/* A block with a policy (honoured or not: an ignored one is logged once). */
struct entry {
	char name[NAME_MAX + 1];
	struct block_id id;
	char value[SHMBLOCK_LIFETIME_TEXT_MAX];
	struct shmblock_lifetime lt;
	bool honoured;
	int pidfd;	  /* OWNER: the owner, or -1 */
	bool armed;	  /* LAST_HOLDER: seen held */
	uint64_t busy_ns; /* IDLE: when the idle time starts */
	bool was_held;	  /* IDLE: held at the last scan */
};

struct lifetime {
	struct shmfs *fs;
	uint64_t period_ns;
	int stop_fd, wake_fd, close_fd; /* close_fd: -1 while not needed */
	int close_wd;
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
	struct entry *entries;
	size_t n, cap;
	uint64_t next_scan_ns, scan_cost_ns, scan_end_ns;
	uint64_t close_due_ns; /* a scan brought forward; 0: none */
	uid_t dir_uid;
};

/*
 * How long the thread lets changes gather after a wake: a burst of creates
 * and removals costs one wake, not two a block, and a policy is followed
 * at most this much later.
 */
#define LIFETIME_GATHER_NS 2000000L

static bool needs_holders(const struct entry *e)
{
	return e->honoured && (e->lt.kind == SHMBLOCK_LIFETIME_LAST_HOLDER ||
			       e->lt.kind == SHMBLOCK_LIFETIME_IDLE);
}

static bool any_needs_holders(const struct lifetime *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (needs_holders(&l->entries[i]))
			return true;
	return false;
}

/* The path of a block for the path-based calls, which open nothing. */
static void block_path(const struct shmfs *fs, const char *name, char *path,
		       size_t len)
{
	snprintf(path, len, "/proc/self/fd/%d/%s", fs->dirfd, name);
}

static struct entry *find(struct lifetime *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->entries[i].name, name))
			return &l->entries[i];
	return NULL;
}

static void drop(struct lifetime *l, struct entry *e)
{
	if (e->pidfd >= 0)
		close(e->pidfd);
	*e = l->entries[--l->n];
}

/* Whether `uid` may unlink a block owned by `owner` (/dev/shm is sticky). */
static bool may_unlink(const struct lifetime *l, uid_t uid, uid_t owner)
{
	return uid == 0 || uid == owner || uid == l->dir_uid;
}

/*
 * Whether the policy `value` on a block of stat `st` may be honoured, and
 * if not, why.  Anyone who may write a block may set its xattr, and the
 * daemon can't tell who did, so: a block no one but its owner may write
 * (no group or other write bit; with an ACL these bits are its mask, which
 * bounds every named entry) was set by its owner or root, who may both
 * remove it; any other block only with the daemon's own record that the
 * same value was set through the mount by someone who may remove it.
 */
static const char *untrusted(struct lifetime *l, const char *path,
			     const struct stat *st, const char *value)
{
	char by[SHMBLOCK_LIFETIME_TEXT_MAX + 32], *sp;
	unsigned long uid;
	ssize_t n;

	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return NULL;
	n = lgetxattr(path, LIFETIME_XATTR_BY, by, sizeof(by) - 1);
	if (n < 0)
		return "the block is writable by group or others, who may not "
		       "remove it, and the policy was not set through the "
		       "mount by one who may";
	by[n] = '\0';
	uid = strtoul(by, &sp, 10);
	if (*sp != ' ' || strcmp(sp + 1, value))
		return "the policy was changed outside the mount on a block "
		       "writable by group or others";
	if (!may_unlink(l, (uid_t)uid, st->st_uid))
		return "its setter may not remove the block";
	return NULL;
}

static void remove_block(struct lifetime *l, struct entry *e,
			 const char *reason);

/* Starts watching an owner; an owner already gone removes the block. */
static void watch_owner(struct lifetime *l, struct entry *e)
{
	uint64_t start;

	if (!e->lt.start_time &&
	    shmblock_process_start_time(e->lt.pid, &e->lt.start_time) < 0) {
		remove_block(l, e, "its owner has exited");
		return;
	}
	e->pidfd = (int)syscall(SYS_pidfd_open, e->lt.pid, 0);
	/* Checked after the pidfd is taken: the pidfd is of that process. */
	if (e->pidfd < 0 ||
	    shmblock_process_start_time(e->lt.pid, &start) < 0 ||
	    start != e->lt.start_time) {
		if (e->pidfd < 0 && errno != ESRCH) {
			shmfs_log(l->fs, LOG_WARNING,
				  "lifetime: %s: pidfd_open "
				  "%ld: %s; not enforced",
				  e->name, (long)e->lt.pid, strerror(errno));
			e->honoured = false;
			return;
		}
		remove_block(l, e, "its owner has exited");
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
		why = untrusted(l, path, st, value);
	if (e && block_id_same(&e->id, id) && !strcmp(e->value, value) &&
	    e->honoured == !why)
		return; /* nothing new: keep its state */
	if (!e) {
		if (l->n == l->cap) {
			size_t cap = l->cap ? 2 * l->cap : 64;
			struct entry *p = realloc(l->entries, cap * sizeof(*p));

			if (!p) {
				shmfs_log(l->fs, LOG_ERR,
					  "lifetime: out of "
					  "memory; %s not followed",
					  name);
				return;
			}
			l->entries = p;
			l->cap = cap;
		}
		e = &l->entries[l->n++];
	} else if (e->pidfd >= 0) {
		close(e->pidfd);
	}
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->value, sizeof(e->value), "%s", value);
	e->id = *id;
	e->lt = lt;
	e->pidfd = -1;
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
	if (lt.kind == SHMBLOCK_LIFETIME_OWNER)
		watch_owner(l, e);
	else
		l->next_scan_ns = 0; /* see who holds it now */
}

/* Reads the block `name` again: its identity and its policy. */
static void reread(struct lifetime *l, const char *name)
{
	char path[64 + NAME_MAX], value[SHMBLOCK_LIFETIME_TEXT_MAX];
	char shown[NAME_MAX + 1];
	struct block_id id;
	struct entry *e = find(l, name);
	struct stat st;
	ssize_t n = -1;

	if (!shmfs_mount_name(l->fs, name, shown) || shmfs_tmp_name(name, NULL))
		return;
	block_path(l->fs, name, path, sizeof(path));
	if (fstatat(l->fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && block_id_of(l->fs->dirfd, name, &id) == 0)
		n = lgetxattr(path, SHMBLOCK_XATTR_LIFETIME, value,
			      sizeof(value) - 1);
	if (n < 0) {
		if (e)
			drop(l, e);
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
		reread(l, l->entries[i].name);
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

/*
 * Removes the block of `e`, if it is still that block with that policy
 * and (last-holder, idle) no one holds it; `e` is gone or read afresh
 * after.
 */
static void remove_block(struct lifetime *l, struct entry *e,
			 const char *reason)
{
	char name[NAME_MAX + 1];
	unsigned flags = e->lt.kind == SHMBLOCK_LIFETIME_OWNER
				 ? 0
				 : SHMDIR_REMOVE_UNHELD;
	int rc = shmdir_remove_same(l->fs, e->name, &e->id,
				    SHMBLOCK_XATTR_LIFETIME, e->value, flags);

	if (rc == 0)
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: removed %s (inode "
			  "%llu): policy %s: %s",
			  e->name, (unsigned long long)e->id.ino, e->value,
			  reason);
	else if (rc == -ESTALE)
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: %s is another block "
			  "now; left alone (policy %s of inode %llu)",
			  e->name, e->value, (unsigned long long)e->id.ino);
	else if (rc == -EBUSY)
		e->busy_ns = shmfs_now_ns(); /* held again just now */
	else if (rc != -ENOENT && rc != -EAGAIN)
		shmfs_log(l->fs, LOG_WARNING,
			  "lifetime: could not remove %s "
			  "(inode %llu): %s",
			  e->name, (unsigned long long)e->id.ino,
			  strerror(-rc));
	if (rc == -EBUSY)
		return;
	snprintf(name, sizeof(name), "%s", e->name);
	drop(l, e);
	reread(l, name);
}

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

static void scan(struct lifetime *l)
{
	struct shmblock_holders_stats stats;
	struct shmblock_holders *snap;
	uint64_t now;
	size_t i;
	int rc = shmblock_holders_scan(l->fs->dirfd,
				       SHMBLOCK_HOLDERS_NO_DELETED, &snap);

	if (rc < 0) {
		shmfs_log(l->fs, LOG_WARNING, "lifetime: holders scan: %s",
			  strerror(-rc));
		return;
	}
	shmblock_holders_stats(snap, &stats);
	l->scan_cost_ns = stats.elapsed_ns;
	now = shmfs_now_ns();
	for (i = l->n; i-- > 0;) {
		struct entry *e = &l->entries[i];
		size_t held;

		if (!needs_holders(e))
			continue;
		held = others(
			shmblock_holders_find(snap, e->id.dev, e->id.ino));
		/* Processes it may not read are not seen (docs/shmfs.md). */
		if (held) {
			if (held && !e->armed &&
			    e->lt.kind == SHMBLOCK_LIFETIME_LAST_HOLDER) {
				e->armed = true;
				mark_held(l, e);
			}
			e->busy_ns = now;
			e->was_held = true;
		} else if (e->was_held) {
			/* Let go since the last scan: idle from now at the
			 * earliest, never from before the release. */
			e->was_held = false;
			e->busy_ns = now;
		} else if (e->lt.kind == SHMBLOCK_LIFETIME_LAST_HOLDER
				   ? e->armed
				   : now - e->busy_ns >=
					     e->lt.idle_seconds *
						     1000000000ull) {
			remove_block(l, e, reason_of(e));
		}
	}
	shmblock_holders_free(snap);
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

/*
 * A close on a followed block brings the next scan forward, but the scans
 * take at most a tenth of the time (and start 20 ms apart at least).
 */
static void scan_soon(struct lifetime *l)
{
	uint64_t due = l->scan_end_ns + 9 * l->scan_cost_ns;

	if (due < shmfs_now_ns() + 20000000ull)
		due = shmfs_now_ns() + 20000000ull;
	if (!l->close_due_ns)
		l->close_due_ns = due;
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

/* When the next scan is due: the period, or sooner after a close. */
static uint64_t scan_due(const struct lifetime *l)
{
	if (l->close_due_ns && l->close_due_ns < l->next_scan_ns)
		return l->close_due_ns;
	return l->next_scan_ns;
}

static int poll_timeout(struct lifetime *l, uint64_t now)
{
	uint64_t due = scan_due(l);

	if (!any_needs_holders(l))
		return -1;
	if (due <= now)
		return 0;
	return (int)((due - now + 999999) / 1000000);
}

static void *lifetime_thread(void *arg)
{
	struct lifetime *l = arg;
	struct pollfd *pfd = NULL;
	size_t i, npfd;
	uint64_t now;
	int rc;

	pthread_setname_np(pthread_self(), "shmfs-lifetime");
	reread_all(l);
	for (;;) {
		pthread_mutex_lock(&l->lock);
		l->busy = false;
		l->tracked = l->n;
		pthread_mutex_unlock(&l->lock);
		follow_closes(l, any_needs_holders(l));
		free(pfd);
		pfd = calloc(l->n + 3, sizeof(*pfd));
		if (!pfd) {
			shmfs_log(l->fs, LOG_ERR, "lifetime: out of memory");
			break;
		}
		pfd[0] = (struct pollfd){ .fd = l->stop_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = l->wake_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = l->close_fd, .events = POLLIN };
		for (i = 0, npfd = 3; i < l->n; i++)
			pfd[npfd++] =
				(struct pollfd){ .fd = l->entries[i].pidfd,
						 .events = POLLIN };
		rc = poll(pfd, npfd, poll_timeout(l, shmfs_now_ns()));
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
		/* An owner has exited: entries may move as they go. */
		for (i = 3; i < npfd; i++) {
			struct entry *e;

			if (!pfd[i].revents || pfd[i].fd < 0)
				continue;
			for (e = l->entries; e < l->entries + l->n; e++)
				if (e->pidfd == pfd[i].fd)
					break;
			/* The fd may be another's since: ask it again. */
			if (e < l->entries + l->n &&
			    poll(&(struct pollfd){ .fd = e->pidfd,
						   .events = POLLIN },
				 1, 0) > 0)
				remove_block(l, e, reason_of(e));
		}
		now = shmfs_now_ns();
		if (any_needs_holders(l) && now >= scan_due(l)) {
			l->close_due_ns = 0;
			scan(l);
			l->scan_end_ns = shmfs_now_ns();
			l->next_scan_ns = l->scan_end_ns + l->period_ns;
		}
	}
	free(pfd);
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
	__atomic_store_n(&fs->lifetime, l, __ATOMIC_RELEASE);
	rc = -pthread_create(&l->thread, NULL, lifetime_thread, l);
	if (rc == 0) {
		l->running = true;
		return 0;
	}
	__atomic_store_n(&fs->lifetime, NULL, __ATOMIC_RELEASE);
fail:
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
	for (i = 0; i < l->n; i++)
		if (l->entries[i].pidfd >= 0)
			close(l->entries[i].pidfd);
	for (i = 0; i < l->npending; i++)
		free(l->pending[i]);
	free(l->pending);
	free(l->entries);
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
	/* The record first: the policy's own event then finds it there. */
	if (ctx->uid == 0 || ctx->uid == st.st_uid || ctx->uid == dir.st_uid) {
		snprintf(by, sizeof(by), "%lu %s", (unsigned long)ctx->uid,
			 text);
		if (fsetxattr(fd, LIFETIME_XATTR_BY, by, strlen(by), 0) < 0 &&
		    errno != EOPNOTSUPP)
			return -errno;
	} else {
		fremovexattr(fd, LIFETIME_XATTR_BY);
	}
	if (fsetxattr(fd, SHMBLOCK_XATTR_LIFETIME, text, (size_t)n, flags) < 0)
		return -errno;
	return 0;
}
