/* SPDX-License-Identifier: MIT */
/*
 * libshmblock: named POSIX shared memory blocks, CPython-compatible
 * ShareableLists inside them, and a manager that releases what it made.
 *
 * Every call returns 0 (or a non-negative count) on success and a negative
 * errno on failure; errno itself is never the channel.  A failed call leaves
 * nothing half made behind.
 */
#ifndef SHMBLOCK_H
#define SHMBLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMBLOCK_BUILDING)
#define SHMBLOCK_API __attribute__((visibility("default")))
#else
#define SHMBLOCK_API
#endif

#define SHMBLOCK_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* Blocks: the C counterpart of multiprocessing.shared_memory.SharedMemory */

/* Where shm_open(3) keeps blocks on Linux. */
#define SHMBLOCK_SHM_DIR "/dev/shm"

/*
 * Pass as `dirfd` to the *_at calls to mean "where shm_open(3) puts blocks".
 * Any other value must be an open directory descriptor: blocks are then files
 * of that directory, opened relative to it with O_NOFOLLOW.
 */
#define SHMBLOCK_DEFAULT_DIR (-1)

/* CPython's default mode for new blocks. */
#define SHMBLOCK_DEFAULT_MODE 0600

/* Prefix of generated names, as CPython's "psm_" + 8 hex digits. */
#define SHMBLOCK_NAME_PREFIX "psm_"

enum shmblock_flags {
	/* attach: open and map read-only. */
	SHMBLOCK_RDONLY = 1u << 0,
	/* create/resize: don't reserve memory (CPython's plain ftruncate). */
	SHMBLOCK_SPARSE = 1u << 1,
	/* create/attach: don't map; only the descriptor is kept (data is NULL). */
	SHMBLOCK_NOMAP = 1u << 2,
};

struct shmblock;

/*
 * Checks a block name: not empty, no '/', not "." or "..", at most NAME_MAX
 * bytes.  Returns 0 or -EINVAL (for every kind of bad name, as shm_open).
 */
SHMBLOCK_API int shmblock_name_check(const char *name);

/*
 * Creates a new block exclusively and maps it read-write.  `name` NULL picks
 * a fresh random name (SHMBLOCK_NAME_PREFIX + 8 hex digits, retried on
 * EEXIST).  Unless SHMBLOCK_SPARSE is given, the memory is reserved with
 * posix_fallocate, so a full shm filesystem fails here with -ENOSPC instead
 * of a SIGBUS later.
 * Errors: -EINVAL (bad name, size 0), -EEXIST, -EACCES, -ENOSPC, -ENOMEM,
 * -EFBIG.  On error no block is left behind and *out is untouched.
 */
SHMBLOCK_API int shmblock_create(const char *name, size_t size, mode_t mode,
				 unsigned flags, struct shmblock **out);
SHMBLOCK_API int shmblock_create_at(int dirfd, const char *name, size_t size,
				    mode_t mode, unsigned flags,
				    struct shmblock **out);

/*
 * Attaches to an existing block, read-write or (SHMBLOCK_RDONLY) read-only,
 * and maps its current size.  A block of size 0 is attached with data NULL.
 * Errors: -EINVAL (bad name), -ENOENT, -EACCES, -ENOMEM.
 */
SHMBLOCK_API int shmblock_attach(const char *name, unsigned flags,
				 struct shmblock **out);
SHMBLOCK_API int shmblock_attach_at(int dirfd, const char *name,
				    unsigned flags, struct shmblock **out);

/* Unmaps and closes; the block itself stays.  NULL is ignored. */
SHMBLOCK_API void shmblock_close(struct shmblock *blk);

/* Removes the block's name (the handle stays usable).  -ENOENT if gone. */
SHMBLOCK_API int shmblock_unlink(struct shmblock *blk);

/* Removes a block by name.  Errors: -EINVAL, -ENOENT, -EACCES. */
SHMBLOCK_API int shmblock_unlink_name(const char *name);
SHMBLOCK_API int shmblock_unlink_name_at(int dirfd, const char *name);

/*
 * Renames a block inside one directory; `flags` are renameat2(2)'s
 * (RENAME_NOREPLACE, RENAME_EXCHANGE).  Errors: -EINVAL, -ENOENT, -EEXIST.
 */
SHMBLOCK_API int shmblock_rename_at(int dirfd, const char *from,
				    const char *to, unsigned flags);

/*
 * Resizes the block (ftruncate; growing reserves memory unless
 * SHMBLOCK_SPARSE) and remaps it.  Size 0 is allowed and leaves data NULL.
 * Errors: -ENOSPC, -EFBIG, -EACCES (read-only handle), -ENOMEM.  On error the
 * block keeps its old size and mapping.
 */
SHMBLOCK_API int shmblock_resize(struct shmblock *blk, size_t size,
				 unsigned flags);

/*
 * Re-reads the block's size (another process may have resized it) and remaps
 * if it changed.  Returns 0 or -errno; on error the old mapping stays.
 */
SHMBLOCK_API int shmblock_refresh(struct shmblock *blk);

/* The name as CPython reports it, without a leading slash. */
SHMBLOCK_API const char *shmblock_name(const struct shmblock *blk);
/* The size the block had when it was last mapped (st_size, not rounded). */
SHMBLOCK_API size_t shmblock_size(const struct shmblock *blk);
/* The mapping, or NULL when the size is 0 or SHMBLOCK_NOMAP was given. */
SHMBLOCK_API void *shmblock_data(const struct shmblock *blk);
/* The descriptor; owned by the handle, closed by shmblock_close. */
SHMBLOCK_API int shmblock_fd(const struct shmblock *blk);

/*
 * Listing the blocks of a directory: regular files only, POSIX named
 * semaphores ("sem.*") left out.  `dirfd` as above; the iterator keeps its
 * own descriptor.
 * shmblock_list_next returns 1 with *name set (valid until the next call),
 * 0 at the end, or -errno.
 */
struct shmblock_list;
SHMBLOCK_API int shmblock_list_open(int dirfd, struct shmblock_list **out);
SHMBLOCK_API int shmblock_list_next(struct shmblock_list *it,
				    const char **name);
SHMBLOCK_API void shmblock_list_close(struct shmblock_list *it);

#ifdef __cplusplus
}
#endif
#endif
