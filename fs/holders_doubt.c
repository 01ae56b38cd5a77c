/* SPDX-License-Identifier: MIT */
/* Whether a holders scan may settle "held by no one" (holders_doubt.h). */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holders_doubt.h"

/* The permitted capabilities of /proc/`who`/status: 0, or -errno. */
static int cap_prm(const char *who, uint64_t *out)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/status", who);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	p = strstr(buf, "\nCapPrm:");
	if (!p)
		return -EIO;
	*out = strtoull(p + 8, NULL, 16);
	return 0;
}

/* Whether process `pid` has a capability we lack (so no user made it). */
static bool beyond_us(pid_t pid)
{
	uint64_t ours, theirs;
	char who[24];

	snprintf(who, sizeof(who), "%ld", (long)pid);
	if (cap_prm("self", &ours) < 0 || cap_prm(who, &theirs) < 0)
		return false;
	return (theirs & ~ours) != 0;
}

bool holders_doubt(const struct shmblock_holders *snap, char *why, size_t len)
{
	const struct shmblock_holders_gap *g;
	struct shmblock_holders_stats st;
	size_t i;

	if (!shmblock_holders_is_partial(snap))
		return false;
	for (i = 0; (g = shmblock_holders_gap(snap, i)); i++) {
		if ((g->err == EACCES || g->err == EPERM) && beyond_us(g->pid))
			continue;
		snprintf(why, len, "process %ld could not be inspected: %s",
			 (long)g->pid, strerror(g->err));
		return true;
	}
	shmblock_holders_stats(snap, &st);
	if (i < st.nunreadable) {
		/* The list of gaps ran out of memory: some are unnamed. */
		snprintf(why, len, "%u processes could not be inspected",
			 st.nunreadable);
		return true;
	}
	return false;
}
