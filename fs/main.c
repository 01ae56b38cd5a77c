/* SPDX-License-Identifier: MIT */
/* shmfs: mounts the POSIX shared memory blocks of /dev/shm as files. */

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include "connection.h"
#include "fs.h"
#include "inode.h"
#include "holders_cache.h"
#include "lifetime.h"
#include "listing.h"
#include "notify.h"
#include "ops.h"
#include "locks.h"
#include "passthrough.h"
#include "shmblock.h"
#include "shmdir.h"
#include "stale.h"
#include "watch.h"

struct options {
	char *shmdir;
	char *prefix;
	int sparse;
	int cleanup;
	int nopassthrough;
	int nommap;
	int mmapcopy;
	double timeout;
	double lifetime_scan;
	/* Non-option arguments: [source] mountpoint. */
	char *nonopt[2];
	int nonopt_count;
};

#define OPT(spec, field, value)                              \
	{                                                    \
		spec, offsetof(struct options, field), value \
	}

static const struct fuse_opt shmfs_opts[] = {
	OPT("shmdir=%s", shmdir, 0),
	OPT("prefix=%s", prefix, 0),
	OPT("sparse", sparse, 1),
	OPT("cleanup", cleanup, 1),
	OPT("nopassthrough", nopassthrough, 1),
	OPT("nommap", nommap, 1),
	OPT("mmapcopy", mmapcopy, 1),
	OPT("timeout=%lf", timeout, 0),
	OPT("lifetime_scan=%lf", lifetime_scan, 0),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [options] [source] mountpoint\n\n"
	       "Shows the POSIX shared memory blocks of /dev/shm as files.\n\n"
	       "shmfs options:\n"
	       "    -o shmdir=DIR          blocks are the regular files of DIR "
	       "(default " SHMBLOCK_SHM_DIR ")\n"
	       "    -o prefix=STR          show only blocks named STR..., "
	       "without STR\n"
	       "    -o sparse              grow blocks without reserving "
	       "memory (tmpfs-like)\n"
	       "    -o cleanup             unlink the blocks created through "
	       "the mount on unmount\n"
	       "    -o nopassthrough       serve read and write through the "
	       "daemon\n"
	       "    -o mmapcopy            without passthrough, let "
	       "MAP_SHARED mappings be page\n"
	       "                           cache copies, not the blocks' "
	       "pages (default: refused\n"
	       "                           with ENODEV)\n"
	       "    -o nommap              the default refusal, accepted "
	       "for old command lines\n"
	       "    -o timeout=SECS        cache entries and attributes "
	       "(default 1)\n"
	       "    -o lifetime_scan=SECS  period of the holders scan for "
	       "last-holder and idle\n"
	       "                           lifetimes (default 2)\n\n",
	       prog);
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct options *opts = data;

	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (opts->nonopt_count == 2) {
		fprintf(stderr, "shmfs: too many arguments: `%s'\n", arg);
		return -1;
	}
	opts->nonopt[opts->nonopt_count] = strdup(arg);
	if (!opts->nonopt[opts->nonopt_count])
		return -1;
	opts->nonopt_count++;
	return 0;
}

/* Adds "-o name=value", escaping commas in the value. */
static int add_mount_opt(struct fuse_args *args, const char *name,
			 const char *value)
{
	char *opt = NULL, *full;
	int rc;

	if (asprintf(&full, "%s=%s", name, value) < 0)
		return -1;
	rc = fuse_opt_add_opt_escaped(&opt, full);
	free(full);
	if (rc == 0)
		rc = fuse_opt_add_arg(args, "-o");
	if (rc == 0)
		rc = fuse_opt_add_arg(args, opt);
	free(opt);
	return rc;
}

static bool has_mount_opt(const struct fuse_args *args, const char *name)
{
	int i;

	for (i = 1; i < args->argc; i++)
		if (strstr(args->argv[i], name))
			return true;
	return false;
}

/* Many blocks can be open at once: each known block may keep a descriptor. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int run_session(struct shmfs *fs, struct fuse_cmdline_opts *cmd)
{
	struct fuse_loop_config *cfg;
	int rc;

	if (cmd->singlethread)
		return fuse_session_loop(fs->se);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned)cmd->clone_fd);
	if (cmd->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, cmd->max_idle_threads);
	fuse_loop_cfg_set_max_threads(cfg, cmd->max_threads);
	rc = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

static int open_shm_dir(struct shmfs *fs, const char *dir, struct stat *st)
{
	char *path = realpath(dir, NULL);

	if (!path) {
		fprintf(stderr, "shmfs: shm directory %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	fs->shmdir = path;
	fs->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->dirfd < 0 || fstat(fs->dirfd, st) < 0) {
		fprintf(stderr, "shmfs: shm directory %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* --help and --version. */
