/* SPDX-License-Identifier: MIT */
/*
 * The .npy format (NumPy's numpy/lib/format.py): a strict reader of its
 * header, bounded by the header's own length, and a writer of headers.
 *
 * Layout: the magic "\x93NUMPY", a major and a minor version byte (1.0,
 * 2.0 or 3.0), the header length HLEN (1.0: 2 bytes, else 4, little
 * endian), then HLEN bytes of a Python dict literal, e.g.
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (1000, 3), }
 * padded with spaces and ended by '\n'; the data follows at once.  1.0 and
 * 2.0 headers are Latin-1, 3.0 headers UTF-8.
 *
 * NumPy reads the dict with ast.literal_eval; this reader takes the subset
 * NumPy writes, in any key order: string literals with repr()'s escapes,
 * decimal integers, True/False, tuples, lists, and whitespace and trailing
 * commas where Python allows them.  Every check is made before anything is
 * reported: the three keys exactly once, a shape of non-negative integers,
 * a descr NumPy can build, and a byte count that fits 63 bits and the
 * block.  The parse is one pass over the header with a nesting limit; the
 * only allocation is the field-name table of a structured dtype, at most a
 * few bytes per byte of header.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmblock.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* Nested structured dtypes deeper than this are refused. */
#define NPY_DEPTH_MAX 32
/*
 * The biggest item: NumPy 1.x keeps itemsizes in a C int, so a bigger
 * one can't be loaded by every NumPy.
 */
#define NPY_ITEMSIZE_MAX ((uint64_t)INT32_MAX)
/* Array sizes are NumPy's npy_intp: 63 bits. */
#define NPY_NBYTES_MAX ((uint64_t)INT64_MAX)

struct parser {
	const unsigned char *p, *end;
	int bad;     /* what a syntax error returns: -EBADMSG or -EINVAL */
	int depth;   /* of nested field lists */
	int refused; /* a later error: -ENOTSUP, -EOVERFLOW, or 0 */
};

/* A field name's literal, for the duplicate check. */
struct name_span {
	const unsigned char *s;
	size_t n;
};

static bool mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
		*ps->p == '\r' || *ps->p == '\f'))
		ps->p++;
}

/* Skips whitespace, then consumes `c` if it comes next. */
static bool accept(struct parser *ps, unsigned char c)
{
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return true;
	}
	return false;
}

static int expect(struct parser *ps, unsigned char c)
{
	return accept(ps, c) ? 0 : ps->bad;
}

static bool peek(struct parser *ps, unsigned char c)
{
	skip_ws(ps);
	return ps->p < ps->end && *ps->p == c;
}

