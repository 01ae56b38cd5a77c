/* SPDX-License-Identifier: MIT */
/* The text form of list items in the mount: numbers as Python prints them. */
#ifndef SHMFS_LIST_TEXT_H
#define SHMFS_LIST_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Writes `v` as Python's repr() does ("2.5", "1e+100", "-0.0", "inf", "nan")
 * into buf; returns the length it needs, as snprintf.
 */
int list_text_float(double v, char *buf, size_t len);

/*
 * Parse the text written to an entry.  Surrounding whitespace and a trailing
 * newline are accepted around numbers, booleans and None.
 * Errors: -EINVAL (not a value of that type), -ERANGE (int out of range).
 */
int list_text_parse_int(const char *text, size_t len, int64_t *out);
int list_text_parse_float(const char *text, size_t len, double *out);
/* True, False, true, false, 1 or 0. */
int list_text_parse_bool(const char *text, size_t len, bool *out);
/* "None", or nothing but whitespace. */
int list_text_parse_none(const char *text, size_t len);

/* The length of a str value written as `text`: one trailing newline dropped. */
size_t list_text_str_len(const char *text, size_t len);

#endif
