/* SPDX-License-Identifier: MIT */
/*
 * The handlers of one kind of node, as the kernel's inode_operations: ops.c
 * finds a request's node, picks its kind's table once and calls the
 * handler, which never tests the kind again.  A NULL handler gets ops.c's
 * answer for "not for this kind" (ENOTDIR for a lookup in a file, EISDIR
 * for an open of a directory...).
 */
#ifndef SHMFS_NODE_OPS_H
#define SHMFS_NODE_OPS_H

#include "fs.h"
#include "inode.h"

struct node_ops {
	/* Whether the kind is a directory: what a missing handler answers. */
	bool is_dir;

	/* Directories. */
	void (*lookup)(fuse_req_t req, struct node *dir, const char *name);
	void (*mknod)(fuse_req_t req, struct node *dir, const char *name,
		      mode_t mode);
	void (*mkdir)(fuse_req_t req, struct node *dir, const char *name,
		      mode_t mode);
	void (*create)(fuse_req_t req, struct node *dir, const char *name,
		       mode_t mode, struct fuse_file_info *fi);
	void (*unlink)(fuse_req_t req, struct node *dir, const char *name);
	void (*rmdir)(fuse_req_t req, struct node *dir, const char *name);
	void (*rename)(fuse_req_t req, struct node *dir, const char *name,
		       struct node *newdir, const char *newname,
		       unsigned flags);
	void (*opendir)(fuse_req_t req, struct node *dir,
			struct fuse_file_info *fi);
	void (*readdir)(fuse_req_t req, struct node *dir, size_t size,
			off_t off, struct fuse_file_info *fi, bool plus);
	void (*releasedir)(fuse_req_t req, struct node *dir,
			   struct fuse_file_info *fi);

	/* Every node: required in every table. */
	void (*getattr)(fuse_req_t req, struct node *node);
	void (*setattr)(fuse_req_t req, struct node *node, struct stat *attr,
			int to_set, struct fuse_file_info *fi);
	void (*setxattr)(fuse_req_t req, struct node *node, const char *name,
			 const char *value, size_t size, int flags);
	void (*getxattr)(fuse_req_t req, struct node *node, const char *name,
			 size_t size);
	void (*listxattr)(fuse_req_t req, struct node *node, size_t size);
	void (*removexattr)(fuse_req_t req, struct node *node,
			    const char *name);

	/* Files. */
	void (*open)(fuse_req_t req, struct node *node,
		     struct fuse_file_info *fi);
	void (*read)(fuse_req_t req, struct node *node, size_t size, off_t off,
		     struct fuse_file_info *fi);
	void (*write)(fuse_req_t req, struct node *node, const char *buf,
		      size_t size, off_t off, struct fuse_file_info *fi);
	/* Each close(2) of a file opened without fi->noflush; its error is close's. */
	void (*flush)(fuse_req_t req, struct node *node,
		      struct fuse_file_info *fi);
	void (*release)(fuse_req_t req, struct node *node,
			struct fuse_file_info *fi);
	void (*fallocate)(fuse_req_t req, struct node *node, int mode,
			  off_t offset, off_t length);
};

/* One table per node kind (inode.h), in ops.c's kind_ops. */
/* NODE_ROOT: the mount's top level (ops_root.c). */
extern const struct node_ops root_ops;
/* NODE_BLOCK, and NODE_LIST_RAW, a list's .raw, which is its block as a
 * file, with the same handlers (ops_block.c). */
extern const struct node_ops block_ops;
/* NODE_LIST: a list as a directory (ops_list.c). */
extern const struct node_ops list_ops;
/* NODE_LIST_ENTRY: the items inside a list (ops_item.c). */
extern const struct node_ops item_ops;
/* NODE_LIST_META: a list's .format and .json (ops_meta.c). */
extern const struct node_ops meta_ops;
/* NODE_DELETED_DIR: .deleted/ (ops_deleted.c). */
extern const struct node_ops deleted_dir_ops;
/* NODE_DELETED_FILE: a block in .deleted/ (ops_deleted.c). */
extern const struct node_ops deleted_file_ops;
/* NODE_SEM: a named semaphore as a text file (ops_sem.c). */
extern const struct node_ops sem_ops;
/* NODE_ARRAY: a .npy block, a block file with its header's xattrs, and
 * NODE_ARRAY_VIEW: a declared array's NAME.npy (ops_array.c). */
extern const struct node_ops array_ops;
extern const struct node_ops array_view_ops;

#endif
