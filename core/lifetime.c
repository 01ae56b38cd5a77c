/* SPDX-License-Identifier: MIT */
/*
 * Lifetimes (shmblock.h): the one parser and formatter of the policy text,
 * used by the library, lsshm and the daemon, and the calls that set and
 * read it.  The xattr is set by path, never through an open descriptor:
 * an open and close would wake a daemon watching for close events, and
 * setting an xattr needs write permission on the block, not an open.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "shmblock.h"

/* Parses a decimal number of 1 to 20 digits; NULL on anything else. */
static const char *parse_u64(const char *p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = p;

	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == start)
		return NULL;
	*out = v;
	return p;
}

/* Whether [p, end) is exactly the word `w`. */
static bool is_word(const char *p, const char *end, const char *w)
{
	size_t n = strlen(w);

	return (size_t)(end - p) == n && !memcmp(p, w, n);
}

static int parse_owner(const char *p, const char *end,
		       struct shmblock_lifetime *lt)
{
	uint64_t pid;

	lt->kind = SHMBLOCK_LIFETIME_OWNER;
	if (p == end)
		return 0;
	if (*p++ != '=')
		return -EINVAL;
	p = parse_u64(p, end, &pid);
	if (!p || pid == 0 || pid > INT32_MAX)
		return -EINVAL;
	lt->pid = (pid_t)pid;
	if (p == end)
		return 0;
	if (*p++ != ':')
		return -EINVAL;
	p = parse_u64(p, end, &lt->start_time);
	return p == end && lt->start_time ? 0 : -EINVAL;
}

int shmblock_lifetime_parse(const char *text, size_t len,
			    struct shmblock_lifetime *out)
{
	const char *end = text + len;
	struct shmblock_lifetime lt = { 0 };
	int rc = 0;

	if (len && end[-1] == '\n')
		end--;
	if (is_word(text, end, "persist"))
		lt.kind = SHMBLOCK_LIFETIME_PERSIST;
	else if (is_word(text, end, "last-holder"))
		lt.kind = SHMBLOCK_LIFETIME_LAST_HOLDER;
	else if (end - text >= 5 && !memcmp(text, "owner", 5))
		rc = parse_owner(text + 5, end, &lt);
	else if (end - text > 5 && !memcmp(text, "idle=", 5)) {
		const char *p = parse_u64(text + 5, end, &lt.idle_seconds);

		lt.kind = SHMBLOCK_LIFETIME_IDLE;
		if (p != end || lt.idle_seconds == 0 ||
		    lt.idle_seconds > SHMBLOCK_LIFETIME_IDLE_MAX)
			rc = -EINVAL;
	} else {
		rc = -EINVAL;
	}
	if (rc == 0)
		*out = lt;
	return rc;
}

ssize_t shmblock_lifetime_format(const struct shmblock_lifetime *lt, char *out,
				 size_t outlen)
{
	int n;

	switch (lt->kind) {
	case SHMBLOCK_LIFETIME_PERSIST:
		n = snprintf(out, outlen, "persist");
		break;
	case SHMBLOCK_LIFETIME_LAST_HOLDER:
		n = snprintf(out, outlen, "last-holder");
		break;
	case SHMBLOCK_LIFETIME_IDLE:
		if (!lt->idle_seconds ||
		    lt->idle_seconds > SHMBLOCK_LIFETIME_IDLE_MAX)
			return -EINVAL;
		n = snprintf(out, outlen, "idle=%llu",
			     (unsigned long long)lt->idle_seconds);
		break;
	case SHMBLOCK_LIFETIME_OWNER:
		if (lt->pid < 0 || (!lt->pid && lt->start_time))
			return -EINVAL;
		if (!lt->pid)
			n = snprintf(out, outlen, "owner");
		else if (!lt->start_time)
			n = snprintf(out, outlen, "owner=%ld", (long)lt->pid);
		else
			n = snprintf(out, outlen, "owner=%ld:%llu",
				     (long)lt->pid,
				     (unsigned long long)lt->start_time);
		break;
	default:
		return -EINVAL;
	}
	return n < 0 ? -EINVAL : n;
}

