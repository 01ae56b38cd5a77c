/* SPDX-License-Identifier: MIT */
/* Private: the Python literals of a .npy header (core/npy_literal.c). */
#ifndef SHMBLOCK_NPY_LITERAL_H
#define SHMBLOCK_NPY_LITERAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmblock.h"

/* A parse of the bytes [p, end), which it never reads past. */
struct npy_parser {
	const unsigned char *p, *end;
	int bad;     /* what a syntax error returns: -EBADMSG or -EINVAL */
	int depth;   /* of nested field lists */
	int refused; /* a later error: -ENOTSUP, -EOVERFLOW, or 0 */
};

/*
 * A decimal integer as Python writes one: no sign, no leading zeros.  A
 * value above INT64_MAX (NumPy's npy_intp) sets ps->refused to -EOVERFLOW
 * and reads as INT64_MAX, so the syntax is still checked to the end.
 */
int shmblock__npy_parse_uint(struct npy_parser *ps, uint64_t *out);

/*
 * The number of items of a shape and its byte count, as NumPy sizes an
 * array: zero dimensions are left out of the overflow check, the rest
 * times the itemsize must fit npy_intp.  -EOVERFLOW if not.
 */
int shmblock__npy_shape_size(uint64_t itemsize, const uint64_t *dims,
			     unsigned ndim, uint64_t *count, uint64_t *nbytes);

/*
 * A type string as dtype.str gives it: a byte order, a kind and a size,
 * "<f8", "|u1", "<U8" (8 characters of 4 bytes), "<m8[ns]".  Returns 0
 * with *itemsize and *is_void, -ENOTSUP for objects ("|O"), `bad`
 * otherwise.
 */
int shmblock__npy_typestr_size(const unsigned char *s, size_t n, int bad,
			       uint64_t *itemsize, bool *is_void);

/* A descr: a quoted type string, or a list of fields. */
int shmblock__npy_parse_descr(struct npy_parser *ps, uint64_t *itemsize,
			      bool *is_void);

/*
 * The header dict, filling the descr, fortran_order and shape of *out;
 * whitespace only may follow it before ps->end.
 */
int shmblock__npy_parse_dict(struct npy_parser *ps,
			     struct shmblock_npy_info *out);

#endif
