# SPDX-License-Identifier: MIT
"""Helpers of the listing tests: the kernel's raw directory entries, a
ShareableList's bytes, and CPython's own view of which blocks are lists."""

import ctypes
import json
import os
import subprocess
import sys
from multiprocessing import shared_memory

from conftest import SHM_DIR

SYS_GETDENTS64 = 217  # x86_64
DT_UNKNOWN, DT_DIR, DT_REG = 0, 4, 8
_libc = ctypes.CDLL(None, use_errno=True)


def getdents(fd, size=512):
    """(name, d_type) of one getdents64 call of `size` bytes ([] at the
    end), "." and ".." included."""
    buf = ctypes.create_string_buffer(size)
    n = _libc.syscall(SYS_GETDENTS64, fd, buf, size)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    out, off = [], 0
    while off < n:
        reclen = int.from_bytes(buf.raw[off + 16:off + 18], "little")
        name = buf.raw[off + 19:off + reclen].split(b"\0", 1)[0]
        out.append((os.fsdecode(name), buf.raw[off + 18]))
        off += reclen
    return out


def list_bytes(prefix):
    """The bytes of a ShareableList as CPython lays it out (made as
    `prefix`template and removed)."""
    sl = shared_memory.ShareableList([7, "seven", 7.5],
                                     name=prefix + "template")
    try:
        return bytes(sl.shm.buf[:sl.shm.size])
    finally:
        sl.shm.close()
        sl.shm.unlink()


_CPYTHON_KINDS = r"""
import json, sys
from multiprocessing import resource_tracker, shared_memory
# Attaching only: CPython 3.8-3.12 would register the block (and a failed
# ShareableList leaves no object to untrack).
resource_tracker.register = lambda *args: None
out = {}
for name in json.loads(sys.stdin.read()):
    try:
        sl = shared_memory.ShareableList(name=sys.argv[1] + name)
    except Exception:
        out[name] = "block"
        continue
    try:
        list(sl)
        out[name] = "list"
    except Exception:
        out[name] = "block"
    finally:
        sl.shm.close()
print(json.dumps(out))
"""


def cpython_kinds(prefix, names):
    """name -> 'list' or 'block': CPython's own view, whether
    ShareableList(name=...) attaches and reads the block as a list.  In a
    CPython of its own, without the sanitizer runtimes the ASan run
    preloads: CPython sizes a plain block's "list" from its first bytes
    ("plain by..." is an item count of 8e18) and falls back on the
    MemoryError, where ASan would abort the test process instead."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    r = subprocess.run([sys.executable, "-c", _CPYTHON_KINDS, prefix],
                       input=json.dumps(sorted(names)), capture_output=True,
                       text=True, env=env, check=True)
    return json.loads(r.stdout)


def raw_types(fd, size=4096, between=None):
    """name -> d_type, from getdents64 calls of `size` bytes on `fd`;
    `between(names)` runs after each call.  Fails on a name listed twice;
    "." and ".." are left out."""
    out = {}
    while True:
        part = [(n, t) for n, t in getdents(fd, size) if n not in (".", "..")]
        if not part:
            return out
        for name, dtype in part:
            assert name not in out, "listed twice: " + name
            out[name] = dtype
        if between:
            between([n for n, _ in part])


def raw_listing(path, size=512):
    """name -> d_type of a whole readdir of `path` with small calls."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return raw_types(fd, size)
    finally:
        os.close(fd)


def write_block(path, data):
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.ftruncate(fd, len(data))
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def shm_names(prefix):
    """The regular files under `prefix` in /dev/shm, as the mount names them."""
    return {e.name[len(prefix):] for e in os.scandir(SHM_DIR)
            if e.name.startswith(prefix) and e.is_file(follow_symlinks=False)}
