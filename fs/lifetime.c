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

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "holders_cache.h"
#include "lifetime.h"
#include "lifetime_holders.h"
#include "lifetime_learn.h"
#include "lifetime_owners.h"
#include "lifetime_table.h"
#include "procwatch.h"

/*
 * How long the thread lets changes gather after a wake: a burst of creates
 * and removals costs one wake, not two a block, and a policy is followed
 * at most this much later.
 */
#define LIFETIME_GATHER_NS 2000000L

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
		lifetime_reread_all(l);
	for (i = 0; i < n; i++) {
		if (!all)
			lifetime_reread(l, names[i]);
		free(names[i]);
	}
	free(names);
}

/* How long poll may sleep: until a recheck or a sweep is due. */
static int poll_timeout(struct lifetime *l, uint64_t now)
{
	uint64_t due = lifetime_recheck_due(l);

	if (l->nowners && (l->sweep_owners || procwatch_fd(l->pw) < 0) &&
	    (!due || l->next_sweep_ns < due))
		due = l->next_sweep_ns;
	if (l->reread_due_ns && (!due || l->reread_due_ns < due))
		due = l->reread_due_ns;
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
	lifetime_reread_all(l);
	for (;;) {
		pthread_mutex_lock(&l->lock);
		l->busy = false;
		l->tracked = l->n;
		pthread_mutex_unlock(&l->lock);
		lifetime_follow_closes(l, l->nholders_pol > 0);
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
			lifetime_read_closes(l);
		if (pfd[3].fd >= 0 && pfd[3].revents)
			procwatch_read(l->pw, lifetime_on_exit, l);
		now = shmfs_now_ns();
		lifetime_do_rechecks(l, now);
		if (l->nowners && (l->sweep_owners || pfd[3].fd < 0) &&
		    now >= l->next_sweep_ns)
			lifetime_sweep_owners(l);
		if (l->reread_due_ns && now >= l->reread_due_ns)
			lifetime_reread_all(l);
		if (pfd[4].revents)
			lifetime_take_scan(l);
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
		lifetime_drop(l, l->all[l->n - 1]);
	for (i = 0; i < l->npending; i++)
		free(l->pending[i]);
	free(l->pending);
	free(l->all);
	free(l->names.b);
	free(l->owners.b);
	free(l->rechecks);
	procwatch_close(l->pw);
	lifetime_follow_closes(l, false);
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
