/* SPDX-License-Identifier: MIT */
/*
 * libshmblock: arrays as .npy blocks (docs/arrays.md).  Included by shmblock.h, which programs include;
 * not meant to be included alone.
 */
#ifndef SHMBLOCK_ARRAY_H
#define SHMBLOCK_ARRAY_H

#include "shmblock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/*
 * Arrays: blocks whose bytes are a NumPy .npy file (docs/arrays.md), so
 * np.load(path, mmap_mode='r+') maps them with no copy.  Any valid .npy
 * block is an array, whoever made it; arrays made here have a 1.0 header
 * (2.0 when it needs more than 64 KiB, 3.0 when the descr is not ASCII)
 * padded with spaces to a page, so the data is page-aligned.
 *
 * A descr is NumPy's text for a dtype: a type string as dtype.str gives it
 * ("<f8", "|u1", ">i4", "<c16", "|S16", "<U8", "|b1", "<m8[ns]"), or a
 * structured dtype as repr(dtype.descr) writes it ("[('x', '<f4'),
 * ('y', '<i4', (2,))]").  Object dtypes ("|O") are refused.
 *
 * Errors of the .npy calls:
 *   -EBADMSG    not a .npy block, or a header this reader doesn't take
 *   -EOVERFLOW  the shape's byte count overflows 63 bits, or the data
 *               runs past the end of the block
 *   -ENOTSUP    an object dtype: its data are pickles, nothing to map
 *   -EINVAL     a bad argument (descr, shape, alignment, buffer)
 */

/* NumPy 2's NPY_MAXDIMS (NumPy 1.x loads at most 32). */
#define SHMBLOCK_NPY_MAX_DIMS 64
/*
 * The longest header taken, in bytes.  NumPy's own default limit is 10000
 * characters (np.load's max_header_size): longer ones it loads only when
 * told to.
 */
#define SHMBLOCK_NPY_HEADER_MAX (1u << 20)

/* What a valid .npy header says. */
struct shmblock_npy_info {
	uint8_t major, minor; /* format version: 1.0, 2.0 or 3.0 */
	bool fortran_order;   /* column-major data */
	bool structured;      /* descr is a list of fields */
	unsigned ndim;	      /* 0 to SHMBLOCK_NPY_MAX_DIMS */
	uint64_t data_offset; /* first byte of the data: the header's size */
	uint64_t itemsize;    /* bytes of one item */
	uint64_t count;	      /* items: the product of the shape */
	uint64_t nbytes;      /* itemsize * count */
	const char *descr;    /* the descr: a type string without its */
	size_t descr_len;     /* quotes, or a list; not NUL terminated;
				 the header's bytes: Latin-1 before 3.0 */
	uint64_t shape[SHMBLOCK_NPY_MAX_DIMS];
};

/*
 * Checks `len` bytes, the start of a block of `block_size` bytes, as a
 * .npy header: the magic and version, the header length (at most
 * SHMBLOCK_NPY_HEADER_MAX), and the dict, strictly (the three keys once
 * each, in any order; shape a tuple of integers; a descr NumPy builds;
 * Python literal syntax as NumPy writes it), then that the data fit the
 * block.  Never reads past min(len, block_size); takes no memory but a
 * table of a structured dtype's field names.  On success *out (if not
 * NULL) describes the header; out->descr points into `buf`.  If `buf`
 * holds too little of the header, -ENOBUFS with out->data_offset = the
 * bytes needed (call again with that many).
 * Errors: -EBADMSG, -EOVERFLOW, -ENOTSUP, -ENOBUFS, -ENOMEM.
 */
SHMBLOCK_API int shmblock_npy_probe(const void *buf, size_t len,
				    uint64_t block_size,
				    struct shmblock_npy_info *out);

/*
 * As shmblock_npy_probe on the block open at `fd` (of `size` bytes, from
 * the caller's fstat), reading only its header with pread into `buf`
 * (`buflen` >= 12 bytes; out->descr points there): no mapping, so a block
 * truncated meanwhile can't raise SIGBUS.  -ENOBUFS with out->data_offset
 * set when the header is longer than buflen.
 * Errors: those of shmblock_npy_probe, -EAGAIN (the file is shorter than
 * `size` now), -EINVAL (buflen < 12), pread's.
 */
SHMBLOCK_API int shmblock_npy_probe_fd(int fd, uint64_t size, void *buf,
				       size_t buflen,
				       struct shmblock_npy_info *out);

/*
 * Checks a descr (NUL-terminated UTF-8) and a shape and fills *out (if not
 * NULL) as a header of them would: itemsize, count, nbytes, and descr
 * pointing into `descr`; data_offset and the version are 0.  For declared
 * arrays: the caller checks out->nbytes against the block.
 * Errors: -EINVAL (bad descr, ndim > SHMBLOCK_NPY_MAX_DIMS), -ENOTSUP
 * (object dtype), -EOVERFLOW (the byte count).
 */
