/* SPDX-License-Identifier: MIT */
/* Lists as the handlers use them: load, set, append (list_edit.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "list_edit.h"
#include "list_text.h"
#include "shmdir.h"

int list_shm_name(struct shmfs *fs, struct node *list,
		  char shm_name[NAME_MAX + 1])
{
	char name[NAME_MAX + 1];
	int rc = inode_list_name(fs->inodes, list, name);

	if (rc == 0)
		rc = shmfs_block_name(fs, name, shm_name);
	return rc < 0 ? -ESTALE : 0;
}

/* Loads the list: whole, or for item `index` (LIST_WHOLE: whole). */
static int view_load(struct shmfs *fs, struct node *list, uint64_t index,
		     struct list_view *view)
{
	char shm_name[NAME_MAX + 1], mark[8];
	int rc;

	memset(view, 0, sizeof(*view));
	view->fd = -1;
	rc = list_shm_name(fs, list, shm_name);
	if (rc < 0)
		return rc;
	view->fd = list_block_open(fs, shm_name, &view->read_only);
	if (view->fd < 0) {
		rc = view->fd == -ENOENT ? -ESTALE : view->fd;
		view->fd = -1;
		return rc;
	}
	if (index == LIST_WHOLE)
		rc = list_snap_take(view->fd, true, &view->snap);
	else
		rc = list_snap_take_item(view->fd, index, &view->snap);
	if (rc == -EBADMSG)
		rc = -ESTALE;
	if (rc == 0 && view->snap.lay->count == 0 &&
	    fgetxattr(view->fd, LIST_XATTR, mark, sizeof(mark)) <= 0) {
		/* Zeros without mkdir's mark are a plain block. */
		list_snap_free(&view->snap);
		rc = -ESTALE;
	}
	if (rc < 0) {
		close(view->fd);
		view->fd = -1;
	}
	return rc;
}

int list_view_load(struct shmfs *fs, struct node *list, struct list_view *view)
{
	return view_load(fs, list, LIST_WHOLE, view);
}

int list_view_load_item(struct shmfs *fs, struct node *list, uint64_t index,
			struct list_view *view)
{
	return view_load(fs, list, index == LIST_WHOLE ? index - 1 : index,
			 view);
}

void list_view_close(struct list_view *view)
{
	list_snap_free(&view->snap);
	if (view->fd >= 0)
		close(view->fd);
	view->fd = -1;
}

/*
 * Writes the edit to the block at `fd` as CPython does (format, code, then
 * the data slot).  Errors: pwrite's, -EIO on a short write.
 */
static int edit_write(int fd, const struct shmblock_slist_edit *edit)
{
	unsigned char *slot;
	int rc;

	rc = shmfs_pwrite_full(fd, edit->format, sizeof(edit->format),
			       (off_t)edit->format_offset);
	if (rc == 0)
		rc = shmfs_pwrite_full(fd, &edit->code, 1,
				       (off_t)edit->code_offset);
	if (rc < 0)
		return rc;
	if (!edit->payload)
		return shmfs_pwrite_full(fd, edit->scalar, sizeof(edit->scalar),
					 (off_t)edit->data_offset);
	/* The whole slot in one write: value, then NUL padding. */
	slot = calloc(1, edit->data_len ? edit->data_len : 1);
	if (!slot)
		return -ENOMEM;
	memcpy(slot, edit->payload, edit->payload_len);
	rc = shmfs_pwrite_full(fd, slot, edit->data_len,
			       (off_t)edit->data_offset);
	free(slot);
	return rc;
}

/*
 * The values of every item for a rebuild, item `index` replaced by `value`
 * (or appended when index == count).  str and bytes items keep their slot's
 * capacity: they are padded with NULs, which reading strips, as CPython.
 * *pads gets the padding buffers to free.  Returns the count or -errno.
 */
static int rebuild_values(const struct list_snap *snap, uint64_t index,
			  const struct shmblock_value *value,
			  struct shmblock_value **out, char ***pads)
{
	uint64_t i, count = snap->lay->count;
	size_t n = index == count ? count + 1 : count;
	struct shmblock_value *vals = calloc(n, sizeof(*vals));
	char **pad = calloc(n, sizeof(*pad));
	int rc = 0;

