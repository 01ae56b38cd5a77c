// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the .npy header reader: the probe on an exact-size
 * heap copy (and on every prefix that matters, which must ask for more,
 * never read it), the pread probe over a memfd holding the input (which must
 * agree exactly), a header rebuilt from what was read (which must read the
 * same), and the descr and shape-text checks on the raw input.  Any crash,
 * sanitizer report or broken invariant (abort) is a finding.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static int mem_fd = -1;

static bool refusal(int rc)
{
	return rc == -EBADMSG || rc == -EOVERFLOW || rc == -ENOTSUP ||
	       rc == -ENOMEM;
}

static bool same_info(const struct shmblock_npy_info *a,
		      const struct shmblock_npy_info *b)
{
	return a->major == b->major && a->minor == b->minor &&
	       a->fortran_order == b->fortran_order &&
	       a->structured == b->structured && a->ndim == b->ndim &&
	       a->data_offset == b->data_offset && a->itemsize == b->itemsize &&
	       a->count == b->count && a->nbytes == b->nbytes &&
	       a->descr_len == b->descr_len &&
	       !memcmp(a->descr, b->descr, a->descr_len) &&
	       !memcmp(a->shape, b->shape, a->ndim * sizeof(a->shape[0]));
}

static void check_info(const struct shmblock_npy_info *in, const void *buf,
		       size_t size)
{
	const char *base = buf;
	uint64_t count = 1;
	unsigned i;

	CHECK(in->major >= 1 && in->major <= 3 && in->minor == 0);
	CHECK(in->ndim <= SHMBLOCK_NPY_MAX_DIMS);
	CHECK(in->data_offset <= size);
	CHECK(in->nbytes <= size - in->data_offset);
	CHECK(in->descr >= base + 10 &&
	      in->descr + in->descr_len <= base + in->data_offset);
	for (i = 0; i < in->ndim; i++)
		count *= in->shape[i]; /* checked not to overflow */
	CHECK(count == in->count);
	CHECK(in->nbytes == in->count * in->itemsize);
}

/* A header rebuilt from the descr and shape read must read the same. */
static void check_rebuild(const struct shmblock_npy_info *in)
{
	struct shmblock_npy_info back;
	unsigned char *hdr;
	char *descr;
	ssize_t n;
	size_t i;
	bool odd = false;
	int rc;

	descr = malloc(in->descr_len + 1);
	CHECK(descr);
	memcpy(descr, in->descr, in->descr_len);
	descr[in->descr_len] = '\0';
	for (i = 0; i < in->descr_len; i++)
		if (descr[i] == '\n' || descr[i] == '\r' ||
		    ((unsigned char)descr[i] >= 0x80 && in->major < 3))
			odd = true;
	n = shmblock_npy_header_build(descr, in->ndim, in->shape,
				      in->fortran_order, 64, NULL, 0);
	if (n == -EINVAL &&
	    (odd || in->descr_len + 128 > SHMBLOCK_NPY_HEADER_MAX)) {
		free(descr);
		return;
	}
	CHECK(n > 0 && n % 64 == 0);
	hdr = malloc((size_t)n);
	CHECK(hdr);
	CHECK(shmblock_npy_header_build(descr, in->ndim, in->shape,
					in->fortran_order, 64, hdr,
					(size_t)n) == n);
	rc = shmblock_npy_probe(hdr, (size_t)n, (uint64_t)n + in->nbytes,
				&back);
	CHECK(rc == 0);
	CHECK(back.data_offset == (uint64_t)n);
	CHECK(back.itemsize == in->itemsize && back.count == in->count &&
	      back.nbytes == in->nbytes && back.ndim == in->ndim &&
	      back.fortran_order == in->fortran_order &&
	      back.structured == in->structured);
	CHECK(!memcmp(back.shape, in->shape, in->ndim * sizeof(in->shape[0])));
	/* The data must fit: one byte less is refused. */
	if (in->nbytes)
		CHECK(shmblock_npy_probe(hdr, (size_t)n,
					 (uint64_t)n + in->nbytes - 1,
					 NULL) == -EOVERFLOW);
	free(hdr);
	free(descr);
}

