/* SPDX-License-Identifier: MIT */
/* The text form of lists in the mount (list_text.h). */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list_text.h"

/*
 * Python's repr(float) is the shortest digit string that reads back to the
 * same double, printed in fixed notation when the decimal exponent is in
 * -4 <= exp < 16 and in scientific notation otherwise, with ".0" added to an
 * integral fixed value and at least two exponent digits.  printf's %.*e with
 * increasing precision finds the shortest round-tripping digits.
 */
int list_text_float(double v, char *buf, size_t len)
{
	char sci[40], digits[20], out[64];
	int prec, exp10, ndig = 0, i, o = 0;
	const char *e;

	if (isnan(v))
		return snprintf(buf, len, "nan");
	if (signbit(v))
		out[o++] = '-';
	if (isinf(v))
		return snprintf(buf, len, "%.*sinf", o, out);
	if (v == 0)
		return snprintf(buf, len, "%.*s0.0", o, out);

	for (prec = 0; prec < 17; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec, fabs(v));
		if (strtod(sci, NULL) == fabs(v))
			break;
	}
	/* sci is "d.dddde[+-]xx": collect the digits and the exponent. */
	e = strchr(sci, 'e');
	exp10 = atoi(e + 1);
	for (i = 0; sci + i < e; i++)
		if (sci[i] != '.')
			digits[ndig++] = sci[i];
	while (ndig > 1 && digits[ndig - 1] == '0')
		ndig--;

	if (exp10 < -4 || exp10 >= 16) {
		out[o++] = digits[0];
		if (ndig > 1)
			out[o++] = '.';
		for (i = 1; i < ndig; i++)
			out[o++] = digits[i];
		o += snprintf(out + o, sizeof(out) - (size_t)o, "e%c%02d",
			      exp10 < 0 ? '-' : '+', abs(exp10));
	} else if (exp10 < 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (i = 0; i < -exp10 - 1; i++)
			out[o++] = '0';
		for (i = 0; i < ndig; i++)
			out[o++] = digits[i];
	} else {
		for (i = 0; i <= exp10; i++)
			out[o++] = i < ndig ? digits[i] : '0';
		out[o++] = '.';
		if (ndig <= exp10 + 1)
			out[o++] = '0';
		for (i = exp10 + 1; i < ndig; i++)
			out[o++] = digits[i];
	}
	return snprintf(buf, len, "%.*s", o, out);
}

/* Skips ASCII whitespace at both ends; returns the length left. */
static size_t trim(const char **s, size_t len)
{
	const char *p = *s;

	while (len && strchr(" \t\n\r\f\v", *p) && *p) {
		p++;
		len--;
	}
	while (len && p[len - 1] && strchr(" \t\n\r\f\v", p[len - 1]))
		len--;
	*s = p;
	return len;
}

/* Copies a trimmed number into a NUL-terminated buffer, or -EINVAL. */
static int number_text(const char *text, size_t len, char *out, size_t outlen)
{
	len = trim(&text, len);
	if (len == 0 || len >= outlen || memchr(text, '\0', len))
		return -EINVAL;
	memcpy(out, text, len);
	out[len] = '\0';
	return 0;
}

static int list_text_parse_int(const char *text, size_t len, int64_t *out)
{
	char num[64], *end;
	long long v;
	int rc = number_text(text, len, num, sizeof(num));

	if (rc < 0)
		return rc;
	errno = 0;
	v = strtoll(num, &end, 10);
	if (*end || end == num)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

static int list_text_parse_float(const char *text, size_t len, double *out)
{
	char num[400], *end;
	double v;
	int rc = number_text(text, len, num, sizeof(num));

	if (rc < 0)
		return rc;
	/* strtod also takes hex floats and "infinity"; Python's float() takes
	 * "infinity" too but not hex, so refuse an 'x'. */
	if (strpbrk(num, "xX"))
		return -EINVAL;
	v = strtod(num, &end);
	if (*end || end == num)
		return -EINVAL;
	*out = v;
	return 0;
}

static int list_text_parse_bool(const char *text, size_t len, bool *out)
{
	static const struct {
		const char *word;
		bool value;
	} words[] = {
		{ "True", true }, { "true", true }, { "1", true },
		{ "False", false }, { "false", false }, { "0", false },
	};
	size_t i;

	len = trim(&text, len);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].word) == len &&
		    !memcmp(words[i].word, text, len)) {
			*out = words[i].value;
			return 0;
		}
	}
	return -EINVAL;
}

static int list_text_parse_none(const char *text, size_t len)
{
	len = trim(&text, len);
	if (len == 0 || (len == 4 && !memcmp(text, "None", 4)))
		return 0;
	return -EINVAL;
}

static size_t list_text_str_len(const char *text, size_t len)
{
	if (len && text[len - 1] == '\n')
		len--;
	return len;
}

int text_add(struct text *t, const void *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *b = realloc(t->buf, cap);

		if (!b)
			return -ENOMEM;
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
}

int text_str(struct text *t, const char *s)
{
	return text_add(t, s, strlen(s));
}

void text_free(struct text *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

const char *const list_type_names[] = {
	[SHMBLOCK_TYPE_NONE] = "none",
	[SHMBLOCK_TYPE_INT] = "int",
	[SHMBLOCK_TYPE_FLOAT] = "float",
	[SHMBLOCK_TYPE_BOOL] = "bool",
	[SHMBLOCK_TYPE_STR] = "str",
	[SHMBLOCK_TYPE_BYTES] = "bytes",
};

int list_text_parse_name(const char *name, uint64_t *index, int *type)
{
	const char *p = name, *dot;
	uint64_t i = 0;
	int t;

	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return -ENOENT;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (i > (UINT64_MAX >> 4) / 10)
			return -ENOENT;
		i = i * 10 + (uint64_t)(*p - '0');
	}
	*index = i;
	if (!*p) {
		*type = LIST_TYPE_BARE;
		return 0;
	}
	if (*p != '.')
		return -ENOENT;
	dot = p + 1;
	for (t = 0; t <= SHMBLOCK_TYPE_BYTES; t++) {
		if (!strcmp(dot, list_type_names[t])) {
			*type = t;
			return 0;
		}
	}
	return -ENOENT;
}

