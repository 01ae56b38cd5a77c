/* SPDX-License-Identifier: MIT */
/*
 * Kernel FUSE passthrough (Linux 6.9+) on libfuse 3.14, which has no API for
 * it: a custom I/O hook negotiates FUSE_PASSTHROUGH at INIT and marks OPEN and
 * CREATE replies, so read, write and mmap of an open file go straight to the
 * block's own pages.  See docs/passthrough.md.
 */
#ifndef SHMFS_PASSTHROUGH_H
#define SHMFS_PASSTHROUGH_H

#include <stdbool.h>
#include <stdint.h>

struct fuse_session;
struct passthrough;

enum passthrough_mode {
	PASSTHROUGH_AUTO, /* use it when the kernel and our privileges allow */
	PASSTHROUGH_OFF,  /* -o nopassthrough: data goes through the daemon */
};

/*
 * Installs the I/O hook on a mounted session, before its loop runs.
 * `allow_shared_mmap` (-o mmapcopy) lets MAP_SHARED mappings of files in
 * fallback mode be served from the FUSE page cache, a copy that is not the
 * block's pages; without it (the default) such mappings fail with ENODEV.  The hook's state is one per process (libfuse 3.14
 * hands the hooks the daemon's userdata, not ours).  Errors: -ENOMEM,
 * -EBUSY (already installed in this process), or libfuse's refusal as
 * -EINVAL.
 */
int passthrough_install(struct fuse_session *se, enum passthrough_mode mode,
			bool allow_shared_mmap, struct passthrough **out);

/*
 * Waits until the reply to the kernel's INIT has been written: from then on
 * the mount answers requests.  Returns 0, or -ECONNABORTED when it never
 * will be (passthrough_give_up_init).  A condition wait, not a look at the
 * mount point: a thread of the daemon that touched its own mount before
 * INIT would sleep in the kernel, and under valgrind, which runs one thread
 * at a time, would keep the threads that answer INIT from running.
 */
int passthrough_wait_init(struct passthrough *pt);

/* The session ended: wake passthrough_wait_init.  NULL is ignored. */
void passthrough_give_up_init(struct passthrough *pt);

/* Frees the state; call after the session is destroyed. */
void passthrough_free(struct passthrough *pt);

/*
 * True once INIT has negotiated passthrough with the kernel (mode AUTO, the
 * kernel offers it, and we have CAP_SYS_ADMIN); false again for good after
 * the kernel refused a backing file with EPERM.
 */
bool passthrough_active(const struct passthrough *pt);

/*
 * Why passthrough is not active, in a few words for the log ("-o
 * nopassthrough", "the daemon lacks CAP_SYS_ADMIN", ...); NULL when it is.
 */
const char *passthrough_reason(const struct passthrough *pt);

/*
 * Registers `fd` with the kernel as a backing file.  Returns the backing id
 * (> 0) or -errno (-EPERM when passthrough is not active or not permitted).
 */
int passthrough_backing_open(struct passthrough *pt, int fd);

/* Drops the daemon's registration; files already open keep their own. */
void passthrough_backing_close(struct passthrough *pt, int backing_id);

/*
 * Makes the next OPEN or CREATE reply sent by the calling thread a
 * passthrough open of `backing_id`.  Call right before fuse_reply_open() or
 * fuse_reply_create() in the same handler; libfuse sends the reply on the
 * caller's thread, where the hook picks the id up and clears it.
 */
void passthrough_mark_reply(struct passthrough *pt, int backing_id);

#endif
