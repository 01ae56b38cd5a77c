# SPDX-License-Identifier: MIT
"""Blocks created, resized, renamed, rewritten or removed directly in
/dev/shm (by CPython, by the core library) show in the mount at once, in
ls, stat and cat, even right after the mount cached them.

Listings and opens ask the daemon, which answers with the directory as it
is.  A stat of cached attributes doesn't: the watch thread drops them when
it hears of the change, which on a loaded machine may come a few
milliseconds after the change (a CI run under ASan stat'ed first once).
So those checks allow half a second (wait_for(..., 0.5)): the kernel keeps attributes for a
second, so an invalidation that never comes still fails them."""

import ctypes
import os
import subprocess
from multiprocessing import shared_memory

from conftest import untrack
from mountutil import run, wait_for


def mode_of(path):
    return run("stat", "-c", "%a", path).strip()


def ls(m):
    return sorted(run("ls", m.dir).split())


def stat_size(path):
    return int(run("stat", "-c", "%s", path))


def cat(path):
    return subprocess.run(["cat", path], capture_output=True,
                          check=True).stdout


def test_created_outside_shows_at_once(mnt, prefix):
    assert ls(mnt) == []
    # Cache a negative lookup first.
    assert subprocess.run(["stat", mnt.path("new")],
                          capture_output=True).returncode != 0
    shm = shared_memory.SharedMemory(name=prefix + "new", create=True,
                                     size=333)
    untrack(shm)
    shm.buf[:3] = b"new"
    shm.close()
    assert ls(mnt) == ["new"]
    assert stat_size(mnt.path("new")) == 333
    assert cat(mnt.path("new"))[:3] == b"new"


def test_resized_outside_shows_at_once(mnt, prefix, lib):
    blk = ctypes.c_void_p()
    assert lib.shmblock_create((prefix + "r").encode(), 4096, 0o600, 0,
                               ctypes.byref(blk)) == 0
    try:
        assert stat_size(mnt.path("r")) == 4096
        assert os.stat(mnt.path("r")).st_size == 4096   # now cached
        assert lib.shmblock_resize(blk, 10000, 0) == 0
        assert wait_for(lambda: stat_size(mnt.path("r")) == 10000, 0.5)
        assert len(cat(mnt.path("r"))) == 10000
        assert lib.shmblock_resize(blk, 100, 0) == 0
        assert wait_for(lambda: stat_size(mnt.path("r")) == 100, 0.5)
        assert len(cat(mnt.path("r"))) == 100
    finally:
        lib.shmblock_close(blk)


def test_resized_outside_while_open_through_mount(mnt, prefix):
    with open(mnt.block("o"), "wb") as f:
        f.write(b"a" * 100)
    with open(mnt.path("o"), "rb") as f:
        assert os.fstat(f.fileno()).st_size == 100
        os.truncate(mnt.block("o"), 5000)
        assert wait_for(lambda: stat_size(mnt.path("o")) == 5000, 0.5)
        assert len(f.read()) == 5000


def test_renamed_outside_shows_at_once(mnt, prefix):
    with open(mnt.block("a"), "wb") as f:
        f.write(b"content")
    ino = os.stat(mnt.path("a")).st_ino
    os.rename(mnt.block("a"), mnt.block("b"))
    assert ls(mnt) == ["b"]
    assert subprocess.run(["stat", mnt.path("a")],
                          capture_output=True).returncode != 0
    assert int(run("stat", "-c", "%i", mnt.path("b"))) == ino
    assert cat(mnt.path("b")) == b"content"


def test_removed_outside_shows_at_once(mnt, prefix):
    shm = shared_memory.SharedMemory(name=prefix + "gone", create=True,
                                     size=10)
    untrack(shm)
    assert stat_size(mnt.path("gone")) == 10
    shm.close()
    shm.unlink()
    assert ls(mnt) == []
    r = subprocess.run(["cat", mnt.path("gone")], capture_output=True)
    assert r.returncode != 0 and b"No such file" in r.stderr


def test_replaced_outside_shows_new_block(mnt, prefix):
    with open(mnt.block("x"), "wb") as f:
        f.write(b"old old")
    assert cat(mnt.path("x")) == b"old old"
    old_ino = os.stat(mnt.path("x")).st_ino
    os.unlink(mnt.block("x"))
    with open(mnt.block("x"), "wb") as f:
        f.write(b"new")
    assert cat(mnt.path("x")) == b"new"
    assert int(run("stat", "-c", "%i", mnt.path("x"))) != old_ino
    assert stat_size(mnt.path("x")) == 3


def test_chmod_outside_shows_at_once(mnt, prefix):
    with open(mnt.block("m"), "wb"):
        pass
    os.chmod(mnt.block("m"), 0o600)
    assert wait_for(lambda: mode_of(mnt.path("m")) == "600", 0.5)
    os.chmod(mnt.block("m"), 0o644)
    assert wait_for(lambda: mode_of(mnt.path("m")) == "644", 0.5)


def test_written_outside_read_through_mount(mnt, prefix):
    with open(mnt.block("d"), "wb") as f:
        f.write(b"1" * 8192)
    assert cat(mnt.path("d")) == b"1" * 8192
    with open(mnt.block("d"), "r+b") as f:
        f.write(b"2" * 4096)
    assert cat(mnt.path("d")) == b"2" * 4096 + b"1" * 4096
