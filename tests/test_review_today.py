# SPDX-License-Identifier: MIT
"""Review of the changes of 2026-11-29: reads of a list item by span on a
block that changes under its layout (de5fb0e), the lifetime enforcer's
skipped and merged notes (fdba1b6), a CREATE that adopts its descriptor
(76e588c) and the guardian of the connection (b3df6bf, 98b1f88)."""

import errno
import os
import re
import signal
import subprocess
import tempfile
import time
from multiprocessing.shared_memory import ShareableList

import pytest

from conftest import SHM_DIR, untrack
from mountutil import (SHMFS, daemon_pids, fuse_mounts, shmfs,  # noqa: F401
                       wait_for, wait_gone)
from slist_ctypes import Probed, load

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

XATTR = "user.shmfs.lifetime"
FUSECTL = "/sys/fs/fuse/connections"


def fds_of(pid):
    d = "/proc/%d/fd" % pid
    out = {}
    for fd in os.listdir(d):
        try:
            out[int(fd)] = os.readlink(os.path.join(d, fd))
        except OSError:
            pass
    return out


def unescape(field):
    """A mountinfo path: space, tab, newline and backslash are \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def conn_of(mount_dir):
    """The connection number as fusectl names it (the mount's st_dev)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if unescape(fields[4]) == mount_dir:
                major, minor = fields[2].split(":")
                return (int(major) << 20) | int(minor)
    return None


# ------------------------------------------------ de5fb0e: reads by span

@pytest.fixture(scope="module")
def slib():
    return load()


def make_list(name, values):
    sl = ShareableList(values, name=name)
    untrack(sl.shm)
    return sl


@pytest.mark.parametrize("big", [False, True], ids=["stack", "heap"])
def test_span_get_follows_truncate_grow_rewrite(slib, prefix, big):
    """A layout probed once, then the block truncated, grown with zeros and
    rewritten by CPython (same layout, other values): every get either fails
    or returns what CPython reads at that moment, never a value of before."""
    name = prefix + "span"
    text = "x" * (5000 if big else 10)
    first = [text, 12345, b"ab", 2.5, True, None]
    second = [text.replace("x", "y"), -7, b"cd", -1.5, False, None]
    sl = make_list(name, first)
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        p = Probed(slib, fd, size)
        assert p.rc == 0
        assert [p.get(i)[1] for i in range(len(first))] == first
        # Truncated below every item's span: nothing can be read.
        os.ftruncate(fd, 16)
        for i in range(len(first)):
            assert p.get(i) == (-errno.EAGAIN, None), i
        # Grown back with zeros: the formats are gone.
        os.ftruncate(fd, size)
        for i in range(len(first)):
            rc, v = p.get(i)
            assert rc < 0 and v is None, (i, rc, v)
        sl.shm.close()
        os.unlink(os.path.join(SHM_DIR, name))
        # The same name made again holds other values; the old descriptor
        # sees the old (zeroed) file, so build the second one in place.
        other = make_list(prefix + "other", second)
        with open(os.path.join(SHM_DIR, prefix + "other"), "rb") as f:
            data = f.read()
        assert len(data) == size
        os.pwrite(fd, data, 0)
        got = [p.get(i)[1] for i in range(len(second))]
        assert got == list(other)
        # Grown past its size: the layout reads what it read before.
        os.ftruncate(fd, size + (1 << 20))
        assert [p.get(i)[1] for i in range(len(second))] == list(other)
        p.close()
        other.shm.close()
    finally:
        os.close(fd)


# ----------------------------------------- fdba1b6: the lifetime enforcer

def sleeper():
    return subprocess.Popen(["sleep", "60"])


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


# ------------------------------------- 76e588c: CREATE adopts its block

def daemon_fd_count(m):
    return len([t for t in fds_of(m.proc.pid).values()
                if t.startswith(SHM_DIR + "/")])


@pytest.mark.parametrize("opts", [(), ("nopassthrough",)],
                         ids=["passthrough", "fallback"])
def test_create_holds_no_descriptor_after_close(shmfs, prefix, opts):
    """Creates that succeed, fail (EEXIST with O_EXCL) or are raced by an
    unlink outside leave the daemon holding no block once all are closed,
    and what was written is what the block holds."""
    m = shmfs(*opts)
    os.listdir(m.dir)
    for i in range(30):
        flags = os.O_CREAT | os.O_EXCL | os.O_RDWR
        if i % 3 == 1:
            flags |= os.O_APPEND
        fd = os.open(m.path("n%d" % i), flags, 0o600)
        try:
            os.write(fd, b"v%d" % i)
            assert os.fstat(fd).st_size == len(b"v%d" % i)
            if i % 3 == 2:
                os.unlink(m.block("n%d" % i))
        finally:
            os.close(fd)
        assert errno_of(os.open, m.path("n0"), flags, 0o600) == errno.EEXIST
    for i in range(30):
        p = m.block("n%d" % i)
        if i % 3 == 2:
            assert not os.path.exists(p)
        else:
            with open(p, "rb") as f:
                assert f.read() == b"v%d" % i
    assert wait_for(lambda: daemon_fd_count(m) == 0, 5), fds_of(m.proc.pid)


def test_create_a_read_only_mode(shmfs, prefix):
    """O_CREAT of a 0444 file opened for writing: like tmpfs the creator
    may write this once; a later open for writing is refused (for a user,
    not root) -- the adopted read-write descriptor must not widen that."""
    m = shmfs()
    fd = os.open(m.path("ro"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444)
    os.write(fd, b"ro")
    os.close(fd)
    assert oct(os.stat(m.block("ro")).st_mode & 0o777) == "0o444"
    r = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "/usr/bin/python3", "-c",
         "import os, sys\n"
         "try:\n"
         "    os.open(sys.argv[1], os.O_WRONLY)\n"
         "    print('opened')\n"
         "except OSError as e:\n"
         "    print(e.errno)\n", m.path("ro")],
        capture_output=True, text=True)
    assert r.stdout.strip() == str(errno.EACCES), r


def errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


# ------------------------------------ b3df6bf, 98b1f88: the guardian

def check_guardian(daemon_pid, mount_dir):
    guards = daemon_pids(mount_dir, guardians=True)
    assert len(guards) == 1
    g = guards[0]
    with open("/proc/%d/stat" % g) as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == daemon_pid
    fds = fds_of(g)
    want = "%s/%d/abort" % (FUSECTL, conn_of(mount_dir))
    assert fds == {3: want}, fds
    return g


def test_guardian_holds_only_its_abort_file(shmfs):
    m = shmfs()
    g = check_guardian(m.proc.pid, m.dir)
    # SIGTERM to the guardian alone changes nothing: still there, mount
    # still served, and it goes with an orderly exit.
    os.kill(g, signal.SIGTERM)
    os.kill(g, signal.SIGUSR1)
    time.sleep(0.2)
    assert os.path.exists("/proc/%d" % g)
    with open(m.path("x"), "wb") as f:
        f.write(b"x")
    assert os.listdir(m.dir) == ["x"]
    assert m.close() == 0
    assert wait_gone([g])


@pytest.fixture
def mountpoints():
    made = []

    def make():
        d = tempfile.mkdtemp(prefix="shmfs-mnt-")
        made.append(d)
        return d

    yield make
    for d in made:
        for pid in daemon_pids(d):
            os.kill(pid, signal.SIGKILL)
        if d in fuse_mounts():
            subprocess.run(["umount", "-l", d], check=False)
        os.rmdir(d)


def mount_in_background(d, prefix):
    """shmfs -o prefix=PREFIX D, as a user starts it: in the background."""
    r = subprocess.run([SHMFS, "-o", "prefix=" + prefix, d],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r


def test_background_guardian_and_kill(mountpoints, prefix):
    """In the background: the guardian is the daemon's (not the parent's
    that exited), holds only its abort file, and a SIGKILL of that daemon
    cuts its connection alone: a second mount goes on."""
    a, b = mountpoints(), mountpoints()
    for d, p in ((a, prefix + "a-"), (b, prefix + "b-")):
        mount_in_background(d, p)
    da, db = daemon_pids(a), daemon_pids(b)
    assert len(da) == len(db) == 1
    time.sleep(0.2)      # the parent's exit must not have fired it
    ga = check_guardian(da[0], a)
    gb = check_guardian(db[0], b)
    with open(os.path.join(a, "f"), "wb") as f:
        f.write(b"a")
    os.kill(da[0], signal.SIGKILL)
    assert wait_gone([da[0], ga])
    assert errno_of(os.listdir, a) in (errno.ENOTCONN, errno.ECONNABORTED)
    # The other mount, its daemon and its guardian are untouched.
    with open(os.path.join(b, "g"), "wb") as f:
        f.write(b"b")
    assert os.listdir(b) == ["g"]
    assert os.path.exists("/proc/%d" % gb)
    subprocess.run(["fusermount3", "-u", b], check=True)
    assert wait_gone([db[0], gb])
    subprocess.run(["umount", "-l", a], check=False)


def test_guardian_of_a_mount_point_with_a_space(mountpoints, prefix):
    """mountinfo writes a space in a path as \\040: the daemon must still
    find its connection, or a killed daemon leaves its mount hanging."""
    d = os.path.join(mountpoints(), "with space")
    os.mkdir(d)
    r = mount_in_background(d, prefix)
    pids = daemon_pids(d)
    assert len(pids) == 1
    try:
        assert b"no guardian" not in r.stderr, r.stderr
        g = check_guardian(pids[0], d)
    finally:
        subprocess.run(["fusermount3", "-u", d], check=False)
        wait_gone(pids)
        os.rmdir(d)
    assert wait_gone([g])


def test_guardian_never_takes_another_mounts_connection(mountpoints, prefix):
    """A mount point named with a backslash and 040 (as mountinfo escapes a
    space) next to one with a space: the guardian of the first must hold
    its own abort file, and its daemon's death must not cut the other."""
    top = mountpoints()
    spaced = os.path.join(top, "a b")
    literal = os.path.join(top, "a\\040b")
    os.mkdir(spaced)
    os.mkdir(literal)
    try:
        for d, p in ((spaced, prefix + "s-"), (literal, prefix + "l-")):
            mount_in_background(d, p)
        ds, dl = daemon_pids(spaced), daemon_pids(literal)
        assert len(ds) == len(dl) == 1
        gl = daemon_pids(literal, guardians=True)
        assert len(gl) == 1
        abort = fds_of(gl[0]).get(3)
        assert abort == "%s/%d/abort" % (FUSECTL, conn_of(literal)), abort
        os.kill(dl[0], signal.SIGKILL)
        assert wait_gone(dl + gl)
        with open(os.path.join(spaced, "f"), "wb") as f:
            f.write(b"s")
        assert os.listdir(spaced) == ["f"]
    finally:
        for d in (spaced, literal):
            pids = daemon_pids(d)
            # A dead mount can't be stat'ed, and /proc/self/mounts escapes.
            subprocess.run(["umount", "-l", d], check=False,
                           stderr=subprocess.DEVNULL)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            wait_gone(pids)
            os.rmdir(d)
