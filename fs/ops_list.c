/* SPDX-License-Identifier: MIT */
/* ShareableLists in the mount: a directory of typed item files per list. */

/*
 * A block whose bytes hold a ShareableList is a directory (docs/lists.md):
 *
 *   L/<i>.<type>   item i, type int, float, bool, str, bytes or none; the
 *                  bare <i> and <i>.<any type> resolve too (writes through
 *                  a typed name store that type, CPython's rules)
 *   L/.raw         the block itself, served by the block code (ops_block.c)
 *   L/.format      the struct format string
 *   L/.json        a consistent snapshot of the whole list
 *
 * Python stores through its mapping without any inotify event, so nothing
 * under a list is cached by the kernel: entry and attribute timeouts are 0
 * and files are opened direct_io.  Every request reads a private pread copy
 * of the block (list_block.c), validated before use.  Requests that find the
 * block is no longer a list answer ESTALE when the kernel can look the path
 * up again (lookup, getattr, open) and EIO on an open file.  The list node's
 * lock serializes the mount's own read-modify-write of one list.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"
#include "inode.h"
#include "list_block.h"
#include "list_text.h"
#include "watch.h"

#define XATTR_FORMAT "user.shmfs.format"
#define XATTR_CAPACITY "user.shmfs.capacity"
#define XATTR_VALUE_MAX 65536

/* Child keys of the hidden files; items use (index << 3) | type. */
enum { KEY_RAW = 1, KEY_FORMAT = 2, KEY_JSON = 3 };
/* The type part of an item key for the bare name "<i>". */
#define TYPE_BARE 6
/* Largest value one handle accumulates: an appended str may be this big. */
#define WRITE_MAX (SLIST_MAX_SLOT_BYTES + 1)
#define SLIST_MAX_SLOT_BYTES 9999992u
/* Largest value written to an existing item's handle beyond its capacity. */
#define WRITE_SLACK 4096

static const char *const type_names[] = {
	[SHMBLOCK_TYPE_NONE] = "none",
	[SHMBLOCK_TYPE_INT] = "int",
	[SHMBLOCK_TYPE_FLOAT] = "float",
	[SHMBLOCK_TYPE_BOOL] = "bool",
	[SHMBLOCK_TYPE_STR] = "str",
	[SHMBLOCK_TYPE_BYTES] = "bytes",
};

/*
 * An open item or hidden file.  Threads may read and write one open file at
 * the same time (a descriptor shared by threads), so `lock` protects every
 * field but `append`, which is set before the file is handed out.
 */
struct list_fh {
	pthread_mutex_t lock;
	char *text;             /* what reads return, rendered at offset 0 */
	size_t text_len;
	bool have_text;
	char *wbuf;             /* what the handle wrote, offset-addressed */
	size_t wlen, wcap;
	bool append;            /* created the item: may rebuild the list */
};

static uint64_t item_key(uint64_t index, int type)
{
	return index << 3 | (uint64_t)type;
}

static uint64_t key_index(const struct node *node)
{
	return node->child_key >> 3;
}

static int key_type(const struct node *node)
{
	return (int)(node->child_key & 7);
}

/*
 * Parses "<i>" or "<i>.<type>" (decimal, no leading zeros).  *type is
 * TYPE_BARE without a type.  Errors: -ENOENT.
 */
static int parse_entry_name(const char *name, uint64_t *index, int *type)
{
	const char *p = name, *dot;
	uint64_t i = 0;
	int t;

	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return -ENOENT;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (i > (UINT64_MAX >> 4) / 10)
			return -ENOENT;
		i = i * 10 + (uint64_t)(*p - '0');
	}
	*index = i;
	if (!*p) {
		*type = TYPE_BARE;
		return 0;
	}
	if (*p != '.')
		return -ENOENT;
	dot = p + 1;
	for (t = 0; t <= SHMBLOCK_TYPE_BYTES; t++) {
		if (!strcmp(dot, type_names[t])) {
			*type = t;
			return 0;
		}
	}
	return -ENOENT;
}

/* The block name of a list node; -ESTALE when it has none now. */
static int list_shm_name(struct shmfs *fs, struct node *list,
			 char shm_name[NAME_MAX + 1])
{
	char name[NAME_MAX + 1];
	int rc = inode_name(fs->inodes, list, name);

	if (rc == 0)
		rc = ns_block_name(fs, name, shm_name);
	return rc < 0 ? -ESTALE : 0;
}

/*
 * Opens the list's block by its name and takes a validated copy.  On success
 * the caller closes *fd (if fd is given) and frees the snapshot.
 * Errors: -ESTALE (the name is gone or no longer holds a list), -EAGAIN,
 * -ENOMEM, I/O errors.
 */
