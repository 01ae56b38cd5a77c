/* SPDX-License-Identifier: MIT */
/* POSIX named semaphores as glibc keeps them: read, post, take, create. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault.h"
#include "shmblock.h"

/*
 * glibc's struct new_sem where it has 64-bit atomics (every LP64 target;
 * nptl/internaltypes.h), in the 32 bytes of a sem_t:
 *
 *   0   uint64_t data     value in the low 32 bits, the number of
 *                         registered waiters in the high 32 bits
 *   8   int      private  FUTEX_SHARED for every named semaphore, 0
 *                         (FUTEX_PRIVATE) for sem_init(pshared = 0).
 *                         glibc XORs it into FUTEX_PRIVATE_FLAG, so
 *                         FUTEX_SHARED is that flag's value, 128
 *   12  int      pad      unused (a lock on pre-v9 sparc only)
 *   16  16 bytes          unused; sem_open writes zeros
 *
 * The futex is the 32-bit half of data that holds the value: offset 0 on
 * little-endian, 4 on big-endian.  sem_post adds 1 to data with a
 * compare-and-swap (EOVERFLOW at SEM_VALUE_MAX) and, if the waiters half
 * it replaced was not 0, wakes one waiter.  sem_wait adds 1 << 32 to
 * register, sleeps on the futex while the value is 0, and takes a token
 * and unregisters in one swap: data - 1 - (1 << 32).  sem_trywait takes a
 * token (data - 1) when the value is not 0.
 */
#define SEM_WORD_OFF 0
#define SEM_PRIVATE_OFF 8
#define SEM_FUTEX_SHARED FUTEX_PRIVATE_FLAG /* glibc's LLL_SHARED */
#define SEM_VALUE_MASK 0xffffffffull
#define SEM_WAITERS_SHIFT 32
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SEM_FUTEX_OFF 4
#else
#define SEM_FUTEX_OFF 0
#endif
#define SEM_LAYOUT_KNOWN (__SIZEOF_POINTER__ == 8)

/* Swaps lost in a row before a post or take gives up (-EBUSY). */
#define SEM_MAX_SWAPS 65536
/* Pairs of reads before shmblock_sem_read_fd gives up (-EAGAIN). */
#define SEM_MAX_READS 16

static int decode_word(uint64_t data, int32_t priv,
		       struct shmblock_sem_state *out)
{
	if (!SEM_LAYOUT_KNOWN)
		return -ENOTSUP;
	if ((data & SEM_VALUE_MASK) > SHMBLOCK_SEM_VALUE_MAX ||
	    priv != SEM_FUTEX_SHARED)
		return -EBADMSG;
	if (out) {
		out->value = (uint32_t)(data & SEM_VALUE_MASK);
		out->waiters = (uint32_t)(data >> SEM_WAITERS_SHIFT);
	}
	return 0;
}

SHMBLOCK_API int shmblock_sem_decode(const void *buf, size_t len,
				     struct shmblock_sem_state *out)
{
	const unsigned char *p = buf;
	uint64_t data;
	int32_t priv;

	if (!buf || len != SHMBLOCK_SEM_SIZE)
		return -EBADMSG;
	memcpy(&data, p + SEM_WORD_OFF, sizeof(data));
	memcpy(&priv, p + SEM_PRIVATE_OFF, sizeof(priv));
	return decode_word(data, priv, out);
}

SHMBLOCK_API ssize_t shmblock_sem_file_name(const char *prefix,
					    const char *name, char *out,
					    size_t outlen)
{
	size_t plen, nlen;

	if (!prefix)
		prefix = "";
	if (!name)
		return -EINVAL;
	while (*name == '/')
		name++;
	plen = strnlen(prefix, NAME_MAX + 1);
	nlen = strnlen(name, NAME_MAX + 1);
	if (nlen == 0 || strchr(name, '/') || strchr(prefix, '/'))
		return -EINVAL;
	if (strlen(SHMBLOCK_SEM_PREFIX) + plen + nlen > NAME_MAX)
		return -ENAMETOOLONG;
	return snprintf(out, outlen, SHMBLOCK_SEM_PREFIX "%s%s", prefix, name);
}

SHMBLOCK_API const char *shmblock_sem_name(const char *prefix, const char *file)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	size_t slen = strlen(SHMBLOCK_SEM_PREFIX);

	if (!file || strncmp(file, SHMBLOCK_SEM_PREFIX, slen) != 0)
		return NULL;
	file += slen;
	if (plen && strncmp(file, prefix, plen) != 0)
		return NULL;
	file += plen;
	return *file ? file : NULL;
}

