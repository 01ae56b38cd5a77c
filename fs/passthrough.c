/* SPDX-License-Identifier: MIT */
/* Kernel FUSE passthrough on libfuse 3.14 through its custom I/O hook. */

/*
 * libfuse 3.14 knows nothing of passthrough (protocol 7.40), so this module
 * sits between libfuse and /dev/fuse: fuse_session_custom_io() routes every
 * request through hook_read() and every reply through hook_writev().
 *
 * - hook_read() notes the INIT request: its unique and the 64-bit flags the
 *   kernel offers (flags, plus flags2 when FUSE_INIT_EXT is set).
 * - hook_writev() amends the INIT reply with that unique: FUSE_PASSTHROUGH
 *   and max_stack_depth 1 (and no FUSE_WRITEBACK_CACHE, which the kernel
 *   refuses together with passthrough), FUSE_DIRECT_IO_ALLOW_MMAP when shared
 *   mappings of direct_io files are wanted.
 * - A handler that wants a passthrough open calls passthrough_mark_reply()
 *   right before fuse_reply_open()/fuse_reply_create().  libfuse writes the
 *   reply on the same thread, so a thread-local id reaches hook_writev(),
 *   which sets FOPEN_PASSTHROUGH and the backing id in fuse_open_out.  The
 *   mark is consumed by the next reply of the thread, whatever it is (an
 *   error reply included), so it can never leak into a later, unrelated
 *   reply; notifications (unique 0) leave it alone.
 *
 * libfuse 3.14 passes its session userdata (the daemon's) to the hooks, not
 * ours, so the state is one per process, in `installed`.
 */

#include <errno.h>
#include <pthread.h>
#include <linux/capability.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_log.h>
#include <fuse_lowlevel.h>

#include "passthrough.h"

/*
 * Protocol facts newer than the uapi header of Debian 12 (7.38) and of
 * libfuse 3.14; values from Linux include/uapi/linux/fuse.h (7.40+).
 */
#define PT_FUSE_INIT_EXT (UINT64_C(1) << 30)
#define PT_FUSE_WRITEBACK_CACHE (UINT64_C(1) << 16)
#define PT_FUSE_HANDLE_KILLPRIV_V2 (UINT64_C(1) << 28)
#define PT_FUSE_DIRECT_IO_ALLOW_MMAP (UINT64_C(1) << 36)
#define PT_FUSE_PASSTHROUGH (UINT64_C(1) << 37)
#define PT_FOPEN_DIRECT_IO (1u << 0)
#define PT_FOPEN_NOFLUSH (1u << 5)
#define PT_FOPEN_PASSTHROUGH (1u << 7)
#define PT_FUSE_OPCODE_INIT 26u

struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define PT_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct pt_backing_map)
#define PT_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* Byte offsets inside the message bodies (the kernel's layouts). */
#define INIT_IN_FLAGS 12u
#define INIT_IN_FLAGS2 16u
#define INIT_OUT_FLAGS 12u
#define INIT_OUT_FLAGS2 32u
#define INIT_OUT_STACK_DEPTH 36u
#define INIT_OUT_SIZE 64u /* sizeof(struct fuse_init_out), 7.36+ */
#define OPEN_OUT_FLAGS 8u
#define OPEN_OUT_BACKING_ID 12u
#define OPEN_OUT_SIZE 16u
#define ENTRY_OUT_SIZE sizeof(struct fuse_entry_out)

_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header");
_Static_assert(offsetof(struct fuse_init_in, flags2) == INIT_IN_FLAGS2,
	       "fuse_init_in.flags2");
_Static_assert(offsetof(struct fuse_init_out, flags2) == INIT_OUT_FLAGS2,
	       "fuse_init_out.flags2");
