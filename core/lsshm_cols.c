/* SPDX-License-Identifier: MIT */
/* lsshm's columns: the table of them, and the text of each cell. */

#include <errno.h>
#include <fcntl.h>
#include <libsmartcols.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsshm_cols.h"

const struct colinfo columns[NCOLS] = {
	[COL_NAME] = { "NAME", 0.2, 0, SCOLS_JSON_STRING,
		       "block name (deleted: the last name it had)", "Name" },
	[COL_INODE] = { "INODE", 5, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
			"inode number", "Inode" },
	[COL_SIZE] = { "SIZE", 5, SCOLS_FL_RIGHT, SCOLS_JSON_STRING,
		       "size (st_size)", "Size" },
	[COL_ALLOC] = { "ALLOC", 5, SCOLS_FL_RIGHT, SCOLS_JSON_STRING,
			"memory it takes (st_blocks)", "Allocated" },
	[COL_OWNER] = { "OWNER", 8, 0, SCOLS_JSON_STRING, "owner's user name",
			"Owner" },
	[COL_UID] = { "UID", 5, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
		      "owner's user id", "Owner UID" },
	[COL_GROUP] = { "GROUP", 8, 0, SCOLS_JSON_STRING, "group name",
			"Group" },
	[COL_MODE] = { "MODE", 10, 0, SCOLS_JSON_STRING,
		       "permissions, as ls -l (octal with -P)", "Permissions" },
	[COL_KIND] = { "KIND", 8, 0, SCOLS_JSON_STRING,
		       "plain, list[N] (a ShareableList of N items),\n"
		       "            array[DTYPE SHAPE] (a .npy block; declared: "
		       "by its xattrs),\n"
		       "            semaphore",
		       "Kind" },
	[COL_DTYPE] = { "DTYPE", 5, SCOLS_FL_TRUNC, SCOLS_JSON_STRING,
			"an array's NumPy dtype (descr), as <f8", "Dtype" },
	[COL_SHAPE] = { "SHAPE", 5, 0, SCOLS_JSON_STRING,
			"an array's shape, as 1000x3 (() if 0-d)", "Shape" },
	[COL_VALUE] = { "VALUE", 5, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
			"a semaphore's value (sem_getvalue)", "Value" },
	[COL_WAITERS] = { "WAITERS", 3, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
			  "threads waiting on a semaphore", "Waiters" },
	[COL_NHOLDERS] = { "NHOLDERS", 3, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
			   "number of processes holding it",
			   "Number of holders" },
	[COL_HOLDERS] = { "HOLDERS", 0.3, SCOLS_FL_TRUNC, SCOLS_JSON_STRING,
			  "holders as PID(COMMAND), comma-separated",
			  "Holders" },
	[COL_WRITERS] = { "WRITERS", 3, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
			  "holders with a shared writable mapping", "Writers" },
	[COL_LIFETIME] = { "LIFETIME", 8, 0, SCOLS_JSON_STRING,
			   "lifetime policy (user.shmfs.lifetime), if any",
			   "Lifetime" },
};

const int default_cols[8] = { COL_NAME, COL_SIZE, COL_ALLOC,	COL_OWNER,
			      COL_MODE, COL_KIND, COL_NHOLDERS, COL_HOLDERS };
const int deleted_cols[8] = { COL_NAME,	 COL_INODE, COL_SIZE,	  COL_ALLOC,
			      COL_OWNER, COL_MODE,  COL_NHOLDERS, COL_HOLDERS };

bool wanted(const struct opts *o, const struct shmblock_holders_entry *e)
{
	size_t i;

	if (o->nusers) {
		if (!e->have_stat)
			return false;
		for (i = 0; i < o->nusers && o->users[i] != e->uid; i++)
			;
		if (i == o->nusers)
			return false;
	}
	if (o->id && (e->deleted || strcmp(e->name, o->id)))
		return false;
	if (!o->pid)
		return e->deleted == o->deleted;
	if (o->deleted && !e->deleted)
		return false;
	for (i = 0; i < e->nholders; i++)
		if (e->holders[i].pid == o->pid)
			return true;
	return false;
}

/*
 * The block's lifetime as the daemon reads it (one parser for both):
 * empty without one, "invalid" for a value no daemon follows.
 */
static void lifetime_of(const struct opts *o,
			const struct shmblock_holders_entry *e, struct sbuf *b)
{
	struct shmblock_lifetime lt;
	char buf[512];
	int rc;

	if (e->deleted || !S_ISREG(e->mode))
		return;
	rc = shmblock_get_lifetime(o->dirfd, e->name, &lt);
	if (rc == -EBADMSG) {
		sb_str(b, "invalid");
	} else if (rc == 0 && lt.kind != SHMBLOCK_LIFETIME_PERSIST) {
		buf[0] = '\0';
		shmblock_lifetime_format(&lt, buf, sizeof(buf));
		sb_str(b, buf);
	}
}

void row_start(struct row *r, const struct shmblock_holders_entry *e)
{
	memset(r, 0, sizeof(*r));
	r->e = e;
}

void row_end(struct row *r)
{
	if (r->have_kind)
		lsshm_kind_free(&r->kind);
	r->have_kind = false;
}

