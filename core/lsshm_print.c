/* SPDX-License-Identifier: MIT */
/* lsshm's printers of the blocks: the table, --id's lines, and JSON. */

#include <errno.h>
#include <libsmartcols.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsshm_print.h"

/* The table through libsmartcols: aligned columns, -r, and -J -r. */
int print_scols(const struct opts *o, const struct shmblock_holders *snap)
{
	struct libscols_table *tb = scols_new_table();
	size_t i, c, n = shmblock_holders_count(snap);
	struct sbuf b = { 0 };
	int rc = -ENOMEM;

	if (!tb)
		return -ENOMEM;
	scols_table_set_name(tb, "shmblocks");
	scols_table_enable_json(tb, o->json);
	scols_table_enable_raw(tb, o->raw);
	scols_table_enable_export(tb, o->export);
	scols_table_enable_shellvar(tb, o->shellvar);
	scols_table_enable_noheadings(tb, o->noheadings);
	rc = add_columns(o, tb);
	for (i = 0; rc == 0 && i < n; i++) {
		const struct shmblock_holders_entry *e =
			shmblock_holders_entry(snap, i);
		struct row r;
		struct libscols_line *ln;

		if (!wanted(o, e))
			continue;
		ln = scols_table_new_line(tb, NULL);
		if (!ln) {
			rc = -ENOMEM;
			break;
		}
		row_start(&r, e);
		for (c = 0; rc == 0 && c < o->ncols; c++) {
			sb_reset(&b);
			cell_text(o, snap, &r, o->cols[c], &b);
			if (b.failed)
				rc = -ENOMEM;
			else if (b.len && scols_line_set_data(ln, c, b.s))
				rc = -ENOMEM;
		}
		row_end(&r);
	}
	if (rc == 0)
		rc = scols_print_table(tb) ? -EIO : 0;
	scols_unref_table(tb);
	free(b.s);
	return rc;
}

/* --id without -l: one "Label: value" line a column, as lsipc --id. */
int print_pretty(const struct opts *o, const struct shmblock_holders *snap)
{
	size_t i, c, n = shmblock_holders_count(snap), width = 0;
	struct sbuf b = { 0 };
	int rc = 0;

	for (c = 0; c < o->ncols; c++)
		if (strlen(columns[o->cols[c]].label) > width)
			width = strlen(columns[o->cols[c]].label);
	for (i = 0; i < n && rc == 0; i++) {
		const struct shmblock_holders_entry *e =
			shmblock_holders_entry(snap, i);
		struct row r;

		if (!wanted(o, e))
			continue;
		row_start(&r, e);
		for (c = 0; c < o->ncols; c++) {
			const char *label = columns[o->cols[c]].label;

			sb_reset(&b);
			cell_text(o, snap, &r, o->cols[c], &b);
			if (b.failed) {
				rc = -ENOMEM;
				break;
			}
			printf("%s:%*s %s\n", label,
			       (int)(width - strlen(label)), "",
			       b.len ? b.s : "");
		}
		row_end(&r);
	}
	free(b.s);
	return rc;
}

/*
 * --json without libsmartcols, byte for byte what it prints (util-linux's
 * -J shape, three spaces an indent): building 10,000 lines of cells and
 * writing them a character a call cost more than the rest of lsshm but
 * the scan.  tests/test_lsshm_json.py holds it to the libsmartcols output.
 */
int print_json(const struct opts *o, const struct shmblock_holders *snap)
{
	size_t i, c, n = shmblock_holders_count(snap), lines = 0;
	struct sbuf out = { 0 }, b = { 0 };
	char keys[NCOLS][32]; /* `         "name": ` */
	int rc = 0;

	for (i = 0; i < NCOLS; i++) {
		char *k = keys[i] + sprintf(keys[i], "         \"");
		const char *name = columns[i].name;

		while (*name)
			*k++ = (char)(*name++ | 0x20);
		strcpy(k, "\": ");
	}
	sb_str(&out, "{\n   \"shmblocks\": [\n");
	for (i = 0; i < n; i++) {
		const struct shmblock_holders_entry *e =
			shmblock_holders_entry(snap, i);
		struct row r;

		if (!wanted(o, e))
			continue;
		sb_str(&out, lines++ ? ",{\n" : "      {\n");
		row_start(&r, e);
		for (c = 0; c < o->ncols; c++) {
			sb_str(&out, keys[o->cols[c]]);
			sb_reset(&b);
			cell_text(o, snap, &r, o->cols[c], &b);
			if (!b.len)
				sb_str(&out, "null");
			else if (json_type(o, o->cols[c]) == SCOLS_JSON_NUMBER)
				sb_add(&out, b.s, b.len);
			else
				json_string(&out, b.s, b.len);
			sb_str(&out, c + 1 < o->ncols ? ",\n" : "\n");
		}
		row_end(&r);
		sb_str(&out, "      }");
		/* A write error shows in ferror(stdout), which main checks. */
		if (out.len >= (1u << 16) && !out.failed && !flush_out(&out))
			break;
	}
	sb_str(&out, "\n   ]\n}\n");
	if (out.failed || b.failed)
		rc = -ENOMEM;
	else
		flush_out(&out);
	free(out.s);
	free(b.s);
	return rc;
}
