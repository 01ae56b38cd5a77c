/* SPDX-License-Identifier: MIT */
/* Arrays as files: a .npy block, and the view NAME.npy of a declared array. */

/*
 * A .npy block (NODE_ARRAY) is a block file: every file operation is the
 * block's (ops_block.c), so its data go through passthrough and a mapping
 * of it is the block's own pages.  Only its xattrs differ: user.shmfs.dtype
 * and user.shmfs.shape are made from the header, read afresh at every
 * request, since any process may rewrite it; a block whose header is no
 * longer a .npy answers them as a plain block does (the kind was decided
 * at lookup and the kernel keeps the node until the watch drops it).
 *
 * A view (NODE_ARRAY_VIEW) is a read-only file made of a synthesized
 * header and the bytes of a raw block that declares an array in its
 * xattrs.  It is served by the daemon through the page cache (no
 * passthrough: its bytes are not a file's), docs/arrays.md says what a
 * mapping of it gives.  An open file keeps the header of its open and
 * reads the block's bytes live.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array_block.h"
#include "block_handle.h"
#include "holders_cache.h"
#include "kind.h"
#include "node_ops.h"
#include "ops_array.h"

/* ---- a .npy block ------------------------------------------------------ */

static void array_getattr(fuse_req_t req, struct node *node)
{
	block_ops.getattr(req, node);
}

static void array_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	block_ops.setattr(req, node, attr, to_set, fi);
}

static void array_open(fuse_req_t req, struct node *node,
		       struct fuse_file_info *fi)
{
	block_ops.open(req, node, fi);
}

static void array_read(fuse_req_t req, struct node *node, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	block_ops.read(req, node, size, off, fi);
}

static void array_write(fuse_req_t req, struct node *node, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	block_ops.write(req, node, buf, size, off, fi);
}

static void array_release(fuse_req_t req, struct node *node,
			  struct fuse_file_info *fi)
{
	block_ops.release(req, node, fi);
}

static void array_fallocate(fuse_req_t req, struct node *node, int mode,
			    off_t offset, off_t length)
{
	block_ops.fallocate(req, node, mode, offset, length);
}

/*
 * The header of the node's block as it is now, read with the descriptor
 * `fd` of a hold.  Returns 0, or -errno when it is no .npy now.
 */
static int header_now(int fd, struct array_desc *d)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	return array_read_header(fd, (uint64_t)st.st_size, d);
}

/* Whether the node's block is a .npy now; -errno if it can't be held. */
static int is_array_now(fuse_req_t req, struct node *node)
{
	struct shmblock *blk;
	struct array_desc d;
	int rc = node_hold(req_fs(req), node, &blk);

	if (rc < 0)
		return rc;
	rc = header_now(shmblock_fd(blk), &d) == 0;
	array_desc_free(&d);
	node_drop(node);
	return rc;
}

static void array_getxattr(fuse_req_t req, struct node *node, const char *name,
			   size_t size)
{
	struct shmblock *blk;
	struct array_desc d;
	char *value = NULL;
	ssize_t n;
	int rc;

	if (!array_xattr_is(name)) {
		block_ops.getxattr(req, node, name, size);
		return;
	}
	rc = node_hold(req_fs(req), node, &blk);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	rc = header_now(shmblock_fd(blk), &d);
	node_drop(node);
	if (rc < 0) {
		/* No .npy any more: the block's own xattr, if any. */
		block_ops.getxattr(req, node, name, size);
		return;
	}
	n = array_xattr_value(&d, name, &value);
	array_desc_free(&d);
	reply_xattr(req, value, n, size);
	free(value);
}

/* The header's xattrs are read only, as a file's attributes it can't change. */
static void array_setxattr(fuse_req_t req, struct node *node, const char *name,
			   const char *value, size_t size, int flags)
{
	int rc = array_xattr_is(name) ? is_array_now(req, node) : 0;

	if (rc != 0)
		reply_rc(req, rc < 0 ? rc : -EPERM);
	else
		block_ops.setxattr(req, node, name, value, size, flags);
}

