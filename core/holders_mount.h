/* SPDX-License-Identifier: MIT */
/* The shmfs mounts this process sees, for the holders scan (not public). */
#ifndef SHMBLOCK_HOLDERS_MOUNT_H
#define SHMBLOCK_HOLDERS_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct holders_mount {
	dev_t dev;  /* the mount's st_dev */
	char *path; /* its mount point, as /proc links show paths */
	size_t len; /* strlen(path), 0 for "/" */
};

struct holders_mounts {
	struct holders_mount *m;
	size_t n, cap;
};

/*
 * Reads the whole fuse.shmfs mounts of /proc/self/mountinfo that may show
 * the directory `dir` (`dir_len` bytes, no trailing '/') into *hm (none
 * when there is no /proc).  Errors: -ENOMEM.
 */
int holders_mounts_load(struct holders_mounts *hm, const char *dir,
			size_t dir_len);
void holders_mounts_free(struct holders_mounts *hm);

/* Whether `dev` is a shmfs mount's. */
bool holders_mounts_has(const struct holders_mounts *hm, dev_t dev);

/*
 * If `path` (`len` bytes, a /proc link's text) is a top-level file of a
 * shmfs mount of device `dev`, its name there (not NUL terminated,
 * *namelen bytes); else NULL.
 */
const char *holders_mounts_name(const struct holders_mounts *hm, dev_t dev,
				const char *path, size_t len, size_t *namelen);

#endif
