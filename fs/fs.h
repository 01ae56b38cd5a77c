/* SPDX-License-Identifier: MIT */
/*
 * The ground floor of the daemon: the per-mount state, the name mapping
 * between the mount and the shm directory, the log and the reply helpers.
 * Every file of fs/ may use it (docs/shmfs.md has the layers).
 */
#ifndef SHMFS_FS_H
#define SHMFS_FS_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

struct inode_table;
struct node;
struct passthrough;
struct watch;
struct created_set;
struct listing;
struct expect_set;
struct lifetime;

/*
 * One mount.  Set up in main() before the session runs and read-only while
 * it runs, except where a field says otherwise.
 */
struct shmfs {
	int dirfd;	    /* the shm directory, O_RDONLY|O_DIRECTORY */
	const char *shmdir; /* its path, for messages */
	const char *prefix; /* "" when the mount shows every block */
	size_t prefix_len;
	bool sparse;	    /* -o sparse: grow without reserving memory */
	bool cleanup;	    /* -o cleanup: unlink our blocks on unmount */
	bool nopassthrough; /* -o nopassthrough */
	bool mmapcopy;	    /* -o mmapcopy: MAP_SHARED without passthrough
				 * is a page cache copy (default: refused) */
	bool foreground;    /* log to stderr rather than syslog */
	double timeout;	    /* entry and attribute cache, seconds */
	bool is_root;	    /* euid 0: new blocks are chowned to the caller */
	uid_t euid;	    /* the daemon's own ids: a new block already */
	gid_t egid;	    /* has them when the caller has them too */

	struct fuse_session *se;
	struct passthrough *pt; /* never NULL while the session runs */
	struct inode_table *inodes;
	struct expect_set *expected; /* the mount's own namespace events */
	struct watch *watch;
	struct created_set *created; /* NULL without -o cleanup */
	struct listing *listing;     /* the top level, kept by the watch */
	struct lifetime *lifetime;   /* the lifetime enforcer; set once, by
					 * lifetime_start, read by the watch */
	atomic_bool mode_logged;     /* the data path was logged */
};

/* The mount of a request. */
static inline struct shmfs *req_fs(fuse_req_t req)
{
	return (struct shmfs *)fuse_req_userdata(req);
}

/*
 * The temporary blocks of list rebuilds (shmdir.c) are named
 * "<prefix>.shmfs-tmp-<pid>-<8 hex digits>" and carry the xattr
 * SHMFS_TMP_XATTR ("<pid> <start time> <pid namespace>" of the daemon that
 * made them).  Every mount, whatever its prefix, hides a name that ends in
 * that pattern and has the mark (shmfs_tmp_block); a user's lookalike
 * without it is an ordinary block.
 */
#define SHMFS_TMP_PREFIX ".shmfs-tmp-"
#define SHMFS_TMP_XATTR "user.shmfs.tmp"

/*
 * Whether `shm_name` is a temporary block of some mount: its name ends in
 * the pattern and the daemon can't tell it apart from one (it has the
 * mark, or it is gone, or its xattrs can't be read).
 */
bool shmfs_tmp_block(const struct shmfs *fs, const char *shm_name);

/* Whether `shm_name` ends in the temporary pattern; *pid gets its pid. */
bool shmfs_tmp_name(const char *shm_name, long *pid);

/*
 * POSIX named semaphores live in the same directory under this prefix:
 * sem_open("/NAME") is "sem.NAME".  The mount shows the semaphores of its
 * own prefix P in a namespace of their own: "sem.PNAME" as "sem.NAME"
 * (docs/semaphores.md, "Through the mount"), so a mount name that starts
 * with "sem." is always a semaphore's, and a block "Psem.x" is hidden.
 */
#define SHMFS_SEM_PREFIX "sem."

/* Whether the mount name (or shm name) `name` is a semaphore's: "sem.*". */
static inline bool shmfs_sem_name(const char *name)
{
	return !strncmp(name, SHMFS_SEM_PREFIX, sizeof(SHMFS_SEM_PREFIX) - 1);
}

/*
 * Maps a name of the mount to the block name in the shm directory (the
 * prefix in front, or after "sem." for a semaphore).  Errors:
 * -ENAMETOOLONG, -EINVAL (not a block name), -ENOENT (a name the mount
 * hides: "sem." alone, a temporary block).
 */
int shmfs_block_name(const struct shmfs *fs, const char *name,
		     char out[NAME_MAX + 1]);

/*
 * Maps a name of the shm directory to the name the mount shows: a pointer
 * into `shm_name`, or into `buf` (a semaphore under a prefix), or NULL
 * when the mount hides it (another prefix, a temporary block).
 */
const char *shmfs_mount_name(const struct shmfs *fs, const char *shm_name,
			     char buf[NAME_MAX + 1]);

