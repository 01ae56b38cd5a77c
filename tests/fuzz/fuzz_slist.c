// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the ShareableList validator and readers: the buffer
 * layer (validate, read, encode + apply, rebuild, format) on an exact-size
 * heap copy, the descriptor layer (the pread probe, deep and shallow, which
 * must agree with the validator exactly, the torn probe, which must agree
 * with a check written here from CPython's store, the settled probe, and
 * get_fd) on a memfd holding the input, and the handle layer on a mapped file whose bytes are replaced
 * under an attached list.  Any crash, sanitizer report or broken invariant
 * (abort) is a finding.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmblock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "invariant failed: %s (line %d)\n", \
				#cond, __LINE__);                           \
			abort();                                            \
		}                                                           \
	} while (0)

static const struct shmblock_value probes[] = {
	{ .type = SHMBLOCK_TYPE_INT, .i = INT64_MIN },
	{ .type = SHMBLOCK_TYPE_FLOAT, .f = -0.0 },
	{ .type = SHMBLOCK_TYPE_BOOL, .b = true },
	{ .type = SHMBLOCK_TYPE_NONE },
	{ .type = SHMBLOCK_TYPE_STR, .s = { "", 0 } },
	{ .type = SHMBLOCK_TYPE_STR, .s = { "abcdefgh", 8 } },
	{ .type = SHMBLOCK_TYPE_BYTES,
	  .s = { "\0\1\2\3\4\5\6\7\0\1\2\3\4\5\6\7x", 17 } },
	{ .type = SHMBLOCK_TYPE_STR, .s = { "\xc3", 1 } }, /* not UTF-8 */
	{ .type = (enum shmblock_type)77 },
};

static int dirfd_ = -1;
static char dir_path[64];
static int file_fd = -1;
static struct shmblock_slist *handle;
static int mem_fd = -1;

static void cleanup(void)
{
	shmblock_slist_close(handle);
	if (file_fd >= 0)
		close(file_fd);
	if (mem_fd >= 0)
		close(mem_fd);
}

/* A list attached once from a private directory; inputs replace its bytes. */
static void setup_handle(void)
{
	static const struct shmblock_value seed[] = {
		{ .type = SHMBLOCK_TYPE_INT, .i = 1 },
		{ .type = SHMBLOCK_TYPE_STR, .s = { "hello", 5 } },
	};
	struct shmblock_slist *made;

	snprintf(dir_path, sizeof(dir_path), "/tmp/fuzz-slist-XXXXXX");
	CHECK(mkdtemp(dir_path));
	dirfd_ = open(dir_path, O_RDONLY | O_DIRECTORY);
	CHECK(dirfd_ >= 0);
	CHECK(shmblock_slist_create_at(dirfd_, "list", seed, 2, 0600, &made) ==
	      0);
	shmblock_slist_close(made);
	CHECK(shmblock_slist_attach_at(dirfd_, "list", 0, &handle) == 0);
	file_fd = openat(dirfd_, "list", O_RDWR);
	CHECK(file_fd >= 0);
	/* The descriptors keep the file; nothing is left behind by a crash. */
	CHECK(unlinkat(dirfd_, "list", 0) == 0);
	close(dirfd_);
	CHECK(rmdir(dir_path) == 0);
	atexit(cleanup);
}

static void check_value(const struct shmblock_value *v)
{
	CHECK(v->type <= SHMBLOCK_TYPE_BYTES);
	if (v->type == SHMBLOCK_TYPE_STR || v->type == SHMBLOCK_TYPE_BYTES)
		CHECK(v->s.len == 0 || v->s.ptr[v->s.len - 1] != '\0');
}

