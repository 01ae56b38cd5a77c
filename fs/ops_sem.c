/* SPDX-License-Identifier: MIT */
/*
 * A named semaphore as a text file (docs/semaphores.md, "Through the
 * mount"): reading gives its value, "3\n"; writing "N" posts N tokens,
 * "-N" takes N without waiting (EAGAIN if they are not there).  The
 * semaphore is never mapped to be read, and every post or take goes
 * through the core's guarded access, so a file truncated or replaced under
 * the daemon is an error (EBADMSG), never a SIGBUS.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block_handle.h"
#include "block_xattr.h"
#include "node_ops.h"
#include "ops_sem.h"
#include "shmblock.h"
#include "shmdir.h"

/*
 * An open semaphore file: the text of the value read at offset 0, which
 * later reads of the same open file continue (as sysfs does), so a value
 * that changes between two reads never shows as a mix of both.
 */
struct sem_file {
	pthread_mutex_t lock;
	char text[16]; /* "4294967295\n" at most */
	size_t len;
	bool have;
};

static struct sem_file *sem_file_of(const struct fuse_file_info *fi)
{
	return (struct sem_file *)(uintptr_t)fi->fh;
}

static void sem_getattr(fuse_req_t req, struct node *node)
{
	struct shmfs *fs = req_fs(req);
	struct stat st;
	int rc = shmfs_node_stat(fs, node, &st);

	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

/*
 * Owner, mode and times as a block's.  Its size is glibc's sem_t: a
 * truncate to any other size is EINVAL (an O_TRUNC open, as `echo N >`
 * makes, is ignored: see sem_open_file).
 */
static void sem_setattr(fuse_req_t req, struct node *node, struct stat *attr,
			int to_set, struct fuse_file_info *fi)
{
	struct shmfs *fs = req_fs(req);
	struct shmblock *blk = NULL;
	struct stat st;
	int rc = node_hold(fs, node, &blk);

	if (rc < 0)
		blk = NULL;
	if (rc == 0 && !fi && node_unlinked_behind_us(fs, node, blk))
		rc = -ESTALE;
	if (rc == 0)
		rc = fstat(shmblock_fd(blk), &st) < 0 ? -errno : 0;
	if (rc == 0 && to_set & FUSE_SET_ATTR_SIZE &&
	    attr->st_size != st.st_size)
		rc = -EINVAL;
	if (rc == 0)
		rc = shmdir_set_attrs(shmblock_fd(blk), attr, to_set, 07777);
	if (rc == 0)
		rc = fstat(shmblock_fd(blk), &st) < 0 ? -errno : 0;
	if (blk)
		node_drop(node);
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

/*
 * Holds the node's semaphore for an open file and fills `fi`.  The data
 * goes through the daemon (direct_io, never passthrough: the file is
 * text), so the size the kernel knows doesn't matter to a read.  O_TRUNC
 * is ignored: a semaphore is never truncated.  Errors: -ESTALE, -EACCES
 * (a write open of a semaphore the daemon can only read), -ENOMEM, the
 * core's.
 */
static int sem_open_file(struct shmfs *fs, struct node *node,
			 struct fuse_file_info *fi)
{
	struct sem_file *f;
	struct shmblock *blk;
	int rc = node_hold(fs, node, &blk);

	if (rc < 0)
		return rc;
	if (node_unlinked_behind_us(fs, node, blk))
		rc = -ESTALE;
	else if ((fi->flags & O_ACCMODE) != O_RDONLY && node->read_only)
		rc = -EACCES;
	else if (!(f = calloc(1, sizeof(*f))))
		rc = -ENOMEM;
	if (rc < 0) {
		node_drop(node);
		return rc;
	}
	pthread_mutex_init(&f->lock, NULL);
	fi->fh = (uintptr_t)f;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;
	return 0;
}

static void sem_close_file(struct node *node, struct fuse_file_info *fi)
{
	struct sem_file *f = sem_file_of(fi);

	pthread_mutex_destroy(&f->lock);
	free(f);
	fi->fh = 0;
	node_drop(node);
}

static void sem_open(fuse_req_t req, struct node *node,
		     struct fuse_file_info *fi)
{
	int rc = sem_open_file(req_fs(req), node, fi);

	if (rc < 0)
		reply_rc(req, rc);
	else if (fuse_reply_open(req, fi) != 0)
		sem_close_file(node, fi);
}

static void sem_release(fuse_req_t req, struct node *node,
			struct fuse_file_info *fi)
{
	sem_close_file(node, fi);
	reply_rc(req, 0);
}

static void sem_read(fuse_req_t req, struct node *node, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct sem_file *f = sem_file_of(fi);
	struct shmblock_sem_state state;
	char text[sizeof(f->text)];
	size_t len = 0;
	int rc = 0;

	if (off < 0) {
		reply_rc(req, -EINVAL);
		return;
	}
	pthread_mutex_lock(&f->lock);
	if (off == 0 || !f->have) {
		rc = shmblock_sem_read_fd(shmblock_fd(node->blk), &state);
		if (rc == 0) {
			f->len = (size_t)snprintf(f->text, sizeof(f->text),
						  "%u\n", state.value);
			f->have = true;
		}
	}
	if (rc == 0 && (size_t)off < f->len) {
		len = f->len - (size_t)off;
		if (len > size)
			len = size;
		memcpy(text, f->text + off, len);
	}
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_buf(req, text, len);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/*
 * Parses what a write says: a decimal count, "-" in front to take, "+"
 * allowed, white space around it (echo's newline).  Errors: -EINVAL
 * (anything else), -EOVERFLOW (past SHMBLOCK_SEM_VALUE_MAX).
 */
static int parse_count(const char *buf, size_t size, bool *take, uint32_t *n)
{
	size_t i = 0, end = size;
	uint64_t v = 0;
	bool big = false;

	while (i < end && is_space(buf[i]))
		i++;
	while (end > i && is_space(buf[end - 1]))
		end--;
	*take = i < end && buf[i] == '-';
	if (i < end && (buf[i] == '-' || buf[i] == '+'))
		i++;
	if (i == end)
		return -EINVAL;
	for (; i < end; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > SHMBLOCK_SEM_VALUE_MAX) {
			big = true;
			v = 0;
		}
	}
	if (big)
		return -EOVERFLOW;
	*n = (uint32_t)v;
	return 0;
}

/*
 * Posts or takes what the write says, all at once, never waiting: one
 * write is one count, whatever its offset.  0 posts nothing (the
 * semaphore is only checked), so `echo 0 > sem.NAME` creates one.
 */
static void sem_write(fuse_req_t req, struct node *node, const char *buf,
		      size_t size, off_t off, struct fuse_file_info *fi)
{
	int fd = shmblock_fd(node->blk);
	struct shmblock_sem_state state;
	uint32_t n;
	bool take;
	int rc = parse_count(buf, size, &take, &n);

	if (rc == 0 && n == 0)
		rc = shmblock_sem_read_fd(fd, &state);
	else if (rc == 0 && take)
		rc = shmblock_sem_trywait_fd(fd, n, NULL);
	else if (rc == 0)
		rc = shmblock_sem_post_fd(fd, n, NULL);
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_write(req, size);
}

void sem_create(fuse_req_t req, const char *name, mode_t mode,
		struct fuse_file_info *fi)
{
	struct shmfs *fs = req_fs(req);
	char shm_name[NAME_MAX + 1];
	struct fuse_entry_param e;
	enum shm_kind kind;
	struct node *node;
	struct stat st;
	bool made = true;
	int fd, rc;

	rc = shmfs_block_name(fs, name, shm_name);
	if (rc == -ENOENT) /* a name the mount would hide: "sem." */
		rc = -EPERM;
	if (rc < 0)
		goto out_err;
	fd = shmdir_make_sem(req, name, mode, &st);
	if (fd == -EEXIST && !(fi->flags & O_EXCL)) {
		/* Made by someone else since the kernel looked: open it. */
		made = false;
		rc = shm_kind_of(fs, shm_name, &st, &kind);
		if (rc == 0 && kind != SHM_KIND_SEMAPHORE)
			rc = -EEXIST;
		if (rc < 0)
			goto out_err;
	} else if (fd < 0) {
		rc = fd;
		goto out_err;
	}
	rc = inode_ref_sem(fs->inodes, name, &st, &node);
	if (rc < 0) {
		if (made)
			close(fd);
		goto out_unmake;
	}
	/* The descriptor that made the semaphore serves the open too. */
	if (made && (rc = block_adopt(fs, node, shm_name, fd)) < 0) {
		inode_forget(fs->inodes, node, 1);
		goto out_unmake;
	}
	rc = sem_open_file(fs, node, fi);
	if (rc < 0) {
		inode_forget(fs->inodes, node, 1);
		goto out_unmake;
	}
	shmfs_fill_entry(fs, &e, node, &st);
	if (fuse_reply_create(req, &e, fi) != 0) {
		sem_close_file(node, fi);
		inode_forget(fs->inodes, node, 1);
	}
	return;

out_unmake:
	if (made)
		shmdir_unmake_block(fs, name, &st);
out_err:
	reply_rc(req, rc);
}

void sem_mknod(fuse_req_t req, const char *name, mode_t mode)
{
	struct shmfs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct node *node;
	struct stat st;
	int fd = shmdir_make_sem(req, name, mode, &st), rc;

	if (fd < 0) {
		reply_rc(req, fd);
		return;
	}
	close(fd);
	rc = inode_ref_sem(fs->inodes, name, &st, &node);
	if (rc < 0) {
		shmdir_unmake_block(fs, name, &st);
		reply_rc(req, rc);
		return;
	}
	shmfs_fill_entry(fs, &e, node, &st);
	reply_entry(req, &e);
}

/* mmap, fallocate: none (NULL); what the kernel does is in the docs. */
const struct node_ops sem_ops = {
	.is_dir = false,
	.getattr = sem_getattr,
	.setattr = sem_setattr,
	.open = sem_open,
	.read = sem_read,
	.write = sem_write,
	.release = sem_release,
	.setxattr = block_xattr_set,
	.getxattr = block_xattr_get,
	.listxattr = block_xattr_list,
	.removexattr = block_xattr_remove,
};