static int list_load(struct shmfs *fs, struct node *list, bool stable,
		     int *fd_out, bool *read_only, struct list_snap *snap)
{
	char shm_name[NAME_MAX + 1], mark[8];
	bool ro;
	int fd, rc;

	rc = list_shm_name(fs, list, shm_name);
	if (rc < 0)
		return rc;
	fd = list_block_open(fs, shm_name, &ro);
	if (fd < 0)
		return fd == -ENOENT ? -ESTALE : fd;
	rc = list_snap_take(fd, stable, snap);
	if (rc == -EBADMSG)
		rc = -ESTALE;
	if (rc == 0 && snap->lay->count == 0 &&
	    fgetxattr(fd, LIST_XATTR, mark, sizeof(mark)) <= 0) {
		/* Zeros without mkdir's mark are a plain block. */
		list_snap_free(snap);
		rc = -ESTALE;
	}
	if (rc < 0 || !fd_out)
		close(fd);
	else
		*fd_out = fd;
	if (read_only)
		*read_only = ro;
	return rc;
}

/* On an open file, a list that went away is an I/O error. */
static int open_file_rc(int rc)
{
	return rc == -ESTALE ? -EIO : rc;
}

/* The attributes a list directory shows: the block's, x where r is. */
static void dir_attr(const struct stat *block, struct stat *st)
{
	mode_t perm = block->st_mode & 07777 & ~(mode_t)0111;

	*st = *block;
	perm |= (perm & 0444) >> 2;
	st->st_mode = S_IFDIR | perm;
	st->st_nlink = 2;
}

/* The attributes of a file inside the list: the block's, without x. */
static void file_attr(const struct stat *block, const struct node *node,
		      size_t size, bool read_only, struct stat *st)
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
}

void list_fill_dir_entry(const struct shmfs *fs, struct fuse_entry_param *e,
			 struct node *node, const struct stat *block)
{
	memset(e, 0, sizeof(*e));
	e->ino = inode_id(node);
	e->generation = node->generation;
	dir_attr(block, &e->attr);
	/* The dentry is the watch's to invalidate; the attributes are not. */
	e->entry_timeout = fs->timeout;
	e->attr_timeout = 0;
}

/* Appends to a growing text buffer; -ENOMEM. */
struct text {
	char *buf;
	size_t len, cap;
};

static int text_add(struct text *t, const void *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *b = realloc(t->buf, cap);

		if (!b)
			return -ENOMEM;
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
}

static int text_str(struct text *t, const char *s)
{
	return text_add(t, s, strlen(s));
}

/* Text of a scalar as an item file shows it, without the newline. */
static int scalar_text(const struct shmblock_value *v, char out[64])
{
	switch (v->type) {
	case SHMBLOCK_TYPE_INT:
		return snprintf(out, 64, "%" PRId64, v->i);
	case SHMBLOCK_TYPE_FLOAT:
		return list_text_float(v->f, out, 64);
	case SHMBLOCK_TYPE_BOOL:
		return snprintf(out, 64, "%s", v->b ? "True" : "False");
	default:
		return snprintf(out, 64, "None");
	}
}

/* An item's file content: text and a newline, or a bytes item's bytes. */
static int render_item(const struct list_snap *snap, uint64_t index,
		       struct text *t)
{
	struct shmblock_value v;
	char num[64];
	int rc;

	rc = shmblock_slist_read(snap->lay, snap->buf, snap->len, index, &v);
	if (rc < 0)
		return rc;
	switch (v.type) {
	case SHMBLOCK_TYPE_BYTES:
		rc = text_add(t, v.s.ptr, v.s.len);
		break;
	case SHMBLOCK_TYPE_STR:
		rc = text_add(t, v.s.ptr, v.s.len);
		if (rc == 0)
			rc = text_str(t, "\n");
		break;
	default:
		scalar_text(&v, num);
		rc = text_str(t, num);
		if (rc == 0)
			rc = text_str(t, "\n");
	}
	return rc;
}

/* A JSON string: quotes, escapes, UTF-8 passed through. */
static int json_string(struct text *t, const char *s, size_t len)
{
	char esc[8];
	size_t i;
	int rc = text_str(t, "\"");

	for (i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			rc = text_add(t, esc, 2);
		} else if (c == '\n') {
			rc = text_str(t, "\\n");
		} else if (c == '\t') {
			rc = text_str(t, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			rc = text_str(t, esc);
		} else {
			rc = text_add(t, &s[i], 1);
		}
	}
	return rc ? rc : text_str(t, "\"");
}

/*
 * The whole list as JSON: numbers as Python prints them (non-finite floats
 * as the strings "inf", "-inf", "nan"), True/False as true/false, None as
 * null, str as a string, bytes as {"bytes": "<hex>"}.
 */
