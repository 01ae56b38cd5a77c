/* SPDX-License-Identifier: MIT */
/* The holders of the mount's blocks: one cached scan, and its xattrs. */

/*
 * A scan of /proc costs tens of milliseconds with thousands of processes,
 * and any user may ask for holders: so no request ever scans, or waits for
 * a scan (docs/security.md, "Holders scans").  One thread of the daemon,
 * started by holders_cache_start, makes every scan, in the background:
 *   - for requests, at most one per HOLDERS_CACHE_NS, whoever asks and
 *     however often: a request answers from the last scan and, when that
 *     is older than HOLDERS_CACHE_NS, asks for the next;
 *   - for the lifetime enforcer (holders_cache_want), whose scans are
 *     paced by the enforcer itself (a tenth of the time at most).
 * A block made after the last scan's listing is not in it: its request
 * gets EAGAIN (the next scan, at most HOLDERS_CACHE_NS away, has it), so a
 * new block is never reported as held by nobody.  A snapshot is immutable
 * and counted, so a request keeps using the one it got while the cache
 * moves on.
 *
 * The daemon runs as root and may read every process's /proc files; what
 * a caller sees of a scan is limited by the caller's read permission on
 * the block, checked against the block as it is now, and by what its own
 * view of /proc would show (holders_visible).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "holders_cache.h"

/* The least time between two scan starts, whoever asked. */
#define HOLDERS_GAP_NS 20000000ull

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the scanner waits on it */
	struct holders_ref *cur;
	struct shmfs *fs;
	pthread_t thread;
	bool running, stop;
	bool wanted;	     /* a request wants a newer scan */
	uint64_t want_after; /* the enforcer wants a scan starting at or
				after this; 0: none */
	uint64_t last_start;
	int event_fd; /* readable when a scan is published */
	/* /proc's hidepid= and gid= as the daemon sees them, read after
	 * each scan (holders_visible). */
	int hidepid;
	gid_t hide_gid;
	bool has_hide_gid;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER, .event_fd = -1 };

/*
 * /proc's hidepid= (0 off, 1 noaccess, 2 invisible, 4 ptraceable) and gid=
 * from the daemon's /proc/self/mountinfo.  Called without the lock.
 */
static void read_proc_view(int *hidepid, gid_t *gid, bool *has_gid)
{
	char *line = NULL, *p;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	*hidepid = 0;
	*has_gid = false;
	if (!f)
		return;
	/*
	 * Every procfs on /proc (one may be mounted over another): any that
	 * hides makes the daemon hide (every mode alike, holders_visible),
	 * and a gid= lets its group see only if every one that hides has
	 * the same.
	 */
	while (getline(&line, &cap, f) > 0) {
		int hide = 0;
		bool has = false;
		gid_t g = 0;

		/* "... /proc OPTS ... - proc SRC SUPER" */
		if (!strstr(line, " /proc ") || !strstr(line, " - proc "))
			continue;
		p = strstr(line, "hidepid=");
		if (p) {
			p += 8;
			if (!strncmp(p, "noaccess", 8) || *p == '1')
				hide = 1;
			else if (!strncmp(p, "invisible", 9) || *p == '2')
				hide = 2;
			else if (!strncmp(p, "ptraceable", 10) || *p == '4')
				hide = 4;
		}
		p = strstr(line, ",gid=");
		if (p) {
			g = (gid_t)strtoul(p + 5, NULL, 10);
			has = true;
		}
		if (!hide)
			continue;
		*has_gid = (*hidepid ? *has_gid && g == *gid : true) && has;
		*gid = g;
		if (hide > *hidepid)
			*hidepid = hide;
	}
	free(line);
	fclose(f);
}

bool holders_xattr_is(const char *name)
{
	return !strcmp(name, HOLDERS_XATTR) ||
	       !strcmp(name, HOLDERS_XATTR_COUNT) ||
	       !strcmp(name, HOLDERS_XATTR_AGE);
}

