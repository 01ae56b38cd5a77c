/* SPDX-License-Identifier: MIT */
/* lsshm's text: a growing string, and the cells and JSON strings in it. */
#ifndef LSSHM_TEXT_H
#define LSSHM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A growing string: a cell's text, and the JSON output.  An allocation
 * failure is remembered (`failed`) and checked once, at the end.
 */
struct sbuf {
	char *s;
	size_t len, cap;
	bool failed;
};

/* Room for `more` bytes and a NUL; false (and `failed`) when there is none. */
bool sb_room(struct sbuf *b, size_t more);

/* Appends `n` bytes. */
void sb_add(struct sbuf *b, const char *s, size_t n);

/* Appends a string. */
void sb_str(struct sbuf *b, const char *s);

/* Appends a character. */
void sb_char(struct sbuf *b, char c);

/* Empties the buffer, keeping its memory. */
void sb_reset(struct sbuf *b);

/* Appends a number in decimal. */
void sb_u64(struct sbuf *b, uint64_t v);

/* Appends a size as lsipc writes it (1K, 1.5M, ...). */
void human_size(uint64_t bytes, struct sbuf *b);

/* The permissions as ls -l writes them ("-rw-r--r--"), in 11 bytes. */
void mode_string(uint32_t mode, char *buf);

/* Appends the user (or group) name of an id, or the id. */
void id_name(uint32_t id, bool group, struct sbuf *b);

/* Appends a JSON string as libsmartcols writes one. */
void json_string(struct sbuf *out, const char *s, size_t len);

/* Writes out what the buffer holds; false on a write error. */
bool flush_out(struct sbuf *out);

#endif
