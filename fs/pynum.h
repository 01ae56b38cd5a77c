/* SPDX-License-Identifier: MIT */
/* Numbers as CPython writes and reads them: repr(float), int(str), float(str). */
#ifndef SHMFS_PYNUM_H
#define SHMFS_PYNUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes repr(v) exactly as CPython's repr(float) does: the shortest digit
 * string that reads back to v, the closest to v among those, in fixed
 * notation for decimal exponents -4..15 and scientific notation otherwise.
 * Returns the length needed, as snprintf (at most 24 plus the NUL).  Assumes
 * the C locale's decimal point, as the daemon never calls setlocale.
 */
int pynum_repr_float(double v, char *buf, size_t len);

/*
 * Parses `text` (len bytes of UTF-8, not NUL-terminated) as CPython's
 * int(text) does in base 10: Python's whitespace around, one sign, single
 * underscores between digits, any Unicode decimal digit (category Nd, as
 * fs/pynum_tables.h lists them), scripts mixed.  CPython's limit on the
 * number of digits (sys.set_int_max_str_digits) is not applied.
 * Errors: -EINVAL for what int() refuses (and for a NUL byte or invalid
 * UTF-8), -ERANGE for a valid integer outside int64_t, -ENOMEM.
 * *out is written only on success.
 */
int pynum_parse_int(const char *text, size_t len, int64_t *out);

/*
 * Parses `text` as CPython's float(text) does: Python's whitespace around,
 * one sign, underscores only between digits (PEP 515), Unicode decimal
 * digits, "inf", "infinity" and "nan" in any case with a sign; no hex, no
 * "nan(...)".  Any length, correctly rounded; overflow gives ±inf and
 * underflow ±0, as float('1e999') is inf.
 * Errors: -EINVAL (as pynum_parse_int), -ENOMEM.  *out is written only on
 * success.
 */
int pynum_parse_float(const char *text, size_t len, double *out);

/*
 * Whether `text` (len bytes of UTF-8) can still begin a text that
 * pynum_parse_int (an int64, then) or pynum_parse_float accepts: some
 * continuation makes it one.  "", "-", "1_", "1e", "infin", a digit's first
 * UTF-8 byte can; "x", "0x", "1__", "1 2", "inf_", a NUL, an int past int64
 * can't.  Returns 0, or -EINVAL when no continuation can.
 */
int pynum_int_prefix(const char *text, size_t len);
int pynum_float_prefix(const char *text, size_t len);

#endif
