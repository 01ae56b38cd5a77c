/* SPDX-License-Identifier: MIT */
/* The inotify watch that keeps the kernel's caches true to the shm directory. */

/*
 * The kernel caches entries and attributes of the mount for fs->timeout
 * seconds.  Whatever changes in the shm directory without going through the
 * mount (a Python program creating a block, the core library resizing one)
 * is reported here by inotify, and this thread tells the kernel to drop what
 * it cached: the entry of a name that appeared, went or moved, the attributes
 * (and, for the daemon-served data path, the page cache) of a block that was
 * written, resized or chmod-ed.
 *
 * The notifications are sent from this thread only, never from a request
 * handler: the kernel takes the directory's lock to invalidate an entry, and
 * a handler of a request that holds it would deadlock.  The thread holds no
 * lock of ours while it notifies.
 *
 * The mount's own creates, unlinks and stores make inotify events too, which
 * would wake the thread once for every change, two thread switches each.
 * So once two batches of events come within WATCH_GATHER_NS of each other
 * while the mount itself is changing the directory (expect_recent), the
 * thread lets the next ones gather that long before it reads them, and
 * goes on so while a read finds events and the mount goes on: one wake a
 * period, not one a change.  Changes made outside while the mount makes
 * none, alone or in a burst, are handled at once, as the kernel's caches
 * must learn of them.  Events waiting make the watch busy for the
 * listings (watch_listing_gen), which then read the directory themselves;
 * an opendir also asks the thread to handle them at once (watch_hurry), so
 * that the readdir after it may find none waiting.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "array_block.h"
#include "expect.h"
#include "fs.h"
#include "inode.h"
#include "lifetime.h"
#include "listing.h"
#include "kind.h"
#include "watch.h"

/*
 * IN_CLOSE_WRITE is left out: every change of size, data or metadata it
 * could stand for already came as IN_MODIFY or IN_ATTRIB, and each open of
 * a block for writing through the mount (the daemon's own handle, the
 * kernel's passthrough file) would otherwise wake this thread for nothing
 * when it is closed.
 */
#define WATCH_EVENTS                                                       \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | \
	 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

#define ATTR_EVENTS (IN_MODIFY | IN_ATTRIB)

/* How long a burst's events gather before the thread reads them. */
#define WATCH_GATHER_NS 1000000L

struct watch {
	struct shmfs *fs;
	int inotify_fd;
	int stop_fd; /* eventfd: written once to stop the thread */
	int sync_fd; /* eventfd: handle what is queued now (watch_hurry) */
	pthread_t thread;
	pthread_mutex_t lock; /* protects `done` with `done_cond` */
	pthread_cond_t done_cond;
	bool done;
	/* When events were last lost (the thread's own), or 0. */
	uint64_t lost_ns;
	/* For watch_listing_gen(): batches read and handled, and the gen. */
	_Atomic uint64_t batches_read;
	_Atomic uint64_t batches_done;
	_Atomic uint64_t listing_gen;
};

/* Every batch read so far is handled. */
static void batch_done(struct watch *w)
{
	atomic_store(&w->batches_done, atomic_load(&w->batches_read));
}

static void inval_entry(struct shmfs *fs, const char *name)
{
	fuse_lowlevel_notify_inval_entry(fs->se, FUSE_ROOT_ID, name,
					 strlen(name));
}

static void inval_inode(struct shmfs *fs, fuse_ino_t id)
{
	/* Attributes and any cached pages: the block changed. */
	if (id)
		fuse_lowlevel_notify_inval_inode(fs->se, id, 0, 0);
}

static void inval_everything_one(void *arg, fuse_ino_t id, const char *name)
{
	struct shmfs *fs = arg;

	inval_inode(fs, id);
	inval_entry(fs, name);
}

/* Events were lost: forget everything cached about every known block. */
static void inval_everything(struct shmfs *fs)
{
	inode_foreach(fs->inodes, inval_everything_one, fs);
	fuse_lowlevel_notify_inval_inode(fs->se, FUSE_ROOT_ID, -1, 0);
}