static void print_info(const struct fuse_cmdline_opts *cmd, const char *prog)
{
	if (cmd->show_help) {
		usage(prog);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return;
	}
	printf("shmfs version %s\n", SHMBLOCK_VERSION);
	printf("readiness notification (sd_notify): %s\n",
	       notify_has_sd_notify() ? "yes" : "no");
	fuse_lowlevel_version();
}

/*
 * Checks the options and sets the mount `fs` up from them.  Returns 0, or
 * -1 having said what is wrong.
 */
static int configure(struct shmfs *fs, const struct options *opts,
		     const struct fuse_cmdline_opts *cmd)
{
	/* libfuse turns it into seconds and nanoseconds: no NaN, no inf. */
	if (!(opts->timeout >= 0 && opts->timeout <= 1e9)) {
		fprintf(stderr, "shmfs: timeout must be 0 to 1000000000 "
				"seconds\n");
		return -1;
	}
	if (!(opts->lifetime_scan >= 0.01 && opts->lifetime_scan <= 86400)) {
		fprintf(stderr, "shmfs: lifetime_scan must be 0.01 to 86400 "
				"seconds\n");
		return -1;
	}
	if (opts->mmapcopy && opts->nommap) {
		fprintf(stderr, "shmfs: -o mmapcopy and -o nommap contradict "
				"each other\n");
		return -1;
	}
	fs->prefix = opts->prefix ? opts->prefix : "";
	fs->prefix_len = strlen(fs->prefix);
	if (strchr(fs->prefix, '/') || fs->prefix_len >= NAME_MAX) {
		fprintf(stderr, "shmfs: bad prefix `%s'\n", fs->prefix);
		return -1;
	}
	fs->sparse = opts->sparse;
	fs->cleanup = opts->cleanup;
	fs->nopassthrough = opts->nopassthrough;
	fs->mmapcopy = opts->mmapcopy;
	fs->timeout = opts->timeout;
	fs->foreground = cmd->foreground;
	fs->euid = geteuid();
	fs->egid = getegid();
	fs->is_root = fs->euid == 0;
	return 0;
}

