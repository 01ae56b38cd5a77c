/* SPDX-License-Identifier: MIT */
/* The files inside a list directory: what items, .format and .json share. */

#include <errno.h>
#include <string.h>

#include "list_edit.h"
#include "list_file.h"

double list_file_attr_timeout(const struct shmfs *fs)
{
	return fs->timeout < LIST_FILE_ATTR_TIMEOUT ? fs->timeout
						    : LIST_FILE_ATTR_TIMEOUT;
}

/* The attributes of a file of `size` bytes in the list of block `block`. */
static void file_attr(const struct stat *block, struct node *node, size_t size,
		      bool read_only, struct stat *st)
{
	mode_t perm = block->st_mode & 0666;

	*st = *block;
	if (read_only)
		perm &= 0444;
	st->st_mode = S_IFREG | perm;
	st->st_nlink = 1;
	st->st_ino = (ino_t)inode_id(node);
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	pthread_mutex_lock(&node->lock);
	node->told_size = (uint64_t)size;
	pthread_mutex_unlock(&node->lock);
}

int list_file_attr_from(const struct list_snap *snap, bool read_only,
			struct node *node, list_file_render *render,
			struct stat *st)
{
	struct text t = { 0 };
	int rc = render(snap, node, &t);

	if (rc == -EILSEQ) {
		text_free(&t);
		rc = 0;
	}
	if (rc == 0)
		file_attr(&snap->st, node, t.len, read_only, st);
	text_free(&t);
	return rc;
}

int list_file_node_attr(struct shmfs *fs, struct node *node, uint64_t index,
			bool read_only, list_file_render *render,
			struct stat *st)
{
	struct list_view view;
	int rc = index == LIST_WHOLE
			 ? list_view_load(fs, node->parent, &view)
			 : list_view_load_item(fs, node->parent, index, &view);

	if (rc == 0)
		rc = list_file_attr_from(&view.snap,
					 read_only || view.read_only, node,
					 render, st);
	list_view_close(&view);
	return rc;
}

void list_file_check_told(struct shmfs *fs, struct node *node, size_t len)
{
	bool changed;

	pthread_mutex_lock(&node->lock);
	changed = node->told_size != (uint64_t)len;
	node->told_size = (uint64_t)len;
	pthread_mutex_unlock(&node->lock);
	if (changed)
		fuse_lowlevel_notify_inval_inode(fs->se, inode_id(node), -1, 0);
}

void list_file_reply_entry(fuse_req_t req, struct node *child, int rc,
			   const struct stat *attr, double entry_timeout,
			   double attr_timeout)
{
	struct fuse_entry_param e;

	if (rc < 0) {
		inode_forget(req_fs(req)->inodes, child, 1);
		reply_rc(req, rc);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = inode_id(child);
	e.generation = child->generation;
	e.entry_timeout = entry_timeout;
	e.attr_timeout = attr_timeout;
	e.attr = *attr;
	reply_entry(req, &e);
}

void list_file_fh_retire(pthread_mutex_t *lock)
{
	pthread_mutex_lock(lock);
	pthread_mutex_unlock(lock);
	pthread_mutex_destroy(lock);
}

void list_file_reply_text(fuse_req_t req, const char *text, size_t len,
			  size_t size, off_t off)
{
	if (off < 0 || (uint64_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	fuse_reply_buf(req, text + off, size);
}

void list_file_setxattr(fuse_req_t req, struct node *node, const char *name,
			const char *value, size_t size, int flags)
{
	reply_rc(req, -EPERM);
}

void list_file_removexattr(fuse_req_t req, struct node *node, const char *name)
{
	reply_rc(req, -EPERM);
}

void list_file_fallocate(fuse_req_t req, struct node *node, int mode,
			 off_t offset, off_t length)
{
	reply_rc(req, -EOPNOTSUPP);
}
