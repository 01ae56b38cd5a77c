/* SPDX-License-Identifier: MIT */
/* The ground floor: name mapping, the log and the reply helpers (fs.h). */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

/* CAP_SYS_ADMIN's bit in /proc/PID/status (linux/capability.h). */
#define CAP_SYS_ADMIN_BIT 21

#include "fs.h"
#include "inode.h"
#include "passthrough.h"
#include "shmblock.h"

bool shmfs_tmp_name(const char *shm_name, long *pid)
{
	const char *p = NULL, *q = shm_name;
	long v = 0;
	int n;

	/* The last occurrence: a prefix may hold the pattern's start too. */
	while ((q = strstr(q, SHMFS_TMP_PREFIX))) {
		p = q;
		q++;
	}
	if (!p)
		return false;
	p += strlen(SHMFS_TMP_PREFIX);
	for (n = 0; *p >= '0' && *p <= '9' && n < 10; p++, n++)
		v = v * 10 + (*p - '0');
	if (n == 0 || *p++ != '-')
		return false;
	for (n = 0; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
		n++;
	if (n != 8 || *p)
		return false;
	if (pid)
		*pid = v;
	return true;
}

bool shmfs_tmp_block(const struct shmfs *fs, const char *shm_name)
{
	char path[64 + NAME_MAX];

	if (!shmfs_tmp_name(shm_name, NULL))
		return false;
	/* lgetxattr has no *at form; the directory's descriptor has a path. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", fs->dirfd,
		 shm_name);
	if (lgetxattr(path, SHMFS_TMP_XATTR, NULL, 0) >= 0)
		return true;
	/* Only a block the daemon can read and that has no mark is a user's. */
	return errno != ENODATA;
}

int shmfs_block_name(const struct shmfs *fs, const char *name,
		     char out[NAME_MAX + 1])
{
	size_t len = strlen(name), sem = sizeof(SHMFS_SEM_PREFIX) - 1;

	if (len == 0 || strchr(name, '/'))
		return -EINVAL;
	if (fs->prefix_len + len > NAME_MAX)
		return -ENAMETOOLONG;
	if (shmfs_sem_name(name)) {
		/* "sem." alone is no semaphore's (sem_open("/") is EINVAL). */
		if (len == sem)
			return -ENOENT;
		/* "sem.NAME" is sem_open("/" PREFIX "NAME")'s file. */
		memcpy(out, SHMFS_SEM_PREFIX, sem);
		memcpy(out + sem, fs->prefix, fs->prefix_len);
		memcpy(out + sem + fs->prefix_len, name + sem, len - sem + 1);
	} else {
		memcpy(out, fs->prefix, fs->prefix_len);
		memcpy(out + fs->prefix_len, name, len + 1);
		/* A prefix that makes it a semaphore's name: not a block. */
		if (shmfs_sem_name(out))
			return -ENOENT;
	}
	if (shmfs_tmp_block(fs, out))
		return -ENOENT;
	return shmblock_name_check(out);
}

const char *shmfs_mount_name(const struct shmfs *fs, const char *shm_name,
			     char buf[NAME_MAX + 1])
{
	size_t sem = sizeof(SHMFS_SEM_PREFIX) - 1;
	const char *rest = shm_name;

	if (shmfs_sem_name(shm_name))
		rest = shm_name + sem;
	if (strncmp(rest, fs->prefix, fs->prefix_len))
		return NULL;
	if (!rest[fs->prefix_len])
		return NULL;
	/* The mount's "sem.x" is a semaphore: a block "PREFIXsem.x" is hidden. */
	if (rest == shm_name && shmfs_sem_name(rest + fs->prefix_len))
		return NULL;
	/* A list being rebuilt (shmdir.c), by any mount, is no one's block. */
	if (shmfs_tmp_block(fs, shm_name))
		return NULL;
	if (rest == shm_name)
		return shm_name + fs->prefix_len;
	if (!fs->prefix_len)
		return shm_name;
	snprintf(buf, NAME_MAX + 1, SHMFS_SEM_PREFIX "%s",
		 rest + fs->prefix_len);
	return buf;
}

const char *shmfs_proc_stat(const char *path, char *buf, size_t size)
{
	const char *p;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	/* "pid (comm) S ...": the fields go on after the last parenthesis. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p + 2 : NULL;
}

int shmfs_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

void shmfs_mountinfo_unescape(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
					(s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

void shmfs_log(const struct shmfs *fs, int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (fs->foreground) {
		char line[1024];

		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "shmfs: %s%s\n",
			priority <= LOG_ERR	  ? "error: "
			: priority == LOG_WARNING ? "warning: "
						  : "",
			line);
	} else {
		vsyslog(priority, fmt, ap);
	}
	va_end(ap);
}

void shmfs_log_mode(struct shmfs *fs)
{
	const char *why;

	if (atomic_exchange(&fs->mode_logged, true))
		return;
	why = passthrough_reason(fs->pt);
	/* One line: what a program that maps a file of the mount gets. */
	if (!why)
		shmfs_log(fs, LOG_INFO,
			  "data path: kernel passthrough; read, "
			  "write and mmap go straight to the blocks' pages");
	else if (fs->mmapcopy)
		shmfs_log(fs, LOG_INFO,
			  "data path: through the daemon (%s); "
			  "read and write see the blocks at once, MAP_SHARED "
			  "mappings are a page cache copy, not the blocks' "
			  "pages (-o mmapcopy)",
			  why);
	else
		shmfs_log(fs, LOG_INFO,
			  "data path: through the daemon (%s); "
			  "read and write see the blocks at once, MAP_SHARED "
			  "mappings are refused with ENODEV (-o mmapcopy "
			  "allows copies)",
			  why);
}

void reply_rc(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc <= 0 ? -rc : EIO);
}

