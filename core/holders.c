/* SPDX-License-Identifier: MIT */
/* Who holds each block: one scan of /proc, matched by (st_dev, st_ino). */

/*
 * The scan, in three steps (docs/holders.md has the costs):
 *
 * 1. The directory is listed and every regular file stat'ed into a table
 *    of entries, hashed by (dev, ino).
 * 2. Every /proc/PID (thread groups only) is opened once as a directory, so
 *    that a PID reused during the scan cannot feed us another process's
 *    files.  Its mappings come from PROCMAP_QUERY (or the text of maps),
 *    each with the device and inode of what it maps, so they are matched
 *    without a stat at all.  Each descriptor is statx'ed once (the link
 *    followed, from the cache) and matched by its (dev, ino); only an
 *    inode of the directory's filesystem missing from the table has its
 *    link read.  Every hit becomes a record (entry, process, how).  Such
 *    a missing inode whose link or mapping path ends in " (deleted)"
 *    becomes a new, deleted entry.
 * 3. Records are sorted by (entry, pid) and merged into one holder each.
 *
 * A process that exits half way through is rolled back (its records are
 * dropped): it holds nothing any more.  The command name and uid are read
 * only for processes that hold something, which most do not.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "holders_mount.h"
#include "shmblock.h"

#define DELETED_SUFFIX " (deleted)"
#define DELETED_LEN (sizeof(DELETED_SUFFIX) - 1)

/*
 * PROCMAP_QUERY (Linux 6.11), an ioctl on /proc/PID/maps that answers one
 * mapping at a time as binary fields; defined here when the C library's
 * kernel headers predate it (the layout is the kernel's ABI).
 */
#ifndef PROCMAP_QUERY
struct procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_WRITABLE 0x02
#define PROCMAP_QUERY_VMA_SHARED 0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#define PROCMAP_QUERY_FILE_BACKED_VMA 0x20
#endif

/* getdents64 buffers: /proc and a descriptor directory, the shm directory. */
#define DENTS_SIZE (64u << 10)
#define DIR_DENTS_SIZE (512u << 10)

/* One descriptor or mapping of one inode by one process. */
struct rec {
	uint32_t entry; /* index into snap->entries */
	uint32_t proc;	/* index into scan->procs */
	unsigned how;
	int fd;
	uint64_t start, end;
};

struct proc {
	pid_t pid;
	uid_t uid;
	char comm[16];
};

/*
 * A hash slot keeps the key beside the index, so a lookup never reads the
 * entry: with 10,000 entries every read of one is a cache miss, and the
 * lookups were 4% of a scan.
 */
struct slot {
	uint64_t ino;
	uint64_t dev;
	uint32_t idx; /* entry index + 1; 0 is an empty slot */
};

struct shmblock_holders {
	struct shmblock_holders_entry *entries;
	size_t nentries, entries_cap;
	struct slot *hash;
	size_t hash_cap; /* a power of two, at least twice nentries */
	struct shmblock_holder *holders;
	size_t nholders;
	struct shmblock_holders_stats stats;
	bool partial;
	struct shmblock_holders_gap *gaps; /* the unreadable processes */
	size_t ngaps, gaps_cap;		   /* (nunreadable, unless short
					      of memory) */
};