/*
 * The view NAME.npy of the block `name` (ops_array.c), if the kernel may
 * know it: its entry and attributes, now that the block went, moved or no
 * longer declares an array.
 */
static void inval_view_name(struct shmfs *fs, const char *name)
{
	char view[NAME_MAX + 1];
	size_t len = strlen(name);
	fuse_ino_t id;

	if (len + ARRAY_VIEW_SUFFIX_LEN > NAME_MAX)
		return;
	memcpy(view, name, len);
	memcpy(view + len, ARRAY_VIEW_SUFFIX, ARRAY_VIEW_SUFFIX_LEN + 1);
	id = inode_find_name(fs->inodes, view);
	if (id) {
		inval_inode(fs, id);
		inval_entry(fs, view);
	}
}

/*
 * The block `name` (of `st`, now of `kind`) was written or its attributes
 * or xattrs changed: its view's attributes and pages, and its entry when
 * it is no view now.  Returns whether a view may have come or gone.
 */
static bool inval_view(struct shmfs *fs, const char *name,
		       const struct stat *st, enum shm_kind kind)
{
	fuse_ino_t id = inode_find_ino(fs->inodes, st->st_dev,
				       array_view_ino(st->st_ino));

	if (id) {
		inval_inode(fs, id);
		if (kind != SHM_KIND_DECLARED)
			inval_view_name(fs, name);
	}
	return id || kind == SHM_KIND_DECLARED;
}

/*
 * Handles one event.  Returns true when the listing of the mount changed
 * without the kernel knowing (a block appeared, went or moved outside).
 */
static bool handle_event(struct watch *w, const struct inotify_event *ev)
{
	struct shmfs *fs = w->fs;
	char shown[NAME_MAX + 1];
	const char *name;
	struct stat st;

	if (ev->mask & IN_Q_OVERFLOW) {
		w->lost_ns = shmfs_now_ns();
		lifetime_note_event(fs, NULL, ev->mask);
		listing_note_lost(fs->listing);
		expect_clear(fs->expected);
		inval_everything(fs);
		return true;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		shmfs_log(fs, LOG_ERR,
			  "the shm directory %s was removed or "
			  "moved; the mount no longer follows it",
			  fs->shmdir);
		return false;
	}
	if (!ev->len || (ev->mask & IN_ISDIR))
		return false;
	name = shmfs_mount_name(fs, ev->name, shown);
	if (!name)
		return false;
	/* Whatever it was, the listing and the lifetimes hear of it. */
	listing_note_event(fs, ev->name, ev->mask);
	lifetime_note_event(fs, ev->name, ev->mask);
	/*
	 * A view goes with its block's name, the mount's own changes too (the
	 * kernel knows of the block's entry only); a block made under a
	 * view's name replaces the view.
	 */
	if (ev->mask & (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO))
		inval_view_name(fs, name);
	if (ev->mask & (IN_CREATE | IN_MOVED_TO) && array_view_name(name) &&
	    inode_find_name(fs->inodes, name))
		inval_entry(fs, name);
	if (ev->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO) &&
	    expect_take(fs->expected, ev->name, ev->mask))
		return false;
	/*
	 * A name created was missing just before (a link or create over a
	 * name fails), and missing names are never cached (ops_root.c): the
	 * kernel has nothing to drop, and the invalidation would only wait
	 * for the directory's lock.  Unless events were lost: the removal
	 * of the name may have been among them, and inval_everything reaches
	 * only the names nodes carry (not a hard link's other name), so until
	 * every entry from before the loss has expired, a create drops the
	 * name's entry.  A name moved in may replace one.
	 */
	if (ev->mask & IN_CREATE) {
		if (w->lost_ns && (double)(shmfs_now_ns() - w->lost_ns) <
					  (fs->timeout + 1) * 1e9)
			inval_entry(fs, name);
		return true;
	}
	if (ev->mask & IN_MOVED_TO) {
		inval_entry(fs, name);
		return true;
	}
	if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
		/* Open files of the block see its link count drop. */
		inval_inode(fs, inode_find_name(fs->inodes, name));
		inval_entry(fs, name);
		return true;
	}
	if (ev->mask & ATTR_EVENTS) {
		enum shm_kind kind;
		int rc = shm_kind_of(fs, ev->name, &st, &kind);
		bool views = false;

		if (rc == 0) {
			inval_inode(fs, inode_find_ino(fs->inodes, st.st_dev,
						       st.st_ino));
			views = inval_view(fs, name, &st, kind);
		}
		/*
		 * The kernel keeps a list's item names and attributes
		 * (ops_item.c): a chmod or a rewrite of the block drops them
		 * all with the list's entry.
		 */
		if (rc == 0 && kind == SHM_KIND_LIST)
			inval_entry(fs, name);
		/*
		 * A write that made a file a list or an array, or a list
		 * or an array a file: the kernel's entry is of another
		 * kind, drop it.
		 */
		if (rc == 0 &&
		    inode_has_other_kind(fs->inodes, st.st_dev, st.st_ino,
					 shm_kind_node(kind))) {
			inval_entry(fs, name);
			return true;
		}
		return views;
	}
	return false;
}