static void fuzz_probe(const uint8_t *data, size_t size)
{
	struct shmblock_npy_info info, part;
	unsigned char *buf;
	size_t k;
	int rc, rc_part;

	buf = malloc(size ? size : 1);
	CHECK(buf);
	memcpy(buf, data, size);
	rc = shmblock_npy_probe(buf, size, size, &info);
	CHECK(rc == 0 || refusal(rc));
	CHECK(shmblock_npy_probe(buf, size, size, NULL) == rc);
	if (rc == 0) {
		check_info(&info, buf, size);
		check_rebuild(&info);
		/* Every shorter prefix of the header asks for more. */
		for (k = 0; k < info.data_offset; k += 1 + k / 4) {
			rc_part = shmblock_npy_probe(buf, k, size, &part);
			CHECK(rc_part == -ENOBUFS);
			CHECK(part.data_offset > k &&
			      part.data_offset <= info.data_offset);
		}
		/* A block bigger than the data is still the same array. */
		CHECK(shmblock_npy_probe(buf, size, (uint64_t)size + 4096,
					 &part) == 0);
		CHECK(same_info(&info, &part));
	} else {
		/* A prefix never turns a refusal into an acceptance. */
		for (k = 0; k < size && k < 64; k += 7) {
			rc_part = shmblock_npy_probe(buf, k, size, &part);
			CHECK(rc_part == -ENOBUFS || refusal(rc_part));
		}
	}
	free(buf);
}

/* The pread probe gives exactly what the buffer probe gives. */
static void fuzz_probe_fd(const uint8_t *data, size_t size)
{
	struct shmblock_npy_info ref, got;
	unsigned char *copy, *buf, small[64];
	size_t buflen = size > 12 ? size : 12;
	int rc_ref, rc;

	if (mem_fd < 0) {
		mem_fd = memfd_create("fuzz-npy", MFD_CLOEXEC);
		CHECK(mem_fd >= 0);
	}
	if (ftruncate(mem_fd, (off_t)size) < 0 ||
	    pwrite(mem_fd, data, size, 0) != (ssize_t)size)
		abort();
	copy = malloc(size ? size : 1);
	buf = malloc(buflen);
	CHECK(copy && buf);
	memcpy(copy, data, size);
	rc_ref = shmblock_npy_probe(copy, size, size, &ref);
	rc = shmblock_npy_probe_fd(mem_fd, size, buf, buflen, &got);
	CHECK(rc == rc_ref);
	if (rc == 0) {
		CHECK(got.descr >= (const char *)buf &&
		      got.descr + got.descr_len <= (const char *)buf + buflen);
		/* Compare descr text through the reference's own pointer. */
		CHECK(!memcmp(got.descr, ref.descr, ref.descr_len));
		got.descr = ref.descr;
		CHECK(same_info(&ref, &got));
	}
	rc = shmblock_npy_probe_fd(mem_fd, size, small, sizeof(small), &got);
	if (rc == -ENOBUFS)
		CHECK(got.data_offset > sizeof(small) && rc_ref != -ENOBUFS);
	else
		CHECK(rc == rc_ref);
	/* A file shorter than the caller's size (buf fits the file only). */
	rc = shmblock_npy_probe_fd(mem_fd, (uint64_t)size + 64, buf, buflen,
				   NULL);
	CHECK(rc == 0 || rc == -EAGAIN || rc == -ENOBUFS || refusal(rc));
	free(copy);
	free(buf);
}

/* The input as a descr and as a shape text: refused cleanly or consistent. */
static void fuzz_text(const uint8_t *data, size_t size)
{
	struct shmblock_npy_info info;
	uint64_t shape[SHMBLOCK_NPY_MAX_DIMS], again[SHMBLOCK_NPY_MAX_DIMS];
	unsigned ndim, ndim2;
	char *text, out[SHMBLOCK_NPY_MAX_DIMS * 21 + 1];
	ssize_t n;
	int rc;

	text = malloc(size + 1);
	CHECK(text);
	memcpy(text, data, size);
	text[size] = '\0';
	rc = shmblock_npy_describe(text, 0, NULL, false, &info);
	CHECK(rc == 0 || rc == -EINVAL || rc == -ENOTSUP || rc == -EOVERFLOW ||
	      rc == -ENOMEM);
	if (rc == 0)
		CHECK(info.count == 1 && info.nbytes == info.itemsize);
	rc = shmblock_npy_shape_parse(text, size, shape, &ndim);
	CHECK(rc == 0 || rc == -EINVAL || rc == -EOVERFLOW);
	if (rc == 0) {
		n = shmblock_npy_shape_format(shape, ndim, ',', out,
					      sizeof(out));
		CHECK(n >= 0 && (size_t)n < sizeof(out));
		CHECK(shmblock_npy_shape_parse(out, (size_t)n, again, &ndim2) ==
		      0);
		CHECK(ndim2 == ndim &&
		      !memcmp(again, shape, ndim * sizeof(shape[0])));
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_probe(data, size);
	fuzz_probe_fd(data, size);
	fuzz_text(data, size);
	return 0;
}
