/* SPDX-License-Identifier: MIT */
/*
 * The Python literals of a .npy header (core/npy.c): a bounded lexer
 * (whitespace, punctuation, string literals with repr()'s escapes, decimal
 * integers, tuples of them) and the grammars made of it: the header dict,
 * and the dtype descr NumPy writes (dtype.str's type strings, and
 * dtype.descr's lists of fields, nested at most NPY_DEPTH_MAX deep).
 * Every read stays inside [ps->p, ps->end); the only allocation is the
 * field-name table of a structured dtype.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "npy_literal.h"

/* Nested structured dtypes deeper than this are refused. */
#define NPY_DEPTH_MAX 32
/*
 * The biggest item: NumPy 1.x keeps itemsizes in a C int, so a bigger
 * one can't be loaded by every NumPy.
 */
#define NPY_ITEMSIZE_MAX ((uint64_t)INT32_MAX)
/* Array sizes are NumPy's npy_intp: 63 bits. */
#define NPY_NBYTES_MAX ((uint64_t)INT64_MAX)

/* A field name's literal, for the duplicate check. */
struct name_span {
	const unsigned char *s;
	size_t n;
};

static bool mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

static void skip_ws(struct npy_parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
		*ps->p == '\r' || *ps->p == '\f'))
		ps->p++;
}

/* Skips whitespace, then consumes `c` if it comes next. */
static bool accept(struct npy_parser *ps, unsigned char c)
{
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return true;
	}
	return false;
}

static int expect(struct npy_parser *ps, unsigned char c)
{
	return accept(ps, c) ? 0 : ps->bad;
}

static bool peek(struct npy_parser *ps, unsigned char c)
{
	skip_ws(ps);
	return ps->p < ps->end && *ps->p == c;
}