_Static_assert(sizeof(struct fuse_init_out) == INIT_OUT_SIZE, "fuse_init_out");
_Static_assert(sizeof(struct fuse_open_out) == OPEN_OUT_SIZE, "fuse_open_out");
_Static_assert(sizeof(struct fuse_entry_out) == 128, "fuse_entry_out");
_Static_assert(sizeof(struct pt_backing_map) == 16, "fuse_backing_map");

/* Largest reply the hook amends: a CREATE reply. */
#define PATCH_BUF_SIZE \
	(sizeof(struct fuse_out_header) + ENTRY_OUT_SIZE + OPEN_OUT_SIZE)

struct passthrough {
	int dev_fd; /* the session's /dev/fuse fd */
	enum passthrough_mode mode;
	bool allow_shared_mmap;
	bool may_register; /* CAP_SYS_ADMIN at install time */
	/*
	 * INIT bookkeeping.  hook_read() stores `init_offered` and then
	 * `init_unique` (release); hook_writev() loads `init_unique` (acquire)
	 * and claims the reply with `init_replied` exactly once.
	 */
	_Atomic uint64_t init_offered;
	_Atomic uint64_t init_unique; /* 0 until INIT arrives */
	atomic_bool init_replied;
	atomic_bool active; /* passthrough negotiated */
	/* The INIT reply: 0 not yet written, 1 written, -1 never will be. */
	pthread_mutex_t init_lock;
	pthread_cond_t init_cond;
	int init_state;
	atomic_bool denied; /* BACKING_OPEN said EPERM */
};

/* The one state of this process; the hooks can't be given their own. */
static struct passthrough *_Atomic installed;

/* Backing id for the next reply written by this thread; 0 for none. */
static _Thread_local int pending_backing_id;

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* True when this process has CAP_SYS_ADMIN, which BACKING_OPEN requires. */
static bool have_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return false;
	return data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &
	       CAP_TO_MASK(CAP_SYS_ADMIN);
}

/* Records what the kernel offers in an INIT request of `len` bytes. */
static void note_init(struct passthrough *pt, const unsigned char *msg,
		      size_t len)
{
	struct fuse_in_header in;
	const unsigned char *body = msg + sizeof(in);
	size_t body_len;
	uint64_t offered;

	memcpy(&in, msg, sizeof(in));
	if (in.len < len)
		len = in.len;
	if (len < sizeof(in) + INIT_IN_FLAGS + sizeof(uint32_t))
		return;
	body_len = len - sizeof(in);
	offered = get_u32(body + INIT_IN_FLAGS);
	if ((offered & PT_FUSE_INIT_EXT) &&
	    body_len >= INIT_IN_FLAGS2 + sizeof(uint32_t))
		offered |= (uint64_t)get_u32(body + INIT_IN_FLAGS2) << 32;
	atomic_store_explicit(&pt->init_offered, offered, memory_order_relaxed);
	atomic_store_explicit(&pt->init_unique, in.unique,
			      memory_order_release);
}

static ssize_t hook_read(int fd, void *buf, size_t buf_len, void *userdata)
{
	struct passthrough *pt = atomic_load(&installed);
	ssize_t res = read(fd, buf, buf_len);
	uint32_t opcode;

	(void)userdata;
	if (res < (ssize_t)sizeof(struct fuse_in_header) || pt == NULL ||
	    atomic_load_explicit(&pt->init_replied, memory_order_relaxed))
		return res;
	memcpy(&opcode,
	       (unsigned char *)buf + offsetof(struct fuse_in_header, opcode),
	       sizeof(opcode));
	if (opcode == PT_FUSE_OPCODE_INIT)
		note_init(pt, buf, (size_t)res);
	return res;
}