static void array_removexattr(fuse_req_t req, struct node *node,
			      const char *name)
{
	int rc = array_xattr_is(name) ? is_array_now(req, node) : 0;

	if (rc != 0)
		reply_rc(req, rc < 0 ? rc : -EPERM);
	else
		block_ops.removexattr(req, node, name);
}

/* Drops the array xattrs from a list of `n` bytes of names; the new length. */
static ssize_t drop_array_names(char *buf, ssize_t n)
{
	ssize_t in, out = 0;
	size_t len;

	for (in = 0; in < n; in += (ssize_t)len + 1) {
		len = strnlen(buf + in, (size_t)(n - in));
		if (array_xattr_is(buf + in))
			continue;
		memmove(buf + out, buf + in, len + 1);
		out += (ssize_t)len + 1;
	}
	return out;
}

static void array_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	struct shmblock *blk;
	struct array_desc d;
	char *buf = NULL;
	ssize_t n;
	int rc = node_hold(req_fs(req), node, &blk);

	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	if (size > XATTR_SIZE_MAX)
		size = XATTR_SIZE_MAX;
	n = shmfs_xattr_names(
		req, shmblock_fd(blk),
		sizeof(HOLDERS_XATTR_NAMES) + sizeof(ARRAY_XATTR_NAMES), &buf);
	/* The header's, in place of any the block has of those names. */
	if (n >= 0 && header_now(shmblock_fd(blk), &d) == 0) {
		array_desc_free(&d);
		n = drop_array_names(buf, n);
		memcpy(buf + n, ARRAY_XATTR_NAMES, sizeof(ARRAY_XATTR_NAMES));
		n += (ssize_t)sizeof(ARRAY_XATTR_NAMES);
	}
	n = holders_xattr_list_append(buf, n);
	node_drop(node);
	reply_xattr(req, buf, n, size);
	free(buf);
}

const struct node_ops array_ops = {
	.is_dir = false,
	.getattr = array_getattr,
	.setattr = array_setattr,
	.open = array_open,
	.read = array_read,
	.write = array_write,
	.release = array_release,
	.fallocate = array_fallocate,
	.setxattr = array_setxattr,
	.getxattr = array_getxattr,
	.listxattr = array_listxattr,
	.removexattr = array_removexattr,
};

/* ---- a declared array's view ------------------------------------------- */

/*
 * Opens the block of the view `name` and reads its declared array: the
 * block must be `ino` (its view's inode number, 0 for any) and declare a
 * valid array, and be no .npy itself.  Returns the descriptor (*st its
 * attributes) or -errno: -ENOENT, -ESTALE (ino is another block now).
 */
static int view_block(struct shmfs *fs, const char *name, dev_t dev, ino_t ino,
		      struct stat *st, struct array_desc *d)
{
	char shm_name[NAME_MAX + 1];
	int fd, rc = array_view_block_name(fs, name, shm_name);

