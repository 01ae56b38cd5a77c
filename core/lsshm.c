/* SPDX-License-Identifier: MIT */
/* lsshm: lists shared memory blocks and who holds them, as lsipc does. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libsmartcols.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lsshm_text.h"
#include "shmblock.h"

enum {
	COL_NAME,
	COL_INODE,
	COL_SIZE,
	COL_ALLOC,
	COL_OWNER,
	COL_UID,
	COL_GROUP,
	COL_MODE,
	COL_KIND,
	COL_NHOLDERS,
	COL_HOLDERS,
	COL_WRITERS,
	COL_LIFETIME,
	NCOLS
};

struct colinfo {
	const char *name;
	double whint;
	int flags;
	int json; /* SCOLS_JSON_*; sizes are numbers with --bytes */
	const char *help;
	const char *label; /* in --id's "Label: value" lines */
};

static const struct colinfo columns[NCOLS] = {
	[COL_NAME] = { "NAME", 0.2, 0, SCOLS_JSON_STRING,
		       "block name (deleted: the last name it had)", "Name" },
	[COL_INODE] = { "INODE", 5, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
			"inode number", "Inode" },
	[COL_SIZE] = { "SIZE", 5, SCOLS_FL_RIGHT, SCOLS_JSON_STRING,
		       "size (st_size)", "Size" },
	[COL_ALLOC] = { "ALLOC", 5, SCOLS_FL_RIGHT, SCOLS_JSON_STRING,
			"memory it takes (st_blocks)", "Allocated" },
	[COL_OWNER] = { "OWNER", 8, 0, SCOLS_JSON_STRING, "owner's user name",
			"Owner" },
	[COL_UID] = { "UID", 5, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
		      "owner's user id", "Owner UID" },
	[COL_GROUP] = { "GROUP", 8, 0, SCOLS_JSON_STRING, "group name",
			"Group" },
	[COL_MODE] = { "MODE", 10, 0, SCOLS_JSON_STRING,
		       "permissions, as ls -l (octal with -P)", "Permissions" },
	[COL_KIND] = { "KIND", 8, 0, SCOLS_JSON_STRING,
		       "plain, list[N] (a ShareableList of N items), semaphore",
		       "Kind" },
	[COL_NHOLDERS] = { "NHOLDERS", 3, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
			   "number of processes holding it",
			   "Number of holders" },
	[COL_HOLDERS] = { "HOLDERS", 0.3, SCOLS_FL_TRUNC, SCOLS_JSON_STRING,
			  "holders as PID(COMMAND), comma-separated",
			  "Holders" },
	[COL_WRITERS] = { "WRITERS", 3, SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER,
			  "holders with a shared writable mapping", "Writers" },
	[COL_LIFETIME] = { "LIFETIME", 8, 0, SCOLS_JSON_STRING,
			   "lifetime policy (user.shmfs.lifetime), if any",
			   "Lifetime" },
};

static const int default_cols[] = { COL_NAME,	  COL_SIZE,   COL_ALLOC,
				    COL_OWNER,	  COL_MODE,   COL_KIND,
				    COL_NHOLDERS, COL_HOLDERS };
static const int deleted_cols[] = { COL_NAME,	  COL_INODE,  COL_SIZE,
				    COL_ALLOC,	  COL_OWNER,  COL_MODE,
				    COL_NHOLDERS, COL_HOLDERS };

#define MAX_USERS 64

