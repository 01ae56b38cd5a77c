# SPDX-License-Identifier: MIT
"""A readdir of the mount shows every block that exists throughout it, as
tmpfs does, whatever else comes and goes meanwhile: the kernel may serve
part of a readdir from its cached listing and the rest from a later listing
of the daemon, so a position must name the same block in both (fs/listing.h,
LISTING_FIRST_POS)."""

import os
import time

from conftest import SHM_DIR
from listutil import getdents


def getdents_names(fd):
    """The names of one getdents64 call with a small buffer ([] at the end)."""
    return [n for n, _ in getdents(fd, 512)]


def make(prefix, name):
    with open(os.path.join(SHM_DIR, prefix + name), "wb") as f:
        f.write(b"x")


def test_readdir_keeps_its_place_when_earlier_names_go(shmfs, prefix):
    """A readdir started from the kernel's cached listing, which the watch
    drops when names listed before its position go outside: the rest comes
    from the daemon, and must go on after the same block, not after the
    same count of entries (that skipped as many blocks as had gone)."""
    early = ["e%02d" % i for i in range(20)]
    stable = ["s%03d" % i for i in range(200)]
    # Made before and after: whichever order the shm directory lists.
    for n in early[:10] + stable + early[10:]:
        make(prefix, n)
    m = shmfs()
    # Settled blocks (LISTING_SETTLED, in whole seconds): the second
    # listing is the one the kernel keeps.
    time.sleep(3.2)
    os.listdir(m.dir)
    assert set(os.listdir(m.dir)) == set(early + stable)
    fd = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = getdents_names(fd)
        assert got, "the first part of the listing"
        for n in early:
            os.unlink(m.block(n))
        # The watch has seen it once a listing no longer shows them.
        deadline = time.time() + 10
        while set(early) & set(os.listdir(m.dir)) and time.time() < deadline:
            time.sleep(0.01)
        while True:
            part = getdents_names(fd)
            if not part:
                break
            got += part
    finally:
        os.close(fd)
    missing = sorted(set(stable) - set(got))
    assert not missing, "%d blocks missing: %s" % (len(missing), missing[:10])
    assert len(got) == len(set(got)), "a name listed twice"
