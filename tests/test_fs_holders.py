# SPDX-License-Identifier: MIT
"""Holders in the mount (issue 14.2 and 14.3): the user.shmfs.holders,
nholders and holders_age xattrs of blocks and lists against fuser -v and
lsof, CPython's SharedMemory, fork, exit and SIGKILL, what nobody may see
through a root allow_other mount, and .deleted/: blocks unlinked while
held, read back with cp, gone when their last holder lets go."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import holders_ctypes as H
from conftest import SHM_DIR, untrack
from test_holders import fuser, how_from_fuser, lsof

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

HOLDERS, COUNT, AGE = "user.shmfs.holders", "user.shmfs.nholders", "user.shmfs.holders_age"
# The mount's cache (fs/holders_cache.h): a scan answers for a second.
CACHE_S = 1.0
NOBODY = 65534


@pytest.fixture
def hs():
    """Holder processes, killed when the test ends, pass or fail."""
    h = H.Holders()
    yield h
    h.close()


def make(path, data=b"x" * 4096, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def past_cache(m):
    """Waits for a scan of the mount that began after this call.  A request
    answers from the last scan and asks for the next when that is older
    than CACHE_S (fs/holders_cache.c, docs/security.md): holders_age says
    when the scan began.  Any block or list of the mount tells; with none,
    a probe block made for the purpose (EAGAIN until a scan has it)."""
    t0 = time.monotonic()
    probes = [m.path(n) for n in os.listdir(m.path())]
    made = None
    if not probes:
        made = os.path.join(m.shmdir, m.prefix + "probe-%d" % os.getpid())
        with open(made, "wb"):
            pass
        probes = [m.path("probe-%d" % os.getpid())]
    try:
        deadline = t0 + 30
        while time.monotonic() < deadline:
            for probe in probes:
                try:
                    age = float(os.getxattr(probe, AGE).decode().split()[0])
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.ENOENT, errno.ENODATA):
                        raise
                    continue
                if time.monotonic() - age > t0:
                    return
                break
            time.sleep(0.02)
        raise AssertionError("no scan began after %.3f" % t0)
    finally:
        if made:
            os.unlink(made)


def getx(path, name, timeout=30):
    """getxattr, again while it says EAGAIN: a block made after the last
    scan is answered by the next (docs/security.md)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.getxattr(path, name)
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def holders(path):
    """{pid: (uid, how, comm)} from the holders xattr."""
    out = {}
    for line in getx(path, HOLDERS).decode().splitlines():
        pid, uid, how, comm = line.split(" ", 3)
        out[int(pid)] = (int(uid), how, comm)
    return out


def nholders(path):
    return int(getx(path, COUNT))


HOW = {"fd": H.HELD_FD, "map-ro": H.HELD_MAP, "map-rw": H.HELD_MAP | H.HELD_MAP_WRITE,
       "both-ro": H.HELD_FD | H.HELD_MAP,
       "both-rw": H.HELD_FD | H.HELD_MAP | H.HELD_MAP_WRITE}


def test_xattrs_against_fuser_and_lsof(shmfs, hs):
    """Descriptor, mapping, both and a read-only mapping: the xattrs show
    the PIDs fuser and lsof show, each held as they say, and the count."""
    m = shmfs()
    kinds = ["fd", "map", "both", "mapro"]
    for k in kinds:
        make(m.block(k))
    p1 = hs.spawn(*("%s:%s" % (k, m.block(k)) for k in kinds))
    p2 = hs.spawn("mapro:" + m.block("both"), "fdro:" + m.block("fd"))
    want = {"fd": {p1.pid: "fd", p2.pid: "fd"}, "map": {p1.pid: "map-rw"},
            "both": {p1.pid: "both-rw", p2.pid: "map-ro"}, "mapro": {p1.pid: "map-ro"}}
    past_cache(m)
    for k in kinds:
        got = holders(m.path(k))
        assert {pid: how for pid, (_, how, _) in got.items()} == want[k], k
        assert nholders(m.path(k)) == len(want[k])
        for uid, _, comm in got.values():
            assert uid == 0 and comm.startswith("python")
        fu = fuser(m.block(k))
        assert {pid: how_from_fuser(a) for pid, a in fu.items()} == \
            {pid: HOW[how] & (H.HELD_FD | H.HELD_MAP) for pid, how in want[k].items()}, k
        assert set(lsof(m.block(k))) == set(want[k]), k
    age = os.getxattr(m.path("fd"), AGE).decode().split()
    assert 0 <= float(age[0]) < CACHE_S


