/* SPDX-License-Identifier: MIT */
/*
 * One timed file-system workload, for scripts/bench: prints the seconds it
 * took and the amount of work done, so the script can compare the mount and
 * /dev/shm side by side.
 *
 *   bench_io seqwrite FILE SIZE      write SIZE bytes, 1 MiB at a time
 *   bench_io seqread FILE            read the whole file, 1 MiB at a time
 *   bench_io mmapwrite FILE [PASSES] store to every byte of a MAP_SHARED map
 *   bench_io mmapread FILE [PASSES]  load every byte of a MAP_SHARED map;
 *                                    with PASSES, after an untimed first
 *                                    pass that faults every page in
 *   bench_io randread FILE COUNT     COUNT 4 KiB preads at random offsets
 *   bench_io createunlink DIR COUNT  create then unlink COUNT files
 *   bench_io stat FILE COUNT         stat one file COUNT times
 *   bench_io xattr FILE COUNT        getxattr of a missing attribute COUNT
 *                                    times: through the mount, one request
 *                                    to the daemon each, nothing cached
 *   bench_io readdir DIR COUNT       list DIR COUNT times
 *   bench_io readdircold DIR COUNT PATH  list DIR COUNT times, each time
 *                                    after creating and removing PATH (a
 *                                    change of the listing; untimed)
 *   bench_io entryread FILE COUNT    open, read, close COUNT times
 *   bench_io entrywrite FILE COUNT VALUE  open, write VALUE, close
 *   bench_io openclose FILE COUNT    open and close COUNT times
 *
 * Output: "<seconds> <units>" where units are bytes or operations.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_io: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int open_or_die(const char *path, int flags)
{
	int fd = open(path, flags, 0600);

	if (fd < 0)
		die(path);
	return fd;
}

static off_t file_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		die("fstat");
	return st.st_size;
}

static void report(double seconds, double units)
{
	printf("%.9f %.0f\n", seconds, units);
}

static void seq_write(const char *path, size_t size)
{
	char *buf = malloc(CHUNK);
	int fd = open_or_die(path, O_WRONLY);
	size_t done = 0;
	double t;

	memset(buf, 0x5a, CHUNK);
	t = now();
	while (done < size) {
		ssize_t n = pwrite(fd, buf, CHUNK, (off_t)done);

		if (n <= 0)
			die("pwrite");
		done += (size_t)n;
	}
	report(now() - t, (double)done);
	close(fd);
	free(buf);
}

static void seq_read(const char *path)
{
	char *buf = malloc(CHUNK);
	int fd = open_or_die(path, O_RDONLY);
	size_t done = 0;
	ssize_t n;
	double t;

	t = now();
	while ((n = pread(fd, buf, CHUNK, (off_t)done)) > 0)
		done += (size_t)n;
	if (n < 0)
		die("pread");
	report(now() - t, (double)done);
	close(fd);
	free(buf);
}

/* One pass over the mapping: a store to, or a load of, every byte. */
static void mmap_pass(uint64_t *p, size_t size, int write)
{
	volatile uint64_t sink = 0;
	uint64_t acc = 0;
	size_t i;

	if (write) {
		memset(p, 0xa5, size);
		return;
	}
	for (i = 0; i < size / 8; i++)
		acc += p[i];
	sink = acc;
	(void)sink;
}

/*
 * Maps the file and streams over it.  With passes == 0 the one timed pass
 * faults every page in; otherwise a first pass does that untimed and
 * `passes` more are timed.
 */
