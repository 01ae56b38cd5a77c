/* SPDX-License-Identifier: MIT */
/* lsshm's columns: the table of them, the options, and the cells' text. */
#ifndef LSSHM_COLS_H
#define LSSHM_COLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

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

/* KIND: from the name for semaphores, else from the bytes. */
void kind_of(const struct opts *o, const struct shmblock_holders *snap,
	     const struct shmblock_holders_entry *e, struct sbuf *b);

/*
 * Appends the text of one cell to `b`; nothing for an unknown value, an
 * empty cell (null in JSON).  Both printers take the cells from here.
 */
void cell_text(const struct opts *o, const struct shmblock_holders *snap,
	       const struct shmblock_holders_entry *e, int col, struct sbuf *b);

/* The JSON type of a column as printed: sizes are numbers with --bytes. */
int json_type(const struct opts *o, int col);

/* The chosen columns, as libsmartcols columns of `tb`. */
int add_columns(const struct opts *o, struct libscols_table *tb);

#endif
