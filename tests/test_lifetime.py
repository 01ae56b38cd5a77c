# SPDX-License-Identifier: MIT
"""Lifetimes (issue 15, docs/shmfs.md "Lifetimes"): the daemon removes a
block when its owner exits, when its last holder lets go, or after it sits
idle, never another block under the same name, and never for a policy its
setter could not have carried out by unlinking the block."""

import ctypes
import errno
import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import BUILD, SHM_DIR, load_library
from mountutil import errno_of, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

XATTR = "user.shmfs.lifetime"
SCAN = 0.3  # -o lifetime_scan, seconds
NOBODY = 65534


def python313():
    """A CPython 3.13 from pyenv, or None."""
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    found = sorted(glob.glob(os.path.join(root, "versions", "3.13*",
                                          "bin", "python3")))
    return found[-1] if found else None


PY313 = python313()

# A worker of the pool: attaches, touches the block, says so, and holds it
# until its stdin closes (or it is killed).  3.13 attaches with
# track=False; older versions unregister from the resource tracker.
WORKER = r"""
import sys
from multiprocessing import shared_memory
name = sys.argv[1]
if sys.version_info >= (3, 13):
    s = shared_memory.SharedMemory(name, track=False)
else:
    s = shared_memory.SharedMemory(name)
    from multiprocessing import resource_tracker
    resource_tracker.unregister(s._name, "shared_memory")
s.buf[0] = 7
print("held", flush=True)
sys.stdin.read()
s.close()
"""


class Pool:
    """Worker processes holding blocks; all are killed at the end."""

    def __init__(self):
        self.procs = []

    def hold(self, name, python=None):
        p = subprocess.Popen([python or sys.executable, "-c", WORKER, name],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        self.procs.append(p)
        assert p.stdout.readline().strip() == "held"
        return p

    @staticmethod
    def release(p):
        p.stdin.close()
        p.wait(timeout=10)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


@pytest.fixture
def pool():
    p = Pool()
    yield p
    p.close()


@pytest.fixture
def lt(shmfs):  # noqa: F811
    """A mount whose holders scan runs every SCAN seconds."""
    return lambda *opts: shmfs("lifetime_scan=%g" % SCAN, *opts)


def create(path, mode=0o600, data=b"\0" * 4096):
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode)
    os.write(fd, data)
    os.close(fd)
    os.chmod(path, mode)


def gone(path):
    return not os.path.exists(path)


def logged(m, text, timeout=2):
    """Whether the daemon logs `text` within `timeout` (a removal's line
    comes just after the name goes: it is taken, checked, then unlinked)."""
    return wait_for(lambda: text in m.stderr(), timeout)


def sleeper():
    return subprocess.Popen(["sleep", "60"])


# ---------------------------------------------------------------- core

