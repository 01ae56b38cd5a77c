/* SPDX-License-Identifier: MIT */
/* A mount point left behind by a shmfs daemon that died: found and cleared. */

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "stale.h"

extern char **environ;

/* The file system type of a shmfs mount in /proc/self/mountinfo. */
#define SHMFS_FSTYPE "fuse.shmfs"

/*
 * The type of the file system mounted last on `path`, copied to `fstype`;
 * 0, or -ENOENT when nothing is mounted there, or -errno.
 */
static int mounted_fstype(const char *path, char *fstype, size_t size)
{
	char *line = NULL, *point, *sep, *type;
	size_t cap = 0;
	int rc = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		/* id parent major:minor root POINT options... - TYPE source */
		point = line;
		for (int field = 0; field < 4 && point; field++) {
			point = strchr(point, ' ');
			if (point)
				point++;
		}
		sep = strstr(line, " - ");
		if (!point || !sep)
			continue;
		*strchrnul(point, ' ') = '\0';
		shmfs_mountinfo_unescape(point);
		if (strcmp(point, path))
			continue;
		type = sep + 3;
		*strchrnul(type, ' ') = '\0';
		snprintf(fstype, size, "%s", type);
		rc = 0; /* keep going: the last mount on top wins */
	}
	free(line);
	fclose(f);
	return rc;
}

/* Detaches the mount at `path`, through fusermount3 when not allowed to. */
static int detach(const char *path)
{
	char *argv[] = { (char *)"fusermount3", (char *)"-u", (char *)"-z",
			 (char *)"--",		(char *)path, NULL };
	int status;
	pid_t pid;

	if (umount2(path, MNT_DETACH) == 0)
		return 0;
	if (errno != EPERM)
		return -errno;
	if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ))
		return -EPERM;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

/*
 * The absolute path of `arg` when its last component is a dead mount point
 * (which realpath can't stat), or -errno.
 */
static int dead_mount_path(const char *arg, char **out)
{
	char *copy = strdup(arg), *parent = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	parent = realpath(dirname(copy), NULL);
	if (!parent) {
		rc = -errno;
		goto out;
	}
	strcpy(copy, arg);
	if (asprintf(out, "%s/%s", strcmp(parent, "/") ? parent : "",
		     basename(copy)) < 0) {
		*out = NULL;
		rc = -ENOMEM;
	}
out:
	free(parent);
	free(copy);
	return rc;
}

int stale_mount_resolve(const char *arg, char **out)
{
	char *path = realpath(arg, NULL);
	struct statfs sfs;
	char fstype[64];
	int rc = 0;

	*out = NULL;
	/*
	 * stat may still answer from the kernel's attribute cache for a
	 * moment after the daemon died; statfs always asks it.
	 */
	if (!path)
		rc = -errno;
	else if (statfs(path, &sfs) < 0 && errno == ENOTCONN)
		rc = -ENOTCONN;
	if (rc == 0) {
		*out = path;
		return 0;
	}
	if (rc != -ENOTCONN)
		goto out_msg;
	if (!path) {
		rc = dead_mount_path(arg, &path);
		if (rc < 0)
			goto out_msg;
	}
	if (mounted_fstype(path, fstype, sizeof(fstype)) < 0 ||
	    strcmp(fstype, SHMFS_FSTYPE)) {
		fprintf(stderr,
			"shmfs: mount point `%s' is a dead mount of "
			"another file system; clear it with `fusermount3 -u "
			"%s'\n",
			arg, path);
		rc = -ENOTCONN;
		goto out;
	}
	rc = detach(path);
	if (rc < 0) {
		fprintf(stderr,
			"shmfs: mount point `%s' is the dead mount of "
			"a shmfs daemon that ended, and detaching it failed "
			"(%s); clear it with `fusermount3 -u %s'\n",
			arg, strerror(-rc), path);
		rc = -ENOTCONN;
		goto out;
	}
	fprintf(stderr,
		"shmfs: %s: detached the dead mount of a shmfs "
		"daemon that ended; the blocks are all in the shm directory\n",
		path);
	*out = realpath(path, NULL);
	if (*out)
		goto out;
	rc = -errno;

out_msg:
	fprintf(stderr, "shmfs: bad mount point `%s': %s\n", arg,
		strerror(-rc));
out:
	free(path);
	return rc;
}