static void mmap_stream(const char *path, int write, long passes)
{
	int fd = open_or_die(path, write ? O_RDWR : O_RDONLY);
	size_t size = (size_t)file_size(fd);
	uint64_t *p;
	double t;
	long i;

	p = mmap(NULL, size, write ? PROT_READ | PROT_WRITE : PROT_READ,
		 MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (passes > 0)
		mmap_pass(p, size, write);
	t = now();
	for (i = 0; i < (passes > 0 ? passes : 1); i++)
		mmap_pass(p, size, write);
	report(now() - t, (double)size * (double)(passes > 0 ? passes : 1));
	munmap(p, size);
	close(fd);
}

static void rand_read(const char *path, long count)
{
	char buf[4096];
	int fd = open_or_die(path, O_RDONLY);
	uint64_t pages = (uint64_t)file_size(fd) / 4096,
		 x = 88172645463325252ull;
	double t;
	long i;

	if (pages == 0)
		die("empty file");
	t = now();
	for (i = 0; i < count; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (pread(fd, buf, sizeof(buf), (off_t)((x % pages) * 4096)) !=
		    (ssize_t)sizeof(buf))
			die("pread");
	}
	report(now() - t, (double)count);
	close(fd);
}

static void create_unlink(const char *dir, long count)
{
	char path[4096];
	double t;
	long i;

	t = now();
	for (i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/cu-%ld", dir, i);
		close(open_or_die(path, O_CREAT | O_EXCL | O_RDWR));
		if (unlink(path) < 0)
			die("unlink");
	}
	report(now() - t, (double)count);
}

static void stat_loop(const char *path, long count)
{
	struct stat st;
	double t;
	long i;

	t = now();
	for (i = 0; i < count; i++)
		if (stat(path, &st) < 0)
			die("stat");
	report(now() - t, (double)count);
}

static void xattr_loop(const char *path, long count)
{
	char value[64];
	double t;
	long i;

	t = now();
	for (i = 0; i < count; i++)
		if (getxattr(path, "user.shmfs-bench-none", value,
			     sizeof(value)) >= 0 ||
		    errno != ENODATA)
			die("getxattr");
	report(now() - t, (double)count);
}

/* Lists `dir` once; returns the number of entries. */
static long list_once(const char *dir)
{
	DIR *d = opendir(dir);
	long entries = 0;

	if (!d)
		die("opendir");
	while (readdir(d))
		entries++;
	closedir(d);
	return entries;
}

/*
 * With `change`, the listing is changed before each timed listing: a file
 * is created and removed, then the loop waits 2 ms (untimed) so that a
 * file system that learns of changes asynchronously has learnt of it.
 */
static void readdir_loop(const char *dir, long count, const char *change)
{
	const struct timespec pause = { .tv_nsec = 2000000 };
	long i, entries = 0;
	double t, total = 0;

	for (i = 0; i < count; i++) {
		if (change) {
			close(open_or_die(change, O_CREAT | O_RDWR));
			if (unlink(change) < 0)
				die("unlink");
			nanosleep(&pause, NULL);
		}
		t = now();
		entries += list_once(dir);
		total += now() - t;
	}
	report(total, (double)count);
	fprintf(stderr, "entries per listing: %ld\n", entries / count);
}

static void entry_loop(const char *path, long count, const char *value)
{
	char buf[4096];
	size_t len = value ? strlen(value) : 0;
	double t;
	long i;

	t = now();
	for (i = 0; i < count; i++) {
		int fd = open_or_die(path,
				     value ? O_WRONLY | O_TRUNC : O_RDONLY);

		if (value ? write(fd, value, len) != (ssize_t)len
			  : read(fd, buf, sizeof(buf)) < 0)
			die(value ? "write" : "read");
		close(fd);
	}
	report(now() - t, (double)count);
}

static void open_close(const char *path, long count)
{
	double t;
	long i;

	t = now();
	for (i = 0; i < count; i++)
		close(open_or_die(path, O_RDONLY));
	report(now() - t, (double)count);
}

int main(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";
	long n = argc > 3 ? atol(argv[3]) : 0;

	if (argc < 3)
		goto usage;
	if (!strcmp(op, "seqwrite") && argc == 4)
		seq_write(argv[2], (size_t)atoll(argv[3]));
	else if (!strcmp(op, "seqread"))
		seq_read(argv[2]);
	else if (!strcmp(op, "mmapwrite"))
		mmap_stream(argv[2], 1, n);
	else if (!strcmp(op, "mmapread"))
		mmap_stream(argv[2], 0, n);
	else if (!strcmp(op, "randread") && n > 0)
		rand_read(argv[2], n);
	else if (!strcmp(op, "createunlink") && n > 0)
		create_unlink(argv[2], n);
	else if (!strcmp(op, "stat") && n > 0)
		stat_loop(argv[2], n);
	else if (!strcmp(op, "xattr") && n > 0)
		xattr_loop(argv[2], n);
	else if (!strcmp(op, "readdir") && n > 0)
		readdir_loop(argv[2], n, NULL);
	else if (!strcmp(op, "readdircold") && n > 0 && argc == 5)
		readdir_loop(argv[2], n, argv[4]);
	else if (!strcmp(op, "entryread") && n > 0)
		entry_loop(argv[2], n, NULL);
	else if (!strcmp(op, "entrywrite") && n > 0 && argc == 5)
		entry_loop(argv[2], n, argv[4]);
	else if (!strcmp(op, "openclose") && n > 0)
		open_close(argv[2], n);
	else
		goto usage;
	return 0;
usage:
	fprintf(stderr, "usage: see the comment at the top of bench_io.c\n");
	return 2;
}
