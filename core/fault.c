/* SPDX-License-Identifier: MIT */
/* A SIGBUS from a guarded access to shared memory becomes -EFAULT. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>

#include "fault.h"

struct fault_guard {
	sigjmp_buf env;
	uintptr_t lo, hi; /* the range whose faults are ours */
};

/*
 * The calling thread's open guard, or NULL.  Initial-exec TLS: the handler
 * reads it in any thread, and a dynamic TLS access from a signal handler
 * could allocate (the library is loaded with dlopen by ctypes).
 */
static __thread struct fault_guard *volatile active
	__attribute__((tls_model("initial-exec")));

/* The disposition before ours; written once, before ours is in place. */
static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_rc;

/* Gives a SIGBUS that is not ours to what was there before us. */
static void pass_on(int sig, siginfo_t *si, void *ctx)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, ctx);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	/* A SIGBUS sent by kill(2) to a process that ignores it: ignored. */
	if (previous.sa_handler == SIG_IGN && si->si_code <= 0)
		return;
	/*
	 * The default action, as without us: a fault recurs when the handler
	 * returns and the kernel then ends the process; a sent signal is
	 * raised again (blocked until the handler returns).
	 */
	sigaction(sig, &dfl, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	struct fault_guard *g = active;
	uintptr_t addr = (uintptr_t)si->si_addr;

	if (g && si->si_code > 0 && addr >= g->lo && addr < g->hi)
		siglongjmp(g->env, 1);
	pass_on(sig, si, ctx);
}

static void install(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO | SA_ONSTACK };

	sigemptyset(&sa.sa_mask);
	/* previous is complete before our handler can run and read it. */
	if (sigaction(SIGBUS, NULL, &previous) < 0 ||
	    sigaction(SIGBUS, &sa, NULL) < 0)
		install_rc = -errno;
}

int shmblock__fault_guarded(const volatile void *addr, size_t len,
			    int (*fn)(void *arg), void *arg)
{
	struct fault_guard g;
	int rc;

	pthread_once(&install_once, install);
	if (install_rc < 0)
		return install_rc;
	g.lo = (uintptr_t)addr;
	g.hi = g.lo + len;
	/* The mask is saved: the handler runs with SIGBUS blocked. */
	if (sigsetjmp(g.env, 1)) {
		active = NULL;
		return -EFAULT;
	}
	active = &g;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	rc = fn(arg);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	active = NULL;
	return rc;
}
