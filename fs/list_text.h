/* SPDX-License-Identifier: MIT */
/*
 * The text form of lists in the mount: item file names, item values as
 * Python prints and parses them, .json and .format (docs/lists.md).
 */
#ifndef SHMFS_LIST_TEXT_H
#define SHMFS_LIST_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list_block.h"

/* A growing text buffer, always NUL terminated once it holds anything. */
struct text {
	char *buf;
	size_t len, cap;
};

/* Appends `n` bytes (text_add) or a string (text_str).  Errors: -ENOMEM. */
int text_add(struct text *t, const void *p, size_t n);
int text_str(struct text *t, const char *s);
/* Frees the buffer and empties `t`. */
void text_free(struct text *t);

/* The names of the item types, indexed by enum shmblock_type. */
extern const char *const list_type_names[];

/* The type part of an item file name "<i>" with no type. */
#define LIST_TYPE_BARE 6

/*
 * Parses an item file name, "<i>" or "<i>.<type>" (decimal, no leading
 * zeros).  *type is LIST_TYPE_BARE without a type.  Errors: -ENOENT.
 */
int list_text_parse_name(const char *name, uint64_t *index, int *type);

/* An item file's content: its text and a newline, or a bytes item's bytes. */
int list_text_item(const struct list_snap *snap, uint64_t index,
		   struct text *t);

/*
 * The whole list as JSON: numbers as Python prints them (non-finite floats
 * as the strings "inf", "-inf", "nan"), True/False as true/false, None as
 * null, str as a string, bytes as {"bytes": "<hex>"}.
 */
int list_text_json(const struct list_snap *snap, struct text *t);

/* The struct format string, as ShareableList.format, and a newline. */
int list_text_format(const struct list_snap *snap, struct text *t);

/*
 * The value `text` means for `type`.  str and bytes point into `text`.
 * Numbers are read as Python's int(text) and float(text) (pynum.h); bools
 * and None as docs/lists.md says.
 * Surrounding whitespace and a trailing newline are accepted around numbers,
 * booleans and None; one trailing newline is dropped from a str.
 * Errors: -EINVAL (not a value of that type, or an int out of range),
 * -ENOMEM.
 */
int list_text_value(int type, const char *text, size_t len,
		    struct shmblock_value *v);

/*
 * Whether `text` can still begin a text that list_text_value takes for
 * `type`: some continuation makes it a value (pynum_int_prefix and
 * pynum_float_prefix for numbers; a beginning of True, False, true, false,
 * 1, 0 or None with whitespace around; UTF-8 for a str, whose last
 * character may be incomplete; any bytes).  A str is checked from *from
 * (a character's start, or 0 with from NULL), which then moves to the end
 * of the last whole character, so that a growing text is checked once.
 * Returns 0, or -EINVAL when no continuation can make it a value.
 */
int list_text_prefix(int type, const char *text, size_t len, size_t *from);

/*
 * Writes `v` as Python's repr() does ("2.5", "1e+100", "-0.0", "inf", "nan")
 * into buf; returns the length it needs, as snprintf.
 */
int list_text_float(double v, char *buf, size_t len);

#endif