/* Text of a scalar as an item file shows it, without the newline. */
static int scalar_text(const struct shmblock_value *v, char out[64])
{
	switch (v->type) {
	case SHMBLOCK_TYPE_INT:
		return snprintf(out, 64, "%" PRId64, v->i);
	case SHMBLOCK_TYPE_FLOAT:
		return list_text_float(v->f, out, 64);
	case SHMBLOCK_TYPE_BOOL:
		return snprintf(out, 64, "%s", v->b ? "True" : "False");
	default:
		return snprintf(out, 64, "None");
	}
}

int list_text_item(const struct list_snap *snap, uint64_t index,
		   struct text *t)
{
	struct shmblock_value v;
	char num[64], *owned;
	int rc;

	rc = list_snap_read(snap, index, &v, &owned);
	if (rc < 0)
		return rc;
	switch (v.type) {
	case SHMBLOCK_TYPE_BYTES:
		rc = text_add(t, v.s.ptr, v.s.len);
		break;
	case SHMBLOCK_TYPE_STR:
		rc = text_add(t, v.s.ptr, v.s.len);
		if (rc == 0)
			rc = text_str(t, "\n");
		break;
	default:
		scalar_text(&v, num);
		rc = text_str(t, num);
		if (rc == 0)
			rc = text_str(t, "\n");
	}
	free(owned);
	return rc;
}

/* A JSON string: quotes, escapes, UTF-8 passed through. */
static int json_string(struct text *t, const char *s, size_t len)
{
	char esc[8];
	size_t i;
	int rc = text_str(t, "\"");

	for (i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			rc = text_add(t, esc, 2);
		} else if (c == '\n') {
			rc = text_str(t, "\\n");
		} else if (c == '\t') {
			rc = text_str(t, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			rc = text_str(t, esc);
		} else {
			rc = text_add(t, &s[i], 1);
		}
	}
	return rc ? rc : text_str(t, "\"");
}

static int json_bytes(struct text *t, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t k;
	int rc = text_str(t, "{\"bytes\": \"");

	for (k = 0; k < len && rc == 0; k++) {
		char h[2] = {
			hex[(unsigned char)s[k] >> 4],
			hex[(unsigned char)s[k] & 15],
		};

		rc = text_add(t, h, 2);
	}
	return rc ? rc : text_str(t, "\"}");
}

static int json_value(struct text *t, const struct shmblock_value *v)
{
	char num[64];

	switch (v->type) {
	case SHMBLOCK_TYPE_STR:
		return json_string(t, v->s.ptr, v->s.len);
	case SHMBLOCK_TYPE_BYTES:
		return json_bytes(t, v->s.ptr, v->s.len);
	case SHMBLOCK_TYPE_NONE:
		return text_str(t, "null");
	case SHMBLOCK_TYPE_BOOL:
		return text_str(t, v->b ? "true" : "false");
	case SHMBLOCK_TYPE_FLOAT:
		scalar_text(v, num);
		if (strchr(num, 'n'))   /* inf, -inf, nan */
			return json_string(t, num, strlen(num));
		return text_str(t, num);
	default:
		scalar_text(v, num);
		return text_str(t, num);
	}
}

int list_text_json(const struct list_snap *snap, struct text *t)
{
	struct shmblock_value v;
	char *owned = NULL;
	uint64_t i;
	int rc = text_str(t, "[");

	/* Each item is one it held; the list as a whole may be mid-change. */
	for (i = 0; i < snap->lay->count && rc == 0; i++) {
		if (i)
			rc = text_str(t, ", ");
		if (rc == 0)
			rc = list_snap_read(snap, i, &v, &owned);
		if (rc == 0)
			rc = json_value(t, &v);
		free(owned);
		owned = NULL;
	}
	return rc ? rc : text_str(t, "]\n");
}

int list_text_format(const struct list_snap *snap, struct text *t)
{
	ssize_t n = shmblock_slist_format_render(snap->lay, NULL, 0);
	char *buf;
	int rc;

	if (n < 0)
		return (int)n;
	buf = malloc((size_t)n + 1);
	if (!buf)
		return -ENOMEM;
	shmblock_slist_format_render(snap->lay, buf, (size_t)n + 1);
	rc = text_add(t, buf, (size_t)n);
	free(buf);
	return rc ? rc : text_str(t, "\n");
}

int list_text_value(int type, const char *text, size_t len,
		    struct shmblock_value *v)
{
	int rc = 0;

	v->type = (enum shmblock_type)type;
	switch (type) {
	case SHMBLOCK_TYPE_INT:
		rc = list_text_parse_int(text, len, &v->i);
		break;
	case SHMBLOCK_TYPE_FLOAT:
		rc = list_text_parse_float(text, len, &v->f);
		break;
	case SHMBLOCK_TYPE_BOOL:
		rc = list_text_parse_bool(text, len, &v->b);
		break;
	case SHMBLOCK_TYPE_NONE:
		rc = list_text_parse_none(text, len);
		break;
	case SHMBLOCK_TYPE_STR:
		v->s.ptr = text;
		v->s.len = list_text_str_len(text, len);
		break;
	default:
		v->s.ptr = text;
		v->s.len = len;
	}
	return rc < 0 ? -EINVAL : 0;
}
