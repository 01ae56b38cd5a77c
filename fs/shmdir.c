/* SPDX-License-Identifier: MIT */
/* The one writer of the shm directory (shmdir.h). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "expect.h"
#include "holders_doubt.h"
#include "inode.h"
#include "shmblock.h"
#include "shmdir.h"

/*
 * The mark of this daemon's temporary blocks (fs.h): its pid, its start
 * time (a pid is reused, the pair is not) and its pid namespace (a pid of
 * another namespace can't be checked from here).  Set at shmdir_open.
 */
static char tmp_mark[96];

/*
 * Gives the unnamed block `fd` a temporary name (or, fd -1, creates a
 * block under one with `mode`): "<prefix>.shmfs-tmp-<pid>-<8 hex>".
 * Returns 0 (or the new descriptor) or -errno.
 */
static int tmp_link(struct shmfs *fs, int fd, mode_t mode,
		    char name[NAME_MAX + 1])
{
	char path[64];
	uint32_t r;
	int tries, rc = -EEXIST;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (tries = 0; tries < 16 && rc == -EEXIST; tries++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)rand();
		if (snprintf(name, NAME_MAX + 1,
			     "%s" SHMFS_TMP_PREFIX "%ld-%08x", fs->prefix,
			     (long)getpid(), r) > NAME_MAX)
			return -ENAMETOOLONG;
		if (fd < 0)
			rc = openat(fs->dirfd, name,
				    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
					    O_CLOEXEC,
				    mode);
		else
			rc = linkat(AT_FDCWD, path, fs->dirfd, name,
				    AT_SYMLINK_FOLLOW);
		/* Without /proc, only CAP_DAC_READ_SEARCH links a descriptor. */
		if (rc < 0 && fd >= 0 && errno == ENOENT)
			rc = linkat(fd, "", fs->dirfd, name, AT_EMPTY_PATH);
		if (rc < 0)
			rc = -errno;
	}
	if (rc >= 0 && fd < 0 && tmp_mark[0])
		fsetxattr(rc, SHMFS_TMP_XATTR, tmp_mark, strlen(tmp_mark), 0);
	return rc;
}

/* The start time of process `pid` (field 22 of its stat), or 0. */
static unsigned long long start_time(long pid)
{
	char path[64], buf[1024];
	const char *p;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	/* The state is field 3. */
	p = shmfs_proc_stat(path, buf, sizeof(buf));
	for (field = 3; p && field < 22; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

/* The inode of our pid namespace, or 0. */
static unsigned long long pid_ns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 ? st.st_ino : 0;
}

static void tmp_mark_init(void)
{
	snprintf(tmp_mark, sizeof(tmp_mark), "%ld %llu %llu", (long)getpid(),
		 start_time((long)getpid()), pid_ns());
}

/*
 * Whether the mark `mark` of a temporary block named with `name_pid` is
 * that of a daemon known to be dead: same namespace, and no process with
 * its pid and start time.  Anything unreadable counts as alive.
 */
static bool mark_is_dead(const char *mark, long name_pid)
{
	unsigned long long start, ns;
	long pid;

	if (sscanf(mark, "%ld %llu %llu", &pid, &start, &ns) != 3 ||
	    pid != name_pid || pid <= 0 || start == 0 || ns != pid_ns())
		return false;
	return start_time(pid) != start;
}

/*
 * Removes the temporary blocks that daemons killed during a rebuild left
 * behind, whatever their prefix.  A block is removed only when its name
 * has the pattern, its mark says which daemon made it, and that daemon is
 * gone: a user's lookalike (no mark) and a live daemon's block stay.
 */
static void sweep_tmp_blocks(struct shmfs *fs)
{
	char path[64 + NAME_MAX], mark[sizeof(tmp_mark)];
	struct dirent *de;
	ssize_t n;
	long pid;
	int fd = openat(fs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (!shmfs_tmp_name(de->d_name, &pid))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", fs->dirfd,
			 de->d_name);
		n = lgetxattr(path, SHMFS_TMP_XATTR, mark, sizeof(mark) - 1);
		if (n < 0)
			continue;
		mark[n] = '\0';
		if (mark_is_dead(mark, pid) &&
		    unlinkat(fs->dirfd, de->d_name, 0) == 0)
			shmfs_log(fs, LOG_INFO,
				  "removed %s, a temporary block "
				  "of a daemon that died",
				  de->d_name);
	}
	closedir(d);
}

