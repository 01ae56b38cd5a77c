# SPDX-License-Identifier: MIT
"""Requests about one item reuse a list's layout from an earlier probe
(fs/list_block.c, issue 23.4); what they show must still be what CPython
reads: stores that change types, a block rewritten in place with another
layout of the same size, a list replaced, and many lists at once (more
than the cache holds).  The costs themselves are measured by scripts/bench."""

import os
from multiprocessing import shared_memory

import pytest

from conftest import SHM_DIR, untrack


@pytest.fixture
def lst(prefix):
    made = []

    def make(name, vals):
        sl = shared_memory.ShareableList(vals, name=prefix + name)
        made.append(sl)
        return sl

    yield make
    for sl in made:
        sl.shm.close()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_types_changed_by_cpython_show_at_once(shmfs, lst):
    m = shmfs()
    sl = lst("L", [1, 2, "abcdefghijklmno"])
    P = lambda n: m.path("L", n)  # noqa: E731
    assert read(P("1")) == b"2\n"
    sl[1] = "x"                       # int -> str in an 8-byte slot
    assert read(P("1")) == b"x\n"
    assert "1.str" in os.listdir(m.path("L"))
    # The bare name parses by the item's type now.
    with open(P("1"), "w") as f:
        f.write("yz\n")
    assert sl[1] == "yz"
    sl[1] = 2.5
    with open(P("1"), "w") as f:
        f.write("1e3\n")
    assert sl[1] == 1000.0
    assert sl.format == "qd16s"


def test_a_block_rewritten_in_place_shows_its_new_layout(shmfs, lst, prefix):
    """The same size and inode, other offsets (written with pwrite over the
    old bytes, no event the daemon could key on but the count and offsets
    it reads back): every item reads as CPython reads the new list."""
    m = shmfs()
    a = lst("L", ["abcdefgh", 1, 2, 3])
    b = lst("M", [1, "abcdefgh", 2, 3])
    P = lambda n: m.path("L", n)  # noqa: E731
    assert [read(P(str(k))) for k in range(4)] == [b"abcdefgh\n", b"1\n", b"2\n", b"3\n"]
    fd = os.open(os.path.join(SHM_DIR, prefix + "L"), os.O_WRONLY)
    try:
        os.pwrite(fd, bytes(b.shm.buf), 0)
    finally:
        os.close(fd)
    # A fresh attach (a ShareableList keeps the offsets it read).
    again = shared_memory.ShareableList(name=prefix + "L")
    untrack(again.shm)
    assert list(again) == [1, "abcdefgh", 2, 3]
    again.shm.close()
    assert [read(P(str(k))) for k in range(4)] == [b"1\n", b"abcdefgh\n", b"2\n", b"3\n"]
    assert os.getxattr(P("1"), "user.shmfs.capacity") == b"16"


def test_many_lists_read_in_turn(shmfs, lst):
    """More lists than the layout cache keeps, read round after round: each
    item always as CPython has it."""
    m = shmfs()
    lists = [lst("L%d" % k, [k, "v%d" % k] + list(range(50))) for k in range(40)]
    for rnd in range(3):
        for k, sl in enumerate(lists):
            sl[0] = k * 100 + rnd
            assert read(m.path("L%d" % k, "0")) == b"%d\n" % (k * 100 + rnd)
            assert read(m.path("L%d" % k, "1.str")) == b"v%d\n" % k


def test_a_list_replaced_under_its_name(shmfs, lst, prefix):
    """A new list renamed over the old one, of the same size: the new
    block's items, never the old layout."""
    m = shmfs()
    lst("L", ["abcdefgh", 1])
    new = lst("N", [5, "ijklmnop"])
    assert read(m.path("L", "0")) == b"abcdefgh\n"
    os.rename(os.path.join(SHM_DIR, prefix + "N"), os.path.join(SHM_DIR, prefix + "L"))
    assert read(m.path("L", "0")) == b"5\n"
    assert read(m.path("L", "1")) == b"ijklmnop\n"
    untrack(new.shm)