SHMBLOCK_API int shmblock_npy_describe(const char *descr, unsigned ndim,
				       const uint64_t *shape,
				       bool fortran_order,
				       struct shmblock_npy_info *out);

/*
 * Writes the .npy header of (descr, shape, fortran_order) as NumPy writes
 * one, padded with spaces before its final '\n' to a multiple of `align`
 * (a power of two, a multiple of 64; 0 means 64, np.save's), and returns
 * its size, which is where the data start.  Writes nothing if `buf` is
 * NULL or `buflen` is less than that size, so a first call with NULL, 0
 * tells the size.
 * Errors: those of shmblock_npy_describe, -EINVAL (bad align).
 */
SHMBLOCK_API ssize_t shmblock_npy_header_build(const char *descr, unsigned ndim,
					       const uint64_t *shape,
					       bool fortran_order, size_t align,
					       void *buf, size_t buflen);

/*
 * A shape as text, the form of the user.shmfs.shape xattr: decimal sizes
 * separated by commas, "1000,3"; "" is a 0-d array.  Parsing takes `len`
 * bytes (one trailing newline allowed) into shape[SHMBLOCK_NPY_MAX_DIMS].
 * Errors: -EINVAL (anything else: blanks, signs, leading zeros, too many
 * dimensions), -EOVERFLOW (a size above INT64_MAX).
 */
SHMBLOCK_API int shmblock_npy_shape_parse(const char *text, size_t len,
					  uint64_t *shape, unsigned *ndim);

/*
 * Writes a shape with `sep` between the sizes (',' for the xattr, 'x' for
 * lsshm's "1000x3"), NUL terminated in at most outlen bytes, and returns
 * the full length, as snprintf.  Errors: -EINVAL.
 */
SHMBLOCK_API ssize_t shmblock_npy_shape_format(const uint64_t *shape,
					       unsigned ndim, char sep,
					       char *out, size_t outlen);

struct shmblock_array;

/*
 * Creates an array block: a page-padded header, then nbytes of zeros (the
 * block's fresh pages).  `name` NULL picks a fresh name; mode and flags as
 * shmblock_create.  The header is written before the call returns, but a
 * process listing the directory meanwhile may see the block header-less.
 * Errors: those of shmblock_npy_header_build and shmblock_create, -EFBIG
 * (the block would not fit size_t).  On error no block is left behind.
 */
SHMBLOCK_API int shmblock_array_create(const char *name, const char *descr,
				       unsigned ndim, const uint64_t *shape,
				       bool fortran_order, mode_t mode,
				       unsigned flags,
				       struct shmblock_array **out);
SHMBLOCK_API int shmblock_array_create_at(int dirfd, const char *name,
					  const char *descr, unsigned ndim,
					  const uint64_t *shape,
					  bool fortran_order, mode_t mode,
					  unsigned flags,
					  struct shmblock_array **out);

/*
 * Attaches to any .npy block (np.save's 64-byte aligned headers too),
 * flags as shmblock_attach (SHMBLOCK_NOMAP: data NULL).  The header is
 * read with pread and checked against the block's size before the handle
 * is made.  Errors: those of shmblock_attach and shmblock_npy_probe_fd.
 */
SHMBLOCK_API int shmblock_array_attach(const char *name, unsigned flags,
				       struct shmblock_array **out);
SHMBLOCK_API int shmblock_array_attach_at(int dirfd, const char *name,
					  unsigned flags,
					  struct shmblock_array **out);

/* Unmaps and closes (the block stays).  NULL is ignored. */
SHMBLOCK_API void shmblock_array_close(struct shmblock_array *arr);

/* The block under the array, owned by the handle. */
SHMBLOCK_API struct shmblock *
shmblock_array_block(const struct shmblock_array *arr);
/*
 * The header as read at attach; its descr is the handle's UTF-8 copy (as
 * shmblock_array_descr), the rest as shmblock_npy_probe gives it.
 */
SHMBLOCK_API const struct shmblock_npy_info *
shmblock_array_info(const struct shmblock_array *arr);
/* The first data byte in the mapping (NULL if not mapped). */
SHMBLOCK_API void *shmblock_array_data(const struct shmblock_array *arr);
/*
 * The descr, UTF-8 and NUL terminated: "<f8", or a list for a structured
 * dtype; shmblock_array_create takes it as it is.
 */
SHMBLOCK_API const char *shmblock_array_descr(const struct shmblock_array *arr);
SHMBLOCK_API unsigned shmblock_array_ndim(const struct shmblock_array *arr);
SHMBLOCK_API const uint64_t *
shmblock_array_shape(const struct shmblock_array *arr);
SHMBLOCK_API bool
shmblock_array_fortran_order(const struct shmblock_array *arr);
SHMBLOCK_API uint64_t shmblock_array_itemsize(const struct shmblock_array *arr);
SHMBLOCK_API uint64_t shmblock_array_nbytes(const struct shmblock_array *arr);
SHMBLOCK_API uint64_t
shmblock_array_data_offset(const struct shmblock_array *arr);

#ifdef __cplusplus
}
#endif
#endif