static void fuzz_buffer(const uint8_t *data, size_t size)
{
	struct shmblock_slist_layout *lay = NULL, *again = NULL;
	struct shmblock_value *values = NULL;
	unsigned char *buf, *work = NULL, *rebuilt = NULL;
	char fmt[64];
	size_t i, k, nvalues = 0, rsize;
	int rc;

	buf = malloc(size ? size : 1);
	CHECK(buf);
	memcpy(buf, data, size);
	rc = shmblock_slist_validate(buf, size, NULL);
	CHECK(rc == 0 || rc == -EBADMSG);
	rc = shmblock_slist_validate(buf, size, &lay);
	CHECK(rc == 0 || rc == -EBADMSG);
	if (rc < 0)
		goto out;
	CHECK(lay->size == size);
	CHECK(shmblock_slist_format_render(lay, fmt, sizeof(fmt)) >= 0);
	values = calloc(lay->count + 1, sizeof(*values));
	CHECK(values);
	for (i = 0; i < lay->count; i++) {
		rc = shmblock_slist_read(lay, buf, size, i, &values[nvalues]);
		CHECK(rc == 0 || rc == -EILSEQ);
		if (rc == 0)
			check_value(&values[nvalues++]);
	}
	CHECK(shmblock_slist_read(lay, buf, size, lay->count, &values[0]) ==
	      -ERANGE);

	/* Every accepted edit keeps the block valid and reads back. */
	work = malloc(size);
	CHECK(work);
	for (i = 0; i < lay->count && i < 8; i++) {
		for (k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
			struct shmblock_slist_edit e;
			struct shmblock_value back;

			rc = shmblock_slist_encode_set(lay, i, &probes[k], &e);
			CHECK(rc == 0 || rc == -EFBIG || rc == -EINVAL);
			if (rc < 0)
				continue;
			memcpy(work, buf, size);
			CHECK(shmblock_slist_edit_apply(&e, work, size) == 0);
			CHECK(shmblock_slist_validate(work, size, &again) == 0);
			rc = shmblock_slist_read(again, work, size, i, &back);
			CHECK(rc == 0);
			CHECK(back.type == probes[k].type);
			shmblock_slist_layout_free(again);
			again = NULL;
		}
	}

	/* The values read rebuild into a valid list that reads the same. */
	if (shmblock_slist_layout_size(values, nvalues, &rsize) == 0) {
		rebuilt = malloc(rsize);
		CHECK(rebuilt);
		CHECK(shmblock_slist_build(values, nvalues, rebuilt, rsize) ==
		      0);
		CHECK(shmblock_slist_validate(rebuilt, rsize, &again) == 0);
		CHECK(again->count == nvalues);
		for (i = 0; i < nvalues; i++) {
			struct shmblock_value back;

			CHECK(shmblock_slist_read(again, rebuilt, rsize, i,
						  &back) == 0);
			CHECK(back.type == values[i].type);
			if (back.type != SHMBLOCK_TYPE_FLOAT)
				CHECK(shmblock_value_equal(&back, &values[i]));
		}
	}
out:
	shmblock_slist_layout_free(again);
	shmblock_slist_layout_free(lay);
	free(values);
	free(rebuilt);
	free(work);
	free(buf);
}

static bool same_layout(const struct shmblock_slist_layout *a,
			const struct shmblock_slist_layout *b, bool types)
{
	uint64_t i;

	if (a->version != b->version || a->count != b->count ||
	    a->size != b->size || a->data_offset != b->data_offset ||
	    a->formats_offset != b->formats_offset ||
	    a->codes_offset != b->codes_offset)
		return false;
	for (i = 0; i < a->count; i++) {
		if (a->items[i].offset != b->items[i].offset ||
		    a->items[i].capacity != b->items[i].capacity)
			return false;
		if (types ? a->items[i].type != b->items[i].type
			  : b->items[i].type != SHMBLOCK_TYPE_NONE)
			return false;
	}
	return true;
}

/* Bit-exact equality of two values read from the same bytes. */
static bool same_value(const struct shmblock_value *a,
		       const struct shmblock_value *b)
{
	if (a->type != b->type)
		return false;
	if (a->type == SHMBLOCK_TYPE_FLOAT)
		return !memcmp(&a->f, &b->f, sizeof(a->f));
	return shmblock_value_equal(a, b);
}