def test_core_parse_format_set_get(prefix):
    lib = load_library()

    class Lifetime(ctypes.Structure):
        _fields_ = [("kind", ctypes.c_int), ("pid", ctypes.c_int),
                    ("start_time", ctypes.c_uint64),
                    ("idle_seconds", ctypes.c_uint64)]

    lib.shmblock_lifetime_parse.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                            ctypes.POINTER(Lifetime)]
    lib.shmblock_set_lifetime.argtypes = [ctypes.c_int, ctypes.c_char_p,
                                          ctypes.POINTER(Lifetime)]
    lib.shmblock_get_lifetime.argtypes = lib.shmblock_set_lifetime.argtypes
    good = [b"persist", b"owner", b"owner=12", b"owner=12:345",
            b"last-holder", b"last-holder\n", b"idle=1", b"idle=3600"]
    bad = [b"", b"owner=", b"owner=0", b"owner=1:", b"owner=x", b"idle=",
           b"idle=0", b"idle=-1", b"idle=1s", b"last-holder ", b"Persist",
           b"idle=99999999999999999999999", b"owner=1:0"]
    for text in good:
        assert lib.shmblock_lifetime_parse(text, len(text),
                                           ctypes.byref(Lifetime())) == 0, text
    for text in bad:
        assert lib.shmblock_lifetime_parse(
            text, len(text), ctypes.byref(Lifetime())) == -errno.EINVAL, text

    name = prefix + "core"
    create(os.path.join(SHM_DIR, name))
    lt = Lifetime(kind=1)  # owner: the caller
    assert lib.shmblock_set_lifetime(-1, name.encode(), ctypes.byref(lt)) == 0
    value = os.getxattr(os.path.join(SHM_DIR, name), XATTR).decode()
    with open("/proc/self/stat") as f:
        start = f.read().rsplit(")", 1)[1].split()[19]
    assert value == "owner=%d:%s" % (os.getpid(), start)
    got = Lifetime()
    assert lib.shmblock_get_lifetime(-1, name.encode(), ctypes.byref(got)) == 0
    assert (got.kind, got.pid) == (1, os.getpid())
    gone_pid = Lifetime(kind=1, pid=4194303)
    assert lib.shmblock_set_lifetime(-1, name.encode(),
                                     ctypes.byref(gone_pid)) == -errno.ESRCH
    assert lib.shmblock_set_lifetime(-1, b"a/b",
                                     ctypes.byref(lt)) == -errno.EINVAL
    assert lib.shmblock_set_lifetime(-1, (prefix + "none").encode(),
                                     ctypes.byref(lt)) == -errno.ENOENT
    os.setxattr(os.path.join(SHM_DIR, name), XATTR, b"bogus")
    assert lib.shmblock_get_lifetime(-1, name.encode(),
                                     ctypes.byref(got)) == -errno.EBADMSG
    out = subprocess.run([os.path.join(BUILD, "core", "lsshm"), "-r", "-n",
                          "-o", "NAME,LIFETIME"], capture_output=True,
                         text=True).stdout
    assert "%s invalid" % name in out.splitlines()
    assert lib.shmblock_set_lifetime(-1, name.encode(),
                                     ctypes.byref(Lifetime(kind=0))) == 0
    assert errno_of(os.getxattr, os.path.join(SHM_DIR, name),
                    XATTR) == errno.ENODATA


# ---------------------------------------------------------------- policies

def test_last_holder_pool(lt, prefix, pool):
    """A pool of CPython workers (3.13 with track=False when pyenv has it):
    the block stays while any of them maps it, and is gone within the scan
    period after the last one lets go."""
    m = lt()
    from multiprocessing import shared_memory, resource_tracker
    shm = shared_memory.SharedMemory(prefix + "pool", create=True, size=8192)
    resource_tracker.unregister(shm._name, "shared_memory")
    path = m.block("pool")
    try:
        os.setxattr(path, XATTR, b"last-holder")
        workers = [pool.hold(prefix + "pool", PY313 if i % 2 else None)
                   for i in range(4)]
        time.sleep(2 * SCAN)
    finally:
        shm.close()
    assert os.getxattr(m.path("pool"), XATTR) == b"last-holder"
    for w in workers[:-1]:
        pool.release(w)
        time.sleep(2 * SCAN)
        assert os.path.exists(path), m.stderr()
    os.kill(workers[-1].pid, signal.SIGKILL)
    assert wait_for(lambda: gone(path), 3 * SCAN + 1), m.stderr()
    assert logged(m, "removed %spool" % prefix), m.stderr()
    assert "its last holder has let go" in m.stderr()


def test_owner_killed(lt, prefix, pool):
    """owner, set through the mount by the owner itself: gone right after
    it is SIGKILLed, long before any scan (no holders policy here)."""
    m = shmfs_slow = lt()
    create(m.block("own"))
    owner = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys; os.setxattr(sys.argv[1], %r, b'owner'); "
         "print('set', flush=True); sys.stdin.read()" % XATTR,
         m.path("own")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)
    pool.procs.append(owner)
    assert owner.stdout.readline().strip() == "set"
    value = os.getxattr(m.block("own"), XATTR).decode()
    assert value.startswith("owner=%d:" % owner.pid)
    time.sleep(0.3)
    assert os.path.exists(m.block("own"))
    owner.kill()
    owner.wait()
    t0 = time.monotonic()
    assert wait_for(lambda: gone(m.block("own")), 2), shmfs_slow.stderr()
    assert time.monotonic() - t0 < 0.5
    assert logged(m, "its owner has exited"), m.stderr()


