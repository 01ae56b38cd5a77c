/* SPDX-License-Identifier: MIT */
/* lsshm: lists shared memory blocks and who holds them, as lsipc does. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libsmartcols.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lsshm_cols.h"
#include "lsshm_global.h"
#include "lsshm_print.h"

static void usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"Usage: lsshm [options]\n\n"
		"List POSIX shared memory blocks and the processes that hold them.\n\n"
		"Options:\n"
		"  -g, --global           a summary: blocks, lists, arrays, semaphores, sizes,\n"
		"                         and the shm file system's limits and use\n"
		"  -i, --id NAME          only the block NAME, one \"Label: value\" a line\n"
		"      --deleted          list unlinked blocks still held (their memory)\n"
		"  -p, --pid PID          only the blocks that process PID holds\n"
		"  -u, --user LIST        only the blocks of these owners (names or UIDs)\n"
		"      --target PID       the shm directory of PID's mount namespace\n"
		"  -J, --json             JSON output\n"
		"  -e, --export           NAME=\"value\" output\n"
		"  -y, --shell            column names usable as shell variables\n"
		"  -l, --list             list output even with --id\n"
		"  -r, --raw              raw output\n"
		"  -n, --noheadings       don't print headings\n"
		"      --notruncate       don't truncate output\n"
		"  -o, --output LIST      columns to print (+LIST adds to the default)\n"
		"      --output-all       print all columns\n"
		"  -b, --bytes            sizes in bytes\n"
		"  -P, --numeric-perms    permissions in octal (MODE column)\n"
		"      --shmdir DIR       the shm directory (default %s)\n"
		"  -h, --help             display this help\n"
		"  -V, --version          display version\n\n"
		"Available output columns:\n",
		SHMBLOCK_SHM_DIR);
	for (i = 0; i < NCOLS; i++)
		fprintf(out, " %9s  %s\n", columns[i].name, columns[i].help);
	fprintf(out, "\nSee lsshm(1).\n");
}

static int column_id(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NCOLS; i++)
		if (strlen(columns[i].name) == len &&
		    !strncasecmp(columns[i].name, name, len))
			return (int)i;
	return -1;
}

/* Parses "-o LIST"; a leading '+' appends to what is there. */
static int parse_columns(struct opts *o, const char *list)
{
	const char *p = list;

	if (*p == '+')
		p++;
	else
		o->ncols = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		int id = column_id(p, len);

		if (id < 0) {
			fprintf(stderr, "lsshm: unknown column: %.*s\n",
				(int)len, p);
			return -EINVAL;
		}
		if (o->ncols < sizeof(o->cols) / sizeof(o->cols[0]))
			o->cols[o->ncols++] = id;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int print_table(const struct opts *o,
		       const struct shmblock_holders *snap)
{
	/*
	 * libsmartcols takes -J -r as raw (the later call wins), and a list
	 * of no columns as an error: both stay with it.  LSSHM_SCOLS_JSON=1
	 * takes its JSON too, for the tests that compare the two.
	 */
	if (o->global)
		return print_global(o, snap);
	if (o->id && !o->list && !o->json && !o->raw && !o->export)
		return print_pretty(o, snap);
	if (o->json && !o->raw && !o->export && o->ncols &&
	    !getenv("LSSHM_SCOLS_JSON"))
		return print_json(o, snap);
	return print_scols(o, snap);
}

enum {
	OPT_DELETED = 256,
	OPT_OUTPUT_ALL,
	OPT_SHMDIR,
	OPT_NOTRUNCATE,
	OPT_TARGET
};

/* -p and --target: a process id. */
static int parse_pid(const char *arg, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || v <= 0 || v > INT32_MAX) {
		fprintf(stderr, "lsshm: invalid PID: %s\n", arg);
		return -EINVAL;
	}
	*pid = (pid_t)v;
	return 0;
}