void holders_cache_put(struct holders_ref *ref)
{
	if (ref && atomic_fetch_sub(&ref->refs, 1) == 1) {
		shmblock_holders_free(ref->snap);
		free(ref);
	}
}

static uint64_t age_ns(const struct holders_ref *ref)
{
	struct shmblock_holders_stats st;

	shmblock_holders_stats(ref->snap, &st);
	return shmfs_now_ns() - st.started_ns;
}

/* When the next scan may start (cache.lock held); 0: none is wanted. */
static uint64_t next_due(void)
{
	uint64_t due = 0;

	if (cache.wanted)
		due = cache.last_start + HOLDERS_CACHE_NS;
	if (cache.want_after && (!due || cache.want_after < due))
		due = cache.want_after;
	if (due && due < cache.last_start + HOLDERS_GAP_NS)
		due = cache.last_start + HOLDERS_GAP_NS;
	return due;
}

static void *scanner(void *arg)
{
	struct shmblock_holders *snap;
	struct holders_ref *ref;
	uint64_t now, due, one = 1;
	bool has_hide_gid;
	gid_t hide_gid = 0;
	int rc, hidepid;

	(void)arg;
	pthread_setname_np(pthread_self(), "shmfs-holders");
	pthread_mutex_lock(&cache.lock);
	while (!cache.stop) {
		due = next_due();
		now = shmfs_now_ns();
		if (!due || due > now) {
			struct timespec ts;

			if (!due) {
				pthread_cond_wait(&cache.cond, &cache.lock);
				continue;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)((due - now) / 1000000000u);
			ts.tv_nsec += (long)((due - now) % 1000000000u);
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&cache.cond, &cache.lock, &ts);
			continue;
		}
		cache.last_start = now;
		cache.wanted = false;
		if (cache.want_after && cache.want_after <= now)
			cache.want_after = 0;
		pthread_mutex_unlock(&cache.lock);
		ref = calloc(1, sizeof(*ref));
		rc = ref ? shmblock_holders_scan(cache.fs->dirfd, 0, &snap)
			 : -ENOMEM;
		if (rc < 0) {
			free(ref);
			/* Short of memory or descriptors: tried again when
			 * next asked; nothing is decided on a missing scan. */
			shmfs_log(cache.fs, LOG_NOTICE, "holders scan: %s",
				  strerror(-rc));
		} else {
			ref->snap = snap;
			atomic_init(&ref->refs, 1);
		}
		read_proc_view(&hidepid, &hide_gid, &has_hide_gid);
		pthread_mutex_lock(&cache.lock);
		cache.hidepid = hidepid;
		cache.hide_gid = hide_gid;
		cache.has_hide_gid = has_hide_gid;
		if (rc == 0) {
			holders_cache_put(cache.cur);
			cache.cur = ref;
		}
		/* The enforcer looks, whether this one worked or not. */
		if (write(cache.event_fd, &one, sizeof(one)) < 0)
			shmfs_log(cache.fs, LOG_ERR, "holders: wake: %s",
				  strerror(errno));
	}
	pthread_mutex_unlock(&cache.lock);
	return NULL;
}

int holders_cache_start(struct shmfs *fs)
{
	pthread_condattr_t ca;
	int rc;

	cache.fs = fs;
	cache.stop = false;
	cache.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cache.event_fd < 0)
		return -errno;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cache.cond, &ca);
	pthread_condattr_destroy(&ca);
	/* One scan now: the first requests find it. */
	cache.wanted = true;
	cache.last_start = shmfs_now_ns() - HOLDERS_CACHE_NS;
	rc = -pthread_create(&cache.thread, NULL, scanner, NULL);
	if (rc < 0) {
		close(cache.event_fd);
		cache.event_fd = -1;
		pthread_cond_destroy(&cache.cond);
		return rc;
	}
	cache.running = true;
	return 0;
}

