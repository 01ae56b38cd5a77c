/* SPDX-License-Identifier: MIT */
/*
 * The mount's locks, taken on the blocks themselves (locks.h,
 * docs/locks.md).
 *
 * A record is one lock owner's open file description of one block, for
 * record locks (fcntl, OFD locks on it) or for flock: owners the kernel
 * keeps apart stay apart, because their descriptions do.  A record lives
 * until its owner's locks go: a FLUSH of a POSIX owner (close), a RELEASE
 * of the open file an OFD or flock owner is.  Records and waits are counted
 * per user (the caller's uid) and in all; past either cap a request gets
 * ENOLCK, the kernel's answer for a full lock table.
 *
 * A wait runs in a thread of its own (F_OFD_SETLKW or a blocking flock on
 * the owner's description), so the kernel queues it with every other
 * waiter of the block and no worker waits.  The kernel's INTERRUPT (a
 * signal, or the waiter killed) sets the wait's `cancel` and sends the
 * thread LOCKS_SIGNAL, whose handler does nothing but end the system call
 * with EINTR; a timer sends it again every LOCKS_KICK_NS, in case the first
 * came just before the call.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "locks.h"

#define LOCKS_SIGNAL (SIGRTMIN + 7)
#define LOCKS_KICK_NS 200000000L
#define LOCKS_BUCKETS 1024
/* A waiting thread does little: a system call and a reply. */
#define LOCKS_STACK (256 * 1024)

struct lock_rec {
	struct lock_rec *next; /* hash chain, while hashed */
	dev_t dev;	       /* key: the block, */
	ino_t ino;
	uint64_t owner; /* the kernel's lock owner */
	bool flock;	/* and the kind */
	uint64_t fh;	/* the open file it was made through */
	int fd;		/* its description of the block */
	pid_t pid;	/* who took its last lock, for GETLK */
	uid_t uid;	/* the user it is counted to */
	unsigned refs;	/* the table's (while hashed), requests', waits' */
	bool hashed;
};

struct user_count {
	uid_t uid;
	unsigned recs, waits;
};

struct waiter {
	struct locks *l;
	fuse_req_t req;
	struct lock_rec *rec;
	struct flock fl; /* record locks */
	int op;		 /* flock */
	uid_t uid;
	atomic_int cancel; /* the errno ending the wait: EINTR, ECONNABORTED */
	bool running;	   /* the thread exists (l->mu) */
	pthread_t thread;
	struct waiter *next, **pprev; /* l->waiters (l->mu) */
};

struct locks {
	pthread_mutex_t mu;
	pthread_cond_t idle; /* nwaits fell */
	struct lock_rec *buckets[LOCKS_BUCKETS];
	unsigned nrecs, nwaits;
	struct waiter *waiters;
	struct user_count *users; /* the users with records or waits */
	size_t nusers;
	bool closing;
};

static void on_kick(int sig)
{
	(void)sig;
}

