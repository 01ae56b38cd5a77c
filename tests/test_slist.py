# SPDX-License-Identifier: MIT
"""ShareableLists made in C against CPython's multiprocessing.shared_memory:
byte identity, round trips both ways, CPython's set semantics, the strict
validator, the 3.8 layout, and every error path of the C API."""

import ctypes
import errno
import glob
import math
import mmap
import os
import pickle
import resource
import struct
import subprocess
import sys
import time
from multiprocessing.shared_memory import ShareableList, SharedMemory

import pytest

from conftest import SHM_DIR, SHMBLOCK_NOMAP, SHMBLOCK_RDONLY, untrack
from slist_ctypes import (CList, Edit, MAX_SLOT, P, PROBE_SHALLOW, PY38, PY39,
                          SETTLE_KNOWN,
                          Parsed, Probed, TYPE_BOOL, TYPE_BYTES, TYPE_FLOAT,
                          TYPE_INT, TYPE_NONE, TYPE_STR, Layout, Value, check,
                          layout_fields, load, raw_value, to_value,
                          values_array)

INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
EDGES = [INT64_MIN, INT64_MAX, 0, -1, -0.0, 0.0, float("inf"), float("-inf"),
         float("nan"), 5e-324, True, False, None, "", b"", "a\0b", b"\0x\0y",
         "1234567", "12345678", b"12345678" * 3, "hello world", "tab\tnl\n"]


@pytest.fixture(scope="module")
def slib():
    return load()


def raw(name):
    with open(os.path.join(SHM_DIR, name), "rb") as f:
        return f.read()


def write_raw(name, data):
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def py_attach(name):
    sl = ShareableList(name=name)
    untrack(sl.shm)
    return sl


def py_create(name, values):
    return ShareableList(values, name=name)


def py_drop(sl, unlink=False):
    sl.shm.close()
    if unlink:
        sl.shm.unlink()


