/* SPDX-License-Identifier: MIT */
/* lsshm -g: the summary of the blocks against the file system's limits. */

#include <errno.h>
#include <libsmartcols.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "lsshm_global.h"

/* What -g counts: the blocks of the directory and the deleted ones. */
struct totals {
	uint64_t blocks, lists, arrays, sems, deleted;
	uint64_t size, alloc, deleted_alloc;
};

static int count_totals(const struct opts *o,
			const struct shmblock_holders *snap, struct totals *t)
{
	size_t i, n = shmblock_holders_count(snap);
	struct lsshm_kind k;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n; i++) {
		const struct shmblock_holders_entry *e =
			shmblock_holders_entry(snap, i);
		struct opts any = *o;

		/* Only the --user filter applies to the summary. */
		any.pid = 0;
		any.deleted = e->deleted;
		if (!wanted(&any, e))
			continue;
		if (e->deleted) {
			t->deleted++;
			t->deleted_alloc += e->have_stat ? e->alloc : 0;
			continue;
		}
		if (lsshm_kind_get(o->dirfd, snap, e, &k) < 0) {
			lsshm_kind_free(&k);
			return -ENOMEM;
		}
		/* A semaphore is not a block; a sem.* file of bytes is. */
		t->sems += k.type == LSSHM_SEMAPHORE;
		t->lists += k.type == LSSHM_LIST;
		t->arrays += k.type == LSSHM_ARRAY || k.type == LSSHM_DECLARED;
		if (k.type != LSSHM_SEMAPHORE) {
			t->blocks++;
			t->size += e->have_stat ? e->size : 0;
			t->alloc += e->have_stat ? e->alloc : 0;
		}
		lsshm_kind_free(&k);
	}
	return 0;
}

#define NA UINT64_MAX

/* One -g line: a count, or a size (human unless --bytes); NA prints "-". */
static int add_global_row(const struct opts *o, struct libscols_table *tb,
			  const char *resource, const char *desc,
			  uint64_t limit, uint64_t used, bool size)
{
	struct libscols_line *ln = scols_table_new_line(tb, NULL);
	struct sbuf b = { 0 };
	char pct[32] = "-";
	int rc = 0;
	uint64_t v[2] = { limit, used };
	int k;

	if (!ln)
		return -ENOMEM;
	if (scols_line_set_data(ln, 0, resource) ||
	    scols_line_set_data(ln, 1, desc))
		return -ENOMEM;
	for (k = 0; k < 2 && rc == 0; k++) {
		sb_reset(&b);
		if (v[k] == NA)
			sb_char(&b, '-');
		else if (size && !o->bytes)
			human_size(v[k], &b);
		else
			sb_u64(&b, v[k]);
		if (b.failed || scols_line_set_data(ln, 2 + k, b.s))
			rc = -ENOMEM;
	}
	if (limit != NA && used != NA && limit)
		snprintf(pct, sizeof(pct), "%.2f%%",
			 (double)used * 100.0 / (double)limit);
	if (rc == 0 && scols_line_set_data(ln, 4, pct))
		rc = -ENOMEM;
	free(b.s);
	return rc;
}

/*
 * -g: the summary, as lsipc -g has it (RESOURCE DESCRIPTION LIMIT USED
 * USE%): what the blocks are and take, against the shm file system's
 * limits (its statvfs: size and inodes).
 */
int print_global(const struct opts *o, const struct shmblock_holders *snap)
{
	static const char *const names[] = { "RESOURCE", "DESCRIPTION", "LIMIT",
					     "USED", "USE%" };
	struct libscols_table *tb;
	struct statvfs vfs;
	struct totals t;
	uint64_t fs_size = NA, fs_used = NA, inodes = NA, inodes_used = NA;
	size_t i;
	int rc;

	rc = count_totals(o, snap, &t);
	if (rc < 0)
		return rc;
	if (fstatvfs(o->dirfd, &vfs) == 0) {
		fs_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		fs_used = (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
		/* tmpfs with nr_inodes=0 has no inode limit: 0 files. */
		if (vfs.f_files) {
			inodes = vfs.f_files;
			inodes_used = vfs.f_files - vfs.f_ffree;
		}
	}
	tb = scols_new_table();
	if (!tb)
		return -ENOMEM;
	scols_table_set_name(tb, "shmlimits");
	scols_table_enable_json(tb, o->json);
	scols_table_enable_raw(tb, o->raw);
	scols_table_enable_export(tb, o->export);
	scols_table_enable_shellvar(tb, o->shellvar);
	scols_table_enable_noheadings(tb, o->noheadings);
	for (i = 0; i < 5; i++) {
		struct libscols_column *cl =
			scols_table_new_column(tb, names[i], i == 1 ? 0.5 : 5,
					       i >= 2 ? SCOLS_FL_RIGHT : 0);

		if (!cl) {
			scols_unref_table(tb);
			return -ENOMEM;
		}
		if (o->json) {
			static const char *const lower[] = { "resource",
							     "description",
							     "limit", "used",
							     "use%" };
			scols_column_set_name(cl, lower[i]);
		}
	}
	rc = add_global_row(o, tb, "BLOCKS", "Shared memory blocks", inodes,
			    t.blocks, false);
	if (!rc)
		rc = add_global_row(o, tb, "LISTS",
				    "Blocks holding a ShareableList", NA,
				    t.lists, false);
	if (!rc)
		rc = add_global_row(o, tb, "ARRAYS",
				    "Blocks holding a NumPy array", NA,
				    t.arrays, false);
	if (!rc)
		rc = add_global_row(o, tb, "SEMAPHORES",
				    "POSIX named semaphores", NA, t.sems,
				    false);
	if (!rc)
		rc = add_global_row(o, tb, "DELETED",
				    "Unlinked blocks still held", NA, t.deleted,
				    false);
	if (!rc)
		rc = add_global_row(o, tb, "SIZE", "Total size of the blocks",
				    fs_size, t.size, true);
	if (!rc)
		rc = add_global_row(o, tb, "ALLOC", "Memory the blocks take",
				    fs_size, t.alloc, true);
	if (!rc)
		rc = add_global_row(o, tb, "DELALLOC",
				    "Memory unlinked blocks take", fs_size,
				    t.deleted_alloc, true);
	if (!rc)
		rc = add_global_row(o, tb, "FSUSED",
				    "Shared memory file system in use", fs_size,
				    fs_used, true);
	if (!rc)
		rc = add_global_row(o, tb, "FSINODES",
				    "Inodes of the shared memory file system",
				    inodes, inodes_used, false);
	if (rc == 0)
		rc = scols_print_table(tb) ? -EIO : 0;
	scols_unref_table(tb);
	return rc;
}
