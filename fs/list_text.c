/* SPDX-License-Identifier: MIT */
/* The text form of list items in the mount: numbers as Python prints them. */

#include <errno.h>
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

int list_text_parse_int(const char *text, size_t len, int64_t *out)
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

int list_text_parse_float(const char *text, size_t len, double *out)
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

int list_text_parse_bool(const char *text, size_t len, bool *out)
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

int list_text_parse_none(const char *text, size_t len)
{
	len = trim(&text, len);
	if (len == 0 || (len == 4 && !memcmp(text, "None", 4)))
		return 0;
	return -EINVAL;
}

size_t list_text_str_len(const char *text, size_t len)
{
	if (len && text[len - 1] == '\n')
		len--;
	return len;
}