static int render_json(const struct list_snap *snap, struct text *t)
{
	static const char hex[] = "0123456789abcdef";
	struct shmblock_value v;
	char num[64];
	uint64_t i;
	size_t k;
	int rc = text_str(t, "[");

	for (i = 0; i < snap->lay->count && rc == 0; i++) {
		if (i)
			rc = text_str(t, ", ");
		if (rc == 0)
			rc = shmblock_slist_read(snap->lay, snap->buf,
						 snap->len, i, &v);
		if (rc < 0)
			break;
		switch (v.type) {
		case SHMBLOCK_TYPE_STR:
			rc = json_string(t, v.s.ptr, v.s.len);
			break;
		case SHMBLOCK_TYPE_BYTES:
			rc = text_str(t, "{\"bytes\": \"");
			for (k = 0; k < v.s.len && rc == 0; k++) {
				char h[2] = {
					hex[(unsigned char)v.s.ptr[k] >> 4],
					hex[(unsigned char)v.s.ptr[k] & 15],
				};

				rc = text_add(t, h, 2);
			}
			if (rc == 0)
				rc = text_str(t, "\"}");
			break;
		case SHMBLOCK_TYPE_NONE:
			rc = text_str(t, "null");
			break;
		case SHMBLOCK_TYPE_BOOL:
			rc = text_str(t, v.b ? "true" : "false");
			break;
		case SHMBLOCK_TYPE_FLOAT:
			scalar_text(&v, num);
			if (strchr(num, 'n'))   /* inf, -inf, nan */
				rc = json_string(t, num, strlen(num));
			else
				rc = text_str(t, num);
			break;
		default:
			scalar_text(&v, num);
			rc = text_str(t, num);
		}
	}
	return rc ? rc : text_str(t, "]\n");
}

static int render_format(const struct list_snap *snap, struct text *t)
{
	ssize_t n = shmblock_slist_format_render(snap->lay, NULL, 0);
	char *buf;
	int rc;

	if (n < 0)
		return (int)n;
	buf = malloc((size_t)n + 1);
	if (!buf)
		return -ENOMEM;
	shmblock_slist_format_render(snap->lay, buf, (size_t)n + 1);
	rc = text_add(t, buf, (size_t)n);
	free(buf);
	return rc ? rc : text_str(t, "\n");
}

/*
 * The content of a file inside the list, from a fresh copy: an item's text
 * (its index checked), .format or .json.  Fills *block with the block's stat.
 */
static int render_node(struct shmfs *fs, struct node *node, struct text *t,
		       struct stat *block, bool *read_only)
{
	bool json = node->kind == NODE_LIST_META && node->child_key == KEY_JSON;
	struct list_snap snap;
	int rc;

	rc = list_load(fs, node->parent, json, NULL, read_only, &snap);
	if (rc < 0)
		return rc;
	*block = snap.st;
	if (node->kind == NODE_LIST_ENTRY) {
		if (key_index(node) >= snap.lay->count)
			rc = -ESTALE;
		else
			rc = render_item(&snap, key_index(node), t);
	} else if (json) {
		rc = render_json(&snap, t);
	} else {
		rc = render_format(&snap, t);
	}
	list_snap_free(&snap);
	return rc;
}

/* Attributes of an item or hidden text file, size from a fresh rendering. */
static int node_attr(struct shmfs *fs, struct node *node, struct stat *st)
{
	struct text t = { 0 };
	struct stat block;
	bool ro;
	int rc = render_node(fs, node, &t, &block, &ro);

	/* An item CPython could not read either (bad UTF-8) shows empty. */
	if (rc == -EILSEQ) {
		free(t.buf);
		t = (struct text){ 0 };
		rc = 0;
	}
	if (rc == 0)
		file_attr(&block, node, t.len,
			  ro || node->kind == NODE_LIST_META, st);
	free(t.buf);
	return rc;
}

static void reply_child(fuse_req_t req, struct node *child,
			const struct stat *st)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = inode_id(child);
	e.generation = child->generation;
	e.attr = *st;
	if (fuse_reply_entry(req, &e) != 0)
		inode_forget(req_fs(req)->inodes, child, 1);
}

/* Replies with a child just referenced, and its fresh attributes. */
static void reply_child_attr(fuse_req_t req, struct node *child)
{
	struct stat st;
	int rc = node_attr(req_fs(req), child, &st);

	if (rc < 0) {
		inode_forget(req_fs(req)->inodes, child, 1);
		reply_rc(req, rc);
		return;
	}
	reply_child(req, child, &st);
}

/* Replies with item `index` of `dir` as a `type` entry, referenced. */
static void reply_item_entry(fuse_req_t req, struct node *dir,
			     uint64_t index, int type)
{
	struct node *child;
	int rc = inode_ref_child(req_fs(req)->inodes, dir, NODE_LIST_ENTRY,
				 item_key(index, type), NULL, &child);

	if (rc < 0)
		reply_rc(req, rc);
	else
		reply_child_attr(req, child);
}

void list_lookup(fuse_req_t req, struct node *dir, const char *name)
{
	struct shmfs *fs = req_fs(req);
	struct list_snap snap;
	struct node *child;
	struct stat st;
	uint64_t index;
	int rc, type;

	if (!strcmp(name, ".raw")) {
		rc = list_load(fs, dir, false, NULL, NULL, &snap);
		if (rc < 0)
			goto out_err;
		st = snap.st;
		list_snap_free(&snap);
		rc = inode_ref_child(fs->inodes, dir, NODE_LIST_RAW, KEY_RAW,
				     &st, &child);
		if (rc < 0)
			goto out_err;
		reply_child(req, child, &st);
		return;
	}
	if (!strcmp(name, ".format") || !strcmp(name, ".json")) {
		rc = inode_ref_child(fs->inodes, dir, NODE_LIST_META,
				     name[1] == 'f' ? KEY_FORMAT : KEY_JSON,
				     NULL, &child);
		if (rc < 0)
			goto out_err;
		goto out_attr;
	}
	rc = parse_entry_name(name, &index, &type);
	if (rc < 0)
		goto out_err;
	rc = list_load(fs, dir, false, NULL, NULL, &snap);
	if (rc < 0)
		goto out_err;
	rc = index < snap.lay->count ? 0 : -ENOENT;
	list_snap_free(&snap);
	if (rc < 0)
		goto out_err;
	reply_item_entry(req, dir, index, type);
	return;
out_attr:
	reply_child_attr(req, child);
	return;
out_err:
	reply_rc(req, rc);
}