	if (!vals || !pad) {
		rc = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < count && rc == 0; i++) {
		uint64_t cap = snap->lay->items[i].capacity;

		if (i == index) {
			vals[i] = *value;
			continue;
		}
		rc = list_snap_read(snap, i, &vals[i], &pad[i]);
		if (rc < 0 ||
		    (vals[i].type != SHMBLOCK_TYPE_STR &&
		     vals[i].type != SHMBLOCK_TYPE_BYTES) ||
		    cap == 0 || cap - 1 <= vals[i].s.len)
			continue;
		/* Read from a descriptor, the bytes are in pad[i], cap long. */
		if (!pad[i]) {
			pad[i] = malloc(cap);
			if (!pad[i]) {
				rc = -ENOMEM;
				break;
			}
			memcpy(pad[i], vals[i].s.ptr, vals[i].s.len);
			vals[i].s.ptr = pad[i];
		}
		memset(pad[i] + vals[i].s.len, 0, cap - 1 - vals[i].s.len);
		vals[i].s.len = cap - 1;
	}
	if (rc < 0)
		goto fail;
	if (index == count)
		vals[count] = *value;
	*out = vals;
	*pads = pad;
	return (int)n;
fail:
	for (i = 0; pad && i < n; i++)
		free(pad[i]);
	free(pad);
	free(vals);
	return rc;
}

/*
 * A new layout of `values` in a private buffer, validated: what the rebuild
 * writes, and what the caller may keep as the list's new copy.
 */
static int build_snap(const struct shmblock_value *values, size_t count,
		      struct list_snap *out)
{
	size_t size;
	int rc;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	rc = shmblock_slist_layout_size(values, count, &size);
	if (rc < 0)
		return rc;
	if (size > LIST_MAX_BLOCK)
		return -EFBIG;
	out->buf = malloc(size);
	if (!out->buf)
		return -ENOMEM;
	out->len = size;
	rc = shmblock_slist_build(values, count, out->buf, size);
	if (rc == 0)
		rc = shmblock_slist_validate(out->buf, size, &out->lay);
	if (rc < 0)
		list_snap_free(out);
	return rc;
}

/*
 * Rebuilds the list with item `index` set (or appended) to `value` and
 * swaps it in under the same name.  `after`, when not NULL, gets the new
 * list's copy.
 */
static int rebuild_with(struct shmfs *fs, struct node *list,
			const struct list_view *view, uint64_t index,
			const struct shmblock_value *value,
			struct list_snap *after)
{
	char shm_name[NAME_MAX + 1], **pads = NULL;
	struct shmblock_value *vals = NULL;
	struct list_snap built;
	int n, i, rc;

	/* New layouts are 3.9+; rewriting a 3.8 list would break its peers. */
	if (view->snap.lay->version != SHMBLOCK_SLIST_PY39)
		return -EOPNOTSUPP;
	if (view->snap.shallow)
		return -EAGAIN;
	rc = list_shm_name(fs, list, shm_name);
	if (rc < 0)
		return rc;
	n = rebuild_values(&view->snap, index, value, &vals, &pads);
	if (n < 0)
		return n;
	rc = build_snap(vals, (size_t)n, &built);
	if (rc == 0)
		rc = shmdir_swap(fs, shm_name, view->fd, &view->snap.st,
				 built.buf, built.len, &built.st);
	if (rc == 0)
		inode_rekey(fs->inodes, list, &built.st);
	if (rc == 0 && after)
		*after = built;
	else
		list_snap_free(&built);
	for (i = 0; i < n; i++)
		free(pads[i]);
	free(pads);
	free(vals);
	return rc;
}

static void saved_free(struct list_saved *saved)
{
	free(saved->owned);
	memset(saved, 0, sizeof(*saved));
}

void list_undo_free(struct list_undo *undo)
{
	saved_free(&undo->before);
	saved_free(&undo->stored);
}

/* Keeps a copy of `v` (a str's or bytes' trailing NULs dropped, as a
 * read of it gives them). */
static int saved_set(struct list_saved *saved, const struct shmblock_value *v)
{
	struct list_saved s = { .have = true, .v = *v };

	if (v->type == SHMBLOCK_TYPE_STR || v->type == SHMBLOCK_TYPE_BYTES) {
		while (s.v.s.len && v->s.ptr[s.v.s.len - 1] == '\0')
			s.v.s.len--;
		s.owned = malloc(s.v.s.len ? s.v.s.len : 1);
		if (!s.owned)
			return -ENOMEM;
		memcpy(s.owned, v->s.ptr, s.v.s.len);
		s.v.s.ptr = s.owned;
	}
	saved_free(saved);
	*saved = s;
	return 0;
}

/* Whether two values are the same, bit for bit. */
static bool same_value(const struct shmblock_value *a,
		       const struct shmblock_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case SHMBLOCK_TYPE_INT:
		return a->i == b->i;
	case SHMBLOCK_TYPE_FLOAT:
		return !memcmp(&a->f, &b->f, sizeof(a->f));
	case SHMBLOCK_TYPE_BOOL:
		return a->b == b->b;
	case SHMBLOCK_TYPE_STR:
	case SHMBLOCK_TYPE_BYTES:
		return a->s.len == b->s.len &&
		       !memcmp(a->s.ptr, b->s.ptr, a->s.len);
	default:
		return true;
	}
}

