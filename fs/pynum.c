/* SPDX-License-Identifier: MIT */
/* Numbers as CPython writes and reads them: repr(float), int(str), float(str). */

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pynum.h"
#include "pynum_tables.h"

/* ---- repr(float) ---- */

/*
 * A decimal candidate: the integer m times 10^scale.  m has at most 17
 * digits, so it fits a uint64_t.
 */
struct dec {
	uint64_t m;
	int scale;
};

/* The p significant digits of a > 0, correctly rounded (glibc's printf is). */
static struct dec nearest(double a, int p)
{
	char sci[40];
	struct dec d = { 0, 0 };
	const char *s;

	snprintf(sci, sizeof(sci), "%.*e", p - 1, a);
	for (s = sci; *s != 'e'; s++)
		if (*s != '.')
			d.m = d.m * 10 + (uint64_t)(*s - '0');
	d.scale = atoi(s + 1) - (p - 1);
	return d;
}

/* Whether d reads back as a (strtod rounds correctly, as Python's does). */
static bool reads_back(struct dec d, double a)
{
	char text[48];

	if (d.m == 0)
		return false;
	snprintf(text, sizeof(text), "%llue%d", (unsigned long long)d.m,
		 d.scale);
	return strtod(text, NULL) == a;
}

/* Drops trailing zeros from d.m; returns its number of digits. */
static int normalize(struct dec *d)
{
	int n = 1;
	uint64_t m;

	while (d->m && d->m % 10 == 0) {
		d->m /= 10;
		d->scale++;
	}
	for (m = d->m; m >= 10; m /= 10)
		n++;
	return n;
}

/*
 * The sign of a - d, exactly: every double has a finite decimal expansion
 * of at most 767 significant digits, which glibc prints exactly.
 */
static int compare_exact(double a, struct dec d)
{
	char exact[800], xd[800], dig[24];
	int ea, ed, n = 0, nd, i;
	const char *e;

	snprintf(exact, sizeof(exact), "%.767e", a);
	e = strchr(exact, 'e');
	ea = atoi(e + 1);
	for (i = 0; exact + i < e; i++)
		if (exact[i] != '.')
			xd[n++] = exact[i];
	nd = snprintf(dig, sizeof(dig), "%llu", (unsigned long long)d.m);
	ed = d.scale + nd - 1;
	if (ea != ed)
		return ea > ed ? 1 : -1;
	/* Same leading exponent: compare the digit strings, zero-padded. */
	for (i = 0; i < n || i < nd; i++) {
		char ca = i < n ? xd[i] : '0', cd = i < nd ? dig[i] : '0';

		if (ca != cd)
			return ca > cd ? 1 : -1;
	}
	return 0;
}

/*
 * The shortest digits that read back as a > 0, the closest to a among
 * those.  At each precision p the nearest p-digit number is the closest;
 * when it does not read back, its neighbours one unit of the last digit
 * away still may: the interval of numbers that read back as a is lopsided
 * for a power of two (the double below is half as far as the one above),
 * so a longer but farther digit string is not the answer there.  A
 * neighbour two units away is never closer than the interval's edge.
 */
static struct dec shortest(double a)
{
	struct dec d, lo, hi;
	bool ok_lo, ok_hi;
	int p;

	for (p = 1; p <= 17; p++) {
		d = nearest(a, p);
		if (reads_back(d, a))
			return d;
		lo = (struct dec){ d.m - 1, d.scale };
		hi = (struct dec){ d.m + 1, d.scale };
		ok_lo = reads_back(lo, a);
		ok_hi = reads_back(hi, a);
		if (ok_lo && ok_hi) {
			int nlo = normalize(&lo), nhi = normalize(&hi);

			if (nlo != nhi)
				return nlo < nhi ? lo : hi;
			/* a is above d exactly when hi is the closer one. */
			return compare_exact(a, d) > 0 ? hi : lo;
		}
		if (ok_lo)
			return lo;
		if (ok_hi)
			return hi;
	}
	/* Not reached: 17 significant digits always read back. */
	return nearest(a, 17);
}