void list_getattr(fuse_req_t req, struct node *node)
{
	struct shmfs *fs = req_fs(req);
	struct list_snap snap;
	struct stat st;
	int rc;

	if (node->kind == NODE_LIST) {
		rc = list_load(fs, node, false, NULL, NULL, &snap);
		if (rc == 0) {
			dir_attr(&snap.st, &st);
			list_snap_free(&snap);
		}
	} else {
		rc = node_attr(fs, node, &st);
	}
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, 0);
}

/* chmod, chown and times of a list directory go to its block. */
static int set_dir_attrs(int fd, const struct stat *attr, int to_set)
{
	if (to_set & FUSE_SET_ATTR_SIZE)
		return -EISDIR;
	/* The block keeps a file's mode: the directory's x bits are derived. */
	return fd_set_attrs(fd, attr, to_set, ~(mode_t)0111);
}

void list_setattr(fuse_req_t req, struct node *node, struct stat *attr,
		  int to_set)
{
	struct shmfs *fs = req_fs(req);
	struct list_snap snap;
	struct stat st;
	int fd, rc;

	if (node->kind == NODE_LIST) {
		rc = list_load(fs, node, false, &fd, NULL, &snap);
		if (rc < 0)
			goto out_err;
		list_snap_free(&snap);
		rc = set_dir_attrs(fd, attr, to_set);
		if (rc == 0 && fstat(fd, &st) < 0)
			rc = -errno;
		close(fd);
		if (rc < 0)
			goto out_err;
		dir_attr(&st, &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	/* Items: truncating to 0 is how shells open for writing; a no-op. */
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		      FUSE_SET_ATTR_GID)) {
		rc = -EPERM;
		goto out_err;
	}
	if (to_set & FUSE_SET_ATTR_SIZE &&
	    (attr->st_size != 0 || node->kind == NODE_LIST_META)) {
		rc = node->kind == NODE_LIST_META ? -EACCES : -EINVAL;
		goto out_err;
	}
	rc = node_attr(fs, node, &st);
	if (rc < 0)
		goto out_err;
	fuse_reply_attr(req, &st, 0);
	return;
out_err:
	reply_rc(req, rc);
}

static void fh_free(struct list_fh *fh)
{
	if (!fh)
		return;
	/*
	 * The kernel completes a read while our reply is being written, so
	 * the RELEASE that follows a close can arrive while the reading
	 * thread still holds the file: wait for it to let go.
	 */
	pthread_mutex_lock(&fh->lock);
	pthread_mutex_unlock(&fh->lock);
	pthread_mutex_destroy(&fh->lock);
	free(fh->text);
	free(fh->wbuf);
	free(fh);
}

/* Opens an item or hidden text file: checks and fills fi. */
static int open_prepare(struct shmfs *fs, struct node *node,
			struct fuse_file_info *fi, bool append)
{
	int accmode = fi->flags & O_ACCMODE;
	struct list_fh *fh;
	struct text t = { 0 };
	struct stat block;
	bool ro;
	int rc;

	if (node->kind == NODE_LIST_META && accmode != O_RDONLY)
		return -EACCES;
	rc = render_node(fs, node, &t, &block, &ro);
	if (rc == -EILSEQ)
		rc = 0;
	if (rc < 0)
		goto fail;
	if (accmode != O_RDONLY && ro) {
		rc = -EACCES;
		goto fail;
	}
	fh = calloc(1, sizeof(*fh));
	if (!fh) {
		rc = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&fh->lock, NULL);
	/* .format and .json are what they were at open; items read fresh. */
	if (node->kind == NODE_LIST_META) {
		fh->text = t.buf;
		fh->text_len = t.len;
		fh->have_text = true;
		t.buf = NULL;
	}
	fh->append = append;
	fi->fh = (uintptr_t)fh;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;
	rc = 0;
fail:
	free(t.buf);
	return rc;
}

void list_open(fuse_req_t req, struct node *node, struct fuse_file_info *fi)
{
	int rc = open_prepare(req_fs(req), node, fi, false);

	if (rc < 0)
		reply_rc(req, rc);
	else if (fuse_reply_open(req, fi) != 0)
		fh_free((struct list_fh *)(uintptr_t)fi->fh);
}

