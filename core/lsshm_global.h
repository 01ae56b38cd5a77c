/* SPDX-License-Identifier: MIT */
/* lsshm -g: the summary of the blocks against the file system's limits. */
#ifndef LSSHM_GLOBAL_H
#define LSSHM_GLOBAL_H

#include "lsshm_cols.h"

/* -g: the summary, as lsipc -g has it. */
int print_global(const struct opts *o, const struct shmblock_holders *snap);

#endif