/*
 * Stores `v` into item `index` in place, as CPython's sl[index] = v.
 * With `before`, what the item held is kept there first.
 */
static int store_in_place(struct shmfs *fs, const struct list_view *view,
			  uint64_t index, const struct shmblock_value *v,
			  struct list_saved *before)
{
	struct shmblock_slist_layout one;
	struct shmblock_slist_item item;
	struct shmblock_slist_edit edit;
	struct shmblock_value old;
	char *owned = NULL;
	int rc;

	list_snap_item_layout(&view->snap, index, &one, &item);
	rc = shmblock_slist_encode_set(&one, 0, v, &edit);
	if (rc < 0 || !before)
		goto write;
	rc = list_snap_read(&view->snap, index, &old, &owned);
	if (rc == 0)
		rc = saved_set(before, &old);
	else if (rc == -EILSEQ)
		rc = 0; /* a str CPython can't read either: kept as is */
	free(owned);
write:
	if (rc == 0) {
		shmdir_note_write(fs);
		rc = edit_write(view->fd, &edit);
	}
	return rc;
}

int list_edit_undo(struct shmfs *fs, struct node *list, uint64_t index,
		   struct list_undo *undo)
{
	struct shmblock_value now;
	struct list_view view;
	char *owned = NULL;
	int rc = 0;

	if (!undo->before.have || !undo->stored.have)
		goto out;
	pthread_mutex_lock(&list->lock);
	rc = list_view_load_item(fs, list, index, &view);
	if (rc == 0 && index >= view.snap.lay->count)
		rc = -ENOENT;
	if (rc == 0)
		rc = list_snap_read(&view.snap, index, &now, &owned);
	if (rc == 0 && same_value(&now, &undo->stored.v))
		rc = store_in_place(fs, &view, index, &undo->before.v, NULL);
	free(owned);
	list_view_close(&view);
	pthread_mutex_unlock(&list->lock);
out:
	list_undo_free(undo);
	return rc;
}

int list_edit_set(struct shmfs *fs, struct node *list, uint64_t index, int type,
		  const char *text, size_t len, bool may_grow,
		  struct list_undo *undo)
{
	struct shmblock_value v;
	struct list_view view;
	int rc;

	pthread_mutex_lock(&list->lock);
	rc = list_view_load_item(fs, list, index, &view);
	if (rc < 0)
		goto out_unlock;
	if (index >= view.snap.lay->count) {
		rc = -ENOENT;
		goto out;
	}
	if (type == LIST_TYPE_BARE)
		type = list_snap_type(&view.snap, index);
	rc = type < 0 ? type : list_text_value(type, text, len, &v);
	if (rc < 0)
		goto out;
	rc = store_in_place(fs, &view, index, &v,
			    undo && !undo->before.have ? &undo->before : NULL);
	if (rc == -EFBIG && may_grow) {
		/* A rebuild reads every item: the whole list, loaded again. */
		list_view_close(&view);
		rc = list_view_load(fs, list, &view);
		if (rc == 0 && index >= view.snap.lay->count)
			rc = -ENOENT;
		if (rc == 0)
			rc = rebuild_with(fs, list, &view, index, &v, NULL);
	} else if (rc == 0 && undo && saved_set(&undo->stored, &v) < 0)
		saved_free(&undo->stored); /* then nothing is taken back */
	if (rc == -ERANGE)
		rc = -ENOENT;
out:
	list_view_close(&view);
out_unlock:
	pthread_mutex_unlock(&list->lock);
	return rc;
}

int list_edit_append(struct shmfs *fs, struct node *list, uint64_t index,
		     int type, struct list_snap *after, bool *read_only)
{
	struct shmblock_value v = { .type = (enum shmblock_type)type };
	struct list_view view;
	int rc;

	if (type == SHMBLOCK_TYPE_STR || type == SHMBLOCK_TYPE_BYTES) {
		v.s.ptr = "";
		v.s.len = 0;
	}
	pthread_mutex_lock(&list->lock);
	rc = list_view_load(fs, list, &view);
	if (rc < 0)
		goto out_unlock;
	*read_only = view.read_only;
	if (index < view.snap.lay->count)
		rc = 0;
	else if (index > view.snap.lay->count)
		rc = -ENOENT;
	else if (view.read_only)
		rc = -EACCES;
	else
		rc = rebuild_with(fs, list, &view, index, &v, after);
	if (rc == 0 && index == view.snap.lay->count) {
		rc = 1;
	} else if (rc == 0) {
		/* The copy taken is the list as it is: hand it over. */
		*after = view.snap;
		memset(&view.snap, 0, sizeof(view.snap));
	}
	list_view_close(&view);
out_unlock:
	pthread_mutex_unlock(&list->lock);
	return rc;
}
