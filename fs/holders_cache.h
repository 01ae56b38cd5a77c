/* SPDX-License-Identifier: MIT */
/*
 * The holders of the mount's blocks: one cached /proc scan shared by every
 * request, the xattrs made from it, and the read permission they need
 * (docs/holders.md, "In the mount").
 */
#ifndef SHMFS_HOLDERS_CACHE_H
#define SHMFS_HOLDERS_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs.h"
#include "inode.h"
#include "shmblock.h"

/* The computed, read-only xattrs of every block, list and .deleted file. */
#define HOLDERS_XATTR "user.shmfs.holders"
#define HOLDERS_XATTR_COUNT "user.shmfs.nholders"
#define HOLDERS_XATTR_AGE "user.shmfs.holders_age"
/* Their names as listxattr gives them: each NUL terminated; sizeof is
 * the length of the list. */
#define HOLDERS_XATTR_NAMES \
	HOLDERS_XATTR "\0" HOLDERS_XATTR_COUNT "\0" HOLDERS_XATTR_AGE

/* How long a scan answers before the next request scans again. */
#define HOLDERS_CACHE_NS 1000000000ull

/* Whether `name` is one of the holders xattrs. */
bool holders_xattr_is(const char *name);

/* A counted reference to one scan; immutable, usable from any thread. */
struct holders_ref {
	struct shmblock_holders *snap;
	atomic_uint refs; /* the cache's own, and one per user */
};

/*
 * Starts the scanner thread (one scan at once); holders_cache_stop stops
 * it and drops the last scan.  Errors: -errno of eventfd, pthread_create.
 */
int holders_cache_start(struct shmfs *fs);
void holders_cache_stop(void);

/*
 * For a request: a reference to the last scan, never waiting for one.  A
 * scan older than HOLDERS_CACHE_NS still answers and asks for the next
 * (at most one per HOLDERS_CACHE_NS, whoever asks).  With `ino` non-zero,
 * a scan that does not know the inode (dev, ino), a block made since,
 * gives -EAGAIN and asks for the next; so does having no scan yet.
 */
int holders_cache_get(struct shmfs *fs, uint64_t dev, uint64_t ino,
		      struct holders_ref **out);
void holders_cache_put(struct holders_ref *ref);

/*
 * For the lifetime enforcer: asks for a scan that starts at `not_before`
 * (CLOCK_MONOTONIC ns) or later, at least 20 ms after the last one began;
 * holders_cache_fd becomes readable (an eventfd: read it) each time a scan
 * is done, and holders_cache_latest gives a reference to the last one
 * (NULL: none yet).
 */
void holders_cache_want(uint64_t not_before);
int holders_cache_fd(void);
struct holders_ref *holders_cache_latest(void);

/*
 * Whether the caller of `req` may read a file of mode `mode` owned by
 * uid:gid, as the kernel's generic_permission asks for MAY_READ (root may
 * read anything).  The daemon reads as root: this is what keeps it from
 * showing a caller more than the caller may see.
 */
bool holders_may_read(fuse_req_t req, mode_t mode, uid_t uid, gid_t gid);

/*
 * Whether the caller of `req` is shown holder `h`: never the daemon
 * itself; another user's process only when /proc would show it to the
 * caller (no hidepid=, or the caller in its gid= group); root sees all.
 */
bool holders_visible(fuse_req_t req, const struct shmblock_holder *h);

/*
 * Replies to a getxattr of the holders xattr `name` of `e` (NULL: a block
 * no process holds) in `ref`'s scan, for a caller allowed to read it.
 */
void holders_reply_entry(fuse_req_t req, const struct holders_ref *ref,
			 const struct shmblock_holders_entry *e,
			 const char *name, size_t size);

/*
 * Replies to a getxattr of the holders xattr `name` of a block or list
 * node: the block as it is now must be readable by the caller (-EACCES),
 * and still be the node's (-ESTALE).
 */
void holders_reply_node(fuse_req_t req, struct node *node, const char *name,
			size_t size);

/*
 * Appends the holders xattr names to a listxattr answer of `n` bytes in
 * `buf`, which has sizeof(HOLDERS_XATTR_NAMES) bytes of room after them.
 * Returns the new length, or `n` when it is an error.
 */
ssize_t holders_xattr_list_append(char *buf, ssize_t n);

#endif
