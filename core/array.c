/* SPDX-License-Identifier: MIT */
/* Array blocks: a .npy file in a block, its data page-aligned. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmblock.h"

struct shmblock_array {
	struct shmblock *blk;
	struct shmblock_npy_info info; /* info.descr points at descr */
	char *descr;		       /* UTF-8, NUL terminated */
};

/*
 * The descr as UTF-8, NUL terminated: 1.0 and 2.0 headers are Latin-1
 * (NumPy writes a field name "é" as the one byte 0xe9 there).
 */
static char *descr_utf8(const struct shmblock_npy_info *info, size_t *len)
{
	const unsigned char *s = (const unsigned char *)info->descr;
	char *text = malloc(2 * info->descr_len + 1);
	size_t i, n = 0;

	if (!text)
		return NULL;
	for (i = 0; i < info->descr_len; i++) {
		if (info->major < 3 && s[i] >= 0x80) {
			text[n++] = (char)(0xc0 | s[i] >> 6);
			text[n++] = (char)(0x80 | (s[i] & 0x3f));
		} else {
			text[n++] = (char)s[i];
		}
	}
	text[n] = '\0';
	*len = n;
	return text;
}

/* A handle of `blk` (taken over on success) whose header says `info`. */
static int new_handle(struct shmblock *blk,
		      const struct shmblock_npy_info *info,
		      struct shmblock_array **out)
{
	struct shmblock_array *arr = calloc(1, sizeof(*arr));

	if (!arr)
		return -ENOMEM;
	arr->info = *info;
	arr->descr = descr_utf8(info, &arr->info.descr_len);
	if (!arr->descr) {
		free(arr);
		return -ENOMEM;
	}
	arr->blk = blk;
	arr->info.descr = arr->descr;
	*out = arr;
	return 0;
}

SHMBLOCK_API int shmblock_array_create_at(int dirfd, const char *name,
					  const char *descr, unsigned ndim,
					  const uint64_t *shape,
					  bool fortran_order, mode_t mode,
					  unsigned flags,
					  struct shmblock_array **out)
{
	struct shmblock_npy_info info;
	struct shmblock *blk = NULL;
	unsigned char *header = NULL;
	long page = sysconf(_SC_PAGESIZE);
	ssize_t hsize;
	ssize_t n;
	int rc;

	if (page < 64)
		page = 4096;
	rc = shmblock_npy_describe(descr, ndim, shape, fortran_order, &info);
	if (rc < 0)
		return rc;
	hsize = shmblock_npy_header_build(descr, ndim, shape, fortran_order,
					  (size_t)page, NULL, 0);
	if (hsize < 0)
		return (int)hsize;
	if (info.nbytes > SIZE_MAX - (size_t)hsize)
		return -EFBIG;
	header = malloc((size_t)hsize);
	if (!header)
		return -ENOMEM;
	n = shmblock_npy_header_build(descr, ndim, shape, fortran_order,
				      (size_t)page, header, (size_t)hsize);
	if (n != hsize) {
		rc = n < 0 ? (int)n : -EINVAL;
		goto out;
	}
	/* What a reader will see: the one parser gives the handle's info. */
	rc = shmblock_npy_probe(header, (size_t)hsize,
				(uint64_t)hsize + info.nbytes, &info);
	if (rc < 0)
		goto out;

	rc = shmblock_create_at(dirfd, name, (size_t)hsize + info.nbytes, mode,
				flags & ~SHMBLOCK_RDONLY, &blk);
	if (rc < 0)
		goto out;
	do
		n = pwrite(shmblock_fd(blk), header, (size_t)hsize, 0);
	while (n < 0 && errno == EINTR);
	if (n != hsize) {
		rc = n < 0 ? -errno : -EIO;
		goto out_unlink;
	}
	rc = new_handle(blk, &info, out);
	if (rc < 0)
		goto out_unlink;
	free(header);
	return 0;

out_unlink:
	shmblock_unlink(blk);
	shmblock_close(blk);
out:
	free(header);
	return rc;
}

SHMBLOCK_API int shmblock_array_create(const char *name, const char *descr,
				       unsigned ndim, const uint64_t *shape,
				       bool fortran_order, mode_t mode,
				       unsigned flags,
				       struct shmblock_array **out)
{
	return shmblock_array_create_at(SHMBLOCK_DEFAULT_DIR, name, descr, ndim,
					shape, fortran_order, mode, flags, out);
}

SHMBLOCK_API int shmblock_array_attach_at(int dirfd, const char *name,
					  unsigned flags,
					  struct shmblock_array **out)
{
	struct shmblock_npy_info info;
	struct shmblock *blk = NULL;
	unsigned char small[4096], *buf = small, *big = NULL;
	int rc;

	rc = shmblock_attach_at(dirfd, name, flags, &blk);
	if (rc < 0)
		return rc;
	rc = shmblock_npy_probe_fd(shmblock_fd(blk), shmblock_size(blk), buf,
				   sizeof(small), &info);
	if (rc == -ENOBUFS) {
		/* A header longer than a page: at most HEADER_MAX + 12. */
		rc = -ENOMEM;
		big = malloc((size_t)info.data_offset);
		if (!big)
			goto out;
		buf = big;
		rc = shmblock_npy_probe_fd(shmblock_fd(blk), shmblock_size(blk),
					   buf, (size_t)info.data_offset,
					   &info);
		/* Changed meanwhile to a longer header still. */
		if (rc == -ENOBUFS)
			rc = -EAGAIN;
	}
	if (rc < 0)
		goto out;
	rc = new_handle(blk, &info, out);
out:
	if (rc < 0)
		shmblock_close(blk);
	free(big);
	return rc;
}

SHMBLOCK_API int shmblock_array_attach(const char *name, unsigned flags,
				       struct shmblock_array **out)
{
	return shmblock_array_attach_at(SHMBLOCK_DEFAULT_DIR, name, flags, out);
}

SHMBLOCK_API void shmblock_array_close(struct shmblock_array *arr)
{
	if (!arr)
		return;
	shmblock_close(arr->blk);
	free(arr->descr);
	free(arr);
}

SHMBLOCK_API struct shmblock *
shmblock_array_block(const struct shmblock_array *arr)
{
	return arr->blk;
}

SHMBLOCK_API const struct shmblock_npy_info *
shmblock_array_info(const struct shmblock_array *arr)
{
	return &arr->info;
}

SHMBLOCK_API void *shmblock_array_data(const struct shmblock_array *arr)
{
	unsigned char *base = shmblock_data(arr->blk);

	return base ? base + arr->info.data_offset : NULL;
}

SHMBLOCK_API const char *shmblock_array_descr(const struct shmblock_array *arr)
{
	return arr->descr;
}

SHMBLOCK_API unsigned shmblock_array_ndim(const struct shmblock_array *arr)
{
	return arr->info.ndim;
}

SHMBLOCK_API const uint64_t *
shmblock_array_shape(const struct shmblock_array *arr)
{
	return arr->info.shape;
}

SHMBLOCK_API bool shmblock_array_fortran_order(const struct shmblock_array *arr)
{
	return arr->info.fortran_order;
}

SHMBLOCK_API uint64_t shmblock_array_itemsize(const struct shmblock_array *arr)
{
	return arr->info.itemsize;
}

SHMBLOCK_API uint64_t shmblock_array_nbytes(const struct shmblock_array *arr)
{
	return arr->info.nbytes;
}

SHMBLOCK_API uint64_t
shmblock_array_data_offset(const struct shmblock_array *arr)
{
	return arr->info.data_offset;
}
