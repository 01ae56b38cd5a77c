# SPDX-License-Identifier: MIT
"""Array blocks (.npy in /dev/shm) against NumPy: arrays made by the C API
loaded by np.load(mmap_mode='r+') and by SharedMemory + np.ndarray, stores
seen both ways; np.save's output recognised and attached; NumPy's own
header text; hostile headers refused with an exact errno."""

import ctypes
import errno
import io
import mmap
import os
from multiprocessing.shared_memory import SharedMemory

import numpy as np
import pytest

from array_ctypes import (HEADER_MAX, MAX_DIMS, CArray, NpyInfo, header_build,
                          load, probe, shape_arg)
from conftest import SHM_DIR, SHMBLOCK_NOMAP, SHMBLOCK_RDONLY, untrack

PAGE = mmap.PAGESIZE
EBADMSG, EOVERFLOW, ENOTSUP = -errno.EBADMSG, -errno.EOVERFLOW, -errno.ENOTSUP
EINVAL, ENOBUFS = -errno.EINVAL, -errno.ENOBUFS

# Descrs as NumPy's dtype.descr writes them, with a shape each.
DTYPES = [
    ("<f8", (1000, 3)), ("|u1", (4096,)), (">i4", (7, 5)), ("<c16", (3,)),
    ("|S16", (10,)), ("<U8", (4, 2)), ("|b1", (33,)), ("<m8[ns]", (5,)),
    ("<M8[D]", (6,)), ("<m8[10us]", (2,)), ("<f2", (9,)), (">f4", (2, 2, 2)),
    ("<i8", ()), ("<c8", (0,)), ("|V5", (3,)), ("<u2", (3, 0, 4)),
    ("[('x', '<f4'), ('y', '<f4'), ('id', '<i8')]", (100,)),
    ("[('a', '<f8'), ('b', '<i4', (2, 3)), ('c', [('x', '|u1'), ('y', '|S3')]),"
     " (('title', 't'), '<U2')]", (5,)),
    ("[('a', '|u1'), ('', '|V7'), ('b', '>f8')]", (4,)),
]


@pytest.fixture(scope="module")
def alib():
    return load()


