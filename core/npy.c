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
 * few bytes per byte of header.  The literals' lexer and grammars are in
 * core/npy_literal.c; this file checks the framing around them and writes
 * headers and shape text.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmblock.h"
#include "npy_literal.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6

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
	struct npy_parser ps = { .bad = -EBADMSG };
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
	rc = shmblock__npy_parse_dict(&ps, &info);
	if (rc < 0)
		return rc;
	if (ps.refused)
		return ps.refused;
	rc = shmblock__npy_shape_size(info.itemsize, info.shape, info.ndim,
				      &info.count, &info.nbytes);
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
	struct npy_parser ps = { .bad = -EINVAL };
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
		return shmblock__npy_typestr_size((const unsigned char *)descr,
						  len, -EINVAL, itemsize,
						  &is_void);
	}
	ps.p = (const unsigned char *)descr;
	ps.end = ps.p + len;
	rc = shmblock__npy_parse_descr(&ps, itemsize, &is_void);
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
	rc = shmblock__npy_shape_size(info.itemsize, info.shape, ndim,
				      &info.count, &info.nbytes);
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
	struct npy_parser ps = { .bad = -EINVAL };
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
		if ((rc = shmblock__npy_parse_uint(&ps, &shape[n++])) < 0)
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