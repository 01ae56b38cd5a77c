# SPDX-License-Identifier: MIT
"""The holders scan of core/holders.c through ctypes, against fuser -v and
lsof as oracles: who holds each block, how, deleted and renamed blocks,
CPython's SharedMemory, SIGKILL, and a partial view as nobody."""

import ctypes
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

import holders_ctypes as H
from conftest import BUILD, SHM_DIR, untrack

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture(scope="module")
def hlib():
    return H.load()


@pytest.fixture
def hs():
    """Holder processes, killed when the test ends, pass or fail."""
    h = H.Holders()
    yield h
    h.close()


def make(name, data=b"x" * 4096):
    path = os.path.join(SHM_DIR, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def fuser(path):
    """{pid: access letters} from fuser -v (F/f: open file, m: mapped).  It
    writes the PIDs to stdout and the rest of each row (USER ACCESS COMMAND)
    to stderr, in the same order."""
    r = subprocess.run(["fuser", "-v", path], capture_output=True, text=True)
    pids = [int(t) for t in r.stdout.split()]
    err = re.sub(r"Cannot stat file [^\n]*\n", "", r.stderr)
    words = [w for w in err.split() if w != path + ":"][4:]
    assert len(words) == 3 * len(pids), r.stderr
    return {pid: words[3 * i + 1] for i, pid in enumerate(pids)}


def lsof(path):
    """{pid: set of FD fields} from lsof (a number, or "mem" for a mapping)."""
    r = subprocess.run(["lsof", "-w", "-F", "pf", path], capture_output=True, text=True)
    out, pid = {}, None
    for line in r.stdout.splitlines():
        if line[0] == "p":
            pid = int(line[1:])
            out[pid] = set()
        elif line[0] == "f":
            out[pid].add(line[1:].rstrip("rwu"))
    return out


def lsof_pid(pid):
    """[(fd field, type, name)] of one process, from lsof -p."""
    r = subprocess.run(["lsof", "-w", "-F", "ftn", "-p", str(pid)], capture_output=True,
                       text=True)
    rows, cur = [], {}
    for line in r.stdout.splitlines():
        if line[0] == "f":
            cur = {"f": line[1:]}
        elif line[0] == "t":
            cur["t"] = line[1:]
        elif line[0] == "n":
            cur["n"] = line[1:]
            rows.append((cur.get("f"), cur.get("t"), cur["n"]))
    return rows


def how_from_fuser(access):
    how = 0
    if "F" in access or "f" in access:
        how |= H.HELD_FD
    if "m" in access:
        how |= H.HELD_MAP
    return how


def test_open_map_both_readonly_against_fuser_and_lsof(hlib, hs, names):
    a, b, c, d, e = (names() for _ in range(5))
    for n in (a, b, c, d, e):
        make(n)
    p1 = hs.spawn("fd:" + os.path.join(SHM_DIR, a), "map:" + os.path.join(SHM_DIR, b),
                  "both:" + os.path.join(SHM_DIR, c), "mapro:" + os.path.join(SHM_DIR, d))
    p2 = hs.spawn("fdro:" + os.path.join(SHM_DIR, a), "map:" + os.path.join(SHM_DIR, c))
    snap = H.Snapshot(hlib)
    want = {
        a: {p1.pid: H.HELD_FD, p2.pid: H.HELD_FD},
        b: {p1.pid: H.HELD_MAP | H.HELD_MAP_WRITE},
        c: {p1.pid: H.HELD_FD | H.HELD_MAP | H.HELD_MAP_WRITE,
            p2.pid: H.HELD_MAP | H.HELD_MAP_WRITE},
        d: {p1.pid: H.HELD_MAP},
        e: {},
    }
    for n, holders in want.items():
        ent = snap.named(n)
        assert ent is not None, n
        got = {pid: h["how"] for pid, h in ent["holders"].items()}
        assert got == holders, n
        path = os.path.join(SHM_DIR, n)
        # The oracles: the same processes, the same kind of holding.
        fu = fuser(path)
        assert {pid: how_from_fuser(acc) for pid, acc in fu.items()} == \
            {pid: how & ~H.HELD_MAP_WRITE for pid, how in holders.items()}, n
        lo = lsof(path)
        assert set(lo) == set(holders), n
        for pid, fds in lo.items():
            assert ("mem" in fds) == bool(holders[pid] & H.HELD_MAP), (n, fds)
            assert any(f.isdigit() for f in fds) == bool(holders[pid] & H.HELD_FD)
        st = os.stat(path)
        assert (ent["dev"], ent["ino"], ent["size"], ent["alloc"], ent["mode"]) == \
            (st.st_dev, st.st_ino, st.st_size, st.st_blocks * 512, st.st_mode)
        for pid, h in ent["holders"].items():
            with open("/proc/%d/comm" % pid) as f:
                assert h["comm"] == f.read().strip()
            assert h["uid"] == os.getuid()
            if h["how"] & H.HELD_FD:
                assert os.path.samestat(os.stat("/proc/%d/fd/%d" % (pid, h["fd"])), st)


def test_fork_and_exit(hlib, hs, names):
    a = names()
    make(a)
    p = hs.spawn("both:" + os.path.join(SHM_DIR, a), fork=True)
    ent = H.Snapshot(hlib).named(a)
    assert set(ent["holders"]) == {p.pid, p.child}
    assert set(fuser(os.path.join(SHM_DIR, a))) == {p.pid, p.child}
    p.stdin.write("\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "child gone"
    ent = H.Snapshot(hlib).named(a)
    assert set(ent["holders"]) == {p.pid}
    assert set(fuser(os.path.join(SHM_DIR, a))) == {p.pid}


def test_unlinked_while_mapped_is_deleted_and_readable(hlib, hs, names):
    a = names()
    data = os.urandom(3 * 4096 + 5)
    path = make(a, data)
    st = os.stat(path)
    p = hs.spawn("map:" + path)
    os.unlink(path)
    snap = H.Snapshot(hlib)
    assert snap.named(a) is None
    dead = snap.deleted(a)
    assert len(dead) == 1
    d = dead[0]
    assert d["ino"] == st.st_ino and d["dev"] == st.st_dev
    assert set(d["holders"]) == {p.pid}
    assert d["holders"][p.pid]["how"] == H.HELD_MAP | H.HELD_MAP_WRITE
    # Root stats it through map_files: size and memory are known.
    assert d["have_stat"] and d["size"] == len(data) and d["alloc"] == st.st_blocks * 512
    # lsof agrees: a mapping of a deleted file (DEL) of that name.
    assert any(f == "DEL" and n.startswith(path) for f, _, n in lsof_pid(p.pid))
    # Its bytes can be had through the holder.
    c = ctypes.c_void_p()
    assert hlib.shmblock_holders_scan(H.DEFAULT_DIR, 0, ctypes.byref(c)) == 0
    try:
        fd = hlib.shmblock_holders_open(c, st.st_dev, st.st_ino)
        assert fd >= 0, errno.errorcode.get(-fd)
        try:
            assert os.pread(fd, len(data) + 10, 0) == data
            assert os.fstat(fd).st_ino == st.st_ino
        finally:
            os.close(fd)
        # No such inode held: nothing to open.
        assert hlib.shmblock_holders_open(c, st.st_dev, 1 << 40) == -errno.ENOENT
        hs.stop(p)
        # The holder is gone: its map_files and fds are too.
        assert hlib.shmblock_holders_open(c, st.st_dev, st.st_ino) == -errno.ENOENT
    finally:
        hlib.shmblock_holders_free(c)
    assert not H.Snapshot(hlib).deleted(a)


def test_unlinked_while_open_is_deleted(hlib, hs, names):
    a = names()
    path = make(a, b"y" * 100)
    p = hs.spawn("fd:" + path)
    os.unlink(path)
    dead = H.Snapshot(hlib).deleted(a)
    assert len(dead) == 1 and set(dead[0]["holders"]) == {p.pid}
    assert dead[0]["holders"][p.pid]["how"] == H.HELD_FD and dead[0]["size"] == 100
    assert H.Snapshot(hlib, flags=H.NO_DELETED).deleted(a) == []


def test_renamed_while_mapped(hlib, hs, names):
    a, b = names(), names()
    path = make(a)
    ino = os.stat(path).st_ino
    p = hs.spawn("map:" + path)
    os.rename(path, os.path.join(SHM_DIR, b))
    snap = H.Snapshot(hlib)
    assert snap.named(a) is None
    ent = snap.named(b)
    assert ent["ino"] == ino and set(ent["holders"]) == {p.pid}
    assert not snap.deleted(a) and not snap.deleted(b)
    assert set(fuser(os.path.join(SHM_DIR, b))) == {p.pid}


def test_name_recreated_while_old_inode_mapped(hlib, hs, names):
    a = names()
    path = make(a)
    old = os.stat(path).st_ino
    p1 = hs.spawn("map:" + path)
    os.unlink(path)
    make(a, b"z" * 8192)
    new = os.stat(path).st_ino
    p2 = hs.spawn("fd:" + path)
    snap = H.Snapshot(hlib)
    named, dead = snap.named(a), snap.deleted(a)
    assert named["ino"] == new and set(named["holders"]) == {p2.pid}
    assert [d["ino"] for d in dead] == [old] and set(dead[0]["holders"]) == {p1.pid}
    assert set(fuser(path)) == {p2.pid}


CPY_ATTACH = r"""
import sys
from multiprocessing import shared_memory, resource_tracker
s = shared_memory.SharedMemory(sys.argv[1])
resource_tracker.unregister(s._name, "shared_memory")
print("ready", flush=True)
sys.stdin.readline()
s.close()
print("closed", flush=True)
sys.stdin.read()
"""


def test_cpython_shared_memory_closed_one_by_one(hlib, names):
    from multiprocessing import shared_memory
    a = names()
    shm = shared_memory.SharedMemory(a, create=True, size=10000)
    untrack(shm)
    shm.close()
    procs = []
    try:
        for _ in range(3):
            p = subprocess.Popen([sys.executable, "-c", CPY_ATTACH, a], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            procs.append(p)
            assert p.stdout.readline().strip() == "ready"
        assert set(H.Snapshot(hlib).named(a)["holders"]) == {p.pid for p in procs}
        for i, p in enumerate(procs):
            p.stdin.write("\n")
            p.stdin.flush()
            assert p.stdout.readline().strip() == "closed"
            ent = H.Snapshot(hlib).named(a)
            assert set(ent["holders"]) == {q.pid for q in procs[i + 1:]}
            assert set(fuser(os.path.join(SHM_DIR, a))) == set(ent["holders"])
    finally:
        for p in procs:
            p.kill()
            p.wait()
            p.stdin.close()
            p.stdout.close()


def test_sigkilled_holder_disappears(hlib, hs, names):
    a = names()
    path = make(a)
    p1 = hs.spawn("both:" + path)
    p2 = hs.spawn("map:" + path)
    assert set(H.Snapshot(hlib).named(a)["holders"]) == {p1.pid, p2.pid}
    hs.stop(p1, signal.SIGKILL)
    H.wait_gone(p1.pid)
    assert set(H.Snapshot(hlib).named(a)["holders"]) == {p2.pid}


def test_scan_block_and_lookups(hlib, hs, names):
    a, b = names(), names()
    pa, pb = make(a), make(b)
    p = hs.spawn("fd:" + pa, "map:" + pb)
    snap = H.Snapshot(hlib, block=a)
    assert [e["name"] for e in snap.entries] == [a]
    assert set(snap.entries[0]["holders"]) == {p.pid}
    with pytest.raises(FileNotFoundError):
        H.Snapshot(hlib, block=names())
    with pytest.raises(OSError) as ex:
        H.Snapshot(hlib, block="a/b")
    assert ex.value.errno == errno.EINVAL
    c = ctypes.c_void_p()
    assert hlib.shmblock_holders_scan(H.DEFAULT_DIR, 0, ctypes.byref(c)) == 0
    try:
        st = os.stat(pb)
        e = hlib.shmblock_holders_find(c, st.st_dev, st.st_ino)
        assert e and e.contents.name.decode() == b
        e = hlib.shmblock_holders_find_name(c, b.encode())
        assert e and e.contents.ino == st.st_ino
        assert not hlib.shmblock_holders_find_name(c, (b + "x").encode())
        assert not hlib.shmblock_holders_entry(c, hlib.shmblock_holders_count(c))
    finally:
        hlib.shmblock_holders_free(c)


def test_directory_descriptor(hlib, hs, tmp_path):
    """A directory other than /dev/shm (here on another filesystem, or the
    same tmpfs): blocks are matched by inode, not by /dev/shm's path."""
    d = tmp_path / "blocks"
    d.mkdir()
    (d / "one").write_bytes(b"1" * 4096)
    (d / "two").write_bytes(b"2" * 4096)
    p = hs.spawn("map:%s" % (d / "one"), "fd:%s" % (d / "two"))
    os.unlink(d / "two")
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        snap = H.Snapshot(hlib, dirfd=fd)
    finally:
        os.close(fd)
    assert set(snap.named("one")["holders"]) == {p.pid}
    assert [set(e["holders"]) for e in snap.deleted("two")] == [{p.pid}]


def test_many_blocks_one_scan(hlib, hs, names):
    blocks = [names() for _ in range(300)]
    for n in blocks:
        make(n, b"q")
    p = hs.spawn(*("%s:%s" % ("map" if i % 2 else "fd", os.path.join(SHM_DIR, n))
                   for i, n in enumerate(blocks)))
    snap = H.Snapshot(hlib)
    for i, n in enumerate(blocks):
        assert snap.named(n)["holders"][p.pid]["how"] == \
            (H.HELD_MAP | H.HELD_MAP_WRITE if i % 2 else H.HELD_FD)
    # Sorted by name: named entries first.
    got = [e["name"] for e in snap.entries if not e["deleted"]]
    assert got == sorted(got)


AS_NOBODY = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import holders_ctypes as H
s = H.Snapshot(H.load())
e = s.named(sys.argv[2])
print(json.dumps(dict(partial=s.partial, stats=s.stats,
                      holders=sorted(e["holders"]) if e else None)))
"""


def test_nobody_gets_a_partial_view(hlib, hs, names):
    a = names()
    path = make(a)
    os.chmod(path, 0o644)
    p = hs.spawn("both:" + path)
    # nobody may not reach the checkout (a 0700 clone): a copy of what the
    # child loads, in a directory anyone can read.
    here = os.path.dirname(os.path.abspath(__file__))
    top = tempfile.mkdtemp()
    os.chmod(top, 0o755)
    for d in ("tests", os.path.join("build", "core")):
        os.makedirs(os.path.join(top, d))
        os.chmod(os.path.join(top, d), 0o755)
    os.chmod(os.path.join(top, "build"), 0o755)
    for f in ("conftest.py", "holders_ctypes.py"):
        shutil.copy(os.path.join(here, f), os.path.join(top, "tests", f))
    shutil.copy(os.path.join(BUILD, "core", "libshmblock.so"),
                os.path.join(top, "build", "core", "libshmblock.so"))
    env = dict(os.environ, SHMFS_BUILD="build")
    r = subprocess.run([*NOBODY, sys.executable, "-c", AS_NOBODY,
                        os.path.join(top, "tests"), a],
                       capture_output=True, text=True, env=env, check=True)
    out = json.loads(r.stdout)
    assert out["partial"] and out["stats"]["nunreadable"] > 0
    # root's holder is out of nobody's sight, but the block is listed.
    assert out["holders"] == []
    assert set(H.Snapshot(hlib).named(a)["holders"]) == {p.pid}
