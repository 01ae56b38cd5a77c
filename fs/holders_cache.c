/* SPDX-License-Identifier: MIT */
/* The holders of the mount's blocks: one cached scan, and its xattrs. */

/*
 * A scan of /proc costs tens of milliseconds with thousands of processes,
 * while `getfattr -d` over a directory asks for each block's holders in
 * turn: one scan answers them all for HOLDERS_CACHE_NS, and its age is in
 * the holders_age xattr.  The cache is one snapshot behind one lock, taken
 * only to swap the pointer or to scan: requests that meet an old snapshot
 * wait for the one scan that replaces it rather than each scanning.  A
 * snapshot is immutable and counted, so a request keeps using the one it
 * got while the cache moves on.
 *
 * The daemon runs as root and may read every process's /proc files, so the
 * scan itself is complete; what a caller sees of it is limited by the
 * caller's own read permission on the block, checked here against the
 * block as it is now, not as the (up to a second old) scan saw it.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "holders_cache.h"

/* A scan younger than this is not redone for a block it does not know. */
#define HOLDERS_MISS_NS 20000000ull

static struct {
	pthread_mutex_t lock;
	struct holders_ref *cur; /* the lock protects the pointer */
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

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

void holders_cache_clear(void)
{
	pthread_mutex_lock(&cache.lock);
	holders_cache_put(cache.cur);
	cache.cur = NULL;
	pthread_mutex_unlock(&cache.lock);
}

static uint64_t age_ns(const struct holders_ref *ref)
{
	struct shmblock_holders_stats st;

	shmblock_holders_stats(ref->snap, &st);
	return shmfs_now_ns() - st.started_ns;
}

/* Whether the cached scan (cache.lock held) still answers. */
static bool usable(const struct holders_ref *ref, uint64_t dev, uint64_t ino)
{
	uint64_t age;

	if (!ref)
		return false;
	age = age_ns(ref);
	if (age >= HOLDERS_CACHE_NS)
		return false;
	return !ino || age < HOLDERS_MISS_NS ||
	       shmblock_holders_find(ref->snap, dev, ino);
}

int holders_cache_get(struct shmfs *fs, uint64_t dev, uint64_t ino,
		      struct holders_ref **out)
{
	struct shmblock_holders *snap;
	struct holders_ref *ref;
	int rc = 0;

	pthread_mutex_lock(&cache.lock);
	if (!usable(cache.cur, dev, ino)) {
		ref = calloc(1, sizeof(*ref));
		rc = ref ? shmblock_holders_scan(fs->dirfd, 0, &snap) : -ENOMEM;
		if (rc < 0) {
			free(ref);
			goto out;
		}
		ref->snap = snap;
		atomic_init(&ref->refs, 1);
		holders_cache_put(cache.cur);
		cache.cur = ref;
	}
	atomic_fetch_add(&cache.cur->refs, 1);
	*out = cache.cur;
out:
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

/*
 * The holders value: "PID UID HOW COMM\n" a holder, by PID.  Returns the
 * malloc'd text and its length in *len, or NULL.
 */
static char *holders_text(const struct shmblock_holders_entry *e, size_t *len)
{
	/* pid, uid, how, an escaped 15-byte comm, spaces, newline */
	size_t line = 12 + 11 + 8 + 15 * 4 + 5, n = 0, i;
	char *buf = malloc((e ? e->nholders : 0) * line + 1);

	if (!buf)
		return NULL;
	for (i = 0; e && i < e->nholders; i++) {
		const struct shmblock_holder *h = &e->holders[i];

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
	size_t len;
	uint64_t age;

	if (!strcmp(name, HOLDERS_XATTR)) {
		text = holders_text(e, &len);
		if (!text) {
			reply_rc(req, -ENOMEM);
			return;
		}
		reply_xattr(req, text, (ssize_t)len, size);
		free(text);
		return;
	}
	if (!strcmp(name, HOLDERS_XATTR_COUNT)) {
		len = (size_t)snprintf(small, sizeof(small), "%zu",
				       e ? e->nholders : 0);
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