/*
 * Creates an unnamed block (O_TMPFILE: nothing to leave behind if the
 * daemon dies now) with the mode and owner of `old`, marked as ours.
 * Without O_TMPFILE in the shm directory, it is created under a temporary
 * name at once (*named set).
 */
static int make_tmp(struct shmfs *fs, const struct stat *old,
		    char name[NAME_MAX + 1], bool *named)
{
	int fd, rc;

	*named = false;
	fd = openat(fs->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
		    old->st_mode & 0777);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		rc = tmp_link(fs, -1, old->st_mode & 0777, name);
		if (rc < 0)
			return rc;
		fd = rc;
		*named = true;
	}
	if (fd < 0)
		return -errno;
	if (fs->is_root && fchown(fd, old->st_uid, old->st_gid) < 0)
		goto fail;
	if ((old->st_mode & 07777) != 0777 && fchmod(fd, old->st_mode & 07777))
		goto fail;
	return fd;
fail:
	rc = -errno;
	if (*named)
		unlinkat(fs->dirfd, name, 0);
	close(fd);
	return rc;
}

int shmdir_open(struct shmfs *fs)
{
	int rc = expect_set_create(&fs->expected);

	tmp_mark_init();
	sweep_tmp_blocks(fs);

	if (rc == 0 && fs->cleanup)
		rc = created_set_create(&fs->created);
	return rc;
}

int shmdir_cleanup(struct shmfs *fs)
{
	if (!fs->created)
		return 0;
	return created_set_unlink_all(fs->created, fs->dirfd, fs->prefix);
}

void shmdir_close(struct shmfs *fs)
{
	created_set_free(fs->created);
	fs->created = NULL;
	expect_set_free(fs->expected);
	fs->expected = NULL;
}

/*
 * Events on names the mount hides (another prefix, the temporary blocks)
 * are dropped by the watch before they are matched: an expectation for one
 * would never be taken.
 */
static void expect(struct shmfs *fs, const char *shm_name, uint32_t mask)
{
	char shown[NAME_MAX + 1];

	if (fs->expected && shmfs_mount_name(fs, shm_name, shown))
		expect_add(fs->expected, shm_name, mask);
}

static void unexpect(struct shmfs *fs, const char *shm_name, uint32_t mask)
{
	char shown[NAME_MAX + 1];

	if (fs->expected && shmfs_mount_name(fs, shm_name, shown))
		expect_take(fs->expected, shm_name, mask);
}

void shmdir_note_write(struct shmfs *fs)
{
	if (fs->expected)
		expect_note_write(fs->expected);
}

int shmdir_make_block(fuse_req_t req, const char *name, mode_t mode, int access,
		      struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct shmfs *fs = req_fs(req);
	char shm_name[NAME_MAX + 1];
	int fd, rc;

	rc = shmfs_block_name(fs, name, shm_name);
	/* A name the mount would hide, or a semaphore's (made whole only). */
	if (rc == -ENOENT || (rc == 0 && shmfs_sem_name(name)))
		rc = -EPERM;
	if (rc < 0)
		return rc;
	mode &= 07777;
	expect(fs, shm_name, IN_CREATE);
	fd = openat(fs->dirfd, shm_name,
		    access | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		unexpect(fs, shm_name, IN_CREATE);
		return rc;
	}
	/* Owner first: chown clears the set-id bits that fchmod then sets. */
	if (fs->is_root && (ctx->uid != fs->euid || ctx->gid != fs->egid) &&
	    fchown(fd, ctx->uid, ctx->gid) < 0)
		goto fail;
	if (fstat(fd, st) < 0)
		goto fail;
	/* The daemon's umask is 0, so only set-id bits or an ACL differ. */
	if ((st->st_mode & 07777) != mode &&
	    (fchmod(fd, mode) < 0 || fstat(fd, st) < 0))
		goto fail;
	if (fs->created) {
		rc = created_set_add(fs->created, fd);
		if (rc < 0)
			goto fail_rc;
	}
	return fd;

fail:
	rc = -errno;
fail_rc:
	unlinkat(fs->dirfd, shm_name, 0);
	close(fd);
	return rc;
}

