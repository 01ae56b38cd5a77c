/* SPDX-License-Identifier: MIT */
/*
 * Whether a lifetime policy may be honoured: the trust decided when the
 * daemon first sees a value, recorded as root beside it, and the policy
 * set or removed through the mount (docs/security.md, "Remove").
 */
#ifndef SHMFS_LIFETIME_TRUST_H
#define SHMFS_LIFETIME_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "block_id.h"
#include "fs.h"
#include "lifetime_table.h"

/*
 * Who set a policy, as the daemon judged it when it first saw the value
 * (lifetime_judge): "UID VALUE" or "- VALUE" (root only).
 */
#define LIFETIME_XATTR_BY "trusted.shmfs.lifetime_by"

/*
 * Whether the policy `value` on block `name` (of stat `st`, identity `id`,
 * `path` as lifetime_block_path makes it) may be honoured: NULL if so,
 * else why not.  Records the judgement of a value not seen before.
 */
const char *lifetime_judge(struct lifetime *l, const char *name,
			   const char *path, const struct stat *st,
			   const struct block_id *id, const char *value);

/*
 * The policy of the block `name` withdrawn: drops its trust record and its
 * arm (lifetime_unarm), if it is still block `id`.
 */
void lifetime_unrecord(struct lifetime *l, const char *name,
		       const struct block_id *id);

/*
 * Drops the mark that a last-holder block has been held (LIFETIME_XATTR_
 * HELD), if it is still block `id`: a policy other than last-holder, so a
 * last-holder set later is armed by a holder of its own.
 */
void lifetime_unarm(struct lifetime *l, const char *name,
		    const struct block_id *id);

/*
 * setxattr of SHMBLOCK_XATTR_LIFETIME through the mount on the block open
 * at `fd`: the value is checked and completed ("owner" = the caller's
 * process, with its start time), stored, and marked as set by the caller
 * (LIFETIME_XATTR_BY) when the caller may remove the block.  `held`: the
 * block is open through the mount besides this request, which arms a
 * last-holder policy at once.
 * Errors: -EINVAL (not a policy), -ESRCH (no such owner), fsetxattr's.
 */
int lifetime_set_xattr(fuse_req_t req, int fd, const char *value, size_t size,
		       int flags, bool held);

/*
 * removexattr of SHMBLOCK_XATTR_LIFETIME through the mount on the block
 * open at `fd`: the policy and its trust record go together.
 * Errors: fremovexattr's (-ENODATA: no policy).
 */
int lifetime_remove_xattr(int fd);

#endif
