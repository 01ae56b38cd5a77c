/* SPDX-License-Identifier: MIT */
/*
 * libshmblock: POSIX named semaphores (docs/semaphores.md).  Included by shmblock.h, which programs include;
 * not meant to be included alone.
 */
#ifndef SHMBLOCK_SEM_H
#define SHMBLOCK_SEM_H

#include "shmblock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/*
 * POSIX named semaphores.  glibc's sem_open("/NAME") keeps the semaphore
 * in the file "sem.NAME" of the shm directory: 32 bytes (sizeof(sem_t)),
 * glibc's struct new_sem, which is ABI (docs/semaphores.md has the layout
 * and the futex protocol).  These calls read, post, take and create such
 * files without sem_open, so that a program can act on any semaphore of
 * a directory: the fs daemon, lsshm.  They take the file's name in the
 * directory ("sem.NAME"; shmblock_sem_file_name makes it) and `dirfd` as
 * the *_at calls above; a name is opened with O_NOFOLLOW, never blocking.
 *
 * Reading never maps the file (pread).  Posting and taking must: they are
 * the compare-and-swap glibc's sem_post and sem_trywait make on the
 * shared word, and the futex wake that goes with it.  The file may be
 * truncated under the mapping by anyone who may write it, so the access is
 * guarded: the first post or trywait installs a SIGBUS handler for the
 * process, which turns a fault of that access into -EBADMSG and passes
 * every other SIGBUS to the disposition that was in place before it.  A
 * program that installs its own SIGBUS handler afterwards must chain to
 * the one it replaces.
 *
 * Errors every call may return:
 *   -EBADMSG  not a glibc semaphore: the size is not SHMBLOCK_SEM_SIZE, the
 *             value is above SHMBLOCK_SEM_VALUE_MAX, or the futex is not a
 *             shared one (a sem_init(pshared = 0) semaphore); or the file
 *             was truncated during the call
 *   -EINVAL   a bad name or argument, or not a regular file
 *   -ENOTSUP  a platform whose glibc has another layout (only the 64-bit
 *             one, every LP64 target, is known)
 *   and open(2)'s: -ENOENT, -EACCES, -ELOOP (a symlink), -EISDIR.
 */
#define SHMBLOCK_SEM_PREFIX "sem."
#define SHMBLOCK_SEM_SIZE 32		   /* sizeof(sem_t) */
#define SHMBLOCK_SEM_VALUE_MAX 2147483647u /* SEM_VALUE_MAX */

struct shmblock_sem_state {
	uint32_t value; /* tokens: what sem_getvalue reports */
	/*
	 * Threads registered in sem_wait (or sem_timedwait) that have not left
	 * it.  A waiter killed while it waits is never unregistered, so this
	 * counts it for as long as the semaphore exists.
	 */
	uint32_t waiters;
};

/*
 * Writes the file name of the semaphore sem_open(name) opens, under a
 * mount prefix `prefix` (NULL or "" for none): "sem." prefix name, with
 * name's leading slashes dropped, as glibc does.  Returns its length, as
 * snprintf (at most outlen bytes are written, NUL included).
 * Errors: -EINVAL (name empty or holding '/', a prefix holding '/'),
 * -ENAMETOOLONG (the file name would pass NAME_MAX).
 */
SHMBLOCK_API ssize_t shmblock_sem_file_name(const char *prefix,
					    const char *name, char *out,
					    size_t outlen);

/*
 * The semaphore name (sem_open's, without the slash) in the file name
 * `file` under `prefix`: a pointer into `file` past "sem." and the prefix,
 * or NULL if `file` does not start so or nothing follows.
 */
SHMBLOCK_API const char *shmblock_sem_name(const char *prefix,
					   const char *file);

/*
 * Checks `len` bytes as a semaphore and decodes them (out may be NULL).
 * Errors: -EBADMSG.
 */
SHMBLOCK_API int shmblock_sem_decode(const void *buf, size_t len,
				     struct shmblock_sem_state *out);

