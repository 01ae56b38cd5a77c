# SPDX-License-Identifier: MIT
"""lsshm's arrays against NumPy: blocks NumPy wrote (np.save into /dev/shm,
np.lib.format.open_memmap, 1.0, 2.0 and 3.0 headers, Latin-1 field names)
shown as KIND array[DTYPE SHAPE] with DTYPE and SHAPE equal to NumPy's own
dtype.str (the header's descr for structured dtypes) and shape; declared
arrays (CPython's SharedMemory with user.shmfs.dtype/shape set by
os.setxattr and by setfattr) with " (declared)", and the declarations that
are not one; -g's ARRAYS row; hostile headers are plain blocks."""

import json
import os
import shutil
import struct
import subprocess
from multiprocessing.shared_memory import SharedMemory

import numpy as np
import pytest

from conftest import SHM_DIR, untrack
from test_lsshm import LSSHM, run

COLS = "name,kind,dtype,shape,value,waiters"


def rows(*args):
    out = json.loads(run("-J", "-o", COLS, *args).stdout)["shmblocks"]
    return {r["name"]: r for r in out}


def shape_text(shape):
    return "x".join(map(str, shape)) if shape else "()"


def descr_text(dt):
    """What NumPy writes as the header's descr, without the quotes of a
    type string."""
    d = np.lib.format.dtype_to_descr(dt)
    return d if isinstance(d, str) else repr(d)


def np_save(name, a):
    """np.save into /dev/shm/NAME (a file object: np.save adds .npy to a
    name)."""
    with open(os.path.join(SHM_DIR, name), "wb") as f:
        np.save(f, a)


ARRAYS = [
    np.arange(3000, dtype="<f8").reshape(1000, 3),
    np.zeros(7, dtype="|u1"),
    np.ones((2, 3, 4), dtype=">i4"),
    np.zeros(5, dtype="<c16"),
    np.array([b"a", b"bc"], dtype="|S16"),
    np.array([["x", "y"], ["z", "w"]], dtype="<U8"),
    np.array([True, False], dtype="|b1"),
    np.zeros(3, dtype="<m8[ns]"),
    np.float32(3.5).reshape(()),
    np.asfortranarray(np.zeros((4, 6), dtype="<i2")),
    np.zeros(5, dtype=[("x", "<f4"), ("y", "<i4", (2,))]),
    np.zeros((0, 3), dtype="<f4"),
]


def test_np_save(names):
    made = {}
    for a in ARRAYS:
        n = names()
        np_save(n, a)
        made[n] = a
    got = rows()
    for n, a in made.items():
        r = got[n]
        want = descr_text(a.dtype)
        if not a.dtype.fields:
            assert want == a.dtype.str
        assert r["kind"] == "array[%s %s]" % (want, shape_text(a.shape)), n
        assert r["dtype"] == want
        assert r["shape"] == shape_text(a.shape)
        assert r["value"] is None and r["waiters"] is None
        # np.load agrees on the same bytes.
        back = np.load(os.path.join(SHM_DIR, n), mmap_mode="r")
        assert back.dtype == a.dtype and back.shape == a.shape


def test_open_memmap_versions_and_latin1(names):
    a, b, c, d = names(), names(), names(), names()
    p = lambda n: os.path.join(SHM_DIR, n)
    m = np.lib.format.open_memmap(p(a), mode="w+", dtype="<f8", shape=(1000, 3))
    m[999, 2] = 1.5
    m.flush()
    del m
    np.lib.format.open_memmap(p(b), mode="w+", dtype=">u2", shape=(3, 5),
                              version=(2, 0))
    # A Latin-1 field name: NumPy writes a 1.0 header in Latin-1; a name
    # outside Latin-1 needs 3.0 (UTF-8).
    lat = np.dtype([("\u00e9t\u00e9", "<f4")])
    np_save(c, np.zeros(2, dtype=lat))
    utf = np.dtype([("\u65e5", "<i8")])
    np_save(d, np.zeros(3, dtype=utf))
    with open(p(d), "rb") as f:
        assert f.read(8)[6] == 3
    got = rows()
    assert got[a]["kind"] == "array[<f8 1000x3]"
    assert got[b]["kind"] == "array[>u2 3x5]"
    assert got[c]["dtype"] == descr_text(lat) == "[('\u00e9t\u00e9', '<f4')]"
    assert got[d]["kind"] == "array[%s 3]" % descr_text(utf)


def declare(path, dtype, shape):
    os.setxattr(path, "user.shmfs.dtype", dtype.encode())
    os.setxattr(path, "user.shmfs.shape", shape.encode())