struct opts {
	int cols[NCOLS * 2];
	size_t ncols;
	bool json, raw, noheadings, bytes, deleted;
	bool export, shellvar, list, notruncate, numperms, global;
	pid_t pid;		/* 0: every process */
	pid_t target;		/* 0: our own mount namespace's shm directory */
	const char *id;		/* --id: the one block to show */
	uid_t users[MAX_USERS]; /* --user: owners to show (none: all) */
	size_t nusers;
	const char *shmdir;
	int dirfd;
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"Usage: lsshm [options]\n\n"
		"List POSIX shared memory blocks and the processes that hold them.\n\n"
		"Options:\n"
		"  -g, --global           a summary: blocks, lists, semaphores, sizes, and\n"
		"                         the shm file system's limits and use\n"
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

/* Largest block lsshm reads whole to recognise a list without the probe. */
#define KIND_READ_MAX (16u << 20)

/* The number of items if the block open at `fd` holds a ShareableList. */
static long list_length(int fd, uint64_t size)
{
	struct shmblock_slist_layout *lay;
	long n;
	int rc;

#ifdef SHMBLOCK_PROBE_SHALLOW
	rc = shmblock_slist_probe_fd(fd, size, SHMBLOCK_PROBE_SHALLOW, &lay);
#else
	char *buf;
	ssize_t got;

	/* A list has at least its count and one offset. */
	if (size < 16 || size > KIND_READ_MAX)
		return -EBADMSG;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	/* A copy: the validator must not see bytes change under it. */
	got = pread(fd, buf, size, 0);
	rc = got == (ssize_t)size ? shmblock_slist_validate(buf, size, &lay)
				  : -EBADMSG;
	free(buf);
#endif
	if (rc < 0)
		return rc;
	n = (long)lay->count;
	shmblock_slist_layout_free(lay);
	return n;
}

/*
 * The kind of a block that has no memory allocated (st_blocks 0): it reads
 * as zeros, so what the validator says of zeros of its size is its kind,
 * found without opening it.  Asked once per size (a directory of blocks
 * made by ftruncate has one size or a few).  Returns the item count, a
 * negative errno for a plain block, or -E2BIG when it is too big to ask.
 */
static long zeros_kind(uint64_t size)
{
	static uint64_t last_size = UINT64_MAX;
	static long last = -EBADMSG;
	struct shmblock_slist_layout *lay;
	void *zeros;
	int rc;

	if (size > (1u << 20))
		return -E2BIG;
	if (size == last_size)
		return last;
	zeros = calloc(1, size ? size : 1);
	if (!zeros)
		return -E2BIG;
	rc = size < 16 ? -EBADMSG : shmblock_slist_validate(zeros, size, &lay);
	free(zeros);
	last = rc;
	if (rc == 0) {
		last = (long)lay->count;
		shmblock_slist_layout_free(lay);
	}
	last_size = size;
	return last;
}

/* KIND: from the name for semaphores, else from the bytes. */
static void kind_of(const struct opts *o, const struct shmblock_holders *snap,
		    const struct shmblock_holders_entry *e, struct sbuf *b)
{
	struct stat st;
	long n;
	int fd;

	if (!e->deleted && !strncmp(e->name, "sem.", 4)) {
		sb_str(b, "semaphore");
		return;
	}
	/* No pages: zeros, whose kind needs no open (a list has data). */
	if (!(e->have_stat && e->alloc == 0 &&
	      (n = zeros_kind(e->size)) != -E2BIG)) {
		if (e->deleted)
			fd = shmblock_holders_open(snap, e->dev, e->ino);
		else
			fd = openat(o->dirfd, e->name,
				    O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					    O_CLOEXEC);
		/* Not ours to read: say so rather than guess. */
		if (fd < 0) {
			sb_char(b, '?');
			return;
		}
		if (fstat(fd, &st) < 0 || st.st_ino != e->ino ||
		    (uint64_t)st.st_dev != e->dev) {
			close(fd);
			sb_char(b, '?');
			return;
		}
		n = list_length(fd, (uint64_t)st.st_size);
		close(fd);
	}
	if (n >= 0) {
		sb_str(b, "list[");
		sb_u64(b, (uint64_t)n);
		sb_char(b, ']');
	} else {
		sb_str(b, "plain");
	}
}

static bool wanted(const struct opts *o, const struct shmblock_holders_entry *e)
{
	size_t i;

	if (o->nusers) {
		if (!e->have_stat)
			return false;
		for (i = 0; i < o->nusers && o->users[i] != e->uid; i++)
			;
		if (i == o->nusers)
			return false;
	}
	if (o->id && (e->deleted || strcmp(e->name, o->id)))
		return false;
	if (!o->pid)
		return e->deleted == o->deleted;
	if (o->deleted && !e->deleted)
		return false;
	for (i = 0; i < e->nholders; i++)
		if (e->holders[i].pid == o->pid)
			return true;
	return false;
}

/*
 * The block's lifetime as the daemon reads it (one parser for both):
 * empty without one, "invalid" for a value no daemon follows.
 */
static void lifetime_of(const struct opts *o,
			const struct shmblock_holders_entry *e, struct sbuf *b)
{
	struct shmblock_lifetime lt;
	char buf[512];
	int rc;

	if (e->deleted || !S_ISREG(e->mode))
		return;
	rc = shmblock_get_lifetime(o->dirfd, e->name, &lt);
	if (rc == -EBADMSG) {
		sb_str(b, "invalid");
	} else if (rc == 0 && lt.kind != SHMBLOCK_LIFETIME_PERSIST) {
		buf[0] = '\0';
		shmblock_lifetime_format(&lt, buf, sizeof(buf));
		sb_str(b, buf);
	}
}

/*
 * Appends the text of one cell to `b`; nothing for an unknown value, an
 * empty cell (null in JSON).  Both printers take the cells from here.
 */
static void cell_text(const struct opts *o, const struct shmblock_holders *snap,
		      const struct shmblock_holders_entry *e, int col,
		      struct sbuf *b)
{
	char mode[11];
	size_t i;
	unsigned w = 0;

