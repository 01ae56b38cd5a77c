/* SPDX-License-Identifier: MIT */
/* The per-mount state of the shmfs daemon and the helpers its modules share. */
#ifndef SHMFS_FS_H
#define SHMFS_FS_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <syslog.h>

struct inode_table;
struct node;
struct passthrough;
struct watch;
struct created_set;
struct listing;

/*
 * One mount.  Set up in main() before the session runs and read-only while
 * it runs, except where a field says otherwise.
 */
struct shmfs {
	int dirfd;              /* the shm directory, O_RDONLY|O_DIRECTORY */
	const char *shmdir;     /* its path, for messages */
	const char *prefix;     /* "" when the mount shows every block */
	size_t prefix_len;
	bool sparse;            /* -o sparse: grow without reserving memory */
	bool cleanup;           /* -o cleanup: unlink our blocks on unmount */
	bool nopassthrough;     /* -o nopassthrough */
	bool nommap;            /* -o nommap: no MAP_SHARED without passthrough */
	bool foreground;        /* log to stderr rather than syslog */
	double timeout;         /* entry and attribute cache, seconds */
	bool is_root;           /* euid 0: new blocks are chowned to the caller */
	uid_t euid;             /* the daemon's own ids: a new block already */
	gid_t egid;             /* has them when the caller has them too */

	struct fuse_session *se;
	struct passthrough *pt;         /* never NULL while the session runs */
	struct inode_table *inodes;
	struct watch *watch;
	struct created_set *created;    /* NULL without -o cleanup */
	struct listing *listing;        /* the top level, kept by the watch */
	atomic_bool mode_logged;        /* the data path was logged */
};

/* The mount of a request. */
static inline struct shmfs *req_fs(fuse_req_t req)
{
	return (struct shmfs *)fuse_req_userdata(req);
}

/*
 * Replies to `req` with a negative core or syscall result.  `rc` must be
 * negative; 0 would be a success reply, which only the caller can build.
 */
void reply_rc(fuse_req_t req, int rc);

