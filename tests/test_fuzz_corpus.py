# SPDX-License-Identifier: MIT
"""Replays the fuzzing seed corpus (tests/fuzz/corpus) through the validator
and the buffer readers: every file either validates and reads cleanly or is
refused with -EBADMSG; nothing crashes."""

import ctypes
import errno
import os

import pytest

from slist_ctypes import Edit, P, Parsed, load, to_value

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