int locks_create(struct locks **out)
{
	struct sigaction sa = { .sa_handler = on_kick };
	struct locks *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return -ENOMEM;
	/* No SA_RESTART: the signal is there to end a wait with EINTR. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(LOCKS_SIGNAL, &sa, NULL) < 0) {
		free(l);
		return -errno;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->idle, NULL);
	*out = l;
	return 0;
}

static size_t bucket_of(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ (uint64_t)ino;

	h ^= h >> 29;
	return (size_t)((h * 0xbf58476d1ce4e5b9ull) >> 40) % LOCKS_BUCKETS;
}

/* The user's counts, made when `make`; NULL if none (or no memory). */
static struct user_count *user_of(struct locks *l, uid_t uid, bool make)
{
	struct user_count *u;
	size_t i;

	for (i = 0; i < l->nusers; i++)
		if (l->users[i].uid == uid)
			return &l->users[i];
	if (!make)
		return NULL;
	u = realloc(l->users, (l->nusers + 1) * sizeof(*u));
	if (!u)
		return NULL;
	l->users = u;
	u = &l->users[l->nusers++];
	*u = (struct user_count){ .uid = uid };
	return u;
}

static void user_forget_if_idle(struct locks *l, struct user_count *u)
{
	if (u->recs == 0 && u->waits == 0)
		*u = l->users[--l->nusers];
}

static struct lock_rec *rec_find(struct locks *l, const struct lock_target *t,
				 uint64_t owner, bool flock)
{
	struct lock_rec *r = l->buckets[bucket_of(t->dev, t->ino)];

	for (; r; r = r->next)
		if (r->dev == t->dev && r->ino == t->ino && r->owner == owner &&
		    r->flock == flock)
			return r;
	return NULL;
}

/* Opens a description of the block for a new record.  Returns fd or -errno. */
static int open_description(int fd)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_RDWR | O_CLOEXEC);
	if (nfd < 0 && errno == EACCES)
		nfd = open(path, O_RDONLY | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

/*
 * A descriptor of the key's file to open descriptions of: the block's, or,
 * for a file only the mount shows, any record's of the key; -1 when none.
 */
static int key_fd(struct locks *l, const struct lock_target *t)
{
	struct lock_rec *r = l->buckets[bucket_of(t->dev, t->ino)];

	if (t->fd >= 0)
		return t->fd;
	for (; r; r = r->next)
		if (r->dev == t->dev && r->ino == t->ino)
			return r->fd;
	return -1;
}

/* A new hashed record, counted to `uid` (l->mu held).  Errors: -ENOLCK... */
static int rec_new(struct locks *l, const struct lock_target *t,
		   const struct fuse_file_info *fi, bool flock, uid_t uid,
		   struct lock_rec **out)
{
	struct user_count *u = user_of(l, uid, true);
	struct lock_rec *r;
	size_t b;
	int fd;

	if (!u)
		return -ENOMEM;
	if (l->nrecs >= LOCKS_MAX || u->recs >= LOCKS_MAX_PER_USER) {
		user_forget_if_idle(l, u);
		return -ENOLCK;
	}
	r = calloc(1, sizeof(*r));
	fd = key_fd(l, t);
	if (!r)
		fd = -ENOMEM;
	else if (fd >= 0)
		fd = open_description(fd);
	/* The first lock on a file only the mount shows: a file of its own. */
	else if ((fd = memfd_create("shmfs-lock", MFD_CLOEXEC)) < 0)
		fd = -errno;
	if (fd < 0) {
		free(r);
		user_forget_if_idle(l, u);
		return fd;
	}
	*r = (struct lock_rec){ .dev = t->dev,
				.ino = t->ino,
				.owner = fi->lock_owner,
				.flock = flock,
				.fh = fi->fh,
				.fd = fd,
				.uid = uid,
				.refs = 1,
				.hashed = true };
	b = bucket_of(t->dev, t->ino);
	r->next = l->buckets[b];
	l->buckets[b] = r;
	l->nrecs++;
	u->recs++;
	*out = r;
	return 0;
}

/* Drops a reference (l->mu held); the last one closes the description. */
static void rec_put(struct locks *l, struct lock_rec *r)
{
	struct user_count *u;

	if (--r->refs > 0)
		return;
	close(r->fd);
	u = user_of(l, r->uid, false);
	if (u) {
		u->recs--;
		user_forget_if_idle(l, u);
	}
	l->nrecs--;
	free(r);
}

/* Takes a record out of the table (l->mu held) and drops the table's ref. */
static void rec_unhash(struct locks *l, struct lock_rec *r)
{
	struct lock_rec **p = &l->buckets[bucket_of(r->dev, r->ino)];

	while (*p != r)
		p = &(*p)->next;
	*p = r->next;
	r->hashed = false;
	rec_put(l, r);
}

/* Releases every lock of a record's description, kind by kind. */
static void rec_unlock_all(struct lock_rec *r)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (r->flock)
		flock(r->fd, LOCK_UN);
	else
		fcntl(r->fd, F_OFD_SETLK, &fl);
}