int shmdir_make_sem(fuse_req_t req, const char *name, mode_t mode,
		    struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct shmfs *fs = req_fs(req);
	bool chown = fs->is_root &&
		     (ctx->uid != fs->euid || ctx->gid != fs->egid);
	char shm_name[NAME_MAX + 1];
	int fd, rc;

	rc = shmfs_block_name(fs, name, shm_name);
	if (rc == -ENOENT || (rc == 0 && !shmfs_sem_name(name)))
		rc = -EPERM;
	if (rc < 0)
		return rc;
	expect(fs, shm_name, IN_CREATE);
	/* Made whole, owned and with its mode before its name appears. */
	fd = shmblock_sem_create_open_at(fs->dirfd, shm_name, 0, mode & 0777,
					 chown ? ctx->uid : (uid_t)-1,
					 chown ? ctx->gid : (gid_t)-1);
	if (fd < 0) {
		unexpect(fs, shm_name, IN_CREATE);
		return fd;
	}
	if (fstat(fd, st) < 0)
		goto fail;
	if (fs->created) {
		rc = created_set_add(fs->created, fd);
		if (rc < 0)
			goto fail_rc;
	}
	return fd;

fail:
	rc = -errno;
fail_rc:
	shmdir_unmake_block(fs, name, st);
	close(fd);
	return rc;
}

void shmdir_unmake_block(struct shmfs *fs, const char *name,
			 const struct stat *st)
{
	char shm_name[NAME_MAX + 1];

	if (fs->created)
		created_set_remove(fs->created, st->st_dev, st->st_ino);
	if (shmfs_block_name(fs, name, shm_name) == 0)
		shmblock_unlink_name_at(fs->dirfd, shm_name);
}