def same(a, b):
    """Equality that tells -0.0 from 0.0 and lets nan equal nan."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def assert_same_list(got, want):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert same(g, w), (k, g, w)


def expect_read(v):
    """What CPython reads back: trailing NULs of str/bytes stripped."""
    if isinstance(v, str):
        return v.rstrip("\0")
    if isinstance(v, bytes):
        return v.rstrip(b"\0")
    return v


# ---- byte identity and round trips ----------------------------------------

ASCII_LISTS = [
    [],
    [1, 2.5, True, "hello", b"xy", None],
    EDGES,
    ["", "a" * 7, "a" * 8, "a" * 15, "a" * 16, b"b" * 100],
    [None] * 5 + [False] * 3,
    list(range(-5, 50)),
]


@pytest.mark.parametrize("values", ASCII_LISTS, ids=range(len(ASCII_LISTS)))
def test_create_is_byte_identical_to_cpython(slib, names, values):
    py_name, c_name = names(), names()
    sl = py_create(py_name, values)
    try:
        cl = CList.create(slib, c_name, values)
        try:
            assert raw(c_name) == raw(py_name)
            assert cl.format == sl.format
        finally:
            cl.close()
    finally:
        py_drop(sl, unlink=True)


def test_build_is_byte_identical_to_cpython(slib, names):
    values = [1, 2.5, True, "hello", b"xy", None]
    name = names()
    sl = py_create(name, values)
    try:
        arr = values_array(values)
        size = ctypes.c_size_t()
        assert slib.shmblock_slist_layout_size(arr, len(values), ctypes.byref(size)) == 0
        assert size.value == 166
        buf = ctypes.create_string_buffer(size.value)
        assert slib.shmblock_slist_build(arr, len(values), buf, size.value) == 0
        assert buf.raw == raw(name)
        assert slib.shmblock_slist_build(arr, len(values), buf, size.value - 1) == -errno.EINVAL
    finally:
        py_drop(sl, unlink=True)


def test_c_created_read_by_cpython(slib, names):
    name = names()
    cl = CList.create(slib, name, EDGES)
    try:
        sl = py_attach(name)
        try:
            assert_same_list(list(sl), [expect_read(v) for v in EDGES])
        finally:
            py_drop(sl)
    finally:
        cl.close()


def test_cpython_created_read_by_c(slib, names):
    name = names()
    sl = py_create(name, EDGES)
    try:
        cl = CList.attach(slib, name)
        try:
            assert len(cl) == len(EDGES)
            assert_same_list(cl.tolist(), [expect_read(v) for v in EDGES])
            assert [cl.type(k) for k in range(len(EDGES))] == [
                {int: TYPE_INT, float: TYPE_FLOAT, bool: TYPE_BOOL, str: TYPE_STR,
                 bytes: TYPE_BYTES, type(None): TYPE_NONE}[type(v)] for v in EDGES]
            assert cl.format == sl.format
        finally:
            cl.close()
    finally:
        py_drop(sl, unlink=True)


SETS = [  # (index, value), applied in order to [1, 2.5, "abcdefghij", b"xy", None, True]
    (0, "s"), (0, 42), (1, True), (1, None), (2, 7), (2, "0123456789abcdef"),
    (2, b"raw"), (3, INT64_MIN), (3, "12345678"), (4, float("-inf")),
    (4, b"\0\0\0\0\0\0\0\0"), (5, -0.0), (5, "é"), (0, float("nan")),
    (2, ""), (3, False), (1, b""),
]
SET_BASE = [1, 2.5, "abcdefghij", b"xy", None, True]


def test_sets_match_cpython_byte_for_byte(slib, names):
    """The same assignments on a CPython list and a C list keep both blocks
    identical after every step, including the format and code rewrites."""
    py_name, c_name = names(), names()
    sl = py_create(py_name, SET_BASE)
    cl = CList.create(slib, c_name, SET_BASE)
    try:
        for index, value in SETS:
            sl[index] = value
            cl[index] = value
            assert raw(c_name) == raw(py_name), (index, value)
            assert same(cl[index], sl[index])
        assert cl.format == sl.format
    finally:
        cl.close()
        py_drop(sl, unlink=True)


def test_c_sets_read_by_cpython_and_back(slib, names):
    name = names()
    cl = CList.create(slib, name, SET_BASE)
    try:
        sl = py_attach(name)
        try:
            for index, value in SETS:
                cl[index] = value
                assert same(sl[index], expect_read(value))
                sl[index] = value
                assert same(cl[index], expect_read(value))
        finally:
            py_drop(sl)
    finally:
        cl.close()


def test_strings_filling_their_slot_exactly(slib, names):
    name = names()
    cl = CList.create(slib, name, ["abc", b"", "x" * 9])   # slots 8, 8, 16
    try:
        cl[0] = "abcdefgh"
        cl[1] = b"\x01" * 8
        cl[2] = "y" * 16
        sl = py_attach(name)
        try:
            assert list(sl) == ["abcdefgh", b"\x01" * 8, "y" * 16]
            sl[0] = "ABCDEFGH"
            assert cl[0] == "ABCDEFGH"
        finally:
            py_drop(sl)
        assert cl.set_rc(0, "abcdefghi") == -errno.EFBIG
    finally:
        cl.close()


def test_too_long_value_fails_and_changes_nothing(slib, names):
    name = names()
    cl = CList.create(slib, name, ["abc", 5, b"12"])
    try:
        before = raw(name)
        assert cl.set_rc(0, "x" * 9) == -errno.EFBIG
        assert cl.set_rc(1, b"y" * 9) == -errno.EFBIG   # a number slot holds 8
        assert cl.set_rc(2, "é" * 5) == -errno.EFBIG    # 10 bytes, 5 characters
        assert raw(name) == before
        # CPython refuses the same assignments.
        sl = py_attach(name)
        try:
            for k, v in ((0, "x" * 9), (1, b"y" * 9)):
                with pytest.raises(ValueError):
                    sl[k] = v
        finally:
            py_drop(sl)
        assert raw(name) == before
    finally:
        cl.close()


def test_non_ascii_str_sized_by_bytes(slib, names):
    text = "é" * 7           # 7 characters, 14 bytes: CPython gives 8 bytes
    name = names()
    cl = CList.create(slib, name, [text, "日本語テキスト"])
    try:
        assert cl[0] == text
        sl = py_attach(name)
        try:
            assert sl[0] == text and sl[1] == "日本語テキスト"
            assert sl.format == "16s24s"
            sl[0] = "ü" * 8   # 16 bytes fit the 16-byte slot
            assert cl[0] == "ü" * 8
        finally:
            py_drop(sl)
    finally:
        cl.close()


def test_cpython_non_ascii_read_by_c(slib, names):
    name = names()
    sl = py_create(name, ["é" * 3, "日本"])
    try:
        cl = CList.attach(slib, name)
        try:
            assert cl.tolist() == ["é" * 3, "日本"]
        finally:
            cl.close()
    finally:
        py_drop(sl, unlink=True)


def test_count_and_index_follow_python_equality(slib, names):
    values = [1, 1.0, True, 2, "1", b"1", None, float("nan"), 0, -0.0, False,
              2**53 + 1, float(2**53), None]
    probes = [1, 1.0, True, 0, False, -0.0, 2, "1", b"1", None, float("nan"),
              2**53 + 1, float(2**53), 2**53, "missing", INT64_MAX, 0.5]
    name = names()
    sl = py_create(name, values)
    try:
        cl = CList.attach(slib, name)
        try:
            for p in probes:
                assert cl.count_rc(p) == sl.count(p), p
                try:
                    want = sl.index(p)
                except ValueError:
                    want = -errno.ENOENT
                assert cl.index_rc(p) == want, p
        finally:
            cl.close()
    finally:
        py_drop(sl, unlink=True)


def test_fresh_name_and_empty_list(slib, prefix):
    cl = CList.create(slib, None, [])
    try:
        name = cl.name
        assert name.startswith("psm_") and len(name) == 12
        assert len(cl) == 0 and cl.format == ""
        assert raw(name) == struct.pack("qq", 0, 0)
        assert cl.get_rc(0)[0] == -errno.ERANGE
        sl = py_attach(name)
        try:
            assert list(sl) == [] and sl.format == ""
        finally:
            py_drop(sl)
    finally:
        if cl.h:
            slib.shmblock_unlink(slib.shmblock_slist_block(cl.h))
        cl.close()


# ---- error paths of the handle API ------------------------------------------

def test_handle_errors(slib, names):
    name = names()
    cl = CList.create(slib, name, [1, "abc", b"bytes!"])
    try:
        for k in (3, 1 << 40):
            assert cl.get_rc(k)[0] == -errno.ERANGE
            assert cl.set_rc(k, 1) == -errno.ERANGE
            assert cl.type(k) == -errno.ERANGE
        assert cl.set_rc(0, raw_value(TYPE_STR, b"\xc3\x28")) == -errno.EINVAL
        assert cl.set_rc(0, raw_value(TYPE_STR, b"\xed\xa0\x80")) == -errno.EINVAL
        bad = Value()
        bad.type = 99
        assert cl.set_rc(0, bad) == -errno.EINVAL
        assert cl.index_rc("nope") == -errno.ENOENT
        assert cl.count_rc("nope") == 0
        # A buffer too small for a str/bytes item: -ENOBUFS and the size needed.
        rc, v = cl.get_rc(2, buflen=3)
        assert rc == -errno.ENOBUFS and v.s.len == 6
        rc, v = cl.get_rc(2, buflen=6)
        assert rc == 0 and ctypes.string_at(v.s.ptr, v.s.len) == b"bytes!"
        rc, v = cl.get_rc(0, buflen=0)   # numbers need no buffer
        assert rc == 0 and v.i == 1
        # Format rendering truncates like snprintf and returns the full length.
        buf = ctypes.create_string_buffer(4)
        assert slib.shmblock_slist_format(cl.h, buf, 4) == len("q8s8s")
        assert buf.value == b"q8s"
    finally:
        cl.close()


def test_create_errors(slib, names):
    name = names()
    h = ctypes.c_void_p()
    bad = (Value * 1)()
    bad[0].type = 42
    assert slib.shmblock_slist_create(name.encode(), bad, 1, 0o600, ctypes.byref(h)) == -errno.EINVAL
    arr = (Value * 1)(raw_value(TYPE_STR, b"\xff"))
    assert slib.shmblock_slist_create(name.encode(), arr, 1, 0o600, ctypes.byref(h)) == -errno.EINVAL
    big = raw_value(TYPE_BYTES, b"x" * 9999992)  # "10000000s" needs 9 bytes
    assert slib.shmblock_slist_create(name.encode(), (Value * 1)(big), 1, 0o600,
                                      ctypes.byref(h)) == -errno.EFBIG
    assert not os.path.exists(os.path.join(SHM_DIR, name))
    fits = raw_value(TYPE_BYTES, b"x" * 9999991)
    assert slib.shmblock_slist_create(name.encode(), (Value * 1)(fits), 1, 0o600,
                                      ctypes.byref(h)) == 0
    cl = CList(slib, h)
    try:
        assert cl.format == "9999992s"
        assert slib.shmblock_slist_create(name.encode(), bad, 0, 0o600,
                                          ctypes.byref(h)) == -errno.EEXIST
    finally:
        cl.close()
    assert slib.shmblock_slist_create(b"a/b", bad, 0, 0o600, ctypes.byref(h)) == -errno.EINVAL


def test_attach_errors(slib, lib, names):
    h = ctypes.c_void_p()
    missing = names()
    assert slib.shmblock_slist_attach(missing.encode(), 0, ctypes.byref(h)) == -errno.ENOENT
    assert slib.shmblock_slist_attach(b"", 0, ctypes.byref(h)) == -errno.EINVAL
    plain = names()
    write_raw(plain, b"not a list at all, just bytes")
    assert slib.shmblock_slist_attach(plain.encode(), 0, ctypes.byref(h)) == -errno.EBADMSG
    empty = names()
    write_raw(empty, b"")
    assert slib.shmblock_slist_attach(empty.encode(), 0, ctypes.byref(h)) == -errno.EBADMSG
    good = names()
    cl = CList.create(slib, good, [1])
    cl.close()
    assert slib.shmblock_slist_attach(good.encode(), SHMBLOCK_NOMAP, ctypes.byref(h)) == -errno.EINVAL
    ro = CList.attach(slib, good, SHMBLOCK_RDONLY)
    try:
        assert ro[0] == 1
        assert ro.set_rc(0, 2) == -errno.EACCES
    finally:
        ro.close()


def test_undecodable_str_item(slib, names):
    """A str slot that isn't UTF-8 (CPython truncated it mid-character):
    CPython raises UnicodeDecodeError, C returns -EILSEQ; other items work."""
    name = names()
    sl = py_create(name, ["a" + "é" * 6, 5])   # 13 bytes into an 8-byte slot
    try:
        with pytest.raises(UnicodeDecodeError):
            sl[0]
        cl = CList.attach(slib, name)
        try:
            assert cl.get_rc(0)[0] == -errno.EILSEQ
            assert cl.type(0) == TYPE_STR
            assert cl[1] == 5
            assert cl.count_rc(5) == 1
        finally:
            cl.close()
    finally:
        py_drop(sl, unlink=True)


# ---- the strict validator ------------------------------------------------------

def cpython_bytes(values):
    sl = ShareableList(values)
    try:
        return bytes(sl.shm.buf)
    finally:
        py_drop(sl, unlink=True)


MIXED = [1, 2.5, True, "hello", b"xy", None]    # 166 bytes, see the design note


def patched(data, offset, new):
    b = bytearray(data)
    b[offset:offset + len(new)] = new
    return bytes(b)


def q(v):
    return struct.pack("q", v)


def corruptions():
    good = cpython_bytes(MIXED)
    n = 6
    data = 8 + 8 * (n + 1)
    fmts = data + 48
    codes = fmts + 8 * n
    return {
        "negative count": patched(good, 0, q(-1)),
        "huge count": patched(good, 0, q(2**62)),
        "count too big for size": patched(good, 0, q(7)),
        "decreasing offsets": patched(good, 8 + 8 * 2, q(4)),
        "offset beyond data": patched(good, 8 + 8 * 3, q(4000)),
        "negative offset": patched(good, 8 + 8 * 3, q(-8)),
        "last offset short": patched(good, 8 + 8 * 6, q(40)),
        "extra byte": good + b"\0",
        "missing byte": good[:-1],
        "unknown format": patched(good, fmts, b"i\0\0\0\0\0\0\0"),
        "format garbage after NUL": patched(good, fmts, b"q\0x\0\0\0\0\0"),
        "str format wrong size": patched(good, fmts + 24, b"16s\0\0\0\0\0"),
        "str format leading zero": patched(good, fmts + 24, b"08s\0\0\0\0\0"),
        "str format zero": patched(good, fmts + 24, b"0s\0\0\0\0\0\0"),
        "code out of range": patched(good, codes, b"\x04"),
        "negative code": patched(good, codes, b"\xff"),
        "int with str code": patched(good, codes, b"\x01"),
        "str with none code": patched(good, codes + 3, b"\x03"),
        "none with plain code": patched(good, codes + 5, b"\x00"),
        "number in short slot": patched(patched(good, 8 + 8, q(4)), 8 + 16, q(8)),
        "empty block": b"",
        "just seven bytes": b"\0" * 7,
        "empty list wrong size": q(0) + q(0) + b"\0",
        "empty list bad offset": q(0) + q(3),
        "3.8 size too small": q(1) + q(4) + b"\0" * 4 + b"q" + b"\0" * 7 + b"\0",
    }


@pytest.mark.parametrize("case", sorted(corruptions()))
def test_validator_rejects(slib, names, case):
    data = corruptions()[case]
    p = Parsed(slib, data)
    assert p.rc == -errno.EBADMSG, case
    assert slib.shmblock_slist_validate(p.buf, p.len, None) == -errno.EBADMSG
    if data:
        name = names()
        write_raw(name, data)
        h = ctypes.c_void_p()
        assert slib.shmblock_slist_attach(name.encode(), 0, ctypes.byref(h)) == -errno.EBADMSG


def test_validator_accepts_and_describes(slib):
    good = cpython_bytes(MIXED)
    p = Parsed(slib, good)
    try:
        assert p.rc == 0
        lay = p.lay.contents
        assert (lay.version, lay.count, lay.size) == (PY39, 6, 166)
        assert (lay.data_offset, lay.formats_offset, lay.codes_offset) == (64, 112, 160)
        items = [(lay.items[k].offset, lay.items[k].capacity, lay.items[k].type)
                 for k in range(6)]
        assert items == [(64, 8, TYPE_INT), (72, 8, TYPE_FLOAT), (80, 8, TYPE_BOOL),
                         (88, 8, TYPE_STR), (96, 8, TYPE_BYTES), (104, 8, TYPE_NONE)]
        assert [p.read(k)[1] for k in range(6)] == MIXED
        assert p.read(6)[0] == -errno.ERANGE
        v = Value()
        assert slib.shmblock_slist_read(p.lay, p.buf, p.len - 1, 0, ctypes.byref(v)) == -errno.EINVAL
        out = ctypes.create_string_buffer(64)
        assert slib.shmblock_slist_format_render(p.lay, out, 64) == len("qdxxxxxxx?8s8sxxxxxx?x")
        assert out.value == b"qdxxxxxxx?8s8sxxxxxx?x"
    finally:
        p.close()


def test_encode_set_and_apply_match_cpython(slib, names):
    """The buffer layer's edit, applied to a private copy, gives what
    CPython's __setitem__ writes, and a too-long value yields no edit."""
    name = names()
    sl = py_create(name, SET_BASE)
    try:
        for index, value in SETS:
            before = raw(name)
            p = Parsed(slib, before)
            try:
                assert p.rc == 0
                keep = []
                e = Edit()
                assert slib.shmblock_slist_encode_set(p.lay, index, ctypes.byref(
                    to_value(value, keep)), ctypes.byref(e)) == 0
                assert slib.shmblock_slist_edit_apply(ctypes.byref(e), p.buf, p.len) == 0
                assert slib.shmblock_slist_edit_apply(ctypes.byref(e), p.buf,
                                                      e.code_offset) == -errno.EINVAL
                sl[index] = value
                assert p.buf.raw[:p.len] == raw(name), (index, value)
                keep = []
                assert slib.shmblock_slist_encode_set(p.lay, 99, ctypes.byref(
                    to_value(1, keep)), ctypes.byref(e)) == -errno.ERANGE
                assert slib.shmblock_slist_encode_set(p.lay, index, ctypes.byref(
                    to_value("z" * 17, keep)), ctypes.byref(e)) == -errno.EFBIG
            finally:
                p.close()
    finally:
        py_drop(sl, unlink=True)


