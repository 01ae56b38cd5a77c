/* SPDX-License-Identifier: MIT */
/* Policies learned, and blocks removed for them (lifetime_learn.h). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "holders_cache.h"
#include "lifetime_learn.h"
#include "lifetime_trust.h"
#include "procwatch.h"
#include "shmblock.h"
#include "shmdir.h"

void lifetime_scan_soon(struct lifetime *l)
{
	uint64_t due = l->scan_end_ns + 9 * l->scan_cost_ns;

	if (due < shmfs_now_ns())
		due = shmfs_now_ns();
	if (!l->wanted_ns || due < l->wanted_ns) {
		l->wanted_ns = due;
		holders_cache_want(due);
	}
}

/* Starts following an owner; an owner already gone removes the block. */
static void watch_owner(struct lifetime *l, struct entry *e)
{
	int rc;

	/* "owner=PID" written directly: completed now. */
	rc = e->lt.start_time
		     ? 0
		     : procwatch_start_time(e->lt.pid, &e->lt.start_time);
	if (rc == 0)
		rc = procwatch_exited(e->lt.pid, e->lt.start_time);
	else if (rc == -ESRCH)
		rc = 1;
	else {
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: %s: owner %ld: %s; not followed until "
			  "the block changes",
			  e->name, (long)e->lt.pid, strerror(-rc));
		e->honoured = false;
		return;
	}
	if (rc == 1) {
		lifetime_remove_owned(l, e, "its owner has exited");
		return;
	}
	if (rc == -EINVAL) {
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: ignored %s: policy %s: %ld is a thread, "
			  "not a process",
			  e->name, e->value, (long)e->lt.pid);
		e->honoured = false;
		return;
	}
	if (lifetime_owner_attach(l, e) < 0) {
		shmfs_log(l->fs, LOG_ERR,
			  "lifetime: out of memory; %s not followed", e->name);
		e->honoured = false;
		return;
	}
	/* Could not tell (EMFILE...): not exited; looked at again soon. */
	if (rc < 0) {
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: %s: owner %ld: %s; looked at again later",
			  e->name, (long)e->lt.pid, strerror(-rc));
		l->sweep_owners = true;
	}
}

/*
 * Whether the block is armed (LIFETIME_XATTR_HELD): a valid policy `lt`
 * other than last-holder (NULL: not a valid one) drops the mark, so that a last-holder set later is
 * armed by a holder of its own, not by one of an earlier policy.
 */
static bool unarm_other(struct lifetime *l, const char *name, const char *path,
			const struct block_id *id,
			const struct shmblock_lifetime *lt)
{
	char c;

	if (lgetxattr(path, LIFETIME_XATTR_HELD, &c, 1) < 0)
		return false;
	if (!lt || lt->kind == SHMBLOCK_LIFETIME_LAST_HOLDER)
		return true;
	lifetime_unarm(l, name, id);
	return false;
}

/* Reads the policy `value` of `name` (of stat st, identity id) afresh. */
static void learn(struct lifetime *l, const char *name, const char *path,
		  const struct stat *st, const struct block_id *id,
		  const char *value)
{
	struct entry *e = lifetime_find(l, name);
	struct shmblock_lifetime lt = { 0 };
	const char *why = NULL;
	bool valid = shmblock_lifetime_parse(value, strlen(value), &lt) == 0;

	if (!valid)
		why = "not a valid policy";
	else if (lt.kind == SHMBLOCK_LIFETIME_PERSIST) {
		if (e)
			lifetime_drop(l, e);
		unarm_other(l, name, path, id, &lt);
		return;
	} else if (lt.kind == SHMBLOCK_LIFETIME_OWNER && !lt.pid)
		why = "\"owner\" without a pid (set it through the mount or "
		      "shmblock_set_lifetime, which fill in the caller)";
	else
		why = lifetime_judge(l, name, path, st, id, value);
	if (e && block_id_same(&e->id, id) && !strcmp(e->value, value) &&
	    e->honoured == !why)
		return; /* nothing new: keep its state */
	if (e)
		lifetime_drop(l, e);
	e = lifetime_add(l, name);
	if (!e) {
		shmfs_log(l->fs, LOG_ERR,
			  "lifetime: out of memory; %s not followed", name);
		return;
	}
	snprintf(e->value, sizeof(e->value), "%s", value);
	e->id = *id;
	e->lt = lt;
	e->honoured = !why;
	e->busy_ns = shmfs_now_ns();
	e->armed = unarm_other(l, name, path, id, valid ? &lt : NULL);
	if (why) {
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: ignored %s (inode "
			  "%llu): policy %s: %s",
			  name, (unsigned long long)id->ino, value, why);
		return;
	}
	if (lt.kind == SHMBLOCK_LIFETIME_OWNER) {
		watch_owner(l, e);
		return;
	}
	l->nholders_pol++;
	/* See who holds it now: a holder that lets go soon is not missed. */
	lifetime_scan_soon(l);
}