int shmdir_unlink(struct shmfs *fs, const char *shm_name)
{
	struct stat st;
	int rc;

	if (fs->created &&
	    fstatat(fs->dirfd, shm_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		created_set_remove(fs->created, st.st_dev, st.st_ino);
	expect(fs, shm_name, IN_DELETE);
	rc = shmblock_unlink_name_at(fs->dirfd, shm_name);
	if (rc < 0)
		unexpect(fs, shm_name, IN_DELETE);
	return rc;
}

/*
 * A test hook: SHMFS_TEST_REMOVE_PAUSE_MS makes a removal wait that long
 * before and after taking the name, so a test can recreate the name in
 * either window.  Unset, it costs a getenv per removal.
 */
static void test_pause(struct shmfs *fs, const char *shm_name, const char *at)
{
	const char *ms = getenv("SHMFS_TEST_REMOVE_PAUSE_MS");

	if (!ms || atoi(ms) <= 0)
		return;
	shmfs_log(fs, LOG_INFO, "lifetime: test pause %s %s", at, shm_name);
	usleep((useconds_t)atoi(ms) * 1000);
}

bool shmdir_held(struct shmfs *fs, const struct shmblock_holders *snap,
		 const struct block_id *id, char *why, size_t len)
{
	const struct shmblock_holders_entry *e =
		shmblock_holders_find(snap, id->dev, id->ino);
	size_t i;

	/* Open through the mount: held, whoever holds the FUSE file. */
	if (fs->inodes && inode_in_use(fs->inodes, id->dev, id->ino)) {
		snprintf(why, len, "it is open through the mount");
		return true;
	}
	/* The daemon's own descriptors are the mount's files, just above. */
	for (i = 0; e && i < e->nholders; i++)
		if (e->holders[i].pid != getpid()) {
			snprintf(why, len, "process %ld holds it",
				 (long)e->holders[i].pid);
			return true;
		}
	return holders_doubt(snap, why, len);
}

/* Whether the xattr `xattr` of the block at `name` reads `value`. */
static bool xattr_is(struct shmfs *fs, const char *name, const char *xattr,
		     const char *value)
{
	char path[64 + NAME_MAX], buf[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", fs->dirfd, name);
	n = lgetxattr(path, xattr, buf, sizeof(buf));
	return n >= 0 && (size_t)n == strlen(value) && !memcmp(buf, value, n);
}

/*
 * Puts the block now at `tmp` back under `shm_name`, never over another
 * block: if the name was taken meanwhile, under a visible name of its own.
 */
static void put_back(struct shmfs *fs, const char *shm_name, const char *tmp,
		     uint64_t ino)
{
	char kept[NAME_MAX + 2];

	if (renameat2(fs->dirfd, tmp, fs->dirfd, shm_name, RENAME_NOREPLACE) ==
	    0)
		return;
	if (snprintf(kept, sizeof(kept), "%s.shmfs-kept-%llu", shm_name,
		     (unsigned long long)ino) <= NAME_MAX &&
	    renameat2(fs->dirfd, tmp, fs->dirfd, kept, RENAME_NOREPLACE) == 0) {
		shmfs_log(fs, LOG_NOTICE,
			  "lifetime: %s was recreated twice "
			  "during a removal; the block of inode %llu is kept "
			  "as %s",
			  shm_name, (unsigned long long)ino, kept);
		return;
	}
	shmfs_log(fs, LOG_NOTICE,
		  "lifetime: %s was recreated twice during "
		  "a removal; the block of inode %llu is kept as %s",
		  shm_name, (unsigned long long)ino, tmp);
}

int shmdir_take(struct shmfs *fs, const char *shm_name,
		const struct block_id *id, const char *xattr, const char *value,
		char *tmp)
{
	struct block_id now;
	uint32_t r;
	int rc;

	test_pause(fs, shm_name, "before taking");
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)rand();
	if (snprintf(tmp, NAME_MAX + 1, "%s" SHMFS_TMP_PREFIX "%ld-%08x",
		     fs->prefix, (long)getpid(), r) > NAME_MAX)
		return -ENAMETOOLONG;
	/* From here on no one opens the block by name: the check holds. */
	if (renameat2(fs->dirfd, shm_name, fs->dirfd, tmp, RENAME_NOREPLACE) <
	    0)
		return -errno;
	test_pause(fs, shm_name, "after taking");
	rc = block_id_of(fs->dirfd, tmp, &now);
	if (rc == 0 && !block_id_same(&now, id))
		rc = -ESTALE;
	if (rc == 0 && xattr && !xattr_is(fs, tmp, xattr, value))
		rc = -EAGAIN;
	if (rc == -ENOENT) /* someone unlinked it meanwhile */
		return rc;
	if (rc < 0)
		put_back(fs, shm_name, tmp, rc == -ESTALE ? now.ino : id->ino);
	return rc;
}

int shmdir_settle(struct shmfs *fs, const char *shm_name, const char *tmp,
		  const struct block_id *id, bool remove)
{
	if (!remove) {
		put_back(fs, shm_name, tmp, id->ino);
		return 0;
	}
	if (unlinkat(fs->dirfd, tmp, 0) < 0)
		return -errno;
	if (fs->created)
		created_set_remove(fs->created, id->dev, id->ino);
	return 0;
}

int shmdir_remove_same(struct shmfs *fs, const char *shm_name,
		       const struct block_id *id, const char *xattr,
		       const char *value, unsigned flags)
{
	struct shmblock_holders *snap;
	char tmp[NAME_MAX + 1], why[128];
	int rc = shmdir_take(fs, shm_name, id, xattr, value, tmp);

	if (rc < 0)
		return rc;
	if (flags & SHMDIR_REMOVE_UNHELD) {
		rc = shmblock_holders_scan_block(
			fs->dirfd, tmp, SHMBLOCK_HOLDERS_NO_DELETED, &snap);
		if (rc == 0) {
			rc = shmdir_held(fs, snap, id, why, sizeof(why))
				     ? -EBUSY
				     : 0;
			shmblock_holders_free(snap);
		}
	}
	if (rc < 0) {
		shmdir_settle(fs, shm_name, tmp, id, false);
		return rc;
	}
	return shmdir_settle(fs, shm_name, tmp, id, true);
}

/* The four expectations of a rename, added or (undo) removed. */
static void expect_rename(struct shmfs *fs, const char *from, const char *to,
			  unsigned flags, bool undo)
{
	void (*fn)(struct shmfs *, const char *, uint32_t) = undo ? unexpect
								  : expect;

	fn(fs, from, IN_MOVED_FROM);
	fn(fs, to, IN_MOVED_TO);
	if (flags & RENAME_EXCHANGE) {
		fn(fs, to, IN_MOVED_FROM);
		fn(fs, from, IN_MOVED_TO);
	}
}

int shmdir_rename(struct shmfs *fs, const char *from, const char *to,
		  unsigned flags)
{
	int rc;

	expect_rename(fs, from, to, flags, false);
	rc = shmblock_rename_at(fs->dirfd, from, to, flags);
	if (rc < 0)
		expect_rename(fs, from, to, flags, true);
	return rc;
}

int shmdir_set_attrs(int fd, const struct stat *attr, int to_set,
		     mode_t mode_mask)
{
	struct timespec times[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_nsec = UTIME_OMIT },
	};

	/* Owner before mode: chown clears set-id bits a chmod may set. */
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID) &&
	    fchown(fd, to_set & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1,
		   to_set & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1) < 0)
		return -errno;
	if (to_set & FUSE_SET_ATTR_MODE &&
	    fchmod(fd, attr->st_mode & 07777 & mode_mask) < 0)
		return -errno;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		times[0].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		times[0] = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		times[1].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		times[1] = attr->st_mtim;
	if ((times[0].tv_nsec != UTIME_OMIT ||
	     times[1].tv_nsec != UTIME_OMIT) &&
	    futimens(fd, times) < 0)
		return -errno;
	return 0;
}

