/* SPDX-License-Identifier: MIT */
/* Readiness: the background parent and systemd learn when the mount works. */

/*
 * libfuse's fuse_daemonize() lets the parent exit as soon as the child has
 * detached, before the session loop runs: `shmfs DIR && ls DIR` then meets a
 * mount whose daemon may still fail (the watch, the loop), and the mounter
 * has already been told "success".  So the daemon forks itself and the
 * parent waits on a pipe for one byte that a thread writes only after a
 * stat of the mount's root came back, that is after the kernel's INIT was
 * answered and a GETATTR served by the running loop.  The same moment is
 * systemd's READY=1 for Type=notify.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef SHMFS_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "fs.h"
#include "notify.h"
#include "passthrough.h"

enum { REPORT_READY = 0, REPORT_FAILED = 1 };

/* How often the STATUS= line's block count is brought up to date. */
#define STATUS_PERIOD_S 10

struct notify {
	bool foreground;
	atomic_int parent_fd; /* the pipe to the waiting parent, or -1 */
	bool thread_started;
	pthread_t thread;
	struct shmfs *fs;
	const char *mountpoint;
	/* Ends the thread's STATUS= updates (notify_stopping, _finish). */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

bool notify_has_sd_notify(void)
{
#ifdef SHMFS_HAVE_LIBSYSTEMD
	return true;
#else
	return false;
#endif
}

/* sd_notify without NOTIFY_SOCKET does nothing, which is what we want. */
static void send_state(const char *state)
{
#ifdef SHMFS_HAVE_LIBSYSTEMD
	(void)sd_notify(0, state);
#else
	(void)state;
#endif
}

/* Tells a waiting parent how the mount went; only the first report counts. */
static void report(struct notify *n, unsigned char status)
{
	int fd = atomic_exchange(&n->parent_fd, -1);
	ssize_t res;

	if (fd < 0)
		return;
	do
		res = write(fd, &status, 1);
	while (res < 0 && errno == EINTR);
	close(fd);
}

/* The parent's whole life after fork: the child's verdict is the status. */
static _Noreturn void wait_for_child(int fd)
{
	unsigned char status = REPORT_FAILED;
	ssize_t res;

	do
		res = read(fd, &status, 1);
	while (res < 0 && errno == EINTR);
	/* EOF: the child died before it was ready. */
	_exit(res == 1 && status == REPORT_READY ? 0 : 1);
}

/* The condition the STATUS= thread waits on, on the monotonic clock. */
static int init_stop(struct notify *n)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr))
		return -ENOMEM;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&n->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rc)
		return -rc;
	pthread_mutex_init(&n->lock, NULL);
	return 0;
}

/* Ends the STATUS= updates; the thread returns. */
static void stop_status(struct notify *n)
{
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

int notify_daemonize(bool foreground, struct notify **out)
{
	struct notify *n = calloc(1, sizeof(*n));
	int fds[2], rc;
	pid_t pid;

	if (!n)
		return -ENOMEM;
	n->foreground = foreground;
	atomic_init(&n->parent_fd, -1);
	if (init_stop(n) < 0) {
		free(n);
		return -ENOMEM;
	}
	if (!foreground) {
		if (pipe2(fds, O_CLOEXEC) < 0)
			goto err;
		pid = fork();
		if (pid < 0) {
			close(fds[0]);
			close(fds[1]);
			goto err;
		}
		if (pid > 0) {
			close(fds[1]);
			wait_for_child(fds[0]);
		}
		close(fds[0]);
		atomic_store(&n->parent_fd, fds[1]);
		/* No controlling terminal: a hangup must not end the mount. */
		if (setsid() < 0) {
			report(n, REPORT_FAILED);
			goto err;
		}
	}
	/* Don't keep the directory we were started in busy. */
	if (chdir("/") < 0) {
		report(n, REPORT_FAILED);
		goto err;
	}
	*out = n;
	return 0;

err:
	rc = -errno;
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
	return rc;
}

/* Points stdin, stdout and stderr at /dev/null once nobody reads them. */
static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* The blocks the mount shows (and its semaphores; other prefixes hidden). */
static long count_blocks(struct shmfs *fs)
{
	char shown[NAME_MAX + 1];
	struct dirent *de;
	long n = 0;
	DIR *dir;
	int fd;

	fd = openat(fs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dir)))
		if ((de->d_type == DT_REG || de->d_type == DT_UNKNOWN) &&
		    shmfs_mount_name(fs, de->d_name, shown))
			n++;
	closedir(dir);
	return n;
}