static int hex_digits(struct npy_parser *ps, int n, uint32_t *value)
{
	*value = 0;
	for (; n > 0; n--, ps->p++) {
		unsigned char c;

		if (ps->p == ps->end)
			return ps->bad;
		c = *ps->p;
		if (c >= '0' && c <= '9')
			*value = *value * 16 + (c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			*value = *value * 16 + ((c | 0x20) - 'a' + 10);
		else
			return ps->bad;
	}
	return 0;
}

/* The escapes repr() writes: \\ \' \" \n \r \t \xHH \uHHHH \UHHHHHHHH. */
static int skip_escape(struct npy_parser *ps)
{
	uint32_t v;
	unsigned char c;

	ps->p++; /* the backslash */
	if (ps->p == ps->end)
		return ps->bad;
	c = *ps->p++;
	switch (c) {
	case '\\':
	case '\'':
	case '"':
	case 'n':
	case 'r':
	case 't':
		return 0;
	case 'x':
		return hex_digits(ps, 2, &v);
	case 'u':
		return hex_digits(ps, 4, &v);
	case 'U':
		if (hex_digits(ps, 8, &v) < 0 || v > 0x10ffff)
			return ps->bad;
		return 0;
	default:
		return ps->bad;
	}
}

/*
 * A string literal in single or double quotes, no prefix.  *s and *n get
 * its content as written (escapes are checked, not decoded).  Raw control
 * characters are refused: Python's repr() escapes them.
 */
static int parse_string(struct npy_parser *ps, const unsigned char **s,
			size_t *n)
{
	unsigned char q;
	int rc;

	skip_ws(ps);
	if (ps->p == ps->end || (*ps->p != '\'' && *ps->p != '"'))
		return ps->bad;
	q = *ps->p++;
	*s = ps->p;
	while (ps->p < ps->end && *ps->p != q) {
		if (*ps->p < 0x20 || *ps->p == 0x7f)
			return ps->bad;
		if (*ps->p == '\\') {
			rc = skip_escape(ps);
			if (rc < 0)
				return rc;
		} else {
			ps->p++;
		}
	}
	if (ps->p == ps->end)
		return ps->bad;
	*n = (size_t)(ps->p - *s);
	ps->p++;
	return 0;
}

/*
 * A decimal integer as Python writes one: no sign, no leading zeros.  A
 * value above INT64_MAX (NumPy's npy_intp) sets ps->refused to -EOVERFLOW
 * and reads as INT64_MAX, so the syntax is still checked to the end.
 */
int shmblock__npy_parse_uint(struct npy_parser *ps, uint64_t *out)
{
	uint64_t v = 0;
	bool big = false;

	skip_ws(ps);
	if (ps->p == ps->end || *ps->p < '0' || *ps->p > '9')
		return ps->bad;
	if (*ps->p == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' &&
	    ps->p[1] <= '9')
		return ps->bad;
	for (; ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9'; ps->p++) {
		if (!big && (!mul_u64(v, 10, &v) ||
			     __builtin_add_overflow(v, *ps->p - '0', &v) ||
			     v > NPY_NBYTES_MAX))
			big = true;
	}
	/* "3L", "3j", "3.0", "3_0" are not what NumPy writes. */
	if (ps->p < ps->end &&
	    (*ps->p == '.' || *ps->p == '_' ||
	     ((*ps->p | 0x20) >= 'a' && (*ps->p | 0x20) <= 'z')))
		return ps->bad;
	if (big) {
		if (!ps->refused)
			ps->refused = -EOVERFLOW;
		v = NPY_NBYTES_MAX;
	}
	*out = v;
	return 0;
}

/*
 * A tuple of integers, "()", "(3,)", "(3, 4)"; "(3)" is an int, not a
 * tuple, as Python reads it.  At most `max` of them.
 */
static int parse_dims(struct npy_parser *ps, uint64_t *dims, unsigned max,
		      unsigned *ndim)
{
	unsigned n = 0;
	int rc;

	if ((rc = expect(ps, '(')) < 0)
		return rc;
	while (!accept(ps, ')')) {
		if (n == max)
			return ps->bad;
		if ((rc = shmblock__npy_parse_uint(ps, &dims[n++])) < 0)
			return rc;
		if (accept(ps, ')')) {
			if (n == 1)
				return ps->bad;
			break;
		}
		if ((rc = expect(ps, ',')) < 0)
			return rc;
	}
	*ndim = n;
	return 0;
}

/*
 * The number of items of a shape and its byte count, as NumPy sizes an
 * array: zero dimensions are left out of the overflow check, the rest
 * times the itemsize must fit npy_intp.  -EOVERFLOW if not.
 */
int shmblock__npy_shape_size(uint64_t itemsize, const uint64_t *dims,
			     unsigned ndim, uint64_t *count, uint64_t *nbytes)
{
	uint64_t n = 1, b = itemsize;
	bool empty = false;
	unsigned i;

	for (i = 0; i < ndim; i++) {
		if (dims[i] > NPY_NBYTES_MAX)
			return -EOVERFLOW;
		if (dims[i] == 0) {
			empty = true;
			continue;
		}
		if (!mul_u64(n, dims[i], &n) || !mul_u64(b, dims[i], &b) ||
		    b > NPY_NBYTES_MAX || n > NPY_NBYTES_MAX)
			return -EOVERFLOW;
	}
	*count = empty ? 0 : n;
	*nbytes = empty ? 0 : b;
	return 0;
}

static unsigned digits(const unsigned char **s, const unsigned char *end,
		       uint64_t *v)
{
	unsigned n = 0;

	*v = 0;
	for (; *s < end && **s >= '0' && **s <= '9'; (*s)++, n++) {
		if (*v > NPY_ITEMSIZE_MAX)
			continue; /* stays too big; refused below */
		*v = *v * 10 + (uint64_t)(**s - '0');
	}
	return n;
}

/* The units of NumPy's datetime64 and timedelta64. */
static bool time_unit(const unsigned char *s, size_t n)
{
	static const char *const units[] = { "Y",  "M",	 "W",  "D",	 "h",
					     "m",  "s",	 "ms", "us",	 "ns",
					     "ps", "fs", "as", "generic" };
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i]) == n && !memcmp(units[i], s, n))
			return true;
	return false;
}

/*
 * A type string as dtype.str gives it: a byte order, a kind and a size,
 * "<f8", "|u1", "<U8" (8 characters of 4 bytes), "<m8[ns]".  Returns 0
 * with *itemsize and *is_void, -ENOTSUP for objects ("|O"), `bad`
 * otherwise.
 */
