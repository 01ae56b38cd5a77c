/* SPDX-License-Identifier: MIT */
/* Named shared memory blocks: create, attach, resize, unlink and list. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmblock.h"

struct shmblock {
	int fd;
	unsigned flags; /* SHMBLOCK_RDONLY, SHMBLOCK_NOMAP as attached */
	void *data;	/* NULL when size is 0 or not mapped */
	size_t size;	/* st_size when last mapped */
	int dirfd;	/* SHMBLOCK_DEFAULT_DIR or the caller's directory */
	char name[NAME_MAX + 1];
};

SHMBLOCK_API int shmblock_name_check(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, NAME_MAX + 1);
	if (len == 0 || len > NAME_MAX)
		return -EINVAL;
	if (strchr(name, '/'))
		return -EINVAL;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return 0;
}

/*
 * Opens `name` in the block directory.  For the default directory this is
 * shm_open(3), so blocks live exactly where CPython's _posixshmem puts them;
 * otherwise openat(2) relative to the caller's directory, never following a
 * symlink.  Returns a descriptor or -errno.
 */
static int open_block(int dirfd, const char *name, int oflag, mode_t mode)
{
	int fd;

	if (dirfd == SHMBLOCK_DEFAULT_DIR) {
		char path[NAME_MAX + 2];

		snprintf(path, sizeof(path), "/%s", name);
		fd = shm_open(path, oflag, mode);
	} else {
		fd = openat(dirfd, name, oflag | O_NOFOLLOW | O_CLOEXEC, mode);
	}
	return fd < 0 ? -errno : fd;
}

static int unlink_block(int dirfd, const char *name)
{
	int rc;

	if (dirfd == SHMBLOCK_DEFAULT_DIR) {
		char path[NAME_MAX + 2];

		snprintf(path, sizeof(path), "/%s", name);
		rc = shm_unlink(path);
	} else {
		rc = unlinkat(dirfd, name, 0);
	}
	return rc < 0 ? -errno : 0;
}

/* Maps blk->fd at `size`; on success replaces the old mapping. */
static int map_block(struct shmblock *blk, size_t size)
{
	void *data = NULL;
	int prot = PROT_READ;

	if (!(blk->flags & SHMBLOCK_RDONLY))
		prot |= PROT_WRITE;
	if (size > 0 && !(blk->flags & SHMBLOCK_NOMAP)) {
		data = mmap(NULL, size, prot, MAP_SHARED, blk->fd, 0);
		if (data == MAP_FAILED)
			return -errno;
	}
	if (blk->data)
		munmap(blk->data, blk->size);
	blk->data = data;
	blk->size = size;
	return 0;
}

/*
 * Gives the file `size` bytes, reserving the pages from `from` on unless
 * sparse.  fallocate leaves the size alone when it fails, so a full shm
 * filesystem changes nothing.
 */
static int set_file_size(int fd, size_t from, size_t size, unsigned flags)
{
	if (size > (size_t)INT64_MAX)
		return -EFBIG;
	if (size > from && !(flags & SHMBLOCK_SPARSE)) {
		int rc = posix_fallocate(fd, (off_t)from, (off_t)(size - from));

		/* Filesystems without fallocate fall back to ftruncate. */
		if (rc == 0)
			return 0;
		if (rc != EOPNOTSUPP && rc != ENOSYS)
			return -rc;
	}
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	return 0;
}

static int random_name(char *buf, size_t len)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		return -errno;
	snprintf(buf, len, SHMBLOCK_NAME_PREFIX "%08x", r);
	return 0;
}

static struct shmblock *new_handle(int dirfd, const char *name, int fd,
				   unsigned flags)
{
	struct shmblock *blk = calloc(1, sizeof(*blk));

	if (!blk)
		return NULL;
	blk->fd = fd;
	blk->dirfd = dirfd;
	blk->flags = flags;
	snprintf(blk->name, sizeof(blk->name), "%s", name);
	return blk;
}

