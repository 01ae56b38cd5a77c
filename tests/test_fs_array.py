# SPDX-License-Identifier: MIT
"""Arrays in the mount (docs/arrays.md, "In the mount") against NumPy and
CPython's SharedMemory: .npy blocks made by the C API and by np.save are
files that np.load maps through the mount, with user.shmfs.dtype and
user.shmfs.shape equal to NumPy's dtype.str and shape; raw blocks that
declare an array in those xattrs get a read-only view NAME.npy that np.load
reads as np.ndarray(buffer=shm.buf) sees the block; hostile headers and
declarations are plain files, and headers rewritten under open files never
crash the daemon."""

import errno
import io
import os
import stat
import subprocess
import sys
from multiprocessing.shared_memory import SharedMemory

import numpy as np
import pytest

from array_ctypes import CArray, load
from conftest import SHM_DIR, untrack
from mountutil import wait_for

DTYPE, SHAPE = "user.shmfs.dtype", "user.shmfs.shape"

# NumPy dtypes whose dtype.str is the header's descr, with a shape each.
SIMPLE = [("<f8", (1000, 3)), ("|u1", (4096,)), (">i4", (7, 5)),
          ("<c16", (3,)), ("|S16", (10,)), ("<U8", (4, 2)), ("<i8", ()),
          ("<m8[ns]", (5,)), ("<u2", (3, 0, 4))]


@pytest.fixture(scope="module")
def alib():
    return load()


@pytest.fixture
def pt(shmfs):
    """A mount whose data go through passthrough: mappings are the
    block's own pages."""
    if os.geteuid() != 0:
        pytest.skip("passthrough needs root")
    m = shmfs()
    with open(m.path(".probe-pt"), "wb"):
        pass
    os.unlink(m.path(".probe-pt"))
    # The data path is logged at the first open, a moment after it.
    wait_for(lambda: m.mode() is not None)
    if m.mode() != "passthrough":
        pytest.skip("no kernel passthrough here")
    return m


def errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


