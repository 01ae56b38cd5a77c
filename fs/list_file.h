/* SPDX-License-Identifier: MIT */
/*
 * The files inside a list directory, as the handlers of items (ops_item.c)
 * and of .format and .json (ops_meta.c) share them: their child keys, their
 * attributes, the size last told to the kernel, their entry replies and
 * their reads.
 */
#ifndef SHMFS_LIST_FILE_H
#define SHMFS_LIST_FILE_H

#include <stdint.h>
#include <sys/stat.h>

#include "fs.h"
#include "inode.h"
#include "list_block.h"
#include "list_text.h"

/* Child keys of a list's hidden files; items use item_key(). */
enum { ITEM_KEY_RAW = 1, ITEM_KEY_FORMAT = 2, ITEM_KEY_JSON = 3 };

/* The child key of item `index` named with `type` (or LIST_TYPE_BARE). */
static inline uint64_t item_key(uint64_t index, int type)
{
	return index << 3 | (uint64_t)type;
}

/* An item node's index and type, from its child key. */
static inline uint64_t item_key_index(const struct node *node)
{
	return node->child_key >> 3;
}

static inline int item_key_type(const struct node *node)
{
	return (int)(node->child_key & 7);
}

/*
 * How long the kernel may keep the attributes of an item, .json or
 * .format (seconds, at most -o timeout): their size follows stores made
 * through mappings, with no event; an open or read that renders another
 * size drops them at once (list_file_check_told).
 */
#define LIST_FILE_ATTR_TIMEOUT 0.1
double list_file_attr_timeout(const struct shmfs *fs);

/* How a kind of file renders its text from a copy of its list. */
typedef int list_file_render(const struct list_snap *snap, struct node *node,
			     struct text *t);

/*
 * The attributes of the file `node` made from `snap`, a copy of its list:
 * the block's, without x (nor w when `read_only`), the size of its text
 * as `render` makes it (text CPython could not read either, bad UTF-8,
 * shows empty).  Remembers the size as the one replied to the kernel
 * (told_size).  Errors: render's.
 */
int list_file_attr_from(const struct list_snap *snap, bool read_only,
			struct node *node, list_file_render *render,
			struct stat *st);

/*
 * The same from a fresh copy of its list, read-only when the list is or
 * when `read_only`; loaded for item `index` alone (list_view_load_item),
 * or whole with LIST_WHOLE.  Errors: list_view_load's, render's.
 */
int list_file_node_attr(struct shmfs *fs, struct node *node, uint64_t index,
			bool read_only, list_file_render *render,
			struct stat *st);

/*
 * A rendering of `len` bytes: if the kernel was told another size (a store
 * through a mapping since), it drops the attributes it keeps, so that the
 * next stat asks.  Only attributes: there are no cached pages (direct_io).
 * Safe from a handler: it takes no lock a request holds.
 */
void list_file_check_told(struct shmfs *fs, struct node *node, size_t len);

/*
 * Replies to an entry request with `child` (referenced once by the caller)
 * of attributes `attr`, cached as the timeouts say; when `rc` < 0 instead,
 * drops the reference and replies the error.
 */
void list_file_reply_entry(fuse_req_t req, struct node *child, int rc,
			   const struct stat *attr, double entry_timeout,
			   double attr_timeout);

/*
 * Before an open file's handle is freed: the kernel completes a read while
 * our reply is being written, so the RELEASE that follows a close can
 * arrive while the reading thread still holds the handle's `lock`.  Waits
 * for it to let go, and destroys the lock.
 */
void list_file_fh_retire(pthread_mutex_t *lock);

/* Replies to a read of `size` at `off` from the file's text. */
void list_file_reply_text(fuse_req_t req, const char *text, size_t len,
			  size_t size, off_t off);

/*
 * Handlers for items, .format and .json alike: they carry no xattrs of
 * their own to set or remove (-EPERM), and take no fallocate (-EOPNOTSUPP).
 */
void list_file_setxattr(fuse_req_t req, struct node *node, const char *name,
			const char *value, size_t size, int flags);
void list_file_removexattr(fuse_req_t req, struct node *node, const char *name);
void list_file_fallocate(fuse_req_t req, struct node *node, int mode,
			 off_t offset, off_t length);

#endif