const struct lsshm_kind *row_kind(const struct opts *o,
				  const struct shmblock_holders *snap,
				  struct row *r)
{
	if (!r->have_kind) {
		if (lsshm_kind_get(o->dirfd, snap, r->e, &r->kind) < 0) {
			lsshm_kind_free(&r->kind);
			return NULL;
		}
		r->have_kind = true;
	}
	return &r->kind;
}

/* The cells of the kind's columns: empty where the kind has none. */
static void kind_cell(const struct lsshm_kind *k, int col, struct sbuf *b)
{
	bool array = k->type == LSSHM_ARRAY || k->type == LSSHM_DECLARED;
	bool sem = k->type == LSSHM_SEMAPHORE && k->have_sem;

	switch (col) {
	case COL_KIND:
		lsshm_kind_text(k, b);
		break;
	case COL_DTYPE:
		if (array)
			sb_add(b, k->dtype.s, k->dtype.len);
		break;
	case COL_SHAPE:
		if (array)
			sb_add(b, k->shape.s, k->shape.len);
		break;
	case COL_VALUE:
		if (sem)
			sb_u64(b, k->sem.value);
		break;
	case COL_WAITERS:
		if (sem)
			sb_u64(b, k->sem.waiters);
		break;
	}
}

/*
 * Appends the text of one cell to `b`; nothing for an unknown value, an
 * empty cell (null in JSON).  Both printers take the cells from here.
 */
void cell_text(const struct opts *o, const struct shmblock_holders *snap,
	       struct row *r, int col, struct sbuf *b)
{
	const struct shmblock_holders_entry *e = r->e;
	const struct lsshm_kind *k;
	char mode[11];
	size_t i;
	unsigned w = 0;

	switch (col) {
	case COL_NAME:
		sb_str(b, e->name);
		/* In a mixed view (--pid), tell a deleted entry by its name. */
		if (e->deleted && !o->deleted)
			sb_str(b, " (deleted)");
		break;
	case COL_INODE:
		sb_u64(b, e->ino);
		break;
	case COL_SIZE:
	case COL_ALLOC: {
		uint64_t v = col == COL_SIZE ? e->size : e->alloc;

		if (!e->have_stat)
			break;
		if (o->bytes)
			sb_u64(b, v);
		else
			human_size(v, b);
		break;
	}
	case COL_OWNER:
		if (e->have_stat)
			id_name(e->uid, false, b);
		break;
	case COL_UID:
		if (e->have_stat)
			sb_u64(b, e->uid);
		break;
	case COL_GROUP:
		if (e->have_stat)
			id_name(e->gid, true, b);
		break;
	case COL_MODE:
		if (!e->have_stat)
			break;
		if (o->numperms)
			snprintf(mode, sizeof(mode), "%04o",
				 (unsigned)(e->mode & 07777));
		else
			mode_string(e->mode, mode);
		sb_str(b, mode);
		break;
	case COL_KIND:
	case COL_DTYPE:
	case COL_SHAPE:
	case COL_VALUE:
	case COL_WAITERS:
		k = row_kind(o, snap, r);
		if (k)
			kind_cell(k, col, b);
		else
			b->failed = true;
		break;
	case COL_NHOLDERS:
		sb_u64(b, e->nholders);
		break;
	case COL_HOLDERS:
		/* "pid(comm),pid(comm)" */
		for (i = 0; i < e->nholders; i++) {
			if (i)
				sb_char(b, ',');
			sb_u64(b, (uint64_t)e->holders[i].pid);
			sb_char(b, '(');
			sb_str(b, e->holders[i].comm);
			sb_char(b, ')');
		}
		break;
	case COL_LIFETIME:
		lifetime_of(o, e, b);
		break;
	case COL_WRITERS:
		for (i = 0; i < e->nholders; i++)
			w += !!(e->holders[i].how & SHMBLOCK_HELD_MAP_WRITE);
		sb_u64(b, w);
		break;
	}
}

/* The JSON type of a column as printed: sizes are numbers with --bytes. */
int json_type(const struct opts *o, int col)
{
	if ((col == COL_SIZE || col == COL_ALLOC) && o->bytes)
		return SCOLS_JSON_NUMBER;
	return columns[col].json;
}

int add_columns(const struct opts *o, struct libscols_table *tb)
{
	size_t i;

	for (i = 0; i < o->ncols; i++) {
		const struct colinfo *ci = &columns[o->cols[i]];
		struct libscols_column *cl;

		cl = scols_table_new_column(
			tb, ci->name, ci->whint,
			o->notruncate ? ci->flags & ~SCOLS_FL_TRUNC
				      : ci->flags);
		if (!cl)
			return -ENOMEM;
		if (o->json) {
			char lower[16];
			size_t k;

			for (k = 0; ci->name[k] && k < sizeof(lower) - 1; k++)
				lower[k] = (char)(ci->name[k] | 0x20);
			lower[k] = '\0';
			scols_column_set_json_type(cl,
						   json_type(o, o->cols[i]));
			if (scols_column_set_name(cl, lower))
				return -ENOMEM;
		}
	}
	return 0;
}
