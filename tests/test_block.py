# SPDX-License-Identifier: MIT
"""The block API against CPython's multiprocessing.shared_memory as the peer."""

import ctypes
import errno
import os
import stat
import subprocess
import tempfile
from multiprocessing import shared_memory

import pytest

from conftest import (SHM_DIR, SHMBLOCK_DEFAULT_DIR, SHMBLOCK_NOMAP,
                      SHMBLOCK_RDONLY, SHMBLOCK_SPARSE, c_block_p, untrack)


def create(lib, name, size, mode=0o600, flags=0):
    blk = c_block_p()
    rc = lib.shmblock_create(name.encode() if name is not None else None,
                             size, mode, flags, ctypes.byref(blk))
    return rc, blk


def attach(lib, name, flags=0):
    blk = c_block_p()
    rc = lib.shmblock_attach(name.encode(), flags, ctypes.byref(blk))
    return rc, blk


def view(lib, blk):
    """The block's mapping as a ctypes array (shares memory with the block)."""
    size = lib.shmblock_size(blk)
    return (ctypes.c_ubyte * size).from_address(lib.shmblock_data(blk))


def test_c_creates_python_attaches(lib, names):
    name = names()
    rc, blk = create(lib, name, 4096 + 17)
    assert rc == 0
    try:
        assert lib.shmblock_name(blk).decode() == name
        assert lib.shmblock_size(blk) == 4096 + 17
        payload = os.urandom(4096 + 17)
        ctypes.memmove(lib.shmblock_data(blk), payload, len(payload))

        peer = shared_memory.SharedMemory(name)
        untrack(peer)
        try:
            assert peer.name == name
            assert bytes(peer.buf[:len(payload)]) == payload
            # Stores go both ways through the same pages.
            peer.buf[0:4] = b"PYTH"
            assert bytes(view(lib, blk)[0:4]) == b"PYTH"
        finally:
            peer.close()
    finally:
        assert lib.shmblock_unlink(blk) == 0
        lib.shmblock_close(blk)
    assert not os.path.exists(os.path.join(SHM_DIR, name))


def test_python_creates_c_attaches(lib, names):
    name = names()
    peer = shared_memory.SharedMemory(name, create=True, size=10000)
    try:
        payload = os.urandom(10000)
        peer.buf[:10000] = payload
        rc, blk = attach(lib, name)
        assert rc == 0
        try:
            # The real size, not page-rounded, as os.fstat reports it.
            assert lib.shmblock_size(blk) == os.fstat(peer._fd).st_size
            assert bytes(view(lib, blk)) == payload[:lib.shmblock_size(blk)]
            ctypes.memmove(lib.shmblock_data(blk), b"C-SIDE", 6)
            assert bytes(peer.buf[:6]) == b"C-SIDE"
        finally:
            lib.shmblock_close(blk)
        # close leaves the block in place.
        assert os.path.exists(os.path.join(SHM_DIR, name))
    finally:
        peer.close()
        peer.unlink()


def test_random_name_in_pythons_style(lib):
    rc, blk = create(lib, None, 64)
    assert rc == 0
    name = lib.shmblock_name(blk).decode()
    try:
        assert name.startswith("psm_") and len(name) == 12
        int(name[4:], 16)
        peer = shared_memory.SharedMemory(name)
        untrack(peer)
        assert peer.size >= 64
        peer.close()
    finally:
        lib.shmblock_unlink(blk)
        lib.shmblock_close(blk)


def test_default_mode_and_explicit_mode(lib, names):
    a, b = names(), names()
    old = os.umask(0)
    try:
        rc, blk = create(lib, a, 8)
        assert rc == 0
        lib.shmblock_close(blk)
        rc, blk = create(lib, b, 8, mode=0o644)
        assert rc == 0
        lib.shmblock_close(blk)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(os.path.join(SHM_DIR, a)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(SHM_DIR, b)).st_mode) == 0o644
    # Python's default for a new block is the same 0600.
    c = names()
    peer = shared_memory.SharedMemory(c, create=True, size=8)
    assert stat.S_IMODE(os.fstat(peer._fd).st_mode) == 0o600 & ~old
    peer.close()
    peer.unlink()


@pytest.mark.parametrize("bad", [b"", b"a/b", b"/lead", b".", b"..", b"x" * 256])
def test_bad_names(lib, bad):
    blk = c_block_p()
    assert lib.shmblock_name_check(bad) == -errno.EINVAL
    assert lib.shmblock_create(bad, 8, 0o600, 0, ctypes.byref(blk)) == -errno.EINVAL
    assert lib.shmblock_attach(bad, 0, ctypes.byref(blk)) == -errno.EINVAL
    assert lib.shmblock_unlink_name(bad) == -errno.EINVAL


