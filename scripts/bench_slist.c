// SPDX-License-Identifier: MIT
/*
 * Times shmblock_slist_get/set of int items on a mapped list; scripts/bench-slist
 * builds it against the static library and compares with CPython.
 * Usage: bench_slist ITEMS ITERATIONS; prints "get_ns set_ns" per operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shmblock.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	size_t items = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	size_t iters = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000000;
	struct shmblock_value *values, v;
	struct shmblock_slist *sl;
	volatile int64_t sink = 0;
	double t0, get_ns, set_ns;
	size_t i, k;
	int rc;

	if (items == 0 || iters == 0)
		return 2;
	values = calloc(items, sizeof(*values));
	if (!values)
		return 1;
	for (i = 0; i < items; i++) {
		values[i].type = SHMBLOCK_TYPE_INT;
		values[i].i = (int64_t)i;
	}
	rc = shmblock_slist_create(NULL, values, items, 0600, &sl);
	if (rc < 0) {
		fprintf(stderr, "create: %d\n", rc);
		return 1;
	}
	t0 = now_ns();
	for (i = 0, k = 0; i < iters; i++) {
		if (shmblock_slist_get(sl, k, &v, NULL, 0) < 0)
			abort();
		sink += v.i;
		if (++k == items)
			k = 0;
	}
	get_ns = (now_ns() - t0) / (double)iters;
	v.type = SHMBLOCK_TYPE_INT;
	t0 = now_ns();
	for (i = 0, k = 0; i < iters; i++) {
		v.i = (int64_t)i;
		if (shmblock_slist_set(sl, k, &v) < 0)
			abort();
		if (++k == items)
			k = 0;
	}
	set_ns = (now_ns() - t0) / (double)iters;
	shmblock_unlink(shmblock_slist_block(sl));
	shmblock_slist_close(sl);
	free(values);
	printf("%.2f %.2f\n", get_ns, set_ns);
	return sink == -1;
}