/* Copies the whole message into `buf` when it fits; returns its length or 0. */
static size_t gather(const struct iovec *iov, int count, unsigned char *buf,
		     size_t size)
{
	size_t total = 0;

	for (int i = 0; i < count; i++) {
		if (iov[i].iov_len > size - total)
			return 0;
		memcpy(buf + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	return total;
}

/*
 * Amends libfuse's INIT reply in `msg` (`*len` bytes, room for
 * PATCH_BUF_SIZE).  Returns true when passthrough was accepted.
 */
static bool patch_init(struct passthrough *pt, unsigned char *msg, size_t *len)
{
	unsigned char *body = msg + sizeof(struct fuse_out_header);
	size_t body_len = *len - sizeof(struct fuse_out_header);
	uint64_t offered =
		atomic_load_explicit(&pt->init_offered, memory_order_relaxed);
	uint64_t want;
	bool accept;

	if (body_len < INIT_OUT_FLAGS + sizeof(uint32_t))
		return false; /* a reply from before protocol 7.6 */
	want = get_u32(body + INIT_OUT_FLAGS);
	if ((want & PT_FUSE_INIT_EXT) &&
	    body_len >= INIT_OUT_FLAGS2 + sizeof(uint32_t))
		want |= (uint64_t)get_u32(body + INIT_OUT_FLAGS2) << 32;
	/* libfuse 3.14 never asks for these; the decision is ours alone. */
	want &= ~(PT_FUSE_PASSTHROUGH | PT_FUSE_DIRECT_IO_ALLOW_MMAP);

	accept = pt->mode == PASSTHROUGH_AUTO && pt->may_register &&
		 (offered & PT_FUSE_INIT_EXT) &&
		 (offered & PT_FUSE_PASSTHROUGH);
	if (accept)
		want = (want | PT_FUSE_PASSTHROUGH) & ~PT_FUSE_WRITEBACK_CACHE;
	/*
	 * The daemon clears set-id bits itself (ops_block.c), so the kernel
	 * need not ask for security.capability before every write: without
	 * this, each passthrough write(2) costs a GETXATTR round trip.
	 */
	if (offered & PT_FUSE_HANDLE_KILLPRIV_V2)
		want |= PT_FUSE_HANDLE_KILLPRIV_V2;
	if (pt->allow_shared_mmap && (offered & PT_FUSE_INIT_EXT) &&
	    (offered & PT_FUSE_DIRECT_IO_ALLOW_MMAP))
		want |= PT_FUSE_DIRECT_IO_ALLOW_MMAP;

	if (want >> 32) {
		want |= PT_FUSE_INIT_EXT;
		if (body_len < INIT_OUT_SIZE) {
			/* Extend a short (pre-7.36) reply with zeroes. */
			memset(body + body_len, 0, INIT_OUT_SIZE - body_len);
			body_len = INIT_OUT_SIZE;
			*len = sizeof(struct fuse_out_header) + body_len;
			put_u32(msg + offsetof(struct fuse_out_header, len),
				(uint32_t)*len);
		}
		put_u32(body + INIT_OUT_FLAGS2, (uint32_t)(want >> 32));
	}
	put_u32(body + INIT_OUT_FLAGS, (uint32_t)want);
	if (accept)
		put_u32(body + INIT_OUT_STACK_DEPTH, 1);
	return accept;
}

/*
 * Turns the OPEN (body = fuse_open_out) or CREATE (fuse_entry_out +
 * fuse_open_out) reply in `msg` into a passthrough open of `backing_id`.
 * Returns false when the reply is neither.
 */
static bool patch_open(unsigned char *msg, size_t len, int backing_id)
{
	size_t body_len = len - sizeof(struct fuse_out_header);
	unsigned char *open_out = msg + sizeof(struct fuse_out_header);
	uint32_t flags;

	if (body_len == ENTRY_OUT_SIZE + OPEN_OUT_SIZE)
		open_out += ENTRY_OUT_SIZE;
	else if (body_len != OPEN_OUT_SIZE)
		return false;
	/*
	 * The kernel refuses a passthrough open with flags outside
	 * PASSTHROUGH | DIRECT_IO | PARALLEL_DIRECT_WRITES | NOFLUSH
	 * (keep_cache, nonseekable, ... give EIO); direct_io means nothing
	 * once passthrough serves the file, so keep only NOFLUSH.
	 */
	flags = get_u32(open_out + OPEN_OUT_FLAGS);
	flags = (flags & PT_FOPEN_NOFLUSH) | PT_FOPEN_PASSTHROUGH;
	put_u32(open_out + OPEN_OUT_FLAGS, flags);
	put_u32(open_out + OPEN_OUT_BACKING_ID, (uint32_t)backing_id);
	return true;
}

/* Records that the INIT reply was written (1) or never will be (-1). */
static void set_init_state(struct passthrough *pt, int state)
{
	pthread_mutex_lock(&pt->init_lock);
	if (pt->init_state == 0)
		pt->init_state = state;
	pthread_cond_broadcast(&pt->init_cond);
	pthread_mutex_unlock(&pt->init_lock);
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct passthrough *pt = atomic_load(&installed);
	unsigned char msg[PATCH_BUF_SIZE];
	struct fuse_out_header out;
	struct iovec one;
	bool is_init = false, accept = false;
	int backing_id;
	size_t len;
	ssize_t res;

	(void)userdata;
	if (pt == NULL || count < 1 || iov[0].iov_len < sizeof(out))
		return writev(fd, iov, count);
	memcpy(&out, iov[0].iov_base, sizeof(out));
	if (out.unique == 0) /* a notification, not the marked reply */
		return writev(fd, iov, count);
	backing_id = pending_backing_id;
	pending_backing_id = 0;
	if (out.error != 0)
		return writev(fd, iov, count);

	if (!atomic_load_explicit(&pt->init_replied, memory_order_relaxed) &&
	    out.unique == atomic_load_explicit(&pt->init_unique,
					       memory_order_acquire))
		is_init = !atomic_exchange(&pt->init_replied, true);
	if (!is_init && backing_id <= 0)
		return writev(fd, iov, count);

	len = gather(iov, count, msg, sizeof(msg));
	if (len == 0) {
		if (backing_id > 0)
			fuse_log(FUSE_LOG_ERR, "shmfs: passthrough mark on a "
					       "reply that is not an open\n");
		return writev(fd, iov, count);
	}
	if (is_init) {
		accept = patch_init(pt, msg, &len);
	} else if (!patch_open(msg, len, backing_id)) {
		fuse_log(FUSE_LOG_ERR, "shmfs: passthrough mark on a reply "
				       "that is not an open\n");
		return writev(fd, iov, count);
	}
	one.iov_base = msg;
	one.iov_len = len;
	/*
	 * Active before the reply is written: the kernel answers requests
	 * that waited for INIT while this writev runs, and one of them (the
	 * readiness stat) may read the mode before we return.  No open can
	 * come before the reply, so nothing sees it set too early.
	 */
	if (accept)
		atomic_store(&pt->active, true);
	res = writev(fd, &one, 1);
	if (res < 0 && accept)
		atomic_store(&pt->active, false);
	set_init_state(pt, res < 0 ? -1 : 1);
	return res;
}

int passthrough_install(struct fuse_session *se, enum passthrough_mode mode,
			bool allow_shared_mmap, struct passthrough **out)
{
	const struct fuse_custom_io io = {
		.read = hook_read,
		.writev = hook_writev,
	};
	struct passthrough *pt, *expected = NULL;
	int fd = fuse_session_fd(se);
	int rc;

	if (fd < 0)
		return -EINVAL;
	pt = calloc(1, sizeof(*pt));
	if (pt == NULL)
		return -ENOMEM;
	pt->dev_fd = fd;
	pt->mode = mode;
	pt->allow_shared_mmap = allow_shared_mmap;
	pt->may_register = mode == PASSTHROUGH_AUTO && have_sys_admin();
	pthread_mutex_init(&pt->init_lock, NULL);
	pthread_cond_init(&pt->init_cond, NULL);
	if (!atomic_compare_exchange_strong(&installed, &expected, pt)) {
		rc = -EBUSY;
		goto err_free;
	}
	rc = fuse_session_custom_io(se, &io, fd);
	if (rc != 0) {
		rc = rc < 0 ? rc : -EINVAL;
		goto err_uninstall;
	}
	*out = pt;
	return 0;

err_uninstall:
	atomic_store(&installed, NULL);
err_free:
	pthread_cond_destroy(&pt->init_cond);
	pthread_mutex_destroy(&pt->init_lock);
	free(pt);
	return rc;
}

int passthrough_wait_init(struct passthrough *pt)
{
	int state;

	pthread_mutex_lock(&pt->init_lock);
	while (pt->init_state == 0)
		pthread_cond_wait(&pt->init_cond, &pt->init_lock);
	state = pt->init_state;
	pthread_mutex_unlock(&pt->init_lock);
	return state > 0 ? 0 : -ECONNABORTED;
}

void passthrough_give_up_init(struct passthrough *pt)
{
	if (pt)
		set_init_state(pt, -1);
}

void passthrough_free(struct passthrough *pt)
{
	struct passthrough *expected = pt;

	if (pt == NULL)
		return;
	atomic_compare_exchange_strong(&installed, &expected, NULL);
	pthread_cond_destroy(&pt->init_cond);
	pthread_mutex_destroy(&pt->init_lock);
	free(pt);
}

bool passthrough_active(const struct passthrough *pt)
{
	return pt != NULL && atomic_load(&pt->active) &&
	       !atomic_load(&pt->denied);
}

const char *passthrough_reason(const struct passthrough *pt)
{
	uint64_t offered;

	if (passthrough_active(pt))
		return NULL;
	if (pt == NULL)
		return "not set up";
	if (pt->mode == PASSTHROUGH_OFF)
		return "-o nopassthrough";
	if (!pt->may_register)
		return "the daemon lacks CAP_SYS_ADMIN, not root";
	if (atomic_load(&pt->denied))
		return "the kernel refused a backing file";
	if (!atomic_load(&pt->init_replied))
		return "INIT not answered yet";
	offered = atomic_load_explicit(&pt->init_offered, memory_order_relaxed);
	if (!(offered & PT_FUSE_PASSTHROUGH))
		return "the kernel does not offer it, Linux before 6.9 or "
		       "without CONFIG_FUSE_PASSTHROUGH";
	return "the kernel refused it";
}

int passthrough_backing_open(struct passthrough *pt, int fd)
{
	struct pt_backing_map map = { .fd = fd, .flags = 0, .padding = 0 };
	int id, err;

	if (!passthrough_active(pt))
		return -EPERM;
	id = ioctl(pt->dev_fd, PT_DEV_IOC_BACKING_OPEN, &map);
	if (id < 0) {
		err = errno;
		if (err == EPERM && !atomic_exchange(&pt->denied, true))
			fuse_log(FUSE_LOG_ERR,
				 "shmfs: the kernel refuses "
				 "backing files (EPERM); passthrough off\n");
		return -err;
	}
	if (id == 0)
		return -EIO; /* not a valid id; the kernel never gives it */
	return id;
}

void passthrough_backing_close(struct passthrough *pt, int backing_id)
{
	uint32_t id = (uint32_t)backing_id;

	if (pt == NULL || backing_id <= 0)
		return;
	if (ioctl(pt->dev_fd, PT_DEV_IOC_BACKING_CLOSE, &id) != 0)
		fuse_log(FUSE_LOG_ERR, "shmfs: closing backing id %d: %s\n",
			 backing_id, strerror(errno));
}

void passthrough_mark_reply(struct passthrough *pt, int backing_id)
{
	(void)pt;
	pending_backing_id = backing_id > 0 ? backing_id : 0;
}