/* Opens `file` of the directory (SHMBLOCK_DEFAULT_DIR: /dev/shm). */
static int open_sem(int dirfd, const char *file, int access)
{
	int flags = access | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	int rc = shmblock_name_check(file), fd;

	if (rc < 0)
		return rc;
	if (dirfd == SHMBLOCK_DEFAULT_DIR) {
		char path[sizeof(SHMBLOCK_SHM_DIR) + NAME_MAX + 1];

		snprintf(path, sizeof(path), SHMBLOCK_SHM_DIR "/%s", file);
		fd = open(path, flags);
	} else {
		fd = openat(dirfd, file, flags);
	}
	return fd < 0 ? -errno : fd;
}

/* A regular file of the semaphore's size (checked again when touched). */
static int check_file(int fd)
{
	struct stat st;

	if (!SEM_LAYOUT_KNOWN)
		return -ENOTSUP;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size != SHMBLOCK_SEM_SIZE)
		return -EBADMSG;
	return 0;
}

SHMBLOCK_API int shmblock_sem_read_fd(int fd, struct shmblock_sem_state *out)
{
	unsigned char a[SHMBLOCK_SEM_SIZE], b[SHMBLOCK_SEM_SIZE];
	int rc = check_file(fd);

	for (int i = 0; rc == 0 && i < SEM_MAX_READS; i++) {
		ssize_t na = pread(fd, a, sizeof(a), 0);
		ssize_t nb = na == sizeof(a) ? pread(fd, b, sizeof(b), 0) : na;

		if (na < 0 || nb < 0)
			return -errno;
		/* Shorter: truncated since the fstat. */
		if (na != sizeof(a) || nb != sizeof(b))
			return -EBADMSG;
		if (memcmp(a, b, sizeof(a)) == 0)
			return shmblock_sem_decode(a, sizeof(a), out);
		sched_yield();
	}
	return rc < 0 ? rc : -EAGAIN;
}

SHMBLOCK_API int shmblock_sem_read_at(int dirfd, const char *file,
				      struct shmblock_sem_state *out)
{
	int fd = open_sem(dirfd, file, O_RDONLY), rc;

	if (fd < 0)
		return fd;
	rc = shmblock_sem_read_fd(fd, out);
	close(fd);
	return rc;
}

/* One post or take, run under the fault guard on the mapping. */
struct sem_swap {
	unsigned char *map;
	uint32_t n;
	bool post;
	uint64_t before; /* data as the swap found it */
};

/*
 * The swap itself: only loads and compare-and-swaps on the mapping, so a
 * SIGBUS may end it anywhere (shmblock__fault_guarded).  Nothing is
 * written unless the swap succeeds.
 */
