/* SPDX-License-Identifier: MIT */
/* -o cleanup: the blocks this mount created, unlinked when it unmounts. */
#ifndef SHMFS_CLEANUP_H
#define SHMFS_CLEANUP_H

#include <stdbool.h>
#include <sys/types.h>

struct created_set;

/* Errors: -ENOMEM. */
int created_set_create(struct created_set **out);
void created_set_free(struct created_set *set);

/*
 * Records the block open at `fd` as created by this mount.  Its identity is
 * the device, the inode number and the birth time, so a block that was
 * unlinked and whose inode number came back for someone else's block is
 * never mistaken for ours.  Errors: -ENOMEM, or statx's.
 */
int created_set_add(struct created_set *set, int fd);

/* Forgets a block (it was unlinked through the mount). */
void created_set_remove(struct created_set *set, dev_t dev, ino_t ino);

/* Whether the block open at `fd` is one this mount created. */
bool created_set_has_fd(struct created_set *set, int fd);

/*
 * Unlinks every block of the directory whose name starts with `prefix` and
 * that this mount created, wherever it was renamed to within the prefix,
 * and the semaphores it created ("sem." `prefix` "NAME").
 * Returns the number unlinked or -errno from listing the directory.
 */
int created_set_unlink_all(struct created_set *set, int dirfd,
			   const char *prefix);

#endif