/* What the scan needs only while it runs. */
struct scan {
	struct shmblock_holders *snap;
	unsigned flags;
	bool one_block;	       /* scan_block: no new entries */
	int dirfd;	       /* the shm directory */
	dev_t dirdev;	       /* its filesystem */
	char prefix[PATH_MAX]; /* its path with a trailing '/' */
	size_t prefix_len;
	struct rec *recs;
	size_t nrecs, recs_cap;
	struct proc *procs;
	size_t nprocs, procs_cap;
	char *buf; /* maps text, reused from process to process */
	size_t buf_cap;
	char *dents;	 /* a descriptor directory's entries */
	bool no_procmap; /* the kernel has no PROCMAP_QUERY: read maps */
	struct holders_mounts mounts; /* the shmfs mounts we see */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * Makes the pages of a big array present with one madvise (Linux 5.14;
 * ignored before) before it is written all over: fresh pages took a fault
 * each, two where a read came first (the zero page, then a copy), and the
 * arrays of a scan of 10,000 blocks took 1,500 faults, a tenth of lsshm's
 * time beside the scan.  Small ones are left to the faults.
 */
static void populate(void *p, size_t len)
{
	const uintptr_t page = (uintptr_t)getpagesize();
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(page - 1);

	if (len >= (64u << 10) && end > start)
		madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}

/* Zeroed memory for a big table, present before it is filled. */
static void *table_alloc(size_t n, size_t size)
{
	size_t len;
	void *p;

	if (n && size > SIZE_MAX / n)
		return NULL;
	len = n * size;
	p = malloc(len ? len : 1);
	if (!p)
		return NULL;
	populate(p, len);
	memset(p, 0, len);
	return p;
}

/* Grows *p (of *cap elements of `size` bytes) to hold at least `need`. */
static int grow(void *p, size_t *cap, size_t need, size_t size)
{
	void **arr = p;
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = reallocarray(*arr, n, size);
	if (!q)
		return -ENOMEM;
	/* The new part is filled next. */
	populate((char *)q + *cap * size, (n - *cap) * size);
	*arr = q;
	*cap = n;
	return 0;
}

/* ---- the entry table ---- */

/* Fibonacci hashing: the product's top bits are its well mixed ones. */
static size_t hash_slot(uint64_t dev, uint64_t ino, size_t cap)
{
	uint64_t h = (ino ^ (dev << 32 | dev >> 32)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> (64 - __builtin_ctzll(cap)));
}

static long find_index(const struct shmblock_holders *snap, uint64_t dev,
		       uint64_t ino)
{
	size_t i;

	if (!snap->hash_cap)
		return -1;
	for (i = hash_slot(dev, ino, snap->hash_cap);;
	     i = (i + 1) & (snap->hash_cap - 1)) {
		const struct slot *sl = &snap->hash[i];

		if (!sl->idx)
			return -1;
		if (sl->ino == ino && sl->dev == dev)
			return sl->idx - 1;
	}
}

static void hash_put(struct shmblock_holders *snap, size_t idx)
{
	const struct shmblock_holders_entry *e = &snap->entries[idx];
	size_t i = hash_slot(e->dev, e->ino, snap->hash_cap);

	while (snap->hash[i].idx)
		i = (i + 1) & (snap->hash_cap - 1);
	snap->hash[i].ino = e->ino;
	snap->hash[i].dev = e->dev;
	snap->hash[i].idx = (uint32_t)idx + 1;
}

/* Rebuilds the hash for the current entries, sized for at least `n`. */
static int hash_rebuild(struct shmblock_holders *snap, size_t n)
{
	size_t cap = 64, i;
	struct slot *h;

	while (cap < 2 * n)
		cap *= 2;
	h = table_alloc(cap, sizeof(*h));
	if (!h)
		return -ENOMEM;
	free(snap->hash);
	snap->hash = h;
	snap->hash_cap = cap;
	for (i = 0; i < snap->nentries; i++)
		hash_put(snap, i);
	return 0;
}

static void fill_stat(struct shmblock_holders_entry *e, const struct stat *st)
{
	e->have_stat = true;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = (uint64_t)st->st_size;
	e->alloc = (uint64_t)st->st_blocks * 512;
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
}

/*
 * Adds an entry for an inode not yet in the table; `st` NULL when its
 * attributes are unknown.  Returns its index or -ENOMEM.
 */
static long add_entry(struct shmblock_holders *snap, const char *name,
		      size_t namelen, bool deleted, uint64_t dev, uint64_t ino,
		      const struct stat *st)
{
	struct shmblock_holders_entry *e;
	char *copy;
	int rc;

	if (snap->nentries >= UINT32_MAX - 1)
		return -ENOMEM;
	rc = grow(&snap->entries, &snap->entries_cap, snap->nentries + 1,
		  sizeof(*snap->entries));
	if (rc < 0)
		return rc;
	if (2 * (snap->nentries + 1) > snap->hash_cap) {
		rc = hash_rebuild(snap, snap->nentries + 1);
		if (rc < 0)
			return rc;
	}
	copy = strndup(name, namelen);
	if (!copy)
		return -ENOMEM;
	e = &snap->entries[snap->nentries];
	memset(e, 0, sizeof(*e));
	if (st)
		fill_stat(e, st);
	e->name = copy;
	e->deleted = deleted;
	e->dev = dev;
	e->ino = ino;
	hash_put(snap, snap->nentries);
	return (long)snap->nentries++;
}

/*
 * getdents64 straight into `buf` (of `size` bytes): no DIR, no fcntl and no
 * malloc per directory, which for a few descriptors a process counted more
 * than the entries themselves.  Calls `fn` for each name not starting with
 * '.'; stops at the first error it returns.  `short_is_end`: a read that
 * left room for another entry was the last, true of /proc's descriptor
 * directories (they fill the buffer until an entry does not fit or the
 * descriptors run out), and saves the call that would return 0.
 */
static int each_dirent(int fd, char *buf, size_t size, bool short_is_end,
		       int (*fn)(struct scan *sc, int fd, const char *name,
				 unsigned char type, void *arg),
		       struct scan *sc, void *arg)
{
	for (;;) {
		ssize_t n = getdents64(fd, buf, size);
		size_t off;

		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (off = 0; off < (size_t)n;) {
			const struct dirent64 *de = (const void *)(buf + off);
			int rc;

			off += de->d_reclen;
			if (de->d_name[0] == '.')
				continue;
			rc = fn(sc, fd, de->d_name, de->d_type, arg);
			if (rc < 0)
				return rc;
		}
		/* An entry named by a number takes at most 40 bytes. */
		if (short_is_end && (size_t)n + 64 <= size)
			return 0;
	}
}

static int list_one(struct scan *sc, int fd, const char *name,
		    unsigned char type, void *arg)
{
	struct stat st;
	long idx;

	(void)fd;
	(void)arg;
	if (type != DT_REG && type != DT_UNKNOWN)
		return 0;
	/* Gone since readdir, or not a file: not a block. */
	if (fstatat(sc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	/* A hard link: one entry per inode (a lookup only where there are). */
	if (st.st_nlink > 1 && find_index(sc->snap, st.st_dev, st.st_ino) >= 0)
		return 0;
	idx = add_entry(sc->snap, name, strlen(name), false, st.st_dev,
			st.st_ino, &st);
	return idx < 0 ? (int)idx : 0;
}

/* Step 1: every regular file of the directory. */
static int list_directory(struct scan *sc)
{
	struct stat st;
	size_t hint;
	char *buf;
	int fd, rc;

	/* Our own descriptor: getdents moves its offset. */
	fd = openat(sc->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/*
	 * tmpfs gives a directory 20 bytes of size an entry: size the table
	 * once instead of growing and rehashing it ten times.  Only a hint.
	 */
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		hint = (size_t)st.st_size / 20 + 1;
		if (hint > (1u << 20))
			hint = 1u << 20;
		if (grow(&sc->snap->entries, &sc->snap->entries_cap, hint,
			 sizeof(*sc->snap->entries)) < 0 ||
		    hash_rebuild(sc->snap, hint) < 0) {
			close(fd);
			return -ENOMEM;
		}
	}
	buf = malloc(DIR_DENTS_SIZE);
	rc = buf ? each_dirent(fd, buf, DIR_DENTS_SIZE, false, list_one, sc,
			       NULL)
		 : -ENOMEM;
	free(buf);
	close(fd);
	return rc;
}

/* ---- step 2: one process ---- */

/* Errors that mean "this process, not the scan": skip it. */
static bool is_vanished(int err)
{
	return err == -ENOENT || err == -ESRCH;
}

static int add_rec(struct scan *sc, long entry, uint32_t proc, unsigned how,
		   int fd, uint64_t start, uint64_t end)
{
	struct rec *r;
	int rc;

	rc = grow(&sc->recs, &sc->recs_cap, sc->nrecs + 1, sizeof(*sc->recs));
	if (rc < 0)
		return rc;
	r = &sc->recs[sc->nrecs++];
	r->entry = (uint32_t)entry;
	r->proc = proc;
	r->how = how;
	r->fd = fd;
	r->start = start;
	r->end = end;
	/* Counts records for now; finish() turns it into holders. */
	sc->snap->entries[entry].nholders++;
	return 0;
}

/*
 * An inode of the directory's filesystem missing from the table, seen under
 * `path` (a link's or a map line's text).  If the name is in the directory
 * and is that inode, the block was made after the listing: a named entry.
 * Otherwise, when the text says " (deleted)", a deleted entry under the old
 * name.  Anything else (renamed out of the directory, in a subdirectory)
 * is not ours.  Returns the entry index, -1 for "not ours", or -ENOMEM.
 */
static long new_entry(struct scan *sc, const char *path, size_t len,
		      uint64_t dev, uint64_t ino, const struct stat *st)
{
	const char *name;
	size_t namelen;
	bool deleted = false;
	struct stat nst;

	if (sc->one_block || len <= sc->prefix_len ||
	    memcmp(path, sc->prefix, sc->prefix_len))
		return -1;
	name = path + sc->prefix_len;
	namelen = len - sc->prefix_len;
	if (namelen >= NAME_MAX + 1 + DELETED_LEN || memchr(name, '/', namelen))
		return -1;
	if (namelen <= NAME_MAX) {
		char n[NAME_MAX + 1];

		memcpy(n, name, namelen);
		n[namelen] = '\0';
		if (fstatat(sc->dirfd, n, &nst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    nst.st_dev == dev && nst.st_ino == ino &&
		    S_ISREG(nst.st_mode))
			return add_entry(sc->snap, name, namelen, false, dev,
					 ino, &nst);
	}
	if (namelen > DELETED_LEN && !memcmp(name + namelen - DELETED_LEN,
					     DELETED_SUFFIX, DELETED_LEN)) {
		deleted = true;
		namelen -= DELETED_LEN;
	}
	if (!deleted || (sc->flags & SHMBLOCK_HOLDERS_NO_DELETED))
		return -1;
	return add_entry(sc->snap, name, namelen, true, dev, ino, st);
}

/*
 * A file of a shmfs mount (device `dev`, inode `ino`, `path` the text of
 * its /proc link or map line): the mount shows a block under the block's
 * own inode number and under its name less the mount's prefix (fs/inode.c),
 * so it is this directory's block of that inode whose name ends in the
 * file's.  A mount of another directory would have to have a block of the
 * same inode number and a name ending the same way to be taken for one of
 * ours.  Returns the entry index, or -1.
 */
static long mounted_entry(struct scan *sc, dev_t dev, uint64_t ino,
			  const char *path, size_t len)
{
	const struct shmblock_holders_entry *e;
	size_t n, elen;
	const char *name = holders_mounts_name(&sc->mounts, dev, path, len, &n);
	long idx;

	if (!name)
		return -1;
	idx = find_index(sc->snap, sc->dirdev, ino);
	if (idx < 0)
		return -1;
	e = &sc->snap->entries[idx];
	elen = strlen(e->name);
	if (e->deleted || elen < n || memcmp(e->name + elen - n, name, n))
		return -1;
	return idx;
}

/*
 * One descriptor: a statx of /proc/PID/fd/N, which follows the link to the
 * file, asked for the type and inode only and AT_STATX_DONT_SYNC, so a file
 * on FUSE (this daemon's own mount included), NFS and the like is answered
 * from the cache, never by a round trip that could hang the scan.  The
 * (dev, ino) is the answer, so a block is found whatever path it was opened
 * by, and the link is read only for an inode of the directory's filesystem
 * that the table lacks (deleted, or made since the listing), whose name
 * its text gives.  This costs one call a descriptor where a readlink of
 * every link and a stat of those in the directory cost two for each block.
 */
static int scan_fd(struct scan *sc, int fddir, const char *name,
		   unsigned char type, void *arg)
{
	uint32_t proc = *(const uint32_t *)arg;
	struct shmblock_holders_entry *e;
	char link[PATH_MAX];
	struct statx stx;
	struct stat st;
	uint64_t dev;
	ssize_t len;
	long idx;

	(void)type;
	/*
	 * Closed since readdir, or the process is gone: no holding.  Any
	 * other error (EACCES, ENOMEM...) leaves the process unread: the
	 * caller marks the snapshot partial rather than count it as holding
	 * nothing.
	 */
	if (statx(fddir, name, AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO,
		  &stx) < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	if (!S_ISREG(stx.stx_mode))
		return 0;
	dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	idx = find_index(sc->snap, dev, stx.stx_ino);
	if (idx < 0 && dev != sc->dirdev) {
		/* Opened through a shmfs mount: its link names the block. */
		if (!holders_mounts_has(&sc->mounts, dev))
			return 0;
		len = readlinkat(fddir, name, link, sizeof(link));
		if (len < 0)
			return errno == ENOENT || errno == ESRCH ? 0 : -errno;
		if ((size_t)len >= sizeof(link))
			return 0;
		idx = mounted_entry(sc, dev, stx.stx_ino, link, (size_t)len);
		if (idx < 0)
			return 0;
		return add_rec(sc, idx, proc, SHMBLOCK_HELD_FD, atoi(name), 0,
			       0);
	}
	if (idx < 0) {
		len = readlinkat(fddir, name, link, sizeof(link));
		if (len < 0 || (size_t)len >= sizeof(link))
			return 0;
		/* The full attributes, of the same file the link still is. */
		if (fstatat(fddir, name, &st, 0) < 0 || st.st_dev != dev ||
		    st.st_ino != stx.stx_ino)
			return 0;
		idx = new_entry(sc, link, (size_t)len, dev, stx.stx_ino, &st);
		if (idx == -1)
			return 0;
		if (idx < 0)
			return (int)idx;
	}
	e = &sc->snap->entries[idx];
	/* A deleted inode first seen in a mapping: its descriptor has them. */
	if (!e->have_stat && fstatat(fddir, name, &st, 0) == 0 &&
	    st.st_dev == e->dev && st.st_ino == e->ino)
		fill_stat(e, &st);
	return add_rec(sc, idx, proc, SHMBLOCK_HELD_FD, atoi(name), 0, 0);
}

/* Every descriptor of the process that is one of our inodes. */
static int scan_fds(struct scan *sc, int piddir, uint32_t proc)
{
	int fd, rc;

	fd = openat(piddir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = each_dirent(fd, sc->dents, DENTS_SIZE, true, scan_fd, sc, &proc);
	close(fd);
	return rc;
}

/*
 * Reads /proc/PID/status into sc->buf, up to its "Uid:" line: one read
 * gives the whole file, and the read that would say end of file is saved.
 * Returns the length read or -errno.
 */
static ssize_t read_status(struct scan *sc, int piddir)
{
	size_t len = 0;
	int fd, rc;

	fd = openat(piddir, "status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		const char *uid;
		ssize_t n;

		if (sc->buf_cap - len < 4096) {
			rc = grow(&sc->buf, &sc->buf_cap, len + 65536, 1);
			if (rc < 0)
				goto fail;
		}
		n = read(fd, sc->buf + len, sc->buf_cap - len - 1);
		if (n < 0) {
			rc = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		sc->buf[len] = '\0';
		uid = strstr(sc->buf, "\nUid:");
		if (uid && strchr(uid + 1, '\n'))
			break;
	}
	close(fd);
	sc->buf[len] = '\0';
	return (ssize_t)len;
fail:
	close(fd);
	return rc;
}

static uint64_t parse_hex(const char **p)
{
	uint64_t v = 0;

	for (;; (*p)++) {
		char c = **p;

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return v;
	}
}

static uint64_t parse_dec(const char **p)
{
	uint64_t v = 0;

	for (; **p >= '0' && **p <= '9'; (*p)++)
		v = v * 10 + (uint64_t)(**p - '0');
	return v;
}

/*
 * One line of maps: "start-end perms offset major:minor inode   path".
 * Returns 0 (recorded or not ours) or -ENOMEM.
 */
static int scan_map_line(struct scan *sc, const char *p, const char *eol,
			 uint32_t proc)
{
	uint64_t start, end, major, minor, ino;
	const char *perms, *path;
	unsigned how = SHMBLOCK_HELD_MAP;
	dev_t dev;
	long idx;

	start = parse_hex(&p);
	if (*p++ != '-')
		return 0;
	end = parse_hex(&p);
	if (*p++ != ' ' || eol - p < 5)
		return 0;
	perms = p;
	p += 5;
	parse_hex(&p); /* offset */
	if (*p++ != ' ')
		return 0;
	major = parse_hex(&p);
	if (*p++ != ':')
		return 0;
	minor = parse_hex(&p);
	dev = makedev(major, minor);
	/* Most lines map something else: the device settles it cheaply. */
	if (*p++ != ' ' ||
	    (dev != sc->dirdev && !holders_mounts_has(&sc->mounts, dev)))
		return 0;
	ino = parse_dec(&p);
	if (ino == 0)
		return 0;
	if (perms[1] == 'w' && perms[3] == 's')
		how |= SHMBLOCK_HELD_MAP_WRITE;
	idx = find_index(sc->snap, dev, ino);
	if (idx < 0 && dev != sc->dirdev) {
		/* Mapped through a shmfs mount (without passthrough). */
		while (p < eol && *p == ' ')
			p++;
		idx = mounted_entry(sc, dev, ino, p, (size_t)(eol - p));
		if (idx < 0)
			return 0;
	} else if (idx < 0) {
		while (p < eol && *p == ' ')
			p++;
		path = p;
		/* Its attributes come later, from map_files (stat_mapped). */
		idx = new_entry(sc, path, (size_t)(eol - path), dev, ino, NULL);
		if (idx == -1)
			return 0;
		if (idx < 0)
			return (int)idx;
	}
	return add_rec(sc, idx, proc, how, -1, start, end);
}

/* maps as text, for kernels without PROCMAP_QUERY; `fd` is open on it. */
static int scan_maps_text(struct scan *sc, int fd, uint32_t proc)
{
	size_t len = 0;
	const char *p, *end;
	int rc;

	for (;;) {
		ssize_t n;

		if (sc->buf_cap - len < 4096) {
			rc = grow(&sc->buf, &sc->buf_cap, len + 65536, 1);
			if (rc < 0)
				return rc;
		}
		n = read(fd, sc->buf + len, sc->buf_cap - len - 1);
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	sc->buf[len] = '\0';
	end = sc->buf + len;
	for (p = sc->buf; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			eol = end;
		rc = scan_map_line(sc, p, eol, proc);
		if (rc < 0)
			return rc;
		p = eol + 1;
	}
	return 0;
}

/*
 * The file-backed mappings one PROCMAP_QUERY at a time: binary fields, no
 * text made and parsed, and no path built for each mapping (d_path and its
 * escaping were a third of reading maps).  Only a mapping of an inode the
 * table lacks is asked again for its path, the name of a deleted entry.
 * Returns 0, 1 when the process has no address space, -ENOTTY when the
 * kernel has no such ioctl, or -errno.
 */
/* How a PROCMAP_QUERY answer maps its file. */
static unsigned map_how(const struct procmap_query *q)
{
	if ((q->vma_flags & PROCMAP_QUERY_VMA_WRITABLE) &&
	    (q->vma_flags & PROCMAP_QUERY_VMA_SHARED))
		return SHMBLOCK_HELD_MAP | SHMBLOCK_HELD_MAP_WRITE;
	return SHMBLOCK_HELD_MAP;
}

/* The path of the mapping `q` answered, asked again; false if it moved. */
static bool mapping_path(int fd, const struct procmap_query *q, char *path,
			 size_t size)
{
	struct procmap_query n = *q;

	n.query_flags = 0;
	n.query_addr = q->vma_start;
	n.vma_name_addr = (uint64_t)(uintptr_t)path;
	n.vma_name_size = (uint32_t)size;
	return ioctl(fd, PROCMAP_QUERY, &n) == 0 &&
	       n.vma_start == q->vma_start && n.inode == q->inode &&
	       n.vma_name_size && memchr(path, '\0', size);
}

static int scan_maps_query(struct scan *sc, int fd, uint32_t proc)
{
	struct procmap_query q;
	uint64_t addr = 0;
	char path[PATH_MAX];
	bool first = true;
	int rc;

	for (;;) {
		unsigned how = SHMBLOCK_HELD_MAP;
		dev_t dev;
		long idx;

		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA |
				PROCMAP_QUERY_FILE_BACKED_VMA;
		q.query_addr = addr;
		if (ioctl(fd, PROCMAP_QUERY, &q) < 0) {
			/* No mapping further on. */
			if (errno == ENOENT)
				return 0;
			/* No address space at all: a kernel thread, or exited. */
			if (errno == ESRCH)
				return first ? 1 : 0;
			if (first && (errno == ENOTTY || errno == EINVAL))
				return -ENOTTY;
			return -errno;
		}
		first = false;
		addr = q.vma_end;
		dev = makedev(q.dev_major, q.dev_minor);
		if (!q.inode)
			continue;
		if (dev != sc->dirdev) {
			/* Mapped through a shmfs mount (without passthrough;
			 * with it the mapping is of the block itself). */
			if (!holders_mounts_has(&sc->mounts, dev))
				continue;
			idx = mapping_path(fd, &q, path, sizeof(path))
				      ? mounted_entry(sc, dev, q.inode, path,
						      strlen(path))
				      : -1;
			if (idx < 0)
				continue;
			rc = add_rec(sc, idx, proc, map_how(&q), -1,
				     q.vma_start, q.vma_end);
			if (rc < 0)
				return rc;
			continue;
		}
		if ((q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE) &&
		    (q.vma_flags & PROCMAP_QUERY_VMA_SHARED))
			how |= SHMBLOCK_HELD_MAP_WRITE;
		idx = find_index(sc->snap, dev, q.inode);
		if (idx < 0) {
			struct procmap_query n = q;

			/* The same mapping, its path this time. */
			n.query_flags = 0;
			n.query_addr = q.vma_start;
			n.vma_name_addr = (uint64_t)(uintptr_t)path;
			n.vma_name_size = sizeof(path);
			if (ioctl(fd, PROCMAP_QUERY, &n) < 0 ||
			    n.vma_start != q.vma_start || n.inode != q.inode ||
			    !n.vma_name_size)
				continue; /* unmapped since: not held */
			/* Its attributes come later, from map_files (stat_mapped). */
			idx = new_entry(sc, path, strnlen(path, sizeof(path)),
					dev, q.inode, NULL);
			if (idx == -1)
				continue;
			if (idx < 0)
				return (int)idx;
		}
		rc = add_rec(sc, idx, proc, how, -1, q.vma_start, q.vma_end);
		if (rc < 0)
			return rc;
	}
}

static int scan_maps(struct scan *sc, int piddir, uint32_t proc)
{
	int fd, rc = -ENOTTY;

	fd = openat(piddir, "maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!sc->no_procmap) {
		rc = scan_maps_query(sc, fd, proc);
		/* An older kernel: read the text, now and from now on. */
		if (rc == -ENOTTY)
			sc->no_procmap = true;
	}
	if (sc->no_procmap)
		rc = scan_maps_text(sc, fd, proc);
	close(fd);
	return rc;
}

/*
 * Deleted entries first seen in a mapping have no attributes yet: stat
 * /proc/PID/map_files/START-END, which only a privileged caller may.
 */
static void stat_mapped(struct scan *sc, int piddir, size_t first_rec)
{
	size_t i;

	for (i = first_rec; i < sc->nrecs; i++) {
		struct shmblock_holders_entry *e =
			&sc->snap->entries[sc->recs[i].entry];
		struct stat st;
		char mf[64];

		if (e->have_stat || !(sc->recs[i].how & SHMBLOCK_HELD_MAP))
			continue;
		snprintf(mf, sizeof(mf), "map_files/%llx-%llx",
			 (unsigned long long)sc->recs[i].start,
			 (unsigned long long)sc->recs[i].end);
		if (fstatat(piddir, mf, &st, 0) == 0 && st.st_dev == e->dev &&
		    st.st_ino == e->ino)
			fill_stat(e, &st);
	}
}

/*
 * The command name and real uid, read only for processes that hold: one
 * read of status gives both ("Name:" is comm, with \ and newlines escaped).
 */
static int read_identity(struct scan *sc, int piddir, struct proc *pr)
{
	ssize_t len;
	char *p, *end;

	len = read_status(sc, piddir);
	if (len < 0)
		return (int)len;
	if (strncmp(sc->buf, "Name:\t", 6))
		return -ESRCH;
	end = strchr(sc->buf + 6, '\n');
	if (end)
		*end = '\0';
	snprintf(pr->comm, sizeof(pr->comm), "%s", sc->buf + 6);
	p = strstr(end ? end + 1 : sc->buf, "Uid:");
	if (!p)
		return -ESRCH;
	pr->uid = (uid_t)strtoul(p + 4, NULL, 10);
	return 0;
}

/*
 * Notes a process that could not be inspected (error `err`, negative): the
 * snapshot is partial, and says which process and why.
 */
static void add_gap(struct scan *sc, pid_t pid, int err)
{
	struct shmblock_holders *snap = sc->snap;

	snap->partial = true;
	/* Out of memory for the list: still counted, still partial. */
	if (grow(&snap->gaps, &snap->gaps_cap, snap->ngaps + 1,
		 sizeof(*snap->gaps)) == 0)
		snap->gaps[snap->ngaps++] =
			(struct shmblock_holders_gap){ pid, -err };
	snap->stats.nunreadable++;
}

/* Drops the records of a process from `first_rec` on. */
static void roll_back(struct scan *sc, size_t first_rec)
{
	while (sc->nrecs > first_rec)
		sc->snap->entries[sc->recs[--sc->nrecs].entry].nholders--;
}

/* One process, /proc/`name`: 0 (even when skipped), or -ENOMEM. */
static int scan_process(struct scan *sc, int procfd, const char *name)
{
	size_t first_rec = sc->nrecs;
	struct shmblock_holders_stats *stats = &sc->snap->stats;
	pid_t pid = (pid_t)strtol(name, NULL, 10);
	struct proc *pr;
	int piddir, rc, rc_fd, rc_map;

	piddir = openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (piddir < 0) {
		rc = -errno;
		goto skip;
	}
	rc = grow(&sc->procs, &sc->procs_cap, sc->nprocs + 1,
		  sizeof(*sc->procs));
	if (rc < 0)
		goto out;
	stats->nprocs++;
	rc_map = scan_maps(sc, piddir, (uint32_t)sc->nprocs);
	rc = rc_map == -ENOMEM ? rc_map : 0;
	if (rc < 0)
		goto out;
	/*
	 * No address space: a kernel thread, or a process past exit_mm(),
	 * which closes its descriptors next.  Neither holds anything, and
	 * the descriptors of the first are not worth a look.
	 */
	if (rc_map == 1) {
		rc_map = 0;
		rc_fd = 0;
	} else {
		rc_fd = scan_fds(sc, piddir, (uint32_t)sc->nprocs);
	}
	rc = rc_fd == -ENOMEM ? rc_fd : 0;
	if (rc < 0)
		goto out;
	if (is_vanished(rc_fd) || is_vanished(rc_map)) {
		rc = -ESRCH;
		goto skip;
	}
	/* A process we may not read is a gap in the picture, not an error. */
	if (rc_fd < 0 || rc_map < 0)
		add_gap(sc, pid, rc_fd < 0 ? rc_fd : rc_map);
	if (sc->nrecs > first_rec) {
		pr = &sc->procs[sc->nprocs];
		pr->pid = pid;
		rc = read_identity(sc, piddir, pr);
		if (rc < 0 && rc != -ENOMEM)
			goto skip;
		if (rc < 0)
			goto out;
		stat_mapped(sc, piddir, first_rec);
		sc->nprocs++;
	}
	close(piddir);
	return 0;
skip:
	roll_back(sc, first_rec);
	if (is_vanished(rc))
		stats->nvanished++;
	else
		add_gap(sc, pid, rc);
	rc = 0;
out:
	if (piddir >= 0)
		close(piddir);
	return rc;
}

static int scan_pid(struct scan *sc, int procfd, const char *name,
		    unsigned char type, void *arg)
{
	(void)type;
	(void)arg;
	if (*name < '1' || *name > '9')
		return 0;
	return scan_process(sc, procfd, name);
}

static int scan_processes(struct scan *sc)
{
	char *buf;
	int proc, rc;

	proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc < 0)
		return errno == ENOENT ? -ENOSYS : -errno;
	buf = malloc(DENTS_SIZE);
	sc->dents = malloc(DENTS_SIZE);
	rc = buf && sc->dents ? each_dirent(proc, buf, DENTS_SIZE, false,
					    scan_pid, sc, NULL)
			      : -ENOMEM;
	free(buf);
	close(proc);
	return rc;
}

/* ---- step 3: sort entries, merge records into holders ---- */

static int cmp_entry(const void *a, const void *b, void *arg)
{
	const struct shmblock_holders_entry *entries = arg;
	const struct shmblock_holders_entry *x = &entries[*(const uint32_t *)a];
	const struct shmblock_holders_entry *y = &entries[*(const uint32_t *)b];
	int c;

	if (x->deleted != y->deleted)
		return x->deleted ? 1 : -1;
	c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_rec(const void *a, const void *b, void *arg)
{
	const struct proc *procs = arg;
	const struct rec *x = a, *y = b;
	pid_t px, py;

	if (x->entry != y->entry)
		return x->entry < y->entry ? -1 : 1;
	px = procs[x->proc].pid;
	py = procs[y->proc].pid;
	return px < py ? -1 : px > py;
}

static void merge_rec(struct shmblock_holder *h, const struct rec *r)
{
	h->how |= r->how;
	if (r->how & SHMBLOCK_HELD_FD) {
		h->nfds++;
		if (h->fd < 0)
			h->fd = r->fd;
	} else {
		h->nmaps++;
		if (!h->map_end) {
			h->map_start = r->start;
			h->map_end = r->end;
		}
	}
}

/*
 * Sorts the entries (named by name, then deleted by old name and inode),
 * dropping deleted ones whose every holder was rolled back, and merges the
 * records into one holder per (entry, process).
 */
static int finish(struct scan *sc)
{
	struct shmblock_holders *snap = sc->snap;
	struct shmblock_holders_entry *sorted = NULL;
	uint32_t *order, *newidx;
	size_t i, n = 0, old = snap->nentries;
	int rc = -ENOMEM;

	order = calloc(snap->nentries + 1, sizeof(*order));
	newidx = calloc(snap->nentries + 1, sizeof(*newidx));
	snap->holders = table_alloc(sc->nrecs + 1, sizeof(*snap->holders));
	if (!order || !newidx || !snap->holders)
		goto out;
	for (i = 0; i < snap->nentries; i++) {
		if (snap->entries[i].deleted && !snap->entries[i].nholders)
			free((char *)snap->entries[i].name);
		else
			order[n++] = (uint32_t)i;
	}
	qsort_r(order, n, sizeof(*order), cmp_entry, snap->entries);
	for (i = 0; i < n; i++) {
		newidx[order[i]] = (uint32_t)i;
		snap->entries[order[i]].nholders = 0;
	}
	if (n == old) {
		/*
		 * Nothing dropped: put them in order in place, one cycle of
		 * the permutation at a time, rather than in a new table of
		 * 80 bytes an entry (a fault every 50 entries).  order[j] = j
		 * marks a place done.
		 */
		for (i = 0; i < n; i++) {
			struct shmblock_holders_entry tmp;
			size_t j = i, k;

			if (order[i] == i)
				continue;
			tmp = snap->entries[i];
			for (;;) {
				k = order[j];
				order[j] = (uint32_t)j;
				if (k == i) {
					snap->entries[j] = tmp;
					break;
				}
				snap->entries[j] = snap->entries[k];
				j = k;
			}
		}
	} else {
		sorted = calloc(n + 1, sizeof(*sorted));
		if (!sorted)
			goto out;
		for (i = 0; i < n; i++)
			sorted[i] = snap->entries[order[i]];
		free(snap->entries);
		snap->entries = sorted;
		snap->entries_cap = n + 1;
		sorted = NULL;
	}
	snap->nentries = n;

	for (i = 0; i < sc->nrecs; i++)
		sc->recs[i].entry = newidx[sc->recs[i].entry];
	/* No holder at all: recs may be NULL, which qsort_r must not get. */
	if (sc->nrecs)
		qsort_r(sc->recs, sc->nrecs, sizeof(*sc->recs), cmp_rec,
			sc->procs);
	for (i = 0; i < sc->nrecs; i++) {
		const struct rec *r = &sc->recs[i];
		const struct proc *pr = &sc->procs[r->proc];
		struct shmblock_holders_entry *e = &snap->entries[r->entry];
		struct shmblock_holder *h;

		if (!i || r->entry != sc->recs[i - 1].entry ||
		    pr->pid != sc->procs[sc->recs[i - 1].proc].pid) {
			h = &snap->holders[snap->nholders++];
			h->pid = pr->pid;
			h->uid = pr->uid;
			h->fd = -1;
			memcpy(h->comm, pr->comm, sizeof(h->comm));
			if (!e->nholders)
				e->holders = h;
			e->nholders++;
		}
		merge_rec(&snap->holders[snap->nholders - 1], r);
	}
	/*
	 * Every slot still holds its (dev, ino): unless an entry was dropped,
	 * renumbering them in one pass over the table beats an insert (a
	 * cache miss) for every entry.
	 */
	if (n == old) {
		for (i = 0; i < snap->hash_cap; i++)
			if (snap->hash[i].idx)
				snap->hash[i].idx =
					newidx[snap->hash[i].idx - 1] + 1;
		rc = 0;
	} else {
		rc = hash_rebuild(snap, n);
	}
out:
	free(order);
	free(newidx);
	free(sorted);
	return rc;
}

/* ---- the public calls ---- */

/* Our own descriptor of the directory, its device and its path + '/'. */
static int open_dir(struct scan *sc, int dirfd)
{
	struct stat st;
	char self[64];
	ssize_t len;

	if (dirfd == SHMBLOCK_DEFAULT_DIR)
		sc->dirfd = open(SHMBLOCK_SHM_DIR,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else
		sc->dirfd =
			openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sc->dirfd < 0)
		return -errno;
	if (fstat(sc->dirfd, &st) < 0)
		return -errno;
	sc->dirdev = st.st_dev;
	/* Links in /proc show the path as the process sees it: ours. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", sc->dirfd);
	len = readlink(self, sc->prefix, sizeof(sc->prefix) - 2);
	if (len < 0)
		return errno == ENOENT ? -ENOSYS : -errno;
	if (len == 0 || sc->prefix[len - 1] != '/')
		sc->prefix[len++] = '/';
	sc->prefix[len] = '\0';
	sc->prefix_len = (size_t)len;
	return 0;
}

static void scan_done(struct scan *sc)
{
	if (sc->dirfd >= 0)
		close(sc->dirfd);
	holders_mounts_free(&sc->mounts);
	free(sc->recs);
	free(sc->procs);
	free(sc->buf);
	free(sc->dents);
}

/* The scan proper, after the table holds what we look for. */
static int scan_run(struct scan *sc, struct shmblock_holders **out)
{
	int rc;

	rc = scan_processes(sc);
	if (rc == 0)
		rc = finish(sc);
	sc->snap->stats.elapsed_ns = now_ns() - sc->snap->stats.started_ns;
	scan_done(sc);
	if (rc < 0) {
		shmblock_holders_free(sc->snap);
		return rc;
	}
	*out = sc->snap;
	return 0;
}

static int scan_init(struct scan *sc, int dirfd, unsigned flags)
{
	int rc;

	memset(sc, 0, sizeof(*sc));
	sc->dirfd = -1;
	sc->flags = flags;
	sc->snap = calloc(1, sizeof(*sc->snap));
	if (!sc->snap)
		return -ENOMEM;
	sc->snap->stats.started_ns = now_ns();
	rc = open_dir(sc, dirfd);
	if (rc == 0)
		rc = holders_mounts_load(&sc->mounts);
	if (rc == 0)
		rc = hash_rebuild(sc->snap, 0);
	if (rc < 0) {
		shmblock_holders_free(sc->snap);
		scan_done(sc);
	}
	return rc;
}

SHMBLOCK_API int shmblock_holders_scan(int dirfd, unsigned flags,
				       struct shmblock_holders **out)
{
	struct scan sc;
	int rc;

	rc = scan_init(&sc, dirfd, flags);
	if (rc < 0)
		return rc;
	rc = list_directory(&sc);
	if (rc < 0) {
		shmblock_holders_free(sc.snap);
		scan_done(&sc);
		return rc;
	}
	return scan_run(&sc, out);
}

SHMBLOCK_API int shmblock_holders_scan_block(int dirfd, const char *name,
					     unsigned flags,
					     struct shmblock_holders **out)
{
	struct stat st;
	struct scan sc;
	long idx;
	int rc;

	rc = shmblock_name_check(name);
	if (rc < 0)
		return rc;
	rc = scan_init(&sc, dirfd, flags);
	if (rc < 0)
		return rc;
	sc.one_block = true;
	if (fstatat(sc.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	if (rc == 0) {
		idx = add_entry(sc.snap, name, strlen(name), false, st.st_dev,
				st.st_ino, &st);
		rc = idx < 0 ? (int)idx : 0;
	}
	if (rc < 0) {
		shmblock_holders_free(sc.snap);
		scan_done(&sc);
		return rc;
	}
	return scan_run(&sc, out);
}

SHMBLOCK_API void shmblock_holders_free(struct shmblock_holders *snap)
{
	size_t i;

	if (!snap)
		return;
	for (i = 0; i < snap->nentries; i++)
		free((char *)snap->entries[i].name);
	free(snap->entries);
	free(snap->hash);
	free(snap->holders);
	free(snap->gaps);
	free(snap);
}

SHMBLOCK_API bool
shmblock_holders_is_partial(const struct shmblock_holders *snap)
{
	return snap->partial;
}

SHMBLOCK_API const struct shmblock_holders_gap *
shmblock_holders_gap(const struct shmblock_holders *snap, size_t i)
{
	if (i >= snap->ngaps)
		return NULL;
	return &snap->gaps[i];
}

SHMBLOCK_API void shmblock_holders_stats(const struct shmblock_holders *snap,
					 struct shmblock_holders_stats *out)
{
	*out = snap->stats;
}

SHMBLOCK_API size_t shmblock_holders_count(const struct shmblock_holders *snap)
{
	return snap->nentries;
}

SHMBLOCK_API const struct shmblock_holders_entry *
shmblock_holders_entry(const struct shmblock_holders *snap, size_t i)
{
	return i < snap->nentries ? &snap->entries[i] : NULL;
}

SHMBLOCK_API const struct shmblock_holders_entry *
shmblock_holders_find(const struct shmblock_holders *snap, uint64_t dev,
		      uint64_t ino)
{
	long idx = find_index(snap, dev, ino);

	return idx < 0 ? NULL : &snap->entries[idx];
}

SHMBLOCK_API const struct shmblock_holders_entry *
shmblock_holders_find_name(const struct shmblock_holders *snap,
			   const char *name)
{
	size_t lo = 0, hi = snap->nentries;

	/* Named entries come first, sorted by name. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct shmblock_holders_entry *e = &snap->entries[mid];
		int c = e->deleted ? 1 : strcmp(e->name, name);

		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Opens `path` read-only if it is still the inode asked for. */
static int open_checked(const char *path, uint64_t dev, uint64_t ino)
{
	struct stat st;
	int fd, err;

	/* O_NONBLOCK: whatever a reused descriptor is now, don't wait on it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (st.st_dev != dev || st.st_ino != ino || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

SHMBLOCK_API int shmblock_holders_open(const struct shmblock_holders *snap,
				       uint64_t dev, uint64_t ino)
{
	const struct shmblock_holders_entry *e =
		shmblock_holders_find(snap, dev, ino);
	char path[96];
	int rc = -ENOENT, fd;
	size_t i;

	if (!e)
		return -ENOENT;
	for (i = 0; i < e->nholders; i++) {
		const struct shmblock_holder *h = &e->holders[i];

		if (h->fd >= 0) {
			snprintf(path, sizeof(path), "/proc/%d/fd/%d",
				 (int)h->pid, h->fd);
			fd = open_checked(path, dev, ino);
			if (fd >= 0)
				return fd;
			/* A refusal says more than "gone" about why we failed. */
			if (rc == -ENOENT)
				rc = fd;
		}
		if (h->map_end) {
			snprintf(path, sizeof(path),
				 "/proc/%d/map_files/%llx-%llx", (int)h->pid,
				 (unsigned long long)h->map_start,
				 (unsigned long long)h->map_end);
			fd = open_checked(path, dev, ino);
			if (fd >= 0)
				return fd;
			if (rc == -ENOENT)
				rc = fd;
		}
	}
	return rc == -ESRCH ? -ENOENT : rc;
}
