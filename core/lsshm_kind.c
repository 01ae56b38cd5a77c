/* SPDX-License-Identifier: MIT */
/*
 * lsshm's kinds: what a block holds, found with pread and fgetxattr.  A
 * block may be truncated, rewritten or hostile while lsshm looks: nothing
 * here maps it (a mapping of a block truncated under us would raise
 * SIGBUS), and no read goes past the size the block had when opened.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lsshm_kind.h"

/* Largest block lsshm reads whole to recognise a list without the probe. */
#define KIND_READ_MAX (16u << 20)

/* The number of items if the block open at `fd` holds a ShareableList. */
static long list_length(int fd, uint64_t size)
{
	struct shmblock_slist_layout *lay;
	long n;
	int rc;

#ifdef SHMBLOCK_PROBE_SHALLOW
	rc = shmblock_slist_probe_fd(fd, size, SHMBLOCK_PROBE_SHALLOW, &lay);
#else
	char *buf;
	ssize_t got;

	/* A list has at least its count and one offset. */
	if (size < 16 || size > KIND_READ_MAX)
		return -EBADMSG;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	/* A copy: the validator must not see bytes change under it. */
	got = pread(fd, buf, size, 0);
	rc = got == (ssize_t)size ? shmblock_slist_validate(buf, size, &lay)
				  : -EBADMSG;
	free(buf);
#endif
	if (rc < 0)
		return rc;
	n = (long)lay->count;
	shmblock_slist_layout_free(lay);
	return n;
}

/*
 * The kind of a block that has no memory allocated (st_blocks 0): it reads
 * as zeros, so what the validator says of zeros of its size is its kind,
 * found without opening it.  Asked once per size (a directory of blocks
 * made by ftruncate has one size or a few).  Returns the item count, a
 * negative errno for a plain block, or -E2BIG when it is too big to ask.
 */
static long zeros_kind(uint64_t size)
{
	static uint64_t last_size = UINT64_MAX;
	static long last = -EBADMSG;
	struct shmblock_slist_layout *lay;
	void *zeros;
	int rc;

	if (size > (1u << 20))
		return -E2BIG;
	if (size == last_size)
		return last;
	zeros = calloc(1, size ? size : 1);
	if (!zeros)
		return -E2BIG;
	rc = size < 16 ? -EBADMSG : shmblock_slist_validate(zeros, size, &lay);
	free(zeros);
	last = rc;
	if (rc == 0) {
		last = (long)lay->count;
		shmblock_slist_layout_free(lay);
	}
	last_size = size;
	return last;
}

/* A shape as lsshm writes it: "1000x3", and "()" for a 0-d array. */
static void shape_text(const uint64_t *shape, unsigned ndim, struct sbuf *b)
{
	char text[SHMBLOCK_NPY_MAX_DIMS * 21 + 1];

	if (ndim == 0) {
		sb_str(b, "()");
		return;
	}
	if (shmblock_npy_shape_format(shape, ndim, 'x', text, sizeof(text)) > 0)
		sb_str(b, text);
}

/*
 * An array's DTYPE and SHAPE.  A 1.0 or 2.0 header is Latin-1 (NumPy
 * writes a field name "é" as the one byte 0xe9), shown as UTF-8.
 */
static void set_array(struct lsshm_kind *k, enum lsshm_kind_type type,
		      const struct shmblock_npy_info *info, bool latin1)
{
	const unsigned char *s = (const unsigned char *)info->descr;
	size_t i;

	k->type = type;
	for (i = 0; i < info->descr_len; i++) {
		if (latin1 && s[i] >= 0x80) {
			sb_char(&k->dtype, (char)(0xc0 | s[i] >> 6));
			sb_char(&k->dtype, (char)(0x80 | (s[i] & 0x3f)));
		} else {
			sb_char(&k->dtype, (char)s[i]);
		}
	}
	shape_text(info->shape, info->ndim, &k->shape);
}