def test_hostile_change_after_attach(slib, names):
    """A block rewritten behind an attached handle: every call checks what it
    reads, so a hostile header gives -EBADMSG and never a crash."""
    name = names()
    cl = CList.create(slib, name, MIXED)
    try:
        size = len(raw(name))
        fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
        try:
            m = mmap.mmap(fd, size)
            good = bytes(m)
            for case, bad in corruptions().items():
                if len(bad) != size:
                    continue
                m[:] = bad
                rc = cl.get_rc(0)[0]
                assert rc in (0, -errno.EBADMSG), case
                for k in range(7):
                    assert cl.get_rc(k)[0] in (0, -errno.EBADMSG, -errno.ERANGE), case
                    assert cl.set_rc(k, "hello") in (0, -errno.EBADMSG, -errno.ERANGE,
                                                     -errno.EFBIG), case
                assert cl.count_rc(1) == -errno.EBADMSG, case
                assert slib.shmblock_slist_format(cl.h, None, 0) == -errno.EBADMSG, case
            m[:] = q(2**62) + good[8:]
            assert slib.shmblock_slist_len(cl.h) == -errno.EBADMSG
            assert cl.get_rc(3)[0] == -errno.EBADMSG
            m[:] = good
            assert cl.tolist() == MIXED
            m.close()
        finally:
            os.close(fd)
    finally:
        cl.close()