def npsave(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def write_block(m, name, data):
    with open(m.block(name), "wb") as f:
        f.write(data)


def shm_block(m, name, size):
    """A CPython SharedMemory block behind mount name `name`."""
    shm = SharedMemory(m.prefix + name, create=True, size=size)
    untrack(shm)
    return shm


# ---- .npy blocks ----------------------------------------------------------

def test_c_array_mapped_through_mount_both_ways(alib, pt):
    rc, arr = CArray.create(alib, pt.prefix + "pts", "<f8", (1000, 3))
    assert rc == 0
    try:
        a = np.load(pt.path("pts"), mmap_mode="r+")
        assert a.dtype == np.dtype("<f8") and a.shape == (1000, 3)
        direct = np.load(pt.block("pts"), mmap_mode="r+")
        shm = SharedMemory(pt.prefix + "pts")
        untrack(shm)
        hlen = arr.info.data_offset
        cpy = np.ndarray((1000, 3), "<f8", buffer=shm.buf, offset=hlen)
        # Stores through the mount are seen at once in /dev/shm and by
        # SharedMemory, and the other way round: the same pages.
        a[999, 2] = 1.5
        assert direct[999, 2] == 1.5 and cpy[999, 2] == 1.5
        cpy[0, 0] = -7.0
        assert a[0, 0] == -7.0
        direct[500] = (1, 2, 3)
        assert list(a[500]) == [1, 2, 3]
        del a, direct, cpy
        shm.close()
    finally:
        arr.close()


def test_array_read_in_both_modes(alib, mnt):
    rc, arr = CArray.create(alib, mnt.prefix + "r", "<i4", (64, 4))
    assert rc == 0
    try:
        ref = np.load(mnt.block("r"), mmap_mode="r+")
        ref[:] = np.arange(256).reshape(64, 4)
        ref.flush()
        got = np.load(mnt.path("r"))
        assert np.array_equal(got, ref)
        assert stat.S_ISREG(os.stat(mnt.path("r")).st_mode)
        del ref
    finally:
        arr.close()


@pytest.mark.parametrize("descr,shape", SIMPLE)
def test_npsave_recognised_xattrs_numpys(shmfs, descr, shape):
    m = shmfs()
    a = np.zeros(shape, np.dtype(descr))
    write_block(m, "s", npsave(a))
    assert os.getxattr(m.path("s"), DTYPE).decode() == a.dtype.str
    want = ",".join(str(n) for n in a.shape)
    assert os.getxattr(m.path("s"), SHAPE).decode() == want
    names = os.listxattr(m.path("s"))
    assert DTYPE in names and SHAPE in names
    back = np.load(m.path("s"))
    assert back.dtype == a.dtype and back.shape == a.shape


def test_structured_and_fortran(shmfs):
    m = shmfs()
    a = np.zeros(4, [("x", "<f4"), ("y", "<i8")])
    write_block(m, "st", npsave(a))
    assert os.getxattr(m.path("st"), DTYPE).decode() == repr(a.dtype.descr)
    f = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    write_block(m, "f", npsave(f))
    assert os.getxattr(m.path("f"), SHAPE) == b"2,3"
    assert np.array_equal(np.load(m.path("f")), f)


def test_array_xattrs_read_only(shmfs):
    m = shmfs()
    write_block(m, "a", npsave(np.zeros(3)))
    # A stored xattr of the same name is hidden by the header's.
    os.setxattr(m.block("a"), DTYPE, b"|u1")
    assert os.getxattr(m.path("a"), DTYPE) == b"<f8"
    assert os.listxattr(m.path("a")).count(DTYPE) == 1
    for fn, args in ((os.setxattr, (DTYPE, b"<f4")),
                     (os.setxattr, (SHAPE, b"9")),
                     (os.removexattr, (DTYPE,)), (os.removexattr, (SHAPE,))):
        assert errno_of(fn, m.path("a"), *args) == errno.EPERM
    # Other user xattrs are the block's, as on a plain block.
    os.setxattr(m.path("a"), "user.note", b"hi")
    assert os.getxattr(m.block("a"), "user.note") == b"hi"


def npy_blob(text):
    """A 1.0 .npy header of dict text `text`, padded as NumPy pads."""
    body = text.encode("latin-1")
    body += b" " * (63 - (10 + len(body)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


HOSTILE = [
    # A 10^12-item shape in a 4 KiB block.
    npy_blob("{'descr': '<f8', 'fortran_order': False, 'shape': (10**12,), }"
             .replace("10**12", "1000000000000")),
    # A product that overflows 64 bits.
    npy_blob("{'descr': '<f8', 'fortran_order': False, "
             "'shape': (4294967296, 4294967296, 4294967296), }"),
    # Bad dicts: a key twice, a key missing, not a dict, an object dtype.
    npy_blob("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, "
             "'shape': (1,), }"),
    npy_blob("{'descr': '<f8', 'shape': (1,), }"),
    npy_blob("{" * 40),
    npy_blob("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"),
    # Truncated: the header runs past its block, or stops short.
    b"\x93NUMPY\x01\x00\xff\xff{'descr'",
    b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{",
    b"\x93NUMPY",
]


@pytest.mark.parametrize("blob", HOSTILE)
def test_hostile_headers_are_plain_files(shmfs, blob):
    m = shmfs()
    data = blob.ljust(4096, b"\0") if len(blob) > 16 else blob
    write_block(m, "h", data)
    st = os.stat(m.path("h"))
    assert stat.S_ISREG(st.st_mode) and st.st_size == len(data)
    assert errno_of(os.getxattr, m.path("h"), DTYPE) == errno.ENODATA
    assert DTYPE not in os.listxattr(m.path("h"))
    with open(m.path("h"), "rb") as f:
        assert f.read() == data
    assert "h" in os.listdir(m.dir) and "h.npy" not in os.listdir(m.dir)
    # NumPy agrees it is no array it can load (it takes a key given twice,
    # which the strict reader refuses: docs/arrays.md).
    # In a process of its own, without the sanitizers' preload: NumPy
    # tries to allocate what a huge shape says, which ASan's allocator
    # would answer by aborting the test run.
    if b"'descr': '<f8', 'descr'" not in blob:
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        r = subprocess.run([sys.executable, "-c",
                            "import sys, numpy; numpy.load(sys.argv[1])",
                            m.block("h")], env=env, capture_output=True)
        assert r.returncode != 0 and b"Error" in r.stderr


def test_header_rewritten_under_open_file(shmfs):
    m = shmfs()
    write_block(m, "w", npsave(np.zeros((4, 4))))
    fd = os.open(m.path("w"), os.O_RDWR)
    try:
        assert os.getxattr(fd, SHAPE) == b"4,4"
        # Scribbled over outside: a plain block now, read as one.
        with open(m.block("w"), "r+b") as f:
            f.write(b"garbage!")
        assert errno_of(os.getxattr, fd, DTYPE) == errno.ENODATA
        assert DTYPE not in os.listxattr(fd)
        assert os.pread(fd, 8, 0) == b"garbage!"
        # Another valid header: the open file's xattrs follow it.
        with open(m.block("w"), "r+b") as f:
            f.write(npsave(np.zeros((2, 8), "<i8")))
        assert os.getxattr(fd, SHAPE) == b"2,8"
        assert os.getxattr(fd, DTYPE) == b"<i8"
        # Written through the file itself, the same.
        os.pwrite(fd, b"\0" * 16, 0)
        assert errno_of(os.getxattr, fd, SHAPE) == errno.ENODATA
    finally:
        os.close(fd)
    # A plain block that becomes an array: a fresh lookup finds it (the
    # watch drops the old entry).
    write_block(m, "p", b"\0" * 256)
    fd = os.open(m.path("p"), os.O_RDONLY)
    try:
        with open(m.block("p"), "r+b") as f:
            f.write(npsave(np.zeros(8, "|u1")))
        assert wait_for(lambda: errno_of(os.getxattr, m.path("p"), DTYPE) == 0)
        assert os.getxattr(m.path("p"), DTYPE) == b"|u1"
        assert os.read(fd, 6) == b"\x93NUMPY"
    finally:
        os.close(fd)


# ---- declared arrays --------------------------------------------------------

@pytest.mark.parametrize("where", ["mount", "shm"])
def test_declared_array_view(shmfs, where):
    m = shmfs()
    shm = shm_block(m, "d", 8 * 1000 * 3)
    try:
        x = np.ndarray((1000, 3), "<f8", buffer=shm.buf)
        x[:] = np.random.default_rng(1).random((1000, 3))
        target = m.path("d") if where == "mount" else m.block("d")
        os.setxattr(target, DTYPE, b"<f8")
        assert errno_of(os.stat, m.path("d.npy")) == errno.ENOENT
        os.setxattr(target, SHAPE, b"1000,3")
        assert wait_for(lambda: os.path.exists(m.path("d.npy")))
        v = np.load(m.path("d.npy"))
        assert v.dtype == np.dtype("<f8") and np.array_equal(v, x)
        st = os.stat(m.path("d.npy"))
        assert stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222
        assert st.st_size == 8 * 3000 + len(npsave(v)) - v.nbytes
        assert st.st_ino != os.stat(m.path("d")).st_ino
        assert os.getxattr(m.path("d.npy"), SHAPE) == b"1000,3"
        assert sorted(os.listxattr(m.path("d.npy"))) == [DTYPE, SHAPE]
        assert wait_for(lambda: "d.npy" in os.listdir(m.dir))
        # Stores in the block are what the next read of the view gives.
        x[7, 1] = 42.0
        assert np.load(m.path("d.npy"))[7, 1] == 42.0
        # A read-only mapping of the view (a copy, docs/arrays.md).
        mv = np.load(m.path("d.npy"), mmap_mode="r")
        assert np.array_equal(mv, x)
        del mv
        # Removing the declaration removes the view.
        os.removexattr(m.block("d"), SHAPE)
        assert wait_for(lambda: not os.path.exists(m.path("d.npy")))
        assert wait_for(lambda: "d.npy" not in os.listdir(m.dir))
        del x, v
    finally:
        shm.close()


def test_declared_array_checked_on_set(shmfs):
    m = shmfs()
    shm = shm_block(m, "c", 4096)
    try:
        p = m.path("c")
        os.setxattr(p, SHAPE, b"512")
        assert errno_of(os.setxattr, p, DTYPE, b"<c16") == errno.EINVAL
        for bad in (b"float64", b"|O", b"<f8\0", b"[('a', '|O')]", b""):
            assert errno_of(os.setxattr, p, DTYPE, bad) == errno.EINVAL, bad
        os.setxattr(p, DTYPE, b"<f8")
        for bad in (b"513", b"1,-1", b" 512", b"99999999999999999999",
                    b"4294967296,4294967296"):
            assert errno_of(os.setxattr, p, SHAPE, bad) == errno.EINVAL, bad
        assert os.getxattr(p, SHAPE) == b"512"
        assert np.load(m.path("c.npy")).shape == (512,)
        # Set directly, a declaration that does not fit shows no view.
        os.setxattr(m.block("c"), SHAPE, b"513")
        assert wait_for(lambda: not os.path.exists(m.path("c.npy")))
        os.setxattr(m.block("c"), SHAPE, b"4294967296,4294967296")
        os.setxattr(m.block("c"), DTYPE, b"[('a', '|O')]")
        assert not os.path.exists(m.path("c.npy"))
        assert "c.npy" not in os.listdir(m.dir)
        # A 0-d array: the empty shape.
        os.setxattr(m.block("c"), DTYPE, b"<i4")
        os.setxattr(m.block("c"), SHAPE, b"")
        assert wait_for(lambda: os.path.exists(m.path("c.npy")))
        assert np.load(m.path("c.npy")).shape == ()
    finally:
        shm.close()


def test_view_is_read_only(shmfs):
    m = shmfs()
    shm = shm_block(m, "r", 64)
    try:
        os.setxattr(m.path("r"), DTYPE, b"|u1")
        os.setxattr(m.path("r"), SHAPE, b"8,8")
        v = m.path("r.npy")
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):
            assert errno_of(os.open, v, flags) == errno.EACCES
        # Creating the name meets the view, as any existing file.
        assert errno_of(os.open, v, os.O_WRONLY | os.O_CREAT) == errno.EACCES
        assert errno_of(os.open, v, os.O_RDONLY | os.O_CREAT | os.O_EXCL,
                        0o644) == errno.EEXIST
        assert errno_of(os.unlink, v) == errno.EPERM
        assert errno_of(os.chmod, v, 0o644) == errno.EPERM
        assert errno_of(os.truncate, v, 0) == errno.EPERM
        assert errno_of(os.utime, v, (1, 1)) == errno.EPERM
        assert errno_of(os.setxattr, v, DTYPE, b"<f8") == errno.EPERM
        assert errno_of(os.removexattr, v, SHAPE) == errno.EPERM
        assert os.path.exists(v) and os.path.exists(m.block("r"))
    finally:
        shm.close()


def test_real_block_wins_over_view(shmfs):
    m = shmfs()
    shm = shm_block(m, "w", 80)
    try:
        os.setxattr(m.path("w"), DTYPE, b"<f8")
        os.setxattr(m.path("w"), SHAPE, b"10")
        assert np.load(m.path("w.npy")).shape == (10,)
        real = np.arange(3, dtype="<i2")
        write_block(m, "w.npy", npsave(real))
        assert wait_for(lambda: np.load(m.path("w.npy")).dtype == real.dtype)
        assert np.array_equal(np.load(m.path("w.npy")), real)
        assert sorted(os.listdir(m.dir)) == ["w", "w.npy"]
        os.unlink(m.block("w.npy"))
        assert wait_for(lambda: os.path.exists(m.path("w.npy"))
                        and os.stat(m.path("w.npy")).st_size
                        == len(npsave(np.zeros(10))))
    finally:
        shm.close()


def test_view_open_keeps_its_header(shmfs):
    m = shmfs()
    shm = shm_block(m, "k", 32)
    try:
        shm.buf[:32] = bytes(range(32))
        os.setxattr(m.path("k"), DTYPE, b"|u1")
        os.setxattr(m.path("k"), SHAPE, b"32")
        with open(m.path("k.npy"), "rb") as f:
            os.setxattr(m.path("k"), SHAPE, b"4,8")
            a = np.lib.format.read_array(f)
        assert a.shape == (32,) and list(a) == list(range(32))
        assert wait_for(lambda: np.load(m.path("k.npy")).shape == (4, 8))
    finally:
        shm.close()


def test_view_opens_share_one_descriptor(shmfs):
    m = shmfs()
    shm = shm_block(m, "o", 4096)
    fds = []
    try:
        os.setxattr(m.path("o"), DTYPE, b"|u1")
        os.setxattr(m.path("o"), SHAPE, b"4096")
        daemon_fds = "/proc/%d/fd" % m.proc.pid
        before = len(os.listdir(daemon_fds))
        fds = [os.open(m.path("o.npy"), os.O_RDONLY) for _ in range(200)]
        # The node holds the block once for all its open files.
        assert len(os.listdir(daemon_fds)) <= before + 2
        assert os.pread(fds[-1], 6, 0) == b"\x93NUMPY"
    finally:
        for fd in fds:
            os.close(fd)
        shm.close()