static int swap_word(void *arg)
{
	struct sem_swap *s = arg;
	uint64_t *word = (uint64_t *)(s->map + SEM_WORD_OFF);
	int32_t *priv = (int32_t *)(s->map + SEM_PRIVATE_OFF);
	uint64_t d = __atomic_load_n(word, __ATOMIC_RELAXED);
	int rc = decode_word(d, __atomic_load_n(priv, __ATOMIC_RELAXED), NULL);

	for (int i = 0; rc == 0 && i < SEM_MAX_SWAPS; i++) {
		uint32_t v = (uint32_t)(d & SEM_VALUE_MASK);
		uint64_t nd;

		if (v > SHMBLOCK_SEM_VALUE_MAX)
			return -EBADMSG;
		if (s->post && s->n > SHMBLOCK_SEM_VALUE_MAX - v)
			return -EOVERFLOW;
		if (!s->post && v < s->n)
			return -EAGAIN;
		nd = s->post ? d + s->n : d - s->n;
		/* glibc posts with release order and takes with acquire. */
		if (__atomic_compare_exchange_n(word, &d, nd, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			s->before = d;
			return 0;
		}
	}
	return rc < 0 ? rc : -EBUSY;
}

/* Wakes up to n waiters sleeping on the semaphore's futex. */
static void wake(unsigned char *map, uint32_t n)
{
	/*
	 * Never FUTEX_PRIVATE_FLAG: the waiters are other processes.  The
	 * errors (EFAULT: truncated since the swap) are glibc's to ignore too.
	 */
	syscall(SYS_futex, map + SEM_FUTEX_OFF, FUTEX_WAKE,
		n > INT_MAX ? INT_MAX : (int)n, NULL, NULL, 0);
}

static int change(int fd, uint32_t n, bool post,
		  struct shmblock_sem_state *before)
{
	struct sem_swap s = { .n = n, .post = post };
	uint32_t waiters;
	int rc;

	if (n == 0)
		return -EINVAL;
	rc = check_file(fd);
	if (rc < 0)
		return rc;
	s.map = mmap(NULL, SHMBLOCK_SEM_SIZE, PROT_READ | PROT_WRITE,
		     MAP_SHARED, fd, 0);
	if (s.map == MAP_FAILED)
		return -errno;
	rc = shmblock__fault_guarded(s.map, SHMBLOCK_SEM_SIZE, swap_word, &s);
	if (rc == -EFAULT) /* truncated after the fstat */
		rc = -EBADMSG;
	if (rc == 0) {
		waiters = (uint32_t)(s.before >> SEM_WAITERS_SHIFT);
		if (post && waiters > 0)
			wake(s.map, n < waiters ? n : waiters);
		if (before)
			decode_word(s.before, SEM_FUTEX_SHARED, before);
	}
	munmap(s.map, SHMBLOCK_SEM_SIZE);
	return rc;
}

SHMBLOCK_API int shmblock_sem_post_fd(int fd, uint32_t n,
				      struct shmblock_sem_state *before)
{
	return change(fd, n, true, before);
}

SHMBLOCK_API int shmblock_sem_trywait_fd(int fd, uint32_t n,
					 struct shmblock_sem_state *before)
{
	return change(fd, n, false, before);
}

static int change_at(int dirfd, const char *file, uint32_t n, bool post,
		     struct shmblock_sem_state *before)
{
	int fd = open_sem(dirfd, file, O_RDWR), rc;

	if (fd < 0)
		return fd;
	rc = change(fd, n, post, before);
	close(fd);
	return rc;
}

SHMBLOCK_API int shmblock_sem_post_at(int dirfd, const char *file, uint32_t n,
				      struct shmblock_sem_state *before)
{
	return change_at(dirfd, file, n, true, before);
}

SHMBLOCK_API int shmblock_sem_trywait_at(int dirfd, const char *file,
					 uint32_t n,
					 struct shmblock_sem_state *before)
{
	return change_at(dirfd, file, n, false, before);
}

/* The bytes sem_open writes for a new semaphore holding `value`. */
static void encode(uint32_t value, unsigned char out[SHMBLOCK_SEM_SIZE])
{
	uint64_t data = value; /* no waiters */
	int32_t priv = SEM_FUTEX_SHARED;

	memset(out, 0, SHMBLOCK_SEM_SIZE);
	memcpy(out + SEM_WORD_OFF, &data, sizeof(data));
	memcpy(out + SEM_PRIVATE_OFF, &priv, sizeof(priv));
}

/* Writes the contents and the owner of a new, still unnamed file. */
static int fill(int fd, uint32_t value, uid_t uid, gid_t gid)
{
	unsigned char buf[SHMBLOCK_SEM_SIZE];
	ssize_t n;

	encode(value, buf);
	n = pwrite(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	if (n != sizeof(buf))
		return -ENOSPC;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
		return -errno;
	return 0;
}

/* Links the O_TMPFILE `fd` as `file` of `dirfd` (no replace). */
static int link_tmpfile(int fd, int dirfd, const char *file)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dirfd, file, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	/* Without /proc, AT_EMPTY_PATH (which wants CAP_DAC_READ_SEARCH). */
	if (errno == ENOENT && linkat(fd, "", dirfd, file, AT_EMPTY_PATH) == 0)
		return 0;
	return -errno;
}

SHMBLOCK_API int shmblock_sem_create_open_at(int dirfd, const char *file,
					     uint32_t value, mode_t mode,
					     uid_t uid, gid_t gid)
{
	int dfd = dirfd, fd, rc;

	if (!SEM_LAYOUT_KNOWN)
		return -ENOTSUP;
	rc = shmblock_name_check(file);
	if (rc < 0)
		return rc;
	if (value > SHMBLOCK_SEM_VALUE_MAX)
		return -EINVAL;
	if (dirfd == SHMBLOCK_DEFAULT_DIR) {
		dfd = open(SHMBLOCK_SHM_DIR,
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
	}
	fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
	} else {
		rc = fill(fd, value, uid, gid);
		if (rc == 0)
			rc = link_tmpfile(fd, dfd, file);
		if (rc < 0)
			close(fd);
	}
	if (dfd != dirfd)
		close(dfd);
	return rc < 0 ? rc : fd;
}

SHMBLOCK_API int shmblock_sem_create_at(int dirfd, const char *file,
					uint32_t value, mode_t mode, uid_t uid,
					gid_t gid)
{
	int fd =
		shmblock_sem_create_open_at(dirfd, file, value, mode, uid, gid);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}