/* Copies the user.* xattrs of `from` to `to`.  Returns 0 or -errno. */
static int copy_user_xattrs(int from, int to)
{
	char *names = malloc(XATTR_LIST_MAX), *value = malloc(XATTR_SIZE_MAX);
	ssize_t n, len;
	char *p;
	int rc = 0;

	if (!names || !value) {
		rc = -ENOMEM;
		goto out;
	}
	n = flistxattr(from, names, XATTR_LIST_MAX);
	if (n < 0) {
		rc = errno == ENOTSUP ? 0 : -errno;
		goto out;
	}
	for (p = names; p < names + n && rc == 0; p += strlen(p) + 1) {
		/* A mark left by a rebuild killed midway is not the list's. */
		if (strncmp(p, "user.", 5) || !strcmp(p, SHMFS_TMP_XATTR))
			continue;
		len = fgetxattr(from, p, value, XATTR_SIZE_MAX);
		if (len < 0)
			/* Removed meanwhile: nothing to carry over. */
			continue;
		if (fsetxattr(to, p, value, (size_t)len, 0) < 0)
			rc = -errno;
	}
out:
	free(names);
	free(value);
	return rc;
}

/* Marks `fd` as a temporary block of ours; no xattrs: nothing to do. */
static int mark(int fd)
{
	if (fsetxattr(fd, SHMFS_TMP_XATTR, tmp_mark, strlen(tmp_mark), 0) < 0 &&
	    errno != EOPNOTSUPP)
		return -errno;
	return 0;
}