	switch (col) {
	case COL_NAME:
		sb_str(b, e->name);
		/* In a mixed view (--pid), tell a deleted entry by its name. */
		if (e->deleted && !o->deleted)
			sb_str(b, " (deleted)");
		break;
	case COL_INODE:
		sb_u64(b, e->ino);
		break;
	case COL_SIZE:
	case COL_ALLOC: {
		uint64_t v = col == COL_SIZE ? e->size : e->alloc;

		if (!e->have_stat)
			break;
		if (o->bytes)
			sb_u64(b, v);
		else
			human_size(v, b);
		break;
	}
	case COL_OWNER:
		if (e->have_stat)
			id_name(e->uid, false, b);
		break;
	case COL_UID:
		if (e->have_stat)
			sb_u64(b, e->uid);
		break;
	case COL_GROUP:
		if (e->have_stat)
			id_name(e->gid, true, b);
		break;
	case COL_MODE:
		if (!e->have_stat)
			break;
		if (o->numperms)
			snprintf(mode, sizeof(mode), "%04o",
				 (unsigned)(e->mode & 07777));
		else
			mode_string(e->mode, mode);
		sb_str(b, mode);
		break;
	case COL_KIND:
		kind_of(o, snap, e, b);
		break;
	case COL_NHOLDERS:
		sb_u64(b, e->nholders);
		break;
	case COL_HOLDERS:
		/* "pid(comm),pid(comm)" */
		for (i = 0; i < e->nholders; i++) {
			if (i)
				sb_char(b, ',');
			sb_u64(b, (uint64_t)e->holders[i].pid);
			sb_char(b, '(');
			sb_str(b, e->holders[i].comm);
			sb_char(b, ')');
		}
		break;
	case COL_LIFETIME:
		lifetime_of(o, e, b);
		break;
	case COL_WRITERS:
		for (i = 0; i < e->nholders; i++)
			w += !!(e->holders[i].how & SHMBLOCK_HELD_MAP_WRITE);
		sb_u64(b, w);
		break;
	}
}

/* The JSON type of a column as printed: sizes are numbers with --bytes. */
static int json_type(const struct opts *o, int col)
{
	if ((col == COL_SIZE || col == COL_ALLOC) && o->bytes)
		return SCOLS_JSON_NUMBER;
	return columns[col].json;
}

static int add_columns(const struct opts *o, struct libscols_table *tb)
{
	size_t i;

	for (i = 0; i < o->ncols; i++) {
		const struct colinfo *ci = &columns[o->cols[i]];
		struct libscols_column *cl;

		cl = scols_table_new_column(
			tb, ci->name, ci->whint,
			o->notruncate ? ci->flags & ~SCOLS_FL_TRUNC
				      : ci->flags);
		if (!cl)
			return -ENOMEM;
		if (o->json) {
			char lower[16];
			size_t k;

			for (k = 0; ci->name[k] && k < sizeof(lower) - 1; k++)
				lower[k] = (char)(ci->name[k] | 0x20);
			lower[k] = '\0';
			scols_column_set_json_type(cl,
						   json_type(o, o->cols[i]));
			if (scols_column_set_name(cl, lower))
				return -ENOMEM;
		}
	}
	return 0;
}

/* The table through libsmartcols: aligned columns, -r, and -J -r. */
static int print_scols(const struct opts *o,
		       const struct shmblock_holders *snap)
{
	struct libscols_table *tb = scols_new_table();
	size_t i, c, n = shmblock_holders_count(snap);
	struct sbuf b = { 0 };
	int rc = -ENOMEM;

	if (!tb)
		return -ENOMEM;
	scols_table_set_name(tb, "shmblocks");
	scols_table_enable_json(tb, o->json);
	scols_table_enable_raw(tb, o->raw);
	scols_table_enable_export(tb, o->export);
	scols_table_enable_shellvar(tb, o->shellvar);
	scols_table_enable_noheadings(tb, o->noheadings);
	rc = add_columns(o, tb);
	for (i = 0; rc == 0 && i < n; i++) {
		const struct shmblock_holders_entry *e =
			shmblock_holders_entry(snap, i);
		struct libscols_line *ln;

		if (!wanted(o, e))
			continue;
		ln = scols_table_new_line(tb, NULL);
		if (!ln) {
			rc = -ENOMEM;
			break;
		}
		for (c = 0; rc == 0 && c < o->ncols; c++) {
			sb_reset(&b);
			cell_text(o, snap, e, o->cols[c], &b);
			if (b.failed)
				rc = -ENOMEM;
			else if (b.len && scols_line_set_data(ln, c, b.s))
				rc = -ENOMEM;
		}
	}
	if (rc == 0)
		rc = scols_print_table(tb) ? -EIO : 0;
	scols_unref_table(tb);
	free(b.s);
	return rc;
}

/* --id without -l: one "Label: value" line a column, as lsipc --id. */
static int print_pretty(const struct opts *o,
			const struct shmblock_holders *snap)
{
	size_t i, c, n = shmblock_holders_count(snap), width = 0;
	struct sbuf b = { 0 };
	int rc = 0;

	for (c = 0; c < o->ncols; c++)
		if (strlen(columns[o->cols[c]].label) > width)
			width = strlen(columns[o->cols[c]].label);
	for (i = 0; i < n && rc == 0; i++) {
		const struct shmblock_holders_entry *e =
			shmblock_holders_entry(snap, i);

		if (!wanted(o, e))
			continue;
		for (c = 0; c < o->ncols; c++) {
			const char *label = columns[o->cols[c]].label;

			sb_reset(&b);
			cell_text(o, snap, e, o->cols[c], &b);
			if (b.failed) {
				rc = -ENOMEM;
				break;
			}
			printf("%s:%*s %s\n", label,
			       (int)(width - strlen(label)), "",
			       b.len ? b.s : "");
		}
	}
	free(b.s);
	return rc;
}

/* What -g counts: the blocks of the directory and the deleted ones. */
struct totals {
	uint64_t blocks, lists, sems, deleted;
	uint64_t size, alloc, deleted_alloc;
};

static int count_totals(const struct opts *o,
			const struct shmblock_holders *snap, struct totals *t)
{
	size_t i, n = shmblock_holders_count(snap);
	struct sbuf b = { 0 };

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n; i++) {
		const struct shmblock_holders_entry *e =
			shmblock_holders_entry(snap, i);
		struct opts any = *o;

		/* Only the --user filter applies to the summary. */
		any.pid = 0;
		any.deleted = e->deleted;
		if (!wanted(&any, e))
			continue;
		if (e->deleted) {
			t->deleted++;
			t->deleted_alloc += e->have_stat ? e->alloc : 0;
			continue;
		}
		if (!strncmp(e->name, "sem.", 4)) {
			t->sems++;
			continue;
		}
		t->blocks++;
		if (e->have_stat) {
			t->size += e->size;
			t->alloc += e->alloc;
		}
		sb_reset(&b);
		kind_of(o, snap, e, &b);
		if (b.len > 5 && !strncmp(b.s, "list[", 5))
			t->lists++;
	}
	free(b.s);
	return b.failed ? -ENOMEM : 0;
}