def shm_block(name, size):
    shm = SharedMemory(name, create=True, size=size)
    untrack(shm)
    return shm


def test_declared_arrays(names):
    dt = np.dtype("<f8")
    shape = (1000, 3)
    fresh, written, by_cli, rec = names(), names(), names(), names()
    shms = [shm_block(n, dt.itemsize * 3000) for n in (fresh, written, by_cli)]
    try:
        # No page written: lsshm tells it by its xattr, without reading.
        declare(os.path.join(SHM_DIR, fresh), dt.str, "1000,3")
        a = np.ndarray(shape, dtype=dt, buffer=shms[1].buf)
        a[:] = 7.0
        del a
        declare(os.path.join(SHM_DIR, written), dt.str, "1000,3\n")
        if shutil.which("setfattr"):
            for k, v in (("dtype", dt.str), ("shape", "1000,3")):
                subprocess.run(["setfattr", "-n", "user.shmfs." + k, "-v", v,
                                os.path.join(SHM_DIR, by_cli)], check=True)
        else:
            declare(os.path.join(SHM_DIR, by_cli), dt.str, "1000,3")
        st = np.dtype([("x", "<f4"), ("n", "<i4")])
        shms.append(shm_block(rec, st.itemsize * 10))
        declare(os.path.join(SHM_DIR, rec), descr_text(st), "10")
        got = rows()
        for n in (fresh, written, by_cli):
            assert got[n]["kind"] == "array[%s 1000x3] (declared)" % dt.str, n
            assert got[n]["dtype"] == dt.str and got[n]["shape"] == "1000x3"
        assert got[rec]["kind"] == "array[%s 10] (declared)" % descr_text(st)
        assert os.stat(os.path.join(SHM_DIR, fresh)).st_blocks == 0
    finally:
        for s in shms:
            s.close()


def test_declarations_that_are_not(names):
    """Each is a plain block: what the xattrs declare must be a dtype NumPy
    maps, a shape, and fit the block (NumPy's own count is the peer)."""
    cases = [
        ("<f8", "1000,3", 1000 * 3 * 8 - 1),   # one byte short
        ("|O", "4", 64),                        # objects: pickles
        ("<f8", "1000, 3", 1 << 16),            # blank in the shape
        ("<f8", "-1", 4096),
        ("<f8", "99999999999999999999", 4096),  # past INT64_MAX
        ("<f9", "2", 4096),
        ("<f8", "9223372036854775807,2", 4096),  # the byte count overflows
        (None, "2", 4096),                      # no dtype
        ("<f8", None, 4096),                    # no shape
    ]
    made = {}
    shms = []
    try:
        for dtype, shape, size in cases:
            n = names()
            shms.append(shm_block(n, size))
            path = os.path.join(SHM_DIR, n)
            if dtype:
                os.setxattr(path, "user.shmfs.dtype", dtype.encode())
            if shape:
                os.setxattr(path, "user.shmfs.shape", shape.encode())
            made[n] = (dtype, shape, size)
        # The peer: the first case is one byte short for NumPy too.
        with pytest.raises(TypeError):
            np.ndarray((1000, 3), dtype="<f8", buffer=shms[0].buf)
        got = rows()
        for n, case in made.items():
            assert got[n]["kind"] == "plain", case
            assert got[n]["dtype"] is None and got[n]["shape"] is None
    finally:
        for s in shms:
            s.close()


def test_header_wins_over_xattrs(names):
    n = names()
    np_save(n, np.zeros((2, 2), dtype="<i4"))
    declare(os.path.join(SHM_DIR, n), "|u1", "4")
    assert rows()[n]["kind"] == "array[<i4 2x2]"


def npy_header(dict_text, version=1, hlen=None, pad_to=64):
    """A .npy header with `dict_text`, its length field `hlen` if given."""
    body = dict_text.encode("latin1")
    pre = 10 if version == 1 else 12
    total = -(-(pre + len(body) + 1) // pad_to) * pad_to
    body += b" " * (total - pre - len(body) - 1) + b"\n"
    n = len(body) if hlen is None else hlen
    fmt = "<H" if version == 1 else "<I"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(fmt, n) + body


CLAIMS_256M = npy_header(
    "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
    version=2, hlen=256 << 20)

HOSTILE = [
    # Huge shapes in a 4 KiB block, and products that overflow.
    npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000,), }"),
    npy_header("{'descr': '<f8', 'fortran_order': False, "
               "'shape': (4294967296, 4294967296), }"),
    npy_header("{'descr': '|u1', 'fortran_order': False, "
               "'shape': (%s), }" % ", ".join(["65536"] * 5)),
    # Bad dicts.
    npy_header("{'descr': '<f8', 'fortran_order': False, }"),
    npy_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"),
    npy_header("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,), }"),
    npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), "
               "'x': __import__('os'), }"),
    npy_header("not a dict at all"),
    # A header length past the block: 256 MiB claimed in 4 KiB (2.0), and
    # 64 KiB (1.0's most).
    CLAIMS_256M,
    npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
               hlen=0xFFFF),
    # Truncated: the magic alone, a header cut in the middle.
    b"\x93NUMPY\x01\x00",
    npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }")[:40],
    # Version 3.0 whose header is not UTF-8.
    npy_header("{'descr': [('\xff', '<f4')], 'fortran_order': False, "
               "'shape': (1,), }", version=3),
]