/* --user LIST: user names or UIDs, comma-separated. */
static int parse_users(struct opts *o, const char *list)
{
	const char *p = list;

	while (*p) {
		size_t len = strcspn(p, ",");
		char name[256], *end;
		struct passwd *pw;
		unsigned long v;

		if (len == 0 || len >= sizeof(name))
			goto bad;
		memcpy(name, p, len);
		name[len] = '\0';
		if ((pw = getpwnam(name))) {
			o->users[o->nusers] = pw->pw_uid;
		} else {
			errno = 0;
			v = strtoul(name, &end, 10);
			if (errno || *end || name[0] < '0' || name[0] > '9' ||
			    v > UINT32_MAX - 1)
				goto bad;
			o->users[o->nusers] = (uid_t)v;
		}
		if (++o->nusers == MAX_USERS && p[len]) {
			fprintf(stderr, "lsshm: at most %d users\n", MAX_USERS);
			return -E2BIG;
		}
		p += len;
		if (*p == ',')
			p++;
		continue;
bad:
		fprintf(stderr, "lsshm: unknown user: %.*s\n", (int)len, p);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "deleted", no_argument, NULL, OPT_DELETED },
		{ "pid", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "global", no_argument, NULL, 'g' },
		{ "id", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'J' },
		{ "export", no_argument, NULL, 'e' },
		{ "shell", no_argument, NULL, 'y' },
		{ "list", no_argument, NULL, 'l' },
		{ "notruncate", no_argument, NULL, OPT_NOTRUNCATE },
		{ "numeric-perms", no_argument, NULL, 'P' },
		{ "output", required_argument, NULL, 'o' },
		{ "output-all", no_argument, NULL, OPT_OUTPUT_ALL },
		{ "bytes", no_argument, NULL, 'b' },
		{ "noheadings", no_argument, NULL, 'n' },
		{ "raw", no_argument, NULL, 'r' },
		{ "shmdir", required_argument, NULL, OPT_SHMDIR },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL;
	bool all = false;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "p:u:gi:JeylPo:bnrhV", longopts,
				NULL)) != -1) {
		switch (c) {
		case OPT_DELETED:
			o->deleted = true;
			break;
		case 'p':
			if (parse_pid(optarg, &o->pid) < 0)
				return 1;
			break;
		case OPT_TARGET:
			if (parse_pid(optarg, &o->target) < 0)
				return 1;
			break;
		case 'u':
			if (parse_users(o, optarg) < 0)
				return 1;
			break;
		case 'g':
			o->global = true;
			break;
		case 'i':
			o->id = optarg;
			break;
		case 'e':
			o->export = true;
			break;
		case 'y':
			o->shellvar = true;
			break;
		case 'l':
			o->list = true;
			break;
		case OPT_NOTRUNCATE:
			o->notruncate = true;
			break;
		case 'P':
			o->numperms = true;
			break;
		case 'J':
			o->json = true;
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_OUTPUT_ALL:
			all = true;
			break;
		case 'b':
			o->bytes = true;
			break;
		case 'n':
			o->noheadings = true;
			break;
		case 'r':
			o->raw = true;
			break;
		case OPT_SHMDIR:
			o->shmdir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("lsshm from shmfs %s\n", SHMBLOCK_VERSION);
			exit(0);
		default:
			fprintf(stderr,
				"Try 'lsshm --help' for more information.\n");
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lsshm: unexpected argument: %s\n",
			argv[optind]);
		return 1;
	}
	if (o->global && (o->id || o->pid || o->deleted || output || all)) {
		fprintf(stderr, "lsshm: --global takes none of --id, --pid, "
				"--deleted, --output\n");
		return 1;
	}
	if (o->id && (o->pid || o->deleted)) {
		fprintf(stderr, "lsshm: --id takes neither --pid nor "
				"--deleted\n");
		return 1;
	}
	if (all) {
		for (i = 0; i < NCOLS; i++)
			o->cols[i] = (int)i;
		o->ncols = NCOLS;
	} else {
		const int *d = o->deleted ? deleted_cols : default_cols;

		o->ncols = sizeof(default_cols) / sizeof(default_cols[0]);
		for (i = 0; i < o->ncols; i++)
			o->cols[i] = d[i];
		if (output && parse_columns(o, output) < 0)
			return 1;
	}
	return 0;
}

/*
 * --target: the shm directory as process `pid` sees it, through its root
 * (/proc/PID/root): resolved inside that root, so that a symbolic link in
 * a container (/dev/shm -> /run/shm) stays in the container.
 */
static int open_in_target(pid_t pid, const char *dir)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT,
	};
	char root[32];
	int rootfd, fd;

	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	while (*dir == '/')
		dir++;
	fd = (int)syscall(SYS_openat2, rootfd, *dir ? dir : ".", &how,
			  sizeof(how));
	if (fd < 0)
		fd = -errno;
	close(rootfd);
	return fd;
}

/* Whether --id's block is in the snapshot. */
static bool has_block(const struct opts *o, const struct shmblock_holders *snap)
{
	size_t i, n = shmblock_holders_count(snap);

	for (i = 0; i < n; i++)
		if (wanted(o, shmblock_holders_entry(snap, i)))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct opts o = { .dirfd = SHMBLOCK_DEFAULT_DIR };
	struct shmblock_holders_stats st;
	struct shmblock_holders *snap;
	int rc;

	if (parse_args(argc, argv, &o))
		return 1;
	/*
	 * libsmartcols writes a few bytes a call (JSON strings a character
	 * a call): one thread, so no stdio lock per call, and a buffer that
	 * takes many lines a write.
	 */
	__fsetlocking(stdout, FSETLOCKING_BYCALLER);
	setvbuf(stdout, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF,
		1u << 16);
	/* A real descriptor even for the default: KIND opens blocks in it. */
	if (!o.shmdir)
		o.shmdir = SHMBLOCK_SHM_DIR;
	if (o.target) {
		rc = open_in_target(o.target, o.shmdir);
		if (rc < 0) {
			fprintf(stderr, "lsshm: process %d: %s: %s\n",
				(int)o.target, o.shmdir, strerror(-rc));
			return 1;
		}
		o.dirfd = rc;
	} else {
		o.dirfd = open(o.shmdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (o.dirfd < 0) {
			fprintf(stderr, "lsshm: %s: %s\n", o.shmdir,
				strerror(errno));
			return 1;
		}
	}
	rc = shmblock_holders_scan(o.dirfd,
				   o.deleted || o.pid || o.global
					   ? 0
					   : SHMBLOCK_HOLDERS_NO_DELETED,
				   &snap);
	if (rc < 0) {
		fprintf(stderr, "lsshm: %s: %s\n", o.shmdir, strerror(-rc));
		return 1;
	}
	if (shmblock_holders_is_partial(snap)) {
		shmblock_holders_stats(snap, &st);
		fprintf(stderr,
			"lsshm: partial view: %u of %u processes could not be "
			"inspected%s\n",
			st.nunreadable, st.nprocs,
			geteuid() ? " (run as root to see them)" : "");
	}
	if (o.id && !has_block(&o, snap)) {
		fprintf(stderr, "lsshm: %s: no such block\n", o.id);
		rc = 1;
		goto out;
	}
	rc = print_table(&o, snap);
out:
	shmblock_holders_free(snap);
	close(o.dirfd);
	if (rc == 1)
		return 1;
	if (rc < 0) {
		fprintf(stderr, "lsshm: %s\n", strerror(-rc));
		return 1;
	}
	/* A full disk or a closed pipe is an error, as util-linux has it. */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "lsshm: write error: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