/*
 * Reads the semaphore open at `fd` (any access mode) with pread: the size
 * from fstat, then the 32 bytes twice, until two reads agree (a read racing
 * with a post may copy a half-updated word).  Nothing is mapped.
 * Errors: -EBADMSG, -EINVAL, -EAGAIN (it kept changing over 16 tries),
 * pread's.
 */
SHMBLOCK_API int shmblock_sem_read_fd(int fd, struct shmblock_sem_state *out);
SHMBLOCK_API int shmblock_sem_read_at(int dirfd, const char *file,
				      struct shmblock_sem_state *out);

/*
 * Posts n tokens (n >= 1) at once, as n sem_post calls in a row would, all
 * or nothing: one compare-and-swap adds n to the value, then, if waiters
 * were registered, one FUTEX_WAKE (shared) wakes as many of them as tokens
 * were added, min(n, waiters).  `fd` must be open read-write; `before`, if
 * not NULL, gets the state the post was applied to.
 * Errors: -EOVERFLOW (the value would pass SHMBLOCK_SEM_VALUE_MAX: nothing
 * is posted), -EINVAL (n is 0), -EBADMSG, -EACCES (fd not writable),
 * -EBUSY (the word changed under 65536 swaps in a row: someone hammers it;
 * nothing is posted), mmap's -ENOMEM.
 */
SHMBLOCK_API int shmblock_sem_post_fd(int fd, uint32_t n,
				      struct shmblock_sem_state *before);
SHMBLOCK_API int shmblock_sem_post_at(int dirfd, const char *file, uint32_t n,
				      struct shmblock_sem_state *before);

/*
 * Takes n tokens (n >= 1) at once if the value is at least n, as
 * sem_trywait does for one; never waits.  Arguments as for the post.
 * Errors: -EAGAIN (fewer than n tokens: nothing is taken), and the post's
 * but -EOVERFLOW.
 */
SHMBLOCK_API int shmblock_sem_trywait_fd(int fd, uint32_t n,
					 struct shmblock_sem_state *before);
SHMBLOCK_API int shmblock_sem_trywait_at(int dirfd, const char *file,
					 uint32_t n,
					 struct shmblock_sem_state *before);

/*
 * Creates the semaphore `file` holding `value`, as sem_open(O_CREAT |
 * O_EXCL) does: the name appears only once the file is whole, so no
 * sem_open ever maps a short file.  Where glibc writes the file under a
 * temporary name "sem.XXXXXX" and links that, the file is made unnamed
 * (O_TMPFILE), written, given its owner, then linked to `file`: no other
 * name ever shows.  `mode` is taken through the umask, as open(2) takes
 * it.  `uid`/`gid`: the owner, (uid_t)-1/(gid_t)-1 to leave the caller's,
 * as fchown(2).
 * Errors: -EEXIST (`file` exists; it is left alone), -EINVAL (bad name,
 * value above SHMBLOCK_SEM_VALUE_MAX), -EPERM (fchown), -ENOSPC, -EACCES,
 * -EOPNOTSUPP (the filesystem has no O_TMPFILE; tmpfs has it since Linux
 * 3.11), -ENOTSUP.  On error nothing is left behind.
 */
SHMBLOCK_API int shmblock_sem_create_at(int dirfd, const char *file,
					uint32_t value, mode_t mode, uid_t uid,
					gid_t gid);

/*
 * shmblock_sem_create_at that returns an open read-write descriptor
 * (O_CLOEXEC) of the semaphore it linked, the very file: whoever creates
 * a semaphore for someone (the fs daemon) can record and use what it made
 * without opening the name again, which another process may have replaced
 * meanwhile.  Returns the descriptor or -errno (the same errors).
 */
SHMBLOCK_API int shmblock_sem_create_open_at(int dirfd, const char *file,
					     uint32_t value, mode_t mode,
					     uid_t uid, gid_t gid);

/*
 * (sem_unlink is shmblock_unlink_name_at(dirfd, file): it only removes
 * the name; processes that have the semaphore open keep using it.)
 */

#ifdef __cplusplus
}
#endif
#endif
