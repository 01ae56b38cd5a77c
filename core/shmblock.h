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
#include <sys/stat.h>
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
 * Never follows a symlink and never blocks on a FIFO put in a block's place.
 * Errors: -EINVAL (bad name, or not a regular file), -ENOENT, -EACCES,
 * -ELOOP (a symlink), -ENOMEM.
 */
SHMBLOCK_API int shmblock_attach(const char *name, unsigned flags,
				 struct shmblock **out);
SHMBLOCK_API int shmblock_attach_at(int dirfd, const char *name, unsigned flags,
				    struct shmblock **out);

/*
 * A handle of `fd`, a descriptor the caller opened on the block `name` of
 * `dirfd` (read-write, or read-only with SHMBLOCK_RDONLY): for a block
 * just created with openat(O_CREAT | O_EXCL), which needs no second open.
 * The handle owns fd on success; on failure the caller still does.
 * Errors: -EINVAL (bad name, not a regular file), fstat's, -ENOMEM.
 */
SHMBLOCK_API int shmblock_attach_fd(int dirfd, const char *name, int fd,
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
SHMBLOCK_API int shmblock_rename_at(int dirfd, const char *from, const char *to,
				    unsigned flags);

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

/* ------------------------------------------------------------------ */
/*
 * ShareableLists: CPython's multiprocessing.shared_memory.ShareableList,
 * byte for byte (docs/shareablelist.md has the layout and the decisions).
 *
 * Errors used by every list call:
 *   -EBADMSG  the block does not hold a well-formed list (any layout fault)
 *   -ERANGE   item index >= the list's length
 *   -EINVAL   a bad argument: unknown value type, a str that is not UTF-8
 *   -EFBIG    a str/bytes value does not fit its slot (nothing is written),
 *             or a new list would need a slot CPython cannot describe
 *   -EILSEQ   a str item's bytes are not UTF-8 (CPython fails to read it too)
 *   -ENOENT   index(): no item equals the value
 *   -ENOBUFS  get(): the caller's buffer is too small for a str/bytes item
 */

enum shmblock_type {
	SHMBLOCK_TYPE_NONE = 0,
	SHMBLOCK_TYPE_INT = 1,	 /* "q"        int64 */
	SHMBLOCK_TYPE_FLOAT = 2, /* "d"        double */
	SHMBLOCK_TYPE_BOOL = 3,	 /* "xxxxxxx?" */
	SHMBLOCK_TYPE_STR = 4,	 /* "<cap>s"   UTF-8, code 1 */
	SHMBLOCK_TYPE_BYTES = 5, /* "<cap>s"   raw, code 2 */
};

/*
 * A typed value.  For STR and BYTES, `s` points at bytes the value does not
 * own: on input they are the caller's; on output they point into the buffer
 * the caller passed to the read call and live as long as it does.  A STR is
 * UTF-8 and, like every list value read back, has no trailing NUL bytes.
 */
struct shmblock_value {
	enum shmblock_type type;
	union {
		int64_t i;
		double f;
		bool b;
		struct {
			const char *ptr;
			size_t len;
		} s;
	};
};

/*
 * The biggest str/bytes slot: its "<n>s" format must fit the 8-byte format
 * field with the NULs CPython pads it with, and new slots are multiples of 8.
 */
#define SHMBLOCK_SLIST_MAX_SLOT 9999992u

/* The two layouts; both are read, new lists are always written as 3.9+. */
enum shmblock_slist_version {
	SHMBLOCK_SLIST_PY39 = 39, /* N+1 offsets (CPython 3.9 to 3.13) */
	SHMBLOCK_SLIST_PY38 = 38, /* N item sizes (CPython 3.8) */
};

/* One item of a validated layout; offsets are from the start of the block. */
struct shmblock_slist_item {
	uint64_t offset;   /* first byte of the slot */
	uint64_t capacity; /* allocated slot length */
	enum shmblock_type type;
};

/* A validated layout.  It describes the buffer it was made from only. */
struct shmblock_slist_layout {
	enum shmblock_slist_version version;
	uint64_t count;			   /* N */
	uint64_t size;			   /* block size, = the layout's size */
	uint64_t data_offset;		   /* start of the data area */
	uint64_t formats_offset;	   /* N 8-byte format strings */
	uint64_t codes_offset;		   /* N back-transform codes */
	struct shmblock_slist_item *items; /* count entries */
};

/*
 * Validates `len` bytes as a list.  Checked: the item count fits, the
 * offsets start at 0, never decrease and stay inside the block, every format
 * is one of "q", "d", "xxxxxxx?", "xxxxxx?x", "<n>s" (n = the slot length,
 * NUL padded to 8 bytes), every code is 0..3 and agrees with its format, and
 * the layout's size equals `len`.  With `out` NULL it only checks; otherwise
 * *out gets a layout to free with shmblock_slist_layout_free (its size is
 * about 24 bytes an item).  Reads `buf` once per field, bounded by `len`;
 * call it on a private copy if the bytes may change.
 * Errors: -EBADMSG, -ENOMEM.
 */
SHMBLOCK_API int shmblock_slist_validate(const void *buf, size_t len,
					 struct shmblock_slist_layout **out);
SHMBLOCK_API void shmblock_slist_layout_free(struct shmblock_slist_layout *lay);

/*
 * Reads item `index` of the buffer `lay` was validated from.  STR and BYTES
 * point into `buf`, trailing NULs stripped (as CPython).
 * Errors: -ERANGE, -EINVAL (len is not the validated size), -EILSEQ.
 */
SHMBLOCK_API int shmblock_slist_read(const struct shmblock_slist_layout *lay,
				     const void *buf, size_t len, size_t index,
				     struct shmblock_value *out);

/*
 * The writes that `list[index] = value` makes, CPython's rules: numbers,
 * bools and None replace each other in any slot (8 bytes written); a str or
 * bytes value must fit the slot (all of it is written, NUL padded).
 * Applying all three ranges gives what CPython's __setitem__ writes.
 */
struct shmblock_slist_edit {
	uint64_t data_offset;
	uint64_t data_len;	 /* 8, or the slot's capacity */
	const char *payload;	 /* STR/BYTES: value bytes (caller's)... */
	size_t payload_len;	 /* ...then data_len - payload_len NULs */
	unsigned char scalar[8]; /* others: the 8 data bytes */
	uint64_t format_offset;
	char format[8]; /* the 8-byte field, NUL padded */
	uint64_t code_offset;
	int8_t code;
};

/*
 * Encodes a set.  Errors: -ERANGE, -EINVAL (bad value), -EFBIG (str/bytes
 * longer than the slot).  Nothing is written anywhere.
 */
SHMBLOCK_API int
shmblock_slist_encode_set(const struct shmblock_slist_layout *lay, size_t index,
			  const struct shmblock_value *value,
			  struct shmblock_slist_edit *out);

/*
 * Writes an edit into a buffer of `len` bytes (format, code, then data, as
 * CPython orders them).  Errors: -EINVAL if a range is outside the buffer,
 * and then nothing is written.
 */
SHMBLOCK_API int
shmblock_slist_edit_apply(const struct shmblock_slist_edit *edit, void *buf,
			  size_t len);

/*
 * The size of a new (3.9+) layout holding `values`.  A str/bytes slot gets
 * 8 * (nbytes / 8 + 1) bytes, counting encoded bytes (CPython counts
 * characters and truncates non-ASCII text; for ASCII both agree).
 * Errors: -EINVAL (bad value, STR not UTF-8), -EFBIG (a slot above
 * 9999999 bytes, whose format would not fit 8 bytes, or size overflow).
 */
SHMBLOCK_API int shmblock_slist_layout_size(const struct shmblock_value *values,
					    size_t count, size_t *size);

/*
 * Writes a new layout into `buf`; `len` must be exactly the size above.
 * Errors: those of shmblock_slist_layout_size, -EINVAL if len differs.
 */
SHMBLOCK_API int shmblock_slist_build(const struct shmblock_value *values,
				      size_t count, void *buf, size_t len);

/*
 * Renders the format string as Python's ShareableList.format shows it.
 * Writes at most `outlen` bytes, always NUL terminated when outlen > 0, and
 * returns the full length (without the NUL), as snprintf.
 */
SHMBLOCK_API ssize_t shmblock_slist_format_render(
	const struct shmblock_slist_layout *lay, char *out, size_t outlen);

/* Python's == between two values (1 == 1.0 == True, nan != nan, str != bytes). */
SHMBLOCK_API bool shmblock_value_equal(const struct shmblock_value *a,
				       const struct shmblock_value *b);

/*
 * Lists through a descriptor, for a process that must not map blocks (the
 * fs daemon): the layout and single items are read with pread.
 */

/* Flags of shmblock_slist_probe_fd. */
#define SHMBLOCK_PROBE_SHALLOW \
	1u /* header and offsets only: no formats, no codes */

/*
 * Reads a list's layout from the block open at `fd` (its size `size`, from
 * the caller's fstat) without reading any item data: the header, the
 * offsets (3.8: sizes) table, then (deep) the formats and codes, with
 * bounded preads (at most 64 KiB buffered at a time, each read inside the
 * region it is for).  Deep: exactly the checks and result of
 * shmblock_slist_validate on a copy of the whole block, when the block does
 * not change meanwhile.  Shallow: the count, every offset or size and the
 * size equation; each item's type is left SHMBLOCK_TYPE_NONE (read it with
 * shmblock_slist_get_fd).  The memory taken is bounded by what has been
 * validated so far: the items array grows as the walk proceeds, never by
 * the claimed count up front.  out NULL: only checks.  A block that changes
 * meanwhile gives some error or a layout that holds no more than what was
 * read; never a read outside [0, size).
 * Errors: -EBADMSG (not a list), -EAGAIN (the file is shorter than `size`
 * now), -ENOMEM, -EINVAL (unknown flags), pread's errors.
 */
SHMBLOCK_API int shmblock_slist_probe_fd(int fd, uint64_t size, unsigned flags,
					 struct shmblock_slist_layout **out);

/*
 * Reads item `index` of the list at `fd`, whose layout `lay` came from
 * shmblock_slist_probe_fd: its format, code and slot with pread, then the
 * format, code and slot again; retried (64 times at most, with the
 * back-off of shmblock_slist_probe_settled between) until both reads agree
 * and the item decodes, so the value is one
 * the item really held even while another process (CPython's sl[i] = v,
 * which rewrites the 8-byte format field, then the code, then the data)
 * stores into it.  The type is read afresh (a store may change it within
 * the slot).  STR/BYTES bytes go into buf (buflen bytes), as
 * shmblock_slist_get does (-ENOBUFS with out->s.len = needed).
 * Errors: -ERANGE, -EAGAIN (kept changing, or the file is now shorter than
 * the layout), -EBADMSG (the item is not well formed on every try),
 * -EILSEQ (a str that is not UTF-8 on every try), -ENOBUFS, -ENOMEM,
 * pread's.
 */
SHMBLOCK_API int shmblock_slist_get_fd(int fd,
				       const struct shmblock_slist_layout *lay,
				       size_t index, struct shmblock_value *out,
				       void *buf, size_t buflen);

/* Items first.. of `fd` as get_fd reads each, to fn in order, neighbours in
 * 3 preads twice (core/slist_fd.c); stops at an error, fn's too. */
typedef int shmblock_slist_each_fn(void *arg, size_t index,
				   const struct shmblock_value *value);
SHMBLOCK_API int shmblock_slist_each_fd(int fd,
					const struct shmblock_slist_layout *lay,
					size_t first, size_t count,
					shmblock_slist_each_fn *fn, void *arg);

/* 0 if `fd`, at `lay`'s size, still has its count and item `index`'s two
 * offsets (so `lay` places it); -EBADMSG, -ENOTSUP (3.8), pread's. */
SHMBLOCK_API int
shmblock_slist_recheck_fd(int fd, const struct shmblock_slist_layout *lay,
			  size_t index);

/*
 * The torn probe: the shallow probe's checks, and each item's format and
 * code what a store in progress may leave for an instant (CPython's
 * sl[i] = v zero-fills the format, writes the new one, then the code): the
 * format zero or one of those its slot may have, the code any of the four,
 * agreeing or not.  Every list the deep probe accepts passes it.  Each
 * item's type is left SHMBLOCK_TYPE_NONE.  Errors: as
 * shmblock_slist_probe_fd.
 */
SHMBLOCK_API int
shmblock_slist_probe_torn_fd(int fd, uint64_t size,
			     struct shmblock_slist_layout **out);

/*
 * Whether a block's size is backed by memory.  Every page of a list that
 * CPython or this library made has been written (the struct packing writes
 * every slot), so its allocated size covers all its whole pages.  A sparse
 * block that claims a list of 256 MiB may cost its maker 4 KiB; a reader
 * takes it for no list and never reads its holes.
 */
SHMBLOCK_API bool shmblock_stat_backed(const struct stat *st);

/* Flags of shmblock_slist_probe_settled. */
#define SHMBLOCK_SETTLE_KNOWN 1u /* the block is known as a list */

/*
 * The deep probe of a block that other processes may be storing into, its
 * size read afresh by fstat on each try (into *st).  A size under 8 or over
 * `max_size`, or not backed by memory (shmblock_stat_backed), makes no list
 * and nothing of the block is read.  A layout that looks broken is probed
 * again, a bounded number of times, while its tables are torn the way a
 * store tears them (shmblock_slist_probe_torn_fd) or, with
 * SHMBLOCK_SETTLE_KNOWN, while its header and offsets are a list's (the
 * writer may be preempted midway).  Between tries, the one back-off of the
 * readers (shmblock_slist_get_fd's too): sched_yield, then sleeps from
 * 100 us doubling to 6.4 ms over the last seven tries, 12.7 ms in all, so
 * a writer preempted midway through a store gets to finish it.  Tables
 * torn through every try are still a list's, whose layout is shallow.
 * Returns 0 (*out deep), 1 (*out shallow: read each item's type with
 * shmblock_slist_get_fd; out NULL: only checks) or -errno: -EBADMSG (not a list), -EAGAIN,
 * -ENOMEM, -EINVAL (unknown flags), fstat's and pread's.
 */
SHMBLOCK_API int
shmblock_slist_probe_settled(int fd, uint64_t max_size, unsigned flags,
			     struct stat *st,
			     struct shmblock_slist_layout **out);

/*
 * Lists in mapped blocks, for C programs.  Every call reads what it needs
 * from the mapping into locals once, checks it against the mapped size and
 * uses only the copies, so a hostile or changing header cannot make it read
 * or write outside the mapping.  Like CPython, a handle maps the block at
 * attach time: if another process shrinks the file, touching the mapping
 * may raise SIGBUS (the daemon never maps blocks; it uses the buffer calls).
 */
struct shmblock_slist;

/*
 * Creates a list holding `values` in a new block (`name` NULL: a fresh
 * name).  Errors: those of shmblock_slist_layout_size and shmblock_create.
 */
SHMBLOCK_API int shmblock_slist_create(const char *name,
				       const struct shmblock_value *values,
				       size_t count, mode_t mode,
				       struct shmblock_slist **out);
SHMBLOCK_API int shmblock_slist_create_at(int dirfd, const char *name,
					  const struct shmblock_value *values,
					  size_t count, mode_t mode,
					  struct shmblock_slist **out);

/*
 * Attaches to a list (flags as shmblock_attach; SHMBLOCK_NOMAP is refused).
 * The whole block is validated once.  Errors: those of shmblock_attach,
 * -EBADMSG, -EINVAL.
 */
SHMBLOCK_API int shmblock_slist_attach(const char *name, unsigned flags,
				       struct shmblock_slist **out);
SHMBLOCK_API int shmblock_slist_attach_at(int dirfd, const char *name,
					  unsigned flags,
					  struct shmblock_slist **out);

/* Closes the handle (the block stays).  NULL is ignored. */
SHMBLOCK_API void shmblock_slist_close(struct shmblock_slist *sl);

/* The block under the list, owned by the handle. */
SHMBLOCK_API struct shmblock *
shmblock_slist_block(const struct shmblock_slist *sl);

/* The number of items, or -EBADMSG. */
SHMBLOCK_API ssize_t shmblock_slist_len(const struct shmblock_slist *sl);

/*
 * Gets item `index`.  STR/BYTES bytes are copied into `buf` (`buflen`
 * bytes, no NUL added) and out->s points there; if they don't fit, out->s.len
 * is set to the size needed and -ENOBUFS returned.
 * Errors: -ERANGE, -EBADMSG, -EILSEQ, -ENOBUFS, -ENOMEM.
 */
SHMBLOCK_API int shmblock_slist_get(const struct shmblock_slist *sl,
				    size_t index, struct shmblock_value *out,
				    void *buf, size_t buflen);

/*
 * Sets item `index` (CPython's rules, see shmblock_slist_encode_set).
 * Errors: -ERANGE, -EBADMSG, -EINVAL, -EFBIG, -EACCES (read-only); on error
 * nothing is written.
 */
SHMBLOCK_API int shmblock_slist_set(struct shmblock_slist *sl, size_t index,
				    const struct shmblock_value *value);

/* The type of item `index` (>= 0), or -ERANGE, -EBADMSG. */
SHMBLOCK_API int shmblock_slist_type(const struct shmblock_slist *sl,
				     size_t index);

/* How many items equal `value` (Python's ==).  Errors: -EBADMSG, -ENOMEM. */
SHMBLOCK_API ssize_t shmblock_slist_count(const struct shmblock_slist *sl,
					  const struct shmblock_value *value);

/* The first index whose item equals `value`, or -ENOENT, -EBADMSG, -ENOMEM. */
SHMBLOCK_API ssize_t shmblock_slist_index(const struct shmblock_slist *sl,
					  const struct shmblock_value *value);

/* The format string, as shmblock_slist_format_render.  Errors: -EBADMSG. */
SHMBLOCK_API ssize_t shmblock_slist_format(const struct shmblock_slist *sl,
					   char *out, size_t outlen);

/* ------------------------------------------------------------------ */
/*
 * The manager: the C counterpart of SharedMemoryManager.  Starting one
 * forks a helper process that holds one end of a socket pair.  Each block
 * made through the manager is registered with the helper by name, directory
 * and (st_dev, st_ino), and marked with a random 128-bit id in the
 * SHMBLOCK_XATTR_ID xattr (32 hex digits) where the filesystem takes user
 * xattrs.  The helper unlinks every registered block when the manager shuts
 * down, or when it reads EOF because the owner died.  It unlinks a name only
 * while it still refers to the file the manager created: the same id (so a
 * mount's rebuild of a list, which copies the user.* xattrs onto the new
 * file it swaps in, is still recognised), or, for a file without an id, the
 * same (st_dev, st_ino).  It never removes a block someone else made.  The
 * owner's socket end is close-on-exec; a child forked without exec keeps the
 * helper alive until it exits too.
 */
#define SHMBLOCK_XATTR_ID "user.shmblock.id"

struct shmblock_manager;

/* Starts the helper.  Errors: -ENOMEM, -EMFILE, -EAGAIN (fork). */
SHMBLOCK_API int shmblock_manager_start(struct shmblock_manager **out);

/*
 * As shmblock_create_at / shmblock_slist_create_at, then registers the new
 * block with the helper.  If registration fails the block is unlinked again.
 * Errors: those of the create calls, -EPIPE (the helper is gone).
 */
SHMBLOCK_API int shmblock_manager_create_block(struct shmblock_manager *mgr,
					       int dirfd, const char *name,
					       size_t size, mode_t mode,
					       unsigned flags,
					       struct shmblock **out);
SHMBLOCK_API int
shmblock_manager_create_slist(struct shmblock_manager *mgr, int dirfd,
			      const char *name,
			      const struct shmblock_value *values, size_t count,
			      mode_t mode, struct shmblock_slist **out);

/* The helper's process id (for tests and diagnostics). */
SHMBLOCK_API pid_t shmblock_manager_pid(const struct shmblock_manager *mgr);

/*
 * Unlinks every block made through the manager, stops and reaps the helper
 * and frees the manager.  Handles stay valid (their blocks are unlinked).
 * Returns the number of blocks unlinked, or -errno (-EPIPE: helper gone);
 * the manager is freed in either case.
 */
SHMBLOCK_API int shmblock_manager_shutdown(struct shmblock_manager *mgr);

/* ------------------------------------------------------------------ */
/*
 * Holders: which processes hold each block, by an open descriptor or by a
 * mapping, found in one scan of /proc and matched by (st_dev, st_ino), never
 * by name (docs/holders.md).  A scan gives a snapshot: one entry per block
 * of the directory (and, unless told otherwise, one per inode of the
 * directory's filesystem that lost its name but is still held), each with
 * its holders.  A snapshot is immutable and may be read from several
 * threads; it is as old as shmblock_holders_stats says.
 *
 * Processes the caller may not inspect (another user's, as non-root) are
 * skipped and make the snapshot partial; processes that exit during the
 * scan hold nothing any more and are simply left out.  Neither is an error.
 */

/* How a process holds an inode (struct shmblock_holder.how). */
enum shmblock_held {
	SHMBLOCK_HELD_FD = 1u << 0,	   /* an open descriptor */
	SHMBLOCK_HELD_MAP = 1u << 1,	   /* a mapping */
	SHMBLOCK_HELD_MAP_WRITE = 1u << 2, /* a shared writable mapping */
};

/* Scan flags. */
enum shmblock_holders_flags {
	/* Leave out held inodes that have no name any more. */
	SHMBLOCK_HOLDERS_NO_DELETED = 1u << 0,
	/* Accepted and ignored: every descriptor is matched by (dev, ino),
	 * whatever path opened it.  Kept so that callers still build. */
	SHMBLOCK_HOLDERS_ANY_PATH = 1u << 1,
};

/* One process holding one inode. */
struct shmblock_holder {
	pid_t pid;	    /* a process (thread group), not a thread */
	uid_t uid;	    /* its real uid */
	unsigned how;	    /* SHMBLOCK_HELD_* */
	unsigned nfds;	    /* descriptors on the inode */
	unsigned nmaps;	    /* mappings of it */
	int fd;		    /* one of those descriptors, or -1 */
	uint64_t map_start; /* one of those mappings, or 0 and 0 */
	uint64_t map_end;
	char comm[16]; /* /proc/PID/comm, NUL terminated */
};

/* One held or named inode of the directory's filesystem. */
struct shmblock_holders_entry {
	/*
	 * The block's name; for a deleted inode, the last name a holder's
	 * /proc link showed, without " (deleted)" (so names may repeat).
	 */
	const char *name;
	bool deleted;	/* no name any more, still held */
	bool have_stat; /* false: a deleted inode only mapped by
					   processes whose map_files we may not
					   stat; the fields below are 0 */
	uint64_t dev;	/* st_dev */
	uint64_t ino;	/* st_ino */
	uint64_t size;	/* st_size */
	uint64_t alloc; /* st_blocks * 512: memory it takes */
	uint32_t mode;	/* st_mode */
	uint32_t uid;
	uint32_t gid;
	size_t nholders;
	const struct shmblock_holder *holders; /* sorted by pid */
};

/* What a scan looked at and when. */
struct shmblock_holders_stats {
	uint64_t started_ns;  /* CLOCK_MONOTONIC when it began */
	uint64_t elapsed_ns;  /* how long it took */
	unsigned nprocs;      /* processes looked at */
	unsigned nunreadable; /* of which the caller may not read
					   the descriptors or the mappings */
	unsigned nvanished;   /* of which exited during the scan */
};

struct shmblock_holders;

/*
 * Scans once: lists the directory (regular files, "sem.*" included; `dirfd`
 * as for the *_at calls), then reads every process's descriptors and
 * mappings (/proc/PID/fd and /proc/PID/maps, not its threads').  *out gets
 * a snapshot to free with shmblock_holders_free; its entries are named
 * blocks by name, then deleted inodes by old name and inode.
 * Errors: -ENOMEM, -ENOENT/-EACCES/-ENOTDIR (the directory), -ENOSYS (no
 * /proc).  On error *out is untouched.
 */
SHMBLOCK_API int shmblock_holders_scan(int dirfd, unsigned flags,
				       struct shmblock_holders **out);

/*
 * As shmblock_holders_scan for the one block `name`: the snapshot has that
 * entry only (still a whole scan of /proc, but no directory listing).
 * Errors: those of the scan, -EINVAL (bad name, not a regular file),
 * -ENOENT.
 */
SHMBLOCK_API int shmblock_holders_scan_block(int dirfd, const char *name,
					     unsigned flags,
					     struct shmblock_holders **out);

/* Frees a snapshot and everything its entries point at.  NULL is ignored. */
SHMBLOCK_API void shmblock_holders_free(struct shmblock_holders *snap);

/* true if some process could not be inspected: holders may be missing. */
SHMBLOCK_API bool
shmblock_holders_is_partial(const struct shmblock_holders *snap);

/* Such a process, and why (holders_table.c says which errors count). */
struct shmblock_holders_gap {
	pid_t pid;
	int err; /* a positive errno */
};
/* Gap `i` of a snapshot, or NULL past the last (holders_table.c). */
SHMBLOCK_API const struct shmblock_holders_gap *
shmblock_holders_gap(const struct shmblock_holders *snap, size_t i);

/* Copies the scan's statistics to *out. */
SHMBLOCK_API void shmblock_holders_stats(const struct shmblock_holders *snap,
					 struct shmblock_holders_stats *out);

/* The number of entries, and entry `i` (NULL when i >= count). */
SHMBLOCK_API size_t shmblock_holders_count(const struct shmblock_holders *snap);
SHMBLOCK_API const struct shmblock_holders_entry *
shmblock_holders_entry(const struct shmblock_holders *snap, size_t i);

/* The entry of an inode (hash lookup), or NULL. */
SHMBLOCK_API const struct shmblock_holders_entry *
shmblock_holders_find(const struct shmblock_holders *snap, uint64_t dev,
		      uint64_t ino);

/* The named (not deleted) entry `name` (binary search), or NULL. */
SHMBLOCK_API const struct shmblock_holders_entry *
shmblock_holders_find_name(const struct shmblock_holders *snap,
			   const char *name);

/*
 * Opens a held inode read-only (O_RDONLY | O_CLOEXEC) through its holders
 * in the snapshot: /proc/PID/fd/N, else /proc/PID/map_files/START-END
 * (which needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE).  This is how the
 * bytes of a deleted block are reached.  After each open the descriptor's
 * (st_dev, st_ino) is checked against the one asked for, so a holder that
 * exited and whose PID or descriptor number was reused is never mistaken
 * for it.  Returns a descriptor the caller closes, or -ENOENT (no such
 * entry, or no holder has it any more), -EACCES/-EPERM (no holder could be
 * opened for lack of rights).
 */
SHMBLOCK_API int shmblock_holders_open(const struct shmblock_holders *snap,
				       uint64_t dev, uint64_t ino);

/* ------------------------------------------------------------------ */
/*
 * Lifetimes: when a block is removed (docs/shmfs.md, "Lifetimes").  The
 * policy is a user xattr of the block, SHMBLOCK_XATTR_LIFETIME, so anyone
 * who may write the block may set it; a shmfs daemon whose mount shows the
 * block enforces it, and only where the setter could have removed the
 * block themselves.  Its text, the one form every tool reads and writes:
 *   persist            kept until unlinked (the default: no xattr)
 *   owner=PID:START    removed when that process exits; START is field 22
 *                      of /proc/PID/stat, so a reused pid is not mistaken
 *   last-holder        removed once no process holds it, after it was held
 *   idle=SECONDS       removed after SECONDS with no holder
 * Parsing also takes "owner" and "owner=PID", which
 * shmblock_lifetime_resolve completes.
 */
#define SHMBLOCK_XATTR_LIFETIME "user.shmfs.lifetime"

enum shmblock_lifetime_kind {
	SHMBLOCK_LIFETIME_PERSIST = 0,
	SHMBLOCK_LIFETIME_OWNER = 1,
	SHMBLOCK_LIFETIME_LAST_HOLDER = 2,
	SHMBLOCK_LIFETIME_IDLE = 3,
};

struct shmblock_lifetime {
	enum shmblock_lifetime_kind kind;
	pid_t pid;	       /* OWNER: 0 = the caller (resolve) */
	uint64_t start_time;   /* OWNER: 0 = unknown (resolve) */
	uint64_t idle_seconds; /* IDLE: 1 to SHMBLOCK_LIFETIME_IDLE_MAX */
};

#define SHMBLOCK_LIFETIME_IDLE_MAX (366ull * 24 * 3600)
/* The longest text shmblock_lifetime_format writes, NUL included. */
#define SHMBLOCK_LIFETIME_TEXT_MAX 64

/*
 * Parses `len` bytes of `text` (one trailing newline allowed).
 * Errors: -EINVAL (not one of the forms above).
 */
SHMBLOCK_API int shmblock_lifetime_parse(const char *text, size_t len,
					 struct shmblock_lifetime *out);

/*
 * Writes the text of `lt` (NUL terminated, at most outlen bytes) and
 * returns its length, as snprintf.  An owner without a start time is
 * written "owner=PID", without a pid "owner".  Errors: -EINVAL.
 */
SHMBLOCK_API ssize_t shmblock_lifetime_format(
	const struct shmblock_lifetime *lt, char *out, size_t outlen);

/*
 * Completes an owner policy: pid 0 becomes the caller's process, and the
 * start time is read from /proc.  Other kinds are left as they are.
 * Errors: -ESRCH (no such process, or it has another start time than the
 * one given: the pid was reused), -EINVAL.
 */
SHMBLOCK_API int shmblock_lifetime_resolve(struct shmblock_lifetime *lt);

/*
 * The start time of process `pid` (field 22 of /proc/PID/stat, clock
 * ticks since boot), or -ESRCH.
 */
SHMBLOCK_API int shmblock_process_start_time(pid_t pid, uint64_t *out);

/*
 * Sets the lifetime of block `name` (resolved first: "owner" alone means
 * the caller).  PERSIST removes the xattr.  Without opening the block.
 * Errors: -EINVAL (bad name or policy), -ENOENT, -EACCES/-EPERM (the
 * caller may not write the block), -ELOOP (a symlink), -ENOTSUP (the
 * filesystem keeps no user xattrs: tmpfs before Linux 6.6), -ESRCH.
 */
SHMBLOCK_API int shmblock_set_lifetime(int dirfd, const char *name,
				       const struct shmblock_lifetime *lt);

/*
 * Reads the lifetime of block `name`; a block without the xattr is
 * PERSIST.  Errors: -EINVAL (bad name), -ENOENT, -EACCES, -EBADMSG (the
 * xattr holds no valid policy), -ENOTSUP.
 */
SHMBLOCK_API int shmblock_get_lifetime(int dirfd, const char *name,
				       struct shmblock_lifetime *out);

#ifdef __cplusplus
}
#endif

/* The kinds of block beside plain blocks and lists. */
#include "shmblock_array.h"
#include "shmblock_sem.h"

#endif