void list_release(fuse_req_t req, struct fuse_file_info *fi)
{
	fh_free((struct list_fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

void list_read(fuse_req_t req, struct node *node, size_t size, off_t off,
	       struct fuse_file_info *fi)
{
	struct list_fh *fh = (struct list_fh *)(uintptr_t)fi->fh;
	struct text t = { 0 };
	struct stat block;
	bool ro;
	int rc;

	pthread_mutex_lock(&fh->lock);
	/* An item is read anew at offset 0, so a store shows at once. */
	if (node->kind == NODE_LIST_ENTRY && (off == 0 || !fh->have_text)) {
		rc = render_node(req_fs(req), node, &t, &block, &ro);
		if (rc < 0) {
			free(t.buf);
			reply_rc(req, open_file_rc(rc));
			goto out_unlock;
		}
		free(fh->text);
		fh->text = t.buf;
		fh->text_len = t.len;
		fh->have_text = true;
	}
	if (off < 0 || (uint64_t)off >= fh->text_len) {
		fuse_reply_buf(req, NULL, 0);
		goto out_unlock;
	}
	if (size > fh->text_len - (size_t)off)
		size = fh->text_len - (size_t)off;
	fuse_reply_buf(req, fh->text + off, size);
out_unlock:
	pthread_mutex_unlock(&fh->lock);
}

/*
 * The value the text means for `type`.  str and bytes point into `text`.
 * Errors: -EINVAL (doesn't parse), the int parser's -ERANGE as -EINVAL.
 */
static int parse_value(int type, const char *text, size_t len,
		       struct shmblock_value *v)
{
	int rc = 0;

	v->type = (enum shmblock_type)type;
	switch (type) {
	case SHMBLOCK_TYPE_INT:
		rc = list_text_parse_int(text, len, &v->i);
		break;
	case SHMBLOCK_TYPE_FLOAT:
		rc = list_text_parse_float(text, len, &v->f);
		break;
	case SHMBLOCK_TYPE_BOOL:
		rc = list_text_parse_bool(text, len, &v->b);
		break;
	case SHMBLOCK_TYPE_NONE:
		rc = list_text_parse_none(text, len);
		break;
	case SHMBLOCK_TYPE_STR:
		v->s.ptr = text;
		v->s.len = list_text_str_len(text, len);
		break;
	default:
		v->s.ptr = text;
		v->s.len = len;
	}
	return rc < 0 ? -EINVAL : 0;
}

/*
 * The values of every item for a rebuild, item `index` replaced by `value`
 * (or appended when index == count).  str and bytes items keep their slot's
 * capacity: they are padded with NULs, which reading strips, as CPython.
 * *pads gets the padding buffers to free.
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
		rc = shmblock_slist_read(snap->lay, snap->buf, snap->len, i,
					 &vals[i]);
		if (rc < 0 || (vals[i].type != SHMBLOCK_TYPE_STR &&
			       vals[i].type != SHMBLOCK_TYPE_BYTES) ||
		    cap == 0 || cap - 1 <= vals[i].s.len)
			continue;
		pad[i] = calloc(1, cap - 1);
		if (!pad[i]) {
			rc = -ENOMEM;
			break;
		}
		memcpy(pad[i], vals[i].s.ptr, vals[i].s.len);
		vals[i].s.ptr = pad[i];
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

/* Rebuilds the list with item `index` set (or appended) to `value`. */
static int rebuild_with(struct shmfs *fs, struct node *list, int fd,
			const struct list_snap *snap, uint64_t index,
			const struct shmblock_value *value)
{
	char shm_name[NAME_MAX + 1], **pads = NULL;
	struct shmblock_value *vals = NULL;
	struct stat st;
	int n, i, rc;

	/* New layouts are 3.9+; rewriting a 3.8 list would break its peers. */
	if (snap->lay->version != SHMBLOCK_SLIST_PY39)
		return -EOPNOTSUPP;
	rc = list_shm_name(fs, list, shm_name);
	if (rc < 0)
		return rc;
	n = rebuild_values(snap, index, value, &vals, &pads);
	if (n < 0)
		return n;
	rc = list_rebuild(fs, shm_name, fd, snap, vals, (size_t)n, &st);
	if (rc == 0)
		inode_rekey(fs->inodes, list, &st);
	for (i = 0; i < n; i++)
		free(pads[i]);
	free(pads);
	free(vals);
	return rc;
}

/*
 * Sets the item of `node` from the text its handle holds.  Under the list's
 * lock: nothing else in the mount edits the list meanwhile.
 */
static int apply_write(struct shmfs *fs, struct node *node,
		       struct list_fh *fh)
{
	struct node *list = node->parent;
	uint64_t index = key_index(node);
	struct shmblock_slist_edit edit;
	struct shmblock_value v;
	struct list_snap snap;
	const char *text = fh->wbuf ? fh->wbuf : "";
	int type, fd, rc;

	pthread_mutex_lock(&list->lock);
	rc = list_load(fs, list, false, &fd, NULL, &snap);
	if (rc < 0)
		goto out_unlock;
	if (index >= snap.lay->count) {
		rc = -ENOENT;
		goto out;
	}
	type = key_type(node);
	if (type == TYPE_BARE)
		type = (int)snap.lay->items[index].type;
	rc = parse_value(type, text, fh->wlen, &v);
	if (rc < 0)
		goto out;
	rc = shmblock_slist_encode_set(snap.lay, index, &v, &edit);
	if (rc == -EFBIG && fh->append)
		rc = rebuild_with(fs, list, fd, &snap, index, &v);
	else if (rc == 0)
		rc = list_edit_write(fd, &edit);
	if (rc == -ERANGE)
		rc = -ENOENT;
out:
	list_snap_free(&snap);
	close(fd);
out_unlock:
	pthread_mutex_unlock(&list->lock);
	return rc;
}

static void write_locked(fuse_req_t req, struct node *node, const char *buf,
			 size_t size, off_t off, struct fuse_file_info *fi)
{
	struct list_fh *fh = (struct list_fh *)(uintptr_t)fi->fh;
	struct shmfs *fs = req_fs(req);
	size_t end, limit = WRITE_MAX;
	char *old = NULL;
	size_t old_len = fh->wlen;
	int rc;

	if (node->kind != NODE_LIST_ENTRY) {
		reply_rc(req, -EBADF);
		return;
	}
	if (fi->flags & O_APPEND)
		off = (off_t)fh->wlen;
	if (off < 0 || (uint64_t)off > limit || size > limit - (size_t)off) {
		reply_rc(req, -EFBIG);
		return;
	}
	end = (size_t)off + size;
	if (end > fh->wcap) {
		size_t cap = end < 64 ? 64 : end * 2 > limit ? limit : end * 2;
		char *b = realloc(fh->wbuf, cap);

		if (!b) {
			reply_rc(req, -ENOMEM);
			return;
		}
		fh->wbuf = b;
		fh->wcap = cap;
	}
	/* Keep what this write overwrites, to undo it if the value fails. */
	if (off < (off_t)fh->wlen) {
		size_t n = end < fh->wlen ? size : fh->wlen - (size_t)off;

		old = malloc(n ? n : 1);
		if (!old) {
			reply_rc(req, -ENOMEM);
			return;
		}
		memcpy(old, fh->wbuf + off, n);
	}
	if ((size_t)off > fh->wlen)
		memset(fh->wbuf + fh->wlen, 0, (size_t)off - fh->wlen);
	memcpy(fh->wbuf + off, buf, size);
	if (end > fh->wlen)
		fh->wlen = end;
	rc = apply_write(fs, node, fh);
	if (rc < 0) {
		if (old)
			memcpy(fh->wbuf + off, old,
			       end < old_len ? size : old_len - (size_t)off);
		fh->wlen = old_len;
		free(old);
		reply_rc(req, open_file_rc(rc));
		return;
	}
	free(old);
	fh->have_text = false;
	fuse_reply_write(req, size);
}

void list_write(fuse_req_t req, struct node *node, const char *buf,
		size_t size, off_t off, struct fuse_file_info *fi)
{
	struct list_fh *fh = (struct list_fh *)(uintptr_t)fi->fh;

	pthread_mutex_lock(&fh->lock);
	write_locked(req, node, buf, size, off, fi);
	pthread_mutex_unlock(&fh->lock);
}

/*
 * Appends item `index` of `type` (its default value) when index is the
 * list's length.  Returns 1 when appended, 0 when the item exists already.
 * Errors: -ENOENT (an index beyond the end: the "an index beyond the
 * list gives ENOENT", which a shell's `echo x > L/9.int` meets here),
 * -EACCES (read-only block), and those of a rebuild.
 */
static int append_item(struct shmfs *fs, struct node *list, uint64_t index,
		       int type)
{
	struct shmblock_value v = { .type = (enum shmblock_type)type };
	struct list_snap snap;
	bool ro;
	int fd, rc;

	/* The defaults: 0, 0.0, False, None, "" and b"". */
	if (type == SHMBLOCK_TYPE_STR || type == SHMBLOCK_TYPE_BYTES) {
		v.s.ptr = "";
		v.s.len = 0;
	}
	pthread_mutex_lock(&list->lock);
	rc = list_load(fs, list, false, &fd, &ro, &snap);
	if (rc < 0)
		goto out_unlock;
	if (index < snap.lay->count)
		rc = 0;
	else if (index > snap.lay->count)
		rc = -ENOENT;
	else if (ro)
		rc = -EACCES;
	else
		rc = rebuild_with(fs, list, fd, &snap, index, &v);
	if (rc == 0 && index == snap.lay->count)
		rc = 1;
	list_snap_free(&snap);
	close(fd);
out_unlock:
	pthread_mutex_unlock(&list->lock);
	return rc;
}

/* What create and mknod may make: "<len>.<type>". */
static int creatable(const char *name, uint64_t *index, int *type)
{
	if (!strcmp(name, ".raw") || !strcmp(name, ".format") ||
	    !strcmp(name, ".json"))
		return -EEXIST;
	if (parse_entry_name(name, index, type) < 0 || *type == TYPE_BARE)
		return -EINVAL;
	return 0;
}

void list_create(fuse_req_t req, struct node *dir, const char *name,
		 mode_t mode, struct fuse_file_info *fi)
{
	struct shmfs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct node *child;
	uint64_t index;
	bool appended;
	int type, rc;

	rc = creatable(name, &index, &type);
	if (rc < 0)
		goto out_err;
	rc = append_item(fs, dir, index, type);
	if (rc == 0 && (fi->flags & O_EXCL))
		rc = -EEXIST;
	if (rc < 0)
		goto out_err;
	appended = rc == 1;
	rc = inode_ref_child(fs->inodes, dir, NODE_LIST_ENTRY,
			     item_key(index, type), NULL, &child);
	if (rc < 0)
		goto out_err;
	memset(&e, 0, sizeof(e));
	e.ino = inode_id(child);
	e.generation = child->generation;
	rc = node_attr(fs, child, &e.attr);
	if (rc == 0)
		rc = open_prepare(fs, child, fi, appended);
	if (rc < 0) {
		inode_forget(fs->inodes, child, 1);
		goto out_err;
	}
	if (fuse_reply_create(req, &e, fi) != 0) {
		fh_free((struct list_fh *)(uintptr_t)fi->fh);
		inode_forget(fs->inodes, child, 1);
	}
	return;
out_err:
	reply_rc(req, rc);
}

void list_mknod(fuse_req_t req, struct node *dir, const char *name,
		mode_t mode)
{
	struct shmfs *fs = req_fs(req);
	uint64_t index;
	int type, rc;

	if ((mode & S_IFMT) != S_IFREG && (mode & S_IFMT) != 0) {
		reply_rc(req, -EPERM);
		return;
	}
	rc = creatable(name, &index, &type);
	if (rc == 0)
		rc = append_item(fs, dir, index, type);
	if (rc == 0)
		rc = -EEXIST;
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	reply_item_entry(req, dir, index, type);
}

/* A listing: the hidden files, then "<i>.<type>" per item. */
struct list_dir {
	char **names;
	size_t count;
};

static void list_dir_clear(struct list_dir *d)
{
	size_t i;

	for (i = 0; i < d->count; i++)
		free(d->names[i]);
	free(d->names);
	d->names = NULL;
	d->count = 0;
}

static int list_dir_take(struct shmfs *fs, struct node *list,
			 struct list_dir *d)
{
	static const char *const hidden[] = { ".format", ".json", ".raw" };
	struct list_snap snap;
	char name[40];
	uint64_t i;
	int rc;

	list_dir_clear(d);
	rc = list_load(fs, list, false, NULL, NULL, &snap);
	if (rc < 0)
		return rc;
	d->names = calloc(snap.lay->count + 3, sizeof(*d->names));
	if (!d->names) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < 3; i++)
		if (!(d->names[d->count++] = strdup(hidden[i])))
			rc = -ENOMEM;
	for (i = 0; i < snap.lay->count && rc == 0; i++) {
		snprintf(name, sizeof(name), "%" PRIu64 ".%s", i,
			 type_names[snap.lay->items[i].type]);
		if (!(d->names[d->count++] = strdup(name)))
			rc = -ENOMEM;
	}
out:
	list_snap_free(&snap);
	if (rc < 0)
		list_dir_clear(d);
	return rc;
}

void list_opendir(fuse_req_t req, struct node *dir, struct fuse_file_info *fi)
{
	struct list_dir *d = calloc(1, sizeof(*d));
	struct list_snap snap;
	int rc;

	if (!d) {
		reply_rc(req, -ENOMEM);
		return;
	}
	rc = list_load(req_fs(req), dir, false, NULL, NULL, &snap);
	if (rc < 0) {
		free(d);
		reply_rc(req, rc);
		return;
	}
	list_snap_free(&snap);
	fi->fh = (uintptr_t)d;
	/* The listing changes without any event: never cache it. */
	fi->cache_readdir = 0;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) != 0)
		free(d);
}

