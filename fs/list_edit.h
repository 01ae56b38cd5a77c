/* SPDX-License-Identifier: MIT */
/*
 * Lists of the mount as the handlers use them: one validated copy per
 * request, setting an item, appending one (a rebuild under the same name).
 */
#ifndef SHMFS_LIST_EDIT_H
#define SHMFS_LIST_EDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"
#include "inode.h"
#include "list_block.h"

/* A list as one request sees it: its block's descriptor and layout. */
struct list_view {
	int fd;
	bool read_only; /* the daemon could only open it so */
	struct list_snap snap;
};

/*
 * The block name of the list node `list`: its name, or the one a newer
 * list took from it (inode_list_name).  Errors: -ESTALE when it has none.
 */
int list_shm_name(struct shmfs *fs, struct node *list,
		  char shm_name[NAME_MAX + 1]);

/*
 * Opens the list's block by its name and reads its layout (list_block.h).
 * Close it with list_view_close.  Errors: -ESTALE (the name is gone or no longer holds a
 * list), -EAGAIN, -ENOMEM, I/O errors.
 */
int list_view_load(struct shmfs *fs, struct node *list, struct list_view *view);

/*
 * The same for a request about item `index` alone, or about the list's
 * header (its count and attributes) with LIST_HEADER: at a cost that
 * doesn't grow with the list (list_snap_take_item), the snapshot shallow.
 */
#define LIST_WHOLE UINT64_MAX
#define LIST_HEADER (UINT64_MAX - 1)
int list_view_load_item(struct shmfs *fs, struct node *list, uint64_t index,
			struct list_view *view);
void list_view_close(struct list_view *view);

/* A value an item held, kept by the caller. */
struct list_saved {
	bool have;
	struct shmblock_value v;
	char *owned; /* a str's or bytes' bytes, which v.s.ptr points to */
};

/*
 * What one writer stored into an item, to take back: the value the item
 * held before the writer's first store, and the value of its last.
 */
struct list_undo {
	struct list_saved before, stored;
};

void list_undo_free(struct list_undo *undo);

/*
 * Sets item `index` of `list` from `text`, parsed for `type`
 * (LIST_TYPE_BARE: the item's current type), as CPython's sl[index] = v.
 * With `may_grow`, a str or bytes value too big for its slot rebuilds the
 * list with room for it (what the handle of an appended item may do).
 * Under the list node's lock: nothing else in the mount edits the list
 * meanwhile.  With `undo`, an in-place store records what it replaced
 * (list_edit_undo); a rebuild records nothing.  Errors: -ENOENT (no such item), -EINVAL (not a value of the
 * type), -EFBIG, -EOPNOTSUPP (a rebuild of a 3.8 list), those of loading.
 */
int list_edit_set(struct shmfs *fs, struct node *list, uint64_t index, int type,
		  const char *text, size_t len, bool may_grow,
		  struct list_undo *undo);

/*
 * Takes back what `undo` recorded (list_edit_set's in-place stores): puts
 * the value from before the first store back, if the item still holds the
 * value of the last one (a store another process made since stays), and
 * empties `undo`.  Errors: those of loading, and of the write.
 */
int list_edit_undo(struct shmfs *fs, struct node *list, uint64_t index,
		   struct list_undo *undo);

/*
 * Appends item `index` of `type` with its default value (0, 0.0, False,
 * None, "" or b"") when `index` is the list's length.  Returns 1 when
 * appended, 0 when the item exists already; either way `after` gets the
 * list as it is now, to free with list_snap_free, and *read_only whether
 * the daemon could open its block for reading only.
 * Errors: -ENOENT (an index beyond the end), -EACCES (read-only block), and
 * those of loading and rebuilding.
 */
int list_edit_append(struct shmfs *fs, struct node *list, uint64_t index,
		     int type, struct list_snap *after, bool *read_only);

#endif