/* get_fd of each of the first items reads what the buffer layer reads. */
static void check_get_fd(const struct shmblock_slist_layout *lay,
			 const struct shmblock_slist_layout *ref,
			 const unsigned char *buf)
{
	struct shmblock_value v, want;
	char small[4], big[64];
	size_t i;
	int rc, rc_want;

	for (i = 0; i < lay->count && i < 8; i++) {
		rc_want = shmblock_slist_read(ref, buf, ref->size, i, &want);
		rc = shmblock_slist_get_fd(mem_fd, lay, i, &v, big,
					   sizeof(big));
		if (rc == -ENOBUFS) {
			CHECK(rc_want == 0 && want.s.len > sizeof(big) &&
			      v.s.len == want.s.len);
		} else {
			CHECK(rc == rc_want);
			if (rc == 0) {
				check_value(&v);
				CHECK(same_value(&v, &want));
			}
		}
		/* Through the heap when the slot is bigger than the buffer. */
		rc = shmblock_slist_get_fd(mem_fd, lay, i, &v, small,
					   sizeof(small));
		CHECK(rc == 0 || rc == -ENOBUFS || rc == -EILSEQ);
		if (rc == -ENOBUFS)
			CHECK(v.s.len > sizeof(small));
	}
	CHECK(shmblock_slist_get_fd(mem_fd, lay, lay->count, &v, big,
				    sizeof(big)) == -ERANGE);
}

/*
 * What CPython's store may leave in an item for an instant, written apart
 * from the core's parser: the format zero-filled (struct.pack_into) or one
 * of the formats a slot of `cap` bytes may have ("%llus" of its length, or
 * a scalar's in a slot of 8 bytes or more), the code any of the four.
 */
static bool store_shape(const unsigned char f[8], int code, uint64_t cap)
{
	static const char *const scalars[] = { "q", "d", "xxxxxxx?",
					       "xxxxxx?x" };
	char want[24];
	size_t i;

	if (code < 0 || code > 3)
		return false;
	memset(want, 0, sizeof(want));
	if (!memcmp(f, want, 8))
		return true;
	for (i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		memset(want, 0, sizeof(want));
		strcpy(want, scalars[i]);
		if (!memcmp(f, want, 8))
			return cap >= 8;
	}
	memset(want, 0, sizeof(want));
	snprintf(want, sizeof(want), "%llus", (unsigned long long)cap);
	return cap > 0 && want[8] == '\0' && !memcmp(f, want, 8);
}

/* Whether every item of a shallow layout is in store_shape. */
static bool torn_like(const struct shmblock_slist_layout *lay,
		      const unsigned char *buf)
{
	uint64_t i;

	for (i = 0; i < lay->count; i++)
		if (!store_shape(buf + lay->formats_offset + 8 * i,
				 (int8_t)buf[lay->codes_offset + i],
				 lay->items[i].capacity))
			return false;
	return true;
}

/*
 * The torn probe accepts exactly the shallow layouts whose tables are in
 * store_shape, every list the deep probe accepts among them; the settled
 * probe gives the deep layout of a list at once, refuses a block that is
 * larger than its bound unread, and a header that is no list's at once.
 * (Tables torn and still, it would wait out its back-off: not fuzzed.)
 */
static void check_torn(const struct shmblock_slist_layout *ref,
		       const struct shmblock_slist_layout *shallow,
		       const unsigned char *buf, size_t size)
{
	struct shmblock_slist_layout *torn = NULL, *settled = NULL;
	struct stat st;
	int rc;

	rc = shmblock_slist_probe_torn_fd(mem_fd, size, &torn);
	CHECK(rc == 0 || rc == -EBADMSG);
	CHECK(shmblock_slist_probe_torn_fd(mem_fd, size, NULL) == rc);
	CHECK((rc == 0) == (shallow && torn_like(shallow, buf)));
	if (rc == 0)
		CHECK(same_layout(shallow, torn, false));
	if (ref)
		CHECK(rc == 0);
	if (ref || !shallow) {
		rc = shmblock_slist_probe_settled(mem_fd, size, 0, &st,
						  &settled);
		CHECK(rc == (ref ? 0 : -EBADMSG));
		CHECK((uint64_t)st.st_size == size);
		if (ref)
			CHECK(same_layout(ref, settled, true));
		CHECK(shmblock_slist_probe_settled(
			      mem_fd, size, SHMBLOCK_SETTLE_KNOWN, &st, NULL) ==
		      (ref ? 0 : -EBADMSG));
	}
	if (size > 0)
		CHECK(shmblock_slist_probe_settled(mem_fd, size - 1, 0, &st,
						   NULL) == -EBADMSG);
	CHECK(shmblock_slist_probe_settled(mem_fd, size, 2, &st, NULL) ==
	      -EINVAL);
	shmblock_slist_layout_free(torn);
	shmblock_slist_layout_free(settled);
}