#define NA UINT64_MAX

/* One -g line: a count, or a size (human unless --bytes); NA prints "-". */
static int add_global_row(const struct opts *o, struct libscols_table *tb,
			  const char *resource, const char *desc,
			  uint64_t limit, uint64_t used, bool size)
{
	struct libscols_line *ln = scols_table_new_line(tb, NULL);
	struct sbuf b = { 0 };
	char pct[32] = "-";
	int rc = 0;
	uint64_t v[2] = { limit, used };
	int k;

	if (!ln)
		return -ENOMEM;
	if (scols_line_set_data(ln, 0, resource) ||
	    scols_line_set_data(ln, 1, desc))
		return -ENOMEM;
	for (k = 0; k < 2 && rc == 0; k++) {
		sb_reset(&b);
		if (v[k] == NA)
			sb_char(&b, '-');
		else if (size && !o->bytes)
			human_size(v[k], &b);
		else
			sb_u64(&b, v[k]);
		if (b.failed || scols_line_set_data(ln, 2 + k, b.s))
			rc = -ENOMEM;
	}
	if (limit != NA && used != NA && limit)
		snprintf(pct, sizeof(pct), "%.2f%%",
			 (double)used * 100.0 / (double)limit);
	if (rc == 0 && scols_line_set_data(ln, 4, pct))
		rc = -ENOMEM;
	free(b.s);
	return rc;
}