def test_name_of_255_bytes_is_valid(lib, prefix):
    name = prefix + "n" * (255 - len(prefix))
    rc, blk = create(lib, name, 8)
    assert rc == 0
    lib.shmblock_unlink(blk)
    lib.shmblock_close(blk)


def test_size_zero_and_exclusive_create(lib, names):
    name = names()
    assert create(lib, name, 0)[0] == -errno.EINVAL
    assert not os.path.exists(os.path.join(SHM_DIR, name))
    rc, blk = create(lib, name, 8)
    assert rc == 0
    try:
        assert create(lib, name, 8)[0] == -errno.EEXIST
        # Python agrees that the name is taken.
        with pytest.raises(FileExistsError):
            shared_memory.SharedMemory(name, create=True, size=8)
    finally:
        lib.shmblock_unlink(blk)
        lib.shmblock_close(blk)


def test_missing_name(lib, names):
    name = names()
    assert attach(lib, name)[0] == -errno.ENOENT
    assert lib.shmblock_unlink_name(name.encode()) == -errno.ENOENT
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name)


def test_unlink_by_name_and_by_handle(lib, names):
    a, b = names(), names()
    for n in (a, b):
        rc, blk = create(lib, n, 8)
        assert rc == 0
        lib.shmblock_close(blk)
    assert lib.shmblock_unlink_name(a.encode()) == 0
    rc, blk = attach(lib, b)
    assert rc == 0
    assert lib.shmblock_unlink(blk) == 0
    assert lib.shmblock_unlink(blk) == -errno.ENOENT
    lib.shmblock_close(blk)
    assert not os.path.exists(os.path.join(SHM_DIR, a))
    assert not os.path.exists(os.path.join(SHM_DIR, b))


def test_read_only_attach(lib, names):
    name = names()
    peer = shared_memory.SharedMemory(name, create=True, size=100)
    try:
        peer.buf[:5] = b"hello"
        rc, blk = attach(lib, name, SHMBLOCK_RDONLY)
        assert rc == 0
        try:
            assert bytes(view(lib, blk)[:5]) == b"hello"
            assert lib.shmblock_resize(blk, 200, 0) == -errno.EACCES
        finally:
            lib.shmblock_close(blk)
        # Writing through a read-only mapping faults: check in a child.
        code = ("import ctypes,sys;sys.path.insert(0,%r);import conftest as c;"
                "l=c.load_library();b=c.c_block_p();"
                "assert l.shmblock_attach(%r,1,ctypes.byref(b))==0;"
                "ctypes.memset(l.shmblock_data(b),0,1)"
                % (os.path.dirname(__file__), name.encode()))
        # (Under ASan the child must let the signal kill it.)
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":handle_segv=0")
        r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, env=env)
        assert r.returncode == -11  # SIGSEGV: the page is not writable
        assert bytes(peer.buf[:5]) == b"hello"
    finally:
        peer.close()
        peer.unlink()


def test_resize_grow_and_shrink(lib, names):
    name = names()
    rc, blk = create(lib, name, 100)
    assert rc == 0
    try:
        ctypes.memmove(lib.shmblock_data(blk), b"keep", 4)
        assert lib.shmblock_resize(blk, 1 << 20, 0) == 0
        assert lib.shmblock_size(blk) == 1 << 20
        assert os.stat(os.path.join(SHM_DIR, name)).st_size == 1 << 20
        assert bytes(view(lib, blk)[:4]) == b"keep"
        assert bytes(view(lib, blk)[100:]) == bytes((1 << 20) - 100)
        assert lib.shmblock_resize(blk, 3, 0) == 0
        assert os.stat(os.path.join(SHM_DIR, name)).st_size == 3
        assert bytes(view(lib, blk)) == b"kee"
        assert lib.shmblock_resize(blk, 0, 0) == 0
        assert lib.shmblock_data(blk) is None
    finally:
        lib.shmblock_unlink(blk)
        lib.shmblock_close(blk)


def test_refresh_sees_a_resize_by_python(lib, names):
    name = names()
    rc, blk = create(lib, name, 4096)
    assert rc == 0
    try:
        fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
        os.ftruncate(fd, 3 * 4096)
        os.close(fd)
        assert lib.shmblock_size(blk) == 4096
        assert lib.shmblock_refresh(blk) == 0
        assert lib.shmblock_size(blk) == 3 * 4096
    finally:
        lib.shmblock_unlink(blk)
        lib.shmblock_close(blk)


