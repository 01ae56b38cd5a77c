# SPDX-License-Identifier: MIT
"""The watch in a burst of changes (fs/watch.c): while the mount itself
changes the directory, once changes come close together the watch lets
them gather before it reads them, so it wakes once a period, not once a
change.  What a user sees must not change: a listing is the shm directory
as it is, and a change outside shows through the kernel's caches within the
watch's delay."""

import os
import signal
import subprocess
import sys
import time

from conftest import SHM_DIR
from mountutil import wait_for

# Creates and removes files named PATH0..PATH63 as fast as it can, until
# killed: inotify events without a pause (made in /dev/shm under the mount's
# prefix, or through the mount).
NOISE = r"""
import os, sys
path = sys.argv[1]
i = 0
while True:
    p = "%s%d" % (path, i % 64)
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
    os.unlink(p)
    i += 1
"""


class Noise:
    """One noise process for each path prefix given."""

    def __init__(self, *paths):
        self.procs = [subprocess.Popen([sys.executable, "-c", NOISE, p]) for p in paths]

    def __enter__(self):
        # Running: their first blocks have come and gone.
        time.sleep(0.2)
        assert all(p.poll() is None for p in self.procs)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


def outside_and_mount(prefix, m):
    """Noise in /dev/shm and through the mount: the mount's own changes
    make the watch gather, the outside ones must still be seen."""
    return Noise(os.path.join(SHM_DIR, prefix + "noise-o"), os.path.join(m.dir, "noise-m"))


def stable(names):
    return {n for n in names if not n.startswith("noise-")}


def test_listing_exact_amid_a_burst_outside(shmfs, prefix):
    """Blocks made and removed in /dev/shm, one at a time, each listed at
    once through the mount, while other processes make and remove blocks
    there and through the mount without a pause."""
    m = shmfs()
    made = set()
    with outside_and_mount(prefix, m):
        for i in range(150):
            name = "b%d" % i
            with open(os.path.join(SHM_DIR, prefix + name), "wb") as f:
                f.write(b"x")
            made.add(name)
            if i % 3 == 2:
                gone = "b%d" % (i - 1)
                os.unlink(os.path.join(SHM_DIR, prefix + gone))
                made.discard(gone)
            assert stable(os.listdir(m.dir)) == made, "after %s" % name
            # A second listing right after (the kernel's cached one, if it
            # kept it) is the same.
            assert stable(os.listdir(m.dir)) == made


def test_own_changes_listed_amid_a_burst(shmfs, prefix):
    """Blocks made and removed through the mount while the watch gathers
    the events of a burst: the mount's own listing shows each at once."""
    m = shmfs()
    made = set()
    with outside_and_mount(prefix, m):
        for i in range(150):
            name = "m%d" % i
            with open(m.path(name), "wb") as f:
                f.write(b"y")
            made.add(name)
            if i % 2:
                os.unlink(m.path("m%d" % (i - 1)))
                made.discard("m%d" % (i - 1))
            assert stable(os.listdir(m.dir)) == made, "after %s" % name
    assert stable(n[len(prefix):] for n in os.listdir(SHM_DIR)
                  if n.startswith(prefix)) == made


def seen_soon(prefix, m, i):
    """Block g<i> removed and r<i> resized in /dev/shm: both show through
    the kernel's caches (entries and attributes are cached for a second)
    within half a second."""
    gone, grown = m.path("g%d" % i), m.path("r%d" % i)
    assert os.stat(gone).st_size == 1 and os.stat(grown).st_size == 1
    os.unlink(os.path.join(SHM_DIR, prefix + "g%d" % i))
    os.truncate(os.path.join(SHM_DIR, prefix + "r%d" % i), 4096)
    assert wait_for(lambda: not os.path.exists(gone), 0.5)
    assert wait_for(lambda: os.stat(grown).st_size == 4096, 0.5)


def test_outside_changes_seen_amid_a_burst(shmfs, prefix):
    """Changes outside show within the watch's delay, as without a burst:
    while the mount makes changes without a pause (the watch gathers), and
    while another process does so outside (it does not).  Measured here:
    0.6-1.5 ms and 0.1-3.4 ms; with both at once the watch waits for the
    directory's lock behind the mount's creates for every outside unlink
    and falls behind (25-425 ms, 90-1,000 ms before it skipped creates), so
    only the entry timeout bounds it (docs/shmfs.md)."""
    m = shmfs()
    for i in range(20):
        for kind in "gr":
            with open(os.path.join(SHM_DIR, prefix + kind + str(i)), "wb") as f:
                f.write(b"z")
    with Noise(os.path.join(m.dir, "noise-m")):
        for i in range(10):
            seen_soon(prefix, m, i)
    with Noise(os.path.join(SHM_DIR, prefix + "noise-o")):
        for i in range(10, 20):
            seen_soon(prefix, m, i)


def watch_switches(pid):
    """Context switches so far of the daemon's watch thread."""
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        with open(base + "comm") as f:
            if f.read().strip() != "shmfs-watch":
                continue
        with open(base + "status") as f:
            return sum(int(line.split()[1]) for line in f
                       if "ctxt_switches" in line)
    raise AssertionError("no shmfs-watch thread in %d" % pid)


def test_watch_wakes_less_than_once_a_change(shmfs, prefix):
    """2,000 blocks made and removed through the mount, one after another:
    4,000 inotify events.  The watch used to wake for each of them (two
    switches a create+unlink); gathering a burst, it wakes far less."""
    m = shmfs()
    pid = m.proc.pid
    n = 2000
    before = watch_switches(pid)
    for i in range(n):
        p = m.path("w%d" % i)
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.unlink(p)
    time.sleep(0.1)
    switches = watch_switches(pid) - before
    # Measured here: 4,010-4,030 without gathering, 400-470 with.
    assert switches < n / 3, "%d switches for %d create+unlink" % (switches, n)


def test_name_recreated_after_lost_events_is_fresh(shmfs):
    """Two names of one block (a hard link), both looked up through the
    mount: the daemon's node carries one of them.  The unlink of the other
    is lost in an inotify overflow, which drops the entries of the names
    nodes carry only; the name is then created again outside.  The mount
    must show the new block under it, not the old one the kernel kept: a
    create drops the name's entry while entries from before the loss may
    live (found by a review: skipping that invalidation served the old
    block's inode number and data for the whole entry timeout)."""
    m = shmfs("timeout=30")
    a, b = m.block("A"), m.block("B")
    with open(a, "wb") as f:
        f.write(b"old")
    os.link(a, b)
    os.stat(m.path("A"))
    os.stat(m.path("B"))
    time.sleep(0.1)
    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        z = m.block("z")
        for _ in range(9000):  # 18,000 events: more than inotify queues
            open(z, "wb").close()
            os.unlink(z)
        os.unlink(a)  # lost
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)
    # The watch reads the overflow and the events after it.
    time.sleep(0.5)
    with open(a, "wb") as f:
        f.write(b"new")
    new = os.stat(a).st_ino
    assert wait_for(lambda: os.stat(m.path("A")).st_ino == new, 0.5)
    with open(m.path("A"), "rb") as f:
        assert f.read() == b"new"