/* The mount options shmfs always gives.  Returns 0 or -1. */
static int add_mount_opts(struct fuse_args *args, const struct options *opts)
{
	/* Permissions are checked by the kernel, as on tmpfs. */
	if (fuse_opt_add_arg(args, "-odefault_permissions") ||
	    (!has_mount_opt(args, "fsname=") &&
	     add_mount_opt(args, "fsname",
			   opts->nonopt_count == 2 ? opts->nonopt[0]
						   : "shmfs")) ||
	    (!has_mount_opt(args, "subtype=") &&
	     add_mount_opt(args, "subtype", "shmfs")))
		return -1;
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options opts = { .timeout = 1.0,
				.lifetime_scan = LIFETIME_SCAN_DEFAULT };
	struct fuse_cmdline_opts cmd = { 0 };
	struct shmfs fs = { .dirfd = -1 };
	struct notify *notify = NULL;
	struct stat root_st;
	char *mountpoint = NULL;
	unsigned conn = 0;
	pid_t guardian = 0;
	int ret = 1, rc, i;

	if (fuse_opt_parse(&args, &opts, shmfs_opts, opt_proc) != 0)
		goto out_args;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (cmd.show_help || cmd.show_version) {
		print_info(&cmd, argv[0]);
		ret = 0;
		goto out_args;
	}
	if (opts.nonopt_count == 0) {
		fprintf(stderr,
			"shmfs: no mount point given\n"
			"usage: %s [options] [source] mountpoint\n",
			argv[0]);
		goto out_args;
	}
	/* mount.fuse3 and fstab pass the source first; it names nothing. */
	if (stale_mount_resolve(opts.nonopt[opts.nonopt_count - 1],
				&mountpoint) < 0)
		goto out_args;
	if (configure(&fs, &opts, &cmd) < 0)
		goto out_args;
	if (open_shm_dir(&fs, opts.shmdir ? opts.shmdir : SHMBLOCK_SHM_DIR,
			 &root_st) < 0)
		goto out_args;

	if (add_mount_opts(&args, &opts) < 0)
		goto out_dir;

	/* New blocks get exactly the mode asked for. */
	umask(0);
	raise_fd_limit();
	if (inode_table_create(&fs, &root_st, &fs.inodes) < 0)
		goto out_dir;
	if (listing_create(&fs.listing) < 0)
		goto out_shmdir;
	if (shmdir_open(&fs) < 0)
		goto out_shmdir;
	fs.se = fuse_session_new(&args, &shmfs_ops, sizeof(shmfs_ops), &fs);
	if (!fs.se)
		goto out_shmdir;
	if (locks_create(&fs.locks) < 0)
		goto out_session;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, mountpoint) != 0)
		goto out_signals;
	conn = connection_of(mountpoint);
	rc = passthrough_install(
		fs.se, opts.nopassthrough ? PASSTHROUGH_OFF : PASSTHROUGH_AUTO,
		opts.mmapcopy, &fs.pt);
	if (rc < 0) {
		fprintf(stderr, "shmfs: passthrough setup: %s\n",
			strerror(-rc));
		goto out_unmount;
	}
	/* The background parent exits only when the mount answers. */
	rc = notify_daemonize(cmd.foreground, &notify);
	if (rc < 0) {
		fprintf(stderr, "shmfs: going to the background: %s\n",
			strerror(-rc));
		goto out_unmount;
	}
	/* Until ready, the one who mounted sees what goes wrong, too. */
	if (!cmd.foreground)
		openlog("shmfs", LOG_PID | LOG_PERROR, LOG_DAEMON);
	/* Forked before any thread: cuts the connection if we are killed. */
	rc = connection_guard(conn, &guardian);
	if (rc < 0 && rc != -EACCES && rc != -EPERM)
		shmfs_log(&fs, LOG_NOTICE,
			  "no guardian for the connection (%s): if killed, "
			  "cut it with umount -f",
			  strerror(-rc));
	rc = watch_start(&fs, &fs.watch);
	if (rc < 0) {
		shmfs_log(&fs, LOG_ERR, "watching %s: %s", fs.shmdir,
			  strerror(-rc));
		goto out_unmount;
	}
	rc = holders_cache_start(&fs);
	if (rc < 0) {
		shmfs_log(&fs, LOG_ERR, "holders scanner: %s", strerror(-rc));
		goto out_watch;
	}
	rc = lifetime_start(&fs, opts.lifetime_scan);
	if (rc < 0) {
		shmfs_log(&fs, LOG_ERR, "lifetime enforcer: %s", strerror(-rc));
		goto out_watch;
	}
	rc = notify_start(notify, &fs, mountpoint);
	if (rc < 0) {
		shmfs_log(&fs, LOG_ERR, "readiness thread: %s", strerror(-rc));
		goto out_watch;
	}

	rc = run_session(&fs, &cmd);
	notify_stopping(notify);
	/* A signal (a positive number) is a normal way to end. */
	ret = rc < 0 ? 1 : 0;
	if (rc < 0)
		shmfs_log(&fs, LOG_ERR, "session ended: %s", strerror(-rc));

out_watch:
	lifetime_stop(&fs);
	holders_cache_stop();
	if (watch_stop(fs.watch) < 0)
		connection_abort(conn);
out_unmount:
	/* Before the unmount, so that the waits' EINTR still reaches it. */
	locks_free(fs.locks);
	fs.locks = NULL;
	fuse_session_unmount(fs.se);
	watch_free(fs.watch);
	lifetime_free(&fs);
	rc = shmdir_cleanup(&fs);
	if (rc < 0)
		shmfs_log(&fs, LOG_ERR, "cleanup of %s: %s", fs.shmdir,
			  strerror(-rc));
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	locks_free(fs.locks);
	fuse_session_destroy(fs.se);
	connection_unguard(guardian);
	/* After the session: a readiness stat still waiting has failed. */
	notify_finish(notify);
	passthrough_free(fs.pt);
out_shmdir:
	shmdir_close(&fs);
	listing_free(fs.listing);
	inode_table_free(fs.inodes);
out_dir:
	if (fs.dirfd >= 0)
		close(fs.dirfd);
	free((char *)fs.shmdir);
out_args:
	free(mountpoint);
	free(cmd.mountpoint);
	free(opts.shmdir);
	free(opts.prefix);
	for (i = 0; i < opts.nonopt_count; i++)
		free(opts.nonopt[i]);
	fuse_opt_free_args(&args);
	return ret;
}