void holders_cache_stop(void)
{
	if (!cache.running)
		return;
	pthread_mutex_lock(&cache.lock);
	cache.stop = true;
	pthread_cond_signal(&cache.cond);
	pthread_mutex_unlock(&cache.lock);
	pthread_join(cache.thread, NULL);
	cache.running = false;
	pthread_mutex_lock(&cache.lock);
	holders_cache_put(cache.cur);
	cache.cur = NULL;
	pthread_mutex_unlock(&cache.lock);
	pthread_cond_destroy(&cache.cond);
	close(cache.event_fd);
	cache.event_fd = -1;
}

int holders_cache_fd(void)
{
	return cache.event_fd;
}

void holders_cache_want(uint64_t not_before_ns)
{
	pthread_mutex_lock(&cache.lock);
	if (!cache.want_after || not_before_ns < cache.want_after) {
		cache.want_after = not_before_ns ? not_before_ns : 1;
		pthread_cond_signal(&cache.cond);
	}
	pthread_mutex_unlock(&cache.lock);
}

struct holders_ref *holders_cache_latest(void)
{
	struct holders_ref *ref;

	pthread_mutex_lock(&cache.lock);
	ref = cache.cur;
	if (ref)
		atomic_fetch_add(&ref->refs, 1);
	pthread_mutex_unlock(&cache.lock);
	return ref;
}

int holders_cache_get(struct shmfs *fs, uint64_t dev, uint64_t ino,
		      struct holders_ref **out)
{
	struct holders_ref *ref;
	int rc = 0;

	(void)fs;
	pthread_mutex_lock(&cache.lock);
	ref = cache.cur;
	if (!ref || age_ns(ref) >= HOLDERS_CACHE_NS ||
	    (ino && !shmblock_holders_find(ref->snap, dev, ino))) {
		/* Asks for the next scan; waits for nothing. */
		if (!cache.wanted) {
			cache.wanted = true;
			pthread_cond_signal(&cache.cond);
		}
		if (!ref ||
		    (ino && !shmblock_holders_find(ref->snap, dev, ino)))
			rc = -EAGAIN;
	}
	if (rc == 0) {
		atomic_fetch_add(&ref->refs, 1);
		*out = ref;
	}
	pthread_mutex_unlock(&cache.lock);
	return rc;
}

bool holders_may_read(fuse_req_t req, mode_t mode, uid_t uid, gid_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	/* CAP_DAC_OVERRIDE; the request carries uids, not capabilities. */
	if (ctx->uid == 0)
		return true;
	if (ctx->uid == uid)
		return mode & S_IRUSR;
	if (shmfs_caller_in_group(req, gid))
		return mode & S_IRGRP;
	return mode & S_IROTH;
}

/*
 * Appends `c` to a line, escaped as /proc/mounts does (\ooo) when it would
 * break the line's fields apart: a command name may hold any byte.
 */
static size_t put_comm(char *out, const char *comm)
{
	size_t n = 0;
	unsigned char c;

	for (; (c = (unsigned char)*comm); comm++) {
		if (c <= ' ' || c == '\\' || c >= 0x7f)
			n += (size_t)sprintf(out + n, "\\%03o", c);
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
	return n;
}

static const char *how_word(unsigned how)
{
	bool fd = how & SHMBLOCK_HELD_FD, map = how & SHMBLOCK_HELD_MAP;
	bool w = how & SHMBLOCK_HELD_MAP_WRITE;

	if (fd && map)
		return w ? "both-rw" : "both-ro";
	if (map)
		return w ? "map-rw" : "map-ro";
	return "fd";
}

bool holders_visible(fuse_req_t req, const struct shmblock_holder *h)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	bool has_gid;
	gid_t gid;
	int hide;

	/* The daemon's own descriptors are the mount's open files, whose
	 * holders the scan finds through the mount (docs/holders.md). */
	if (h->pid == getpid())
		return false;
	if (ctx->uid == 0 || h->uid == ctx->uid)
		return true;
	pthread_mutex_lock(&cache.lock);
	hide = cache.hidepid;
	gid = cache.hide_gid;
	has_gid = cache.has_hide_gid;
	pthread_mutex_unlock(&cache.lock);
	/*
	 * With hidepid, /proc shows the caller (noaccess: lets it read) only
	 * its own processes, unless it is in the gid= group: neither is
	 * another's process shown here.  ptraceable asks for ptrace rights,
	 * which a request can't carry: its own only, too.
	 */
	return !hide || (has_gid && shmfs_caller_in_group(req, gid));
}