static int hex_digits(struct parser *ps, int n, uint32_t *value)
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
static int skip_escape(struct parser *ps)
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
static int parse_string(struct parser *ps, const unsigned char **s, size_t *n)
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
static int parse_uint(struct parser *ps, uint64_t *out)
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
static int parse_dims(struct parser *ps, uint64_t *dims, unsigned max,
		      unsigned *ndim)
{
	unsigned n = 0;
	int rc;

	if ((rc = expect(ps, '(')) < 0)
		return rc;
	while (!accept(ps, ')')) {
		if (n == max)
			return ps->bad;
		if ((rc = parse_uint(ps, &dims[n++])) < 0)
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
static int shape_size(uint64_t itemsize, const uint64_t *dims, unsigned ndim,
		      uint64_t *count, uint64_t *nbytes)
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
static int typestr_size(const unsigned char *s, size_t n, int bad,
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

static int parse_descr(struct parser *ps, uint64_t *itemsize, bool *is_void);

/*
 * One field of a structured dtype, as dtype.descr writes it:
 * (name, descr) or (name, descr, shape), the name a string or a
 * (title, name) pair.  An empty name is padding and must be a plain void.
 */
static int parse_field(struct parser *ps, struct name_span *name,
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
	    (rc = parse_descr(ps, &size, &is_void)) < 0)
		return rc;
	if (accept(ps, ',') && !peek(ps, ')')) {
		has_shape = true;
		if (peek(ps, '('))
			rc = parse_dims(ps, dims, SHMBLOCK_NPY_MAX_DIMS, &ndim);
		else
			rc = parse_uint(ps, &dims[ndim++]);
		if (rc < 0)
			return rc;
		accept(ps, ',');
	}
	if ((rc = expect(ps, ')')) < 0)
		return rc;
	if (name->n == 0 && !is_void)
		return ps->bad;
	if (has_shape) {
		if ((rc = shape_size(size, dims, ndim, &count, &size)) < 0)
			return rc;
		if (size > NPY_ITEMSIZE_MAX)
			return -EOVERFLOW;
	}
	*itemsize = size;
	return 0;
}

/* A list of fields; their sizes add up, their names are unique. */
static int parse_fields(struct parser *ps, uint64_t *itemsize)
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
static int parse_descr(struct parser *ps, uint64_t *itemsize, bool *is_void)
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
	return typestr_size(s, n, ps->bad, itemsize, is_void);
}

/* Whether [s, s + n) is well-formed UTF-8 (Python's strict decoder). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		unsigned char c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 &&
		     (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += len;
	}
	return true;
}

/* The header dict, filling the descr, fortran_order and shape of *out. */
static int parse_dict(struct parser *ps, struct shmblock_npy_info *out)
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
			rc = parse_descr(ps, &out->itemsize, &is_void);
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

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

SHMBLOCK_API int shmblock_npy_probe(const void *buf, size_t len,
				    uint64_t block_size,
				    struct shmblock_npy_info *out)
{
	const unsigned char *b = buf;
	struct shmblock_npy_info info;
	struct parser ps = { .bad = -EBADMSG };
	uint64_t prefix, hlen, need;
	int rc;

	memset(&info, 0, sizeof(info));
	if (len > block_size)
		len = (size_t)block_size;
	if (len && !b)
		return -EINVAL;
	/* What is there of the magic must match before anything else. */
	if (len &&
	    memcmp(b, NPY_MAGIC, len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN))
		return -EBADMSG;
	need = NPY_MAGIC_LEN + 2;
	if (len >= need) {
		info.major = b[6];
		info.minor = b[7];
		if (info.minor != 0 || info.major < 1 || info.major > 3)
			return -EBADMSG;
		need = info.major == 1 ? 10 : 12;
	}
	if (block_size < need)
		return -EBADMSG;
	if (len < need)
		goto more;
	prefix = need;
	hlen = info.major == 1 ? (uint64_t)b[8] | (uint64_t)b[9] << 8
			       : le32(b + 8);
	if (hlen > SHMBLOCK_NPY_HEADER_MAX)
		return -EBADMSG;
	need = prefix + hlen;
	if (block_size < need)
		return -EBADMSG;
	if (len < need)
		goto more;
	info.data_offset = need;

	if (info.major == 3 && !utf8_valid(b + prefix, hlen))
		return -EBADMSG;
	ps.p = b + prefix;
	ps.end = b + need;
	rc = parse_dict(&ps, &info);
	if (rc < 0)
		return rc;
	if (ps.refused)
		return ps.refused;
	rc = shape_size(info.itemsize, info.shape, info.ndim, &info.count,
			&info.nbytes);
	if (rc < 0)
		return rc;
	if (info.nbytes > block_size - info.data_offset)
		return -EOVERFLOW;
	if (out)
		*out = info;
	return 0;

more:
	if (out) {
		memset(out, 0, sizeof(*out));
		out->data_offset = need;
	}
	return -ENOBUFS;
}

/* Reads exactly len bytes at off; -EAGAIN when the file ends before. */
static int pread_full(int fd, unsigned char *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EAGAIN;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

SHMBLOCK_API int shmblock_npy_probe_fd(int fd, uint64_t size, void *buf,
				       size_t buflen,
				       struct shmblock_npy_info *out)
{
	struct shmblock_npy_info info;
	size_t have = 0, want = 12;
	int rc;

	if (buflen < 12)
		return -EINVAL;
	for (;;) {
		if (want > size)
			want = (size_t)size;
		if (want > have) {
			rc = pread_full(fd, (unsigned char *)buf + have,
					want - have, have);
			if (rc < 0)
				return rc;
			have = want;
		}
		rc = shmblock_npy_probe(buf, have, size, &info);
		if (rc != -ENOBUFS)
			break;
		if (info.data_offset > buflen) {
			if (out)
				*out = info;
			return -ENOBUFS;
		}
		want = (size_t)info.data_offset;
	}
	if (rc == 0 && out)
		*out = info;
	return rc;
}

/*
 * Checks a descr given by a caller: a type string ("<f8"), or a Python
 * literal as dtype.descr's repr() gives it ("'<f8'", "[('x', '<f4')]").
 * UTF-8 text.
 */
static int descr_check(const char *descr, uint64_t *itemsize, bool *quoted)
{
	struct parser ps = { .bad = -EINVAL };
	size_t len;
	bool is_void;
	int rc;

	if (!descr)
		return -EINVAL;
	len = strnlen(descr, SHMBLOCK_NPY_HEADER_MAX + 1);
	if (len == 0 || len > SHMBLOCK_NPY_HEADER_MAX)
		return -EINVAL;
	if (!utf8_valid((const unsigned char *)descr, len))
		return -EINVAL;
	*quoted = descr[0] == '[' || descr[0] == '\'' || descr[0] == '"';
	if (!*quoted) {
		if (strchr(descr, '\'') || strchr(descr, '\\'))
			return -EINVAL;
		return typestr_size((const unsigned char *)descr, len, -EINVAL,
				    itemsize, &is_void);
	}
	ps.p = (const unsigned char *)descr;
	ps.end = ps.p + len;
	rc = parse_descr(&ps, itemsize, &is_void);
	if (rc < 0)
		return rc;
	/* One line: the header is one line, whatever the literal held. */
	if (ps.p != ps.end || memchr(descr, '\n', len) ||
	    memchr(descr, '\r', len))
		return -EINVAL;
	return ps.refused;
}

SHMBLOCK_API int shmblock_npy_describe(const char *descr, unsigned ndim,
				       const uint64_t *shape,
				       bool fortran_order,
				       struct shmblock_npy_info *out)
{
	struct shmblock_npy_info info;
	bool quoted;
	int rc;

	memset(&info, 0, sizeof(info));
	if (ndim > SHMBLOCK_NPY_MAX_DIMS || (ndim && !shape))
		return -EINVAL;
	rc = descr_check(descr, &info.itemsize, &quoted);
	if (rc < 0)
		return rc;
	if (ndim)
		memcpy(info.shape, shape, ndim * sizeof(*shape));
	info.ndim = ndim;
	rc = shape_size(info.itemsize, info.shape, ndim, &info.count,
			&info.nbytes);
	if (rc < 0)
		return rc;
	info.fortran_order = fortran_order;
	info.structured = descr[0] == '[';
	if (quoted && !info.structured) { /* the text inside the quotes */
		info.descr = descr + 1;
		info.descr_len = strlen(descr) - 2;
	} else {
		info.descr = descr;
		info.descr_len = strlen(descr);
	}
	if (out)
		*out = info;
	return 0;
}

/* Appends to a buffer that may be too small: only the length grows then. */
struct text {
	char *p;
	size_t cap, len;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->len < t->cap)
		memcpy(t->p + t->len, s,
		       n < t->cap - t->len ? n : t->cap - t->len);
	t->len += n;
}

static void put_str(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void put_u64(struct text *t, uint64_t v)
{
	char d[24];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while (v /= 10);
	put(t, d + i, sizeof(d) - i);
}

/* The dict, as NumPy writes it (without padding). */
static void put_dict(struct text *t, const char *descr, bool quote,
		     unsigned ndim, const uint64_t *shape, bool fortran_order)
{
	unsigned i;

	put_str(t, "{'descr': ");
	if (quote)
		put_str(t, "'");
	put_str(t, descr);
	if (quote)
		put_str(t, "'");
	put_str(t, ", 'fortran_order': ");
	put_str(t, fortran_order ? "True" : "False");
	put_str(t, ", 'shape': (");
	for (i = 0; i < ndim; i++) {
		if (i)
			put_str(t, ", ");
		put_u64(t, shape[i]);
	}
	put_str(t, ndim == 1 ? ",), }" : "), }");
}

SHMBLOCK_API ssize_t shmblock_npy_header_build(const char *descr, unsigned ndim,
					       const uint64_t *shape,
					       bool fortran_order, size_t align,
					       void *buf, size_t buflen)
{
	struct shmblock_npy_info info;
	struct text t = { 0 };
	size_t prefix, dict, total, hlen;
	unsigned char major = 1;
	bool quoted;
	size_t i;
	int rc;

	if (align == 0)
		align = 64;
	if (align % 64 || (align & (align - 1)) || align > (1u << 30))
		return -EINVAL;
	rc = shmblock_npy_describe(descr, ndim, shape, fortran_order, &info);
	if (rc < 0)
		return rc;
	quoted = descr[0] == '[' || descr[0] == '\'' || descr[0] == '"';
	put_dict(&t, descr, !quoted, ndim, shape, fortran_order);
	dict = t.len;
	/* UTF-8 text needs 3.0: 1.0 and 2.0 headers are read as Latin-1. */
	for (i = 0; descr[i]; i++)
		if ((unsigned char)descr[i] >= 0x80)
			major = 3;
	for (;;) {
		prefix = major == 1 ? 10 : 12;
		total = (prefix + dict + 1 + align - 1) / align * align;
		hlen = total - prefix;
		if (major != 1 || hlen <= 0xffff)
			break;
		major = 2;
	}
	if (hlen > SHMBLOCK_NPY_HEADER_MAX)
		return -EINVAL;
	if (!buf || buflen < total)
		return (ssize_t)total;

	t.p = buf;
	t.cap = buflen;
	t.len = 0;
	put(&t, NPY_MAGIC, NPY_MAGIC_LEN);
	put(&t, (const char[]){ (char)major, 0 }, 2);
	put(&t,
	    (const char[]){ (char)(hlen & 0xff), (char)(hlen >> 8 & 0xff),
			    (char)(hlen >> 16 & 0xff),
			    (char)(hlen >> 24 & 0xff) },
	    prefix - 8);
	put_dict(&t, descr, !quoted, ndim, shape, fortran_order);
	memset(t.p + t.len, ' ', total - 1 - t.len);
	t.p[total - 1] = '\n';
	return (ssize_t)total;
}

SHMBLOCK_API int shmblock_npy_shape_parse(const char *text, size_t len,
					  uint64_t *shape, unsigned *ndim)
{
	struct parser ps = { .bad = -EINVAL };
	unsigned n = 0;
	int rc;

	if (!text || !shape || !ndim)
		return -EINVAL;
	if (len && text[len - 1] == '\n')
		len--;
	ps.p = (const unsigned char *)text;
	ps.end = ps.p + len;
	while (ps.p < ps.end) {
		if (n == SHMBLOCK_NPY_MAX_DIMS)
			return -EINVAL;
		/* No blanks: "1000,3", as shape_format writes it. */
		if (*ps.p < '0' || *ps.p > '9')
			return -EINVAL;
		if ((rc = parse_uint(&ps, &shape[n++])) < 0)
			return rc;
		if (ps.refused)
			return ps.refused;
		if (ps.p == ps.end)
			break;
		if (*ps.p++ != ',' || ps.p == ps.end)
			return -EINVAL;
	}
	*ndim = n;
	return 0;
}

SHMBLOCK_API ssize_t shmblock_npy_shape_format(const uint64_t *shape,
					       unsigned ndim, char sep,
					       char *out, size_t outlen)
{
	struct text t = { .p = out, .cap = outlen ? outlen - 1 : 0 };
	unsigned i;

	if (ndim > SHMBLOCK_NPY_MAX_DIMS || (ndim && !shape))
		return -EINVAL;
	for (i = 0; i < ndim; i++) {
		if (i)
			put(&t, &sep, 1);
		put_u64(&t, shape[i]);
	}
	if (outlen)
		out[t.len < outlen ? t.len : outlen - 1] = '\0';
	return (ssize_t)t.len;
}