/* Lays out the digits of d as Python does; returns the length of out. */
static int layout(struct dec d, bool neg, char *out)
{
	char dig[24];
	int n, exp10, o = 0, i;

	normalize(&d);
	n = snprintf(dig, sizeof(dig), "%llu", (unsigned long long)d.m);
	exp10 = d.scale + n - 1;
	if (neg)
		out[o++] = '-';
	if (exp10 < -4 || exp10 >= 16) {
		/* 1e+16, 1.5e-05: no ".0", at least two exponent digits. */
		out[o++] = dig[0];
		if (n > 1) {
			out[o++] = '.';
			memcpy(out + o, dig + 1, (size_t)n - 1);
			o += n - 1;
		}
		return o + sprintf(out + o, "e%c%02d", exp10 < 0 ? '-' : '+',
				   abs(exp10));
	}
	if (exp10 < 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (i = 0; i < -exp10 - 1; i++)
			out[o++] = '0';
		memcpy(out + o, dig, (size_t)n);
		return o + n;
	}
	for (i = 0; i <= exp10; i++)
		out[o++] = i < n ? dig[i] : '0';
	out[o++] = '.';
	if (n <= exp10 + 1)
		out[o++] = '0';
	for (i = exp10 + 1; i < n; i++)
		out[o++] = dig[i];
	return o;
}

int pynum_repr_float(double v, char *buf, size_t len)
{
	char out[40];
	int n;

	if (isnan(v))
		return snprintf(buf, len, "nan"); /* never "-nan" */
	if (isinf(v))
		return snprintf(buf, len, "%sinf", signbit(v) ? "-" : "");
	if (v == 0)
		return snprintf(buf, len, "%s0.0", signbit(v) ? "-" : "");
	n = layout(shortest(fabs(v)), signbit(v), out);
	return snprintf(buf, len, "%.*s", n, out);
}

/* ---- int(str) and float(str) ---- */

/*
 * Decodes one UTF-8 code point at *s (strictly: no overlong forms, no
 * surrogates, nothing above U+10FFFF); returns it, or -1.
 */
static long next_code_point(const unsigned char **s, const unsigned char *end)
{
	const unsigned char *p = *s;
	unsigned long c;
	int n, i;

	if (p[0] < 0x80) {
		*s = p + 1;
		return p[0];
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 1;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 2;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 3;
		c = p[0] & 0x07;
	} else {
		return -1;
	}
	if (end - p <= n)
		return -1;
	for (i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && c < 0x800) || (n == 3 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*s = p + n + 1;
	return (long)c;
}

static bool in_table(const uint32_t *t, size_t n, uint32_t c)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t[mid] == c)
			return true;
		if (t[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The decimal value of c (0-9), or -1: the run whose zero is <= c. */
static int digit_value(uint32_t c)
{
	size_t lo = 0,
	       hi = sizeof(pynum_digit_zeros) / sizeof(pynum_digit_zeros[0]);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pynum_digit_zeros[mid] <= c)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || c - pynum_digit_zeros[lo - 1] > 9)
		return -1;
	return (int)(c - pynum_digit_zeros[lo - 1]);
}

/*
 * CPython's first step for int() and float() of a str: a copy in ASCII
 * where a non-ASCII space is ' ' and a non-ASCII decimal digit its ASCII
 * digit; any other code point from 127 up makes the text invalid.  ASCII
 * passes unchanged, so \x1c-\x1f (spaces to str.strip()) stay and are then
 * refused, as int() refuses them.  A NUL byte is refused (a C string can't
 * carry it; CPython refuses it too).  Returns a malloc'd NUL-terminated
 * copy.
 */
static int to_ascii(const char *text, size_t len, char **out)
{
	const unsigned char *s = (const unsigned char *)text, *end = s + len;
	char *a = malloc(len + 1);
	size_t o = 0;

	if (!a)
		return -ENOMEM;
	while (s < end) {
		long c = next_code_point(&s, end);
		int d;

		if (c <= 0)
			goto invalid;
		if (c < 127) {
			a[o++] = (char)c;
		} else if (in_table(pynum_spaces,
				    sizeof(pynum_spaces) /
					    sizeof(pynum_spaces[0]),
				    (uint32_t)c)) {
			a[o++] = ' ';
		} else {
			d = digit_value((uint32_t)c);
			if (d < 0)
				goto invalid;
			a[o++] = (char)('0' + d);
		}
	}
	a[o] = '\0';
	*out = a;
	return 0;
invalid:
	free(a);
	return -EINVAL;
}