void shmfs_fill_entry(const struct shmfs *fs, struct fuse_entry_param *e,
		      struct node *node, const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->ino = inode_id(node);
	e->generation = node->generation;
	e->attr = *st;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
}

void reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	struct inode_table *t = req_fs(req)->inodes;

	if (fuse_reply_entry(req, e) != 0)
		inode_forget(t, inode_get(t, e->ino), 1);
}

size_t shmfs_add_dirent(fuse_req_t req, char *buf, size_t room,
			const char *name, const struct fuse_entry_param *e,
			off_t next, bool plus)
{
	if (plus)
		return fuse_add_direntry_plus(req, buf, room, name, e, next);
	return fuse_add_direntry(req, buf, room, name, &e->attr, next);
}

void reply_readdir(fuse_req_t req, size_t size, size_t first, size_t count,
		   bool plus,
		   size_t (*add)(fuse_req_t req, void *arg, size_t i, char *buf,
				 size_t room, bool plus),
		   void *arg)
{
	size_t used = 0, n, i;
	char *buf = malloc(size);

	if (!buf) {
		reply_rc(req, -ENOMEM);
		return;
	}
	for (i = first; i < count; i++) {
		n = add(req, arg, i, buf + used, size - used, plus);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void reply_xattr(fuse_req_t req, const char *buf, ssize_t n, size_t size)
{
	if (n < 0)
		reply_rc(req, (int)n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else if ((size_t)n > size)
		reply_rc(req, -ERANGE);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* Which security modules that label files run on this machine. */
static struct {
	pthread_once_t once;
	bool selinux, smack;
} lsm = { .once = PTHREAD_ONCE_INIT };

static void lsm_read(void)
{
	char list[512] = "";
	int fd = open("/sys/kernel/security/lsm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, list, sizeof(list) - 1);

	if (fd >= 0)
		close(fd);
	if (n > 0)
		list[n] = '\0';
	/* securityfs may be unmounted: each module's own file system tells. */
	lsm.selinux = strstr(list, "selinux") ||
		      access("/sys/fs/selinux", F_OK) == 0;
	lsm.smack = strstr(list, "smack") ||
		    access("/sys/fs/smackfs", F_OK) == 0;
}

int shmfs_xattr_absent(const char *name)
{
	pthread_once(&lsm.once, lsm_read);
	if ((!strcmp(name, "security.selinux") && !lsm.selinux) ||
	    (!strncmp(name, "security.SMACK64", 16) && !lsm.smack))
		return -EOPNOTSUPP;
	return -ENODATA;
}

bool shmfs_caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[64];
	int n, i;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	/* More groups than fit: the kernel reports the count, we look at
	 * the first 64 (a member of more is refused, never let in wrongly). */
	n = fuse_req_getgroups(req, 64, groups);
	for (i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* CAP_SYS_ADMIN in the caller's effective set, from /proc (the request
 * carries no capabilities; a caller gone meanwhile counts as without). */
static bool caller_is_admin(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	unsigned long long caps = 0;
	char path[64], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)ctx->pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", &caps) == 1;
	fclose(f);
	return found && (caps >> CAP_SYS_ADMIN_BIT & 1);
}

/* Drops the trusted.* names from a NUL separated list; the new length. */
static size_t drop_trusted(char *names, size_t len)
{
	size_t in = 0, out = 0, n;

	while (in < len) {
		n = strnlen(names + in, len - in) + 1;
		if (strncmp(names + in, "trusted.", 8)) {
			memmove(names + out, names + in, n);
			out += n;
		}
		in += n;
	}
	return out;
}

ssize_t shmfs_xattr_names(fuse_req_t req, int fd, size_t extra, char **out)
{
	ssize_t size, n;
	char *buf;
	int tries;

	for (tries = 0; tries < 16; tries++) {
		size = flistxattr(fd, NULL, 0);
		if (size < 0)
			return -errno;
		buf = malloc((size_t)size + extra + 1);
		if (!buf)
			return -ENOMEM;
		n = flistxattr(fd, buf, (size_t)size);
		if (n >= 0 && n <= size) {
			if (memmem(buf, (size_t)n, "trusted.", 8) &&
			    !caller_is_admin(req))
				n = (ssize_t)drop_trusted(buf, (size_t)n);
			*out = buf;
			return n;
		}
		free(buf);
		/* ERANGE: the list grew after it was sized.  Again. */
		if (n < 0 && errno != ERANGE)
			return -errno;
	}
	return -EAGAIN;
}

/* The block's attributes, from its descriptor when it has one. */
int shmfs_node_stat(struct shmfs *fs, struct node *node, struct stat *st)
{
	char name[NAME_MAX + 1], shm_name[NAME_MAX + 1];
	struct shmblock *blk;
	int rc;

	pthread_mutex_lock(&node->lock);
	blk = node->blk;
	rc = blk && fstat(shmblock_fd(blk), st) < 0 ? -errno : 0;
	pthread_mutex_unlock(&node->lock);
	if (blk)
		return rc;
	rc = inode_name(fs->inodes, node, name);
	if (rc == 0)
		rc = shmfs_block_name(fs, name, shm_name);
	if (rc < 0)
		return -ESTALE;
	if (fstatat(fs->dirfd, shm_name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? -ESTALE : -errno;
	if (st->st_dev != node->dev || st->st_ino != node->ino)
		return -ESTALE;
	return 0;
}