/*
 * The top level's attributes and the kernel's cached listing of it (kept
 * in the directory's page cache: see ops_root.c).
 */
static void inval_listing(struct shmfs *fs)
{
	fuse_lowlevel_notify_inval_inode(fs->se, FUSE_ROOT_ID, 0, 0);
}

/*
 * True when `ev`, an attribute event, is followed in the same batch by
 * another one on the same name: invalidating once, for the last, is enough
 * (a stream of writes makes a stream of IN_MODIFY).
 */
static bool superseded(const struct inotify_event *ev, const char *next,
		       const char *end)
{
	const struct inotify_event *nx = (const struct inotify_event *)next;

	if (!(ev->mask & ATTR_EVENTS) || !ev->len || next >= end)
		return false;
	return (nx->mask & ATTR_EVENTS) && !(nx->mask & IN_Q_OVERFLOW) &&
	       nx->wd == ev->wd && nx->len && !strcmp(nx->name, ev->name);
}

static void *watch_thread(void *arg)
{
	struct watch *w = arg;
	char buf[64 * 1024]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd pfd[3] = {
		{ .fd = w->inotify_fd, .events = POLLIN },
		{ .fd = w->stop_fd, .events = POLLIN },
		{ .fd = w->sync_fd, .events = POLLIN },
	};
	const struct timespec gather = { 0, WATCH_GATHER_NS };
	const struct inotify_event *ev;
	bool listing_changed, burst = false;
	uint64_t last = 0, now, count;
	ssize_t n;
	char *p;

	pthread_setname_np(pthread_self(), "shmfs-watch");
	for (;;) {
		/* In a burst, sleep (unless hurried): events gather. */
		pfd[0].fd = burst ? -1 : w->inotify_fd;
		if (ppoll(pfd, 3, burst ? &gather : NULL, NULL) < 0) {
			if (errno == EINTR)
				continue;
			shmfs_log(w->fs, LOG_ERR, "watch: poll: %s",
				  strerror(errno));
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[2].revents &&
		    read(w->sync_fd, &count, sizeof(count)) < 0 &&
		    errno != EAGAIN)
			shmfs_log(w->fs, LOG_ERR, "watch: sync: %s",
				  strerror(errno));
		atomic_fetch_add(&w->batches_read, 1);
		n = read(w->inotify_fd, buf, sizeof(buf));
		if (n < 0) {
			batch_done(w);
			if (errno == EINTR || errno == EAGAIN) {
				/* A gather found nothing: the burst is over. */
				burst = false;
				continue;
			}
			shmfs_log(w->fs, LOG_ERR, "watch: read: %s",
				  strerror(errno));
			break;
		}
		/*
		 * A burst goes on while events come, at most a period apart,
		 * and the mount itself is changing the directory: changes
		 * made outside alone are handled at once.
		 */
		now = shmfs_now_ns();
		burst = (burst || now - last < WATCH_GATHER_NS) &&
			expect_recent(w->fs->expected, now, WATCH_GATHER_NS);
		listing_changed = false;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (!superseded(ev, p + sizeof(*ev) + ev->len,
					buf + n) &&
			    handle_event(w, ev))
				listing_changed = true;
		}
		/* Once per batch: a burst of creates costs one. */
		if (listing_changed) {
			atomic_fetch_add(&w->listing_gen, 1);
			inval_listing(w->fs);
		}
		batch_done(w);
		last = shmfs_now_ns();
	}
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->done_cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

