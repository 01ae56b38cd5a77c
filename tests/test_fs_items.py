# SPDX-License-Identifier: MIT
"""List items written and read through the mount as CPython's sl[i] = v
(issue 13): Python's number text, whole values stored at close, empty values,
`>>`, bounded handle memory (issue 12.4), and the rebuild's temporary blocks
(nothing left behind by a killed daemon, invisible to every mount, never
taking a user's name).  CPython's ShareableList is the oracle."""

import ctypes
import errno
import json
import math
import os
import random
import signal
import struct
import subprocess
import threading
import time
from multiprocessing import shared_memory

import pytest

from conftest import SHM_DIR, untrack
from mountutil import Mount, errno_of
from slist_ctypes import CList, load, values_array

TMP_XATTR = "user.shmfs.tmp"


def attach(name):
    sl = shared_memory.ShareableList(name=name)
    untrack(sl.shm)
    return sl


def values(name):
    """The list `name` as CPython reads it now (attached and closed)."""
    sl = attach(name)
    try:
        return list(sl)
    finally:
        sl.shm.close()


@pytest.fixture
def lst(prefix):
    """Lists made by CPython under this test's prefix, closed at the end."""
    made = []

    def make(name, vals):
        sl = shared_memory.ShareableList(vals, name=prefix + name)
        made.append(sl)
        return sl

    yield make
    for sl in made:
        sl.shm.close()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def store(path, *chunks, flags=os.O_WRONLY | os.O_TRUNC):
    """Writes `chunks`, one write(2) each, and closes; returns the errno of
    the first call that failed (open, a write, close) or 0."""
    fd = os.open(path, flags)
    rc = 0
    for c in chunks:
        try:
            os.write(fd, c)
        except OSError as e:
            rc = e.errno
            break
    try:
        os.close(fd)
    except OSError as e:
        rc = rc or e.errno
    return rc


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True)


