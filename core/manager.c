/* SPDX-License-Identifier: MIT */
/* The manager: a helper process that unlinks the blocks its owner made. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "shmblock.h"

/*
 * The protocol: SOCK_SEQPACKET, one request per message, one reply each.
 * A REGISTER may carry the block's directory as an SCM_RIGHTS descriptor;
 * without one the block is in SHMBLOCK_SHM_DIR.  The helper treats EOF (the
 * owner is gone, however it died) exactly like SHUTDOWN.  A message the
 * owner has sent is queued in the helper's socket before send returns, so
 * a block registered just before the owner is killed is still cleaned up.
 */
enum { MSG_REGISTER = 1, MSG_SHUTDOWN = 2 };

/* The id xattr's value: 128 random bits as 32 lowercase hex digits. */
#define ID_LEN 32

struct request {
	uint32_t op;
	uint32_t has_dir;
	uint64_t dev;
	uint64_t ino;
	uint32_t has_id; /* the block carries SHMBLOCK_XATTR_ID = id */
	char id[ID_LEN];
	char name[NAME_MAX + 1];
};

struct reply {
	int32_t rc;
};

struct shmblock_manager {
	pthread_mutex_t lock; /* one request/reply exchange at a time */
	int sock;
	pid_t pid;
};

/* ---- the helper process ---- */

struct entry {
	int dir; /* index into dirs */
	dev_t dev;
	ino_t ino;
	bool has_id;
	char id[ID_LEN];
	char name[NAME_MAX + 1];
};

struct registry {
	struct entry *entries;
	size_t count, cap;
	int *dirs; /* dirs[0]: SHMBLOCK_SHM_DIR; others received */
	size_t ndirs, dircap;
};

/* Returns the index of a directory equal to fd (closing fd), or adds it. */
static int add_dir(struct registry *r, int fd)
{
	struct stat a, b;
	size_t i;

	if (fstat(fd, &a) < 0) {
		close(fd);
		return -errno;
	}
	for (i = 0; i < r->ndirs; i++) {
		if (r->dirs[i] >= 0 && fstat(r->dirs[i], &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			close(fd);
			return (int)i;
		}
	}
	if (r->ndirs == r->dircap) {
		size_t cap = r->dircap ? 2 * r->dircap : 4;
		int *dirs = realloc(r->dirs, cap * sizeof(*dirs));

		if (!dirs) {
			close(fd);
			return -ENOMEM;
		}
		r->dirs = dirs;
		r->dircap = cap;
	}
	r->dirs[r->ndirs] = fd;
	return (int)r->ndirs++;
}

static int add_entry(struct registry *r, const struct request *req, int dirfd)
{
	struct entry *e;
	int dir = 0;

	if (dirfd >= 0) {
		dir = add_dir(r, dirfd);
		if (dir < 0)
			return dir;
	}
	if (r->count == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct entry *entries =
			realloc(r->entries, cap * sizeof(*entries));

		if (!entries)
			return -ENOMEM;
		r->entries = entries;
		r->cap = cap;
	}
	e = &r->entries[r->count++];
	e->dir = dir;
	e->dev = (dev_t)req->dev;
	e->ino = (ino_t)req->ino;
	e->has_id = req->has_id != 0;
	memcpy(e->id, req->id, sizeof(e->id));
	memcpy(e->name, req->name, sizeof(e->name));
	e->name[NAME_MAX] = '\0';
	return 0;
}

/*
 * Reads the id xattr of dirfd/name into id; returns 1 if it has one of the
 * right length, 0 if not (or it can't be read), -errno if name can't be
 * opened.  An O_PATH descriptor needs no read permission and opens nothing
 * (a FIFO can't block us); getxattr then goes through /proc/self/fd, as
 * fgetxattr refuses O_PATH descriptors.
 */
static int read_id(int dirfd, const char *name, struct stat *st,
		   char id[ID_LEN])
{
	char path[64], buf[ID_LEN + 1];
	ssize_t n;
	int fd, rc = 0;

	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		rc = -errno;
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = getxattr(path, SHMBLOCK_XATTR_ID, buf, sizeof(buf));
	if (n == ID_LEN) {
		memcpy(id, buf, ID_LEN);
		rc = 1;
	}
out:
	close(fd);
	return rc;
}

/*
 * Whether the file now under e's name is the block the owner made, or its
 * rebuild by a mount (which copies the user.* xattrs, and so the id, onto
 * the new file it swaps in).  With an id recorded, the id decides: a file
 * with another id is someone else's even if the inode number was reused;
 * a file without one is ours only if it is the very inode.  Without an id
 * (the filesystem refused the xattr) only (st_dev, st_ino) identify it.
 */
static bool is_ours(const struct entry *e, int dirfd)
{
	char id[ID_LEN];
	struct stat st;
	int rc;

	rc = read_id(dirfd, e->name, &st, id);
	if (rc < 0 || !S_ISREG(st.st_mode))
		return false;
	if (e->has_id && rc == 1)
		return memcmp(id, e->id, ID_LEN) == 0;
	return st.st_dev == e->dev && st.st_ino == e->ino;
}

/*
 * Unlinks each registered name that still refers to the block the owner
 * created (or a mount's rebuild of it).  A name unlinked meanwhile, or
 * reused for another file, is left alone.
 */
static int release_all(struct registry *r)
{
	int removed = 0;
	size_t i;

	for (i = 0; i < r->count; i++) {
		const struct entry *e = &r->entries[i];
		int dirfd = r->dirs[e->dir];

		if (dirfd < 0 || !is_ours(e, dirfd))
			continue;
		if (unlinkat(dirfd, e->name, 0) == 0)
			removed++;
	}
	return removed;
}

/* Receives one request; returns its length, 0 at EOF, or -errno. */
static ssize_t receive(int sock, struct request *req, int *fd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = req, .iov_len = sizeof(*req) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int))) {
			if (*fd >= 0)
				close(*fd);
			memcpy(fd, CMSG_DATA(c), sizeof(int));
		}
	}
	return n;
}

