/* SPDX-License-Identifier: MIT */
/* The one writer of the shm directory (shmdir.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "expect.h"
#include "shmblock.h"
#include "shmdir.h"

/* The user.* xattrs a swap carries over, at most this much of them. */
#define XATTR_LIST_MAX 65536
#define XATTR_VALUE_MAX 65536

int shmdir_open(struct shmfs *fs)
{
	int rc = expect_set_create(&fs->expected);

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
	if (fs->expected && shmfs_mount_name(fs, shm_name))
		expect_add(fs->expected, shm_name, mask);
}

static void unexpect(struct shmfs *fs, const char *shm_name, uint32_t mask)
{
	if (fs->expected && shmfs_mount_name(fs, shm_name))
		expect_take(fs->expected, shm_name, mask);
}

int shmdir_make_block(fuse_req_t req, const char *name, mode_t mode,
		      int access, struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct shmfs *fs = req_fs(req);
	char shm_name[NAME_MAX + 1];
	int fd, rc;

	rc = shmfs_block_name(fs, name, shm_name);
	if (rc == -ENOENT)  /* a name the mount would hide */
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

/* The four expectations of a rename, added or (undo) removed. */
static void expect_rename(struct shmfs *fs, const char *from, const char *to,
			  unsigned flags, bool undo)
{
	void (*fn)(struct shmfs *, const char *, uint32_t) =
		undo ? unexpect : expect;

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
		{ .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT },
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
	if ((times[0].tv_nsec != UTIME_OMIT || times[1].tv_nsec != UTIME_OMIT)
	    && futimens(fd, times) < 0)
		return -errno;
	return 0;
}

/* Creates a hidden temporary block with the mode and owner of `old`. */
static int make_tmp(struct shmfs *fs, const struct stat *old,
		    char name[NAME_MAX + 1])
{
	uint32_t r;
	int fd = -1, tries;

	for (tries = 0; tries < 16; tries++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)rand();
		if (snprintf(name, NAME_MAX + 1, "%s" SHMFS_TMP_PREFIX "%08x",
			     fs->prefix, r) > NAME_MAX)
			return -ENAMETOOLONG;
		fd = openat(fs->dirfd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    old->st_mode & 0777);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return -errno;
	if (fs->is_root && fchown(fd, old->st_uid, old->st_gid) < 0)
		goto fail;
	if ((old->st_mode & 07777) != 0777 && fchmod(fd, old->st_mode & 07777))
		goto fail;
	return fd;
fail:
	tries = -errno;
	close(fd);
	unlinkat(fs->dirfd, name, 0);
	return tries;
}

/* Copies the user.* xattrs of `from` to `to`.  Returns 0 or -errno. */
static int copy_user_xattrs(int from, int to)
{
	char *names = malloc(XATTR_LIST_MAX), *value = malloc(XATTR_VALUE_MAX);
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
		if (strncmp(p, "user.", 5))
			continue;
		len = fgetxattr(from, p, value, XATTR_VALUE_MAX);
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

static int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int shmdir_swap(struct shmfs *fs, const char *shm_name, int old_fd,
		const struct stat *old, const void *buf, size_t size,
		struct stat *new_st)
{
	char tmp[NAME_MAX + 1];
	struct stat swapped;
	int tfd, rc;

	tfd = make_tmp(fs, old, tmp);
	if (tfd < 0)
		return tfd;
	if (!fs->sparse) {
		rc = -posix_fallocate(tfd, 0, (off_t)size);
		if (rc < 0)
			goto out_unlink;
	}
	if (ftruncate(tfd, (off_t)size) < 0) {
		rc = -errno;
		goto out_unlink;
	}
	rc = pwrite_full(tfd, buf, size, 0);
	if (rc == 0)
		rc = copy_user_xattrs(old_fd, tfd);
	if (rc < 0)
		goto out_unlink;
	if (fstat(tfd, new_st) < 0) {
		rc = -errno;
		goto out_unlink;
	}
	if (fs->created && created_set_has_fd(fs->created, old_fd)) {
		rc = created_set_add(fs->created, tfd);
		if (rc < 0)
			goto out_unlink;
	}
	rc = shmdir_rename(fs, tmp, shm_name, RENAME_EXCHANGE);
	if (rc < 0)
		goto out_uncreate;
	/* The file swapped out must be the one we copied, or swap back. */
	if (fstatat(fs->dirfd, tmp, &swapped, AT_SYMLINK_NOFOLLOW) < 0 ||
	    swapped.st_dev != old->st_dev || swapped.st_ino != old->st_ino) {
		if (shmdir_rename(fs, tmp, shm_name, RENAME_EXCHANGE) < 0) {
			/* Someone else's block is under tmp: never unlink it. */
			shmfs_log(fs, LOG_ERR, "list rebuild: could not swap "
				  "%s back from %s", shm_name, tmp);
			close(tfd);
			return -EIO;
		}
		rc = -EAGAIN;
		goto out_uncreate;
	}
	if (fs->created)
		created_set_remove(fs->created, old->st_dev, old->st_ino);
	unlinkat(fs->dirfd, tmp, 0);
	close(tfd);
	return 0;

out_uncreate:
	if (fs->created)
		created_set_remove(fs->created, new_st->st_dev, new_st->st_ino);
out_unlink:
	unlinkat(fs->dirfd, tmp, 0);
	close(tfd);
	return rc;
}
