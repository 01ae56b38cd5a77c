/* SPDX-License-Identifier: MIT */
/* Who holds each block: one scan of /proc, matched by (st_dev, st_ino). */

/*
 * The scan, in three steps (docs/holders.md has the costs):
 *
 * 1. The directory is listed and every regular file stat'ed into a table
 *    of entries, hashed by (dev, ino).
 * 2. Every /proc/PID (thread groups only) is opened once as a directory, so
 *    that a PID reused during the scan cannot feed us another process's
 *    files.  Its mappings come from PROCMAP_QUERY (or the text of maps),
 *    each with the device and inode of what it maps, so they are matched
 *    without a stat at all.  Each descriptor is statx'ed once (the link
 *    followed, from the cache) and matched by its (dev, ino); only an
 *    inode of the directory's filesystem missing from the table has its
 *    link read.  Every hit becomes a record (entry, process, how).  Such
 *    a missing inode whose link or mapping path ends in " (deleted)"
 *    becomes a new, deleted entry.
 * 3. Records are sorted by (entry, pid) and merged into one holder each.
 *
 * A process that exits half way through is rolled back (its records are
 * dropped): it holds nothing any more.  The command name and uid are read
 * only for processes that hold something, which most do not.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "holders_maps.h"
#include "holders_mount.h"
#include "holders_table.h"
#include "shmblock.h"

/* getdents64 buffers: /proc and a descriptor directory, the shm directory. */
#define DENTS_SIZE (64u << 10)
#define DIR_DENTS_SIZE (512u << 10)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * getdents64 straight into `buf` (of `size` bytes): no DIR, no fcntl and no
 * malloc per directory, which for a few descriptors a process counted more
 * than the entries themselves.  Calls `fn` for each name not starting with
 * '.'; stops at the first error it returns.  `short_is_end`: a read that
 * left room for another entry was the last, true of /proc's descriptor
 * directories (they fill the buffer until an entry does not fit or the
 * descriptors run out), and saves the call that would return 0.
 */
static int each_dirent(int fd, char *buf, size_t size, bool short_is_end,
		       int (*fn)(struct scan *sc, int fd, const char *name,
				 unsigned char type, void *arg),
		       struct scan *sc, void *arg)
{
	for (;;) {
		ssize_t n = getdents64(fd, buf, size);
		size_t off;

		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (off = 0; off < (size_t)n;) {
			const struct dirent64 *de = (const void *)(buf + off);
			int rc;

			off += de->d_reclen;
			if (de->d_name[0] == '.')
				continue;
			rc = fn(sc, fd, de->d_name, de->d_type, arg);
			if (rc < 0)
				return rc;
		}
		/* An entry named by a number takes at most 40 bytes. */
		if (short_is_end && (size_t)n + 64 <= size)
			return 0;
	}
}

