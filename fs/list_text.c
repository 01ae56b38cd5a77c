/* SPDX-License-Identifier: MIT */
/* The text form of lists in the mount (list_text.h). */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list_text.h"
#include "pynum.h"

/* Python's repr(float), exactly (pynum.c). */
int list_text_float(double v, char *buf, size_t len)
{
	return pynum_repr_float(v, buf, len);
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

static int list_text_parse_bool(const char *text, size_t len, bool *out)
{
	static const struct {
		const char *word;
		bool value;
	} words[] = {
		{ "True", true },   { "true", true },	{ "1", true },
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
	[SHMBLOCK_TYPE_NONE] = "none",	 [SHMBLOCK_TYPE_INT] = "int",
	[SHMBLOCK_TYPE_FLOAT] = "float", [SHMBLOCK_TYPE_BOOL] = "bool",
	[SHMBLOCK_TYPE_STR] = "str",	 [SHMBLOCK_TYPE_BYTES] = "bytes",
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

int list_text_item(const struct list_snap *snap, uint64_t index, struct text *t)
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
		if (strchr(num, 'n')) /* inf, -inf, nan */
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
	ssize_t n;
	char *buf;
	int rc;

	/* The format is the formats' table, torn by a store just now. */
	if (snap->shallow)
		return -EAGAIN;
	n = shmblock_slist_format_render(snap->lay, NULL, 0);
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
		rc = pynum_parse_int(text, len, &v->i);
		break;
	case SHMBLOCK_TYPE_FLOAT:
		rc = pynum_parse_float(text, len, &v->f);
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
	/* int() out of int64 (-ERANGE) is a value the item can't hold. */
	if (rc < 0 && rc != -ENOMEM)
		rc = -EINVAL;
	return rc;
}
