# SPDX-License-Identifier: MIT
"""Locks through the mount are the block's (docs/locks.md): fcntl record
locks, OFD locks and flock taken through the mount conflict with those
taken in /dev/shm, both ways, as the same programs on /dev/shm alone (the
peer) show; waits end when the waiter is killed, many waits don't hold up
other users, and SQLite and a locked counter lose nothing with writers on
both sides at once."""

import errno
import fcntl
import os
import signal
import sqlite3
import struct
import subprocess
import sys

import pytest

from conftest import BUILD, prefix  # noqa: F401
from mountutil import mnt, mode_options, shmfs, wait_for  # noqa: F401
from sem_peer import O_CREAT, O_EXCL, Glibc

COUNTER = os.path.join(BUILD, "tests", "lock_counter")
NOBODY = 65534
KINDS = ("posix", "ofd", "flock")
SYS_FCNTL, SYS_FLOCK = 72, 73

# A lock of KIND on bytes [0, 10) of a file, taken or tried by a child.
# "hold": takes it (without waiting), prints 0 or the errno, keeps it until
# stdin closes.  "try": prints 0 or the errno of a try, and (fcntl kinds)
# what F_GETLK / F_OFD_GETLK says: type start len pid.
_LOCKER = r"""
import errno, fcntl, os, struct, sys
path, kind, what = sys.argv[1:4]
fd = os.open(path, os.O_RDWR)
FL = "hhqqi"
def fcntl_lock(cmd, typ):
    return fcntl.fcntl(fd, cmd, struct.pack(FL, typ, 0, 0, 10, 0))
def take():
    try:
        if kind == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            fcntl_lock(fcntl.F_SETLK if kind == "posix" else fcntl.F_OFD_SETLK,
                       fcntl.F_WRLCK)
        return 0
    except OSError as e:
        return e.errno
r = take()
if what == "hold":
    print(r, flush=True)
    sys.stdin.read()
else:
    got = ""
    if kind != "flock":
        t, w, s, l, p = struct.unpack(FL, fcntl_lock(
            fcntl.F_GETLK if kind == "posix" else fcntl.F_OFD_GETLK,
            fcntl.F_WRLCK))
        got = " %d %d %d %d" % (t, s, l, p)
    print("%d%s" % (r, got), flush=True)
"""