int shmblock__npy_typestr_size(const unsigned char *s, size_t n, int bad,
			       uint64_t *itemsize, bool *is_void)
{
	const unsigned char *end = s + n, *unit;
	unsigned char kind;
	uint64_t size, mult;

	if (n < 2 || !strchr("<>|=", s[0]) || s[0] == '\0')
		return bad;
	kind = s[1];
	s += 2;
	if (kind == 'O')
		return -ENOTSUP;
	if (!digits(&s, end, &size) || size == 0 || size > NPY_ITEMSIZE_MAX)
		return bad;
	*is_void = kind == 'V';
	switch (kind) {
	case 'b':
		if (size != 1)
			return bad;
		break;
	case 'i':
	case 'u':
		if (size != 1 && size != 2 && size != 4 && size != 8)
			return bad;
		break;
	case 'f':
		if (size != 2 && size != 4 && size != 8 && size != 16)
			return bad;
		break;
	case 'c':
		if (size != 8 && size != 16 && size != 32)
			return bad;
		break;
	case 'S':
	case 'V':
		break;
	case 'U':
		if (size > NPY_ITEMSIZE_MAX / 4)
			return bad;
		size *= 4;
		break;
	case 'm':
	case 'M':
		if (size != 8)
			return bad;
		if (s == end)
			break;
		/* "[ns]", "[10ns]" */
		if (*s++ != '[' || end[-1] != ']')
			return bad;
		if (digits(&s, end - 1, &mult) &&
		    (mult == 0 || mult > NPY_ITEMSIZE_MAX))
			return bad;
		unit = s;
		if (!time_unit(unit, (size_t)(end - 1 - unit)))
			return bad;
		s = end;
		break;
	default:
		return bad;
	}
	if (s != end)
		return bad;
	*itemsize = size;
	return 0;
}

static int span_cmp(const void *a, const void *b)
{
	const struct name_span *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/*
 * One field of a structured dtype, as dtype.descr writes it:
 * (name, descr) or (name, descr, shape), the name a string or a
 * (title, name) pair.  An empty name is padding and must be a plain void.
 */
static int parse_field(struct npy_parser *ps, struct name_span *name,
		       uint64_t *itemsize)
{
	const unsigned char *title;
	uint64_t dims[SHMBLOCK_NPY_MAX_DIMS], count, size;
	unsigned ndim = 0;
	size_t title_len;
	bool is_void, has_shape = false;
	int rc;

	if ((rc = expect(ps, '(')) < 0)
		return rc;
	if (accept(ps, '(')) {
		if ((rc = parse_string(ps, &title, &title_len)) < 0 ||
		    (rc = expect(ps, ',')) < 0 ||
		    (rc = parse_string(ps, &name->s, &name->n)) < 0)
			return rc;
		accept(ps, ',');
		if ((rc = expect(ps, ')')) < 0)
			return rc;
	} else if ((rc = parse_string(ps, &name->s, &name->n)) < 0) {
		return rc;
	}
	if ((rc = expect(ps, ',')) < 0 ||
	    (rc = shmblock__npy_parse_descr(ps, &size, &is_void)) < 0)
		return rc;
	if (accept(ps, ',') && !peek(ps, ')')) {
		has_shape = true;
		if (peek(ps, '('))
			rc = parse_dims(ps, dims, SHMBLOCK_NPY_MAX_DIMS, &ndim);
		else
			rc = shmblock__npy_parse_uint(ps, &dims[ndim++]);
		if (rc < 0)
			return rc;
		accept(ps, ',');
	}
	if ((rc = expect(ps, ')')) < 0)
		return rc;
	if (name->n == 0 && !is_void)
		return ps->bad;
	if (has_shape) {
		if ((rc = shmblock__npy_shape_size(size, dims, ndim, &count,
						   &size)) < 0)
			return rc;
		if (size > NPY_ITEMSIZE_MAX)
			return -EOVERFLOW;
	}
	*itemsize = size;
	return 0;
}

/* A list of fields; their sizes add up, their names are unique. */
static int parse_fields(struct npy_parser *ps, uint64_t *itemsize)
{
	struct name_span *names = NULL, *grown;
	size_t n = 0, cap = 0, i;
	uint64_t total = 0, size;
	int rc;

	if (++ps->depth > NPY_DEPTH_MAX)
		return ps->bad;
	if ((rc = expect(ps, '[')) < 0)
		goto out;
	while (!accept(ps, ']')) {
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			grown = realloc(names, cap * sizeof(*names));
			rc = -ENOMEM;
			if (!grown)
				goto out;
			names = grown;
		}
		if ((rc = parse_field(ps, &names[n], &size)) < 0)
			goto out;
		if (names[n].n)
			n++;
		total += size;
		if (total > NPY_ITEMSIZE_MAX) {
			rc = -EOVERFLOW;
			goto out;
		}
		if (accept(ps, ']'))
			break;
		if ((rc = expect(ps, ',')) < 0)
			goto out;
	}
	/* NumPy refuses a name given twice (spelt the same way here). */
	if (n > 1) {
		qsort(names, n, sizeof(*names), span_cmp);
		for (i = 1; i < n; i++) {
			if (!span_cmp(&names[i - 1], &names[i])) {
				rc = ps->bad;
				goto out;
			}
		}
	}
	*itemsize = total;
	rc = 0;
out:
	free(names);
	ps->depth--;
	return rc;
}