def test_owner_pid_reuse_and_bad_values(lt, prefix):
    """A stored start time that is not the process's: the owner counts as
    gone.  Bad values through the mount: EINVAL; an owner that does not
    exist: ESRCH."""
    m = lt()
    create(m.block("reused"))
    create(m.block("bad"))
    s = sleeper()
    try:
        # pid alive, start time not its own: another process had the pid.
        os.setxattr(m.block("reused"), XATTR, b"owner=%d:1" % s.pid)
        assert wait_for(lambda: gone(m.block("reused")), 2), m.stderr()
        for bad in (b"forever", b"idle=0", b"owner=1:", b"idle=5m"):
            assert errno_of(os.setxattr, m.path("bad"), XATTR,
                            bad) == errno.EINVAL, bad
        assert errno_of(os.setxattr, m.path("bad"), XATTR,
                        b"owner=4194303") == errno.ESRCH
        os.setxattr(m.path("bad"), XATTR, b"owner=%d" % s.pid)
        assert os.getxattr(m.path("bad"), XATTR).startswith(
            b"owner=%d:" % s.pid)
        assert os.path.exists(m.block("bad"))
    finally:
        s.kill()
        s.wait()
    assert wait_for(lambda: gone(m.block("bad")), 2), m.stderr()


def test_idle_holder_comes_and_goes(lt, prefix, pool):
    """idle=2: held longer than that, it stays; released and taken again
    within the 2 s, it stays; released for good, it goes after 2 s (and
    within a scan period more)."""
    m = lt()
    path = m.block("idle")
    create(path)
    os.setxattr(m.path("idle"), XATTR, b"idle=2")
    w = pool.hold(prefix + "idle")
    time.sleep(2.5)
    assert os.path.exists(path)
    pool.release(w)
    w = pool.hold(prefix + "idle")  # back well within the 2 s
    time.sleep(1)
    assert os.path.exists(path), m.stderr()
    pool.release(w)
    released = time.monotonic()
    assert wait_for(lambda: gone(path), 2 + 3 * SCAN + 1), m.stderr()
    assert time.monotonic() - released >= 1.9
    assert logged(m, "it sat idle"), m.stderr()


# ---------------------------------------------------------------- races

def test_recreated_before_removal(lt, prefix):
    """The name is given to a new block before the owner exits: the new
    block (no policy) is not removed for the old one's."""
    m = lt()
    s = sleeper()
    try:
        create(m.block("re"))
        os.setxattr(m.block("re"), XATTR, b"owner=%d" % s.pid)
        os.unlink(m.block("re"))
        create(m.block("re"), data=b"new")
        time.sleep(0.3)
    finally:
        s.kill()
        s.wait()
    time.sleep(0.5)
    with open(m.block("re"), "rb") as f:
        assert f.read() == b"new"


def pause_mount(lt, ms):
    os.environ["SHMFS_TEST_REMOVE_PAUSE_MS"] = str(ms)
    try:
        return lt()
    finally:
        del os.environ["SHMFS_TEST_REMOVE_PAUSE_MS"]