/*
 * A .npy block: its header read with pread into a page, or, when longer
 * (up to SHMBLOCK_NPY_HEADER_MAX, and never past the block), into a
 * buffer of its size.  Returns 0 for an array, -ENOMEM, or another
 * negative errno for a block that is not one.
 */
static int npy_kind(int fd, uint64_t size, struct lsshm_kind *k)
{
	unsigned char page[4096];
	struct shmblock_npy_info info;
	void *big = NULL;
	int rc;

	rc = shmblock_npy_probe_fd(fd, size, page, sizeof(page), &info);
	if (rc == -ENOBUFS && info.data_offset <= size &&
	    info.data_offset <= SHMBLOCK_NPY_HEADER_MAX + 16) {
		big = malloc((size_t)info.data_offset);
		if (!big)
			return -ENOMEM;
		/* Longer again (rewritten meanwhile): not an array now. */
		rc = shmblock_npy_probe_fd(fd, size, big,
					   (size_t)info.data_offset, &info);
	}
	if (rc == 0)
		set_array(k, LSSHM_ARRAY, &info, info.major < 3);
	free(big);
	return rc;
}

/*
 * A declared array: a raw block on which user.shmfs.dtype (a descr, "<f8")
 * and user.shmfs.shape ("1000,3") are set, valid, and whose byte count
 * fits the block.  One trailing newline is allowed in each (setfattr and
 * echo leave one).  A value longer than the buffers is not a declaration.
 */
static bool declared_kind(int fd, uint64_t size, struct lsshm_kind *k)
{
	static char dtype[65536 + 1]; /* XATTR_SIZE_MAX */
	char text[SHMBLOCK_NPY_MAX_DIMS * 21 + 2];
	uint64_t shape[SHMBLOCK_NPY_MAX_DIMS];
	struct shmblock_npy_info info;
	unsigned ndim;
	ssize_t n, m;

	n = fgetxattr(fd, LSSHM_XATTR_DTYPE, dtype, sizeof(dtype) - 1);
	if (n <= 0)
		return false;
	if (dtype[n - 1] == '\n')
		n--;
	dtype[n] = '\0';
	if (strlen(dtype) != (size_t)n)
		return false;
	m = fgetxattr(fd, LSSHM_XATTR_SHAPE, text, sizeof(text));
	if (m < 0 || shmblock_npy_shape_parse(text, (size_t)m, shape, &ndim))
		return false;
	if (shmblock_npy_describe(dtype, ndim, shape, false, &info) < 0 ||
	    info.nbytes > size)
		return false;
	set_array(k, LSSHM_DECLARED, &info, false);
	return true;
}

/*
 * getxattrat(2), Linux 6.13: one number on every architecture since 5.1's
 * common table (alpha's is 110 above), not yet in every libc's headers.
 */
#if !defined(SYS_getxattrat) && !defined(__alpha__)
#define SYS_getxattrat 464
#endif

struct xattr_args_v0 {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

/*
 * Whether a named block that reads as zeros may be a declared array: its
 * dtype xattr, asked by name in the directory (one call, where opening it
 * takes three): getxattrat, or before Linux 6.13 the path through
 * /proc/self/fd (three times its cost).  Unknown (no /proc, no right to
 * read it) counts as no.
 */
static bool may_be_declared(int dirfd, const char *name)
{
	char path[64 + NAME_MAX];
#ifdef SYS_getxattrat
	static bool no_getxattrat;

	if (!no_getxattrat) {
		struct xattr_args_v0 args = { 0 };
		long n = syscall(SYS_getxattrat, dirfd, name,
				 AT_SYMLINK_NOFOLLOW, LSSHM_XATTR_DTYPE, &args,
				 sizeof(args));

		if (n >= 0 || errno != ENOSYS)
			return n > 0;
		no_getxattrat = true;
	}
#endif
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	return lgetxattr(path, LSSHM_XATTR_DTYPE, NULL, 0) > 0;
}

/* Opens the entry's inode read-only, or returns a negative errno. */
static int open_entry(int dirfd, const struct shmblock_holders *snap,
		      const struct shmblock_holders_entry *e, struct stat *st)
{
	int fd;

	if (e->deleted)
		fd = shmblock_holders_open(snap, e->dev, e->ino);
	else
		fd = openat(dirfd, e->name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return e->deleted ? fd : -errno;
	/* Replaced since the scan: not the block listed. */
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) ||
	    st->st_ino != e->ino || (uint64_t)st->st_dev != e->dev) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* The kind of the block open at `fd`, of the size fstat gave. */
static int kind_of_fd(int fd, const char *name, uint64_t size,
		      struct lsshm_kind *k)
{
	long n;
	int rc;