# Not hostile to NumPy, whose dict literal takes a repeated key (the last
# wins); a header that reads two ways is not taken here (docs/arrays.md).
STRICTER = [
    npy_header("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, "
               "'shape': (1,), }"),
]


def test_hostile_headers_are_plain(names):
    made = []
    for h in HOSTILE + STRICTER:
        n = names()
        with open(os.path.join(SHM_DIR, n), "wb") as f:
            f.write(h)
            f.truncate(max(len(h), 4096) if len(h) >= 64 else len(h))
        made.append(n)
    # The peer refuses each hostile one too.
    for n in made[:len(HOSTILE)]:
        with pytest.raises(ValueError):
            np.load(os.path.join(SHM_DIR, n), mmap_mode="r", allow_pickle=False)
    got = rows()
    for n, h in zip(made, HOSTILE + STRICTER):
        assert got[n]["kind"] == "plain", h[:80]
        assert got[n]["dtype"] is None


def test_hostile_header_reads_no_more_than_the_block(names):
    """256 MiB claimed in a 4 KiB block: lsshm's memory stays far below
    what the header claims (an address-space limit it would pass)."""
    if os.environ.get("SHMFS_SANITIZED"):
        pytest.skip("AddressSanitizer reserves terabytes of address space")
    n = names()
    with open(os.path.join(SHM_DIR, n), "wb") as f:
        f.write(CLAIMS_256M)
        f.truncate(4096)
    r = subprocess.run(["prlimit", "--as=%d" % (128 << 20), LSSHM, "-J",
                        "-o", COLS, "--id", n, "-l"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["shmblocks"][0]["kind"] == "plain"


@pytest.fixture
def shmdir():
    """A directory of its own on /dev/shm's file system, for -g."""
    d = os.path.join(SHM_DIR, "shmfs-test-lsshm-%s" % os.urandom(4).hex())
    os.mkdir(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_global_counts_arrays(shmdir, prefix):
    from multiprocessing import shared_memory
    from sem_peer import Glibc
    p = lambda n: os.path.join(shmdir, n)
    with open(p("saved"), "wb") as f:
        np.save(f, np.zeros((2, 3)))
    np.lib.format.open_memmap(p("memmap"), mode="w+", dtype="<i8", shape=(9,))
    with open(p("declared"), "wb") as f:
        f.truncate(80)
    declare(p("declared"), "<i8", "10")
    sl = shared_memory.ShareableList([1, "two"], name=prefix + "list")
    untrack(sl.shm)
    glibc = Glibc()
    glibc.close(glibc.open(prefix + "sem", os.O_CREAT | os.O_EXCL, 0o600, 4))
    try:
        # Hard links: the same inodes, in this directory.
        os.link(os.path.join(SHM_DIR, prefix + "list"), p("list"))
        os.link(os.path.join(SHM_DIR, "sem." + prefix + "sem"), p("sem.jobs"))
    finally:
        sl.shm.close()
        os.unlink(os.path.join(SHM_DIR, "sem." + prefix + "sem"))
    with open(p("sem.fake"), "wb") as f:
        f.write(b"\xff" * 32)
    out = run("--shmdir", shmdir, "-g", "-r", "-n", "-b").stdout
    g = {line.split(" ")[0]: line.split(" ")[3] for line in out.splitlines()}
    assert g["BLOCKS"] == "5"  # the arrays, the list, sem.fake
    assert g["ARRAYS"] == "3" and g["LISTS"] == "1"
    assert g["SEMAPHORES"] == "1"
    sizes = sum(os.stat(p(n)).st_size for n in os.listdir(shmdir)
                if n != "sem.jobs")
    assert g["SIZE"] == str(sizes)
    kinds = rows("--shmdir", shmdir)
    assert kinds["sem.jobs"]["kind"] == "semaphore"
    assert kinds["sem.jobs"]["value"] == 4
    assert kinds["sem.fake"]["kind"] == "plain"
