# SPDX-License-Identifier: MIT
"""mmap of a file of the mount against CPython's SharedMemory and the core
library attached by name: with passthrough they are the same pages, both
ways, without msync; without passthrough read/write stay coherent and
MAP_SHARED is refused (the default, and -o nommap, its old name) or, with
-o mmapcopy, a page cache copy."""

import ctypes
import errno
import mmap
import os
import subprocess
import time
from multiprocessing import shared_memory

import pytest

from conftest import SHMBLOCK_NOMAP, untrack
from mountutil import SHMFS

SIZE = 1 << 16


def wait_logged(m, timeout=10):
    """The mount's data path line: logged when the mount is ready, which can
    be a moment after the mount point shows."""
    deadline = time.monotonic() + timeout
    while m.mode() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return m.mode()


def open_mapping(path, size=SIZE, flags=mmap.MAP_SHARED):
    fd = os.open(path, os.O_RDWR)
    try:
        return mmap.mmap(fd, size, flags=flags)
    finally:
        os.close(fd)


@pytest.fixture
def pt_mount(shmfs):
    if os.geteuid() != 0:
        pytest.skip("passthrough needs root")
    m = shmfs()
    if wait_logged(m) != "passthrough":
        pytest.skip("no kernel passthrough here:\n" + m.stderr())
    return m


def test_passthrough_is_used_as_root(shmfs):
    if os.geteuid() != 0:
        pytest.skip("passthrough needs root")
    with open("/proc/config.gz", "rb") as f:
        import gzip
        config = gzip.decompress(f.read())
    if b"CONFIG_FUSE_PASSTHROUGH=y" not in config:
        pytest.skip("kernel without FUSE passthrough")
    m = shmfs()
    with open(m.path("p"), "wb"):
        pass
    assert m.mode() == "passthrough", m.stderr()


def test_mount_mapping_and_sharedmemory_see_each_other(pt_mount, prefix):
    shm = shared_memory.SharedMemory(name=prefix + "blk", create=True,
                                     size=SIZE)
    untrack(shm)
    try:
        mm = open_mapping(pt_mount.path("blk"))
        try:
            # Mount mapping -> SharedMemory, no msync.
            mm[100:105] = b"hello"
            assert bytes(shm.buf[100:105]) == b"hello"
            # SharedMemory -> mount mapping.
            shm.buf[SIZE - 5:] = b"world"
            assert mm[SIZE - 5:] == b"world"
            # Many alternating stores, each seen at once.
            for i in range(256):
                mm[i] = i
                assert shm.buf[i] == i
                shm.buf[1000 + i] = 255 - i
                assert mm[1000 + i] == 255 - i
        finally:
            mm.close()
    finally:
        shm.close()


def test_sharedmemory_attached_to_a_file_made_through_the_mount(pt_mount,
                                                                prefix):
    with open(pt_mount.path("made"), "wb") as f:
        f.truncate(SIZE)
    mm = open_mapping(pt_mount.path("made"))
    try:
        shm = shared_memory.SharedMemory(name=prefix + "made")
        untrack(shm)
        try:
            mm[:4] = b"ping"
            assert bytes(shm.buf[:4]) == b"ping"
            shm.buf[4:8] = b"pong"
            assert mm[4:8] == b"pong"
        finally:
            shm.close()
    finally:
        mm.close()


def test_core_library_attach_sees_mount_mapping(pt_mount, prefix, lib):
    with open(pt_mount.path("core"), "wb") as f:
        f.truncate(SIZE)
    blk = ctypes.c_void_p()
    assert lib.shmblock_attach((prefix + "core").encode(), 0,
                               ctypes.byref(blk)) == 0
    try:
        data = lib.shmblock_data(blk)
        view = (ctypes.c_char * SIZE).from_address(data)
        mm = open_mapping(pt_mount.path("core"))
        try:
            mm[10:14] = b"abcd"
            assert view[10:14] == b"abcd"
            view[20:24] = b"wxyz"
            assert mm[20:24] == b"wxyz"
        finally:
            mm.close()
    finally:
        lib.shmblock_close(blk)


def test_write_through_mount_seen_by_mapping_of_block(pt_mount, prefix):
    shm = shared_memory.SharedMemory(name=prefix + "w", create=True,
                                     size=SIZE)
    untrack(shm)
    try:
        with open(pt_mount.path("w"), "r+b", buffering=0) as f:
            f.seek(50)
            f.write(b"via write")
            assert bytes(shm.buf[50:59]) == b"via write"
            shm.buf[0:3] = b"abc"
            f.seek(0)
            assert f.read(3) == b"abc"
    finally:
        shm.close()


@pytest.fixture
def fallback_mount(shmfs):
    return lambda *opts: shmfs("nopassthrough", *opts)


def test_fallback_read_write_are_coherent(fallback_mount, prefix):
    m = fallback_mount()
    shm = shared_memory.SharedMemory(name=prefix + "f", create=True,
                                     size=SIZE)
    untrack(shm)
    try:
        with open(m.path("f"), "r+b", buffering=0) as f:
            for i in range(50):
                shm.buf[:8] = b"%08d" % i
                f.seek(0)
                assert f.read(8) == b"%08d" % i
                f.seek(100)
                f.write(b"%08d" % (i * 3))
                assert bytes(shm.buf[100:108]) == b"%08d" % (i * 3)
        assert m.mode() == "fallback", m.stderr()
    finally:
        shm.close()


def test_fallback_shared_mapping_reaches_block_at_msync(fallback_mount,
                                                        prefix):
    """Documented behaviour of -o mmapcopy (docs/fallback-mmap.md): the
    mapping is a page cache copy; stores reach the block at msync."""
    m = fallback_mount("mmapcopy")
    assert wait_logged(m) == "fallback"
    assert "(-o mmapcopy)" in m.stderr()
    shm = shared_memory.SharedMemory(name=prefix + "c", create=True,
                                     size=SIZE)
    untrack(shm)
    try:
        shm.buf[:5] = b"first"
        mm = open_mapping(m.path("c"))
        try:
            assert mm[:5] == b"first"
            mm[8:13] = b"store"
            mm.flush()
            assert bytes(shm.buf[8:13]) == b"store"
        finally:
            mm.close()
    finally:
        shm.close()


@pytest.mark.parametrize("options", [(), ("nommap",)])
def test_fallback_refuses_shared_mappings_by_default(fallback_mount, prefix,
                                                     options):
    """No silent copies: without passthrough, MAP_SHARED (writable or not)
    fails; -o nommap is the same thing under its old name."""
    m = fallback_mount(*options)
    assert wait_logged(m) == "fallback"
    assert "MAP_SHARED mappings are refused with ENODEV" in m.stderr()
    with open(m.path("n"), "wb") as f:
        f.write(b"n" * SIZE)
    assert m.mode() == "fallback"
    fd = os.open(m.path("n"), os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            mmap.mmap(fd, SIZE, flags=mmap.MAP_SHARED)
        assert e.value.errno == errno.ENODEV
        with pytest.raises(OSError) as e:
            mmap.mmap(fd, SIZE, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        assert e.value.errno == errno.ENODEV
        # A private mapping is a copy by definition and stays allowed.
        mm = mmap.mmap(fd, SIZE, flags=mmap.MAP_PRIVATE)
        assert mm[:3] == b"nnn"
        mm.close()
    finally:
        os.close(fd)


def test_mmapcopy_and_nommap_contradict(tmp_path):
    r = subprocess.run([SHMFS, "-f", "-o", "nommap,mmapcopy", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "contradict" in r.stderr