static void unmark(int fd)
{
	fremovexattr(fd, SHMFS_TMP_XATTR);
}

/*
 * Fills the unnamed block `tfd` with the new list: its bytes, the old
 * block's user.* xattrs, our mark.
 */
static int fill_tmp(struct shmfs *fs, int tfd, int old_fd, const void *buf,
		    size_t size, struct stat *new_st)
{
	int rc;

	if (!fs->sparse) {
		rc = -posix_fallocate(tfd, 0, (off_t)size);
		if (rc < 0)
			return rc;
	}
	if (ftruncate(tfd, (off_t)size) < 0)
		return -errno;
	rc = shmfs_pwrite_full(tfd, buf, size, 0);
	if (rc == 0)
		rc = copy_user_xattrs(old_fd, tfd);
	if (rc == 0)
		rc = mark(tfd);
	if (rc == 0 && fstat(tfd, new_st) < 0)
		rc = -errno;
	return rc;
}

/*
 * The swap leaves nothing behind whenever the daemon dies: the new block
 * is unnamed until just before the exchange; from then on, both the new
 * block and the old list (which the exchange moves to the temporary name)
 * carry our mark, so whichever one a death leaves under the temporary name
 * is hidden by every mount and removed by the next daemon's sweep.  A mark
 * a death leaves on a list under its own name means nothing (the name is
 * not a temporary one) and is not carried to the next rebuild.
 */
int shmdir_swap(struct shmfs *fs, const char *shm_name, int old_fd,
		const struct stat *old, const void *buf, size_t size,
		struct stat *new_st)
{
	char tmp[NAME_MAX + 1];
	struct stat swapped;
	bool named;
	int tfd, rc;

	tfd = make_tmp(fs, old, tmp, &named);
	if (tfd < 0)
		return tfd;
	rc = fill_tmp(fs, tfd, old_fd, buf, size, new_st);
	if (rc < 0)
		goto out_close;
	if (fs->created && created_set_has_fd(fs->created, old_fd)) {
		rc = created_set_add(fs->created, tfd);
		if (rc < 0)
			goto out_close;
	}
	/* Best effort: without it, a death right after the exchange would
	 * leave the old list under a name no sweep takes. */
	mark(old_fd);
	if (!named) {
		rc = tmp_link(fs, tfd, 0, tmp);
		named = rc == 0;
	}
	if (rc < 0)
		goto out_uncreate;
	rc = shmdir_rename(fs, tmp, shm_name, RENAME_EXCHANGE);
	if (rc < 0)
		goto out_uncreate;
	/* The file swapped out must be the one we copied, or swap back. */
	if (fstatat(fs->dirfd, tmp, &swapped, AT_SYMLINK_NOFOLLOW) < 0 ||
	    swapped.st_dev != old->st_dev || swapped.st_ino != old->st_ino) {
		if (shmdir_rename(fs, tmp, shm_name, RENAME_EXCHANGE) < 0) {
			/* Someone else's block is under tmp: never unlink it. */
			shmfs_log(fs, LOG_ERR,
				  "list rebuild: could not swap "
				  "%s back from %s",
				  shm_name, tmp);
			unmark(old_fd);
			close(tfd);
			return -EIO;
		}
		rc = -EAGAIN;
		goto out_uncreate;
	}
	if (fs->created)
		created_set_remove(fs->created, old->st_dev, old->st_ino);
	unlinkat(fs->dirfd, tmp, 0);
	unmark(tfd);
	close(tfd);
	return 0;

out_uncreate:
	if (fs->created)
		created_set_remove(fs->created, new_st->st_dev, new_st->st_ino);
out_close:
	unmark(old_fd);
	if (named)
		unlinkat(fs->dirfd, tmp, 0);
	close(tfd);
	return rc;
}
