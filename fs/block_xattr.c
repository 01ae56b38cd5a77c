/* SPDX-License-Identifier: MIT */
/*
 * The xattrs of a file that is a block's (block_xattr.h): a block, a
 * list's .raw, a semaphore.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "array_block.h"
#include "block_handle.h"
#include "block_xattr.h"
#include "holders_cache.h"
#include "inode.h"
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

#ifndef SYS_getxattrat
#define SYS_getxattrat 464 /* Linux 6.13, the same on every architecture */
#endif

/* getxattrat(2)'s argument (linux/xattr.h of Linux 6.13). */
struct getxattr_args {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

static bool acl_xattr(const char *name)
{
	return !strcmp(name, "system.posix_acl_access") ||
	       !strcmp(name, "system.posix_acl_default");
}

static bool same_block(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * An ACL of the node's block, read by name: what `ls -l` asks of every
 * file costs no open of the block.  The answer is the node's block's or
 * an error, never another block's: the name is the node's block before
 * and after, with one ctime, and any rename to or from the name, unlink
 * or xattr change moves the block's ctime (tmpfs timestamps are
 * fine-grained once looked at).  -ENOSYS where the kernel lacks
 * getxattrat (before 6.13): the caller opens the block instead.
 */
static ssize_t acl_get_by_name(struct shmfs *fs, struct node *node,
			       const char *name, char *buf, size_t size)
{
	char mount_name[NAME_MAX + 1], shm_name[NAME_MAX + 1];
	struct getxattr_args args = { (uintptr_t)buf, (uint32_t)size, 0 };
	struct stat before, after;
	ssize_t n;
	int rc;

	rc = inode_name(fs->inodes, node, mount_name);
	if (rc == 0)
		rc = shmfs_block_name(fs, mount_name, shm_name);
	if (rc < 0)
		return rc == -ENOENT || rc == -EINVAL ? -ESTALE : rc;
	/* Gone or no longer the block: the kernel looks it up again. */
	if (fstatat(fs->dirfd, shm_name, &before, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? -ESTALE : -errno;
	if (before.st_dev != node->dev || before.st_ino != node->ino)
		return -ESTALE;
	n = syscall(SYS_getxattrat, fs->dirfd, shm_name, AT_SYMLINK_NOFOLLOW,
		    name, &args, sizeof(args));
	if (n < 0)
		n = errno == ENODATA  ? shmfs_xattr_absent(name)
		    : errno == ENOENT ? -ESTALE
				      : -errno;
	if (n == -ENOSYS)
		return n;
	if (fstatat(fs->dirfd, shm_name, &after, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? -ESTALE : -errno;
	return same_block(&before, &after) ? n : -ESTALE;
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

/* An ACL without opening the block where the kernel can (getxattrat). */
static void reply_acl(fuse_req_t req, struct node *node, const char *name,
		      size_t size)
{
	static atomic_bool no_getxattrat;
	char *buf = NULL;
	ssize_t n;

	if (atomic_load(&no_getxattrat)) {
		reply_block_xattr(req, node, name, size);
		return;
	}
	if (size > XATTR_SIZE_MAX)
		size = XATTR_SIZE_MAX;
	if (size && !(buf = malloc(size)))
		n = -ENOMEM;
	else
		n = acl_get_by_name(req_fs(req), node, name, buf, size);
	/*
	 * No getxattrat, or the name no longer the node's block: the block
	 * the node holds open (an open file's, maybe unlinked since) answers.
	 */
	if (n == -ENOSYS || n == -ESTALE) {
		free(buf);
		if (n == -ENOSYS)
			atomic_store(&no_getxattrat, true);
		reply_block_xattr(req, node, name, size);
		return;
	}
	reply_xattr(req, buf, n, size);
	free(buf);
}

void block_xattr_get(fuse_req_t req, struct node *node, const char *name,
		     size_t size)
{
	if (holders_xattr_is(name))
		holders_reply_node(req, node, name, size);
	else if (node->kind != NODE_ARRAY_VIEW && acl_xattr(name))
		reply_acl(req, node, name, size);
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