	memset(d, 0, sizeof(*d));
	if (rc < 0)
		return rc == -EINVAL ? -ENOENT : rc;
	fd = array_block_open(fs, shm_name, st);
	if (fd < 0)
		return fd;
	if (ino && (st->st_dev != dev || array_view_ino(st->st_ino) != ino)) {
		rc = -ESTALE;
	} else if (array_read_header(fd, (uint64_t)st->st_size, d) == 0) {
		array_desc_free(d);
		rc = -ENOENT;
	} else {
		rc = array_read_declared(fd, (uint64_t)st->st_size, d);
		if (rc < 0 && rc != -ENOMEM)
			rc = -ENOENT;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* The view's attributes, from its block's `st` and its header of hlen. */
static void view_stat(struct stat *st, const struct array_desc *d, size_t hlen)
{
	st->st_ino = array_view_ino(st->st_ino);
	/* Read only, as its block reads: no write, execute or set-id bits. */
	st->st_mode = S_IFREG | (st->st_mode & 0444);
	st->st_nlink = 1;
	st->st_size = (off_t)(hlen + d->info.nbytes);
	st->st_blocks = (st->st_size + 511) / 512;
}

/* The view a node stands for, checked to be there still. */
static int view_of_node(struct shmfs *fs, struct node *node, struct stat *st,
			struct array_desc *d)
{
	char name[NAME_MAX + 1];
	int rc = inode_name(fs->inodes, node, name);

	if (rc < 0)
		return rc;
	rc = view_block(fs, name, node->dev, node->ino, st, d);
	/* Gone or another kind now: the kernel looks the name up again. */
	return rc == -ENOENT ? -ESTALE : rc;
}

int array_view_ref(struct shmfs *fs, const char *name,
		   struct fuse_entry_param *e)
{
	char shm_name[NAME_MAX + 1];
	struct array_desc d;
	enum shm_kind kind;
	struct node *node;
	struct stat st;
	ssize_t hlen;
	int fd, rc = array_view_block_name(fs, name, shm_name);

	if (rc < 0)
		return rc == -EINVAL ? -ENOENT : rc;
	/* A list that declares an array too is a list: the kind decides. */
	rc = shm_kind_of(fs, shm_name, &st, &kind);
	if (rc < 0)
		return rc;
	if (kind != SHM_KIND_DECLARED)
		return -ENOENT;
	fd = view_block(fs, name, 0, 0, &st, &d);
	if (fd < 0)
		return fd;
	close(fd);
	hlen = shmblock_npy_header_build(d.descr, d.info.ndim, d.info.shape,
					 false, 64, NULL, 0);
	if (hlen >= 0) {
		view_stat(&st, &d, (size_t)hlen);
		rc = inode_ref_kind(fs->inodes, name, &st, NODE_ARRAY_VIEW,
				    &node);
	}
	array_desc_free(&d);
	if (hlen < 0)
		return -ENOENT;
	if (rc == 0)
		shmfs_fill_entry(fs, e, node, &st);
	return rc;
}

bool array_view_exists(struct shmfs *fs, const char *name)
{
	struct fuse_entry_param e;
	struct node *node;

	if (array_view_ref(fs, name, &e) < 0)
		return false;
	node = inode_get(fs->inodes, e.ino);
	inode_forget(fs->inodes, node, 1);
	return true;
}

static void view_getattr(fuse_req_t req, struct node *node)
{
	struct shmfs *fs = req_fs(req);
	struct array_desc d;
	struct stat st;
	ssize_t hlen;
	int fd = view_of_node(fs, node, &st, &d);

	if (fd < 0) {
		reply_rc(req, fd);
		return;
	}
	close(fd);
	hlen = shmblock_npy_header_build(d.descr, d.info.ndim, d.info.shape,
					 false, 64, NULL, 0);
	if (hlen >= 0)
		view_stat(&st, &d, (size_t)hlen);
	array_desc_free(&d);
	if (hlen < 0)
		reply_rc(req, -ESTALE);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

/* A view is made, not stored: nothing of it can be changed. */
static void view_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	reply_rc(req, -EPERM);
}

/* An open view: the header taken at its open; its node holds the block. */
struct view_file {
	uint64_t size; /* header and data */
	size_t hlen;
	char header[];
};

/*
 * The declared array of a view's held block, as it is now.  Errors:
 * -ESTALE (no declared array now), -ENOMEM, fstat's.
 */
static int view_declared(struct shmblock *blk, struct array_desc *d)
{
	struct stat st;
	int rc;

	memset(d, 0, sizeof(*d));
	if (fstat(shmblock_fd(blk), &st) < 0)
		return -errno;
	if (array_read_header(shmblock_fd(blk), (uint64_t)st.st_size, d) == 0) {
		array_desc_free(d);
		return -ESTALE;
	}
	rc = array_read_declared(shmblock_fd(blk), (uint64_t)st.st_size, d);
	return rc < 0 && rc != -ENOMEM ? -ESTALE : rc;
}

static void view_open(fuse_req_t req, struct node *node,
		      struct fuse_file_info *fi)
{
	struct view_file *vf = NULL;
	struct shmblock *blk;
	struct array_desc d;
	char *header = NULL;
	ssize_t hlen;
	int rc;

	/* Read only whoever asks, root too (as sysfs's read-only files). */
	if ((fi->flags & O_ACCMODE) != O_RDONLY || fi->flags & O_TRUNC) {
		reply_rc(req, -EACCES);
		return;
	}
	/*
	 * The node holds one descriptor of the block for all its open
	 * files, as a block node does: opens cost the daemon no descriptor
	 * each.
	 */
	rc = node_hold(req_fs(req), node, &blk);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	rc = view_declared(blk, &d);
	hlen = rc < 0 ? rc : array_view_header(&d, &header);
	if (hlen >= 0 && !(vf = malloc(sizeof(*vf) + (size_t)hlen)))
		hlen = -ENOMEM;
	if (hlen >= 0) {
		vf->hlen = (size_t)hlen;
		vf->size = (uint64_t)hlen + d.info.nbytes;
		memcpy(vf->header, header, (size_t)hlen);
	}
	free(header);
	array_desc_free(&d);
	if (hlen < 0) {
		node_drop(node);
		reply_rc(req, hlen == -ENOMEM ? -ENOMEM : -ESTALE);
		return;
	}
	fi->fh = (uintptr_t)vf;
	/*
	 * Through the page cache, which the open drops (keep_cache 0) and
	 * the watch drops when the block is written: so a read-only
	 * MAP_SHARED mapping works (a copy, docs/arrays.md).
	 */
	fi->direct_io = 0;
	fi->keep_cache = 0;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0) {
		free(vf);
		node_drop(node);
	}
}

static void view_read(fuse_req_t req, struct node *node, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct view_file *vf = (struct view_file *)(uintptr_t)fi->fh;
	size_t done = 0;
	ssize_t n;
	char *buf;

	/* Only an open file reads, and its open holds the block. */
	if (!node->blk) {
		reply_rc(req, -EBADF);
		return;
	}
	if (off < 0 || (uint64_t)off >= vf->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > vf->size - (uint64_t)off)
		size = (size_t)(vf->size - (uint64_t)off);
	buf = malloc(size ? size : 1);
	if (!buf) {
		reply_rc(req, -ENOMEM);
		return;
	}
	if ((uint64_t)off < vf->hlen) {
		done = vf->hlen - (size_t)off;
		if (done > size)
			done = size;
		memcpy(buf, vf->header + off, done);
	}
	/* The block's bytes, live; short if someone shrank it meanwhile. */
	while (done < size) {
		n = pread(shmblock_fd(node->blk), buf + done, size - done,
			  (off_t)((uint64_t)off + done - vf->hlen));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			reply_rc(req, -errno);
			return;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	fuse_reply_buf(req, buf, done);
	free(buf);
}

static void view_release(fuse_req_t req, struct node *node,
			 struct fuse_file_info *fi)
{
	free((void *)(uintptr_t)fi->fh);
	node_drop(node);
	reply_rc(req, 0);
}

static void view_getxattr(fuse_req_t req, struct node *node, const char *name,
			  size_t size)
{
	struct array_desc d;
	char *value = NULL;
	struct stat st;
	ssize_t n;
	int fd;

	if (!array_xattr_is(name)) {
		reply_rc(req, -ENODATA);
		return;
	}
	fd = view_of_node(req_fs(req), node, &st, &d);
	if (fd < 0) {
		reply_rc(req, fd);
		return;
	}
	close(fd);
	n = array_xattr_value(&d, name, &value);
	array_desc_free(&d);
	reply_xattr(req, value, n, size);
	free(value);
}

static void view_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	reply_xattr(req, ARRAY_XATTR_NAMES, sizeof(ARRAY_XATTR_NAMES), size);
}

static void view_setxattr(fuse_req_t req, struct node *node, const char *name,
			  const char *value, size_t size, int flags)
{
	reply_rc(req, -EPERM);
}

static void view_removexattr(fuse_req_t req, struct node *node,
			     const char *name)
{
	reply_rc(req, -EPERM);
}

const struct node_ops array_view_ops = {
	.is_dir = false,
	.getattr = view_getattr,
	.setattr = view_setattr,
	.open = view_open,
	.read = view_read,
	.release = view_release,
	.setxattr = view_setxattr,
	.getxattr = view_getxattr,
	.listxattr = view_listxattr,
	.removexattr = view_removexattr,
};