/*
 * STATUS= for `systemctl status`: what is mounted where, the data path,
 * and how many blocks it shows; after `first` (READY=1) in one message.
 * Nothing is sent when the count is still `*last_count`.
 */
static void send_status(struct notify *n, const char *first, long *last_count)
{
	struct shmfs *fs = n->fs;
	const char *why = passthrough_reason(fs->pt);
	long count = count_blocks(fs);
	char msg[1024], blocks[32];

	if (count == *last_count)
		return;
	*last_count = count;
	if (count >= 0)
		snprintf(blocks, sizeof(blocks), "%ld block%s", count,
			 count == 1 ? "" : "s");
	else
		snprintf(blocks, sizeof(blocks), "blocks unknown");
	snprintf(msg, sizeof(msg),
		 "%sSTATUS=%s mounted at %s%s%s; data path: %s%s%s; %s", first,
		 fs->shmdir, n->mountpoint, fs->prefix_len ? ", prefix " : "",
		 fs->prefix,
		 why ? "through the daemon (" : "kernel passthrough",
		 why ? why : "", why ? ")" : "", blocks);
	send_state(msg);
}

/* Keeps the STATUS= line's count current until the mount goes away. */
static void status_loop(struct notify *n, long last_count)
{
	struct timespec until;
	bool stop = false;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += STATUS_PERIOD_S;
		pthread_mutex_lock(&n->lock);
		while (!n->stop && pthread_cond_timedwait(&n->cond, &n->lock,
							  &until) != ETIMEDOUT)
			;
		stop = n->stop;
		pthread_mutex_unlock(&n->lock);
		if (stop)
			break;
		send_status(n, "", &last_count);
	}
}

static void *wait_ready(void *arg)
{
	struct notify *n = arg;
	long last_count = LONG_MIN; /* no STATUS= sent */
	int rc;

	/* Ready once the INIT reply is written (passthrough.h says why). */
	rc = passthrough_wait_init(n->fs->pt);
	if (rc < 0) {
		int err = -rc;

		report(n, REPORT_FAILED);
		/*
		 * Ended or unmounted before it was ready (a signal, umount,
		 * fusermount3 -u): the loop ends by itself, and it is no
		 * fault of the daemon's.
		 */
		if (fuse_session_exited(n->fs->se) || err == ECONNABORTED ||
		    err == ENOTCONN || err == ENOENT)
			return NULL;
		shmfs_log(n->fs, LOG_ERR, "mount point %s does not answer: %s",
			  n->mountpoint, strerror(err));
		/* The signal handlers end the loop and unmount. */
		kill(getpid(), SIGTERM);
		return NULL;
	}
	shmfs_log_mode(n->fs);
	if (getenv("NOTIFY_SOCKET") && notify_has_sd_notify())
		send_status(n, "READY=1\n", &last_count);
	report(n, REPORT_READY);
	if (!n->foreground)
		detach_stdio();
	if (last_count != LONG_MIN)
		status_loop(n, last_count);
	return NULL;
}

int notify_start(struct notify *n, struct shmfs *fs, const char *mountpoint)
{
	int rc;

	n->fs = fs;
	n->mountpoint = mountpoint;
	rc = pthread_create(&n->thread, NULL, wait_ready, n);
	if (rc != 0)
		return -rc;
	n->thread_started = true;
	return 0;
}

void notify_stopping(struct notify *n)
{
	if (!n)
		return;
	stop_status(n);
	send_state("STOPPING=1\nSTATUS=unmounting");
	/* The loop ended: no INIT reply is coming if none came. */
	if (n->fs)
		passthrough_give_up_init(n->fs->pt);
}

void notify_finish(struct notify *n)
{
	if (!n)
		return;
	stop_status(n);
	if (n->thread_started)
		pthread_join(n->thread, NULL);
	report(n, REPORT_FAILED);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}
