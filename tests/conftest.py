# SPDX-License-Identifier: MIT
"""Shared fixtures: the built library through ctypes, and unique block names
that are removed from /dev/shm after each test, whether it passed or not."""

import atexit
import ctypes
import errno
import os
import secrets
import shutil
import subprocess
import tempfile

import pytest

# The mount fixtures (shmfs, mode_options, mnt, peer, small_tmpfs) live in
# mountutil.py beside its helpers; every test file gets them from here.
pytest_plugins = ["mountutil"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("SHMFS_BUILD", "build"))
SHM_DIR = "/dev/shm"

c_block_p = ctypes.c_void_p


def load_library():
    """Loads build/core/libshmblock.so and declares the block API."""
    lib = ctypes.CDLL(os.path.join(BUILD, "core", "libshmblock.so"), use_errno=True)
    proto = {
        "shmblock_name_check": (ctypes.c_int, [ctypes.c_char_p]),
        "shmblock_create": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t,
                                           ctypes.c_uint, ctypes.c_uint,
                                           ctypes.POINTER(c_block_p)]),
        "shmblock_create_at": (ctypes.c_int, [ctypes.c_int, ctypes.c_char_p,
                                              ctypes.c_size_t, ctypes.c_uint,
                                              ctypes.c_uint,
                                              ctypes.POINTER(c_block_p)]),
        "shmblock_attach": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_uint,
                                           ctypes.POINTER(c_block_p)]),
        "shmblock_attach_at": (ctypes.c_int, [ctypes.c_int, ctypes.c_char_p,
                                              ctypes.c_uint,
                                              ctypes.POINTER(c_block_p)]),
        "shmblock_attach_fd": (ctypes.c_int, [ctypes.c_int, ctypes.c_char_p,
                                              ctypes.c_int, ctypes.c_uint,
                                              ctypes.POINTER(c_block_p)]),
        "shmblock_close": (None, [c_block_p]),
        "shmblock_unlink": (ctypes.c_int, [c_block_p]),
        "shmblock_unlink_name": (ctypes.c_int, [ctypes.c_char_p]),
        "shmblock_unlink_name_at": (ctypes.c_int, [ctypes.c_int, ctypes.c_char_p]),
        "shmblock_rename_at": (ctypes.c_int, [ctypes.c_int, ctypes.c_char_p,
                                              ctypes.c_char_p, ctypes.c_uint]),
        "shmblock_resize": (ctypes.c_int, [c_block_p, ctypes.c_size_t, ctypes.c_uint]),
        "shmblock_refresh": (ctypes.c_int, [c_block_p]),
        "shmblock_name": (ctypes.c_char_p, [c_block_p]),
        "shmblock_size": (ctypes.c_size_t, [c_block_p]),
        "shmblock_data": (ctypes.c_void_p, [c_block_p]),
        "shmblock_fd": (ctypes.c_int, [c_block_p]),
        "shmblock_list_open": (ctypes.c_int, [ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]),
        "shmblock_list_next": (ctypes.c_int, [ctypes.c_void_p,
                                              ctypes.POINTER(ctypes.c_char_p)]),
        "shmblock_list_close": (None, [ctypes.c_void_p]),
    }
    for fn, (res, args) in proto.items():
        f = getattr(lib, fn)
        f.restype = res
        f.argtypes = args
    return lib


# Flags and constants of core/shmblock.h.
SHMBLOCK_RDONLY = 1
SHMBLOCK_SPARSE = 2
SHMBLOCK_NOMAP = 4
SHMBLOCK_DEFAULT_DIR = -1


@pytest.fixture(scope="session")
def lib():
    return load_library()


def _remove_prefixed(directory, prefix):
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for n in names:
        if n.startswith(prefix):
            try:
                os.unlink(os.path.join(directory, n))
            except FileNotFoundError:
                pass


@pytest.fixture
def prefix():
    """A prefix unique to this test; every /dev/shm entry that starts with it
    is removed when the test ends, pass or fail."""
    p = "shmfs-test-%s-" % secrets.token_hex(4)
    yield p
    _remove_prefixed(SHM_DIR, p)


@pytest.fixture
def names(prefix):
    """A factory of fresh block names under this test's prefix."""
    counter = iter(range(1 << 30))
    return lambda: "%s%d" % (prefix, next(counter))


def untrack(shm):
    """Stops CPython 3.8-3.12's resource tracker from unlinking a block this
    process only attached to (see docs/shareablelist.md)."""
    try:
        from multiprocessing import resource_tracker
        resource_tracker.unregister(shm._name, "shared_memory")
    except Exception:
        pass


def err(code):
    """Readable errno name for assertion messages."""
    return errno.errorcode.get(-code, code)


# Every temporary directory this test run makes (mount points among them)
# lives under one directory of its own, so that the check below sees only
# this run's mounts, never those of another run on the same machine.
# It is removed at exit, after pytest's own temporary files (atexit runs
# the last registered first), and other users reach mount points in it.
SESSION_TMP = tempfile.mkdtemp(prefix="shmfs-tests-")
os.chmod(SESSION_TMP, 0o755)
tempfile.tempdir = SESSION_TMP
atexit.register(shutil.rmtree, SESSION_TMP, True)


def fuse_mounts():
    """This run's FUSE mount points, from /proc/self/mounts (a dead mount
    still shows there, while os.path.ismount can't stat it)."""
    with open("/proc/self/mounts") as f:
        return {line.split()[1] for line in f
                if line.split()[2].startswith("fuse") and
                line.split()[1].startswith(SESSION_TMP + "/")}


@pytest.fixture(autouse=True)
def no_mount_left_behind(request):
    """Fails a test that leaves a FUSE mount behind, and removes the mount."""
    before = fuse_mounts()
    yield
    left = fuse_mounts() - before
    for m in left:
        subprocess.run(["umount", "-l", m], check=False)
        try:
            os.rmdir(m)
        except OSError:
            pass
    assert not left, "mounts left behind: %s" % sorted(left)