def test_listxattr_and_read_only(shmfs, hs):
    """The three are listed beside the block's own xattrs and can't be set
    or removed (EPERM); a list directory carries them too."""
    from multiprocessing import shared_memory
    m = shmfs()
    make(m.block("b"))
    os.setxattr(m.path("b"), "user.mine", b"1")
    names = os.listxattr(m.path("b"))
    assert {"user.mine", HOLDERS, COUNT, AGE} <= set(names)
    for name in (HOLDERS, COUNT, AGE):
        with pytest.raises(OSError) as e:
            os.setxattr(m.path("b"), name, b"x")
        assert e.value.errno == errno.EPERM
        with pytest.raises(OSError) as e:
            os.removexattr(m.path("b"), name)
        assert e.value.errno == errno.EPERM
    assert nholders(m.path("b")) == 0 and getx(m.path("b"), HOLDERS) == b""
    sl = shared_memory.ShareableList([1, 2, 3], name=m.prefix + "lst")
    try:
        assert os.path.isdir(m.path("lst"))
        assert {HOLDERS, COUNT, AGE} <= set(os.listxattr(m.path("lst")))
        past_cache(m)
        assert os.getpid() in holders(m.path("lst"))
        with pytest.raises(OSError) as e:
            os.setxattr(m.path("lst"), HOLDERS, b"x")
        assert e.value.errno == errno.EPERM
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_fork_exit_and_sigkill(shmfs, hs):
    """A forked child holds what its parent holds until it exits; a holder
    killed with SIGKILL is gone from the next scan (after the cache age)."""
    m = shmfs()
    make(m.block("a"))
    p = hs.spawn("both:" + m.block("a"), fork=True)
    q = hs.spawn("map:" + m.block("a"))
    past_cache(m)
    assert set(holders(m.path("a"))) == {p.pid, p.child, q.pid}
    p.stdin.write("\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "child gone"
    H.wait_gone(p.child)
    hs.stop(q, signal.SIGKILL)
    past_cache(m)
    assert set(holders(m.path("a"))) == {p.pid}
    assert set(fuser(m.block("a"))) == {p.pid}
    assert nholders(m.path("a")) == 1


_SHM_CHILD = r"""
import sys
from multiprocessing import shared_memory, resource_tracker
s = shared_memory.SharedMemory(sys.argv[1])
resource_tracker.unregister(s._name, "shared_memory")
print("ready", flush=True)
sys.stdin.readline()
s.close()
print("closed", flush=True)
sys.stdin.readline()
"""


def test_cpython_shared_memory_closed_one_by_one(shmfs, prefix):
    """SharedMemory in several processes, closed one by one: the count
    follows (a closed SharedMemory has neither descriptor nor mapping)."""
    from multiprocessing import shared_memory
    m = shmfs()
    owner = shared_memory.SharedMemory(prefix + "cp", create=True, size=8192)
    procs = []
    try:
        for _ in range(3):
            p = subprocess.Popen([sys.executable, "-c", _SHM_CHILD, "/" + prefix + "cp"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            procs.append(p)
            assert p.stdout.readline().strip() == "ready"
        past_cache(m)
        assert nholders(m.path("cp")) == 4
        assert set(holders(m.path("cp"))) == {os.getpid()} | {p.pid for p in procs}
        for i, p in enumerate(procs):
            p.stdin.write("\n")
            p.stdin.flush()
            assert p.stdout.readline().strip() == "closed"
            past_cache(m)
            assert nholders(m.path("cp")) == 3 - i
        owner.close()
        past_cache(m)
        assert nholders(m.path("cp")) == 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
            p.stdin.close()
            p.stdout.close()
        owner.close()
        owner.unlink()


# Runs as nobody: (op, path) pairs, prints each one's result or errno.
_NOBODY_CHILD = r"""
import json, os, sys
out = []
for op, p in json.loads(sys.argv[1]):
    try:
        if op == "holders":
            out.append(os.getxattr(p, "user.shmfs.holders").decode())
        elif op == "nholders":
            out.append(os.getxattr(p, "user.shmfs.nholders").decode())
        elif op == "read":
            with open(p, "rb") as f:
                out.append(f.read().decode())
        elif op == "listdir":
            out.append(sorted(os.listdir(p)))
    except OSError as e:
        out.append(e.errno)
print(json.dumps(out))
"""


def as_nobody(ops):
    r = subprocess.run([sys.executable, "-c", _NOBODY_CHILD, json.dumps(ops)],
                       user=NOBODY, group=NOBODY, extra_groups=[],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("options", [("allow_other",),
                                     ("allow_other", "default_permissions")])
def test_nobody_sees_holders_of_what_it_may_read(shmfs, hs, options):
    """As nobody through a root mount with allow_other: the holders of a
    block nobody may read are shown, root's 0600 block's are refused
    (EACCES), with and without the kernel's own permission checks; the
    same for .deleted/ entries, whose bytes nobody can't read either."""
    m = shmfs(*options)
    make(m.block("open"), b"open", 0o644)
    make(m.block("group"), b"group", 0o640)
    os.chown(m.block("group"), 0, NOBODY)
    make(m.block("secret"), b"secret", 0o600)
    make(m.block("gone600"), b"gone600", 0o600)
    make(m.block("gone644"), b"gone644", 0o644)
    p = hs.spawn(*("fdro:" + m.block(n) for n in
                   ("open", "group", "secret", "gone600", "gone644")))
    os.unlink(m.block("gone600"))
    os.unlink(m.block("gone644"))
    past_cache(m)
    dels = {n.split("@")[0]: m.path(".deleted", n) for n in os.listdir(m.path(".deleted"))}
    assert set(dels) == {"gone600", "gone644"}
    line = "%d 0 fd " % p.pid
    got = as_nobody([("holders", m.path("open")), ("nholders", m.path("group")),
                     ("holders", m.path("secret")), ("nholders", m.path("secret")),
                     ("listdir", m.path(".deleted")),
                     ("holders", dels["gone644"]), ("read", dels["gone644"]),
                     ("holders", dels["gone600"]), ("read", dels["gone600"])])
    assert got[0].startswith(line) and got[1] == "1"
    assert got[2] == errno.EACCES and got[3] == errno.EACCES
    assert got[4] == sorted(os.path.basename(v) for v in dels.values())
    assert got[5].startswith(line) and got[6] == "gone644"
    assert got[7] == errno.EACCES and got[8] == errno.EACCES
    # Root may read them all.
    assert holders(m.path("secret")) and open(dels["gone600"], "rb").read() == b"gone600"


def test_deleted_unlinked_renamed_and_recreated(shmfs, hs):
    """.deleted/ lists a block unlinked while mapped as NAME@INO with its
    size and allocated size, and cp gives its bytes; a block renamed while
    mapped is not there; a name made again while its old inode is mapped
    gives two entries; an entry goes with its last holder; nothing in it is
    writable."""
    m = shmfs()
    data = os.urandom(3 * 4096 + 5)
    make(m.block("u"), data)
    ino_u = os.stat(m.block("u")).st_ino
    make(m.block("r"), b"r" * 100)
    make(m.block("x"), b"first")
    ino_x1 = os.stat(m.block("x")).st_ino
    p = hs.spawn("map:" + m.block("u"), "map:" + m.block("r"), "mapro:" + m.block("x"))
    os.unlink(m.block("u"))
    os.rename(m.block("r"), m.block("r2"))
    os.unlink(m.block("x"))
    make(m.block("x"), b"second")
    ino_x2 = os.stat(m.block("x")).st_ino
    q = hs.spawn("fdro:" + m.block("x"))
    os.unlink(m.block("x"))
    past_cache(m)
    names = sorted(os.listdir(m.path(".deleted")))
    assert names == sorted(["u@%d" % ino_u, "x@%d" % ino_x1, "x@%d" % ino_x2])
    st = os.stat(m.path(".deleted", "u@%d" % ino_u))
    assert st.st_size == len(data) and st.st_blocks * 512 >= len(data)
    assert st.st_ino == ino_u
    assert "r2" in os.listdir(m.path()) and os.path.isfile(m.path("r2"))
    out = tempfile.mktemp()
    try:
        subprocess.run(["cp", m.path(".deleted", "u@%d" % ino_u), out], check=True)
        with open(out, "rb") as f:
            assert f.read() == data
    finally:
        if os.path.exists(out):
            os.unlink(out)
    assert open(m.path(".deleted", "x@%d" % ino_x1), "rb").read() == b"first"
    assert open(m.path(".deleted", "x@%d" % ino_x2), "rb").read() == b"second"
    assert set(holders(m.path(".deleted", "x@%d" % ino_x2))) == {q.pid}
    assert holders(m.path(".deleted", "x@%d" % ino_x1)) == {p.pid: (0, "map-ro", p_comm(p))}
    # Read-only, every way.
    f = m.path(".deleted", "u@%d" % ino_u)
    for fn, want in ((lambda: open(f, "r+b"), errno.EROFS),
                     (lambda: os.truncate(f, 0), errno.EROFS),
                     (lambda: os.chmod(f, 0o666), errno.EROFS),
                     (lambda: os.unlink(f), errno.EROFS),
                     (lambda: os.setxattr(f, "user.a", b"1"), errno.EROFS),
                     (lambda: os.setxattr(f, HOLDERS, b"1"), errno.EPERM),
                     (lambda: open(m.path(".deleted", "new"), "wb"), errno.EROFS),
                     (lambda: os.mkdir(m.path(".deleted", "d")), errno.EROFS)):
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == want
    # The last holder lets go: the entry goes.
    hs.stop(q)
    past_cache(m)
    assert "x@%d" % ino_x2 not in os.listdir(m.path(".deleted"))
    with pytest.raises(FileNotFoundError):
        os.stat(m.path(".deleted", "x@%d" % ino_x2))
    hs.stop(p)
    past_cache(m)
    assert os.listdir(m.path(".deleted")) == []


def p_comm(p):
    with open("/proc/%d/comm" % p.pid) as f:
        return f.read().strip()


def test_deleted_is_not_a_block(shmfs, prefix):
    """.deleted/ is found by name but not listed (the top level lists the
    blocks only, as ZFS hides .zfs); a block named .deleted under the
    prefix is shadowed by it: not listed, and neither removed nor renamed
    through the mount."""
    m = shmfs()
    make(m.block(".deleted"), b"block")
    make(m.block("plain"), b"p")
    assert sorted(os.listdir(m.path())) == ["plain"]
    assert os.path.isdir(m.path(".deleted"))
    assert os.stat(m.path(".deleted")).st_mode & 0o7777 == 0o555
    for fn in (lambda: os.rmdir(m.path(".deleted")),
               lambda: os.rename(m.path(".deleted"), m.path("moved"))):
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno == errno.EPERM
    assert open(m.block(".deleted"), "rb").read() == b"block"


def test_daemon_started_while_held(shmfs, hs, prefix):
    """A daemon started while blocks are already held, and one already
    unlinked, sees them at once."""
    path = make(os.path.join(SHM_DIR, prefix + "pre"))
    gone = make(os.path.join(SHM_DIR, prefix + "pregone"), b"still here")
    ino = os.stat(gone).st_ino
    p = hs.spawn("both:" + path, "map:" + gone)
    os.unlink(gone)
    m = shmfs()
    assert holders(m.path("pre")) == {p.pid: (0, "both-rw", p_comm(p))}
    assert os.listdir(m.path(".deleted")) == ["pregone@%d" % ino]
    assert open(m.path(".deleted", "pregone@%d" % ino), "rb").read() == b"still here"