/* A string hash for the daemon's tables (FNV-1a). */
static inline size_t shmfs_name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 32));
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t shmfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Reads /proc/PID/stat at `path` into `buf` and returns its fields after
 * the command name (which may hold spaces and parentheses), the state
 * first; NULL when it can't be read.  Only open, read and close: a child
 * may call it between fork and exit (fs/connection.c's guardian).
 */
const char *shmfs_proc_stat(const char *path, char *buf, size_t size);

/* Writes all of `buf` at `off`.  Errors: pwrite's, -EIO on a short write. */
int shmfs_pwrite_full(int fd, const void *buf, size_t len, off_t off);

/*
 * Undoes /proc/self/mountinfo's octal escapes in place: a space, tab,
 * newline or backslash of a path is written \ooo there.
 */
void shmfs_mountinfo_unescape(char *s);

/* Logs a line to stderr in the foreground, to syslog in the background. */
void shmfs_log(const struct shmfs *fs, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Logs once per mount whether passthrough or the daemon serves data. */
void shmfs_log_mode(struct shmfs *fs);

/*
 * Replies to `req` with a status: 0 is success (for the requests whose
 * success reply is an empty error reply), a negative core or syscall result
 * is that errno.  A positive `rc` is a handler bug and answers EIO.
 */
void reply_rc(fuse_req_t req, int rc);

/* Fills a FUSE entry for `node` with attributes `st`, cached fs->timeout. */
void shmfs_fill_entry(const struct shmfs *fs, struct fuse_entry_param *e,
		      struct node *node, const struct stat *st);

/*
 * Sends an entry that holds one reference to its node (e->ino); if the
 * kernel did not get it (the request was interrupted), drops the reference.
 */
void reply_entry(fuse_req_t req, const struct fuse_entry_param *e);

/*
 * Adds the directory entry `name` to `buf` (`room` bytes), `next` the
 * offset of the entry after it: for READDIRPLUS (`plus`) the entry `e`,
 * which holds a reference to its node when e->ino is not 0, else only the
 * inode number and type of e->attr.  Returns the bytes it takes, more than
 * `room` when it doesn't fit (nothing added).
 */
size_t shmfs_add_dirent(fuse_req_t req, char *buf, size_t room,
			const char *name, const struct fuse_entry_param *e,
			off_t next, bool plus);

/*
 * Replies to a READDIR or READDIRPLUS (`plus`) of `size` bytes with the
 * entries `first` to `count` - 1 that fit, each added by `add` (arg, the
 * entry's index, where to put it and the room left), which returns the
 * bytes it took, 0 to skip the entry, or more than the room when it
 * doesn't fit, which ends the reply.  Errors replied: -ENOMEM.
 */
void reply_readdir(fuse_req_t req, size_t size, size_t first, size_t count,
		   bool plus,
		   size_t (*add)(fuse_req_t req, void *arg, size_t i, char *buf,
				 size_t room, bool plus),
		   void *arg);

/*
 * Replies to a getxattr or listxattr of `size` with `n` bytes of `buf`:
 * the length when size is 0, -ERANGE when it doesn't fit, else the data.
 * A negative `n` is an error reply.
 */
void reply_xattr(fuse_req_t req, const char *buf, ssize_t n, size_t size);

/*
 * The error for an xattr `name` a file doesn't have: -ENODATA, but
 * -EOPNOTSUPP for the label of a security module that doesn't run here
 * (security.selinux, security.SMACK64*), as a file system without such
 * labels answers.  `ls -l` asks every file for its SELinux label until
 * the answer is "not supported" (then never again on that device): over
 * FUSE each question is a round trip, for a label nothing here sets.
 * Never -ENOSYS, which would turn every xattr of the mount off.
 */
int shmfs_xattr_absent(const char *name);

/*
 * Whether the caller of `req` is in group `gid`, as the kernel would ask:
 * its group or one of its first 64 supplementary groups (a member by a
 * later one is taken for none: refused a read, its set-group-id cleared).
 */
bool shmfs_caller_in_group(fuse_req_t req, gid_t gid);

/*
 * The names of the xattrs of the file open at `fd` that the caller of `req`
 * may see, NUL separated, in *out (malloc'd; `extra` more bytes of room at
 * the end for the caller).  The daemon runs as root, so it lists trusted.*
 * names, which tmpfs shows only to callers with CAP_SYS_ADMIN: they are
 * left out for other callers.  An xattr added between sizing and reading
 * is caught: it reads again.  Returns the length or -errno.
 */
ssize_t shmfs_xattr_names(fuse_req_t req, int fd, size_t extra, char **out);

/*
 * The attributes of a block node: from its held descriptor, or by its name,
 * checked to be the node's block.  Errors: -ESTALE (the name no longer leads
 * to it), fstat's.
 */
int shmfs_node_stat(struct shmfs *fs, struct node *node, struct stat *st);

#endif
