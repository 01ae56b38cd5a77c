/* SPDX-License-Identifier: MIT */
/* The holders scan's reading of one process's mappings (/proc/PID/maps). */
#ifndef SHMBLOCK_HOLDERS_MAPS_H
#define SHMBLOCK_HOLDERS_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include "holders_table.h"

/*
 * Every mapping of process `proc` (/proc/PID/maps under `piddir`) that is
 * one of our inodes: 0, 1 (no address space), or -errno.
 */
int shmblock__holders_scan_maps(struct scan *sc, int piddir, uint32_t proc);

/* Attributes for deleted entries first seen in a mapping (map_files). */
void shmblock__holders_stat_mapped(struct scan *sc, int piddir,
				   size_t first_rec);

#endif
