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

static int json_item(void *arg, size_t index, const struct shmblock_value *v)
{
	struct text *t = arg;
	int rc = index ? text_add(t, ", ", 2) : 0;

	return rc ? rc : json_value(t, v);
}

int list_text_json(const struct list_snap *snap, struct text *t)
{
	int rc = text_str(t, "[");

	/* Each item is one it held; the list as a whole may be mid-change. */
	if (rc == 0)
		rc = list_snap_each(snap, json_item, t);
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

static bool is_ws(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * Whether `text` can begin one of `words` (NULL-terminated) with ASCII
 * whitespace around, as list_text_parse_bool and _none read them: a word
 * is followed by whitespace only once it is whole.
 */
static int words_prefix(const char *text, size_t len, const char *const *words)
{
	size_t i = 0, j, k;

	while (i < len && is_ws(text[i]))
		i++;
	for (j = i; j < len && !is_ws(text[j]); j++)
		;
	for (k = j; k < len; k++)
		if (!is_ws(text[k]))
			return -EINVAL;
	for (; *words; words++) {
		size_t n = strlen(*words);

		if (j - i > n || memcmp(*words, text + i, j - i))
			continue;
		/* Whitespace after a word only once the word is whole. */
		if (j == len || j - i == n)
			return 0;
	}
	return -EINVAL;
}

/*
 * Whether the UTF-8 text from `*from` (a character's start) to `len` is
 * whole characters, but perhaps an incomplete last one that can still
 * become a character (no overlong form, surrogate or code point past
 * U+10FFFF).  *from moves to the end of the last whole character.
 */
static int utf8_prefix(const unsigned char *s, size_t len, size_t *from)
{
	size_t i = *from, need, k;
	int rc = 0;

	while (i < len) {
		unsigned char c = s[i], lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3;
		else
			goto out_bad;
		/* The second byte's range rules out what can't be a character. */
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		for (k = 1; k <= need && i + k < len; k++) {
			if (s[i + k] < (k == 1 ? lo : 0x80) ||
			    s[i + k] > (k == 1 ? hi : 0xbf))
				goto out_bad;
		}
		if (i + need >= len)
			break; /* incomplete: a character may still come */
		i += need + 1;
	}
	*from = i;
	return rc;
out_bad:
	*from = i;
	return -EINVAL;
}

int list_text_prefix(int type, const char *text, size_t len, size_t *from)
{
	static const char *const bools[] = { "True",  "true", "1", "False",
					     "false", "0",    NULL };
	static const char *const nones[] = { "None", NULL };
	size_t start = 0;

	switch (type) {
	case SHMBLOCK_TYPE_INT:
		return pynum_int_prefix(text, len);
	case SHMBLOCK_TYPE_FLOAT:
		return pynum_float_prefix(text, len);
	case SHMBLOCK_TYPE_BOOL:
		return words_prefix(text, len, bools);
	case SHMBLOCK_TYPE_NONE:
		return words_prefix(text, len, nones);
	case SHMBLOCK_TYPE_STR:
		return utf8_prefix((const unsigned char *)text, len,
				   from ? from : &start);
	default:
		return 0;
	}
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