/* A descr: a type string, or a list of fields. */
int shmblock__npy_parse_descr(struct npy_parser *ps, uint64_t *itemsize,
			      bool *is_void)
{
	const unsigned char *s;
	size_t n;
	int rc;

	if (peek(ps, '[')) {
		*is_void = false;
		return parse_fields(ps, itemsize);
	}
	if ((rc = parse_string(ps, &s, &n)) < 0)
		return rc;
	return shmblock__npy_typestr_size(s, n, ps->bad, itemsize, is_void);
}

/* The header dict, filling the descr, fortran_order and shape of *out. */
int shmblock__npy_parse_dict(struct npy_parser *ps,
			     struct shmblock_npy_info *out)
{
	enum { DESCR = 1, FORTRAN = 2, SHAPE = 4 };
	const unsigned char *key, *start;
	unsigned seen = 0;
	size_t n;
	bool is_void;
	int rc;

	if ((rc = expect(ps, '{')) < 0)
		return rc;
	while (!accept(ps, '}')) {
		if ((rc = parse_string(ps, &key, &n)) < 0 ||
		    (rc = expect(ps, ':')) < 0)
			return rc;
		if (n == 5 && !memcmp(key, "descr", 5) && !(seen & DESCR)) {
			seen |= DESCR;
			skip_ws(ps);
			start = ps->p;
			out->structured = peek(ps, '[');
			rc = shmblock__npy_parse_descr(ps, &out->itemsize,
						       &is_void);
			if (rc < 0)
				return rc;
			if (!out->structured) /* the text inside the quotes */
				start++;
			out->descr = (const char *)start;
			out->descr_len = (size_t)(ps->p - start) -
					 (out->structured ? 0 : 1);
		} else if (n == 13 && !memcmp(key, "fortran_order", 13) &&
			   !(seen & FORTRAN)) {
			seen |= FORTRAN;
			skip_ws(ps);
			if ((size_t)(ps->end - ps->p) >= 4 &&
			    !memcmp(ps->p, "True", 4)) {
				out->fortran_order = true;
				ps->p += 4;
			} else if ((size_t)(ps->end - ps->p) >= 5 &&
				   !memcmp(ps->p, "False", 5)) {
				out->fortran_order = false;
				ps->p += 5;
			} else {
				return ps->bad;
			}
		} else if (n == 5 && !memcmp(key, "shape", 5) &&
			   !(seen & SHAPE)) {
			seen |= SHAPE;
			rc = parse_dims(ps, out->shape, SHMBLOCK_NPY_MAX_DIMS,
					&out->ndim);
			if (rc < 0)
				return rc;
		} else {
			return ps->bad; /* unknown or repeated key */
		}
		if (accept(ps, '}'))
			break;
		if ((rc = expect(ps, ',')) < 0)
			return rc;
	}
	skip_ws(ps);
	if (ps->p != ps->end || seen != (DESCR | FORTRAN | SHAPE))
		return ps->bad;
	return 0;
}