/* Python's Py_ISSPACE: ASCII whitespace only, after to_ascii. */
static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* PyLong_FromString in base 10, on the ASCII copy. */
static int parse_int_ascii(const char *p, int64_t *out)
{
	bool neg = false, over = false;
	uint64_t v = 0, limit;

	while (is_space(*p))
		p++;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!is_digit(*p))
		return -EINVAL; /* also a leading underscore */
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (;;) {
		if (is_digit(*p)) {
			unsigned dig = (unsigned)(*p - '0');

			/* Keep reading past an overflow: bad syntax wins. */
			if (v > (limit - dig) / 10)
				over = true;
			else
				v = v * 10 + dig;
		} else if (*p == '_' && is_digit(p[1])) {
			/* Single underscores between digits only. */
		} else {
			break;
		}
		p++;
	}
	while (is_space(*p))
		p++;
	if (*p)
		return -EINVAL;
	if (over)
		return -ERANGE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int pynum_parse_int(const char *text, size_t len, int64_t *out)
{
	char *a;
	int rc = to_ascii(text, len, &a);

	if (rc < 0)
		return rc;
	rc = parse_int_ascii(a, out);
	free(a);
	return rc;
}

/*
 * Removes the underscores in place, as CPython's
 * _Py_string_to_number_with_underscores does for float(): each must follow
 * a digit and precede one, over the whole text (whitespace included, so
 * "_1" and "1_ " are refused).
 */
static int drop_underscores(char *s)
{
	char prev = '\0', *o = s;
	const char *p;

	for (p = s; *p; p++) {
		if (*p == '_') {
			if (!is_digit(prev))
				return -EINVAL;
		} else {
			if (prev == '_' && !is_digit(*p))
				return -EINVAL;
			*o++ = *p;
		}
		prev = *p;
	}
	*o = '\0';
	return prev == '_' ? -EINVAL : 0;
}

/* Whether s is word with letters in any case. */
static bool same_word(const char *s, size_t n, const char *word)
{
	size_t i;

	if (n != strlen(word))
		return false;
	for (i = 0; i < n; i++)
		if ((s[i] | 0x20) != word[i])
			return false;
	return true;
}

/* Python's inf and nan spellings, the whole of s..end; 0 or -EINVAL. */
static int parse_special(const char *s, const char *end, double *out)
{
	bool neg = false;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (same_word(s, (size_t)(end - s), "inf") ||
	    same_word(s, (size_t)(end - s), "infinity"))
		*out = neg ? -INFINITY : INFINITY;
	else if (same_word(s, (size_t)(end - s), "nan"))
		*out = copysign(NAN, neg ? -1.0 : 1.0);
	else
		return -EINVAL;
	return 0;
}

static const char *skip_digits(const char *p, const char *end)
{
	while (p < end && is_digit(*p))
		p++;
	return p;
}

/*
 * The decimal grammar of CPython's float(): sign? (digits ("." digits?)? |
 * "." digits) (("e"|"E") sign? digits)?, the whole of s..end.  strtod
 * reads a superset of it (hex, "nan(...)"), so only checked text reaches it.
 */
static bool is_decimal(const char *s, const char *end)
{
	const char *p = s, *q;

	if (p < end && (*p == '+' || *p == '-'))
		p++;
	q = skip_digits(p, end);
	if (q < end && *q == '.') {
		const char *f = skip_digits(q + 1, end);

		if (q == p && f == q + 1)
			return false; /* "." alone */
		q = f;
	} else if (q == p) {
		return false;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		const char *x = q + 1;

		if (x < end && (*x == '+' || *x == '-'))
			x++;
		if (x == end || !is_digit(*x))
			return false;
		q = skip_digits(x, end);
	}
	return q == end;
}