/* One attempt at a lock on the record's description.  Returns 0 or -errno. */
static int rec_lock(struct lock_rec *r, const struct flock *fl, int op,
		    bool wait)
{
	struct flock f;
	int rc;

	if (r->flock) {
		op = wait ? op & ~LOCK_NB : op | LOCK_NB;
		rc = flock(r->fd, op);
	} else {
		f = *fl;
		f.l_pid = 0; /* OFD locks want it 0 */
		rc = fcntl(r->fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &f);
	}
	return rc < 0 ? -errno : 0;
}

/*
 * The interrupt of a waiting request (libfuse calls it with the request's
 * lock held, from the thread that read the INTERRUPT).
 */
static void waiter_interrupt(fuse_req_t req, void *data)
{
	struct waiter *w = data;

	(void)req;
	atomic_store(&w->cancel, EINTR);
	pthread_mutex_lock(&w->l->mu);
	if (w->running)
		pthread_kill(w->thread, LOCKS_SIGNAL);
	pthread_mutex_unlock(&w->l->mu);
}

static void waiter_unlink(struct waiter *w)
{
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
}

/* A timer that sends this thread LOCKS_SIGNAL every LOCKS_KICK_NS. */
static int kick_timer(timer_t *timer)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID,
				.sigev_signo = LOCKS_SIGNAL };
	struct itimerspec its = { .it_interval.tv_nsec = LOCKS_KICK_NS,
				  .it_value.tv_nsec = LOCKS_KICK_NS };

	/* glibc 2.36 names it only by its union member. */
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, timer) < 0)
		return -errno;
	if (timer_settime(*timer, 0, &its, NULL) < 0) {
		timer_delete(*timer);
		return -errno;
	}
	return 0;
}

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct locks *l = w->l;
	struct user_count *u;
	sigset_t set;
	timer_t timer;
	bool timed;
	int rc;

	/* libfuse's workers block every signal, and we were made by one. */
	sigemptyset(&set);
	sigaddset(&set, LOCKS_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* Without the timer a kick could be lost: refuse rather than hang. */
	timed = kick_timer(&timer) == 0;
	rc = timed ? -EINTR : -ENOLCK;
	while (rc == -EINTR) {
		int cancel = atomic_load(&w->cancel);

		if (cancel) {
			rc = -cancel;
			break;
		}
		rc = rec_lock(w->rec, &w->fl, w->op, true);
	}
	if (timed)
		timer_delete(timer);
	/* No interrupt callback runs from here on: the request may go. */
	fuse_req_interrupt_func(w->req, NULL, NULL);
	reply_rc(w->req, rc);

	pthread_mutex_lock(&l->mu);
	if (rc == 0)
		w->rec->pid = w->fl.l_pid;
	rec_put(l, w->rec);
	waiter_unlink(w);
	l->nwaits--;
	u = user_of(l, w->uid, false);
	if (u) {
		u->waits--;
		user_forget_if_idle(l, u);
	}
	pthread_cond_broadcast(&l->idle);
	pthread_mutex_unlock(&l->mu);
	free(w);
	return NULL;
}

/*
 * Starts a wait for `r` (whose reference it takes over) and returns 0: the
 * thread replies.  Errors, the reference still the caller's: -ENOLCK past
 * the caps, -ENOMEM, pthread_create's.
 */
