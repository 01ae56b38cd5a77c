/* SPDX-License-Identifier: MIT */
/* The lowlevel operations table: each request goes to its node's kind. */

#include <errno.h>
#include <stdlib.h>

#include "fs.h"
#include "inode.h"

void reply_rc(fuse_req_t req, int rc)
{
	/* A success here would be a handler bug; don't answer it with 0. */
	fuse_reply_err(req, rc < 0 ? -rc : EIO);
}

static struct node *req_node(fuse_req_t req, fuse_ino_t ino)
{
	return inode_get(req_fs(req)->inodes, ino);
}

/* A block's bytes as a file: the block itself, or a list's .raw. */
static bool is_block(const struct node *node)
{
	return node->kind == NODE_BLOCK || node->kind == NODE_LIST_RAW;
}

/* An item of a list, or its .format or .json. */
static bool is_list_file(const struct node *node)
{
	return node->kind == NODE_LIST_ENTRY || node->kind == NODE_LIST_META;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/*
	 * Let the kernel clear set-id bits itself (it sends a SETATTR), and
	 * keep the kernel's write-back cache off: it would hide writes from
	 * other processes and it excludes passthrough.
	 */
	conn->want &= ~(unsigned)(FUSE_CAP_HANDLE_KILLPRIV |
				  FUSE_CAP_WRITEBACK_CACHE);
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/*
	 * READDIRPLUS only where it pays: the first part of a listing, and
	 * the rest once the lister looks names up (ls -l); a plain `ls` of
	 * many blocks then costs no stat, node or kernel inode per entry.
	 */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
		conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *dir = req_node(req, parent);

	if (dir->kind == NODE_ROOT)
		ns_lookup(req, dir, name);
	else if (dir->kind == NODE_LIST)
		list_lookup(req, dir, name);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(req_fs(req)->inodes, req_node(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct inode_table *t = req_fs(req)->inodes;
	size_t i;

	for (i = 0; i < count; i++)
		inode_forget(t, inode_get(t, forgets[i].ino),
			     forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (node->kind == NODE_ROOT)
		ns_getattr(req, node);
	else if (is_block(node))
		block_getattr(req, node);
	else
		list_getattr(req, node);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	/* The shm directory itself is not ours to change. */
	if (node->kind == NODE_ROOT)
		reply_rc(req, -EPERM);
	else if (is_block(node))
		block_setattr(req, node, attr, to_set, fi);
	else
		list_setattr(req, node, attr, to_set);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct node *dir = req_node(req, parent);

	if (dir->kind == NODE_ROOT)
		ns_mknod(req, dir, name, mode);
	else if (dir->kind == NODE_LIST)
		list_mknod(req, dir, name, mode);
	else
		reply_rc(req, -ENOTDIR);
}

/* A directory in the root is a list; lists hold no directories. */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct node *dir = req_node(req, parent);

	if (dir->kind == NODE_ROOT)
		list_mkdir(req, name, mode);
	else
		reply_rc(req, dir->kind == NODE_LIST ? -EPERM : -ENOTDIR);
}

/* No symlinks or hard links. */

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	reply_rc(req, -EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	reply_rc(req, -EPERM);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *dir = req_node(req, parent);

	/* A list's items can't be removed: CPython lists have a fixed length. */
	if (dir->kind == NODE_ROOT)
		ns_unlink(req, dir, name);
	else
		reply_rc(req, dir->kind == NODE_LIST ? -EPERM : -ENOTDIR);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *dir = req_node(req, parent);

	if (dir->kind == NODE_ROOT)
		ns_rmdir(req, dir, name);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct node *dir = req_node(req, parent);

	if (dir->kind == NODE_ROOT)
		ns_rename(req, dir, name, req_node(req, newparent), newname,
			  flags);
	else
		reply_rc(req, dir->kind == NODE_LIST ? -EPERM : -ENOTDIR);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (is_block(node))
		block_open(req, node, fi);
	else if (is_list_file(node))
		list_open(req, node, fi);
	else
		reply_rc(req, -EISDIR);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct node *dir = req_node(req, parent);

	if (dir->kind == NODE_ROOT)
		ns_create(req, dir, name, mode, fi);
	else if (dir->kind == NODE_LIST)
		list_create(req, dir, name, mode, fi);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (is_block(node) && node->blk)
		block_read(req, node, size, off, fi);
	else if (is_list_file(node))
		list_read(req, node, size, off, fi);
	else
		reply_rc(req, -EBADF);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (is_block(node) && node->blk)
		block_write(req, node, buf, size, off, fi);
	else if (is_list_file(node))
		list_write(req, node, buf, size, off, fi);
	else
		reply_rc(req, -EBADF);
}

/* Blocks are memory: there is nothing to flush or sync. */
static void op_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	/* An open file pins its node: it is still there. */
	if (is_list_file(req_node(req, ino)))
		list_release(req, fi);
	else
		block_release(req, fi);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (node->kind == NODE_ROOT)
		ns_opendir(req, node, fi);
	else if (node->kind == NODE_LIST)
		list_opendir(req, node, fi);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (node->kind == NODE_LIST)
		list_readdir(req, node, size, off, fi, false);
	else
		ns_readdir(req, node, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (node->kind == NODE_LIST)
		list_readdir(req, node, size, off, fi, true);
	else
		ns_readdir(req, node, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	if (req_node(req, ino)->kind == NODE_LIST)
		list_releasedir(req, fi);
	else
		ns_releasedir(req, fi);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	ns_statfs(req);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct node *node = req_node(req, ino);

	if (is_block(node))
		block_setxattr(req, node, name, value, size, flags);
	else if (node->kind != NODE_ROOT)
		list_setxattr(req, node, name, value, size, flags, false);
	else
		reply_rc(req, -EPERM);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct node *node = req_node(req, ino);

	if (is_block(node))
		block_getxattr(req, node, name, size);
	else if (node->kind != NODE_ROOT)
		list_getxattr(req, node, name, size);
	else
		reply_rc(req, -ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct node *node = req_node(req, ino);

	if (is_block(node))
		block_listxattr(req, node, size);
	else if (node->kind != NODE_ROOT)
		list_listxattr(req, node, size);
	else if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct node *node = req_node(req, ino);

	if (is_block(node))
		block_removexattr(req, node, name);
	else if (node->kind != NODE_ROOT)
		list_setxattr(req, node, name, NULL, 0, 0, true);
	else
		reply_rc(req, -EPERM);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (is_block(node))
		block_fallocate(req, node, mode, offset, length);
	else
		reply_rc(req, is_list_file(node) ? -EOPNOTSUPP : -EISDIR);
}

const struct fuse_lowlevel_ops shmfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.fsync = op_fsync,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
};
