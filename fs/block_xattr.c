/* SPDX-License-Identifier: MIT */
/*
 * The xattrs of a file that is a block's (block_xattr.h): a block, a
 * list's .raw, a semaphore.
 */

#include <errno.h>
#include <linux/limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "array_block.h"
#include "block_handle.h"
#include "block_xattr.h"
#include "holders_cache.h"
#include "lifetime_trust.h"
#include "shmblock.h"

void block_xattr_set(fuse_req_t req, struct node *node, const char *name,
		     const char *value, size_t size, int flags)
{
	struct shmblock *blk;
	int rc = holders_xattr_is(name) ? -EPERM
					: node_hold(req_fs(req), node, &blk);

	if (rc == 0) {
		/* A declared array must fit its block (docs/arrays.md). */
		rc = array_xattr_check(shmblock_fd(blk), name, value, size);
		if (rc == 0 && !strcmp(name, SHMBLOCK_XATTR_LIFETIME))
			rc = lifetime_set_xattr(req, shmblock_fd(blk), value,
						size, flags,
						node_held_elsewhere(node));
		else if (rc == 0 &&
			 fsetxattr(shmblock_fd(blk), name, value, size, flags))
			rc = -errno;
		node_drop(node);
	}
	reply_rc(req, rc);
}

/* Replies with the block's xattr `name`, or with its xattr list (name NULL). */
static void reply_block_xattr(fuse_req_t req, struct node *node,
			      const char *name, size_t size)
{
	struct shmblock *blk;
	char *buf = NULL;
	ssize_t n;
	int rc = node_hold(req_fs(req), node, &blk);

	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	if (size > XATTR_SIZE_MAX)
		size = XATTR_SIZE_MAX;
	if (!name)
		n = shmfs_xattr_names(req, shmblock_fd(blk),
				      sizeof(HOLDERS_XATTR_NAMES), &buf);
	else if (size && !(buf = malloc(size)))
		n = -ENOMEM;
	else if ((n = fgetxattr(shmblock_fd(blk), name, buf, size)) < 0)
		n = errno == ENODATA ? shmfs_xattr_absent(name) : -errno;
	if (!name)
		n = holders_xattr_list_append(buf, n);
	node_drop(node);
	reply_xattr(req, buf, n, size);
	free(buf);
}

void block_xattr_get(fuse_req_t req, struct node *node, const char *name,
		     size_t size)
{
	if (holders_xattr_is(name))
		holders_reply_node(req, node, name, size);
	else
		reply_block_xattr(req, node, name, size);
}

void block_xattr_list(fuse_req_t req, struct node *node, size_t size)
{
	reply_block_xattr(req, node, NULL, size);
}

void block_xattr_remove(fuse_req_t req, struct node *node, const char *name)
{
	struct shmblock *blk;
	int rc = holders_xattr_is(name) ? -EPERM
					: node_hold(req_fs(req), node, &blk);

	if (rc == 0) {
		if (!strcmp(name, SHMBLOCK_XATTR_LIFETIME))
			rc = lifetime_remove_xattr(shmblock_fd(blk));
		else if (fremovexattr(shmblock_fd(blk), name) < 0)
			rc = -errno;
		node_drop(node);
	}
	reply_rc(req, rc);
}