	/* glibc opens sem.NAME only; anything else is a block. */
	if (!strncmp(name, SHMBLOCK_SEM_PREFIX, strlen(SHMBLOCK_SEM_PREFIX)) &&
	    size == SHMBLOCK_SEM_SIZE) {
		rc = shmblock_sem_read_fd(fd, &k->sem);
		if (rc == 0 || rc == -EAGAIN) {
			/* -EAGAIN: valid each time, never twice the same. */
			k->type = LSSHM_SEMAPHORE;
			k->have_sem = rc == 0;
			return 0;
		}
	}
	rc = npy_kind(fd, size, k);
	if (rc == 0 || rc == -ENOMEM)
		return rc;
	if (declared_kind(fd, size, k))
		return 0;
	n = list_length(fd, size);
	if (n == -ENOMEM)
		return -ENOMEM;
	k->type = n >= 0 ? LSSHM_LIST : LSSHM_PLAIN;
	k->items = n >= 0 ? (uint64_t)n : 0;
	return 0;
}

int lsshm_kind_get(int dirfd, const struct shmblock_holders *snap,
		   const struct shmblock_holders_entry *e, struct lsshm_kind *k)
{
	struct stat st;
	long n;
	int fd, rc;

	memset(k, 0, sizeof(*k));
	/*
	 * No pages: zeros, whose kind needs no open (a list, an array and a
	 * semaphore have data), unless xattrs declare it an array.
	 */
	if (e->have_stat && e->alloc == 0 && !e->deleted &&
	    strncmp(e->name, SHMBLOCK_SEM_PREFIX,
		    strlen(SHMBLOCK_SEM_PREFIX)) &&
	    !may_be_declared(dirfd, e->name) &&
	    (n = zeros_kind(e->size)) != -E2BIG) {
		k->type = n >= 0 ? LSSHM_LIST : LSSHM_PLAIN;
		k->items = n >= 0 ? (uint64_t)n : 0;
		return 0;
	}
	fd = open_entry(dirfd, snap, e, &st);
	/* Not ours to read, or gone: say so rather than guess. */
	if (fd < 0)
		return 0;
	rc = kind_of_fd(fd, e->name, (uint64_t)st.st_size, k);
	close(fd);
	if (rc == 0 && (k->dtype.failed || k->shape.failed))
		rc = -ENOMEM;
	return rc;
}

void lsshm_kind_free(struct lsshm_kind *k)
{
	free(k->dtype.s);
	free(k->shape.s);
	memset(k, 0, sizeof(*k));
}

void lsshm_kind_text(const struct lsshm_kind *k, struct sbuf *b)
{
	switch (k->type) {
	case LSSHM_UNKNOWN:
		sb_char(b, '?');
		break;
	case LSSHM_PLAIN:
		sb_str(b, "plain");
		break;
	case LSSHM_LIST:
		sb_str(b, "list[");
		sb_u64(b, k->items);
		sb_char(b, ']');
		break;
	case LSSHM_ARRAY:
	case LSSHM_DECLARED:
		sb_str(b, "array[");
		sb_add(b, k->dtype.s ? k->dtype.s : "", k->dtype.len);
		sb_char(b, ' ');
		sb_add(b, k->shape.s ? k->shape.s : "", k->shape.len);
		sb_char(b, ']');
		if (k->type == LSSHM_DECLARED)
			sb_str(b, " (declared)");
		break;
	case LSSHM_SEMAPHORE:
		sb_str(b, "semaphore");
		break;
	}
}