def npsave(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def np_dtype(descr):
    """NumPy's dtype for a descr text, through NumPy's own reader."""
    from numpy.lib.format import descr_to_dtype
    import ast
    return descr_to_dtype(descr if not descr.startswith("[") else ast.literal_eval(descr))


def write_block(name, data):
    with open(os.path.join(SHM_DIR, name), "wb") as f:
        f.write(data)


def raw_bytes(arr):
    """The array's memory as bytes, a view (C or Fortran order alike)."""
    raw = arr.reshape(-1, order="A").view(np.uint8)
    assert arr.size == 0 or np.shares_memory(raw, arr)
    return raw


def fill(arr):
    """Distinct bytes in every item, whatever the dtype."""
    raw = raw_bytes(arr)
    raw[:] = np.arange(raw.size, dtype=np.uint64) % 251


@pytest.mark.parametrize("descr,shape", DTYPES)
@pytest.mark.parametrize("fortran", [False, True])
def test_c_array_loaded_by_numpy(alib, names, descr, shape, fortran):
    name = names()
    rc, a = CArray.create(alib, name, descr, shape, fortran)
    assert rc == 0, rc
    try:
        want = np_dtype(descr)
        assert a.data_offset % PAGE == 0
        assert a.info.itemsize == want.itemsize
        assert a.nbytes == want.itemsize * int(np.prod(shape))
        assert a.shape == shape
        assert os.path.getsize(os.path.join(SHM_DIR, name)) == a.data_offset + a.nbytes
        if a.nbytes == 0:
            # NumPy can't map an empty data area (mmap of 0 bytes); it
            # reads it.
            m = np.load(os.path.join(SHM_DIR, name))
            assert m.dtype == want and m.shape == shape
            return
        m = np.load(os.path.join(SHM_DIR, name), mmap_mode="r+")
        assert m.dtype == want and m.shape == shape
        if fortran and len(shape) > 1 and m.size > 1:
            assert m.flags.f_contiguous and not m.flags.c_contiguous
        assert m.offset == a.data_offset
        # NumPy's stores are C's bytes at once, and C's stores NumPy's.
        fill(m)
        view = a.data()
        assert view.raw == m.tobytes(order="A")
        view[0] = b"\xa5"
        view[a.nbytes - 1] = b"\x5a"
        raw = raw_bytes(m)
        assert raw[0] == 0xa5 and raw[-1] == 0x5a
        del m, raw
    finally:
        a.close()


def test_fortran_element_order(alib, names):
    name = names()
    rc, a = CArray.create(alib, name, "<i4", (2, 3), True)
    assert rc == 0
    try:
        m = np.load(os.path.join(SHM_DIR, name), mmap_mode="r+")
        m[1, 0] = 7  # column-major: the second item of the data
        assert np.frombuffer(a.data(), "<i4")[1] == 7
        del m
    finally:
        a.close()


@pytest.mark.parametrize("descr,shape", DTYPES)
def test_np_save_attached(alib, names, descr, shape):
    name = names()
    arr = np.zeros(shape, np_dtype(descr))
    fill(arr)
    saved = npsave(arr)
    write_block(name, saved)
    rc, a = CArray.attach(alib, name)
    assert rc == 0, rc
    try:
        assert a.shape == shape
        assert np_dtype(a.descr) == arr.dtype
        assert a.data_offset % 64 == 0
        assert a.nbytes == arr.nbytes
        assert a.data_offset + a.nbytes == len(saved)
        if not arr.nbytes:
            return
        # np.save writes items, not padding: compare with its bytes.
        assert a.data().raw == saved[a.data_offset:]
        assert same_items(np.frombuffer(a.data(), arr.dtype).reshape(shape), arr)
        m = np.load(os.path.join(SHM_DIR, name), mmap_mode="r")
        a.data()[0] = b"\x01" if raw_bytes(m)[0] != 1 else b"\x02"
        assert raw_bytes(m)[0] == a.data().raw[0]
        del m
    finally:
        a.close()


def same_items(x, y):
    """Equal items, bytes compared field by field (padding left out)."""
    if x.dtype.names:
        return all(same_items(x[n], y[n]) for n in x.dtype.names)
    return x.dtype == y.dtype and x.shape == y.shape and \
        np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes()


def test_attach_read_only_and_nomap(alib, names):
    name = names()
    write_block(name, npsave(np.arange(10.0)))
    rc, a = CArray.attach(alib, name, SHMBLOCK_RDONLY)
    assert rc == 0
    assert np.frombuffer(a.data(), "<f8").tolist() == list(range(10))
    a.close()
    rc, a = CArray.attach(alib, name, SHMBLOCK_NOMAP)
    assert rc == 0
    assert alib.shmblock_array_data(a.h) is None
    assert a.shape == (10,) and a.descr == "<f8"
    a.close()


def test_shared_memory_ndarray_on_c_array(alib, names):
    """CPython's recipe, np.ndarray(buffer=shm.buf, offset=...), on the same
    block as the C handle and np.load."""
    name = names()
    rc, a = CArray.create(alib, name, "<f8", (1000, 3))
    assert rc == 0
    try:
        shm = SharedMemory(name)
        untrack(shm)
        try:
            x = np.ndarray((1000, 3), "<f8", buffer=shm.buf, offset=a.data_offset)
            m = np.load(os.path.join(SHM_DIR, name), mmap_mode="r+")
            x[:, 1] = np.arange(1000)
            assert m[999, 1] == 999.0
            m[5, 2] = -2.5
            assert x[5, 2] == -2.5
            assert np.frombuffer(a.data(), "<f8")[5 * 3 + 2] == -2.5
            np.frombuffer(a.data(), "<f8")[0] = 42
            assert x[0, 0] == 42 and m[0, 0] == 42
            del x, m
        finally:
            shm.close()
    finally:
        a.close()


def test_attach_c_made_and_create_errors(alib, names):
    name = names()
    rc, a = CArray.create(alib, name, "[('é', '<f8'), ('n', '<i2', (3,))]", (4,))
    assert rc == 0
    a.close()
    rc, b = CArray.attach(alib, name)
    assert rc == 0
    assert b.descr == "[('é', '<f8'), ('n', '<i2', (3,))]"
    assert b.info.major == 3  # UTF-8 needs format 3.0
    assert np.load(os.path.join(SHM_DIR, name), mmap_mode="r").dtype.names == ("é", "n")
    b.close()
    assert CArray.create(alib, name, "<f8", (1,))[0] == -errno.EEXIST
    for bad in ["f8", "<f3", "<i3", "float64", "<f8 ", "", "[('a', '<f8')",
                "[('a', '<f8'), ('a', '<i4')]", "[('', '<f8')]", "'<f8", "<f8[ns]",
                "<m8[0ns]", "<m8[fortnight]", "<M4"]:
        other = names()
        rc, _ = CArray.create(alib, other, bad, (1,))
        assert rc == EINVAL, (bad, rc)
        assert not os.path.exists(os.path.join(SHM_DIR, other))
    assert CArray.create(alib, names(), "|O", (1,))[0] == ENOTSUP
    assert CArray.create(alib, names(), "<O", (1,))[0] == ENOTSUP
    assert CArray.create(alib, names(), "[('a', '|O')]", (1,))[0] == ENOTSUP
    assert CArray.create(alib, names(), "<f8", (2**62, 2))[0] == EOVERFLOW
    assert CArray.create(alib, names(), "<f8", (2**61, 4))[0] == EOVERFLOW
    assert CArray.create(alib, "a/b", "<f8", (1,))[0] == EINVAL
    shape = (1,) * (MAX_DIMS + 1)
    h = ctypes.c_void_p()
    assert alib.shmblock_array_create(names().encode(), b"<f8", len(shape),
                                      shape_arg(shape), False, 0o600, 0,
                                      ctypes.byref(h)) == EINVAL


def test_long_header_spans_pages(alib, names):
    """A structured dtype whose header needs more than a page: the data
    start at the next page boundary and attach reads the whole header."""
    fields = ", ".join("('field_%04d', '<f4')" % k for k in range(300))
    descr = "[%s]" % fields
    name = names()
    rc, a = CArray.create(alib, name, descr, (3,))
    assert rc == 0
    assert a.data_offset == 2 * PAGE and a.info.major == 1
    a.close()
    rc, b = CArray.attach(alib, name)
    assert rc == 0 and b.descr == descr and b.data_offset == 2 * PAGE
    b.close()
    m = np.load(os.path.join(SHM_DIR, name), mmap_mode="r")
    assert len(m.dtype.names) == 300 and m.shape == (3,)
    del m


def test_header_over_64k_is_format_2(alib, names):
    fields = ", ".join("('field_%05d', '<u1')" % k for k in range(4000))
    name = names()
    rc, a = CArray.create(alib, name, "[%s]" % fields, (2,))
    assert rc == 0
    assert a.info.major == 2 and a.data_offset % PAGE == 0 and a.data_offset > 65536
    a.close()
    # NumPy loads headers above 10000 characters only when told to trust them.
    with pytest.raises(ValueError):
        np.load(os.path.join(SHM_DIR, name), mmap_mode="r")
    m = np.load(os.path.join(SHM_DIR, name), mmap_mode="r", allow_pickle=True)
    assert len(m.dtype.names) == 4000
    del m


@pytest.mark.parametrize("descr,shape", DTYPES)
def test_header_text_is_numpys(alib, descr, shape):
    """Our dict text is NumPy's, byte for byte; NumPy reads our header."""
    arr = np.zeros(shape, np_dtype(descr))
    theirs = npsave(arr)
    hl = int.from_bytes(theirs[8:10], "little")
    ours = header_build(alib, descr, list(shape))
    assert isinstance(ours, bytes)
    assert len(ours) % 64 == 0
    assert ours[:8] == theirs[:8]
    assert ours[10:].rstrip(b" \n") == theirs[10:10 + hl].rstrip(b" \n")
    assert ours.endswith(b"\n")
    fill(arr)
    back = np.load(io.BytesIO(ours + arr.tobytes()))
    assert back.dtype == arr.dtype and same_items(back, arr)


def test_header_build_errors(alib):
    assert header_build(alib, "<f8", [3], align=100) == EINVAL
    assert header_build(alib, "<f8", [3], align=32) == EINVAL
    assert len(header_build(alib, "<f8", [3], align=PAGE)) == PAGE
    n = alib.shmblock_npy_header_build(b"<f8", 1, shape_arg([3]), False, 0, None, 0)
    buf = ctypes.create_string_buffer(b"\xee" * n)
    # Too small a buffer: the size is told, nothing is written.
    assert alib.shmblock_npy_header_build(b"<f8", 1, shape_arg([3]), False, 0,
                                          buf, n - 1) == n
    assert buf.raw[:n] == b"\xee" * n


# Headers NumPy reads that differ from what it writes: key order, quotes,
# blanks, trailing commas.
VARIANTS = [
    b"{'shape': (3, 2), 'fortran_order': False, 'descr': '<i4'}",
    b'{"descr": "<i4", "fortran_order": False, "shape": (3, 2)}',
    b"{ 'descr' : '<i4' ,\n 'fortran_order' : False ,\t'shape' : ( 3 , 2 , ) , }",
    b"  {'fortran_order': False, 'shape': (3,2), 'descr': '<i4',}",
]


def npy_bytes(dict_text, major=1, data=b"", pad_to=64):
    prefix = 10 if major == 1 else 12
    body = dict_text + b"\n"
    total = -(-(prefix + len(body)) // pad_to) * pad_to
    body = dict_text + b" " * (total - prefix - len(body)) + b"\n"
    n = len(body).to_bytes(2 if major == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([major, 0]) + n + body + data


@pytest.mark.parametrize("text", VARIANTS)
def test_variants_numpy_reads(alib, names, text):
    data = npy_bytes(text, data=bytes(24))
    assert np.load(io.BytesIO(data)).shape == (3, 2)
    rc, info = probe(alib, data)
    assert rc == 0
    assert info.shape_tuple() == (3, 2) and info.descr_text() == "<i4"
    assert info.nbytes == 24 and info.data_offset == len(data) - 24
    name = names()
    write_block(name, data)
    rc, a = CArray.attach(alib, name)
    assert rc == 0 and a.shape == (3, 2)
    a.close()


F8 = b"'descr': '<f8', 'fortran_order': False"

# Hostile or malformed blocks: (bytes, the errno).  NumPy refuses the
# header of each too, except those in NUMPY_READS: there NumPy reads the
# header and finds the data wrong only when it maps or reads them, or
# (STRICTER) it takes a header NumPy never writes, which we refuse.
HOSTILE = {
    "huge-shape-in-4k": (npy_bytes(b"{%s, 'shape': (1000000, 1000000), }" % F8,
                                   pad_to=4096), EOVERFLOW),
    "product-overflows": (npy_bytes(b"{%s, 'shape': (4294967296, 4294967296), }" % F8),
                          EOVERFLOW),
    "bytes-overflow": (npy_bytes(b"{%s, 'shape': (2305843009213693952,), }" % F8),
                       EOVERFLOW),
    "dim-above-int64": (npy_bytes(b"{%s, 'shape': (99999999999999999999999,), }" % F8),
                        EOVERFLOW),
    "zero-dim-hides-nothing": (npy_bytes(b"{%s, 'shape': (0, 4611686018427387904, 4), }"
                                         % F8), EOVERFLOW),
    "one-item-short": (npy_bytes(b"{%s, 'shape': (2,), }" % F8, data=bytes(15)),
                       EOVERFLOW),
    "object": (npy_bytes(b"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
                         data=bytes(16)), ENOTSUP),
    "object-field": (npy_bytes(b"{'descr': [('a', '|O')], 'fortran_order': False, "
                               b"'shape': (2,), }", data=bytes(16)), ENOTSUP),
    "missing-key": (npy_bytes(b"{%s, }" % F8), EBADMSG),
    "extra-key": (npy_bytes(b"{%s, 'shape': (), 'x': 1}" % F8, data=bytes(8)), EBADMSG),
    "repeated-key": (npy_bytes(b"{%s, 'shape': (), 'shape': ()}" % F8, data=bytes(8)),
                     EBADMSG),
    "shape-not-tuple": (npy_bytes(b"{%s, 'shape': (3)}" % F8, data=bytes(24)), EBADMSG),
    "shape-list": (npy_bytes(b"{%s, 'shape': [3]}" % F8, data=bytes(24)), EBADMSG),
    "negative-dim": (npy_bytes(b"{%s, 'shape': (-3,)}" % F8, data=bytes(24)), EBADMSG),
    "float-dim": (npy_bytes(b"{%s, 'shape': (3.0,)}" % F8, data=bytes(24)), EBADMSG),
    "fortran-int": (npy_bytes(b"{'descr': '<f8', 'fortran_order': 0, 'shape': ()}",
                              data=bytes(8)), EBADMSG),
    "not-a-dict": (npy_bytes(b"['<f8', False, ()]"), EBADMSG),
    "trailing-garbage": (npy_bytes(b"{%s, 'shape': ()} x" % F8, data=bytes(8)), EBADMSG),
    "comment": (npy_bytes(b"{%s, 'shape': ()} # hi" % F8, data=bytes(8)), EBADMSG),
    "unquoted-descr": (npy_bytes(b"{'descr': f8, 'fortran_order': False, 'shape': ()}",
                                 data=bytes(8)), EBADMSG),
    "bad-typestr": (npy_bytes(b"{'descr': '<f3', 'fortran_order': False, 'shape': ()}",
                              data=bytes(8)), EBADMSG),
    "unterminated": (npy_bytes(b"{'descr': '<f8, 'fortran_order': False, 'shape': ()}",
                               data=bytes(8)), EBADMSG),
    "nul-in-header": (npy_bytes(b"{'descr': '<f8\0', 'fortran_order': False, 'shape': ()}",
                                data=bytes(8)), EBADMSG),
    "deep-nesting": (npy_bytes(b"{'descr': " + b"[('a', " * 40 + b"'<f8'" + b")]" * 40 +
                               b", 'fortran_order': False, 'shape': ()}", data=bytes(8)),
                     EBADMSG),
    "duplicate-field": (npy_bytes(b"{'descr': [('a', '<f8'), ('a', '<f8')], "
                                  b"'fortran_order': False, 'shape': ()}", data=bytes(16)),
                        EBADMSG),
    "too-many-dims": (npy_bytes(b"{%s, 'shape': (%s)}" % (F8, b"1, " * 65),
                                data=bytes(8)), EBADMSG),
    "bad-version": (b"\x93NUMPY\x04\x00" + npy_bytes(b"{%s, 'shape': ()}" % F8)[8:],
                    EBADMSG),
    "bad-magic": (b"\x93NUMPZ" + npy_bytes(b"{%s, 'shape': ()}" % F8)[6:], EBADMSG),
    "header-past-block": (npy_bytes(b"{%s, 'shape': ()}" % F8)[:40], EBADMSG),
    "prefix-only": (b"\x93NUMPY\x01\x00", EBADMSG),
    "empty-header": (b"\x93NUMPY\x01\x00\x00\x00", EBADMSG),
    "v3-not-utf8": (npy_bytes(b"{'descr': [('\xe9', '<f8')], 'fortran_order': False, "
                              b"'shape': ()}", major=3, data=bytes(8)), EBADMSG),
    "hlen-4gib": (b"\x93NUMPY\x02\x00\xff\xff\xff\xff" + b" " * 100, EBADMSG),
}


STRICTER = {"comment", "repeated-key"}
NUMPY_READS = STRICTER | {
    "huge-shape-in-4k", "product-overflows", "bytes-overflow", "dim-above-int64",
    "zero-dim-hides-nothing", "one-item-short", "object", "object-field",
    "too-many-dims", "deep-nesting", "negative-dim"}


def numpy_header(data):
    """NumPy's own header reader on the bytes (no data read)."""
    from numpy.lib import format as fmt
    f = io.BytesIO(data)
    version = fmt.read_magic(f)
    return fmt._read_array_header(f, version)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_headers(alib, names, case):
    data, want = HOSTILE[case]
    rc, _ = probe(alib, data)
    assert rc == want, (rc, want)
    if case in NUMPY_READS:
        numpy_header(data)
    else:
        with pytest.raises(ValueError):
            numpy_header(data)
    name = names()
    write_block(name, data)
    rc, a = CArray.attach(alib, name)
    assert rc == want and a is None
    # The descriptor probe agrees, and costs no more than the block.
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDONLY)
    try:
        buf = ctypes.create_string_buffer(4096)
        assert alib.shmblock_npy_probe_fd(fd, len(data), buf, 4096, None) == want
        # A block that shrank after the caller's fstat.
        rc = alib.shmblock_npy_probe_fd(fd, len(data) + 4096, buf, 4096, None)
        assert rc in (want, -errno.EAGAIN) or (rc == 0 and want == EOVERFLOW)
    finally:
        os.close(fd)


def test_probe_prefixes(alib):
    """Every prefix of a valid block asks for more (ENOBUFS, and how much),
    never reads past what it was given, and then accepts."""
    data = npsave(np.arange(6, dtype="<i2").reshape(2, 3))
    for k in range(len(data)):
        rc, info = probe(alib, data[:k], len(data))
        if k < 128:
            assert rc == ENOBUFS, k
            assert k < info.data_offset <= 128
        else:
            assert rc == 0
    assert probe(alib, b"\x93NUMPZ", len(data))[0] == EBADMSG
    assert probe(alib, b"x", 100)[0] == EBADMSG


def test_probe_fd_small_buffer(alib, names):
    fields = ", ".join("('f%04d', '<f4')" % k for k in range(400))
    data = npsave(np.zeros(2, np_dtype("[%s]" % fields)))
    fd = os.memfd_create("npy")
    try:
        os.write(fd, data)
        info = NpyInfo()
        buf = ctypes.create_string_buffer(4096)
        assert alib.shmblock_npy_probe_fd(fd, len(data), buf, 4096,
                                          ctypes.byref(info)) == ENOBUFS
        need = info.data_offset
        assert 4096 < need < len(data)
        big = ctypes.create_string_buffer(need)
        assert alib.shmblock_npy_probe_fd(fd, len(data), big, need,
                                          ctypes.byref(info)) == 0
        assert info.nbytes == 2 * 400 * 4 and info.structured
        assert alib.shmblock_npy_probe_fd(fd, len(data), buf, 11, None) == EINVAL
    finally:
        os.close(fd)


def test_describe(alib):
    info = NpyInfo()
    shape = shape_arg([1000, 3])
    assert alib.shmblock_npy_describe(b"<f8", 2, shape, False, ctypes.byref(info)) == 0
    assert (info.itemsize, info.count, info.nbytes) == (8, 3000, 24000)
    assert info.descr_text() == "<f8" and not info.structured
    assert alib.shmblock_npy_describe(b"'<U3'", 2, shape, True, ctypes.byref(info)) == 0
    assert info.descr_text() == "<U3" and info.itemsize == 12 and info.fortran_order
    assert alib.shmblock_npy_describe(b"[('a', '<f8', 2)]", 0, None, False,
                                      ctypes.byref(info)) == 0
    assert info.itemsize == 16 and info.count == 1 and info.structured
    assert alib.shmblock_npy_describe(b"|O", 0, None, False, None) == ENOTSUP
    assert alib.shmblock_npy_describe(b"<f8", 65, shape_arg([1] * 65), False,
                                      None) == EINVAL
    assert alib.shmblock_npy_describe(b"|S2147483648", 0, None, False, None) == EINVAL
    assert alib.shmblock_npy_describe(b"[('a', '|S1000000', (1000000,))]", 0, None,
                                      False, None) == EOVERFLOW
    assert alib.shmblock_npy_describe(b"[('a',\n '<f8')]", 0, None, False, None) == EINVAL
    assert alib.shmblock_npy_describe(None, 0, None, False, None) == EINVAL


@pytest.mark.parametrize("text,want", [
    (b"1000,3", (1000, 3)), (b"7", (7,)), (b"", ()), (b"0,5\n", (0, 5)),
    (b"9223372036854775807", (2**63 - 1,)),
])
def test_shape_text(alib, text, want):
    shape = (ctypes.c_uint64 * MAX_DIMS)()
    ndim = ctypes.c_uint()
    assert alib.shmblock_npy_shape_parse(text, len(text), shape, ctypes.byref(ndim)) == 0
    assert tuple(shape[:ndim.value]) == want
    out = ctypes.create_string_buffer(64)
    n = alib.shmblock_npy_shape_format(shape, ndim, b",", out, 64)
    assert out.value == text.rstrip(b"\n") and n == len(out.value)
    alib.shmblock_npy_shape_format(shape, ndim, b"x", out, 64)
    assert out.value == text.rstrip(b"\n").replace(b",", b"x")


@pytest.mark.parametrize("text,want", [
    (b"1000, 3", EINVAL), (b"-1", EINVAL), (b"01", EINVAL), (b"1,", EINVAL),
    (b",1", EINVAL), (b"1,,2", EINVAL), (b"(1,2)", EINVAL), (b"1x2", EINVAL),
    (b"1\n\n", EINVAL), (b"9223372036854775808", EOVERFLOW),
    (b"1," * 64 + b"1", EINVAL),
])
def test_shape_text_refused(alib, text, want):
    shape = (ctypes.c_uint64 * MAX_DIMS)()
    ndim = ctypes.c_uint()
    assert alib.shmblock_npy_shape_parse(text, len(text), shape, ctypes.byref(ndim)) == want


def test_shape_format_truncates(alib):
    out = ctypes.create_string_buffer(b"\xee" * 8)
    assert alib.shmblock_npy_shape_format(shape_arg([1000, 3000]), 2, b",", out, 6) == 9
    assert out.raw[:6] == b"1000,\0"


CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz", "corpus-npy")


@pytest.mark.parametrize("fname", sorted(os.listdir(CORPUS)))
def test_fuzz_corpus_replay(alib, fname):
    """The .npy fuzz seeds (and any regression inputs added there): NumPy's
    files read as NumPy reads them, the hostile ones refused as above, and
    the pread probe agreeing with the buffer probe on every one."""
    with open(os.path.join(CORPUS, fname), "rb") as f:
        data = f.read()
    rc, info = probe(alib, data)
    assert rc in (0, EBADMSG, EOVERFLOW, ENOTSUP), rc
    if fname.startswith(("np-", "page-")):
        assert rc == 0
        shape, fortran, dtype = numpy_header(data)
        assert info.shape_tuple() == shape and info.fortran_order == fortran
        assert info.itemsize == dtype.itemsize
        assert info.data_offset + info.nbytes == len(data)
    if fname.startswith("bad-"):
        assert rc == HOSTILE[fname[4:]][1]
    fd = os.memfd_create("corpus")
    try:
        os.write(fd, data)
        buf = ctypes.create_string_buffer(max(len(data), 12))
        assert alib.shmblock_npy_probe_fd(fd, len(data), buf, len(buf), None) == rc
    finally:
        os.close(fd)