static int list_one(struct scan *sc, int fd, const char *name,
		    unsigned char type, void *arg)
{
	struct stat st;
	long idx;

	(void)fd;
	(void)arg;
	if (type != DT_REG && type != DT_UNKNOWN)
		return 0;
	/* Gone since readdir, or not a file: not a block. */
	if (fstatat(sc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	/* A hard link: one entry per inode (a lookup only where there are). */
	if (st.st_nlink > 1 &&
	    shmblock__holders_find_index(sc->snap, st.st_dev, st.st_ino) >= 0)
		return 0;
	idx = shmblock__holders_add_entry(sc->snap, name, strlen(name), false,
					  st.st_dev, st.st_ino, &st);
	return idx < 0 ? (int)idx : 0;
}

/* Step 1: every regular file of the directory. */
static int list_directory(struct scan *sc)
{
	struct stat st;
	size_t hint;
	char *buf;
	int fd, rc;

	/* Our own descriptor: getdents moves its offset. */
	fd = openat(sc->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/*
	 * tmpfs gives a directory 20 bytes of size an entry: size the table
	 * once instead of growing and rehashing it ten times.  Only a hint.
	 */
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		hint = (size_t)st.st_size / 20 + 1;
		if (hint > (1u << 20))
			hint = 1u << 20;
		if (shmblock__holders_grow(&sc->snap->entries,
					   &sc->snap->entries_cap, hint,
					   sizeof(*sc->snap->entries)) < 0 ||
		    shmblock__holders_hash_rebuild(sc->snap, hint) < 0) {
			close(fd);
			return -ENOMEM;
		}
	}
	buf = malloc(DIR_DENTS_SIZE);
	rc = buf ? each_dirent(fd, buf, DIR_DENTS_SIZE, false, list_one, sc,
			       NULL)
		 : -ENOMEM;
	free(buf);
	close(fd);
	return rc;
}

/* ---- step 2: one process ---- */

/* Errors that mean "this process, not the scan": skip it. */
static bool is_vanished(int err)
{
	return err == -ENOENT || err == -ESRCH;
}

/*
 * One descriptor: a statx of /proc/PID/fd/N, which follows the link to the
 * file, asked for the type and inode only and AT_STATX_DONT_SYNC, so a file
 * on FUSE (this daemon's own mount included), NFS and the like is answered
 * from the cache, never by a round trip that could hang the scan.  The
 * (dev, ino) is the answer, so a block is found whatever path it was opened
 * by, and the link is read only for an inode of the directory's filesystem
 * that the table lacks (deleted, or made since the listing), whose name
 * its text gives.  This costs one call a descriptor where a readlink of
 * every link and a stat of those in the directory cost two for each block.
 */
static int scan_fd(struct scan *sc, int fddir, const char *name,
		   unsigned char type, void *arg)
{
	uint32_t proc = *(const uint32_t *)arg;
	struct shmblock_holders_entry *e;
	char link[PATH_MAX];
	struct statx stx;
	struct stat st;
	uint64_t dev;
	ssize_t len;
	long idx;

	(void)type;
	/*
	 * Closed since readdir, or the process is gone: no holding.  Any
	 * other error (EACCES, ENOMEM...) leaves the process unread: the
	 * caller marks the snapshot partial rather than count it as holding
	 * nothing.
	 */
	if (statx(fddir, name, AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO,
		  &stx) < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	if (!S_ISREG(stx.stx_mode))
		return 0;
	dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	idx = shmblock__holders_find_index(sc->snap, dev, stx.stx_ino);
	if (idx < 0 && dev != sc->dirdev) {
		/* Opened through a shmfs mount: its link names the block. */
		if (!holders_mounts_has(&sc->mounts, dev))
			return 0;
		len = readlinkat(fddir, name, link, sizeof(link));
		if (len < 0)
			return errno == ENOENT || errno == ESRCH ? 0 : -errno;
		if ((size_t)len >= sizeof(link))
			return 0;
		idx = shmblock__holders_mounted_entry(sc, dev, stx.stx_ino,
						      link, (size_t)len);
		if (idx < 0)
			return 0;
		return shmblock__holders_add_rec(
			sc, idx, proc, SHMBLOCK_HELD_FD, atoi(name), 0, 0);
	}
	if (idx < 0) {
		len = readlinkat(fddir, name, link, sizeof(link));
		if (len < 0 || (size_t)len >= sizeof(link))
			return 0;
		/* The full attributes, of the same file the link still is. */
		if (fstatat(fddir, name, &st, 0) < 0 || st.st_dev != dev ||
		    st.st_ino != stx.stx_ino)
			return 0;
		idx = shmblock__holders_new_entry(sc, link, (size_t)len, dev,
						  stx.stx_ino, &st);
		if (idx == -1)
			return 0;
		if (idx < 0)
			return (int)idx;
	}
	e = &sc->snap->entries[idx];
	/* A deleted inode first seen in a mapping: its descriptor has them. */
	if (!e->have_stat && fstatat(fddir, name, &st, 0) == 0 &&
	    st.st_dev == e->dev && st.st_ino == e->ino)
		shmblock__holders_fill_stat(e, &st);
	return shmblock__holders_add_rec(sc, idx, proc, SHMBLOCK_HELD_FD,
					 atoi(name), 0, 0);
}

/* Every descriptor of the process that is one of our inodes. */
static int scan_fds(struct scan *sc, int piddir, uint32_t proc)
{
	int fd, rc;

	fd = openat(piddir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = each_dirent(fd, sc->dents, DENTS_SIZE, true, scan_fd, sc, &proc);
	close(fd);
	return rc;
}

/*
 * Reads /proc/PID/status into sc->buf, up to its "Uid:" line: one read
 * gives the whole file, and the read that would say end of file is saved.
 * Returns the length read or -errno.
 */
static ssize_t read_status(struct scan *sc, int piddir)
{
	size_t len = 0;
	int fd, rc;

	fd = openat(piddir, "status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		const char *uid;
		ssize_t n;

		if (sc->buf_cap - len < 4096) {
			rc = shmblock__holders_grow(&sc->buf, &sc->buf_cap,
						    len + 65536, 1);
			if (rc < 0)
				goto fail;
		}
		n = read(fd, sc->buf + len, sc->buf_cap - len - 1);
		if (n < 0) {
			rc = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		sc->buf[len] = '\0';
		uid = strstr(sc->buf, "\nUid:");
		if (uid && strchr(uid + 1, '\n'))
			break;
	}
	close(fd);
	sc->buf[len] = '\0';
	return (ssize_t)len;
fail:
	close(fd);
	return rc;
}

/*
 * The command name and real uid, read only for processes that hold: one
 * read of status gives both ("Name:" is comm, with \ and newlines escaped).
 */
static int read_identity(struct scan *sc, int piddir, struct proc *pr)
{
	ssize_t len;
	char *p, *end;

	len = read_status(sc, piddir);
	if (len < 0)
		return (int)len;
	if (strncmp(sc->buf, "Name:\t", 6))
		return -ESRCH;
	end = strchr(sc->buf + 6, '\n');
	if (end)
		*end = '\0';
	snprintf(pr->comm, sizeof(pr->comm), "%s", sc->buf + 6);
	p = strstr(end ? end + 1 : sc->buf, "Uid:");
	if (!p)
		return -ESRCH;
	pr->uid = (uid_t)strtoul(p + 4, NULL, 10);
	return 0;
}

/*
 * Notes a process that could not be inspected (error `err`, negative): the
 * snapshot is partial, and says which process and why.
 */
static void add_gap(struct scan *sc, pid_t pid, int err)
{
	struct shmblock_holders *snap = sc->snap;

	snap->partial = true;
	/* Out of memory for the list: still counted, still partial. */
	if (shmblock__holders_grow(&snap->gaps, &snap->gaps_cap,
				   snap->ngaps + 1, sizeof(*snap->gaps)) == 0)
		snap->gaps[snap->ngaps++] =
			(struct shmblock_holders_gap){ pid, -err };
	snap->stats.nunreadable++;
}

/* Drops the records of a process from `first_rec` on. */
static void roll_back(struct scan *sc, size_t first_rec)
{
	while (sc->nrecs > first_rec)
		sc->snap->entries[sc->recs[--sc->nrecs].entry].nholders--;
}

/* One process, /proc/`name`: 0 (even when skipped), or -ENOMEM. */
static int scan_process(struct scan *sc, int procfd, const char *name)
{
	size_t first_rec = sc->nrecs;
	struct shmblock_holders_stats *stats = &sc->snap->stats;
	pid_t pid = (pid_t)strtol(name, NULL, 10);
	struct proc *pr;
	int piddir, rc, rc_fd, rc_map;

	piddir = openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (piddir < 0) {
		rc = -errno;
		goto skip;
	}
	rc = shmblock__holders_grow(&sc->procs, &sc->procs_cap, sc->nprocs + 1,
				    sizeof(*sc->procs));
	if (rc < 0)
		goto out;
	stats->nprocs++;
	rc_map = shmblock__holders_scan_maps(sc, piddir, (uint32_t)sc->nprocs);
	rc = rc_map == -ENOMEM ? rc_map : 0;
	if (rc < 0)
		goto out;
	/*
	 * No address space: a kernel thread, or a process past exit_mm(),
	 * which closes its descriptors next.  Neither holds anything, and
	 * the descriptors of the first are not worth a look.
	 */
	if (rc_map == 1) {
		rc_map = 0;
		rc_fd = 0;
	} else {
		rc_fd = scan_fds(sc, piddir, (uint32_t)sc->nprocs);
	}
	rc = rc_fd == -ENOMEM ? rc_fd : 0;
	if (rc < 0)
		goto out;
	if (is_vanished(rc_fd) || is_vanished(rc_map)) {
		rc = -ESRCH;
		goto skip;
	}
	/* A process we may not read is a gap in the picture, not an error. */
	if (rc_fd < 0 || rc_map < 0)
		add_gap(sc, pid, rc_fd < 0 ? rc_fd : rc_map);
	if (sc->nrecs > first_rec) {
		pr = &sc->procs[sc->nprocs];
		pr->pid = pid;
		rc = read_identity(sc, piddir, pr);
		if (rc < 0 && rc != -ENOMEM)
			goto skip;
		if (rc < 0)
			goto out;
		shmblock__holders_stat_mapped(sc, piddir, first_rec);
		sc->nprocs++;
	}
	close(piddir);
	return 0;
skip:
	roll_back(sc, first_rec);
	if (is_vanished(rc))
		stats->nvanished++;
	else
		add_gap(sc, pid, rc);
	rc = 0;
out:
	if (piddir >= 0)
		close(piddir);
	return rc;
}

static int scan_pid(struct scan *sc, int procfd, const char *name,
		    unsigned char type, void *arg)
{
	(void)type;
	(void)arg;
	if (*name < '1' || *name > '9')
		return 0;
	return scan_process(sc, procfd, name);
}

static int scan_processes(struct scan *sc)
{
	char *buf;
	int proc, rc;

	proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc < 0)
		return errno == ENOENT ? -ENOSYS : -errno;
	buf = malloc(DENTS_SIZE);
	sc->dents = malloc(DENTS_SIZE);
	rc = buf && sc->dents ? each_dirent(proc, buf, DENTS_SIZE, false,
					    scan_pid, sc, NULL)
			      : -ENOMEM;
	free(buf);
	close(proc);
	return rc;
}

/* ---- the public calls ---- */

/* Our own descriptor of the directory, its device and its path + '/'. */
static int open_dir(struct scan *sc, int dirfd)
{
	struct stat st;
	char self[64];
	ssize_t len;

	if (dirfd == SHMBLOCK_DEFAULT_DIR)
		sc->dirfd = open(SHMBLOCK_SHM_DIR,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else
		sc->dirfd =
			openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sc->dirfd < 0)
		return -errno;
	if (fstat(sc->dirfd, &st) < 0)
		return -errno;
	sc->dirdev = st.st_dev;
	/* Links in /proc show the path as the process sees it: ours. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", sc->dirfd);
	len = readlink(self, sc->prefix, sizeof(sc->prefix) - 2);
	if (len < 0)
		return errno == ENOENT ? -ENOSYS : -errno;
	if (len == 0 || sc->prefix[len - 1] != '/')
		sc->prefix[len++] = '/';
	sc->prefix[len] = '\0';
	sc->prefix_len = (size_t)len;
	return 0;
}

static void scan_done(struct scan *sc)
{
	if (sc->dirfd >= 0)
		close(sc->dirfd);
	holders_mounts_free(&sc->mounts);
	free(sc->recs);
	free(sc->procs);
	free(sc->buf);
	free(sc->dents);
}

/* The scan proper, after the table holds what we look for. */
static int scan_run(struct scan *sc, struct shmblock_holders **out)
{
	int rc;

	rc = scan_processes(sc);
	if (rc == 0)
		rc = shmblock__holders_finish(sc);
	sc->snap->stats.elapsed_ns = now_ns() - sc->snap->stats.started_ns;
	scan_done(sc);
	if (rc < 0) {
		shmblock_holders_free(sc->snap);
		return rc;
	}
	*out = sc->snap;
	return 0;
}

static int scan_init(struct scan *sc, int dirfd, unsigned flags)
{
	int rc;

	memset(sc, 0, sizeof(*sc));
	sc->dirfd = -1;
	sc->flags = flags;
	sc->snap = calloc(1, sizeof(*sc->snap));
	if (!sc->snap)
		return -ENOMEM;
	sc->snap->stats.started_ns = now_ns();
	rc = open_dir(sc, dirfd);
	if (rc == 0)
		rc = holders_mounts_load(&sc->mounts, sc->prefix,
					 sc->prefix_len > 1 ? sc->prefix_len - 1
							    : 1);
	if (rc == 0)
		rc = shmblock__holders_hash_rebuild(sc->snap, 0);
	if (rc < 0) {
		shmblock_holders_free(sc->snap);
		scan_done(sc);
	}
	return rc;
}

SHMBLOCK_API int shmblock_holders_scan(int dirfd, unsigned flags,
				       struct shmblock_holders **out)
{
	struct scan sc;
	int rc;

	rc = scan_init(&sc, dirfd, flags);
	if (rc < 0)
		return rc;
	rc = list_directory(&sc);
	if (rc < 0) {
		shmblock_holders_free(sc.snap);
		scan_done(&sc);
		return rc;
	}
	return scan_run(&sc, out);
}

SHMBLOCK_API int shmblock_holders_scan_block(int dirfd, const char *name,
					     unsigned flags,
					     struct shmblock_holders **out)
{
	struct stat st;
	struct scan sc;
	long idx;
	int rc;

	rc = shmblock_name_check(name);
	if (rc < 0)
		return rc;
	rc = scan_init(&sc, dirfd, flags);
	if (rc < 0)
		return rc;
	sc.one_block = true;
	if (fstatat(sc.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	if (rc == 0) {
		idx = shmblock__holders_add_entry(sc.snap, name, strlen(name),
						  false, st.st_dev, st.st_ino,
						  &st);
		rc = idx < 0 ? (int)idx : 0;
	}
	if (rc < 0) {
		shmblock_holders_free(sc.snap);
		scan_done(&sc);
		return rc;
	}
	return scan_run(&sc, out);
}