class Holder:
    """A child process holding a lock until closed."""

    def __init__(self, path, kind, user=None):
        cmd = [sys.executable, "-c", _LOCKER, path, kind, "hold"]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.rc = int(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def try_lock(path, kind):
    """(errno of a try, F_GETLK's answer or None) from a fresh process."""
    out = subprocess.run([sys.executable, "-c", _LOCKER, path, kind, "try"],
                         capture_output=True, text=True, timeout=30,
                         check=True).stdout.split()
    return int(out[0]), tuple(int(x) for x in out[1:]) or None


def make_block(path, size=4096):
    with open(path, "wb") as f:
        f.write(b"\0" * size)
    os.chmod(path, 0o666)


def syscall_of(pid):
    """The number of the system call `pid` is blocked in, or None."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            field = f.read().split()[0]
    except (OSError, IndexError):
        return None
    return int(field) if field.lstrip("-").isdigit() else None


@pytest.fixture
def block(mnt):
    """A block of 4 KiB: (its path through the mount, its path in /dev/shm);
    the prefix fixture removes it."""
    make_block(mnt.block("blk"))
    return mnt.path("blk"), mnt.block("blk")


@pytest.mark.parametrize("held", KINDS)
@pytest.mark.parametrize("tried", KINDS)
def test_conflicts_are_the_peers(block, held, tried):
    """A lock of each kind held on one side and tried on the other (and on
    the mount alone) conflicts exactly when it does in /dev/shm alone."""
    mount, shm = block
    peer = None
    for hold_at, try_at in ((shm, shm), (mount, shm), (shm, mount),
                            (mount, mount)):
        h = Holder(hold_at, held)
        try:
            assert h.rc == 0
            rc, _ = try_lock(try_at, tried)
        finally:
            h.close()
        if peer is None:
            peer = rc
            assert peer in (0, errno.EAGAIN)
        assert rc == peer, (hold_at, try_at)
        # Released when the holder ends (an open file's locks when the
        # daemon gets its RELEASE, a moment after the last close).
        assert wait_for(lambda: try_lock(shm, tried)[0] == 0)
        assert try_lock(mount, tried)[0] == 0
    # The peer itself: fcntl kinds conflict with each other, flock with
    # flock, and flock and fcntl locks don't meet (Linux).
    assert (peer == errno.EAGAIN) == ((held == "flock") == (tried == "flock"))


@pytest.mark.parametrize("held", ("posix", "ofd"))
@pytest.mark.parametrize("query", ("posix", "ofd"))
def test_getlk_names_the_conflict(block, held, query):
    """F_GETLK and F_OFD_GETLK through the mount name the conflicting lock's
    type and range as in /dev/shm alone.  Its pid (docs/locks.md): -1 for
    F_OFD_GETLK (the peer: the holder's for a POSIX lock); for F_GETLK the taker's for a lock taken
    through the mount, the holder's for a POSIX lock in /dev/shm, and 0
    (the peer: -1) for an OFD lock in /dev/shm.  In /dev/shm a lock taken
    through the mount shows -1, as the daemon's OFD lock it is."""
    mount, shm = block
    for hold_at in (shm, mount):
        h = Holder(hold_at, held)
        try:
            peer = try_lock(shm, query)[1]
            got = try_lock(mount, query)[1]
        finally:
            h.close()
        assert got[:3] == peer[:3] == (fcntl.F_WRLCK, 0, 10)
        if query == "ofd":
            # The kernel fills FUSE's answer into the asker's OFD lock.
            assert got[3] == -1
            assert peer[3] == (h.p.pid if held == "posix" and hold_at == shm
                               else -1)
        elif hold_at == mount:
            assert got[3] == h.p.pid
            assert peer[3] == -1
        elif held == "posix":
            assert got[3] == peer[3] == h.p.pid
        else:
            assert peer[3] == -1 and got[3] == 0
    assert wait_for(lambda: try_lock(mount, query)[1] ==
                    (fcntl.F_UNLCK, 0, 10, 0))


def run_counters(paths, n, kind):
    procs = [subprocess.Popen([COUNTER, p, str(n), kind]) for p in paths]
    for p in procs:
        assert p.wait(timeout=300) == 0


def read_count(path):
    with open(path, "rb") as f:
        return struct.unpack("<Q", f.read(8))[0]


@pytest.mark.parametrize("kind", KINDS)
def test_c_counter_both_sides(block, kind):
    """A counter kept under blocking locks by two processes through the
    mount and two in /dev/shm at once counts every update, as the same
    four in /dev/shm alone do."""
    mount, shm = block
    n = 1500
    run_counters([shm] * 4, n, kind)
    assert read_count(shm) == 4 * n
    make_block(shm)
    run_counters([mount, shm, mount, shm], n, kind)
    assert read_count(shm) == 4 * n


_PY_COUNTER = r"""
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for _ in range(int(sys.argv[2])):
    fcntl.lockf(fd, fcntl.LOCK_EX, 8, 0)
    (n,) = struct.unpack("<Q", os.pread(fd, 8, 0))
    os.pwrite(fd, struct.pack("<Q", n + 1), 0)
    fcntl.lockf(fd, fcntl.LOCK_UN, 8, 0)
"""


def test_python_counter_both_sides(block):
    """The same counter in Python (fcntl.lockf, i.e. F_SETLKW)."""
    mount, shm = block
    n = 1000
    for paths in ([shm] * 4, [mount, shm, mount, shm]):
        make_block(shm)
        procs = [subprocess.Popen([sys.executable, "-c", _PY_COUNTER, p,
                                   str(n)]) for p in paths]
        for p in procs:
            assert p.wait(timeout=300) == 0
        assert read_count(shm) == 4 * n


_SQLITE_WRITER = r"""
import sqlite3, sys
path, journal, who, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
db = sqlite3.connect(path, timeout=120, isolation_level=None)
db.execute("PRAGMA journal_mode=" + journal)
for i in range(n):
    db.execute("BEGIN IMMEDIATE")
    (last,) = db.execute("SELECT coalesce(max(seq), 0) FROM t").fetchone()
    db.execute("INSERT INTO t VALUES (?, ?, ?)", (who, i, last + 1))
    db.execute("COMMIT")
db.close()
"""


def test_sqlite_writers_both_sides(mnt, mode_options):
    """SQLite with two writers through the mount and two in /dev/shm on one
    database at once: every row is there once, the sequence each writer
    read under its lock has no hole and no double, integrity_check is ok,
    as with the same four writers in /dev/shm alone.  WAL with passthrough;
    without it SQLite's WAL index can't be mapped shared (MAP_SHARED is
    refused, docs/locks.md), so the rollback journal."""
    journal = "delete" if "nopassthrough" in mode_options else "wal"
    shm, mount = mnt.block("db"), mnt.path("db")
    n = 150
    try:
        for paths in ([shm] * 4, [mount, shm, mount, shm]):
            for suffix in ("", "-wal", "-shm", "-journal"):
                if os.path.exists(shm + suffix):
                    os.unlink(shm + suffix)
            db = sqlite3.connect(shm, isolation_level=None)
            assert db.execute("PRAGMA journal_mode=" + journal).fetchone() \
                == (journal,)
            db.execute("CREATE TABLE t (who TEXT, i INTEGER, seq INTEGER)")
            db.close()
            procs = [subprocess.Popen([sys.executable, "-c", _SQLITE_WRITER,
                                       p, journal, "w%d" % k, str(n)])
                     for k, p in enumerate(paths)]
            for p in procs:
                assert p.wait(timeout=600) == 0
            for path in (shm, mount):
                out = subprocess.run(
                    ["sqlite3", path, "PRAGMA integrity_check;",
                     "SELECT count(*), count(DISTINCT who || '.' || i), "
                     "count(DISTINCT seq), min(seq), max(seq) FROM t;"],
                    capture_output=True, text=True, timeout=60, check=True)
                assert out.stdout.split() == ["ok", "%d|%d|%d|1|%d" % (
                    4 * n, 4 * n, 4 * n, 4 * n)]
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(shm + suffix):
                os.unlink(shm + suffix)


def test_close_releases_as_in_shm(block):
    """A POSIX lock goes when its process closes any descriptor of the file;
    an OFD lock and a flock when the last descriptor of their open file
    does; a killed holder's go: checked from /dev/shm against the peer."""
    mount, shm = block
    for kind in KINDS:
        results = []
        for at in (shm, mount):
            fd = os.open(at, os.O_RDWR)
            other = os.open(at, os.O_RDWR)
            dup = os.dup(fd)
            if kind == "flock":
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                fcntl.fcntl(fd, fcntl.F_SETLK if kind == "posix"
                            else fcntl.F_OFD_SETLK,
                            struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 10, 0))
            steps = [try_lock(shm, kind)[0]]
            os.close(other)
            steps.append(try_lock(shm, kind)[0])
            os.close(dup)
            steps.append(try_lock(shm, kind)[0])
            os.close(fd)
            # The last close's RELEASE reaches the daemon a moment after.
            steps.append(0 if wait_for(lambda: try_lock(shm, kind)[0] == 0)
                         else errno.EAGAIN)
            results.append(steps)
        assert results[1] == results[0], kind
        want = [errno.EAGAIN, 0, 0, 0] if kind == "posix" else \
            [errno.EAGAIN, errno.EAGAIN, errno.EAGAIN, 0]
        assert results[0] == want
        # A holder killed: its locks go with its files.
        h = Holder(mount, kind)
        assert try_lock(shm, kind)[0] == errno.EAGAIN
        h.p.kill()
        h.p.wait(timeout=30)
        assert wait_for(lambda: try_lock(shm, kind)[0] == 0)


def test_killed_waiter_ends(block):
    """A waiter through the mount blocked behind a lock in /dev/shm is
    killed: it ends (the daemon answers the kernel's interrupt) and takes
    nothing with it; one that is left waiting gets the lock when it goes."""
    mount, shm = block
    for kind in KINDS:
        h = Holder(shm, kind)
        try:
            waiters = [subprocess.Popen([COUNTER, mount, "1", kind])
                       for _ in range(2)]
            assert wait_for(lambda: all(
                syscall_of(w.pid) in (SYS_FCNTL, SYS_FLOCK) for w in waiters))
            waiters[0].kill()
            assert waiters[0].wait(timeout=30) == -signal.SIGKILL
            assert waiters[1].poll() is None
        finally:
            h.close()
        assert waiters[1].wait(timeout=30) == 0
        assert try_lock(shm, kind)[0] == 0
    assert read_count(shm) == 3


def test_interrupted_wait_restarts(block):
    """A signal with a handler while waiting through the mount: the wait is
    interrupted (the daemon answers EINTR), the handler runs and Python
    waits again (PEP 475), as in /dev/shm; the first wait left nothing
    behind, and the lock comes when the holder lets go."""
    mount, shm = block
    code = r"""
import fcntl, os, signal, sys
hits = []
signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
fd = os.open(sys.argv[1], os.O_RDWR)
print("ready", flush=True)
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
print(len(hits), flush=True)
"""
    h = Holder(shm, "posix")
    try:
        p = subprocess.Popen([sys.executable, "-c", code, mount],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline() == "ready\n"
        assert wait_for(lambda: syscall_of(p.pid) == SYS_FCNTL)
        p.send_signal(signal.SIGUSR1)
        assert wait_for(lambda: syscall_of(p.pid) == SYS_FCNTL)
        assert p.poll() is None
    finally:
        h.close()
    assert p.stdout.readline() == "1\n"
    assert p.wait(timeout=30) == 0


@pytest.fixture
def shared_mount(shmfs):
    m = shmfs("allow_other")
    for name in ("a", "b"):
        make_block(m.block(name))
    return m, "a", "b"


def test_many_waiters_dont_hold_up_others(shared_mount):
    """More waiters than a user may have, as nobody, behind a lock held in
    /dev/shm: the first LOCKS_WAITERS_PER_USER wait, the rest get ENOLCK at
    once, and root's requests (another block's lock, stat, read, write) go
    on meanwhile; when the lock goes every waiter gets it in turn."""
    m, a, b = shared_mount
    per_user = 64
    h = Holder(m.block(a), "posix")
    try:
        waiters = [subprocess.Popen(
            ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
             "--clear-groups", COUNTER, m.path(a), "1", "posix"],
            stderr=subprocess.PIPE, text=True) for _ in range(per_user + 6)]
        assert wait_for(lambda: sum(
            w.poll() is not None for w in waiters) == 6, timeout=60)
        refused = [w for w in waiters if w.poll() is not None]
        for w in refused:
            assert w.returncode == 1
            assert "No locks available" in w.stderr.read()
        blocked = [w for w in waiters if w.poll() is None]
        assert wait_for(lambda: all(
            syscall_of(w.pid) == SYS_FCNTL for w in blocked), timeout=60)
        # Root meanwhile: another block, its lock, its data, its name.
        run_counters([m.path(b)] * 2, 200, "posix")
        assert read_count(m.path(b)) == 400
        assert os.stat(m.path(b)).st_size == 4096
        assert all(w.poll() is None for w in blocked)
    finally:
        h.close()
    for w in waiters:
        w.wait(timeout=120)
    assert all(w.returncode == 0 for w in blocked)
    assert read_count(m.block(a)) == per_user


def test_daemon_stops_with_a_wait_under_way(shmfs, prefix):
    """The daemon told to stop (SIGTERM) while a lock wait is under way
    ends at once and cleanly; the waiter gets ECONNABORTED, as every other
    request left, and never the kernel's restart code (512)."""
    m = shmfs()
    make_block(m.block("blk"))
    h = Holder(m.block("blk"), "posix")
    try:
        code = ("import errno, fcntl, os, sys\n"
                "fd = os.open(sys.argv[1], os.O_RDWR)\n"
                "try:\n"
                "    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)\n"
                "    print(0)\n"
                "except OSError as e:\n"
                "    print(e.errno)\n")
        w = subprocess.Popen([sys.executable, "-c", code, m.path("blk")],
                             stdout=subprocess.PIPE, text=True)
        assert wait_for(lambda: syscall_of(w.pid) == SYS_FCNTL)
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(timeout=30) == 0
        assert int(w.stdout.read()) == errno.ECONNABORTED
        assert w.wait(timeout=30) == 0
    finally:
        h.close()


def flock_try(path):
    """A new open file of `path` (read only) and the errno of a flock
    LOCK_EX | LOCK_NB on it (0: taken)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, 0
    except OSError as e:
        return fd, e.errno


def test_semaphores_and_arrays_lock_as_their_blocks(shmfs, prefix):
    """A semaphore (sem.NAME, 32 bytes) and a .npy array through the mount
    take their block's locks: each kind held on one side conflicts with the
    same kind tried on the other, as in /dev/shm alone."""
    import numpy as np
    m = shmfs()
    sem_shm = os.path.join(os.path.dirname(m.block("x")),
                           "sem." + m.prefix + "s")
    glibc = Glibc()
    glibc.close(glibc.open(m.prefix + "s", O_CREAT | O_EXCL, 0o600, 0))
    try:
        np.save(m.block("arr"), np.arange(1000, dtype="<f8"),
                allow_pickle=False)
        os.rename(m.block("arr") + ".npy", m.block("arr"))
        assert wait_for(lambda: os.path.exists(m.path("sem.s")))
        assert os.getxattr(m.path("arr"), "user.shmfs.dtype") == b"<f8"
        with open(m.path("sem.s")) as f:
            assert f.read() == "0\n"
        for mount, shm in ((m.path("sem.s"), sem_shm),
                           (m.path("arr"), m.block("arr"))):
            for kind in KINDS:
                for hold_at, try_at in ((shm, shm), (shm, mount),
                                        (mount, shm)):
                    h = Holder(hold_at, kind)
                    try:
                        assert h.rc == 0
                        assert try_lock(try_at, kind)[0] == errno.EAGAIN, \
                            (hold_at, try_at, kind)
                    finally:
                        h.close()
                    assert wait_for(lambda: try_lock(shm, kind)[0] == 0)
    finally:
        os.unlink(sem_shm)


def test_mount_only_files_lock_among_the_mounts_users(shmfs, prefix):
    """Files the mount makes up (an item, .json, an array's view NAME.npy)
    have locks of their own: two open files of one conflict (flock, as on
    a file in /dev/shm), and the block behind them stays unlocked (a range
    of the view is another range of the block)."""
    import numpy as np
    m = shmfs()
    os.mkdir(m.path("L"))
    with open(m.path("L", "0.int"), "w") as f:
        f.write("7\n")
    with open(m.block("d"), "wb") as f:
        f.write(np.arange(64, dtype="<f8").tobytes())
    os.setxattr(m.block("d"), "user.shmfs.dtype", b"<f8")
    os.setxattr(m.block("d"), "user.shmfs.shape", b"64")
    assert wait_for(lambda: os.path.exists(m.path("d.npy")))
    for path, block in ((m.path("L", "0.int"), m.block("L")),
                        (m.path("L", ".json"), m.block("L")),
                        (m.path("d.npy"), m.block("d"))):
        fds = []
        try:
            for at, want in ((path, 0), (path, errno.EWOULDBLOCK),
                             (block, 0)):
                fd, rc = flock_try(at)
                fds.append(fd)
                assert rc == want, (path, at)
        finally:
            for fd in fds:
                os.close(fd)
        # Closed: the lock went with its open file.
        assert wait_for(lambda: flock_try_rc(path) == 0)


def flock_try_rc(path):
    fd, rc = flock_try(path)
    os.close(fd)
    return rc
