/* SPDX-License-Identifier: MIT */
/*
 * A driver of fs/pynum.c for tests/test_pynum.py.  Each request is a mode
 * and a hex argument, as two command-line arguments or one line of stdin
 * ("MODE HEX"), so a test can send a whole corpus through one process:
 *   r HEX16   repr of the double with these bits   -> the text
 *   i HEX     int() of the bytes                   -> "ok N" or "err ENAME"
 *   f HEX     float() of the bytes                 -> "ok HEX16" or "err ENAME"
 *   I HEX     whether the bytes may begin an int   -> "ok" or "err EINVAL"
 *   F HEX     whether they may begin a float      -> "ok" or "err EINVAL"
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pynum.h"

static const char *err_name(int rc)
{
	switch (rc) {
	case -EINVAL:
		return "EINVAL";
	case -ERANGE:
		return "ERANGE";
	case -ENOMEM:
		return "ENOMEM";
	default:
		return "E?";
	}
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex in place; returns the byte count, or -1. */
static long unhex(char *s)
{
	size_t n = strlen(s), i;

	if (n % 2)
		return -1;
	for (i = 0; i < n / 2; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		s[i] = (char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static int run(char mode, char *arg)
{
	char out[64];
	long n = unhex(arg);
	int64_t i;
	double f;
	uint64_t bits;
	int rc;

	if (n < 0)
		return -1;
	switch (mode) {
	case 'r':
		if (n != 8)
			return -1;
		/* Big-endian bytes, as Python's struct.pack(">d") gives. */
		for (bits = 0, i = 0; i < 8; i++)
			bits = bits << 8 | (unsigned char)arg[i];
		memcpy(&f, &bits, sizeof(f));
		pynum_repr_float(f, out, sizeof(out));
		printf("%s\n", out);
		return 0;
	case 'i':
		rc = pynum_parse_int(arg, (size_t)n, &i);
		if (rc < 0)
			printf("err %s\n", err_name(rc));
		else
			printf("ok %" PRId64 "\n", i);
		return 0;
	case 'f':
		rc = pynum_parse_float(arg, (size_t)n, &f);
		if (rc < 0) {
			printf("err %s\n", err_name(rc));
		} else {
			memcpy(&bits, &f, sizeof(bits));
			printf("ok %016" PRIx64 "\n", bits);
		}
		return 0;
	case 'I':
	case 'F':
		rc = mode == 'I' ? pynum_int_prefix(arg, (size_t)n)
				 : pynum_float_prefix(arg, (size_t)n);
		if (rc < 0)
			printf("err %s\n", err_name(rc));
		else
			printf("ok\n");
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (argc == 3)
		return run(argv[1][0], argv[2]) < 0 ? 2 : 0;
	if (argc != 1) {
		fprintf(stderr,
			"usage: %s [MODE HEX]  (or lines \"MODE HEX\" on stdin)\n",
			argv[0]);
		return 2;
	}
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (strlen(line) < 2 || line[1] != ' ' ||
		    run(line[0], line + 2) < 0) {
			fprintf(stderr, "bad request: %.40s\n", line);
			free(line);
			return 2;
		}
	}
	free(line);
	return 0;
}
