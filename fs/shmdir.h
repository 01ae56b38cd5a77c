/* SPDX-License-Identifier: MIT */
/*
 * The one writer of the shm directory: every block the mount makes,
 * removes, renames or swaps goes through here, which tells the watch which
 * events are the mount's own and keeps the -o cleanup set.
 */
#ifndef SHMFS_SHMDIR_H
#define SHMFS_SHMDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "block_id.h"
#include "fs.h"

struct shmblock_holders;

/* Sets up the expectations and (-o cleanup) the created set.  -ENOMEM. */
int shmdir_open(struct shmfs *fs);
/* Unlinks what the mount created (-o cleanup); returns how many or -errno. */
int shmdir_cleanup(struct shmfs *fs);
/* Frees what shmdir_open made. */
void shmdir_close(struct shmfs *fs);

/*
 * Creates the block file for the mount name `name` (open with `access`,
 * O_RDONLY or O_RDWR), owned by the caller with exactly `mode`, records it
 * for -o cleanup and stats it.  Leaves nothing behind on error.  Returns the
 * open descriptor or -errno (-EPERM for a name the mount would hide).  The
 * core can't do this: like CPython it refuses to create an empty block,
 * while a file system creates empty files.
 */
int shmdir_make_block(fuse_req_t req, const char *name, mode_t mode, int access,
		      struct stat *st);
/*
 * Creates the semaphore of the mount name `name` ("sem.NAME") with value
 * 0, as sem_open(O_CREAT | O_EXCL, mode, 0) would, owned by the caller:
 * its name appears only once it is whole (shmblock_sem_create_open_at).
 * Records it for -o cleanup and stats it.  Returns its read-write
 * descriptor or -errno (-EPERM: not a semaphore's name, -EEXIST).
 */
int shmdir_make_sem(fuse_req_t req, const char *name, mode_t mode,
		    struct stat *st);

/* Undoes shmdir_make_block or _sem (the caller still closes the descriptor). */
void shmdir_unmake_block(struct shmfs *fs, const char *name,
			 const struct stat *st);

/* Unlinks the block `shm_name`.  Errors: those of unlinkat. */
int shmdir_unlink(struct shmfs *fs, const char *shm_name);

/* shmdir_remove_same: remove only if no process holds it then. */
#define SHMDIR_REMOVE_UNHELD 1u

/*
 * Unlinks `shm_name` only if it is still the block `id` (block_id.h) and (xattr not
 * NULL) its xattr `xattr` still reads `value`: the name is first moved to
 * a private temporary name, where no one opens it by name, checked there,
 * and unlinked or, not the block asked for, moved back (docs/shmfs.md,
 * "Lifetimes").  Never removes another block: one that took the name back
 * meanwhile is kept under "<shm_name>.shmfs-kept-<inode>" (logged).
 * Returns 0 (removed), -ESTALE (another block has the name, left alone),
 * -ENOENT, -EBUSY (SHMDIR_REMOVE_UNHELD and a process holds it), -EAGAIN
 * (its xattr changed), or another -errno.
 */
int shmdir_remove_same(struct shmfs *fs, const char *shm_name,
		       const struct block_id *id, const char *xattr,
		       const char *value, unsigned flags);

/*
 * shmdir_remove_same in steps, so that one holders scan settles many
 * removals: shmdir_take moves the block to a private name `tmp` (NAME_MAX
 * + 1 bytes) and checks it there (0: taken; else as shmdir_remove_same,
 * and the name is as it was), a scan started after the take says whether
 * it is held (shmdir_held), and shmdir_settle unlinks it (`remove`) or
 * puts it back.
 */
int shmdir_take(struct shmfs *fs, const char *shm_name,
		const struct block_id *id, const char *xattr, const char *value,
		char *tmp);
int shmdir_settle(struct shmfs *fs, const char *shm_name, const char *tmp,
		  const struct block_id *id, bool remove);

/*
 * Whether the block `id` is held as far as `snap` (a scan started after
 * the block was taken) and the mount know: open through the mount, held
 * by a process other than the daemon, or the scan left a doubt
 * (holders_doubt.h).  `why` says which, for the log.
 */
bool shmdir_held(struct shmfs *fs, const struct shmblock_holders *snap,
		 const struct block_id *id, char *why, size_t len);

/* Renames `from` to `to` (renameat2 `flags`).  Returns 0 or -errno. */
int shmdir_rename(struct shmfs *fs, const char *from, const char *to,
		  unsigned flags);

/*
 * The mount is about to write a block's data itself (an item stored through
 * the mount): the watch may let the events it makes gather (expect.h).
 */
void shmdir_note_write(struct shmfs *fs);

/*
 * Replaces the block `shm_name`, open at `old_fd` with stat `old`, by a new
 * block holding the `size` bytes of `buf`: written into a hidden temporary
 * block with the old one's mode, owner and user.* xattrs, swapped in with
 * RENAME_EXCHANGE, and the old file unlinked.  Processes attached to the
 * old block keep it.  On error the name is left as it was and no temporary
 * block remains.  Fills `new_st`.  Errors: -EAGAIN (another block took the
 * name meanwhile), -ENOSPC and the others of creating and filling a block.
 */
int shmdir_swap(struct shmfs *fs, const char *shm_name, int old_fd,
		const struct stat *old, const void *buf, size_t size,
		struct stat *new_st);

/*
 * chown, chmod (mode & mode_mask) and utimens of `to_set` (FUSE_SET_ATTR_*)
 * on a block's descriptor, in that order.  Returns 0 or -errno.
 */
int shmdir_set_attrs(int fd, const struct stat *attr, int to_set,
		     mode_t mode_mask);

#endif
