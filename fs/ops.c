/* SPDX-License-Identifier: MIT */
/* The lowlevel operations table: each request goes to its node's kind. */

#include <errno.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include "node_ops.h"
#include "ops.h"

/* Each kind's handlers; a list's .raw is its block, a block's file. */
static const struct node_ops *const kind_ops[] = {
	[NODE_ROOT] = &root_ops,
	[NODE_BLOCK] = &block_ops,
	[NODE_LIST] = &list_ops,
	[NODE_LIST_ENTRY] = &item_ops,
	[NODE_LIST_RAW] = &block_ops,
	[NODE_LIST_META] = &meta_ops,
	[NODE_DELETED_DIR] = &deleted_dir_ops,
	[NODE_DELETED_FILE] = &deleted_file_ops,
	[NODE_SEM] = &sem_ops,
	[NODE_ARRAY] = &array_ops,
	[NODE_ARRAY_VIEW] = &array_view_ops,
};

static struct node *req_node(fuse_req_t req, fuse_ino_t ino)
{
	return inode_get(req_fs(req)->inodes, ino);
}

static const struct node_ops *ops_of(const struct node *node)
{
	return kind_ops[node->kind];
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

	if (ops_of(dir)->lookup)
		ops_of(dir)->lookup(req, dir, name);
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

	ops_of(node)->getattr(req, node);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	ops_of(node)->setattr(req, node, attr, to_set, fi);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct node *dir = req_node(req, parent);

	if (ops_of(dir)->mknod)
		ops_of(dir)->mknod(req, dir, name, mode);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct node *dir = req_node(req, parent);

	if (ops_of(dir)->mkdir)
		ops_of(dir)->mkdir(req, dir, name, mode);
	else
		reply_rc(req, -ENOTDIR);
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

	if (ops_of(dir)->unlink)
		ops_of(dir)->unlink(req, dir, name);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *dir = req_node(req, parent);

	if (ops_of(dir)->rmdir)
		ops_of(dir)->rmdir(req, dir, name);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct node *dir = req_node(req, parent);

	if (ops_of(dir)->rename)
		ops_of(dir)->rename(req, dir, name, req_node(req, newparent),
				    newname, flags);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (ops_of(node)->open)
		ops_of(node)->open(req, node, fi);
	else
		reply_rc(req, -EISDIR);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct node *dir = req_node(req, parent);

	if (ops_of(dir)->create)
		ops_of(dir)->create(req, dir, name, mode, fi);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (ops_of(node)->read)
		ops_of(node)->read(req, node, size, off, fi);
	else
		reply_rc(req, -EBADF);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (ops_of(node)->write)
		ops_of(node)->write(req, node, buf, size, off, fi);
	else
		reply_rc(req, -EBADF);
}

/* Blocks are memory: nothing to flush; an item stores its value (ops_item.c). */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (ops_of(node)->flush)
		ops_of(node)->flush(req, node, fi);
	else
		reply_rc(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	reply_rc(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	/* An open file pins its node: it is still there. */
	struct node *node = req_node(req, ino);

	if (ops_of(node)->release)
		ops_of(node)->release(req, node, fi);
	else
		reply_rc(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (ops_of(node)->opendir)
		ops_of(node)->opendir(req, node, fi);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (ops_of(node)->readdir)
		ops_of(node)->readdir(req, node, size, off, fi, false);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (ops_of(node)->readdir)
		ops_of(node)->readdir(req, node, size, off, fi, true);
	else
		reply_rc(req, -ENOTDIR);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (ops_of(node)->releasedir)
		ops_of(node)->releasedir(req, node, fi);
	else
		reply_rc(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	reply_rc(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct shmfs *fs = req_fs(req);
	struct statvfs sv;

	if (fstatvfs(fs->dirfd, &sv) < 0) {
		reply_rc(req, -errno);
		return;
	}
	/* The prefix takes its length from every name the mount shows. */
	sv.f_namemax = sv.f_namemax > fs->prefix_len
			       ? sv.f_namemax - fs->prefix_len
			       : 0;
	fuse_reply_statfs(req, &sv);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct node *node = req_node(req, ino);

	ops_of(node)->setxattr(req, node, name, value, size, flags);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct node *node = req_node(req, ino);

	ops_of(node)->getxattr(req, node, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct node *node = req_node(req, ino);

	ops_of(node)->listxattr(req, node, size);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct node *node = req_node(req, ino);

	ops_of(node)->removexattr(req, node, name);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	struct node *node = req_node(req, ino);

	if (ops_of(node)->fallocate)
		ops_of(node)->fallocate(req, node, mode, offset, length);
	else
		reply_rc(req, ops_of(node)->is_dir ? -EISDIR : -EOPNOTSUPP);
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
