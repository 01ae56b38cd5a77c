/* SPDX-License-Identifier: MIT */
/*
 * Test driver for core/fault.c and the semaphore calls under truncation:
 * run by tests/test_sem.py, one case a process (some cases must end by
 * SIGBUS).  Usage: sem_fault CASE SHM_FILE
 *   guard       a guarded read of a mapping past EOF returns -EFAULT
 *               (three times: the handler and the signal mask recover)
 *   unguarded   after a guard was used, a fault outside any guard still
 *               ends the process by SIGBUS
 *   outside     a fault inside a guarded call but outside its range too
 *   sent        a SIGBUS sent by kill(2) inside a guard is not taken
 *               for a fault: the process ends by SIGBUS
 *   ignored     SIGBUS ignored before: a sent one stays ignored ("alive"),
 *               a real fault still ends the process by SIGBUS
 *   chained     a program's own SIGBUS handler, installed before, still
 *               gets the faults that are not ours (it exits 42)
 *   race        posts and takes on a semaphore that another thread
 *               truncates and restores as fast as it can, and guarded
 *               reads of a mapping of it: every call returns 0, -EAGAIN,
 *               -EOVERFLOW or -EBADMSG, and the process lives; prints the
 *               counts
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fault.h"
#include "shmblock.h"

static volatile unsigned char sink;

static int touch(void *arg)
{
	sink = *(volatile unsigned char *)arg;
	return 0;
}

static int send_sigbus(void *arg)
{
	kill(getpid(), SIGBUS);
	return 0;
}

/* Two pages of an empty file: every access faults. */
static unsigned char *map_empty(const char *file)
{
	char path[512];
	unsigned char *p;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/%s", file);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror("open");
		exit(2);
	}
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void on_app_sigbus(int sig, siginfo_t *si, void *ctx)
{
	static const char msg[] = "app handler\n";

	write(1, msg, sizeof(msg) - 1);
	_exit(42);
}

static atomic_bool stop;

static void *truncator(void *arg)
{
	int fd = *(int *)arg;
	int32_t shared = 128; /* glibc's private field of a named semaphore */

	while (!atomic_load(&stop)) {
		if (ftruncate(fd, 0) < 0 ||
		    ftruncate(fd, SHMBLOCK_SEM_SIZE) < 0 ||
		    pwrite(fd, &shared, sizeof(shared), 8) != sizeof(shared))
			abort();
	}
	return NULL;
}

/*
 * Until every outcome has shown (or 4M rounds): a post or a take through
 * the descriptor, and a guarded read of a mapping of the same file.
 */
static int race(const char *file)
{
	long ok = 0, eagain = 0, ebadmsg = 0, faults = 0, round;
	char path[512];
	unsigned char *map;
	pthread_t t;
	int fd, rc;

	rc = shmblock_sem_create_at(SHMBLOCK_DEFAULT_DIR, file, 1, 0600,
				    (uid_t)-1, (gid_t)-1);
	snprintf(path, sizeof(path), "/dev/shm/%s", file);
	fd = rc < 0 ? -1 : open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "create: %d\n", rc);
		return 2;
	}
	map = mmap(NULL, SHMBLOCK_SEM_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED || pthread_create(&t, NULL, truncator, &fd)) {
		fprintf(stderr, "setup failed\n");
		return 2;
	}
	for (round = 0; round < 4000000; round++) {
		if (ok >= 1000 && ebadmsg >= 1000 && faults >= 100)
			break;
		rc = round & 1 ? shmblock_sem_trywait_fd(fd, 1, NULL)
			       : shmblock_sem_post_fd(fd, 1, NULL);
		if (rc == 0)
			ok++;
		else if (rc == -EAGAIN)
			eagain++;
		else if (rc == -EBADMSG)
			ebadmsg++;
		else if (rc != -EOVERFLOW) {
			printf("unexpected %d\n", rc);
			break;
		}
		if (shmblock__fault_guarded(map, SHMBLOCK_SEM_SIZE, touch,
					    map) == -EFAULT)
			faults++;
	}
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	printf("rounds %ld ok %ld eagain %ld ebadmsg %ld faults %ld\n", round,
	       ok, eagain, ebadmsg, faults);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 2 ? argv[1] : "";
	struct sigaction sa = { .sa_sigaction = on_app_sigbus,
				.sa_flags = SA_SIGINFO };
	unsigned char *p;

	if (argc != 3) {
		fprintf(stderr, "usage: sem_fault CASE SHM_FILE\n");
		return 2;
	}
	if (!strcmp(c, "race"))
		return race(argv[2]);
	if (!strcmp(c, "ignored"))
		signal(SIGBUS, SIG_IGN);
	if (!strcmp(c, "chained"))
		sigaction(SIGBUS, &sa, NULL);
	p = map_empty(argv[2]);
	for (int i = 0; i < 3; i++)
		printf("guarded: %d\n",
		       shmblock__fault_guarded(p, 8192, touch,
					       p + i % 2 * 4096));
	fflush(stdout);
	if (!strcmp(c, "guard"))
		return 0;
	if (!strcmp(c, "outside"))
		shmblock__fault_guarded(p, 4096, touch, p + 4096);
	else if (!strcmp(c, "sent"))
		shmblock__fault_guarded(p, 8192, send_sigbus, NULL);
	else if (!strcmp(c, "ignored")) {
		kill(getpid(), SIGBUS);
		printf("alive\n");
		fflush(stdout);
		touch(p);
	} else {
		touch(p); /* unguarded, chained */
	}
	printf("survived\n");
	return 1;
}
