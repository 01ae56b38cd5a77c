# SPDX-License-Identifier: MIT
"""A review of the top level's listing (fs/listing.c) from an attacker's and
a careless user's side: types after lost events, odd names, and names that
are not blocks; always against /dev/shm itself and CPython's view."""

import ctypes
import os
import signal
import time
from multiprocessing import shared_memory

from conftest import SHM_DIR
from mountutil import shmfs  # noqa: F401

SYS_GETDENTS64 = 217  # x86_64
DT_UNKNOWN, DT_DIR, DT_REG = 0, 4, 8
libc = ctypes.CDLL(None, use_errno=True)


def getdents(fd, size=512):
    """(name, d_type) of one getdents64 call ([] at the end)."""
    buf = ctypes.create_string_buffer(size)
    n = libc.syscall(SYS_GETDENTS64, fd, buf, size)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    out, off = [], 0
    while off < n:
        reclen = int.from_bytes(buf.raw[off + 16:off + 18], "little")
        dtype = buf.raw[off + 18]
        name = buf.raw[off + 19:off + reclen].split(b"\0", 1)[0]
        out.append((os.fsdecode(name), dtype))
        off += reclen
    return out


def raw_listing(path, size=512):
    """name -> d_type of a whole readdir with small getdents64 calls."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    got = []
    try:
        while True:
            part = getdents(fd, size)
            if not part:
                break
            got += part
    finally:
        os.close(fd)
    names = [n for n, _ in got if n not in (".", "..")]
    assert len(names) == len(set(names)), "a name listed twice"
    return {n: t for n, t in got if n not in (".", "..")}


def list_bytes(name):
    """The bytes of a ShareableList as CPython lays it out."""
    sl = shared_memory.ShareableList([7, "seven", 7.5], name=name)
    try:
        return bytes(sl.shm.buf[:sl.shm.size])
    finally:
        sl.shm.close()
        sl.shm.unlink()


def cpython_is_list(path):
    """Whether CPython reads the block as a ShareableList (by its name)."""
    try:
        sl = shared_memory.ShareableList(name=os.path.basename(path))
    except Exception:
        return False
    try:
        from conftest import untrack
        untrack(sl.shm)
        list(sl)
        return True
    except Exception:
        return False
    finally:
        sl.shm.close()


def write_block(path, data):
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.ftruncate(fd, len(data))
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def shm_names(prefix):
    return {e.name[len(prefix):] for e in os.scandir(SHM_DIR)
            if e.name.startswith(prefix) and e.is_file(follow_symlinks=False)}


def check_types(m, listing):
    """No d_type is wrong: DT_UNKNOWN, or the kind a stat finds."""
    for name, t in listing.items():
        if t == DT_UNKNOWN:
            continue
        isdir = os.path.isdir(os.path.join(m.dir, name))
        assert t == (DT_DIR if isdir else DT_REG), name


def overflow(m, prefix):
    """Makes the stopped daemon's inotify queue overflow."""
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        limit = int(f.read())
    for i in range(limit // 2 + 100):
        path = os.path.join(SHM_DIR, "%sgone%d" % (prefix, i))
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.unlink(path)


def test_kinds_changed_while_events_were_lost(shmfs, prefix):
    """Settled blocks whose kinds the listing keeps change kind while the
    daemon's inotify queue overflows, each keeping its inode: the listing
    after the lost events must not give the kinds it kept from before."""
    m = shmfs()
    lst = list_bytes(prefix + "t-")
    # First (positions are in arrival order): the kernel asks READDIRPLUS
    # for the first part of a listing only, whose entries look up their
    # own kinds; the rest comes from plain READDIR, the listing's kinds.
    pads = {"pad%03d" % i: DT_REG for i in range(150)}
    for n in pads:
        write_block(m.block(n), b"plain")
    write_block(m.block("to-list"), b"\x01" * len(lst))
    write_block(m.block("to-block"), lst)
    write_block(m.block("stays"), lst)
    # Settled (LISTING_SETTLED): a listing keeps their kinds.
    time.sleep(3.2)
    os.listdir(m.dir)
    want = {"to-list": DT_REG, "to-block": DT_DIR, "stays": DT_DIR, **pads}
    assert raw_listing(m.dir) == want
    ino = os.stat(os.path.join(SHM_DIR, prefix + "to-list")).st_ino
    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        overflow(m, prefix)
        fd = os.open(os.path.join(SHM_DIR, prefix + "to-list"), os.O_RDWR)
        os.pwrite(fd, lst, 0)
        os.close(fd)
        with open(os.path.join(SHM_DIR, prefix + "to-block"), "r+b") as f:
            f.truncate(5)
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)
    assert os.stat(os.path.join(SHM_DIR, prefix + "to-list")).st_ino == ino
    assert cpython_is_list(prefix + "to-list")
    assert not cpython_is_list(prefix + "to-block")
    # The watch has handled the overflow (a listing while it is busy
    # reads /dev/shm anyway).
    time.sleep(1)
    got = raw_listing(m.dir)
    assert set(got) == shm_names(prefix)
    now = {**pads, "to-list": DT_DIR, "to-block": DT_REG, "stays": DT_DIR}
    for name, t in got.items():
        assert t in (DT_UNKNOWN, now[name]), "%s: d_type %d" % (name, t)
    check_types(m, got)


