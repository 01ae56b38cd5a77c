/* SPDX-License-Identifier: MIT */
/*
 * The mount's FUSE connection (connection.h).
 *
 * Why a guardian: a daemon thread that sends a notification
 * (fuse_lowlevel_notify_inval_entry, the watch's) waits in the kernel,
 * uninterruptibly, for the directory's lock.  A process creating a name in
 * that directory holds the lock while it waits for the daemon's answer.
 * If the daemon is killed (SIGKILL, the OOM killer) just then, its other
 * threads end but that one can't, so /dev/fuse is never closed, the
 * request is never answered or aborted, and the creating process and
 * everyone who touches the mount after it hang until someone cuts the
 * connection by hand.  The guardian does that at once: it is told by the
 * kernel when the daemon's main thread ends (PR_SET_PDEATHSIG) and writes
 * the connection's abort file, which it opened before the fork.  The file
 * of a connection that has ended does nothing when written, so a later
 * mount that got the same number is never touched.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connection.h"
#include "fs.h"

#define FUSECTL "/sys/fs/fuse/connections"
/* The signal the kernel sends the guardian when the daemon's thread ends. */
#define GUARD_SIGNAL SIGUSR1

unsigned connection_of(const char *mountpoint)
{
	unsigned major, minor, conn = 0;
	char *line = NULL, path[4096];
	size_t size = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return 0;
	while (getline(&line, &size, f) > 0) {
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor,
			   path) != 3)
			continue;
		shmfs_mountinfo_unescape(path);
		if (!strcmp(path, mountpoint) && strstr(line, " - fuse"))
			conn = minor;
	}
	free(line);
	fclose(f);
	return conn;
}

/* The connection's abort file, opened for writing, or -errno. */
static int open_abort(unsigned conn)
{
	char path[64];
	int fd;

	if (!conn)
		return -ENOTCONN;
	snprintf(path, sizeof(path), FUSECTL "/%u/abort", conn);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	/*
	 * systemd mounts the fusectl file system; a container or a machine
	 * without it may not have it.  Root can mount it, and leaves it.
	 */
	if (fd < 0 && errno == ENOENT &&
	    mount("fusectl", FUSECTL, "fusectl", 0, NULL) == 0)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void connection_abort(unsigned conn)
{
	int fd = open_abort(conn);

	if (fd < 0)
		return;
	if (write(fd, "1", 1) < 0) {
		/* The connection has ended: nothing is left to cut. */
	}
	close(fd);
}

/*
 * Whether the daemon's main thread has ended: the guardian was handed to
 * another parent, or the daemon is a zombie that a thread stuck in the
 * kernel keeps from being reaped.  Only system calls: this runs in a child
 * forked from a threaded process.
 */
static int daemon_gone(pid_t daemon, const char *stat_path)
{
	char buf[512];
	const char *state;

	if (getppid() != daemon)
		return 1;
	state = shmfs_proc_stat(stat_path, buf, sizeof(buf));
	return !state || *state == 'Z' || *state == 'X';
}

static void guard(int abort_fd, int ready_fd, pid_t daemon,
		  const char *stat_path)
{
	sigset_t set;

	sigfillset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	prctl(PR_SET_NAME, "shmfs-guard");
	prctl(PR_SET_PDEATHSIG, GUARD_SIGNAL);
	/* Named and armed: the daemon may go on. */
	if (write(ready_fd, "1", 1) < 0)
		_exit(1);
	/* Nothing of the daemon's but the abort file: not /dev/fuse. */
	if (dup2(abort_fd, 3) < 0)
		_exit(1);
	syscall(SYS_close_range, 4u, ~0u, 0u);
	close(0);
	close(1);
	close(2);
	sigemptyset(&set);
	sigaddset(&set, GUARD_SIGNAL);
	/* Checked before each wait: the daemon may have died before prctl. */
	while (!daemon_gone(daemon, stat_path))
		sigwaitinfo(&set, NULL);
	if (write(3, "1", 1) < 0)
		_exit(1);
	_exit(0);
}

int connection_guard(unsigned conn, pid_t *guardian)
{
	char stat_path[64], ready;
	pid_t daemon = getpid(), pid;
	int fd = open_abort(conn), pipefd[2], rc = 0;
	ssize_t n;

	if (fd < 0)
		return fd;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	snprintf(stat_path, sizeof(stat_path), "/proc/%ld/stat", (long)daemon);
	pid = fork();
	if (pid == 0)
		guard(fd, pipefd[1], daemon, stat_path);
	if (pid < 0)
		rc = -errno;
	close(fd);
	close(pipefd[1]);
	/* Until it is armed: a daemon killed before then has no guardian. */
	while (rc == 0 && (n = read(pipefd[0], &ready, 1)) != 1) {
		if (n < 0 && errno == EINTR)
			continue;
		connection_unguard(pid);
		rc = -ECHILD;
	}
	close(pipefd[0]);
	if (rc == 0)
		*guardian = pid;
	return rc;
}

void connection_unguard(pid_t guardian)
{
	if (guardian <= 0)
		return;
	kill(guardian, SIGKILL);
	waitpid(guardian, NULL, 0);
}