# ---- CPython 3.8's layout ------------------------------------------------------

def layout38(values):
    """The 3.8 layout, written from the design note (sizes, not offsets)."""
    fmts, data, codes = [], b"", []
    for v in values:
        if isinstance(v, (str, bytes)):
            raw_ = v.encode() if isinstance(v, str) else v
            cap = 8 * (len(raw_) // 8 + 1)
            fmts.append("%ds" % cap)
            data += raw_.ljust(cap, b"\0")
            codes.append(1 if isinstance(v, str) else 2)
        elif v is None:
            fmts.append("xxxxxx?x"), codes.append(3)
            data += b"\0" * 8
        elif isinstance(v, bool):
            fmts.append("xxxxxxx?"), codes.append(0)
            data += b"\0" * 7 + bytes([v])
        elif isinstance(v, int):
            fmts.append("q"), codes.append(0)
            data += q(v)
        else:
            fmts.append("d"), codes.append(0)
            data += struct.pack("d", v)
    sizes = [8 if f[-1] != "s" else int(f[:-1]) for f in fmts]
    return (q(len(values)) + b"".join(q(s) for s in sizes) + data +
            b"".join(f.encode().ljust(8, b"\0") for f in fmts) + bytes(codes))


def test_reads_synthetic_38_layout(slib, names):
    values = [7, -1.5, True, "hello world", b"\x01\x02", None]
    data = layout38(values)
    p = Parsed(slib, data)
    try:
        assert p.rc == 0 and p.lay.contents.version == PY38
        assert [p.read(k)[1] for k in range(len(values))] == values
    finally:
        p.close()
    p = Parsed(slib, q(0))
    assert p.rc == 0 and p.lay.contents.version == PY38 and p.lay.contents.count == 0
    p.close()
    name = names()
    write_raw(name, data)
    cl = CList.attach(slib, name)
    try:
        assert cl.tolist() == values
        cl[3] = 99
        cl[0] = "str!"
        assert cl.set_rc(0, "too long!") == -errno.EFBIG
        assert cl.tolist() == ["str!", -1.5, True, 99, b"\x01\x02", None]
        assert cl.format == "8sdxxxxxxx?q8sxxxxxx?x"
        assert raw(name)[8:16] == q(8)   # still the 3.8 layout
    finally:
        cl.close()


PYENV = os.environ.get("PYENV_ROOT", "/root/.pyenv")


def peer(version):
    found = sorted(glob.glob(os.path.join(PYENV, "versions", version + ".*", "bin", "python3")))
    if not found:
        pytest.skip("no CPython %s under %s" % (version, PYENV))
    return found[-1]


PEER_CODE = r"""
import pickle, sys
from multiprocessing.shared_memory import ShareableList
from multiprocessing import resource_tracker
op, name, arg = pickle.loads(sys.stdin.buffer.read())
if op == "create":
    sl = ShareableList(arg, name=name)
    resource_tracker.unregister(sl.shm._name, "shared_memory")
    out = sl.format
elif op == "read":
    sl = ShareableList(name=name)
    resource_tracker.unregister(sl.shm._name, "shared_memory")
    out = (list(sl), sl.format)
elif op == "set":
    sl = ShareableList(name=name)
    resource_tracker.unregister(sl.shm._name, "shared_memory")
    for k, v in arg:
        sl[k] = v
    out = list(sl)
sl.shm.close()
sys.stdout.buffer.write(pickle.dumps(out, protocol=4))
"""


def run_peer(exe, op, name, arg=None):
    res = subprocess.run([exe, "-c", PEER_CODE], input=pickle.dumps((op, name, arg), protocol=4),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    return pickle.loads(res.stdout)


PEER_VALUES = [INT64_MIN, INT64_MAX, -0.0, float("inf"), float("nan"), True, None,
               "", b"", "a\0b", "12345678", b"\x00\x01tail", "ascii only"]


def test_cpython38_layout_read_and_written(slib, names):
    exe = peer("3.8")
    name = names()
    run_peer(exe, "create", name, PEER_VALUES)
    assert raw(name)[8:16] != q(0)      # the 3.8 layout: sizes, not offsets
    cl = CList.attach(slib, name)
    try:
        p = Parsed(slib, raw(name))
        assert p.rc == 0 and p.lay.contents.version == PY38
        p.close()
        assert_same_list(cl.tolist(), [expect_read(v) for v in PEER_VALUES])
        cl[0] = "str!"
        cl[7] = 12345
        cl[11] = b"new"
        got, fmt = run_peer(exe, "read", name)
        assert got[0] == "str!" and got[7] == 12345 and got[11] == b"new"
        assert fmt == cl.format
        run_peer(exe, "set", name, [(1, "abc"), (2, None)])
        assert cl[1] == "abc" and cl[2] is None
    finally:
        cl.close()


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.13"])
def test_other_cpythons_both_ways(slib, names, version):
    exe = peer(version)
    py_name, c_name = names(), names()
    run_peer(exe, "create", py_name, PEER_VALUES)
    cl = CList.create(slib, c_name, PEER_VALUES)
    try:
        assert raw(c_name) == raw(py_name)
        got, fmt = run_peer(exe, "read", c_name)
        assert_same_list(got, [expect_read(v) for v in PEER_VALUES])
        assert fmt == cl.format
        run_peer(exe, "set", c_name, [(0, "x"), (7, 3.25), (9, b"b")])
        assert cl[0] == "x" and cl[7] == 3.25 and cl[9] == b"b"
    finally:
        cl.close()


def test_number_into_short_hostile_str_slot(slib, names):
    """A hostile "7s" slot of 7 bytes is valid, but no 8-byte number fits it:
    -EFBIG, where CPython would write into the next slot."""
    data = bytearray(cpython_bytes(["abc", 1]))
    # offsets 0, 8, 16 -> 0, 7, 16 and format "8s" -> "7s"; the 2nd slot grows.
    data[16:24] = q(7)
    fmts = 8 + 8 * 3 + 16
    data[fmts:fmts + 8] = b"7s".ljust(8, b"\0")
    data[fmts + 8:fmts + 16] = b"9s".ljust(8, b"\0")
    data[-1] = 2
    data = bytes(data)
    p = Parsed(slib, data)
    try:
        assert p.rc == 0
        keep, e = [], Edit()
        assert slib.shmblock_slist_encode_set(p.lay, 0, ctypes.byref(to_value(5, keep)),
                                              ctypes.byref(e)) == -errno.EFBIG
        assert slib.shmblock_slist_encode_set(p.lay, 0, ctypes.byref(to_value("1234567", keep)),
                                              ctypes.byref(e)) == 0
    finally:
        p.close()
    name = names()
    write_raw(name, data)
    cl = CList.attach(slib, name)
    try:
        assert cl.set_rc(0, None) == -errno.EFBIG
        assert cl.set_rc(1, 2.0) == 0
        assert cl[0] == "abc" and cl[1] == 2.0
        assert raw(name)[32:39] == data[32:39]   # the short slot is untouched
    finally:
        cl.close()


# ---- the descriptor layer: probe and get_fd ---------------------------------

def open_block(name):
    return os.open(os.path.join(SHM_DIR, name), os.O_RDWR)


def check_probe_matches_validate(slib, name):
    """Deep probe == validate of a copy; shallow the same but the types;
    get_fd of every item == read of the copy."""
    data = raw(name)
    p = Parsed(slib, data)
    fd = open_block(name)
    try:
        size = os.fstat(fd).st_size
        deep = Probed(slib, fd, size)
        shallow = Probed(slib, fd, size, PROBE_SHALLOW)
        try:
            assert deep.rc == p.rc == 0
            assert shallow.rc == 0
            want = layout_fields(p.lay.contents)
            assert layout_fields(deep.lay.contents) == want
            assert layout_fields(shallow.lay.contents, False) == \
                layout_fields(p.lay.contents, False)
            assert all(shallow.lay.contents.items[k].type == TYPE_NONE
                       for k in range(shallow.lay.contents.count))
            for k in range(p.lay.contents.count):
                rc, v = p.read(k)
                assert deep.get(k)[0] == rc
                assert shallow.get(k)[0] == rc
                if rc == 0:
                    assert same(deep.get(k)[1], v) and same(shallow.get(k)[1], v)
            n = p.lay.contents.count
            assert deep.get(n)[0] == -errno.ERANGE
            assert slib.shmblock_slist_probe_fd(fd, size, 0, None) == 0
            assert slib.shmblock_slist_probe_fd(fd, size, 2, None) == -errno.EINVAL
        finally:
            deep.close()
            shallow.close()
    finally:
        os.close(fd)
        p.close()


@pytest.mark.parametrize("values", ASCII_LISTS + [["é" * 3, "日本", False]],
                         ids=range(len(ASCII_LISTS) + 1))
def test_probe_matches_validate_on_cpython_lists(slib, names, values):
    name = names()
    sl = py_create(name, values)
    try:
        check_probe_matches_validate(slib, name)
        if values:
            for index, value in SETS:     # formats and codes rewritten
                if index < len(values):
                    try:
                        sl[index] = value
                    except ValueError:
                        continue
            check_probe_matches_validate(slib, name)
    finally:
        py_drop(sl, unlink=True)


@pytest.mark.parametrize("size,ints", [(100, 0), (5000, 0), (60000, 0),
                                       (100, 3000)])
def test_get_fd_reads_items_near_and_far_from_their_format(slib, names, size,
                                                           ints):
    """get_fd reads an item with its format and code in one copy when they
    lie close together (on the stack, or on the heap past 2 KiB) and in
    separate reads when more than 16 KiB apart (a big slot, or the first
    items of a long list): each way agrees with the buffer reader."""
    name = names()
    sl = py_create(name, [7, b"x" * size, "tail", 2.5] + list(range(ints)))
    try:
        check_probe_matches_validate(slib, name)
    finally:
        py_drop(sl, unlink=True)


@pytest.mark.parametrize("version", ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"])
def test_probe_matches_validate_on_peers(slib, names, version):
    exe = peer(version)
    name = names()
    run_peer(exe, "create", name, PEER_VALUES)
    check_probe_matches_validate(slib, name)
    run_peer(exe, "set", name, [(0, "x"), (7, 3.25), (9, b"b"), (6, 1)])
    check_probe_matches_validate(slib, name)


def test_probe_rejects_what_validate_rejects(slib, names):
    for case, data in sorted(corruptions().items()):
        name = names()
        write_raw(name, data)
        fd = open_block(name)
        try:
            p = Probed(slib, fd, len(data))
            assert p.rc == -errno.EBADMSG, case
            shallow = Probed(slib, fd, len(data), PROBE_SHALLOW)
            assert shallow.rc in (0, -errno.EBADMSG), case
            shallow.close()
        finally:
            os.close(fd)


def read_bytes_counted():
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def test_probe_of_a_256mib_sparse_list_reads_only_the_header(slib, names):
    """27 bytes items filling 256 MiB, all holes but the header, formats and
    codes: the probe answers at once, reading a few KiB, and the process's
    peak RSS does not move."""
    size = 256 << 20
    n = 27
    room = size - 16 - 17 * n
    slots = [MAX_SLOT] * (n - 1) + [room - MAX_SLOT * (n - 1)]
    assert 0 < slots[-1] <= MAX_SLOT
    offsets = [0]
    for cap in slots:
        offsets.append(offsets[-1] + cap)
    name = names()
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, size)
        os.pwrite(fd, q(n) + b"".join(q(o) for o in offsets), 0)
        tail = b"".join(b"%ds" % cap + b"\0" * (8 - len(b"%ds" % cap)) for cap in slots)
        os.pwrite(fd, tail + bytes([2] * n), size - 9 * n)
        assert os.fstat(fd).st_blocks * 512 < (1 << 20)    # sparse
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        read_before = read_bytes_counted()
        t0 = time.monotonic()
        deep = Probed(slib, fd, size)
        shallow = Probed(slib, fd, size, PROBE_SHALLOW)
        elapsed = time.monotonic() - t0
        read = read_bytes_counted() - read_before
        try:
            assert deep.rc == 0 and shallow.rc == 0
            lay = deep.lay.contents
            assert (lay.count, lay.size) == (n, size)
            assert lay.items[n - 1].capacity == slots[-1]
            assert lay.items[0].type == TYPE_BYTES
            assert elapsed < 1.0
            # Header (232 bytes) and tail (243) twice, plus /proc/self/io itself.
            assert read < 16 << 10, read
            assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 4096  # KiB
            rc, v = deep.get(0, buflen=16)     # through the heap
            assert rc == 0 and v == b""        # a hole: all NULs, stripped
            rc, v = deep.get(1, buflen=MAX_SLOT)
            assert rc == 0 and v == b""
        finally:
            deep.close()
            shallow.close()
    finally:
        os.close(fd)


def test_truncated_files_give_eagain_or_ebadmsg(slib, names):
    for values in ([1, 2.5, "hello", b"xy", None], PEER_VALUES):
        data = cpython_bytes(values)
        for data_ in (data, layout38(values) if values is not PEER_VALUES else data):
            for cut in list(range(0, 40)) + list(range(40, len(data_), 7)):
                fd = os.memfd_create("probe")
                try:
                    os.write(fd, data_[:cut])
                    p = Probed(slib, fd, len(data_))      # the size before the cut
                    assert p.rc in (-errno.EAGAIN, -errno.EBADMSG), cut
                    p = Probed(slib, fd, len(data_), PROBE_SHALLOW)
                    assert p.rc in (0, -errno.EAGAIN, -errno.EBADMSG), cut
                    p.close()
                    p = Probed(slib, fd, cut)             # the size now
                    v = Parsed(slib, data_[:cut])
                    assert p.rc == v.rc, cut
                    p.close()
                    v.close()
                finally:
                    os.close(fd)
        # A layout probed before the file shrank: get_fd says -EAGAIN.
        fd = os.memfd_create("probe")
        try:
            os.write(fd, data)
            p = Probed(slib, fd, len(data))
            assert p.rc == 0
            os.ftruncate(fd, len(data) // 2)
            for k in range(p.lay.contents.count):
                assert p.get(k)[0] == -errno.EAGAIN
            os.ftruncate(fd, 0)
            assert p.get(0)[0] == -errno.EAGAIN
            p.close()
        finally:
            os.close(fd)


WRITER_CODE = r"""
import sys, time
from multiprocessing.shared_memory import ShareableList
from multiprocessing import resource_tracker
name, seconds = sys.argv[1], float(sys.argv[2])
sl = ShareableList(name=name)
resource_tracker.unregister(sl.shm._name, "shared_memory")
ints = [k * 1000003 for k in range(1000)]
strs = ["s%010d" % k for k in range(1000)]
zeros = [0, 0.0, False, None, "", b"", 0, None, b"", False]
n, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for k in range(100):
        sl[0] = ints[k % 1000]
        sl[1] = strs[(n + k) % 1000]
        sl[2] = zeros[k % 10]
    n += 100
sl.shm.close()
print(n)
"""


def test_get_fd_while_cpython_stores(slib, names):
    """A CPython process stores into three items in a loop: ints (8 bytes),
    12-character strs (the same length, so a store is one memcpy), and a
    slot whose type changes among int, float, bool, None, str and bytes.
    Every value get_fd returns is one the item held; never -EBADMSG.  What
    the item holds includes CPython's own steps: struct.pack_into zero-fills
    a field before writing it (so a str slot holds "" for an instant, an int
    slot 0), and the format and code are written before the data, so for an
    instant the item is the new type over the old bytes.  A reader that
    catches the writer preempted there sees that state, as CPython's own
    reader would; the values of item 2 all have zero data bytes so that
    state still decodes to a stored value (docs/shareablelist.md)."""
    name = names()
    sl = py_create(name, [0, "s%010d" % 0, 0])
    allowed = [{("int", k * 1000003) for k in range(1000)},     # 0 included
               {("str", "s%010d" % k) for k in range(1000)} | {("str", "")},
               {("int", 0), ("float", 0.0), ("bool", False), ("NoneType", None),
                ("str", ""), ("bytes", b"")}]
    fd = open_block(name)
    try:
        p = Probed(slib, fd, os.fstat(fd).st_size, PROBE_SHALLOW)
        assert p.rc == 0
        writer = subprocess.Popen([sys.executable, "-c", WRITER_CODE, name, "1.5"],
                                  stdout=subprocess.PIPE)
        rcs = {}
        reads = 0
        while writer.poll() is None:
            for k in range(3):
                rc, v = p.get(k)
                rcs[rc] = rcs.get(rc, 0) + 1
                if rc == 0:
                    reads += 1
                    assert (type(v).__name__, v) in allowed[k], (k, v)
        out, _ = writer.communicate()
        assert writer.returncode == 0
        assert int(out) > 0
        assert -errno.EBADMSG not in rcs and -errno.EILSEQ not in rcs, rcs
        assert set(rcs) <= {0, -errno.EAGAIN}, rcs
        assert reads > 100, rcs
        p.close()
    finally:
        os.close(fd)
        py_drop(sl, unlink=True)


# A layout probed once, the block changed under it: get_fd by span.

def make_list(name, values):
    sl = ShareableList(values, name=name)
    untrack(sl.shm)
    return sl


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@pytest.mark.parametrize("big", [False, True], ids=["stack", "heap"])
def test_span_get_follows_truncate_grow_rewrite(slib, prefix, big):
    """A layout probed once, then the block truncated, grown with zeros and
    rewritten by CPython (same layout, other values): every get either fails
    or returns what CPython reads at that moment, never a value of before."""
    name = prefix + "span"
    text = "x" * (5000 if big else 10)
    first = [text, 12345, b"ab", 2.5, True, None]
    second = [text.replace("x", "y"), -7, b"cd", -1.5, False, None]
    sl = make_list(name, first)
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        p = Probed(slib, fd, size)
        assert p.rc == 0
        assert [p.get(i)[1] for i in range(len(first))] == first
        # Truncated below every item's span: nothing can be read.
        os.ftruncate(fd, 16)
        for i in range(len(first)):
            assert p.get(i) == (-errno.EAGAIN, None), i
        # Grown back with zeros: the formats are gone.
        os.ftruncate(fd, size)
        for i in range(len(first)):
            rc, v = p.get(i)
            assert rc < 0 and v is None, (i, rc, v)
        sl.shm.close()
        os.unlink(os.path.join(SHM_DIR, name))
        # The same name made again holds other values; the old descriptor
        # sees the old (zeroed) file, so build the second one in place.
        other = make_list(prefix + "other", second)
        with open(os.path.join(SHM_DIR, prefix + "other"), "rb") as f:
            data = f.read()
        assert len(data) == size
        os.pwrite(fd, data, 0)
        got = [p.get(i)[1] for i in range(len(second))]
        assert got == list(other)
        # Grown past its size: the layout reads what it read before.
        os.ftruncate(fd, size + (1 << 20))
        assert [p.get(i)[1] for i in range(len(second))] == list(other)
        p.close()
        other.shm.close()
    finally:
        os.close(fd)


# A list that a store leaves torn for an instant, through a descriptor.

def settled(slib, fd, max_size, flags=0):
    """shmblock_slist_probe_settled: (rc, the layout's fields or None)."""
    lay = P(Layout)()
    st = ctypes.create_string_buffer(512)
    rc = slib.shmblock_slist_probe_settled(fd, max_size, flags, st,
                                           ctypes.byref(lay))
    if rc < 0:
        return rc, None
    fields = layout_fields(lay.contents, types=rc == 0)
    slib.shmblock_slist_layout_free(lay)
    return rc, fields


def test_torn_tables_are_a_list_only_as_a_store_leaves_them(slib, prefix):
    """CPython's sl[i] = v zero-fills item i's format, writes the new one,
    then the code: a block caught so is still a list (a shallow layout,
    whose items get_fd reads as CPython does), where a format no store
    writes makes it none, unless the block is known as a list."""
    values = [7, "ab", None, 2.5]
    sl = ShareableList(values, name=prefix + "torn")
    untrack(sl.shm)
    path = os.path.join(SHM_DIR, prefix + "torn")
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        deep = Probed(slib, fd, size)
        assert deep.rc == 0
        whole = layout_fields(deep.lay.contents)
        shallow = layout_fields(deep.lay.contents, types=False)
        fmt1 = deep.lay.contents.formats_offset + 8
        deep.close()
        was = os.pread(fd, 8, fmt1)
        assert was == b"8s" + b"\0" * 6
        assert settled(slib, fd, size) == (0, whole)
        assert slib.shmblock_slist_probe_torn_fd(fd, size, None) == 0
        # Bigger than the caller's bound: no list, nothing read.
        assert settled(slib, fd, size - 1) == (-errno.EBADMSG, None)

        for torn in (b"\0" * 8, b"q" + b"\0" * 7):
            # Item 1's format zeroed, or already the new one ("q") under
            # the old code: what CPython's store leaves for an instant.
            os.pwrite(fd, torn, fmt1)
            assert Probed(slib, fd, size).rc == -errno.EBADMSG
            assert slib.shmblock_slist_probe_torn_fd(fd, size, None) == 0
            assert settled(slib, fd, size) == (1, shallow)
            p = Probed(slib, fd, size, PROBE_SHALLOW)
            assert p.get(0) == (0, sl[0]) == (0, 7)
            assert p.get(3) == (0, sl[3])
            p.close()

        # A format no store writes (a slot of 8 bytes is never "9s").
        os.pwrite(fd, b"9s" + b"\0" * 6, fmt1)
        assert slib.shmblock_slist_probe_torn_fd(fd, size, None) == \
            -errno.EBADMSG
        assert settled(slib, fd, size) == (-errno.EBADMSG, None)
        assert settled(slib, fd, size, SETTLE_KNOWN) == (1, shallow)
        assert slib.shmblock_slist_probe_settled(fd, size, 2, None, None) == \
            -errno.EINVAL

        # The store finished (CPython keeps a str slot's format as it
        # finds it): a list again, as CPython reads it.
        os.pwrite(fd, was, fmt1)
        sl[1] = "cd"
        assert settled(slib, fd, size) == (0, whole)
        assert list(sl) == [7, "cd", None, 2.5]
    finally:
        os.close(fd)
        sl.shm.close()