def odd_names(prefix):
    longest = "L" * (255 - len(prefix))
    return ["new\nline", " lead", "trail ", "tab\tx", "\u00e9t\u00e9",
            longest, "-dash", "a.b.c"]


def make_non_blocks(prefix, tag):
    """A FIFO, a symlink to a block, a directory and a dangling symlink,
    under the mount's prefix: none is a block."""
    base = os.path.join(SHM_DIR, prefix + tag)
    os.mkfifo(base + "fifo", 0o600)
    os.symlink(prefix + "-dash", base + "link")
    os.symlink(prefix + "nowhere", base + "dangling")
    os.mkdir(base + "dir", 0o700)
    return [base + "fifo", base + "link", base + "dangling", base + "dir"]


def test_odd_names_and_non_blocks(shmfs, prefix):
    """Names with newlines, spaces, of 255 bytes; FIFOs, symlinks and
    directories under the prefix: the first listing (a read of /dev/shm)
    and one after they came as events (the watch's stat) show exactly the
    regular files, typed right, with /dev/shm's inode numbers."""
    lst = list_bytes(prefix + "t-")
    m = shmfs()
    made = []
    try:
        for n in odd_names(prefix)[:4]:
            write_block(m.block(n), b"plain")
        write_block(m.block("list-1"), lst)
        made += make_non_blocks(prefix, "early-")
        first = raw_listing(m.dir)
        assert set(first) == shm_names(prefix)
        check_types(m, first)
        for n in odd_names(prefix)[4:]:
            write_block(m.block(n), b"plain")
        write_block(m.block("list-2"), lst)
        made += make_non_blocks(prefix, "late-")
        # A regular file renamed over by a FIFO, a FIFO renamed over a
        # block's name: the name goes, and comes back only as a block.
        os.mkfifo(m.block("fifo-over"), 0o600)
        os.rename(m.block("fifo-over"), m.block(" lead"))
        write_block(m.block("was-fifo"), b"plain")
        os.mkfifo(m.block("tmp-fifo"), 0o600)
        os.rename(m.block("tmp-fifo"), m.block("was-fifo"))
        made.append(m.block(" lead"))
        made.append(m.block("was-fifo"))
        for _ in range(3):
            got = raw_listing(m.dir)
            assert set(got) == shm_names(prefix)
            assert set(os.listdir(m.dir)) == shm_names(prefix)
            check_types(m, got)
            for e in os.scandir(m.dir):
                assert e.inode() == os.stat(
                    m.block(e.name), follow_symlinks=False).st_ino, e.name
            assert {e.name for e in os.scandir(m.dir)
                    if e.is_dir(follow_symlinks=False)} == {"list-1",
                                                            "list-2"}
            time.sleep(0.2)
    finally:
        for p in made:
            try:
                os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) \
                    else os.unlink(p)
            except FileNotFoundError:
                pass

