/* SPDX-License-Identifier: MIT */
/*
 * The shmfs mounts this process sees (holders_mount.h): a process that
 * opens a block through a shmfs mount holds a file of that mount, not the
 * block's own, and the scan must still name it (docs/holders.md, "Through
 * a shmfs mount").  Read from /proc/self/mountinfo, so it needs no daemon
 * and never waits on one.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "holders_mount.h"
#include "shmblock.h"

/* Undoes mountinfo's octal escapes (\040 a space...) in place. */
static size_t unescape(char *s)
{
	char *in = s, *out = s;

	while (*in) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' &&
		    in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
		    in[3] <= '7') {
			*out++ = (char)((in[1] - '0') << 6 |
					(in[2] - '0') << 3 | (in[3] - '0'));
			in += 4;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	return (size_t)(out - s);
}

/*
 * One mountinfo line: "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] -
 * FSTYPE SOURCE SUPER".  Only whole shmfs mounts (ROOT "/") are kept: a
 * bind mount of a subdirectory shows no top-level blocks.
 */
/*
 * Whether a shmfs mount whose source (its fsname: the shm directory it was
 * given, or "shmfs" for the default) is `source` may show the directory
 * `dir` (`dir_len` bytes, no trailing '/').  Another absolute directory is
 * another tmpfs, whose inode numbers may be the same as ours: its files
 * must not be taken for our blocks.  A source that names no directory (a
 * relative path, an fsname the user chose) may be ours: keeping it counts
 * a holder too many at worst, which keeps a block, never removes one.
 */
static bool source_may_be(char *source, const char *dir, size_t dir_len)
{
	size_t n = unescape(source);

	while (n > 1 && source[n - 1] == '/')
		source[--n] = '\0';
	if (!strcmp(source, "shmfs"))
		return dir_len == strlen(SHMBLOCK_SHM_DIR) &&
		       !memcmp(dir, SHMBLOCK_SHM_DIR, dir_len);
	if (source[0] != '/')
		return true;
	return n == dir_len && !memcmp(source, dir, dir_len);
}

static int parse_line(struct holders_mounts *hm, char *line, const char *dir,
		      size_t dir_len)
{
	char *f[6], *save = NULL, *dash, *type, *source;
	unsigned maj, min;
	struct holders_mount *m;
	int i;

	dash = strstr(line, " - ");
	if (!dash)
		return 0;
	*dash = '\0';
	type = strtok_r(dash + 3, " \n", &save);
	if (!type || strcmp(type, "fuse.shmfs"))
		return 0;
	source = strtok_r(NULL, " \n", &save);
	if (source && !source_may_be(source, dir, dir_len))
		return 0;
	save = NULL;
	for (i = 0; i < 6; i++)
		if (!(f[i] = strtok_r(i ? NULL : line, " ", &save)))
			return 0;
	if (sscanf(f[2], "%u:%u", &maj, &min) != 2 || strcmp(f[3], "/"))
		return 0;
	if (hm->n == hm->cap) {
		size_t cap = hm->cap ? 2 * hm->cap : 4;
		struct holders_mount *p = realloc(hm->m, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		hm->m = p;
		hm->cap = cap;
	}
	m = &hm->m[hm->n];
	m->dev = makedev(maj, min);
	m->path = strdup(f[4]);
	if (!m->path)
		return -ENOMEM;
	m->len = unescape(m->path);
	/* "/" itself: names follow it directly. */
	if (m->len == 1)
		m->len = 0;
	hm->n++;
	return 0;
}

int holders_mounts_load(struct holders_mounts *hm, const char *dir,
			size_t dir_len)
{
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	FILE *f;

	memset(hm, 0, sizeof(*hm));
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return errno == ENOMEM ? -ENOMEM : 0; /* no /proc: no mounts */
	while (rc == 0 && getline(&line, &cap, f) > 0)
		rc = parse_line(hm, line, dir, dir_len);
	free(line);
	fclose(f);
	if (rc < 0)
		holders_mounts_free(hm);
	return rc;
}

void holders_mounts_free(struct holders_mounts *hm)
{
	size_t i;

	for (i = 0; i < hm->n; i++)
		free(hm->m[i].path);
	free(hm->m);
	memset(hm, 0, sizeof(*hm));
}

bool holders_mounts_has(const struct holders_mounts *hm, dev_t dev)
{
	size_t i;

	for (i = 0; i < hm->n; i++)
		if (hm->m[i].dev == dev)
			return true;
	return false;
}

const char *holders_mounts_name(const struct holders_mounts *hm, dev_t dev,
				const char *path, size_t len, size_t *namelen)
{
	size_t i;

	for (i = 0; i < hm->n; i++) {
		const struct holders_mount *m = &hm->m[i];
		const char *name = path + m->len + 1;

		if (m->dev != dev || len <= m->len + 1 ||
		    memcmp(path, m->path, m->len) || path[m->len] != '/')
			continue;
		*namelen = len - m->len - 1;
		/* A top-level file only; an unlinked one is not matched. */
		if (memchr(name, '/', *namelen))
			continue;
		return name;
	}
	return NULL;
}