static int wait_start(struct locks *l, fuse_req_t req, struct lock_rec *r,
		      const struct flock *fl, int op, uid_t uid)
{
	struct waiter *w = calloc(1, sizeof(*w));
	struct user_count *u;
	pthread_attr_t attr;
	int rc;

	if (!w)
		return -ENOMEM;
	*w = (struct waiter){
		.l = l, .req = req, .rec = r, .op = op, .uid = uid
	};
	if (fl)
		w->fl = *fl;
	pthread_mutex_lock(&l->mu);
	u = user_of(l, uid, true);
	if (!u || l->closing || l->nwaits >= LOCKS_WAITERS_MAX ||
	    u->waits >= LOCKS_WAITERS_PER_USER) {
		rc = !u ? -ENOMEM : -ENOLCK;
		if (u)
			user_forget_if_idle(l, u);
		pthread_mutex_unlock(&l->mu);
		free(w);
		return rc;
	}
	l->nwaits++;
	u->waits++;
	pthread_mutex_unlock(&l->mu);

	/* An interrupt that came already calls it now: cancel is set. */
	fuse_req_interrupt_func(req, waiter_interrupt, w);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, LOCKS_STACK);
	pthread_mutex_lock(&l->mu);
	rc = -pthread_create(&w->thread, &attr, waiter_main, w);
	w->running = rc == 0;
	if (rc == 0) {
		w->next = l->waiters;
		if (w->next)
			w->next->pprev = &w->next;
		w->pprev = &l->waiters;
		l->waiters = w;
	} else {
		l->nwaits--;
		u = user_of(l, uid, false);
		if (u) {
			u->waits--;
			user_forget_if_idle(l, u);
		}
		pthread_cond_broadcast(&l->idle);
	}
	pthread_mutex_unlock(&l->mu);
	pthread_attr_destroy(&attr);
	if (rc < 0) {
		fuse_req_interrupt_func(req, NULL, NULL);
		free(w);
	}
	return rc;
}

/* SETLK, SETLKW and FLOCK: `fl` for record locks, `op` for flock. */
static void lock_request(fuse_req_t req, const struct lock_target *t,
			 struct fuse_file_info *fi, const struct flock *fl,
			 int op, bool sleep)
{
	struct locks *l = req_fs(req)->locks;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	bool is_flock = !fl;
	bool unlock = is_flock ? (op & LOCK_UN) != 0 : fl->l_type == F_UNLCK;
	struct lock_rec *r;
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	r = rec_find(l, t, fi->lock_owner, is_flock);
	if (!r && !unlock)
		rc = rec_new(l, t, fi, is_flock, ctx->uid, &r);
	if (r)
		r->refs++;
	pthread_mutex_unlock(&l->mu);
	/* Nothing of this owner's to unlock. */
	if (!r) {
		reply_rc(req, rc);
		return;
	}
	rc = rec_lock(r, fl, op, false);
	if ((rc == -EAGAIN || rc == -EACCES) && sleep) {
		rc = wait_start(l, req, r, fl, op, ctx->uid);
		if (rc == 0)
			return;
	}
	pthread_mutex_lock(&l->mu);
	if (rc == 0 && !unlock)
		r->pid = fl ? fl->l_pid : ctx->pid;
	rec_put(l, r);
	pthread_mutex_unlock(&l->mu);
	reply_rc(req, rc);
}

void locks_setlk(fuse_req_t req, const struct lock_target *t,
		 struct fuse_file_info *fi, struct flock *lock, int sleep)
{
	lock_request(req, t, fi, lock, 0, sleep);
}

void locks_flock(fuse_req_t req, const struct lock_target *t,
		 struct fuse_file_info *fi, int op)
{
	lock_request(req, t, fi, NULL, op, !(op & LOCK_NB));
}

/* Whether the two GETLK answers name the same lock. */
static bool same_lock(const struct flock *a, const struct flock *b)
{
	return a->l_type == b->l_type && a->l_start == b->l_start &&
	       a->l_len == b->l_len && a->l_pid == b->l_pid;
}

/*
 * The pid to show for `found`, an OFD lock (l_pid -1) that conflicts with
 * `query`: the pid that took the last lock of the mount's owner holding it
 * (whose own GETLK no longer sees it), or 0 for a holder outside the mount,
 * which the kernel would show as -1 but FUSE can't (l->mu held).
 */
