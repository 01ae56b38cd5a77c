# SPDX-License-Identifier: MIT
"""A review of the top level's listing (fs/listing.c) from an attacker's and
a careless user's side: types after lost events, odd names, and names that
are not blocks; always against /dev/shm itself and CPython's view."""

import os
import signal
import time

from conftest import SHM_DIR
from listutil import (DT_DIR, DT_REG, DT_UNKNOWN, cpython_kinds, list_bytes,
                      raw_listing, write_block, shm_names)
from mountutil import shmfs  # noqa: F401


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
    assert cpython_kinds(prefix, ["to-list", "to-block"]) == \
        {"to-list": "list", "to-block": "block"}
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