uint64_t watch_listing_gen(struct watch *w)
{
	uint64_t done, gen;
	int pending = 0;

	if (!w)
		return WATCH_BUSY;
	/* Handled first, then the gen: a batch done since has bumped it. */
	done = atomic_load(&w->batches_done);
	gen = atomic_load(&w->listing_gen);
	if (ioctl(w->inotify_fd, FIONREAD, &pending) < 0 || pending > 0)
		return WATCH_BUSY;
	/* A batch read before the ioctl and not handled yet. */
	if (atomic_load(&w->batches_read) != done)
		return WATCH_BUSY;
	return gen == WATCH_BUSY ? 0 : gen;
}

uint64_t watch_hurry(struct watch *w)
{
	uint64_t one = 1, gen = watch_listing_gen(w);

	/*
	 * Never waits for the thread: it may be waiting for the directory's
	 * lock in an invalidation, behind requests that wait for a worker,
	 * and a worker waiting here would be one fewer (any user can open
	 * the directory in a loop).
	 */
	if (gen == WATCH_BUSY && w &&
	    write(w->sync_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		shmfs_log(w->fs, LOG_ERR, "watch: hurry: %s", strerror(errno));
	return gen;
}

int watch_start(struct shmfs *fs, struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return -ENOMEM;
	w->fs = fs;
	w->stop_fd = w->sync_fd = -1;
	w->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->inotify_fd < 0)
		goto fail_errno;
	if (inotify_add_watch(w->inotify_fd, fs->shmdir, WATCH_EVENTS) < 0)
		goto fail_errno;
	w->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (w->stop_fd < 0)
		goto fail_errno;
	w->sync_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->sync_fd < 0)
		goto fail_errno;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->done_cond, NULL);
	rc = pthread_create(&w->thread, NULL, watch_thread, w);
	if (rc) {
		pthread_cond_destroy(&w->done_cond);
		pthread_mutex_destroy(&w->lock);
		rc = -rc;
		goto fail;
	}
	*out = w;
	return 0;

fail_errno:
	rc = -errno;
fail:
	if (w->sync_fd >= 0)
		close(w->sync_fd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->inotify_fd >= 0)
		close(w->inotify_fd);
	free(w);
	return rc;
}

int watch_stop(struct watch *w)
{
	uint64_t one = 1;
	struct timespec deadline;
	bool done;

	if (write(w->stop_fd, &one, sizeof(one)) < 0)
		shmfs_log(w->fs, LOG_ERR, "watch: stop: %s", strerror(errno));
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 1;
	pthread_mutex_lock(&w->lock);
	while (!w->done &&
	       pthread_cond_timedwait(&w->done_cond, &w->lock, &deadline) == 0)
		;
	done = w->done;
	pthread_mutex_unlock(&w->lock);
	return done ? 0 : -ETIMEDOUT;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	pthread_join(w->thread, NULL);
	close(w->sync_fd);
	close(w->stop_fd);
	close(w->inotify_fd);
	pthread_cond_destroy(&w->done_cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