SHMBLOCK_API int shmblock_create_at(int dirfd, const char *name, size_t size,
				    mode_t mode, unsigned flags,
				    struct shmblock **out)
{
	char fresh[NAME_MAX + 1];
	struct shmblock *blk = NULL;
	int fd = -1, rc, tries;

	if (size == 0)
		return -EINVAL;
	if (name && (rc = shmblock_name_check(name)) < 0)
		return rc;
	flags &= ~SHMBLOCK_RDONLY;

	for (tries = 0;; tries++) {
		if (!name) {
			rc = random_name(fresh, sizeof(fresh));
			if (rc < 0)
				return rc;
		}
		fd = open_block(dirfd, name ? name : fresh,
				O_RDWR | O_CREAT | O_EXCL, mode);
		if (fd != -EEXIST || name || tries >= 100)
			break;
	}
	if (fd < 0)
		return fd;
	if (!name)
		name = fresh;

	rc = set_file_size(fd, 0, size, flags);
	if (rc < 0)
		goto out_unlink;
	rc = -ENOMEM;
	blk = new_handle(dirfd, name, fd, flags);
	if (!blk)
		goto out_unlink;
	rc = map_block(blk, size);
	if (rc < 0)
		goto out_free;
	*out = blk;
	return 0;

out_free:
	free(blk);
out_unlink:
	unlink_block(dirfd, name);
	close(fd);
	return rc;
}

SHMBLOCK_API int shmblock_create(const char *name, size_t size, mode_t mode,
				 unsigned flags, struct shmblock **out)
{
	return shmblock_create_at(SHMBLOCK_DEFAULT_DIR, name, size, mode, flags,
				  out);
}

SHMBLOCK_API int shmblock_attach_at(int dirfd, const char *name, unsigned flags,
				    struct shmblock **out)
{
	struct shmblock *blk;
	struct stat st;
	int fd, rc;

	rc = shmblock_name_check(name);
	if (rc < 0)
		return rc;
	/*
	 * O_NONBLOCK: a FIFO put in place of the block (anyone may make one in
	 * /dev/shm) must not block the open; it is refused just below.
	 */
	fd = open_block(dirfd, name,
			O_NONBLOCK |
				((flags & SHMBLOCK_RDONLY) ? O_RDONLY : O_RDWR),
			0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out_close;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		rc = -errno;
		goto out_close;
	}
	rc = -ENOMEM;
	blk = new_handle(dirfd, name, fd, flags);
	if (!blk)
		goto out_close;
	rc = map_block(blk, (size_t)st.st_size);
	if (rc < 0) {
		free(blk);
		goto out_close;
	}
	*out = blk;
	return 0;

out_close:
	close(fd);
	return rc;
}

SHMBLOCK_API int shmblock_attach_fd(int dirfd, const char *name, int fd,
				    unsigned flags, struct shmblock **out)
{
	struct shmblock *blk;
	struct stat st;
	int rc;

	rc = shmblock_name_check(name);
	if (rc < 0)
		return rc;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	blk = new_handle(dirfd, name, fd, flags);
	if (!blk)
		return -ENOMEM;
	rc = map_block(blk, (size_t)st.st_size);
	if (rc < 0) {
		free(blk);
		return rc;
	}
	*out = blk;
	return 0;
}

SHMBLOCK_API int shmblock_attach(const char *name, unsigned flags,
				 struct shmblock **out)
{
	return shmblock_attach_at(SHMBLOCK_DEFAULT_DIR, name, flags, out);
}

SHMBLOCK_API void shmblock_close(struct shmblock *blk)
{
	if (!blk)
		return;
	if (blk->data)
		munmap(blk->data, blk->size);
	close(blk->fd);
	free(blk);
}

SHMBLOCK_API int shmblock_unlink(struct shmblock *blk)
{
	return unlink_block(blk->dirfd, blk->name);
}