/*
 * -g: the summary, as lsipc -g has it (RESOURCE DESCRIPTION LIMIT USED
 * USE%): what the blocks are and take, against the shm file system's
 * limits (its statvfs: size and inodes).
 */
static int print_global(const struct opts *o,
			const struct shmblock_holders *snap)
{
	static const char *const names[] = { "RESOURCE", "DESCRIPTION", "LIMIT",
					     "USED", "USE%" };
	struct libscols_table *tb;
	struct statvfs vfs;
	struct totals t;
	uint64_t fs_size = NA, fs_used = NA, inodes = NA, inodes_used = NA;
	size_t i;
	int rc;

	rc = count_totals(o, snap, &t);
	if (rc < 0)
		return rc;
	if (fstatvfs(o->dirfd, &vfs) == 0) {
		fs_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		fs_used = (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
		/* tmpfs with nr_inodes=0 has no inode limit: 0 files. */
		if (vfs.f_files) {
			inodes = vfs.f_files;
			inodes_used = vfs.f_files - vfs.f_ffree;
		}
	}
	tb = scols_new_table();
	if (!tb)
		return -ENOMEM;
	scols_table_set_name(tb, "shmlimits");
	scols_table_enable_json(tb, o->json);
	scols_table_enable_raw(tb, o->raw);
	scols_table_enable_export(tb, o->export);
	scols_table_enable_shellvar(tb, o->shellvar);
	scols_table_enable_noheadings(tb, o->noheadings);
	for (i = 0; i < 5; i++) {
		struct libscols_column *cl =
			scols_table_new_column(tb, names[i], i == 1 ? 0.5 : 5,
					       i >= 2 ? SCOLS_FL_RIGHT : 0);

		if (!cl) {
			scols_unref_table(tb);
			return -ENOMEM;
		}
		if (o->json) {
			static const char *const lower[] = { "resource",
							     "description",
							     "limit", "used",
							     "use%" };
			scols_column_set_name(cl, lower[i]);
		}
	}
	rc = add_global_row(o, tb, "BLOCKS", "Shared memory blocks", inodes,
			    t.blocks, false);
	if (!rc)
		rc = add_global_row(o, tb, "LISTS",
				    "Blocks holding a ShareableList", NA,
				    t.lists, false);
	if (!rc)
		rc = add_global_row(o, tb, "SEMAPHORES",
				    "POSIX named semaphores", NA, t.sems,
				    false);
	if (!rc)
		rc = add_global_row(o, tb, "DELETED",
				    "Unlinked blocks still held", NA, t.deleted,
				    false);
	if (!rc)
		rc = add_global_row(o, tb, "SIZE", "Total size of the blocks",
				    fs_size, t.size, true);
	if (!rc)
		rc = add_global_row(o, tb, "ALLOC", "Memory the blocks take",
				    fs_size, t.alloc, true);
	if (!rc)
		rc = add_global_row(o, tb, "DELALLOC",
				    "Memory unlinked blocks take", fs_size,
				    t.deleted_alloc, true);
	if (!rc)
		rc = add_global_row(o, tb, "FSUSED",
				    "Shared memory file system in use", fs_size,
				    fs_used, true);
	if (!rc)
		rc = add_global_row(o, tb, "FSINODES",
				    "Inodes of the shared memory file system",
				    inodes, inodes_used, false);
	if (rc == 0)
		rc = scols_print_table(tb) ? -EIO : 0;
	scols_unref_table(tb);
	return rc;
}

/*
 * --json without libsmartcols, byte for byte what it prints (util-linux's
 * -J shape, three spaces an indent): building 10,000 lines of cells and
 * writing them a character a call cost more than the rest of lsshm but
 * the scan.  tests/test_lsshm_json.py holds it to the libsmartcols output.
 */
static int print_json(const struct opts *o, const struct shmblock_holders *snap)
{
	size_t i, c, n = shmblock_holders_count(snap), lines = 0;
	struct sbuf out = { 0 }, b = { 0 };
	char keys[NCOLS][32]; /* `         "name": ` */
	int rc = 0;

	for (i = 0; i < NCOLS; i++) {
		char *k = keys[i] + sprintf(keys[i], "         \"");
		const char *name = columns[i].name;

		while (*name)
			*k++ = (char)(*name++ | 0x20);
		strcpy(k, "\": ");
	}
	sb_str(&out, "{\n   \"shmblocks\": [\n");
	for (i = 0; i < n; i++) {
		const struct shmblock_holders_entry *e =
			shmblock_holders_entry(snap, i);

		if (!wanted(o, e))
			continue;
		sb_str(&out, lines++ ? ",{\n" : "      {\n");
		for (c = 0; c < o->ncols; c++) {
			sb_str(&out, keys[o->cols[c]]);
			sb_reset(&b);
			cell_text(o, snap, e, o->cols[c], &b);
			if (!b.len)
				sb_str(&out, "null");
			else if (json_type(o, o->cols[c]) == SCOLS_JSON_NUMBER)
				sb_add(&out, b.s, b.len);
			else
				json_string(&out, b.s, b.len);
			sb_str(&out, c + 1 < o->ncols ? ",\n" : "\n");
		}
		sb_str(&out, "      }");
		/* A write error shows in ferror(stdout), which main checks. */
		if (out.len >= (1u << 16) && !out.failed && !flush_out(&out))
			break;
	}
	sb_str(&out, "\n   ]\n}\n");
	if (out.failed || b.failed)
		rc = -ENOMEM;
	else
		flush_out(&out);
	free(out.s);
	free(b.s);
	return rc;
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