/*
 * The holders value: "PID UID HOW COMM\n" a holder the caller may see
 * (holders_visible), by PID.  Returns the malloc'd text and its length in
 * *len, and the number of lines in *count, or NULL.
 */
static char *holders_text(fuse_req_t req,
			  const struct shmblock_holders_entry *e, size_t *len,
			  size_t *count)
{
	/* pid, uid, how, an escaped 15-byte comm, spaces, newline */
	size_t line = 12 + 11 + 8 + 15 * 4 + 5, n = 0, i;
	char *buf = malloc((e ? e->nholders : 0) * line + 1);

	if (!buf)
		return NULL;
	*count = 0;
	for (i = 0; e && i < e->nholders; i++) {
		const struct shmblock_holder *h = &e->holders[i];

		if (!holders_visible(req, h))
			continue;
		++*count;

		n += (size_t)sprintf(buf + n, "%d %u %s ", (int)h->pid,
				     (unsigned)h->uid, how_word(h->how));
		n += put_comm(buf + n, h->comm);
		buf[n++] = '\n';
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

void holders_reply_entry(fuse_req_t req, const struct holders_ref *ref,
			 const struct shmblock_holders_entry *e,
			 const char *name, size_t size)
{
	char small[64], *text;
	size_t len, count;
	uint64_t age;

	if (!strcmp(name, HOLDERS_XATTR) ||
	    !strcmp(name, HOLDERS_XATTR_COUNT)) {
		text = holders_text(req, e, &len, &count);
		if (!text) {
			reply_rc(req, -ENOMEM);
			return;
		}
		if (!strcmp(name, HOLDERS_XATTR))
			reply_xattr(req, text, (ssize_t)len, size);
		free(text);
		if (!strcmp(name, HOLDERS_XATTR))
			return;
		len = (size_t)snprintf(small, sizeof(small), "%zu", count);
	} else {
		/* Seconds since the scan began; "partial" when some process
		 * could not be read (PID 1 of a container, even for root). */
		age = age_ns(ref);
		len = (size_t)snprintf(
			small, sizeof(small), "%llu.%03llu%s",
			(unsigned long long)(age / 1000000000u),
			(unsigned long long)(age / 1000000u % 1000),
			shmblock_holders_is_partial(ref->snap) ? " partial"
							       : "");
	}
	reply_xattr(req, small, (ssize_t)len, size);
}

void holders_reply_node(fuse_req_t req, struct node *node, const char *name,
			size_t size)
{
	struct shmfs *fs = req_fs(req);
	struct holders_ref *ref;
	struct stat st;
	int rc = shmfs_node_stat(fs, node, &st);

	if (rc == 0 && !holders_may_read(req, st.st_mode, st.st_uid, st.st_gid))
		rc = -EACCES;
	if (rc == 0)
		rc = holders_cache_get(fs, st.st_dev, st.st_ino, &ref);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	holders_reply_entry(req, ref,
			    shmblock_holders_find(ref->snap, st.st_dev,
						  st.st_ino),
			    name, size);
	holders_cache_put(ref);
}

ssize_t holders_xattr_list_append(char *buf, ssize_t n)
{
	if (n < 0)
		return n;
	memcpy(buf + n, HOLDERS_XATTR_NAMES, sizeof(HOLDERS_XATTR_NAMES));
	return n + (ssize_t)sizeof(HOLDERS_XATTR_NAMES);
}
