# SPDX-License-Identifier: MIT
"""lsshm --json prints its JSON itself: held byte for byte to what
libsmartcols prints for the same table (LSSHM_SCOLS_JSON=1 makes lsshm use
it), on names with every odd byte, empty tables, null cells, --pid and
--deleted, and -J -r, which stays raw as libsmartcols has it."""

import json
import os
import subprocess
from multiprocessing import shared_memory

import pytest

import holders_ctypes as H
from conftest import BUILD, SHM_DIR, untrack
from sem_peer import Glibc

LSSHM = os.path.join(BUILD, "core", "lsshm")

OPTION_SETS = [
    ["-J"],
    ["--json", "--output-all"],
    ["-J", "-b", "--output-all"],
    ["-J", "-n", "-o", "name,kind,holders"],
    ["-J", "-o", "+inode,uid,group,writers,lifetime"],
    ["-J", "-o", "name,name,size"],
    ["-J", "--deleted", "--output-all"],
    ["-J", "-b", "--deleted"],
]


@pytest.fixture
def hs():
    h = H.Holders()
    yield h
    h.close()


def lsshm(*args, scols=False):
    env = dict(os.environ)
    env.pop("LSSHM_SCOLS_JSON", None)
    if scols:
        env["LSSHM_SCOLS_JSON"] = "1"
    r = subprocess.run([LSSHM, *args], capture_output=True, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def same_both_ways(*args):
    """lsshm's own JSON and libsmartcols's, for one set of options; the
    holders are still, so the two scans see the same."""
    ours, theirs = lsshm(*args), lsshm(*args, scols=True)
    assert ours == theirs, args
    return ours


def parse(out):
    return json.loads(out.decode("utf-8", "surrogateescape"))["shmblocks"]


def odd_names():
    """A name around every byte a name may hold, and some harder ones."""
    names = [b"b%02x-%c-end" % (c, c) for c in range(1, 256) if c != ord("/")]
    names += [b'"', b"\\", b'a"b\\c', b"\\u0041", "\u00e9t\u00e9".encode(),
              "\u65e5\u672c".encode(), b"\x7f", b"\xff\xfe", b"\xc3", b"-dash",
              b"x" * 255, b"looks (deleted)", b"\t\n\r\x08\x0c", b" "]
    return names


def test_odd_names_byte_for_byte(tmp_path, hs):
    d = os.fsencode(tmp_path)
    names = odd_names()
    for i, n in enumerate(names):
        with open(os.path.join(d, n), "wb") as f:
            if i % 3 == 1:
                f.write(b"data" * 300)
            elif i % 3 == 2:
                f.truncate(1536 * 1024)
    os.chmod(os.path.join(d, names[0]), 0o4755)
    os.chmod(os.path.join(d, names[1]), 0o1640)
    for n, value in ((names[2], b"last-holder"), (names[3], b"no such policy")):
        try:
            os.setxattr(os.path.join(d, n), "user.shmfs.lifetime", value)
        except OSError:
            pass  # a filesystem without user xattrs: the column is null
    # Holders: by a descriptor, a mapping, both, and one unlinked while held.
    gone = b'gone "\\x'
    with open(os.path.join(d, gone), "wb") as f:
        f.write(b"x" * 5000)
    p = lambda n: os.fsdecode(os.path.join(d, n))
    hs.spawn("fd:" + p(names[4]), "map:" + p(names[5]), "both:" + p(names[6]),
             "mapro:" + p(names[7]), "map:" + p(gone))
    hs.spawn("fdro:" + p(names[4]), "both:" + p(gone))
    os.unlink(os.path.join(d, gone))

    for opts in OPTION_SETS:
        same_both_ways(*opts, "--shmdir", str(tmp_path))
    rows = parse(same_both_ways("-J", "-b", "--output-all", "--shmdir", str(tmp_path)))
    # The names come back whole through a JSON parser, in order.
    assert [r["name"] for r in rows] == sorted(
        (os.fsdecode(n) for n in names), key=lambda s: os.fsencode(s))
    held = {r["name"]: r for r in rows if r["nholders"]}
    assert held[os.fsdecode(names[4])]["nholders"] == 2
    assert held[os.fsdecode(names[6])]["writers"] == 1
    dead = parse(same_both_ways("-J", "--deleted", "--shmdir", str(tmp_path)))
    assert [r["name"] for r in dead] == [os.fsdecode(gone)]


def test_empty_and_null_cells(tmp_path):
    out = same_both_ways("-J", "--shmdir", str(tmp_path))
    assert parse(out) == []
    (tmp_path / "one").write_bytes(b"")
    rows = parse(same_both_ways("-J", "-o", "name,holders,lifetime", "--shmdir",
                                str(tmp_path)))
    assert rows == [{"name": "one", "holders": None, "lifetime": None}]


def test_json_raw_stays_raw(tmp_path):
    (tmp_path / "one").write_bytes(b"1")
    out = same_both_ways("-J", "-r", "-o", "name,size", "--shmdir", str(tmp_path))
    assert out.decode().splitlines() == ["name size", "one 1B"]


def test_pid_view_of_dev_shm(names, hs):
    """--pid in /dev/shm: a list, a glibc semaphore, a " (deleted)" name."""
    a, b, c = names(), names(), names()
    sl = shared_memory.ShareableList([1, "two", None], name=a)
    untrack(sl.shm)
    sem = "sem." + b
    glibc = Glibc()
    glibc.close(glibc.open(b, os.O_CREAT | os.O_EXCL, 0o600, 2))
    with open(os.path.join(SHM_DIR, c), "wb") as f:
        f.write(b"\0" * 64)
    try:
        p = hs.spawn("fd:" + os.path.join(SHM_DIR, a), "map:" + os.path.join(SHM_DIR, sem),
                     "both:" + os.path.join(SHM_DIR, c))
        os.unlink(os.path.join(SHM_DIR, c))
        for opts in (["-J", "--output-all"], ["-J", "-b", "--output-all"],
                     ["-J", "--deleted", "--output-all"]):
            same_both_ways(*opts, "--pid", str(p.pid))
        rows = {r["name"]: r for r in parse(same_both_ways("-J", "--output-all", "--pid",
                                                           str(p.pid)))}
        assert rows[a]["kind"] == "list[3]" and rows[sem]["kind"] == "semaphore"
        assert rows[sem]["value"] == 2 and rows[sem]["waiters"] == 0
        assert rows[a]["value"] is None and rows[a]["dtype"] is None
        assert rows[c + " (deleted)"]["holders"] == "%d(python3)" % p.pid
    finally:
        sl.shm.close()
        os.unlink(os.path.join(SHM_DIR, sem))


@pytest.mark.parametrize("opts", [["-J"], []])
def test_write_error_exits_1(tmp_path, opts):
    (tmp_path / "one").write_bytes(b"1")
    with open("/dev/full", "wb") as full:
        r = subprocess.run([LSSHM, *opts, "--shmdir", str(tmp_path)], stdout=full,
                           stderr=subprocess.PIPE, text=True)
    assert r.returncode == 1 and "write error" in r.stderr
