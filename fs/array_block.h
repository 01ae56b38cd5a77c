/* SPDX-License-Identifier: MIT */
/*
 * Arrays, read only: what a block's .npy header, or the dtype and shape
 * declared in its xattrs, say it holds (docs/arrays.md, "In the mount").
 */
#ifndef SHMFS_ARRAY_BLOCK_H
#define SHMFS_ARRAY_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fs.h"
#include "shmblock.h"

/*
 * The xattrs of an array: synthesized, read only, from the header of a
 * .npy block; stored, set by a user, on a raw block whose bytes are an
 * array the CPython way (a declared array).
 */
#define ARRAY_XATTR_DTYPE "user.shmfs.dtype"
#define ARRAY_XATTR_SHAPE "user.shmfs.shape"
#define ARRAY_XATTR_NAMES ARRAY_XATTR_DTYPE "\0" ARRAY_XATTR_SHAPE

/* A declared array's view NAME.npy: a .npy header, then the block's bytes. */
#define ARRAY_VIEW_SUFFIX ".npy"
#define ARRAY_VIEW_SUFFIX_LEN 4

/*
 * The inode number a view shows, and its node's key: its block's with the
 * top bit set, so that no tool takes the two for links of one file (tmpfs
 * numbers its inodes with 32 bits unless mounted inode64).
 */
#define ARRAY_VIEW_INO_BIT ((ino_t)1 << 63)
static inline ino_t array_view_ino(ino_t block_ino)
{
	return block_ino | ARRAY_VIEW_INO_BIT;
}

/* What an array says. */
struct array_desc {
	struct shmblock_npy_info info; /* info.descr points into `descr` */
	char *descr; /* malloc'd: NUL-terminated UTF-8 (the xattr's text) */
};

void array_desc_free(struct array_desc *d);

/*
 * Whether `name` is one of the array xattrs (ARRAY_XATTR_DTYPE, _SHAPE).
 */
bool array_xattr_is(const char *name);

/*
 * Opens the block `shm_name` of the shm directory for the daemon's own
 * reads (O_RDONLY, no symlink, atime left alone) and fills `st`.  Returns
 * the descriptor or -errno (-ENOENT: gone, or not a regular file).
 */
int array_block_open(const struct shmfs *fs, const char *shm_name,
		     struct stat *st);

/*
 * Reads the .npy header of the block open at `fd`, of `size` bytes, with
 * pread (never a mapping): at most its header, which is at most
 * SHMBLOCK_NPY_HEADER_MAX and inside the block, so a hostile header costs
 * no more than its block.  The descr is converted to UTF-8 (1.0 and 2.0
 * headers are Latin-1).  Errors: those of shmblock_npy_probe_fd (-EBADMSG,
 * -EOVERFLOW, -ENOTSUP, -EAGAIN: not an array now), -ENOMEM.
 */
int array_read_header(int fd, uint64_t size, struct array_desc *d);

/*
 * Reads the declared array of the block open at `fd`, of `size` bytes:
 * its ARRAY_XATTR_DTYPE and ARRAY_XATTR_SHAPE, both valid, the byte count
 * within the block.  Errors: -ENODATA (one is missing), -EINVAL (a bad
 * value), -EOVERFLOW (the array doesn't fit the block), -ENOTSUP (object
 * dtype), -ENOMEM, fgetxattr's.
 */
int array_read_declared(int fd, uint64_t size, struct array_desc *d);

/* What array_block_test finds. */
enum array_test {
	ARRAY_TEST_NONE,     /* neither */
	ARRAY_TEST_NPY,	     /* the block's bytes are a .npy */
	ARRAY_TEST_DECLARED, /* a raw block with a valid declared array */
};

/*
 * The array test of shm_kind_of (kind.h) on the regular file `shm_name`,
 * of stat `st` (refreshed when it is opened).  Returns an enum array_test
 * or -errno (-ENOENT: gone, or no regular file now).
 */
int array_block_test(const struct shmfs *fs, const char *shm_name,
		     struct stat *st);

/*
 * A set of `name` to `value` through the mount, on the block open at
 * `fd`: for an array xattr, checks the value (a descr NumPy builds, a
 * shape as "1000,3") and, with the other one already set, that the array
 * fits the block.  Returns 0 (also for other names) or -EINVAL.
 */
int array_xattr_check(int fd, const char *name, const char *value, size_t size);

/*
 * The value of the array xattr `name` of `d` (the descr, or the shape as
 * "1000,3", "" for 0-d) in *out (malloc'd), and its length.
 * Errors: -ENODATA (not an array xattr), -ENOMEM.
 */
ssize_t array_xattr_value(const struct array_desc *d, const char *name,
			  char **out);

/*
 * The header of the view of the declared array `d` (NumPy's, padded to 64
 * bytes as np.save pads it) in *out (malloc'd), and its size.
 * Errors: those of shmblock_npy_header_build, -ENOMEM.
 */
ssize_t array_view_header(const struct array_desc *d, char **out);

/* Whether `name` has the form of a view's: NAME.npy. */
bool array_view_name(const char *name);

/*
 * The block name of the view `name` (a mount name ending in
 * ARRAY_VIEW_SUFFIX): the shm name of its stem.  Errors: -ENOENT (not a
 * view's name), those of shmfs_block_name.
 */
int array_view_block_name(const struct shmfs *fs, const char *name,
			  char out[NAME_MAX + 1]);

#endif
