/* SPDX-License-Identifier: MIT */
/* The trust of lifetime policies (lifetime_trust.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lifetime_trust.h"
#include "shmblock.h"

/* Whether `uid` may unlink a block owned by `owner` (/dev/shm is sticky). */
static bool may_unlink(const struct lifetime *l, uid_t uid, uid_t owner)
{
	return uid == 0 || uid == owner || uid == l->dir_uid;
}

/*
 * Writes (`rec` non-NULL) or removes the root xattr `xattr` of the block
 * `name`, through a descriptor checked to be of block `id`: never on
 * another block that took the name.  0 or -errno.
 */
static int set_mark(struct lifetime *l, const char *name,
		    const struct block_id *id, const char *xattr,
		    const char *rec)
{
	struct block_id now;
	int rc = 0, fd = openat(l->fs->dirfd, name,
				O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOATIME |
					O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (block_id_fd(fd, &now) < 0 || !block_id_same(&now, id))
		rc = -ESTALE;
	else if (rec && fsetxattr(fd, xattr, rec, strlen(rec), 0) < 0)
		rc = -errno;
	else if (!rec && fremovexattr(fd, xattr) < 0 && errno != ENODATA)
		rc = -errno;
	close(fd);
	return rc;
}

#define WRITABLE_BY_OTHERS                                                  \
	"the block is writable by group or others, who may not remove it, " \
	"and the policy was not set through the mount by one who may"

/*
 * Anyone who may write a block may set
 * its xattr, and the daemon can't tell who did; so the trust is decided
 * once, when the daemon first sees the value, and recorded as root in
 * LIFETIME_XATTR_BY, so that nothing done later (a chmod) changes it:
 *   "UID VALUE"  set through the mount by UID, or first seen on a block
 *                no one but its owner UID may write (no group or other
 *                write bit; with an ACL these bits are its mask, which
 *                bounds every named entry): honoured while UID may remove
 *                the block;
 *   "- VALUE"    first seen on a block others may write, or set through
 *                the mount by one who may not remove it: ignored.
 * A record of another value is a value not seen before: judged anew.
 */
const char *lifetime_judge(struct lifetime *l, const char *name,
			   const char *path, const struct stat *st,
			   const struct block_id *id, const char *value)
{
	char by[SHMBLOCK_LIFETIME_TEXT_MAX + 32], *sp, *end;
	unsigned long uid;
	bool others;
	ssize_t n;

	n = lgetxattr(path, LIFETIME_XATTR_BY, by, sizeof(by) - 1);
	if (n >= 0) {
		by[n] = '\0';
		sp = strchr(by, ' ');
		if (sp && !strcmp(sp + 1, value)) {
			if (sp == by + 1 && by[0] == '-')
				return WRITABLE_BY_OTHERS;
			uid = strtoul(by, &end, 10);
			if (end == sp && sp != by)
				return may_unlink(l, (uid_t)uid, st->st_uid)
					       ? NULL
					       : "its setter may not remove "
						 "the block";
		}
	}
	others = st->st_mode & (S_IWGRP | S_IWOTH);
	if (others)
		snprintf(by, sizeof(by), "- %s", value);
	else
		snprintf(by, sizeof(by), "%lu %s", (unsigned long)st->st_uid,
			 value);
	/* Unrecorded, a chmod could promote it later: not honoured. */
	if (set_mark(l, name, id, LIFETIME_XATTR_BY, by) < 0)
		return "its trust could not be recorded";
	return others ? WRITABLE_BY_OTHERS : NULL;
}

void lifetime_unrecord(struct lifetime *l, const char *name,
		       const struct block_id *id)
{
	set_mark(l, name, id, LIFETIME_XATTR_BY, NULL);
	lifetime_unarm(l, name, id);
}

void lifetime_unarm(struct lifetime *l, const char *name,
		    const struct block_id *id)
{
	set_mark(l, name, id, LIFETIME_XATTR_HELD, NULL);
}

/* The process (thread group) of thread `tid`, as FUSE names the caller. */
static pid_t tgid_of(pid_t tid)
{
	char path[64], line[128];
	long tgid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)tid);
	f = fopen(path, "re");
	if (!f)
		return tid;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %ld", &tgid) == 1)
			break;
	fclose(f);
	return tgid > 0 ? (pid_t)tgid : tid;
}

int lifetime_remove_xattr(int fd)
{
	/* The trust first: the value is never there without its record. */
	if (fremovexattr(fd, LIFETIME_XATTR_BY) < 0 && errno != ENODATA)
		return -errno;
	/* A policy set later starts unarmed. */
	if (fremovexattr(fd, LIFETIME_XATTR_HELD) < 0 && errno != ENODATA)
		return -errno;
	if (fremovexattr(fd, SHMBLOCK_XATTR_LIFETIME) < 0)
		return -errno;
	return 0;
}

int lifetime_set_xattr(fuse_req_t req, int fd, const char *value, size_t size,
		       int flags, bool held)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct shmfs *fs = req_fs(req);
	char text[SHMBLOCK_LIFETIME_TEXT_MAX], by[sizeof(text) + 32];
	struct shmblock_lifetime lt;
	struct stat st, dir;
	ssize_t n;
	int rc;

	rc = shmblock_lifetime_parse(value, size, &lt);
	if (rc < 0)
		return rc;
	if (lt.kind == SHMBLOCK_LIFETIME_OWNER && !lt.pid)
		lt.pid = tgid_of(ctx->pid);
	rc = shmblock_lifetime_resolve(&lt);
	if (rc < 0)
		return rc;
	n = shmblock_lifetime_format(&lt, text, sizeof(text));
	if (n < 0)
		return (int)n;
	if (fstat(fd, &st) < 0 || fstat(fs->dirfd, &dir) < 0)
		return -errno;
	/*
	 * The record first: the policy's own event then finds it there.  A
	 * setter who may not remove the block is recorded too ("- VALUE"),
	 * so that nothing done later turns the value into a trusted one.
	 */
	if (ctx->uid == 0 || ctx->uid == st.st_uid || ctx->uid == dir.st_uid)
		snprintf(by, sizeof(by), "%lu %s", (unsigned long)ctx->uid,
			 text);
	else
		snprintf(by, sizeof(by), "- %s", text);
	if (fsetxattr(fd, LIFETIME_XATTR_BY, by, strlen(by), 0) < 0)
		return -errno;
	/*
	 * Held through the mount as the policy is set: armed now, before
	 * the enforcer's first scan, so a holder that lets go at once is not
	 * missed.  Any other kind of policy: a last-holder set later starts
	 * unarmed.
	 */
	if (lt.kind == SHMBLOCK_LIFETIME_LAST_HOLDER && held)
		rc = fsetxattr(fd, LIFETIME_XATTR_HELD, "1", 1, 0);
	else if (lt.kind != SHMBLOCK_LIFETIME_LAST_HOLDER)
		rc = fremovexattr(fd, LIFETIME_XATTR_HELD) < 0 &&
				     errno != ENODATA
			     ? -1
			     : 0;
	if (rc < 0)
		return -errno;
	if (fsetxattr(fd, SHMBLOCK_XATTR_LIFETIME, text, (size_t)n, flags) < 0)
		return -errno;
	return 0;
}