/*
 * The probe over a memfd holding the input: deep must give exactly what
 * validate gives, shallow must accept whatever deep accepts, and a file
 * shorter than the size the caller claims is -EAGAIN or -EBADMSG.
 */
static void fuzz_probe(const uint8_t *data, size_t size)
{
	struct shmblock_slist_layout *ref = NULL, *deep = NULL, *shallow = NULL;
	unsigned char *buf;
	int rc_ref, rc, rc_shallow;

	if (mem_fd < 0) {
		mem_fd = memfd_create("fuzz-slist", MFD_CLOEXEC);
		CHECK(mem_fd >= 0);
	}
	if (ftruncate(mem_fd, (off_t)size) < 0 ||
	    pwrite(mem_fd, data, size, 0) != (ssize_t)size)
		abort();
	buf = malloc(size ? size : 1);
	CHECK(buf);
	memcpy(buf, data, size);
	rc_ref = shmblock_slist_validate(buf, size, &ref);
	rc = shmblock_slist_probe_fd(mem_fd, size, 0, &deep);
	CHECK(rc == rc_ref);
	CHECK(shmblock_slist_probe_fd(mem_fd, size, 0, NULL) == rc_ref);
	rc_shallow = shmblock_slist_probe_fd(mem_fd, size,
					     SHMBLOCK_PROBE_SHALLOW, &shallow);
	CHECK(rc_shallow == 0 || rc_shallow == -EBADMSG);
	CHECK(shmblock_slist_probe_fd(mem_fd, size, SHMBLOCK_PROBE_SHALLOW,
				      NULL) == rc_shallow);
	if (rc_ref == 0) {
		CHECK(same_layout(ref, deep, true));
		CHECK(rc_shallow == 0);
		CHECK(same_layout(ref, shallow, false));
		check_get_fd(deep, ref, buf);
		check_get_fd(shallow, ref, buf);
	}
	check_torn(rc_ref == 0 ? ref : NULL, rc_shallow == 0 ? shallow : NULL,
		   buf, size);
	rc = shmblock_slist_probe_fd(mem_fd, (uint64_t)size + 8, 0, NULL);
	CHECK(rc == -EAGAIN || rc == -EBADMSG);
	rc = shmblock_slist_probe_fd(mem_fd, (uint64_t)size + 8,
				     SHMBLOCK_PROBE_SHALLOW, NULL);
	CHECK(rc == 0 || rc == -EAGAIN || rc == -EBADMSG);
	shmblock_slist_layout_free(ref);
	shmblock_slist_layout_free(deep);
	shmblock_slist_layout_free(shallow);
	free(buf);
}

static void fuzz_handle(const uint8_t *data, size_t size)
{
	struct shmblock_value v;
	char text[32];
	ssize_t n;
	size_t i;
	int rc;

	if (ftruncate(file_fd, (off_t)size) < 0 ||
	    pwrite(file_fd, data, size, 0) != (ssize_t)size)
		abort();
	CHECK(shmblock_refresh(shmblock_slist_block(handle)) == 0);
	n = shmblock_slist_len(handle);
	CHECK(n >= 0 || n == -EBADMSG);
	(void)shmblock_slist_format(handle, text, sizeof(text));
	(void)shmblock_slist_count(handle, &probes[0]);
	for (i = 0; i < (n > 0 ? (size_t)n : 1) + 1 && i < 16; i++) {
		rc = shmblock_slist_type(handle, i);
		CHECK(rc >= 0 || rc == -EBADMSG || rc == -ERANGE);
		rc = shmblock_slist_get(handle, i, &v, text, sizeof(text));
		CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE ||
		      rc == -EILSEQ || rc == -ENOBUFS);
		rc = shmblock_slist_set(handle, i, &probes[i % 7]);
		CHECK(rc == 0 || rc == -EBADMSG || rc == -ERANGE ||
		      rc == -EFBIG || rc == -EINVAL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!handle)
		setup_handle();
	fuzz_buffer(data, size);
	fuzz_probe(data, size);
	fuzz_handle(data, size);
	return 0;
}