def same(a, b):
    """Equal as values, NaN and the sign of zero included."""
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or \
            (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


# --- Python's number text (13.4, 13.5) -------------------------------------

def test_float_text_is_python_repr_for_every_power_of_two(shmfs, lst):
    m = shmfs()
    floats = [math.ldexp(1.0, e) for e in range(-1074, 1024)]
    floats += [-f for f in floats[:40]] + [5e-324, 1.7976931348623157e308,
                                           0.1, 1 / 3, 1e16, 1e15, 1e-5]
    sl = lst("F", floats)
    want = "[" + ", ".join(repr(f) for f in floats) + "]\n"
    assert read(m.path("F", ".json")).decode() == want
    for i in random.Random(1).sample(range(len(floats)), 300) + \
            [1074 - 24, 0, 1]:
        assert read(m.path("F", "%d.float" % i)) == \
            (repr(floats[i]) + "\n").encode(), (i, floats[i])
    assert json.loads(read(m.path("F", ".json"))) == floats
    sl.shm.close()


NUMBER_TEXTS = ["1_000", "1_0.5", "١٢", "١٢.٥", "  12 \n", "\u00a012\u2003",
                "+7", "-0", "1__0", "_1", "1_", "0x10", "1e3", "1E-3",
                "nan(123)", "nan", "-NaN", "+inf", "-Infinity", "iNfInItY",
                "infinit", ".5", "5.", ".", "0" * 500 + "1.5",
                "1" + "0" * 450 + ".25e-440", "9223372036854775807",
                "9223372036854775808", "-9223372036854775808", "", " ",
                "1 2", "٣_٤", "1.5\x00", "True", "0b1", "00012"]


@pytest.mark.parametrize("kind", [int, float])
def test_numbers_are_parsed_as_python_int_and_float(shmfs, lst, kind):
    m = shmfs()
    name = "0.int" if kind is int else "0.float"
    sl = lst("N", [kind(3)])
    for text in NUMBER_TEXTS:
        sl[0] = kind(3)
        try:
            want = kind(text)
            if kind is int and not -2**63 <= want < 2**63:
                raise ValueError
        except ValueError:
            want = None
        rc = store(m.path("N", name), text.encode())
        if want is None:
            assert rc == errno.EINVAL, text
            assert same(sl[0], kind(3)), text
        else:
            assert rc == 0, text
            assert same(sl[0], want), (text, sl[0], want)


# --- Whole values, stored at close (13.1) -----------------------------------

def test_a_refused_value_leaves_the_item_unchanged(shmfs, lst):
    m = shmfs()
    sl = lst("L", ["abcdefgh", 5, b"12345678"])
    # The second write doesn't fit: nothing of the value is stored, and
    # later writes through the handle are refused too.
    fd = os.open(m.path("L", "0.str"), os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"xy")
    assert sl[0] == "abcdefgh"         # not stored before close
    assert errno_of(os.write, fd, b"z" * 20) == errno.EFBIG
    assert errno_of(os.write, fd, b"z") == errno.EFBIG
    os.close(fd)
    assert sl[0] == "abcdefgh"
    # Text that no continuation makes a value is refused by write(2)
    # (issue 23.1), the rest of the value too; the close then answers 0.
    fd = os.open(m.path("L", "1.int"), os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"12")
    assert errno_of(os.write, fd, b"x\n") == errno.EINVAL
    assert errno_of(os.write, fd, b"3") == errno.EINVAL
    assert sl[1] == 5
    os.close(fd)
    assert sl[1] == 5
    fd = os.open(m.path("L", "0.str"), os.O_WRONLY | os.O_TRUNC)
    assert errno_of(os.write, fd, b"ab\xff") == errno.EINVAL
    os.close(fd)
    assert sl[0] == "abcdefgh"
    # A value refused whole, which only its end shows, is refused by
    # close(2): an incomplete number, a str cut inside a character.
    for name, text in (("1.int", b"-"), ("1.float", b"1e"), ("0.str", b"ab\xe2\x82")):
        fd = os.open(m.path("L", name), os.O_WRONLY | os.O_TRUNC)
        os.write(fd, text)
        assert errno_of(os.close, fd) == errno.EINVAL, (name, text)
    assert sl[0] == "abcdefgh" and sl[1] == 5
    # A 3-byte character split over writes is no error.
    assert store(m.path("L", "0.str"), b"a\xe2", b"\x82", b"\xacb") == 0
    assert sl[0] == "a\u20acb"
    # pwrite at offsets builds the value; a bytes value may hold NULs.
    fd = os.open(m.path("L", "2.bytes"), os.O_WRONLY | os.O_TRUNC)
    os.pwrite(fd, b"cd", 2)
    os.pwrite(fd, b"ab", 0)
    assert sl[2] == b"12345678"
    os.close(fd)
    assert sl[2] == b"abcd"
    # An item whose list lost it: the close says so.
    fd = os.open(m.path("L", "1.int"), os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"7")
    sl.shm.close()
    os.unlink(os.path.join(SHM_DIR, sl.shm.name))
    assert errno_of(os.close, fd) in (errno.EIO, errno.ENOENT)


@pytest.mark.parametrize("tool", ["cat", "dd", "dd-append"])
def test_a_value_in_many_chunks_is_stored_whole(shmfs, lst, tmp_path, tool):
    m = shmfs()
    size = 3 * 131072 + 100
    sl = lst("L", ["x" * size, 1])
    # 2- and 4-byte characters straddling each 128 KiB chunk boundary.
    text = ""
    while len(text.encode()) < size - 8:
        b = len(text.encode())
        nxt = (b // 131072 + 1) * 131072
        text += "a" * (nxt - b - 1) + ("é" if nxt // 131072 % 2 else "😀")
    text = text.encode()[:size - 8].decode("utf-8", "ignore")
    src = tmp_path / "v"
    src.write_bytes(text.encode())
    if tool == "cat":
        r = sh("cat %s > %s" % (src, m.path("L", "0.str")))
    elif tool == "dd":
        r = sh("dd if=%s of=%s bs=131072 status=none" %
               (src, m.path("L", "0.str")))
    else:
        # A new item: the handle that appends it grows the list once.
        r = sh("dd if=%s of=%s bs=65536 status=none" %
               (src, m.path("L", "2.str")))
    assert r.returncode == 0, r.stderr
    got = values(sl.shm.name)
    if tool == "dd-append":
        assert got[2] == text and got[:2] == ["x" * size, 1]
    else:
        assert got[0] == text


# --- Empty values (13.2) and >> (13.3) --------------------------------------

def test_empty_values(shmfs, lst, tmp_path):
    m = shmfs()
    sl = lst("L", ["abc", b"xy", 5, 1.5, True, None])
    P = lambda n: m.path("L", n)  # noqa: E731
    assert sh(": > %s" % P("1.bytes")).returncode == 0
    assert sl[1] == b""
    sl[1] = b"xy"
    assert sh("cp /dev/null %s" % P("1.bytes")).returncode == 0
    assert sl[1] == b""
    assert sh("printf '' > %s" % P("0.str")).returncode == 0
    assert sl[0] == ""
    sl[0] = "abc"
    assert sh("truncate -s 0 %s" % P("0.str")).returncode == 0
    assert sl[0] == ""
    sl[0] = "abc"
    os.truncate(P("0.str"), 0)        # by path: stored at once
    assert sl[0] == ""
    sl[0] = "abc"
    with open(P("0.str"), "r+") as f:  # through a handle: at close
        f.truncate(0)
        assert sl[0] == "abc"
    assert sl[0] == ""
    # int(''), float(''), bool of nothing: refused, at close or truncate.
    for name, old in (("2.int", 5), ("3.float", 1.5), ("4.bool", True)):
        fd = os.open(P(name), os.O_WRONLY | os.O_TRUNC)
        assert errno_of(os.close, fd) == errno.EINVAL
        assert errno_of(os.truncate, P(name), 0) == errno.EINVAL
        assert sl[int(name[0])] == old
    # None's text may be empty.
    assert store(P("5.none")) == 0 and sl[5] is None
    # Opened for writing without O_TRUNC and nothing written: no change.
    assert store(P("2.int"), flags=os.O_WRONLY) == 0 and sl[2] == 5
    # An empty item round-trips through a file.
    sl[1] = b""
    f = tmp_path / "f"
    assert sh("cat %s > %s; cat %s > %s" % (P("1.bytes"), f, f,
                                             P("1.bytes"))).returncode == 0
    assert sl[1] == b"" and f.read_bytes() == b""
    sl[1] = b"q\x00z"
    assert sh("cat %s > %s; : > %s; cat %s > %s" % (
        P("1.bytes"), f, P("1.bytes"), f, P("1.bytes"))).returncode == 0
    assert sl[1] == b"q\x00z"
    # Creating a new item with `>` and no text keeps its default.
    assert sh(": > %s" % P("6.int")).returncode == 0
    assert values(sl.shm.name)[6] == 0


def test_append_redirection_appends_to_the_text(shmfs, lst):
    m = shmfs()
    sl = lst("L", ["ab" + " " * 14, b"xy" + b" " * 6, 5])
    sl[0], sl[1] = "ab", b"xy"
    P = lambda n: m.path("L", n)  # noqa: E731
    assert sh("echo x >> %s" % P("0.str")).returncode == 0
    assert sl[0] == "ab\nx"
    assert sh("printf cd >> %s" % P("1.bytes")).returncode == 0
    assert sl[1] == b"xycd"
    # "5\n7": no int, refused at the write (issue 23.1).
    assert sh("echo 7 >> %s" % P("2.int")).returncode == 1
    assert sl[2] == 5
    assert store(P("2.int"), b"3", flags=os.O_WRONLY | os.O_APPEND) == \
        errno.EINVAL                                       # "5\n3"
    assert store(P("2.int"), b"1", flags=os.O_WRONLY | os.O_APPEND |
                 os.O_TRUNC) == 0                          # O_TRUNC wins
    assert sl[2] == 1
    # Too long once appended: refused at the write, nothing stored.
    cap = int(os.getxattr(P("1.bytes"), "user.shmfs.capacity"))
    assert store(P("1.bytes"), b"1" * (cap - 3),
                 flags=os.O_WRONLY | os.O_APPEND) == errno.EFBIG
    assert sl[1] == b"xycd"


# --- Memory of a handle (12.4) -----------------------------------------------

def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_open_items_with_refused_writes_keep_the_daemon_small(shmfs, lst):
    m = shmfs()
    sl = lst("L", [1, "abcdefgh", b"x"])
    read(m.path("L", ".json"))
    before = rss_kib(m.proc.pid)
    fds, errs = [], set()
    try:
        for i in range(300):
            fd = os.open(m.path("L", "%d" % (i % 3)), os.O_WRONLY)
            fds.append(fd)
            errs.add(errno_of(os.pwrite, fd, b"x", 9_000_000 - i))
        grown = rss_kib(m.proc.pid) - before
        assert grown < 64 * 1024, "daemon grew by %d KiB" % grown
        assert errs == {errno.EFBIG}
        # What an item can hold is accepted; a byte more is not.
        for name, off, rc in (("1", 8, 0), ("2", 8, errno.EFBIG)):
            fds.append(os.open(m.path("L", name), os.O_WRONLY))
            assert errno_of(os.pwrite, fds[-1], b"y", off) == rc
    finally:
        for fd in fds:
            os.close(fd)
    # Only the write that fitted was stored, at its close.
    assert list(sl) == [1, "\0" * 8 + "y", b"x"]
    # The handle that appends an item may grow the list, up to one slot.
    fd = os.open(m.path("L", "3.bytes"), os.O_WRONLY | os.O_CREAT)
    assert errno_of(os.pwrite, fd, b"x", 9999993) == errno.EFBIG
    os.close(fd)
    assert values(sl.shm.name)[3] == b""


# --- Temporary blocks (13.6, 13.7) ---------------------------------------------

def tmp_names(directory, prefix=""):
    return [n for n in os.listdir(directory)
            if n.startswith(prefix) and ".shmfs-tmp-" in n]


def start_time(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return int(s[s.rindex(")") + 2:].split()[19])


def mark_of(pid, start):
    return ("%d %d %d" % (pid, start, os.stat("/proc/self/ns/pid").st_ino)
            ).encode()


def make_marked(path, mark):
    with open(path, "wb") as f:
        f.write(b"\0" * 16)
    os.setxattr(path, TMP_XATTR, mark)


def test_a_killed_daemon_leaves_no_temporary_block(prefix):
    rng = random.Random()
    name = prefix + "K"
    expected_len = 0
    unset = set()
    mounts = []
    try:
        for round_ in range(12):
            m = Mount(prefix)
            mounts.append(m)
            if round_ == 0:
                os.mkdir(m.path("K"))
            # Nothing a dead daemon left survives a start.
            assert tmp_names(SHM_DIR, prefix) == []
            stop = threading.Event()

            def appender():
                n = expected_len
                while not stop.is_set():
                    try:
                        with open(m.path("K", "%d.str" % n), "w") as f:
                            f.write("v%d" % n)
                    except OSError:
                        return
                    n += 1

            t = threading.Thread(target=appender)
            t.start()
            time.sleep(rng.uniform(0.005, 0.15))
            m.proc.kill()
            stop.set()
            t.join(30)
            m.close()
            # Either the old list or the new one, never anything else.
            got = values(name)
            assert len(got) >= expected_len
            # An item appended whose value the kill kept from being stored
            # has its default.
            for i, v in enumerate(got):
                assert v == "v%d" % i or (v == "" and (
                    i == len(got) - 1 or i in unset)), (i, v)
            if got and got[-1] == "":
                unset.add(len(got) - 1)
            expected_len = len(got)
        m = Mount(prefix)
        mounts.append(m)
        assert tmp_names(SHM_DIR, prefix) == []
        assert len([n for n in os.listdir(m.path("K"))
                    if not n.startswith(".")]) == expected_len
        assert expected_len > 0
    finally:
        for m in mounts:
            m.close()


def test_temporary_names_across_prefixes(shmfs, peer):
    d = peer
    P = "pfx."
    live = mark_of(os.getpid(), start_time(os.getpid()))
    child = subprocess.Popen(["true"])
    child.wait()
    dead = mark_of(child.pid, 12345)
    # A user's own blocks that only look like temporary ones.
    for n in (".shmfs-tmp-x", "a.shmfs-tmp-1-deadbeef", P + "b"):
        with open(os.path.join(d, n), "wb") as f:
            f.write(b"user")
    # Marked ones: a live daemon's (this process stands for it), a dead one's.
    live_tmp = "%s.shmfs-tmp-%d-0badf00d" % (P, os.getpid())
    dead_tmp = ".shmfs-tmp-%d-0123abcd" % child.pid
    make_marked(os.path.join(d, live_tmp), live)
    make_marked(os.path.join(d, dead_tmp), dead)
    # A mark with another pid than the name's is no daemon's to sweep.
    odd = ".shmfs-tmp-1-00000000"
    make_marked(os.path.join(d, odd), dead)

    bare = shmfs(shmdir=d, prefix="")
    pm = shmfs(shmdir=d, prefix=P)
    # The dead daemon's block was swept; nothing else was.
    left = sorted(os.listdir(d))
    assert dead_tmp not in left
    assert {live_tmp, odd, ".shmfs-tmp-x", "a.shmfs-tmp-1-deadbeef"} <= \
        set(left)
    # Users' blocks are shown and theirs to make; marked ones by no mount.
    shown = set(os.listdir(bare.dir))
    assert {".shmfs-tmp-x", "a.shmfs-tmp-1-deadbeef", P + "b"} <= shown
    assert live_tmp not in shown and odd not in shown
    assert read(bare.path(".shmfs-tmp-x")) == b"user"
    assert errno_of(os.stat, bare.path(live_tmp)) == errno.ENOENT
    with open(bare.path(".shmfs-tmp-y"), "wb") as f:
        f.write(b"mine")
    assert read(os.path.join(d, ".shmfs-tmp-y")) == b"mine"
    assert [n for n in os.listdir(pm.dir) if "tmp" in n or n == "b"] == \
        ["b"]
    assert errno_of(os.stat, pm.path(live_tmp[len(P):])) == errno.ENOENT
    # Appends through the prefixed mount never show a temporary block in
    # the unprefixed one.
    os.mkdir(pm.path("L"))
    seen = set()
    stop = threading.Event()

    def lister():
        while not stop.is_set():
            seen.update(n for n in os.listdir(bare.dir)
                        if ".shmfs-tmp-" in n and n.startswith(P))

    t = threading.Thread(target=lister)
    t.start()
    try:
        for i in range(150):
            with open(pm.path("L", "%d.int" % i), "w") as f:
                f.write(str(i))
    finally:
        stop.set()
        t.join()
    assert seen <= {live_tmp}
    assert sorted(n for n in os.listdir(bare.path(P + "L"))
                  if not n.startswith(".")) == \
        sorted("%d.int" % i for i in range(150))
    # Nothing left behind by the appends.
    assert sorted(tmp_names(d)) == sorted(
        [live_tmp, odd, "a.shmfs-tmp-1-deadbeef", ".shmfs-tmp-x",
         ".shmfs-tmp-y"])
    # The new list carries no mark.
    assert TMP_XATTR not in os.listxattr(os.path.join(d, P + "L"))


# --- Owners across rebuilds (13.8, the cleanup side) ----------------------------

@pytest.fixture
def slib():
    return load()


def test_manager_list_appended_through_the_mount_goes_at_shutdown(
        shmfs, prefix, slib):
    m = shmfs()
    h = ctypes.c_void_p()
    assert slib.shmblock_manager_start(ctypes.byref(h)) == 0
    try:
        lh = ctypes.c_void_p()
        arr = values_array([1, "two"])
        rc = slib.shmblock_manager_create_slist(
            h, -1, (prefix + "M").encode(), arr, 2, 0o600, ctypes.byref(lh))
        assert rc == 0
        CList(slib, lh).close()
        ino = os.stat(os.path.join(SHM_DIR, prefix + "M")).st_ino
        with open(m.path("M", "2.str"), "w") as f:
            f.write("three")
        assert os.stat(os.path.join(SHM_DIR, prefix + "M")).st_ino != ino
        assert values(prefix + "M") == [1, "two", "three"]
    finally:
        assert slib.shmblock_manager_shutdown(h) == 1
    assert not os.path.exists(os.path.join(SHM_DIR, prefix + "M"))


def test_cleanup_removes_its_lists_appended_to_and_no_other(shmfs, prefix,
                                                             lst):
    m = shmfs("cleanup")
    os.mkdir(m.path("A"))
    for i in range(3):
        with open(m.path("A", "%d.str" % i), "w") as f:
            f.write("item %d" % i)
    theirs = lst("B", [1])
    with open(m.path("B", "1.bytes"), "wb") as f:
        f.write(b"appended")
    assert values(prefix + "A") == ["item 0", "item 1", "item 2"]
    m.close()
    assert not os.path.exists(os.path.join(SHM_DIR, prefix + "A"))
    assert values(theirs.shm.name) == [1, b"appended"]
