/* SPDX-License-Identifier: MIT */
/* lsshm's text: a growing string, and the cells and JSON strings in it. */

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lsshm_text.h"

bool sb_room(struct sbuf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	char *s;

	if (b->len + more < b->cap)
		return true;
	if (b->failed)
		return false;
	while (cap <= b->len + more)
		cap *= 2;
	s = realloc(b->s, cap);
	if (!s) {
		b->failed = true;
		return false;
	}
	b->s = s;
	b->cap = cap;
	return true;
}

void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (!sb_room(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

void sb_char(struct sbuf *b, char c)
{
	sb_add(b, &c, 1);
}

void sb_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

/* A number in decimal, without printf: a table has tens of thousands. */
void sb_u64(struct sbuf *b, uint64_t v)
{
	char digits[20];
	size_t n = sizeof(digits);

	do {
		digits[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sb_add(b, digits + n, sizeof(digits) - n);
}

/* Sizes as util-linux prints them: 512B, 4K, 1.5M, 10G. */
void human_size(uint64_t bytes, struct sbuf *b)
{
	static const char units[] = "BKMGTPE";
	uint64_t whole = bytes, rem = 0;
	int exp = 0;
	unsigned tenth;

	while (whole >= 1024 && exp < 6) {
		rem = whole % 1024;
		whole /= 1024;
		exp++;
	}
	if (!exp) {
		sb_u64(b, bytes);
		sb_char(b, 'B');
		return;
	}
	tenth = (unsigned)((rem * 10 + 512) / 1024);
	if (tenth == 10) {
		whole++;
		tenth = 0;
	}
	sb_u64(b, whole);
	if (tenth) {
		sb_char(b, '.');
		sb_char(b, (char)('0' + tenth));
	}
	sb_char(b, units[exp]);
}

void mode_string(uint32_t mode, char *buf)
{
	static const char rwx[] = "rwxrwxrwx";
	int i;

	buf[0] = '-';
	for (i = 0; i < 9; i++)
		buf[i + 1] = mode & (1u << (8 - i)) ? rwx[i] : '-';
	if (mode & S_ISUID)
		buf[3] = mode & S_IXUSR ? 's' : 'S';
	if (mode & S_ISGID)
		buf[6] = mode & S_IXGRP ? 's' : 'S';
	if (mode & S_ISVTX)
		buf[9] = mode & S_IXOTH ? 't' : 'T';
	buf[10] = '\0';
}

/*
 * Owner and group names, remembered: blocks share a few owners, and a
 * lookup in the user database costs more than a whole line of output.
 */
struct id_name {
	uint32_t id;
	char name[256]; /* LOGIN_NAME_MAX */
};

#define ID_CACHE 8

void id_name(uint32_t id, bool group, struct sbuf *b)
{
	static struct id_name cache[2][ID_CACHE];
	static unsigned used[2], next[2];
	struct id_name *c = cache[group];
	struct passwd *pw;
	struct group *gr;
	unsigned i;

	for (i = 0; i < used[group]; i++)
		if (c[i].id == id) {
			sb_str(b, c[i].name);
			return;
		}
	/* A full cache replaces its entries in turn. */
	i = used[group] < ID_CACHE ? used[group]++ : next[group]++ % ID_CACHE;
	c[i].id = id;
	if (!group && (pw = getpwuid(id)))
		snprintf(c[i].name, sizeof(c[i].name), "%s", pw->pw_name);
	else if (group && (gr = getgrgid(id)))
		snprintf(c[i].name, sizeof(c[i].name), "%s", gr->gr_name);
	else
		snprintf(c[i].name, sizeof(c[i].name), "%u", id);
	sb_str(b, c[i].name);
}

/*
 * A JSON string as libsmartcols writes one: " and \ escaped, control
 * characters as \b \f \n \r \t or \u00XX, every other byte (DEL and
 * UTF-8 too) as it is.
 */
void json_string(struct sbuf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	sb_char(out, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 0 };
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		/* The plain bytes before this one, in one copy. */
		sb_add(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		sb_add(out, esc, n);
	}
	sb_add(out, s + run, len - run);
	sb_char(out, '"');
}

/* Writes out what the buffer holds; false on a write error. */
bool flush_out(struct sbuf *out)
{
	bool ok = !out->len || fwrite(out->s, 1, out->len, stdout) == out->len;

	sb_reset(out);
	return ok;
}