void list_releasedir(fuse_req_t req, struct fuse_file_info *fi)
{
	struct list_dir *d = (struct list_dir *)(uintptr_t)fi->fh;

	list_dir_clear(d);
	free(d);
	fuse_reply_err(req, 0);
}

void list_readdir(fuse_req_t req, struct node *dir, size_t size, off_t off,
		  struct fuse_file_info *fi, bool plus)
{
	struct list_dir *d = (struct list_dir *)(uintptr_t)fi->fh;
	struct fuse_entry_param e;
	size_t used = 0, n, i;
	const char *name;
	char *buf;
	int rc;

	if (off == 0) {
		rc = list_dir_take(req_fs(req), dir, d);
		if (rc < 0) {
			reply_rc(req, open_file_rc(rc));
			return;
		}
	}
	buf = malloc(size);
	if (!buf) {
		reply_rc(req, -ENOMEM);
		return;
	}
	for (i = (size_t)off; i < d->count + 2; i++) {
		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i == 0 ? "." : "..";
			e.attr.st_mode = S_IFDIR;
		} else {
			name = d->names[i - 2];
			e.attr.st_mode = S_IFREG;
		}
		e.attr.st_ino = (ino_t)(i + 1);
		/*
		 * Plus entries carry no node (ino 0): the kernel looks each
		 * name up, since nothing under a list may be cached anyway.
		 */
		n = plus ? fuse_add_direntry_plus(req, buf + used, size - used,
						  name, &e, (off_t)i + 1)
			 : fuse_add_direntry(req, buf + used, size - used,
					     name, &e.attr, (off_t)i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* Replies to getxattr with `value` (or its size). */
static void reply_value(fuse_req_t req, const char *value, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		reply_rc(req, -ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

void list_getxattr(fuse_req_t req, struct node *node, const char *name,
		   size_t size)
{
	struct shmfs *fs = req_fs(req);
	struct text t = { 0 };
	struct list_snap snap;
	char num[32], *buf = NULL;
	ssize_t n;
	int fd, rc;

	if (node->kind == NODE_LIST_META) {
		reply_rc(req, -ENODATA);
		return;
	}
	if (node->kind == NODE_LIST_ENTRY) {
		if (strcmp(name, XATTR_CAPACITY)) {
			reply_rc(req, -ENODATA);
			return;
		}
		rc = list_load(fs, node->parent, false, NULL, NULL, &snap);
		if (rc == 0 && key_index(node) >= snap.lay->count) {
			list_snap_free(&snap);
			rc = -ESTALE;
		}
		if (rc < 0) {
			reply_rc(req, rc);
			return;
		}
		snprintf(num, sizeof(num), "%" PRIu64,
			 snap.lay->items[key_index(node)].capacity);
		list_snap_free(&snap);
		reply_value(req, num, strlen(num), size);
		return;
	}
	rc = list_load(fs, node, false, &fd, NULL, &snap);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	if (!strcmp(name, XATTR_FORMAT)) {
		rc = render_format(&snap, &t);
		if (rc == 0)
			reply_value(req, t.buf, t.len - 1, size);
		else
			reply_rc(req, rc);
		goto out;
	}
	/* Anything else is the block's own. */
	if (size > XATTR_VALUE_MAX)
		size = XATTR_VALUE_MAX;
	if (size && !(buf = malloc(size))) {
		reply_rc(req, -ENOMEM);
		goto out;
	}
	n = fgetxattr(fd, name, buf, size);
	if (n < 0)
		reply_rc(req, -errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
out:
	free(buf);
	free(t.buf);
	list_snap_free(&snap);
	close(fd);
}

void list_listxattr(fuse_req_t req, struct node *node, size_t size)
{
	static const char capacity[] = XATTR_CAPACITY;
	static const char format[] = XATTR_FORMAT;
	struct list_snap snap;
	char *buf = NULL;
	ssize_t n;
	size_t len;
	int fd, rc;

	if (node->kind == NODE_LIST_META) {
		reply_value(req, "", 0, size);
		return;
	}
	if (node->kind == NODE_LIST_ENTRY) {
		reply_value(req, capacity, sizeof(capacity), size);
		return;
	}
	rc = list_load(req_fs(req), node, false, &fd, NULL, &snap);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	list_snap_free(&snap);
	n = flistxattr(fd, NULL, 0);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	len = (size_t)n + sizeof(format);
	buf = malloc(len);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	n = flistxattr(fd, buf, (size_t)n);
	if (n < 0) {
		rc = errno == ERANGE ? -EAGAIN : -errno;
		goto out;
	}
	memcpy(buf + n, format, sizeof(format));
	len = (size_t)n + sizeof(format);
	reply_value(req, buf, len, size);
out:
	if (rc < 0)
		reply_rc(req, rc);
	free(buf);
	close(fd);
}

void list_setxattr(fuse_req_t req, struct node *node, const char *name,
		   const char *value, size_t size, int flags, bool remove)
{
	struct shmfs *fs = req_fs(req);
	struct list_snap snap;
	int fd, rc;

	/* Items, hidden files and the computed format are not settable. */
	if (node->kind != NODE_LIST || !strcmp(name, XATTR_FORMAT)) {
		reply_rc(req, -EPERM);
		return;
	}
	rc = list_load(fs, node, false, &fd, NULL, &snap);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	list_snap_free(&snap);
	if (remove ? fremovexattr(fd, name) : fsetxattr(fd, name, value, size,
							flags))
		rc = -errno;
	close(fd);
	fuse_reply_err(req, -rc);
}

void list_mkdir(fuse_req_t req, const char *name, mode_t mode)
{
	struct shmfs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct node *node;
	struct stat st;
	int fd, rc;

	/* The block is a file: its mode is the directory's without x. */
	fd = ns_make_block(req, name, mode & 07666, O_RDWR, &st);
	if (fd < 0) {
		rc = fd;
		goto out_err;
	}
	/* Marked before it has its 16 bytes: never zeros without the mark. */
	if (fsetxattr(fd, LIST_XATTR, "1", 1, 0) < 0)
		goto fail;
	if (!fs->sparse && (rc = -posix_fallocate(fd, 0, 16)) < 0)
		goto fail_rc;
	if (ftruncate(fd, 16) < 0 || fstat(fd, &st) < 0)
		goto fail;
	close(fd);
	rc = inode_ref_list(fs->inodes, name, &st, &node);
	if (rc < 0) {
		ns_unmake_block(fs, name, &st);
		goto out_err;
	}
	list_fill_dir_entry(fs, &e, node, &st);
	if (fuse_reply_entry(req, &e) != 0)
		inode_forget(fs->inodes, node, 1);
	return;

fail:
	rc = -errno;
fail_rc:
	ns_unmake_block(fs, name, &st);
	close(fd);
out_err:
	reply_rc(req, rc);
}