static void answer(int sock, int32_t rc)
{
	struct reply rep = { .rc = rc };

	/* The owner may be gone; SIGPIPE is ignored and the error is moot. */
	(void)!send(sock, &rep, sizeof(rep), MSG_NOSIGNAL);
}

/*
 * Leaves the owner's world: its own session (no terminal signals), no
 * inherited descriptors but the socket (so a pipe the owner's reader waits
 * on is not held open), default signal handling, SIGPIPE ignored.
 */
static int detach(int sock)
{
	sigset_t none;
	int null, sig, fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	setsid();
	if (chdir("/") < 0)
		return -errno;
	/*
	 * Move the socket above 3 first: /dev/null opens at the lowest free
	 * number, which may be 3 (the owner's end, closed in this process) or
	 * one of 0-2, and must not be overwritten by the socket or overwrite it.
	 */
	fd = fcntl(sock, F_DUPFD, 4);
	if (fd < 0)
		return -errno;
	close(sock);
	sock = fd;
	null = open("/dev/null", O_RDWR);
	if (null < 0)
		return -errno;
	if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		return -errno;
	if (null > 2)
		close(null);
	if (dup2(sock, 3) < 0)
		return -errno;
	close(sock);
	if (close_range(4, ~0u, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (fd = 4; fd < max; fd++)
			close(fd);
	}
	return 3;
}

static void __attribute__((noreturn)) helper_main(int sock)
{
	struct registry reg;
	struct request req;
	int fd, rc;
	ssize_t n;

	memset(&reg, 0, sizeof(reg));
	sock = detach(sock);
	if (sock < 0)
		_exit(1);
	/* dirs[0] is /dev/shm; without it (-1) only given directories work. */
	reg.dircap = 4;
	reg.dirs = malloc(reg.dircap * sizeof(*reg.dirs));
	if (!reg.dirs)
		_exit(1);
	reg.dirs[0] =
		open(SHMBLOCK_SHM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	reg.ndirs = 1;

	for (;;) {
		n = receive(sock, &req, &fd);
		if (n <= 0)
			break; /* EOF or error: the owner is gone */
		if ((size_t)n != sizeof(req)) {
			if (fd >= 0)
				close(fd);
			answer(sock, -EINVAL);
			continue;
		}
		if (req.op == MSG_SHUTDOWN) {
			if (fd >= 0)
				close(fd);
			answer(sock, release_all(&reg));
			_exit(0);
		}
		if (req.op != MSG_REGISTER || (req.has_dir && fd < 0)) {
			if (fd >= 0)
				close(fd);
			answer(sock, -EINVAL);
			continue;
		}
		rc = add_entry(&reg, &req, req.has_dir ? fd : -1);
		if (!req.has_dir && fd >= 0)
			close(fd);
		answer(sock, rc);
	}
	release_all(&reg);
	_exit(0);
}

/* ---- the owner's side ---- */

SHMBLOCK_API int shmblock_manager_start(struct shmblock_manager **out)
{
	struct shmblock_manager *mgr;
	int sv[2], rc;
	pid_t pid;

	mgr = calloc(1, sizeof(*mgr));
	if (!mgr)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		goto out_free;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out_close;
	}
	if (pid == 0) {
		close(sv[0]);
		helper_main(sv[1]);
	}
	close(sv[1]);
	pthread_mutex_init(&mgr->lock, NULL);
	mgr->sock = sv[0];
	mgr->pid = pid;
	*out = mgr;
	return 0;

out_close:
	close(sv[0]);
	close(sv[1]);
out_free:
	free(mgr);
	return rc;
}

SHMBLOCK_API pid_t shmblock_manager_pid(const struct shmblock_manager *mgr)
{
	return mgr->pid;
}

/* Sends one request (with an optional descriptor) and waits for the reply. */
static int exchange(struct shmblock_manager *mgr, const struct request *req,
		    int fd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = (void *)req, .iov_len = sizeof(*req) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct reply rep;
	ssize_t n;
	int rc;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	pthread_mutex_lock(&mgr->lock);
	do
		n = sendmsg(mgr->sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		rc = errno == ECONNRESET ? -EPIPE : -errno;
		goto out;
	}
	do
		n = recv(mgr->sock, &rep, sizeof(rep), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		rc = errno == ECONNRESET ? -EPIPE : -errno;
	else if (n != sizeof(rep))
		rc = -EPIPE; /* EOF: the helper died */
	else
		rc = rep.rc;
out:
	pthread_mutex_unlock(&mgr->lock);
	return rc;
}

/*
 * Marks a new block with a random id, so the helper can still recognise it
 * after a mount rebuilt it under the same name (a new inode carrying copies
 * of its xattrs).  Best effort: on a filesystem without user xattrs (tmpfs
 * before Linux 6.6) or with no entropy to hand, the block goes without and
 * the helper falls back to (st_dev, st_ino).  Returns 1 if the id is set.
 */
static int mark_block(struct shmblock *blk, char id[ID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[ID_LEN / 2];
	ssize_t n;
	int i;

	do
		n = getrandom(raw, sizeof(raw), GRND_NONBLOCK);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(raw))
		return 0;
	for (i = 0; i < ID_LEN / 2; i++) {
		id[2 * i] = hex[raw[i] >> 4];
		id[2 * i + 1] = hex[raw[i] & 15];
	}
	if (fsetxattr(shmblock_fd(blk), SHMBLOCK_XATTR_ID, id, ID_LEN, 0) < 0)
		return 0;
	return 1;
}

static int register_block(struct shmblock_manager *mgr, int dirfd,
			  struct shmblock *blk)
{
	struct request req;
	struct stat st;

	if (fstat(shmblock_fd(blk), &st) < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.has_id = (uint32_t)mark_block(blk, req.id);
	req.op = MSG_REGISTER;
	req.has_dir = dirfd != SHMBLOCK_DEFAULT_DIR;
	req.dev = (uint64_t)st.st_dev;
	req.ino = (uint64_t)st.st_ino;
	strncpy(req.name, shmblock_name(blk), NAME_MAX);
	return exchange(mgr, &req, req.has_dir ? dirfd : -1);
}

SHMBLOCK_API int shmblock_manager_create_block(struct shmblock_manager *mgr,
					       int dirfd, const char *name,
					       size_t size, mode_t mode,
					       unsigned flags,
					       struct shmblock **out)
{
	struct shmblock *blk;
	int rc;

	rc = shmblock_create_at(dirfd, name, size, mode, flags, &blk);
	if (rc < 0)
		return rc;
	rc = register_block(mgr, dirfd, blk);
	if (rc < 0) {
		shmblock_unlink(blk);
		shmblock_close(blk);
		return rc;
	}
	*out = blk;
	return 0;
}

SHMBLOCK_API int
shmblock_manager_create_slist(struct shmblock_manager *mgr, int dirfd,
			      const char *name,
			      const struct shmblock_value *values, size_t count,
			      mode_t mode, struct shmblock_slist **out)
{
	struct shmblock_slist *sl;
	int rc;

	rc = shmblock_slist_create_at(dirfd, name, values, count, mode, &sl);
	if (rc < 0)
		return rc;
	rc = register_block(mgr, dirfd, shmblock_slist_block(sl));
	if (rc < 0) {
		shmblock_unlink(shmblock_slist_block(sl));
		shmblock_slist_close(sl);
		return rc;
	}
	*out = sl;
	return 0;
}

SHMBLOCK_API int shmblock_manager_shutdown(struct shmblock_manager *mgr)
{
	struct request req;
	int rc, status;

	if (!mgr)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.op = MSG_SHUTDOWN;
	rc = exchange(mgr, &req, -1);
	/* Closing our end is EOF for the helper if it missed the request. */
	close(mgr->sock);
	while (waitpid(mgr->pid, &status, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_destroy(&mgr->lock);
	free(mgr);
	return rc;
}