def test_recreated_during_removal(lt, prefix):
    """The name is recreated while the daemon is removing it, in both
    windows: right before it takes the name (the new block is taken, found
    to be another, and put back) and while it holds it under its private
    name (the other block is kept under a visible name of its own)."""
    m = pause_mount(lt, 600)
    path = m.block("race")
    for case in ("before", "both"):
        create(path, data=b"old")
        s = sleeper()
        os.setxattr(path, XATTR, b"owner=%d" % s.pid)
        time.sleep(0.2)
        s.kill()
        s.wait()
        line = "test pause before taking " + prefix + "race"
        assert wait_for(lambda: m.stderr().count(line) ==
                        (1 if case == "before" else 2), 3)
        os.unlink(path)
        create(path, data=b"new1")
        if case == "both":
            assert wait_for(lambda: gone(path), 2)  # taken
            create(path, data=b"new2")
        time.sleep(1.5)
        with open(path, "rb") as f:
            assert f.read() == (b"new1" if case == "before" else b"new2")
        if case == "both":
            kept = glob.glob(path + ".shmfs-kept-*")
            assert len(kept) == 1, m.stderr()
            with open(kept[0], "rb") as f:
                assert f.read() == b"new1"
            assert "recreated twice" in m.stderr()
        assert "is another block now; left alone" in m.stderr()
        os.unlink(path)


# ---------------------------------------------------------------- trust