static int parse_float_ascii(char *a, double *out)
{
	char *s = a, *end, *stop;
	double v;
	int rc;

	if (strchr(a, '_')) {
		rc = drop_underscores(a);
		if (rc < 0)
			return rc;
	}
	end = s + strlen(s);
	while (is_space(*s))
		s++;
	while (end > s && is_space(end[-1]))
		end--;
	if (parse_special(s, end, out) == 0)
		return 0;
	if (!is_decimal(s, end))
		return -EINVAL;
	*end = '\0';
	/* Overflow gives ±HUGE_VAL (inf) and underflow ±0, as in Python. */
	v = strtod(s, &stop);
	if (stop != end)
		return -EINVAL;
	*out = v;
	return 0;
}

int pynum_parse_float(const char *text, size_t len, double *out)
{
	char *a;
	int rc = to_ascii(text, len, &a);

	if (rc < 0)
		return rc;
	rc = parse_float_ascii(a, out);
	free(a);
	return rc;
}

/* ---- Whether a text can still become a number ---- */

/*
 * The states of int()'s and float()'s grammar (as above, on the ASCII copy)
 * while the text is read left to right; S_DEAD once no continuation can
 * make it a number.
 */
enum {
	S_DEAD,
	S_LEAD,	    /* whitespace so far */
	S_SIGN,	    /* a sign */
	S_INT,	    /* digits, the last one a digit */
	S_INT_US,   /* digits and an underscore: a digit must follow */
	S_DOT,	    /* float: "." with no digit before it */
	S_POINT,    /* float: digits and "." */
	S_FRAC,	    /* float: digits after the point */
	S_FRAC_US,  /* float: ... and an underscore */
	S_EXP,	    /* float: the exponent's letter */
	S_EXP_SIGN, /* float: its sign */
	S_EXP_DIG,  /* float: its digits */
	S_EXP_US,   /* float: ... and an underscore */
	S_WORD,	    /* float: letters of "inf", "infinity" or "nan" */
	S_TRAIL,    /* whitespace after a whole number */
};

struct num_scan {
	bool is_float;
	int state;
	bool neg;	  /* int: the sign... */
	uint64_t v;	  /* ...and the digits' value so far */
	const char *word; /* S_WORD: the word, and how much of it is read */
	size_t wlen;
};

/* Whether the letters read complete a word float() takes. */
static bool word_done(const struct num_scan *s)
{
	return s->wlen == 3 || s->wlen == strlen(s->word);
}

/* One ASCII character of the copy; returns the new state. */
static int scan_char(struct num_scan *s, char c)
{
	bool digit = is_digit(c), space = is_space(c);
	bool f = s->is_float;

	switch (s->state) {
	case S_LEAD:
		if (space)
			return S_LEAD;
		if (c == '+' || c == '-') {
			s->neg = c == '-';
			return S_SIGN;
		}
		/* Anything else is read as after a sign. */
		/* fall through */
	case S_SIGN:
		if (digit)
			break;
		if (f && c == '.')
			return S_DOT;
		if (f && ((c | 0x20) == 'i' || (c | 0x20) == 'n')) {
			s->word = (c | 0x20) == 'i' ? "infinity" : "nan";
			s->wlen = 1;
			return S_WORD;
		}
		return S_DEAD;
	case S_INT:
		if (digit)
			break;
		if (c == '_')
			return S_INT_US;
		if (f && c == '.')
			return S_POINT;
		if (f && (c == 'e' || c == 'E'))
			return S_EXP;
		return space ? S_TRAIL : S_DEAD;
	case S_INT_US:
		if (digit)
			break;
		return S_DEAD;
	case S_DOT:
		return digit ? S_FRAC : S_DEAD;
	case S_POINT:
	case S_FRAC:
		if (digit)
			return S_FRAC;
		if (c == '_' && s->state == S_FRAC)
			return S_FRAC_US;
		if (c == 'e' || c == 'E')
			return S_EXP;
		return space ? S_TRAIL : S_DEAD;
	case S_FRAC_US:
		return digit ? S_FRAC : S_DEAD;
	case S_EXP:
		if (c == '+' || c == '-')
			return S_EXP_SIGN;
		/* fall through */
	case S_EXP_SIGN:
	case S_EXP_US:
		return digit ? S_EXP_DIG : S_DEAD;
	case S_EXP_DIG:
		if (digit)
			return S_EXP_DIG;
		if (c == '_')
			return S_EXP_US;
		return space ? S_TRAIL : S_DEAD;
	case S_WORD:
		if (s->wlen < strlen(s->word) &&
		    (c | 0x20) == s->word[s->wlen]) {
			s->wlen++;
			return S_WORD;
		}
		return space && word_done(s) ? S_TRAIL : S_DEAD;
	case S_TRAIL:
		return space ? S_TRAIL : S_DEAD;
	default:
		return S_DEAD;
	}
	/* A digit of the integer part. */
	if (!f) {
		uint64_t limit = s->neg ? (uint64_t)INT64_MAX + 1
					: (uint64_t)INT64_MAX;
		unsigned d = (unsigned)(c - '0');

		if (s->v > (limit - d) / 10)
			return S_DEAD; /* no int64: more digits only grow it */
		s->v = s->v * 10 + d;
	}
	return S_INT;
}

