# SPDX-License-Identifier: MIT
"""Replays the fuzzing seed corpus (tests/fuzz/corpus) through the validator
and the buffer readers: every file either validates and reads cleanly or is
refused with -EBADMSG; nothing crashes.  The pread probe over a memfd holding
the file must agree with the validator exactly (deep), accept whatever it
accepts (shallow), and get_fd must read what the buffer reader reads."""

import ctypes
import errno
import os

import pytest

from slist_ctypes import (Edit, P, PROBE_SHALLOW, Parsed, Probed, layout_fields,
                          load, to_value)

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz", "corpus")
FILES = sorted(os.listdir(CORPUS))
PROBES = [0, -1.5, True, None, "", "abcdefgh", b"\0\1", "é" * 4]


@pytest.fixture(scope="module")
def slib():
    return load()


def test_corpus_has_both_layouts():
    assert any(f.startswith("py38-") for f in FILES)
    assert any(f.startswith("py312-") for f in FILES)


@pytest.mark.parametrize("fname", FILES)
def test_replay(slib, fname):
    with open(os.path.join(CORPUS, fname), "rb") as f:
        data = f.read()
    p = Parsed(slib, data)
    assert p.rc in (0, -errno.EBADMSG), p.rc
    if fname.startswith("py"):
        assert p.rc == 0, "CPython-made seed refused"
    if fname.startswith("bad-"):
        assert p.rc == -errno.EBADMSG
    if p.rc < 0:
        return
    try:
        lay = p.lay.contents
        assert lay.size == len(data)
        for k in range(lay.count):
            rc, _ = p.read(k)
            assert rc in (0, -errno.EILSEQ)
        assert p.read(lay.count)[0] == -errno.ERANGE
        n = slib.shmblock_slist_format_render(p.lay, None, 0)
        assert n >= 0
        for k in range(lay.count):
            for probe in PROBES:
                keep, e = [], Edit()
                rc = slib.shmblock_slist_encode_set(p.lay, k, ctypes.byref(
                    to_value(probe, keep)), ctypes.byref(e))
                assert rc in (0, -errno.EFBIG)
                if rc:
                    continue
                work = ctypes.create_string_buffer(p.buf.raw[:p.len], p.len)
                assert slib.shmblock_slist_edit_apply(ctypes.byref(e), work, p.len) == 0
                after = Parsed(slib, work.raw[:p.len])
                assert after.rc == 0
                assert after.read(k)[0] == 0
                after.close()
    finally:
        p.close()


def same_read(a, b):
    """Equal reads, nan included."""
    return a == b or (a != a and b != b)


@pytest.mark.parametrize("fname", FILES)
def test_probe_agrees_with_validate(slib, fname):
    with open(os.path.join(CORPUS, fname), "rb") as f:
        data = f.read()
    p = Parsed(slib, data)
    fd = os.memfd_create("corpus")
    try:
        os.write(fd, data)
        deep = Probed(slib, fd, len(data))
        shallow = Probed(slib, fd, len(data), PROBE_SHALLOW)
        try:
            assert deep.rc == p.rc
            assert shallow.rc in (0, -errno.EBADMSG)
            if p.rc < 0:
                return
            assert shallow.rc == 0
            assert layout_fields(deep.lay.contents) == layout_fields(p.lay.contents)
            assert layout_fields(shallow.lay.contents, False) == \
                layout_fields(p.lay.contents, False)
            for k in range(p.lay.contents.count):
                rc, v = p.read(k)
                for probed in (deep, shallow):
                    got_rc, got = probed.get(k)
                    assert got_rc == rc
                    assert rc or same_read(got, v)
        finally:
            deep.close()
            shallow.close()
    finally:
        os.close(fd)
        p.close()
