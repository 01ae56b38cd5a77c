/* SPDX-License-Identifier: MIT */
/*
 * A counter kept under a lock, the peer of tests/test_locks.py: adds 1 to
 * the 8-byte count at the start of FILE, N times, each time under a
 * blocking lock of KIND (posix: fcntl F_SETLKW, ofd: F_OFD_SETLKW, flock:
 * flock LOCK_EX) taken on its own descriptor.  Run at once on the same
 * block through the mount and in /dev/shm, the count is exact only if the
 * locks of both sides are one.
 *
 * usage: lock_counter FILE N posix|ofd|flock
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static int lock(int fd, const char *kind, short type)
{
	struct flock fl = {
		.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 8
	};

	if (!strcmp(kind, "posix"))
		return fcntl(fd, F_SETLKW, &fl);
	if (!strcmp(kind, "ofd"))
		return fcntl(fd, F_OFD_SETLKW, &fl);
	return flock(fd, type == F_UNLCK ? LOCK_UN : LOCK_EX);
}

int main(int argc, char **argv)
{
	long i, n;
	uint64_t count;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: %s FILE N posix|ofd|flock\n", argv[0]);
		return 2;
	}
	n = atol(argv[2]);
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (lock(fd, argv[3], F_WRLCK) < 0) {
			perror("lock");
			return 1;
		}
		if (pread(fd, &count, 8, 0) != 8) {
			perror("pread");
			return 1;
		}
		count++;
		if (pwrite(fd, &count, 8, 0) != 8) {
			perror("pwrite");
			return 1;
		}
		if (lock(fd, argv[3], F_UNLCK) < 0) {
			perror("unlock");
			return 1;
		}
	}
	return close(fd) < 0;
}
