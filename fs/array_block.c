/* SPDX-License-Identifier: MIT */
/* Arrays, read only: what a block's header or declared xattrs say it holds. */

/*
 * The daemon never maps a block to learn what it holds: a .npy header is
 * read with pread into a page on the stack (a longer header, up to
 * SHMBLOCK_NPY_HEADER_MAX and never past the block, into a buffer of its
 * size), and checked by the core's one validator (core/npy.c, fuzzed).  A
 * block truncated meanwhile only makes a read come up short.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "array_block.h"

void array_desc_free(struct array_desc *d)
{
	free(d->descr);
	memset(d, 0, sizeof(*d));
}

bool array_xattr_is(const char *name)
{
	return !strcmp(name, ARRAY_XATTR_DTYPE) ||
	       !strcmp(name, ARRAY_XATTR_SHAPE);
}

int array_block_open(const struct shmfs *fs, const char *shm_name,
		     struct stat *st)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	int fd, rc;

	/*
	 * Looking at a block to show it is no read by anyone: O_NOATIME,
	 * which only the owner or CAP_FOWNER may ask for.
	 */
	fd = openat(fs->dirfd, shm_name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(fs->dirfd, shm_name, flags);
	if (fd < 0)
		return errno == ELOOP || errno == ENXIO ? -ENOENT : -errno;
	if (fstat(fd, st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* `len` bytes of `text` as NUL-terminated UTF-8 (from Latin-1 if `latin1`). */
static char *to_utf8(const char *text, size_t len, bool latin1)
{
	char *out = malloc(len * 2 + 1), *p = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (latin1 && c >= 0x80) {
			*p++ = (char)(0xc0 | c >> 6);
			*p++ = (char)(0x80 | (c & 0x3f));
		} else {
			*p++ = (char)c;
		}
	}
	*p = '\0';
	return out;
}

int array_read_header(int fd, uint64_t size, struct array_desc *d)
{
	char page[4096], *big = NULL;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = shmblock_npy_probe_fd(fd, size, page, sizeof(page), &d->info);
	if (rc == -ENOBUFS) {
		/* The probe checked the header's length against both bounds. */
		if (d->info.data_offset > size ||
		    d->info.data_offset > SHMBLOCK_NPY_HEADER_MAX + 12)
			return -EBADMSG;
		big = malloc((size_t)d->info.data_offset);
		if (!big)
			return -ENOMEM;
		rc = shmblock_npy_probe_fd(
			fd, size, big, (size_t)d->info.data_offset, &d->info);
	}
	if (rc == 0) {
		d->descr = to_utf8(d->info.descr, d->info.descr_len,
				   d->info.major < 3);
		if (!d->descr)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		d->info.descr = d->descr;
		d->info.descr_len = strlen(d->descr);
	} else {
		array_desc_free(d);
	}
	free(big);
	return rc;
}

/*
 * Reads the xattr `name` of `fd` into *out (malloc'd, NUL added), without
 * a NUL inside nor one trailing newline.  Returns its length or -errno.
 */
static ssize_t read_text_xattr(int fd, const char *name, char **out)
{
	ssize_t n = 0;
	char *buf = NULL;
	int tries;

	*out = NULL;
	/* It may grow between sizing and reading: size it again. */
	for (tries = 0; tries < 3; tries++) {
		n = fgetxattr(fd, name, NULL, 0);
		if (n < 0)
			return -errno;
		buf = malloc((size_t)n + 1);
		if (!buf)
			return -ENOMEM;
		/* A size of 0 would ask the size again, not read. */
		if (n > 0)
			n = fgetxattr(fd, name, buf, (size_t)n);
		if (n >= 0 || errno != ERANGE)
			break;
		free(buf);
		buf = NULL;
	}
	if (!buf)
		return -EAGAIN;
	if (n < 0) {
		n = -errno;
		free(buf);
		return n;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n)) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	return n;
}

/*
 * Checks a declared descr and shape text and fills `d` (taking `descr`,
 * whatever it returns); the byte count must be at most `size`.
 */
static int declare(char *descr, const char *shape_text, size_t shape_len,
		   uint64_t size, struct array_desc *d)
{
	uint64_t shape[SHMBLOCK_NPY_MAX_DIMS];
	unsigned ndim;
	int rc;

	memset(d, 0, sizeof(*d));
	d->descr = descr;
	rc = shmblock_npy_shape_parse(shape_text, shape_len, shape, &ndim);
	if (rc == 0)
		rc = shmblock_npy_describe(descr, ndim, shape, false, &d->info);
	if (rc == 0 && d->info.nbytes > size)
		rc = -EOVERFLOW;
	if (rc < 0)
		array_desc_free(d);
	return rc;
}

int array_read_declared(int fd, uint64_t size, struct array_desc *d)
{
	char *descr, *shape;
	ssize_t n;
	int rc;

	memset(d, 0, sizeof(*d));
	n = read_text_xattr(fd, ARRAY_XATTR_DTYPE, &descr);
	if (n < 0)
		return (int)n;
	n = read_text_xattr(fd, ARRAY_XATTR_SHAPE, &shape);
	if (n < 0) {
		free(descr);
		return (int)n;
	}
	rc = declare(descr, shape, (size_t)n, size, d);
	free(shape);
	return rc;
}

int array_block_test(const struct shmfs *fs, const char *shm_name,
		     struct stat *st)
{
	struct array_desc d;
	int fd, rc;

	fd = array_block_open(fs, shm_name, st);
	if (fd < 0)
		/* Unreadable by the daemon: it can't show it as an array. */
		return fd == -ENOENT ? -ENOENT : ARRAY_TEST_NONE;
	rc = array_read_header(fd, (uint64_t)st->st_size, &d);
	if (rc == 0) {
		rc = ARRAY_TEST_NPY;
	} else if (rc != -ENOMEM) {
		rc = array_read_declared(fd, (uint64_t)st->st_size, &d);
		if (rc == 0)
			rc = ARRAY_TEST_DECLARED;
		else if (rc != -ENOMEM)
			rc = ARRAY_TEST_NONE;
	}
	array_desc_free(&d);
	close(fd);
	return rc;
}

int array_xattr_check(int fd, const char *name, const char *value, size_t size)
{
	const bool is_dtype = !strcmp(name, ARRAY_XATTR_DTYPE);
	char *text, *other = NULL;
	struct array_desc d;
	struct stat st;
	ssize_t n;
	int rc;

	if (!array_xattr_is(name))
		return 0;
	if (size > 0 && value[size - 1] == '\n')
		size--;
	if (memchr(value, '\0', size))
		return -EINVAL;
	text = strndup(value, size);
	if (!text)
		return -ENOMEM;
	n = read_text_xattr(
		fd, is_dtype ? ARRAY_XATTR_SHAPE : ARRAY_XATTR_DTYPE, &other);
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (n >= 0) {
		/* Both set: the pair must be an array that fits the block. */
		rc = is_dtype ? declare(text, other, (size_t)n,
					(uint64_t)st.st_size, &d)
			      : declare(other, text, size, (uint64_t)st.st_size,
					&d);
		if (rc == 0)
			array_desc_free(&d);
		if (is_dtype)
			text = NULL;
		else
			other = NULL;
	} else if (is_dtype) {
		rc = shmblock_npy_describe(text, 0, NULL, false, NULL);
	} else {
		uint64_t shape[SHMBLOCK_NPY_MAX_DIMS];
		unsigned ndim;

		rc = shmblock_npy_shape_parse(text, size, shape, &ndim);
	}
	free(text);
	free(other);
	if (rc == -ENOMEM || rc == -EIO)
		return rc;
	/* A bad descr or shape, an object dtype, an array too big: EINVAL. */
	return rc < 0 ? -EINVAL : 0;
}

ssize_t array_xattr_value(const struct array_desc *d, const char *name,
			  char **out)
{
	/* At most 64 sizes of 20 digits with their commas. */
	size_t room = SHMBLOCK_NPY_MAX_DIMS * 21 + 1;
	ssize_t n;

	*out = NULL;
	if (!strcmp(name, ARRAY_XATTR_DTYPE)) {
		*out = strdup(d->descr);
		return *out ? (ssize_t)strlen(*out) : -ENOMEM;
	}
	if (strcmp(name, ARRAY_XATTR_SHAPE))
		return -ENODATA;
	*out = malloc(room);
	if (!*out)
		return -ENOMEM;
	n = shmblock_npy_shape_format(d->info.shape, d->info.ndim, ',', *out,
				      room);
	if (n < 0) {
		free(*out);
		*out = NULL;
	}
	return n;
}

ssize_t array_view_header(const struct array_desc *d, char **out)
{
	const struct shmblock_npy_info *i = &d->info;
	ssize_t n;

	*out = NULL;
	n = shmblock_npy_header_build(d->descr, i->ndim, i->shape,
				      i->fortran_order, 64, NULL, 0);
	if (n < 0)
		return n;
	*out = malloc((size_t)n);
	if (!*out)
		return -ENOMEM;
	n = shmblock_npy_header_build(d->descr, i->ndim, i->shape,
				      i->fortran_order, 64, *out, (size_t)n);
	if (n < 0) {
		free(*out);
		*out = NULL;
	}
	return n;
}

bool array_view_name(const char *name)
{
	size_t len = strlen(name);

	return len > ARRAY_VIEW_SUFFIX_LEN && len <= NAME_MAX &&
	       !strcmp(name + len - ARRAY_VIEW_SUFFIX_LEN, ARRAY_VIEW_SUFFIX);
}

int array_view_block_name(const struct shmfs *fs, const char *name,
			  char out[NAME_MAX + 1])
{
	char stem[NAME_MAX + 1];
	size_t len = strlen(name);

	if (!array_view_name(name))
		return -ENOENT;
	memcpy(stem, name, len - ARRAY_VIEW_SUFFIX_LEN);
	stem[len - ARRAY_VIEW_SUFFIX_LEN] = '\0';
	return shmfs_block_name(fs, stem, out);
}
