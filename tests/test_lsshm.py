# SPDX-License-Identifier: MIT
"""lsshm, the command: its columns against stat, JSON, --pid, --deleted,
-o, -n, --bytes, kinds, and a partial view as nobody."""

import json
import os
import pwd
import stat
import subprocess

import pytest

import holders_ctypes as H
from conftest import BUILD, SHM_DIR, untrack

LSSHM = os.path.join(BUILD, "core", "lsshm")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def hs():
    h = H.Holders()
    yield h
    h.close()


def run(*args, check=True, prefix_cmd=()):
    r = subprocess.run([*prefix_cmd, LSSHM, *args], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def rows(*args):
    """JSON rows of lsshm, by name."""
    out = json.loads(run("-J", *args).stdout)
    return {r["name"]: r for r in out["shmblocks"]}


def make(name, size, mode=0o600):
    path = os.path.join(SHM_DIR, name)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode)
    try:
        os.fchmod(fd, mode)
        if size:
            os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)
    return path


def test_columns_against_stat(names, hs):
    a, b = names(), names()
    pa = make(a, 1536 * 1024, 0o640)
    pb = make(b, 0)
    p = hs.spawn("map:" + pa)
    lines = run("-r", "-n", "-b", "-o", "name,inode,size,alloc,owner,uid,mode,nholders,"
                "holders").stdout.splitlines()
    got = {f[0]: f for f in (line.split(" ") for line in lines)}
    for name, path in ((a, pa), (b, pb)):
        st = os.stat(path)
        f = got[name]
        assert f[1:8] == [str(st.st_ino), str(st.st_size), str(st.st_blocks * 512),
                          pwd.getpwuid(st.st_uid).pw_name, str(st.st_uid),
                          stat.filemode(st.st_mode), "1" if name == a else "0"]
    assert got[a][8] == "%d(python3)" % p.pid
    # Human sizes by default, as util-linux prints them.
    h = rows()
    assert h[a]["size"] == "1.5M" and h[a]["alloc"] == "1.5M" and h[b]["size"] == "0B"


def test_json_matches_and_numbers_are_numbers(names, hs):
    a = names()
    pa = make(a, 8192)
    p1 = hs.spawn("fd:" + pa)
    p2 = hs.spawn("both:" + pa)
    r = rows("-b", "--output-all")[a]
    st = os.stat(pa)
    assert r["size"] == st.st_size and r["alloc"] == st.st_blocks * 512
    assert r["inode"] == st.st_ino and r["uid"] == st.st_uid
    assert r["nholders"] == 2 and r["writers"] == 1
    assert r["holders"] == "%d(python3),%d(python3)" % tuple(sorted((p1.pid, p2.pid)))
    assert r["kind"] == "plain" and r["mode"] == "-rw-------"
    # Sorted by name.
    out = json.loads(run("-J").stdout)["shmblocks"]
    assert [x["name"] for x in out] == sorted(x["name"] for x in out)


def test_pid_and_deleted(names, hs):
    a, b, c = names(), names(), names()
    pa, pb, pc = make(a, 4096), make(b, 4096), make(c, 4096)
    p = hs.spawn("fd:" + pa, "map:" + pc)
    other = hs.spawn("fd:" + pb)
    ino_c = os.stat(pc).st_ino
    os.unlink(pc)
    mine = rows("--pid", str(p.pid))
    assert set(mine) == {a, c + " (deleted)"}
    assert set(rows("--pid", str(other.pid))) == {b}
    dead = [r for r in json.loads(run("-J", "--deleted").stdout)["shmblocks"]
            if r["name"] == c]
    assert len(dead) == 1 and dead[0]["inode"] == ino_c
    assert dead[0]["holders"] == "%d(python3)" % p.pid
    # Deleted blocks are not among the named ones.
    assert c not in rows()
    hs.stop(p)
    assert c not in rows("--deleted")


def test_output_noheadings_raw(names):
    a = names()
    make(a, 4096)
    out = run("-o", "NAME,nholders").stdout.splitlines()
    assert out[0].split() == ["NAME", "NHOLDERS"]
    assert [a, "0"] in [line.split() for line in out]
    out = run("-n", "-r", "-o", "size,name").stdout.splitlines()
    assert "4K %s" % a in out
    assert all(not line.startswith("SIZE") for line in out)
    out = run("-n", "-o", "+inode").stdout.splitlines()
    assert any(line.split()[0] == a and line.split()[-1] == str(os.stat(
        os.path.join(SHM_DIR, a)).st_ino) for line in out)
    r = run("-o", "bogus", check=False)
    assert r.returncode == 1 and "unknown column" in r.stderr


def test_kinds(names, prefix):
    from multiprocessing import shared_memory
    a, b = names(), names()
    sl = shared_memory.ShareableList([1, 2.5, "x", None], name=a)
    untrack(sl.shm)
    make(b, 100)
    # A sem.* file that is not a glibc semaphore (32 zero bytes: the
    # futex word's private flag is not glibc's shared one) is a block.
    fake = "sem." + prefix + "s"
    make(fake, 32)
    try:
        r = rows()
        assert r[a]["kind"] == "list[4]"
        assert r[b]["kind"] == "plain"
        assert r[fake]["kind"] == "plain" and r[fake]["size"] == "32B"
    finally:
        sl.shm.close()
        os.unlink(os.path.join(SHM_DIR, fake))


def test_shmdir(tmp_path):
    (tmp_path / "one").write_bytes(b"1" * 10)
    (tmp_path / "sub").mkdir()
    r = json.loads(run("-J", "-b", "--shmdir", str(tmp_path)).stdout)["shmblocks"]
    assert [(x["name"], x["size"]) for x in r] == [("one", 10)]
    bad = run("--shmdir", str(tmp_path / "none"), check=False)
    assert bad.returncode == 1 and "No such file" in bad.stderr


def test_nobody_sees_a_partial_view_and_exits_0(names, hs):
    a = names()
    pa = make(a, 4096, 0o644)
    hs.spawn("both:" + pa)
    r = run("-J", prefix_cmd=NOBODY)
    assert "partial" in r.stderr and "root" in r.stderr
    got = {x["name"]: x for x in json.loads(r.stdout)["shmblocks"]}
    assert got[a]["nholders"] == 0
    # As root the same block has its holder.
    assert rows()[a]["nholders"] == 1


def test_help_and_version():
    r = run("--help")
    assert "--deleted" in r.stdout and "NHOLDERS" in r.stdout
    assert run("-V").stdout.startswith("lsshm from shmfs ")
    assert run("--nonsense", check=False).returncode == 1