SHMBLOCK_API int shmblock_unlink_name_at(int dirfd, const char *name)
{
	int rc = shmblock_name_check(name);

	return rc < 0 ? rc : unlink_block(dirfd, name);
}

SHMBLOCK_API int shmblock_unlink_name(const char *name)
{
	return shmblock_unlink_name_at(SHMBLOCK_DEFAULT_DIR, name);
}

SHMBLOCK_API int shmblock_rename_at(int dirfd, const char *from, const char *to,
				    unsigned flags)
{
	int fd = dirfd, rc;

	if ((rc = shmblock_name_check(from)) < 0 ||
	    (rc = shmblock_name_check(to)) < 0)
		return rc;
	if (dirfd == SHMBLOCK_DEFAULT_DIR) {
		fd = open(SHMBLOCK_SHM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	rc = renameat2(fd, from, fd, to, flags) < 0 ? -errno : 0;
	if (fd != dirfd)
		close(fd);
	return rc;
}

SHMBLOCK_API int shmblock_resize(struct shmblock *blk, size_t size,
				 unsigned flags)
{
	struct stat st;
	int rc;

	if (blk->flags & SHMBLOCK_RDONLY)
		return -EACCES;
	if (fstat(blk->fd, &st) < 0)
		return -errno;
	rc = set_file_size(blk->fd, (size_t)st.st_size, size, flags);
	if (rc < 0)
		return rc;
	rc = map_block(blk, size);
	if (rc < 0) {
		/* Can't map the new size: give the block its old size back. */
		int undo = ftruncate(blk->fd, st.st_size);

		(void)undo;
	}
	return rc;
}

SHMBLOCK_API int shmblock_refresh(struct shmblock *blk)
{
	struct stat st;

	if (fstat(blk->fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size == blk->size)
		return 0;
	return map_block(blk, (size_t)st.st_size);
}

SHMBLOCK_API const char *shmblock_name(const struct shmblock *blk)
{
	return blk->name;
}

SHMBLOCK_API size_t shmblock_size(const struct shmblock *blk)
{
	return blk->size;
}

SHMBLOCK_API void *shmblock_data(const struct shmblock *blk)
{
	return blk->data;
}

SHMBLOCK_API int shmblock_fd(const struct shmblock *blk)
{
	return blk->fd;
}

struct shmblock_list {
	DIR *dir;
};

SHMBLOCK_API int shmblock_list_open(int dirfd, struct shmblock_list **out)
{
	struct shmblock_list *it;
	int fd, rc;

	if (dirfd == SHMBLOCK_DEFAULT_DIR)
		fd = open(SHMBLOCK_SHM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else
		fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	it = calloc(1, sizeof(*it));
	if (!it) {
		rc = -ENOMEM;
		goto out_close;
	}
	it->dir = fdopendir(fd);
	if (!it->dir) {
		rc = -errno;
		free(it);
		goto out_close;
	}
	*out = it;
	return 0;

out_close:
	close(fd);
	return rc;
}

static bool is_block(int dirfd, const struct dirent *de)
{
	struct stat st;

	if (!strncmp(de->d_name, "sem.", 4))
		return false;
	if (de->d_type == DT_REG)
		return true;
	if (de->d_type != DT_UNKNOWN)
		return false;
	if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return S_ISREG(st.st_mode);
}

SHMBLOCK_API int shmblock_list_next(struct shmblock_list *it, const char **name)
{
	struct dirent *de;

	for (;;) {
		errno = 0;
		de = readdir(it->dir);
		if (!de)
			return errno ? -errno : 0;
		if (is_block(dirfd(it->dir), de)) {
			*name = de->d_name;
			return 1;
		}
	}
}

SHMBLOCK_API void shmblock_list_close(struct shmblock_list *it)
{
	if (!it)
		return;
	closedir(it->dir);
	free(it);
}