void lifetime_reread(struct lifetime *l, const char *name)
{
	char path[64 + NAME_MAX], value[SHMBLOCK_LIFETIME_TEXT_MAX], c;
	char shown[NAME_MAX + 1];
	struct block_id id;
	struct entry *e = lifetime_find(l, name);
	struct stat st;
	bool exists = false;
	ssize_t n = -1;

	if (!shmfs_mount_name(l->fs, name, shown) || shmfs_tmp_name(name, NULL))
		return;
	lifetime_block_path(l->fs, name, path, sizeof(path));
	if (fstatat(l->fs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && block_id_of(l->fs->dirfd, name, &id) == 0) {
		exists = true;
		n = lgetxattr(path, SHMBLOCK_XATTR_LIFETIME, value,
			      sizeof(value) - 1);
	}
	if (n < 0) {
		if (e)
			lifetime_drop(l, e);
		/* The policy withdrawn: its trust and arm go with it. */
		if (exists && errno == ENODATA &&
		    (lgetxattr(path, LIFETIME_XATTR_BY, &c, 0) >= 0 ||
		     lgetxattr(path, LIFETIME_XATTR_HELD, &c, 0) >= 0))
			lifetime_unrecord(l, name, &id);
		return;
	}
	value[n] = '\0';
	if (n && value[n - 1] == '\n')
		value[n - 1] = '\0';
	learn(l, name, path, &st, &id, value);
}

void lifetime_reread_all(struct lifetime *l)
{
	int fd = openat(l->fs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int err = errno;
	struct dirent *de;
	size_t i;

	if (!d) {
		if (fd >= 0)
			close(fd);
		/*
		 * Out of descriptors (EMFILE) or memory: nothing is removed
		 * for what was not read; the pass is made again a period on,
		 * logged once until one succeeds.
		 */
		if (!l->reread_due_ns)
			shmfs_log(l->fs, LOG_NOTICE,
				  "lifetime: reading %s: %s; read again in "
				  "a scan period",
				  l->fs->shmdir, strerror(err));
		l->reread_due_ns = shmfs_now_ns() + l->period_ns;
		return;
	}
	l->reread_due_ns = 0;
	/* The ones gone since: backwards, as drop moves the last one. */
	for (i = l->n; i-- > 0;)
		if (i < l->n)
			lifetime_reread(l, l->all[i]->name);
	while ((de = readdir(d)))
		if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)
			lifetime_reread(l, de->d_name);
	closedir(d);
}

const char *lifetime_reason(const struct entry *e)
{
	switch (e->lt.kind) {
	case SHMBLOCK_LIFETIME_OWNER:
		return "its owner has exited";
	case SHMBLOCK_LIFETIME_LAST_HOLDER:
		return "its last holder has let go";
	default:
		return "it sat idle";
	}
}

void lifetime_log_removed(struct lifetime *l, const char *name,
			  const struct block_id *id, const char *value,
			  const char *reason)
{
	shmfs_log(l->fs, LOG_NOTICE,
		  "lifetime: removed %s (inode %llu): policy %s: %s", name,
		  (unsigned long long)id->ino, value, reason);
}

void lifetime_log_kept(struct lifetime *l, const struct entry *e, int rc)
{
	if (rc == -ESTALE)
		shmfs_log(l->fs, LOG_NOTICE,
			  "lifetime: %s is another block "
			  "now; left alone (policy %s of inode %llu)",
			  e->name, e->value, (unsigned long long)e->id.ino);
	else if (rc != -ENOENT && rc != -EAGAIN && rc != -EBUSY)
		shmfs_log(l->fs, LOG_WARNING,
			  "lifetime: could not remove %s "
			  "(inode %llu): %s",
			  e->name, (unsigned long long)e->id.ino,
			  strerror(-rc));
}

void lifetime_forget(struct lifetime *l, struct entry *e)
{
	char name[NAME_MAX + 1];

	snprintf(name, sizeof(name), "%s", e->name);
	lifetime_drop(l, e);
	lifetime_reread(l, name);
}

void lifetime_remove_owned(struct lifetime *l, struct entry *e,
			   const char *reason)
{
	int rc = shmdir_remove_same(l->fs, e->name, &e->id,
				    SHMBLOCK_XATTR_LIFETIME, e->value, 0);

	if (rc == 0)
		lifetime_log_removed(l, e->name, &e->id, e->value, reason);
	else
		lifetime_log_kept(l, e, rc);
	lifetime_forget(l, e);
}
