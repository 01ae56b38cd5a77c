# SPDX-License-Identifier: MIT
"""The core's readers for costs that don't grow with a list (issue 23.4),
against CPython's own reading of the same blocks:
shmblock_slist_each_fd (runs of neighbouring items, each a value it held,
also while CPython stores in a loop) and shmblock_slist_recheck_fd (an old
layout still right for one item: the count and that item's offsets)."""

import ctypes
import errno
import math
import os
import struct
import subprocess
import sys
from multiprocessing.shared_memory import ShareableList

import pytest

from conftest import SHM_DIR
from slist_ctypes import Layout, Value, from_value, load

EACH_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.POINTER(Value))


@pytest.fixture(scope="module")
def slib():
    return load()


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or \
            struct.pack("<d", a) == struct.pack("<d", b)
    return a == b


class Probe:
    """A deep probe of block `name`, and the readers over its layout."""

    def __init__(self, slib, name):
        self.slib = slib
        self.fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
        self.lay = ctypes.POINTER(Layout)()
        rc = slib.shmblock_slist_probe_fd(self.fd, os.fstat(self.fd).st_size, 0,
                                          ctypes.byref(self.lay))
        assert rc == 0, rc

    def each(self, first=0, count=None, stop_at=None):
        """(rc, [(index, value)]) of shmblock_slist_each_fd."""
        got = []

        def fn(arg, index, v):
            got.append((index, from_value(v.contents)))
            return -errno.ECANCELED if index == stop_at else 0

        cb = EACH_FN(fn)
        n = self.lay.contents.count - first if count is None else count
        rc = self.slib.shmblock_slist_each_fd(self.fd, self.lay, first, n,
                                              ctypes.cast(cb, ctypes.c_void_p), None)
        return rc, got

    def recheck(self, index):
        return self.slib.shmblock_slist_recheck_fd(self.fd, self.lay, index)

    def close(self):
        self.slib.shmblock_slist_layout_free(self.lay)
        os.close(self.fd)


def made(names, values):
    name = names()
    return name, ShareableList(values, name=name)


@pytest.mark.parametrize("values", [
    [1, 2.5, True, None, "hé", b"\x00\xffx", -0.0, float("nan"), "", b""],
    list(range(20000)),
    ["x" * 70000, 1, "y" * 5, b"z" * 65536, 2.0],      # slots past a run
    [("s%d" % k) * (k % 50) for k in range(3000)] + [b"b" * k for k in range(0, 3000, 7)],
])
def test_each_fd_gives_what_cpython_reads(slib, names, values):
    name, sl = made(names, values)
    p = Probe(slib, name)
    try:
        rc, got = p.each()
        assert rc == 0
        want = list(sl)
        assert [k for k, _ in got] == list(range(len(want)))
        bad = [(k, g, w) for (k, g), w in zip(got, want) if not same(g, w)]
        assert not bad, bad[:5]
        # A part of the list, and a callback's error stops the walk.
        n = len(want)
        rc, part = p.each(n // 3, n // 3)
        assert rc == 0 and [k for k, _ in part] == list(range(n // 3, 2 * (n // 3)))
        assert all(same(v, want[k]) for k, v in part)
        rc, part = p.each(stop_at=n // 2)
        assert rc == -errno.ECANCELED and part[-1][0] == n // 2
        assert p.each(n, 1)[0] == -errno.ERANGE
        assert p.each(n, 0) == (0, [])
    finally:
        p.close()
        sl.shm.close()
        sl.shm.unlink()


WRITER = r"""
import sys, time
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import ShareableList
sl = ShareableList(name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")
n, end = 0, time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    for k in range(0, len(sl), 97):
        sl[k] = [n, "s%010d" % n, None, n * 0.5][k % 4] if k % 4 != 1 else "s%010d" % n
    n += 1
print(n)
"""


def test_each_fd_while_cpython_stores(slib, names):
    """Every value a run gives is one its item held: of its type's values
    (CPython's steps included: a str slot is "" for an instant, and a new
    type may show over the old data), never -EBADMSG."""
    name, sl = made(names, [[0, "s%010d" % 0, None, 0.0][k % 4] for k in range(4000)])
    p = Probe(slib, name)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, name, "1.5"],
                              stdout=subprocess.PIPE)
    try:
        walks = 0
        while writer.poll() is None:
            rc, got = p.each()
            assert rc in (0, -errno.EAGAIN), rc
            if rc:
                continue
            walks += 1
            for k, v in got:
                kind = k % 4
                if kind == 1:
                    assert isinstance(v, str) and (v == "" or len(v) == 11), (k, v)
                else:
                    assert v is None or isinstance(v, (int, float)), (k, v)
        assert writer.wait() == 0
        assert walks > 5
    finally:
        p.close()
        sl.shm.close()
        sl.shm.unlink()


def test_recheck_follows_count_and_offsets(slib, names):
    """An old layout is right for an item while the count and that item's
    offsets are as it says; a list of the same size laid out otherwise (its
    bytes written over the old ones, as write(2) may) is told apart at the
    items that moved, and a changed count at any index."""
    a = ["abcdefgh", 1, 2, 3]           # slots 16, 8, 8, 8
    b = [1, "abcdefgh", 2, 3]           # slots 8, 16, 8, 8: the same size
    name, sl = made(names, a)
    other, sl_b = made(names, b)
    p = Probe(slib, name)
    try:
        for k in range(4):
            assert p.recheck(k) == 0
        assert p.recheck(4) == 0 and p.recheck(1 << 40) == 0   # the count alone
        sl[1] = 7                       # stores move nothing
        assert p.recheck(1) == 0
        with open(os.path.join(SHM_DIR, other), "rb") as f:
            new = f.read()
        assert len(new) == sl.shm.size
        os.pwrite(p.fd, new, 0)
        assert [p.recheck(k) for k in range(4)] == \
            [-errno.EBADMSG, -errno.EBADMSG, 0, 0]
        os.pwrite(p.fd, struct.pack("<q", 5), 0)
        assert all(p.recheck(k) == -errno.EBADMSG for k in (0, 3, 9))
    finally:
        p.close()
        for s in (sl, sl_b):
            s.shm.close()
            s.shm.unlink()


def test_recheck_of_a_38_layout_is_not_supported(slib, names):
    """CPython 3.8's layout (item sizes, not offsets): an item's slot needs
    every size before it, so recheck says -ENOTSUP and callers probe whole."""
    name = names()
    # [1] in 3.8's layout: N, sizes, data, formats, codes.
    data = struct.pack("<qqq", 1, 8, 1) + b"q".ljust(8, b"\0") + b"\0"
    with open(os.path.join(SHM_DIR, name), "wb") as f:
        f.write(data)
    try:
        p = Probe(slib, name)
        try:
            assert p.lay.contents.version == 38
            assert p.recheck(0) == -errno.ENOTSUP
            assert p.each() == (0, [(0, 1)])
        finally:
            p.close()
    finally:
        os.unlink(os.path.join(SHM_DIR, name))
