/* SPDX-License-Identifier: MIT */
/* lsshm's printers of the blocks: the table, --id's lines, and JSON. */
#ifndef LSSHM_PRINT_H
#define LSSHM_PRINT_H

#include "lsshm_cols.h"

/* The table through libsmartcols: aligned columns, -r, -e, and -J -r. */
int print_scols(const struct opts *o, const struct shmblock_holders *snap);

/* --id without -l: one "Label: value" line a column, as lsipc --id. */
int print_pretty(const struct opts *o, const struct shmblock_holders *snap);

/* --json without libsmartcols, byte for byte what it prints. */
int print_json(const struct opts *o, const struct shmblock_holders *snap);

#endif