def as_nobody(code, *args):
    r = subprocess.run([sys.executable, "-c", code, *args], user=NOBODY,
                       group=NOBODY, extra_groups=[], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_policy_of_one_who_may_not_unlink_is_ignored(lt, prefix, pool):
    """A writer who may not unlink the block (nobody, on root's 0666 block
    in the sticky /dev/shm) sets last-holder, directly and through the
    mount: ignored, logged with the reason; root's through the mount on the
    same kind of block is honoured."""
    m = lt("allow_other")
    direct, mounted, rooted = (m.block(n) for n in ("d", "m", "r"))
    for p in (direct, mounted, rooted):
        create(p, mode=0o666)
    set_code = "import os, sys; os.setxattr(sys.argv[1], %r, b'last-holder')"
    as_nobody(set_code % XATTR, direct)
    as_nobody(set_code % XATTR, m.path("m"))
    os.setxattr(m.path("r"), XATTR, b"last-holder")
    held = [pool.hold(prefix + n) for n in ("d", "m", "r")]
    time.sleep(3 * SCAN)  # seen held by a scan
    for w in held:
        pool.release(w)
    assert wait_for(lambda: gone(rooted), 3 * SCAN + 1), m.stderr() + str(
        {x: os.getxattr(rooted, x) for x in os.listxattr(rooted)}) + \
        subprocess.run([os.path.join(BUILD, "core", "lsshm")],
                       capture_output=True, text=True).stdout
    time.sleep(3 * SCAN)
    assert os.path.exists(direct) and os.path.exists(mounted)
    err = m.stderr()
    for n in ("d", "m"):
        ignored = [l for l in err.splitlines()
                   if "ignored %s%s " % (prefix, n) in l]
        assert len(ignored) == 1, err  # logged once
        assert "writable by group or others, who may not remove it" in \
            ignored[0]


# ---------------------------------------------------------------- restart

def test_restart_honours_existing_policies(lt, prefix, pool):
    """Policies outlive the daemon: after a restart, an owner that exited
    meanwhile and a last-holder block released meanwhile are removed, and
    a block that is still held stays."""
    m = lt()
    s = sleeper()
    create(m.block("o"))
    os.setxattr(m.block("o"), XATTR, b"owner=%d" % s.pid)
    create(m.block("l"))
    create(m.block("held"))
    for n in ("l", "held"):
        os.setxattr(m.block(n), XATTR, b"last-holder")
    w = pool.hold(prefix + "l")
    keep = pool.hold(prefix + "held")

    def marked(n):
        try:
            os.getxattr(m.block(n), "trusted.shmfs.held")
            return True
        except OSError:
            return False

    # The daemon marks a block it has seen held (so that a release while
    # it is down still counts); a scan may take a while under a sanitizer.
    assert wait_for(lambda: marked("l") and marked("held"), 3 * SCAN + 10)
    m.close()
    s.kill()
    s.wait()
    pool.release(w)
    assert os.path.exists(m.block("o")) and os.path.exists(m.block("l"))
    m2 = lt()
    # A fresh daemon reads every policy and scans first: slow under a
    # sanitizer on a loaded machine, so the bound is generous.
    assert wait_for(lambda: gone(m2.block("o")) and gone(m2.block("l")),
                    3 * SCAN + 10), m2.stderr()
    assert os.path.exists(m2.block("held"))
    pool.release(keep)
    assert wait_for(lambda: gone(m2.block("held")), 3 * SCAN + 10)


def test_cleanup_option_still_works(lt, prefix):
    m = lt("cleanup")
    with open(m.path("made"), "wb") as f:
        f.write(b"x")
    os.setxattr(m.path("made"), XATTR, b"idle=3600")
    m.close()
    assert gone(m.block("made"))


# Policies set while blocks are renamed and unlinked outside the mount.

def make_block(path, data=b"\0" * 64):
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.write(fd, data)
    os.close(fd)


def test_policies_set_amid_renames_and_unlinks_outside(shmfs, prefix):
    """With nothing followed (removals skipped), blocks made, renamed,
    unlinked and made again outside, their policies set before and after
    the renames: each block with an owner policy goes when its owner does,
    and none without one."""
    m = shmfs("lifetime_scan=0.3")
    s = sleeper()
    try:
        # a: made, renamed, then given its policy under the new name.
        make_block(m.block("a"))
        os.rename(m.block("a"), m.block("a2"))
        os.setxattr(m.block("a2"), XATTR, b"owner=%d" % s.pid)
        # b: policy first, then renamed (a removal noted while followed).
        make_block(m.block("b"))
        os.setxattr(m.block("b"), XATTR, b"owner=%d" % s.pid)
        os.rename(m.block("b"), m.block("b2"))
        # c: unlinked while nothing may be followed, made again at once
        # with a policy, the policy set many times in a row.
        make_block(m.block("c"))
        os.unlink(m.block("c"))
        make_block(m.block("c"))
        for _ in range(20):
            os.setxattr(m.block("c"), XATTR, b"owner=%d" % s.pid)
        # d: renamed over a block with a policy; d has none.
        make_block(m.block("d"))
        make_block(m.block("e"))
        os.setxattr(m.block("e"), XATTR, b"owner=%d" % s.pid)
        os.rename(m.block("d"), m.block("e"))
        # f: made with a policy by rename over nothing.
        make_block(m.block("f.tmp"))
        os.setxattr(m.block("f.tmp"), XATTR, b"owner=%d" % s.pid)
        os.rename(m.block("f.tmp"), m.block("f"))
        time.sleep(0.3)
        assert all(os.path.exists(m.block(n)) for n in ("a2", "b2", "c", "e", "f"))
    finally:
        s.kill()
        s.wait()
    for n in ("a2", "b2", "c", "f"):
        assert wait_for(lambda: not os.path.exists(m.block(n))), n
    time.sleep(0.5)
    assert os.path.exists(m.block("e"))     # d's block, without a policy


def test_policy_set_right_after_unlink_of_last_followed(shmfs, prefix):
    """The one followed block goes (tracked becomes 0); a block made and
    given a policy right after, and one unlinked in between, are still
    enforced."""
    m = shmfs("lifetime_scan=0.3")
    s1, s2 = sleeper(), sleeper()
    try:
        make_block(m.block("one"))
        os.setxattr(m.block("one"), XATTR, b"owner=%d" % s1.pid)
        time.sleep(0.1)
        os.unlink(m.block("one"))
        make_block(m.block("gone"))
        os.unlink(m.block("gone"))
        make_block(m.block("two"))
        os.setxattr(m.block("two"), XATTR, b"owner=%d" % s2.pid)
        time.sleep(0.2)
    finally:
        s1.kill()
        s1.wait()
        s2.kill()
        s2.wait()
    assert wait_for(lambda: not os.path.exists(m.block("two")))