def test_reservation_and_sparse(lib, names):
    reserved, sparse = names(), names()
    size = 8 << 20
    rc, a = create(lib, reserved, size)
    assert rc == 0
    rc, b = create(lib, sparse, size, flags=SHMBLOCK_SPARSE)
    assert rc == 0
    try:
        # tmpfs counts allocated pages in st_blocks (512-byte units).
        assert os.stat(os.path.join(SHM_DIR, reserved)).st_blocks * 512 >= size
        assert os.stat(os.path.join(SHM_DIR, sparse)).st_blocks == 0
        # Growing follows the same policy.
        assert lib.shmblock_resize(b, 2 * size, 0) == 0
        assert os.stat(os.path.join(SHM_DIR, sparse)).st_blocks * 512 >= size
    finally:
        for blk in (a, b):
            lib.shmblock_unlink(blk)
            lib.shmblock_close(blk)


@pytest.fixture
def small_tmpfs():
    """A 1 MiB tmpfs standing in for a nearly full /dev/shm."""
    d = tempfile.mkdtemp(prefix="shmfs-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d], check=True)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield d, fd
    finally:
        os.close(fd)
        subprocess.run(["umount", d], check=True)
        os.rmdir(d)


def test_full_shm_gives_enospc_and_leaves_nothing(lib, small_tmpfs):
    d, fd = small_tmpfs
    blk = c_block_p()
    rc = lib.shmblock_create_at(fd, b"big", 4 << 20, 0o600, 0, ctypes.byref(blk))
    assert rc == -errno.ENOSPC
    assert os.listdir(d) == []
    # Sparse creation succeeds, as CPython's plain ftruncate does ...
    rc = lib.shmblock_create_at(fd, b"sparse", 4 << 20, 0o600, SHMBLOCK_SPARSE,
                                ctypes.byref(blk))
    assert rc == 0
    lib.shmblock_close(blk)
    # ... and growing a reserved block past the space fails, size unchanged.
    rc = lib.shmblock_create_at(fd, b"small", 4096, 0o600, 0, ctypes.byref(blk))
    assert rc == 0
    assert lib.shmblock_resize(blk, 4 << 20, 0) == -errno.ENOSPC
    assert os.stat(os.path.join(d, "small")).st_size == 4096
    assert lib.shmblock_size(blk) == 4096
    lib.shmblock_close(blk)


def test_directory_override_and_nomap(lib, names, prefix):
    with tempfile.TemporaryDirectory(dir=SHM_DIR, prefix=prefix) as d:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            blk = c_block_p()
            assert lib.shmblock_create_at(fd, b"inner", 50, 0o600, SHMBLOCK_NOMAP,
                                          ctypes.byref(blk)) == 0
            assert lib.shmblock_data(blk) is None
            assert lib.shmblock_size(blk) == 50
            os.pwrite(lib.shmblock_fd(blk), b"via fd", 0)
            lib.shmblock_close(blk)
            with open(os.path.join(d, "inner"), "rb") as f:
                assert f.read(6) == b"via fd"
            # O_NOFOLLOW: a symlink in the directory is not a block.
            os.symlink("/etc/passwd", os.path.join(d, "link"))
            assert lib.shmblock_attach_at(fd, b"link", 0, ctypes.byref(blk)) == -errno.ELOOP
            assert lib.shmblock_unlink_name_at(fd, b"inner") == 0
            assert lib.shmblock_attach_at(fd, b"inner", 0, ctypes.byref(blk)) == -errno.ENOENT
        finally:
            os.close(fd)


def test_attach_fd_makes_a_handle_of_a_descriptor(lib, prefix):
    """A handle of a descriptor the caller opened: it maps what the file
    holds, closes the descriptor with the handle, and refuses what is not
    a regular file (the caller keeps its descriptor then)."""
    with tempfile.TemporaryDirectory(dir=SHM_DIR, prefix=prefix) as d:
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = os.open(os.path.join(d, "made"),
                         os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            os.pwrite(fd, b"made here", 0)
            blk = c_block_p()
            assert lib.shmblock_attach_fd(dfd, b"made", fd, 0, ctypes.byref(blk)) == 0
            assert lib.shmblock_size(blk) == 9
            assert ctypes.string_at(lib.shmblock_data(blk), 9) == b"made here"
            assert lib.shmblock_fd(blk) == fd
            assert lib.shmblock_name(blk) == b"made"
            lib.shmblock_close(blk)
            with pytest.raises(OSError) as e:
                os.fstat(fd)
            assert e.value.errno == errno.EBADF
            os.mkfifo(os.path.join(d, "fifo"))
            fd = os.open(os.path.join(d, "fifo"), os.O_RDWR | os.O_NONBLOCK)
            try:
                assert lib.shmblock_attach_fd(dfd, b"fifo", fd, 0,
                                              ctypes.byref(blk)) == -errno.EINVAL
                assert lib.shmblock_attach_fd(dfd, b"a/b", fd, 0,
                                              ctypes.byref(blk)) == -errno.EINVAL
                os.fstat(fd)  # still the caller's
            finally:
                os.close(fd)
        finally:
            os.close(dfd)


def list_names(lib, dirfd):
    it = ctypes.c_void_p()
    assert lib.shmblock_list_open(dirfd, ctypes.byref(it)) == 0
    out = []
    name = ctypes.c_char_p()
    try:
        while True:
            rc = lib.shmblock_list_next(it, ctypes.byref(name))
            assert rc >= 0
            if rc == 0:
                return out
            out.append(name.value.decode())
    finally:
        lib.shmblock_list_close(it)


def test_listing_matches_the_directory(lib, names, prefix):
    made = [names() for _ in range(5)]
    for n in made:
        peer = shared_memory.SharedMemory(n, create=True, size=16)
        peer.close()
    # Entries that are not blocks: a named semaphore's file, a directory and a
    # symlink, all in /dev/shm.
    sem = "sem." + prefix + "x"
    open(os.path.join(SHM_DIR, sem), "w").close()
    os.mkdir(os.path.join(SHM_DIR, prefix + "dir"))
    os.symlink("/etc/passwd", os.path.join(SHM_DIR, prefix + "sym"))
    try:
        listed = [n for n in list_names(lib, SHMBLOCK_DEFAULT_DIR) if n.startswith(prefix)]
        assert sorted(listed) == sorted(made)
        assert sem not in list_names(lib, SHMBLOCK_DEFAULT_DIR)
    finally:
        os.unlink(os.path.join(SHM_DIR, sem))
        os.rmdir(os.path.join(SHM_DIR, prefix + "dir"))


def test_rename_flags(lib, names, prefix):
    a, b = names(), names()
    for n, data in ((a, b"AAAA"), (b, b"BBBB")):
        peer = shared_memory.SharedMemory(n, create=True, size=4)
        peer.buf[:4] = data
        peer.close()
    fd = os.open(SHM_DIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
        assert lib.shmblock_rename_at(fd, a.encode(), b.encode(),
                                      RENAME_NOREPLACE) == -errno.EEXIST
        assert lib.shmblock_rename_at(fd, a.encode(), b.encode(), RENAME_EXCHANGE) == 0
        with open(os.path.join(SHM_DIR, a), "rb") as f:
            assert f.read() == b"BBBB"
        assert lib.shmblock_rename_at(SHMBLOCK_DEFAULT_DIR, a.encode(), b"x/y", 0) == -errno.EINVAL
        c = names()
        assert lib.shmblock_rename_at(SHMBLOCK_DEFAULT_DIR, a.encode(), c.encode(), 0) == 0
        assert not os.path.exists(os.path.join(SHM_DIR, a))
        peer = shared_memory.SharedMemory(c)
        untrack(peer)
        assert bytes(peer.buf[:4]) == b"BBBB"
        peer.close()
    finally:
        os.close(fd)


def other_pythons():
    """CPythons from pyenv, when the machine has them: extra interop peers."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = []
    for minor in range(8, 14):
        vdir = os.path.join(root, "versions")
        if not os.path.isdir(vdir):
            break
        for v in sorted(os.listdir(vdir)):
            exe = os.path.join(vdir, v, "bin", "python3")
            if v.startswith("3.%d." % minor) and os.access(exe, os.X_OK):
                found.append(pytest.param(exe, id=v))
                break
    return found or [pytest.param(None, marks=pytest.mark.skip("no pyenv CPythons"))]


@pytest.mark.parametrize("python", other_pythons())
def test_interop_with_other_cpythons(lib, names, python):
    name = names()
    rc, blk = create(lib, name, 333)
    assert rc == 0
    try:
        ctypes.memmove(lib.shmblock_data(blk), b"from C", 6)
        code = """
import sys
from multiprocessing import shared_memory, resource_tracker
s = shared_memory.SharedMemory(sys.argv[1])
resource_tracker.unregister(s._name, "shared_memory")
assert bytes(s.buf[:6]) == b"from C", bytes(s.buf[:6])
s.buf[6:12] = b"+ peer"
s.close()
"""
        subprocess.run([python, "-c", code, name], check=True, timeout=60)
        assert bytes(view(lib, blk)[:12]) == b"from C+ peer"
    finally:
        lib.shmblock_unlink(blk)
        lib.shmblock_close(blk)