static pid_t holder_pid(struct locks *l, const struct lock_target *t,
			const struct lock_rec *self, const struct flock *query,
			const struct flock *found)
{
	struct lock_rec *r = l->buckets[bucket_of(t->dev, t->ino)];
	struct flock f;

	for (; r; r = r->next) {
		if (r == self || r->flock || r->dev != t->dev ||
		    r->ino != t->ino)
			continue;
		f = *query;
		f.l_pid = 0;
		if (fcntl(r->fd, F_OFD_GETLK, &f) == 0 && !same_lock(&f, found))
			return r->pid;
	}
	return 0;
}

void locks_getlk(fuse_req_t req, const struct lock_target *t,
		 struct fuse_file_info *fi, struct flock *lock)
{
	struct locks *l = req_fs(req)->locks;
	struct lock_rec *r;
	struct flock f = *lock;
	int fd, tmp = -1, rc = 0;

	f.l_pid = 0;
	pthread_mutex_lock(&l->mu);
	/* The owner's own locks never conflict; the daemon's fd has none. */
	r = rec_find(l, t, fi->lock_owner, false);
	fd = r ? r->fd : key_fd(l, t);
	/* A file only the mount shows needs a description of its own. */
	if (!r && fd >= 0 && fd != t->fd)
		fd = tmp = open_description(fd);
	if (!r && key_fd(l, t) < 0)
		f.l_type = F_UNLCK; /* nobody has locked it */
	else if (fd < 0)
		rc = fd;
	else if (fcntl(fd, F_OFD_GETLK, &f) < 0)
		rc = -errno;
	else if (f.l_type != F_UNLCK && f.l_pid == -1)
		f.l_pid = holder_pid(l, t, r, lock, &f);
	pthread_mutex_unlock(&l->mu);
	if (tmp >= 0)
		close(tmp);
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_lock(req, &f);
}

void locks_flush(struct locks *l, const struct lock_target *t, uint64_t owner)
{
	struct lock_rec *r;

	pthread_mutex_lock(&l->mu);
	r = rec_find(l, t, owner, false);
	if (r) {
		/*
		 * A wait of the same owner (another thread) goes on, as it
		 * does in the kernel: it keeps the description, emptied.
		 */
		rec_unlock_all(r);
		if (r->refs == 1)
			rec_unhash(l, r);
	}
	pthread_mutex_unlock(&l->mu);
}

void locks_release(struct locks *l, const struct lock_target *t,
		   const struct fuse_file_info *fi)
{
	struct lock_rec *r, *next;

	pthread_mutex_lock(&l->mu);
	for (r = l->buckets[bucket_of(t->dev, t->ino)]; r; r = next) {
		next = r->next;
		if (r->dev != t->dev || r->ino != t->ino)
			continue;
		if (r->fh == fi->fh || (fi->flock_release && r->flock &&
					r->owner == fi->lock_owner)) {
			rec_unlock_all(r);
			rec_unhash(l, r);
		}
	}
	pthread_mutex_unlock(&l->mu);
}

void locks_free(struct locks *l)
{
	size_t b;

	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->closing = true;
	pthread_mutex_unlock(&l->mu);
	/* The session is over: no interrupt will come; each wait is ended. */
	pthread_mutex_lock(&l->mu);
	while (l->nwaits > 0) {
		struct timespec ts;
		struct waiter *w;

		/*
		 * Not EINTR: the kernel restarts a lock call it interrupted,
		 * and one it didn't would see ERESTARTSYS (512).  The abort
		 * that follows gives every other request ECONNABORTED.
		 */
		for (w = l->waiters; w; w = w->next) {
			atomic_store(&w->cancel, ECONNABORTED);
			pthread_kill(w->thread, LOCKS_SIGNAL);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&l->idle, &l->mu, &ts);
	}
	for (b = 0; b < LOCKS_BUCKETS; b++)
		while (l->buckets[b])
			rec_unhash(l, l->buckets[b]);
	pthread_mutex_unlock(&l->mu);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->idle);
	free(l->users);
	free(l);
}
