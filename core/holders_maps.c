/* SPDX-License-Identifier: MIT */
/* The holders scan's reading of one process's mappings (/proc/PID/maps). */

/*
 * Each mapping comes with the device and inode of what it maps, from
 * PROCMAP_QUERY or the text of maps, so it is matched against the entry
 * table without a stat (docs/holders.md).
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

#include "shmblock.h"
#include "holders_maps.h"
#include "holders_mount.h"
#include "holders_table.h"

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
	idx = shmblock__holders_find_index(sc->snap, dev, ino);
	if (idx < 0 && dev != sc->dirdev) {
		/* Mapped through a shmfs mount (without passthrough). */
		while (p < eol && *p == ' ')
			p++;
		idx = shmblock__holders_mounted_entry(sc, dev, ino, p,
						      (size_t)(eol - p));
		if (idx < 0)
			return 0;
	} else if (idx < 0) {
		while (p < eol && *p == ' ')
			p++;
		path = p;
		/* Its attributes come later, from map_files (stat_mapped). */
		idx = shmblock__holders_new_entry(
			sc, path, (size_t)(eol - path), dev, ino, NULL);
		if (idx == -1)
			return 0;
		if (idx < 0)
			return (int)idx;
	}
	return shmblock__holders_add_rec(sc, idx, proc, how, -1, start, end);
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
			rc = shmblock__holders_grow(&sc->buf, &sc->buf_cap,
						    len + 65536, 1);
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

/*
 * The file-backed mappings one PROCMAP_QUERY at a time: binary fields, no
 * text made and parsed, and no path built for each mapping (d_path and its
 * escaping were a third of reading maps).  Only a mapping of an inode the
 * table lacks is asked again for its path, the name of a deleted entry.
 * Returns 0, 1 when the process has no address space, -ENOTTY when the
 * kernel has no such ioctl, or -errno.
 */
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
				      ? shmblock__holders_mounted_entry(
						sc, dev, q.inode, path,
						strlen(path))
				      : -1;
			if (idx < 0)
				continue;
			rc = shmblock__holders_add_rec(sc, idx, proc,
						       map_how(&q), -1,
						       q.vma_start, q.vma_end);
			if (rc < 0)
				return rc;
			continue;
		}
		if ((q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE) &&
		    (q.vma_flags & PROCMAP_QUERY_VMA_SHARED))
			how |= SHMBLOCK_HELD_MAP_WRITE;
		idx = shmblock__holders_find_index(sc->snap, dev, q.inode);
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
			idx = shmblock__holders_new_entry(
				sc, path, strnlen(path, sizeof(path)), dev,
				q.inode, NULL);
			if (idx == -1)
				continue;
			if (idx < 0)
				return (int)idx;
		}
		rc = shmblock__holders_add_rec(sc, idx, proc, how, -1,
					       q.vma_start, q.vma_end);
		if (rc < 0)
			return rc;
	}
}

int shmblock__holders_scan_maps(struct scan *sc, int piddir, uint32_t proc)
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
void shmblock__holders_stat_mapped(struct scan *sc, int piddir,
				   size_t first_rec)
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
			shmblock__holders_fill_stat(e, &st);
	}
}