/* The UTF-8 form of c (>= 0x80); returns its length. */
static size_t utf8_encode(uint32_t c, unsigned char u[4])
{
	size_t len = c < 0x800 ? 2 : c < 0x10000 ? 3 : 4, i;

	for (i = len - 1; i > 0; i--) {
		u[i] = (unsigned char)(0x80 | (c & 0x3f));
		c >>= 6;
	}
	u[0] = (unsigned char)((len == 2 ? 0xc0 : len == 3 ? 0xe0 : 0xf0) | c);
	return len;
}

/*
 * Whether some code point that int() and float() read (a Unicode space or
 * decimal digit) begins with the `n` bytes of `tail`, an incomplete UTF-8
 * form, and keeps the text a number's beginning.
 */
static bool tail_may_complete(const struct num_scan *s,
			      const unsigned char *tail, size_t n)
{
	size_t nz = sizeof(pynum_digit_zeros) / sizeof(pynum_digit_zeros[0]);
	size_t ns = sizeof(pynum_spaces) / sizeof(pynum_spaces[0]);
	size_t i;

	for (i = 0; i < nz * 10 + ns; i++) {
		bool is_digit_cp = i < nz * 10;
		uint32_t c = is_digit_cp ? pynum_digit_zeros[i / 10] + i % 10
					 : pynum_spaces[i - nz * 10];
		unsigned char u[4];
		struct num_scan t = *s;

		if (c < 0x80 || utf8_encode(c, u) <= n || memcmp(u, tail, n))
			continue;
		if (scan_char(&t, is_digit_cp ? (char)('0' + i % 10) : ' ') !=
		    S_DEAD)
			return true;
	}
	return false;
}

static int number_prefix(const char *text, size_t len, bool is_float)
{
	const unsigned char *p = (const unsigned char *)text, *end = p + len;
	struct num_scan s = { .is_float = is_float, .state = S_LEAD };
	while (p < end) {
		const unsigned char *at = p;
		long c = next_code_point(&p, end);
		char a;
		int d;

		if (c < 0) {
			/* An incomplete code point at the very end may still
			 * become a space or a digit. */
			size_t need = *at >= 0xf0 ? 4 : *at >= 0xe0 ? 3 : 2;

			if ((size_t)(end - at) < need &&
			    tail_may_complete(&s, at, (size_t)(end - at)))
				return 0;
			return -EINVAL;
		}
		if (c == 0)
			return -EINVAL;
		if (c < 127) {
			a = (char)c;
		} else if (in_table(pynum_spaces,
				    sizeof(pynum_spaces) /
					    sizeof(pynum_spaces[0]),
				    (uint32_t)c)) {
			a = ' ';
		} else {
			d = digit_value((uint32_t)c);
			if (d < 0)
				return -EINVAL;
			a = (char)('0' + d);
		}
		s.state = scan_char(&s, a);
		if (s.state == S_DEAD)
			return -EINVAL;
	}
	return 0;
}

int pynum_int_prefix(const char *text, size_t len)
{
	return number_prefix(text, len, false);
}

int pynum_float_prefix(const char *text, size_t len)
{
	return number_prefix(text, len, true);
}