int shmblock_process_start_time(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024], *p;
	unsigned long long t;
	ssize_t n;
	int fd, field;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past it. */
	p = strrchr(buf, ')');
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &t) != 1)
		return -ESRCH;
	*out = t;
	return 0;
}

int shmblock_lifetime_resolve(struct shmblock_lifetime *lt)
{
	uint64_t start;
	int rc;

	if (lt->kind != SHMBLOCK_LIFETIME_OWNER)
		return lt->kind == SHMBLOCK_LIFETIME_IDLE && !lt->idle_seconds
			       ? -EINVAL
			       : 0;
	if (lt->pid < 0)
		return -EINVAL;
	if (!lt->pid)
		lt->pid = getpid();
	rc = shmblock_process_start_time(lt->pid, &start);
	if (rc < 0)
		return rc;
	if (lt->start_time && lt->start_time != start)
		return -ESRCH;
	lt->start_time = start;
	return 0;
}

/*
 * The path of block `name` that the *xattr calls take: through /proc for a
 * directory descriptor (the kernel has no setxattrat before Linux 6.13).
 */
static int block_path(int dirfd, const char *name, char *path, size_t len)
{
	int rc = shmblock_name_check(name);

	if (rc < 0)
		return rc;
	if (dirfd == SHMBLOCK_DEFAULT_DIR)
		rc = snprintf(path, len, SHMBLOCK_SHM_DIR "/%s", name);
	else
		rc = snprintf(path, len, "/proc/self/fd/%d/%s", dirfd, name);
	return rc < 0 || (size_t)rc >= len ? -ENAMETOOLONG : 0;
}

/* Symlinks are refused as elsewhere in the library (ELOOP). */
static int check_not_link(const char *path)
{
	char c;

	if (readlink(path, &c, 1) >= 0)
		return -ELOOP;
	return errno == EINVAL ? 0 : -errno;
}

int shmblock_set_lifetime(int dirfd, const char *name,
			  const struct shmblock_lifetime *lt)
{
	char path[PATH_MAX], text[SHMBLOCK_LIFETIME_TEXT_MAX];
	struct shmblock_lifetime full = *lt;
	ssize_t n;
	int rc;

	rc = block_path(dirfd, name, path, sizeof(path));
	if (rc == 0)
		rc = check_not_link(path);
	if (rc == 0)
		rc = shmblock_lifetime_resolve(&full);
	if (rc < 0)
		return rc;
	if (full.kind == SHMBLOCK_LIFETIME_PERSIST) {
		if (lremovexattr(path, SHMBLOCK_XATTR_LIFETIME) < 0 &&
		    errno != ENODATA)
			return -errno;
		return 0;
	}
	n = shmblock_lifetime_format(&full, text, sizeof(text));
	if (n < 0)
		return (int)n;
	if (lsetxattr(path, SHMBLOCK_XATTR_LIFETIME, text, (size_t)n, 0) < 0)
		return errno == EOPNOTSUPP ? -ENOTSUP : -errno;
	return 0;
}

int shmblock_get_lifetime(int dirfd, const char *name,
			  struct shmblock_lifetime *out)
{
	char path[PATH_MAX], text[SHMBLOCK_LIFETIME_TEXT_MAX];
	ssize_t n;
	int rc;

	rc = block_path(dirfd, name, path, sizeof(path));
	if (rc < 0)
		return rc;
	n = lgetxattr(path, SHMBLOCK_XATTR_LIFETIME, text, sizeof(text));
	if (n < 0) {
		if (errno == ENODATA) {
			memset(out, 0, sizeof(*out));
			return 0;
		}
		return errno == ERANGE ? -EBADMSG : -errno;
	}
	return shmblock_lifetime_parse(text, (size_t)n, out) < 0 ? -EBADMSG : 0;
}
