/* SPDX-License-Identifier: MIT */
/* lsshm's columns: the table of them, the options, and the cells' text. */
#ifndef LSSHM_COLS_H
#define LSSHM_COLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lsshm_kind.h"
#include "lsshm_text.h"
#include "shmblock.h"

struct libscols_table;

enum {
	COL_NAME,
	COL_INODE,
	COL_SIZE,
	COL_ALLOC,
	COL_OWNER,
	COL_UID,
	COL_GROUP,
	COL_MODE,
	COL_KIND,
	COL_DTYPE,
	COL_SHAPE,
	COL_VALUE,
	COL_WAITERS,
	COL_NHOLDERS,
	COL_HOLDERS,
	COL_WRITERS,
	COL_LIFETIME,
	NCOLS
};

struct colinfo {
	const char *name;
	double whint;
	int flags;
	int json; /* SCOLS_JSON_*; sizes are numbers with --bytes */
	const char *help;
	const char *label; /* in --id's "Label: value" lines */
};

extern const struct colinfo columns[NCOLS];
extern const int default_cols[8];
extern const int deleted_cols[8];

#define MAX_USERS 64

struct opts {
	int cols[NCOLS * 2];
	size_t ncols;
	bool json, raw, noheadings, bytes, deleted;
	bool export, shellvar, list, notruncate, numperms, global;
	pid_t pid;		/* 0: every process */
	pid_t target;		/* 0: our own mount namespace's shm directory */
	const char *id;		/* --id: the one block to show */
	uid_t users[MAX_USERS]; /* --user: owners to show (none: all) */
	size_t nusers;
	const char *shmdir;
	int dirfd;
};

/* Whether the entry is one the options ask for. */
bool wanted(const struct opts *o, const struct shmblock_holders_entry *e);

/*
 * One entry as it is printed: its kind is found once, by the first of
 * KIND, DTYPE, SHAPE, VALUE, WAITERS that asks for it.
 */
struct row {
	const struct shmblock_holders_entry *e;
	bool have_kind;
	struct lsshm_kind kind;
};

/* A row of `e`, to end with row_end. */
void row_start(struct row *r, const struct shmblock_holders_entry *e);
void row_end(struct row *r);

/*
 * The row's kind, found on first use; NULL when there was no memory
 * for it.
 */
const struct lsshm_kind *row_kind(const struct opts *o,
				  const struct shmblock_holders *snap,
				  struct row *r);

/*
 * Appends the text of one cell to `b`; nothing for an unknown value, an
 * empty cell (null in JSON).  Both printers take the cells from here.  No
 * memory: b->failed.
 */
void cell_text(const struct opts *o, const struct shmblock_holders *snap,
	       struct row *r, int col, struct sbuf *b);

/* The JSON type of a column as printed: sizes are numbers with --bytes. */
int json_type(const struct opts *o, int col);

/* The chosen columns, as libsmartcols columns of `tb`. */
int add_columns(const struct opts *o, struct libscols_table *tb);

#endif