/* Logs a line to stderr in the foreground, to syslog in the background. */
void shmfs_log(const struct shmfs *fs, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Logs once per mount whether passthrough or the daemon serves data. */
void shmfs_log_mode(struct shmfs *fs);

/*
 * Maps a name of the mount to the block name in the shm directory (the
 * prefix in front).  Errors: -ENAMETOOLONG, -EINVAL (not a block name),
 * -ENOENT (a name the mount hides, such as a named semaphore's "sem.*").
 */
int ns_block_name(const struct shmfs *fs, const char *name,
		  char out[NAME_MAX + 1]);

/*
 * Maps a name of the shm directory to the name the mount shows, or NULL
 * when the mount hides it (another prefix, a semaphore).
 */
const char *ns_mount_name(const struct shmfs *fs, const char *shm_name);

/*
 * Creates the block file for the mount name `name` (open with `access`,
 * O_RDONLY or O_RDWR), owned by the caller with exactly `mode`, records it
 * for -o cleanup and stats it.  Leaves nothing behind on error.  Returns the
 * open descriptor or -errno.  The core can't do this: like CPython it refuses
 * to create an empty block, while a file system creates empty files.
 */
int ns_make_block(fuse_req_t req, const char *name, mode_t mode, int access,
		  struct stat *st);
/* Undoes ns_make_block (the caller still closes the descriptor). */
void ns_unmake_block(struct shmfs *fs, const char *name, const struct stat *st);

/*
 * Renames `from` to `to` in the shm directory (renameat2 `flags`), telling
 * the watch that the events are the mount's own.  Returns 0 or -errno.
 */
int ns_rename_expecting(struct shmfs *fs, const char *from, const char *to,
			unsigned flags);

/* Fills a FUSE entry for a block node from the block's stat. */
void ns_fill_entry(const struct shmfs *fs, struct fuse_entry_param *e,
		   struct node *node, const struct stat *st);

/* The lowlevel operations, split by kind of node (ops_*.c, namespace.c). */
void ns_lookup(fuse_req_t req, struct node *dir, const char *name);
void ns_getattr(fuse_req_t req, struct node *dir);
void ns_opendir(fuse_req_t req, struct node *dir, struct fuse_file_info *fi);
void ns_readdir(fuse_req_t req, struct node *dir, size_t size, off_t off,
		struct fuse_file_info *fi, bool plus);
void ns_releasedir(fuse_req_t req, struct fuse_file_info *fi);
void ns_statfs(fuse_req_t req);
void ns_create(fuse_req_t req, struct node *dir, const char *name,
	       mode_t mode, struct fuse_file_info *fi);
void ns_mknod(fuse_req_t req, struct node *dir, const char *name,
	      mode_t mode);
void ns_unlink(fuse_req_t req, struct node *dir, const char *name);
void ns_rmdir(fuse_req_t req, struct node *dir, const char *name);
void ns_rename(fuse_req_t req, struct node *dir, const char *name,
	       struct node *newdir, const char *newname, unsigned flags);

void block_getattr(fuse_req_t req, struct node *node);
/*
 * chown, chmod (mode & mode_mask) and utimens of `to_set` on a block's
 * descriptor, in that order.  Returns 0 or -errno.
 */
int fd_set_attrs(int fd, const struct stat *attr, int to_set, mode_t mode_mask);
void block_setattr(fuse_req_t req, struct node *node, struct stat *attr,
		   int to_set, struct fuse_file_info *fi);
void block_open(fuse_req_t req, struct node *node, struct fuse_file_info *fi);
/*
 * Opens `node` for an OPEN or CREATE reply: fills `fi` and sets
 * *backing_id to the passthrough backing id, or 0 when the daemon serves the
 * data.  On error nothing is left open.  Errors: -ESTALE (the name no longer
 * names this block), -EACCES, and the core's.
 */
int block_open_prepare(struct shmfs *fs, struct node *node,
		       struct fuse_file_info *fi, int *backing_id);
void block_read(fuse_req_t req, struct node *node, size_t size, off_t off,
		struct fuse_file_info *fi);
void block_write(fuse_req_t req, struct node *node, const char *buf,
		 size_t size, off_t off, struct fuse_file_info *fi);
void block_release(fuse_req_t req, struct fuse_file_info *fi);
/* Closes what block_open_prepare left in fi->fh. */
void block_close_fh(struct fuse_file_info *fi);
void block_fallocate(fuse_req_t req, struct node *node, int mode,
		     off_t offset, off_t length);
void block_setxattr(fuse_req_t req, struct node *node, const char *name,
		    const char *value, size_t size, int flags);
void block_getxattr(fuse_req_t req, struct node *node, const char *name,
		    size_t size);
void block_listxattr(fuse_req_t req, struct node *node, size_t size);
void block_removexattr(fuse_req_t req, struct node *node, const char *name);

/* ShareableLists as directories (ops_list.c). */
void list_fill_dir_entry(const struct shmfs *fs, struct fuse_entry_param *e,
			 struct node *node, const struct stat *block);
void list_lookup(fuse_req_t req, struct node *dir, const char *name);
void list_getattr(fuse_req_t req, struct node *node);
void list_setattr(fuse_req_t req, struct node *node, struct stat *attr,
		  int to_set);
void list_open(fuse_req_t req, struct node *node, struct fuse_file_info *fi);
void list_release(fuse_req_t req, struct fuse_file_info *fi);
void list_read(fuse_req_t req, struct node *node, size_t size, off_t off,
	       struct fuse_file_info *fi);
void list_write(fuse_req_t req, struct node *node, const char *buf,
		size_t size, off_t off, struct fuse_file_info *fi);
void list_create(fuse_req_t req, struct node *dir, const char *name,
		 mode_t mode, struct fuse_file_info *fi);
void list_mknod(fuse_req_t req, struct node *dir, const char *name,
		mode_t mode);
void list_opendir(fuse_req_t req, struct node *dir,
		  struct fuse_file_info *fi);
void list_readdir(fuse_req_t req, struct node *dir, size_t size, off_t off,
		  struct fuse_file_info *fi, bool plus);
void list_releasedir(fuse_req_t req, struct fuse_file_info *fi);
void list_getxattr(fuse_req_t req, struct node *node, const char *name,
		   size_t size);
void list_listxattr(fuse_req_t req, struct node *node, size_t size);
void list_setxattr(fuse_req_t req, struct node *node, const char *name,
		   const char *value, size_t size, int flags, bool remove);
/* mkdir in the root: an empty list (16 zero bytes marked LIST_XATTR). */
void list_mkdir(fuse_req_t req, const char *name, mode_t mode);

/* The operations table (ops.c). */
extern const struct fuse_lowlevel_ops shmfs_ops;

#endif
