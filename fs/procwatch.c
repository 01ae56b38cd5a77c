/* SPDX-License-Identifier: MIT */
/*
 * Process exits from the kernel's process event connector (procwatch.h).
 *
 * One netlink socket (NETLINK_CONNECTOR, group CN_IDX_PROC) hears every
 * thread's exit on the machine, filtered to exits where the kernel can
 * (Linux 6.6), so the daemon holds one descriptor however many owners it
 * follows.  The event comes from do_exit() before the thread is a zombie,
 * so it only says "look now": procwatch_exited() decides, and the caller
 * looks again a little later when the process still seems alive.  The
 * connector needs CAP_NET_ADMIN (or Linux 6.6 and only exit events) and
 * speaks the initial pid namespace's pids: a thread of our own is made to
 * exit at the start, and unless its exit is heard under its own id the
 * watch falls back to a timer.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procwatch.h"

struct procwatch {
	struct shmfs *fs;
	int sock; /* -1: timer */
};

/*
 * Sends LISTEN: a netlink header, a connector header, then the op and
 * (`filtered`, Linux 6.6) the one event type we want, PROC_EVENT_EXIT.
 */
static int send_listen(int sock, bool filtered)
{
	char buf[NLMSG_SPACE(sizeof(struct cn_msg) + 8)]
		__attribute__((aligned(__alignof__(struct nlmsghdr))));
	struct nlmsghdr *nl = (struct nlmsghdr *)buf;
	struct cn_msg *cn = NLMSG_DATA(nl);
	uint32_t in[2] = { PROC_CN_MCAST_LISTEN, PROC_EVENT_EXIT };
	size_t len = filtered ? sizeof(in) : sizeof(in[0]);

	memset(buf, 0, sizeof(buf));
	nl->nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(*cn) + len);
	nl->nlmsg_type = NLMSG_DONE;
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	cn->len = (uint16_t)len;
	memcpy(cn->data, in, len);
	return send(sock, buf, nl->nlmsg_len, 0) < 0 ? -errno : 0;
}

static void *exit_at_once(void *arg)
{
	*(pid_t *)arg = (pid_t)syscall(SYS_gettid);
	return NULL;
}

/*
 * Calls fn for each exit event in `buf` (n bytes); returns whether the
 * exit of thread `tid` was among them.
 */
static bool each_exit(const char *buf, size_t n, pid_t tid,
		      void (*fn)(void *arg, pid_t tgid), void *arg)
{
	const struct nlmsghdr *nl;
	bool seen = false;

	for (nl = (const void *)buf; NLMSG_OK(nl, n); nl = NLMSG_NEXT(nl, n)) {
		const struct cn_msg *cn = NLMSG_DATA(nl);
		struct proc_event ev;

		/* The event follows a 20-byte header: copied to be aligned. */
		if (nl->nlmsg_type == NLMSG_ERROR ||
		    nl->nlmsg_len < NLMSG_LENGTH(sizeof(*cn) + sizeof(ev)) ||
		    cn->id.idx != CN_IDX_PROC)
			continue;
		memcpy(&ev, cn->data, sizeof(ev));
		if (ev.what != PROC_EVENT_EXIT)
			continue;
		if (ev.event_data.exit.process_pid == tid)
			seen = true;
		if (fn)
			fn(arg, ev.event_data.exit.process_tgid);
	}
	return seen;
}

/* Whether the connector tells us of our own thread's exit, by its id. */
static bool hears_own_exit(int sock)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct nlmsghdr))));
	uint64_t deadline = shmfs_now_ns() + 1000000000ull;
	pthread_t t;
	pid_t tid = 0;

	if (pthread_create(&t, NULL, exit_at_once, &tid) != 0)
		return false;
	pthread_join(t, NULL);
	while (shmfs_now_ns() < deadline) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0 && each_exit(buf, (size_t)n, tid, NULL, NULL))
			return true;
	}
	return false;
}

static int open_connector(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = CN_IDX_PROC };
	int sock, size = 1 << 20;

	sock = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		      NETLINK_CONNECTOR);
	if (sock < 0)
		return -errno;
	/* Room for a burst of exits; a lost one makes us look at all. */
	if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) <
	    0)
		setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send_listen(sock, true) < 0) {
		close(sock);
		return -errno;
	}
	if (hears_own_exit(sock))
		return sock;
	/* A kernel before 6.6 takes only the op alone. */
	if (send_listen(sock, false) == 0 && hears_own_exit(sock))
		return sock;
	close(sock);
	return -ENOSYS;
}

int procwatch_open(struct shmfs *fs, struct procwatch **out)
{
	struct procwatch *pw = calloc(1, sizeof(*pw));

	if (!pw)
		return -ENOMEM;
	pw->fs = fs;
	pw->sock = open_connector();
	if (pw->sock < 0) {
		shmfs_log(fs, LOG_INFO,
			  "lifetime: no process event connector (%s): owners "
			  "are looked at every scan period",
			  strerror(-pw->sock));
		pw->sock = -1;
	}
	*out = pw;
	return 0;
}

void procwatch_close(struct procwatch *pw)
{
	if (!pw)
		return;
	if (pw->sock >= 0)
		close(pw->sock);
	free(pw);
}

int procwatch_fd(const struct procwatch *pw)
{
	return pw->sock;
}

void procwatch_read(struct procwatch *pw, void (*fn)(void *arg, pid_t tgid),
		    void *arg)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct nlmsghdr))));
	ssize_t n;

	for (;;) {
		n = recv(pw->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			each_exit(buf, (size_t)n, 0, fn, arg);
			continue;
		}
		/* The socket's buffer overflowed: exits were lost. */
		if (n < 0 && errno == ENOBUFS) {
			fn(arg, 0);
			continue;
		}
		return;
	}
}

int procwatch_start_time(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024], *p, *end;
	int fd, field;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		int err = errno;

		close(fd);
		return err == ESRCH || err == ENOENT ? -ESRCH : -err;
	}
	close(fd);
	if (n == 0)
		return -ESRCH;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -EIO;
	*out = strtoull(p + 1, &end, 10);
	return end == p + 1 ? -EIO : 0;
}

int procwatch_exited(pid_t pid, uint64_t start)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), rc;
	uint64_t now;

	if (pidfd < 0)
		return errno == ESRCH ? 1 : -errno;
	/* Taken after the pidfd: the pidfd is of the process we read. */
	rc = procwatch_start_time(pid, &now);
	if (rc == -ESRCH || (rc == 0 && now != start))
		rc = 1;
	else if (rc == 0)
		/* Readable once the whole thread group has exited. */
		rc = poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1,
			  0) > 0;
	close(pidfd);
	return rc;
}
