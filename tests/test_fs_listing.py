# SPDX-License-Identifier: MIT
"""The top level's listing, which the daemon keeps from inotify events rather
than reading /dev/shm for every listing (fs/listing.h), is always the
directory as it is: names against /dev/shm's own listing (tmpfs), types
against what each block was made into (a CPython ShareableList or plain
bytes), after every outside change, back to back, and after lost events."""

import os
import random
import signal
import time
from multiprocessing import shared_memory

from conftest import SHM_DIR, untrack
from listutil import (DT_DIR, DT_REG, DT_UNKNOWN, cpython_kinds, list_bytes,
                      raw_listing, raw_types, shm_names,
                      write_block)
from mountutil import RENAME_EXCHANGE, renameat2


def mount_listing(m):
    """name -> 'list' or 'block', from readdir's types alone."""
    return {e.name: "list" if e.is_dir(follow_symlinks=False) else "block"
            for e in os.scandir(m.dir)}


class Model:
    """The blocks made under a prefix, and what each was made into."""

    def __init__(self, m, lst):
        self.m, self.lst, self.kinds, self.serial = m, lst, {}, 0
        self.rng = random.Random(1234)

    def fresh(self):
        self.serial += 1
        return "b%d" % self.serial

    def make(self, name, kind):
        write_block(self.m.block(name),
                    self.lst if kind == "list" else b"plain")
        self.kinds[name] = kind

    def step(self):
        """One random change made directly in /dev/shm."""
        rng, kinds, blk = self.rng, self.kinds, self.m.block
        names = sorted(kinds)
        op = rng.choice(["create", "create", "unlink", "rename", "replace",
                         "exchange", "to_list", "to_block", "fifo"])
        if len(names) < 2 or op == "create":
            self.make(self.fresh(), rng.choice(["list", "block"]))
        elif op == "unlink":
            name = rng.choice(names)
            os.unlink(blk(name))
            del kinds[name]
        elif op == "rename":
            name, new = rng.choice(names), self.fresh()
            os.rename(blk(name), blk(new))
            kinds[new] = kinds.pop(name)
        elif op == "replace":
            a, b = rng.sample(names, 2)
            os.rename(blk(a), blk(b))
            kinds[b] = kinds.pop(a)
        elif op == "exchange":
            a, b = rng.sample(names, 2)
            assert renameat2(blk(a), blk(b), RENAME_EXCHANGE) == 0
            kinds[a], kinds[b] = kinds[b], kinds[a]
        elif op == "to_list":
            self.make(rng.choice(names), "list")
        elif op == "to_block":
            name = rng.choice(names)
            with open(blk(name), "r+b") as f:
                f.truncate(5)
            kinds[name] = "block"
        else:
            # Not a regular file: never shown.
            os.mkfifo(blk(self.fresh()), 0o600)


def test_listing_follows_every_outside_change_at_once(shmfs, prefix):
    m = shmfs()
    model = Model(m, list_bytes(prefix + "t-"))
    # Settled blocks, whose kinds the listing keeps between listings.
    for kind in ["list", "block"] * 10:
        model.make(model.fresh(), kind)
    time.sleep(3)
    assert mount_listing(m) == model.kinds
    for i in range(600):
        model.step()
        if i % 3:
            # Back to back with the change: the watch may not have seen it.
            got = mount_listing(m)
        else:
            time.sleep(0.005)
            got = mount_listing(m)
        assert set(model.kinds) == shm_names(prefix), "test model"
        assert got == model.kinds, "after step %d" % i


def test_exchanged_settled_blocks_swap_types(shmfs, prefix):
    m = shmfs()
    model = Model(m, list_bytes(prefix + "t-"))
    model.make("l", "list")
    model.make("p", "block")
    time.sleep(3)
    assert mount_listing(m) == {"l": "list", "p": "block"}
    assert renameat2(m.block("l"), m.block("p"), RENAME_EXCHANGE) == 0
    assert mount_listing(m) == {"l": "block", "p": "list"}
    sl = shared_memory.ShareableList(name=prefix + "p")
    untrack(sl.shm)
    try:
        assert list(sl) == [7, "seven", 7.5]
    finally:
        sl.shm.close()


def test_listing_after_lost_events(shmfs, prefix):
    """A daemon that can't read inotify's queue for a while loses events
    (IN_Q_OVERFLOW past /proc/sys/fs/inotify/max_queued_events); its next
    listing reads /dev/shm again."""
    m = shmfs()
    model = Model(m, list_bytes(prefix + "t-"))
    for kind in ["list", "block"] * 5:
        model.make(model.fresh(), kind)
    assert mount_listing(m) == model.kinds
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        limit = int(f.read())
    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        for i in range(limit // 2 + 100):
            path = os.path.join(SHM_DIR, "%sgone%d" % (prefix, i))
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.unlink(path)
        model.make("late", "list")
        os.unlink(m.block("b1"))
        del model.kinds["b1"]
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)
    # Time for the watch to handle what is queued: a listing while it is
    # busy reads /dev/shm anyway, which would not test the lost events.
    time.sleep(1)
    assert mount_listing(m) == model.kinds


def test_listing_right_after_many_blocks_appeared(shmfs, prefix):
    """More new names than a listing asks about (LISTING_ASK_MAX): the rest
    come as DT_UNKNOWN with their real inode numbers, and a reader that
    stats them (as scandir's is_dir does for DT_UNKNOWN) gets the right
    kind; nothing is ever typed wrong."""
    m = shmfs()
    os.listdir(m.dir)   # the listing copy is taken: later names are events
    lst = list_bytes(prefix + "t-")
    kinds = {}
    for i in range(700):
        name = "n%03d" % i
        kind = "list" if i % 50 == 0 else "block"
        write_block(m.block(name), lst if kind == "list" else b"plain")
        kinds[name] = kind
    types = {}
    for e in os.scandir(m.dir):
        assert e.inode() == os.stat(m.block(e.name)).st_ino, e.name
        if e.is_dir(follow_symlinks=False):
            types[e.name] = "list"
        else:
            types[e.name] = "block"
    assert types == kinds
    # The raw d_type: never a wrong one, at most an unknown one.
    fd = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        out = raw_types(fd)
    finally:
        os.close(fd)
    for name, kind in kinds.items():
        assert out[name] in (DT_UNKNOWN,
                             DT_DIR if kind == "list" else DT_REG), name


def first_raw_listing(m, right):
    """The mount's name -> d_type right after new blocks appeared, each type
    either `right`'s or DT_UNKNOWN.  Listed again (up to 2 s) until some
    entry is DT_UNKNOWN, the case under test: names the daemon read from
    /dev/shm before its watch handled their events are all asked about."""
    deadline = time.time() + 2
    while True:
        fd = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            raw = raw_types(fd, 32768)
        finally:
            os.close(fd)
        assert set(raw) == set(right)
        wrong = [(n, raw[n], right[n]) for n in right
                 if raw[n] not in (0, right[n])]
        assert not wrong, wrong[:5]
        if 0 in raw.values() or time.time() > deadline:
            break
        time.sleep(0.05)
    assert 0 in raw.values(), "not the case tested"
    return raw


def test_many_new_blocks_agree_with_cpython(shmfs, prefix):
    """Far more new names than a listing asks about, among them
    ShareableLists made by CPython, list bytes written into blocks, plain
    and empty blocks, FIFOs (never shown), and names renamed and exchanged
    after they were made.  Right after, every reader agrees with CPython's
    own view: os.scandir's is_dir and inode, ls -l, find -type d, the raw
    d_type of plain READDIR replies and of READDIRPLUS ones (a lookup
    between two getdents calls makes the kernel ask for the next part
    with READDIRPLUS), which is never wrong, at most DT_UNKNOWN."""
    import subprocess
    m = shmfs()
    os.listdir(m.dir)   # the listing copy is taken: later names are events
    lst = list_bytes(prefix + "t-")
    made = []
    for i in range(900):
        name = "n%03d" % i
        if i % 30 == 0:
            sl = shared_memory.ShareableList([i, "x" * (i % 7), 0.5],
                                             name=prefix + name)
            untrack(sl.shm)
            sl.shm.close()
        elif i % 30 == 1:
            write_block(m.block(name), lst)
        elif i % 30 == 2:
            write_block(m.block(name), b"")
        elif i % 30 == 3:
            os.mkfifo(m.block(name), 0o600)
            continue
        else:
            write_block(m.block(name), b"plain bytes, no list")
        made.append(name)
    # Renamed after they were made: a list over a block, a block away,
    # and two exchanged.
    os.rename(m.block("n030"), m.block("n100"))
    os.rename(m.block("n101"), m.block("r101"))
    assert renameat2(m.block("n061"), m.block("n102"), RENAME_EXCHANGE) == 0
    names = shm_names(prefix) - {"t-template"}
    want = cpython_kinds(prefix, names)
    assert sum(k == "list" for k in want.values()) >= 50
    assert "n003" not in names and "n100" in names and "n030" not in names

    def check_inode(name, ino):
        assert ino == os.stat(m.block(name)).st_ino, name

    right = {n: DT_DIR if k == "list" else DT_REG for n, k in want.items()}

    # The first listing after they appeared: plain READDIR past the first
    # part, some entries with types not asked yet.
    first_raw_listing(m, right)

    types = {}
    for e in os.scandir(m.dir):
        check_inode(e.name, e.inode())
        types[e.name] = "list" if e.is_dir(follow_symlinks=False) else "block"
    assert types == want

    out = subprocess.run(["ls", "-l", "--color=never", m.dir], check=True,
                         capture_output=True, text=True).stdout
    ls = {}
    for line in out.splitlines()[1:]:
        ls[line.split()[-1]] = "list" if line[0] == "d" else "block"
    assert ls == want

    out = subprocess.run(["find", m.dir, "-mindepth", "1", "-maxdepth", "1",
                          "-type", "d", "-printf", "%f\\n"], check=True,
                         capture_output=True, text=True).stdout
    assert set(out.split()) == {n for n, k in want.items() if k == "list"}

    # READDIRPLUS parts: a lookup after each getdents call.
    def look_up(part):
        for n in part[:3]:
            os.lstat(os.path.join(m.dir, n))

    fd = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        raw = raw_types(fd, 4096, look_up)
    finally:
        os.close(fd)
    assert set(raw) == names
    assert all(raw[n] in (DT_UNKNOWN, right[n]) for n in names)


def test_new_blocks_typed_again_once_settled(shmfs, prefix):
    """The names left DT_UNKNOWN while their blocks were new are asked about
    by the first listing after they settled (LISTING_SETTLED), which keeps
    their kinds: from then on every entry has its type again."""
    m = shmfs()
    os.listdir(m.dir)
    lst = list_bytes(prefix + "t-")
    right = {}
    for i in range(600):
        name = "n%03d" % i
        write_block(m.block(name), lst if i % 50 == 0 else b"plain")
        right[name] = 4 if i % 50 == 0 else 8   # DT_DIR, DT_REG
    first_raw_listing(m, right)
    # Whole seconds: the events more than LISTING_SETTLED + 1 s old.
    time.sleep(4.2)
    for _ in range(2):
        fd = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            raw = raw_types(fd, 32768)
        finally:
            os.close(fd)
        assert raw == right


# From an attacker's and a careless user's side: types after lost events,
# odd names, names that are not blocks.

def check_types(m, listing):
    """No d_type is wrong: DT_UNKNOWN, or the kind a stat finds."""
    for name, t in listing.items():
        if t == DT_UNKNOWN:
            continue
        isdir = os.path.isdir(os.path.join(m.dir, name))
        assert t == (DT_DIR if isdir else DT_REG), name


def overflow(m, prefix):
    """Makes the stopped daemon's inotify queue overflow."""
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        limit = int(f.read())
    for i in range(limit // 2 + 100):
        path = os.path.join(SHM_DIR, "%sgone%d" % (prefix, i))
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.unlink(path)


def test_kinds_changed_while_events_were_lost(shmfs, prefix):
    """Settled blocks whose kinds the listing keeps change kind while the
    daemon's inotify queue overflows, each keeping its inode: the listing
    after the lost events must not give the kinds it kept from before."""
    m = shmfs()
    lst = list_bytes(prefix + "t-")
    # First (positions are in arrival order): the kernel asks READDIRPLUS
    # for the first part of a listing only, whose entries look up their
    # own kinds; the rest comes from plain READDIR, the listing's kinds.
    pads = {"pad%03d" % i: DT_REG for i in range(150)}
    for n in pads:
        write_block(m.block(n), b"plain")
    write_block(m.block("to-list"), b"\x01" * len(lst))
    write_block(m.block("to-block"), lst)
    write_block(m.block("stays"), lst)
    # Settled (LISTING_SETTLED): a listing keeps their kinds.
    time.sleep(3.2)
    os.listdir(m.dir)
    want = {"to-list": DT_REG, "to-block": DT_DIR, "stays": DT_DIR, **pads}
    assert raw_listing(m.dir) == want
    ino = os.stat(os.path.join(SHM_DIR, prefix + "to-list")).st_ino
    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        overflow(m, prefix)
        fd = os.open(os.path.join(SHM_DIR, prefix + "to-list"), os.O_RDWR)
        os.pwrite(fd, lst, 0)
        os.close(fd)
        with open(os.path.join(SHM_DIR, prefix + "to-block"), "r+b") as f:
            f.truncate(5)
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)
    assert os.stat(os.path.join(SHM_DIR, prefix + "to-list")).st_ino == ino
    assert cpython_kinds(prefix, ["to-list", "to-block"]) == \
        {"to-list": "list", "to-block": "block"}
    # The watch has handled the overflow (a listing while it is busy
    # reads /dev/shm anyway).
    time.sleep(1)
    got = raw_listing(m.dir)
    assert set(got) == shm_names(prefix)
    now = {**pads, "to-list": DT_DIR, "to-block": DT_REG, "stays": DT_DIR}
    for name, t in got.items():
        assert t in (DT_UNKNOWN, now[name]), "%s: d_type %d" % (name, t)
    check_types(m, got)


def odd_names(prefix):
    longest = "L" * (255 - len(prefix))
    return ["new\nline", " lead", "trail ", "tab\tx", "\u00e9t\u00e9",
            longest, "-dash", "a.b.c"]


def make_non_blocks(prefix, tag):
    """A FIFO, a symlink to a block, a directory and a dangling symlink,
    under the mount's prefix: none is a block."""
    base = os.path.join(SHM_DIR, prefix + tag)
    os.mkfifo(base + "fifo", 0o600)
    os.symlink(prefix + "-dash", base + "link")
    os.symlink(prefix + "nowhere", base + "dangling")
    os.mkdir(base + "dir", 0o700)
    return [base + "fifo", base + "link", base + "dangling", base + "dir"]


def test_odd_names_and_non_blocks(shmfs, prefix):
    """Names with newlines, spaces, of 255 bytes; FIFOs, symlinks and
    directories under the prefix: the first listing (a read of /dev/shm)
    and one after they came as events (the watch's stat) show exactly the
    regular files, typed right, with /dev/shm's inode numbers."""
    lst = list_bytes(prefix + "t-")
    m = shmfs()
    made = []
    try:
        for n in odd_names(prefix)[:4]:
            write_block(m.block(n), b"plain")
        write_block(m.block("list-1"), lst)
        made += make_non_blocks(prefix, "early-")
        first = raw_listing(m.dir)
        assert set(first) == shm_names(prefix)
        check_types(m, first)
        for n in odd_names(prefix)[4:]:
            write_block(m.block(n), b"plain")
        write_block(m.block("list-2"), lst)
        made += make_non_blocks(prefix, "late-")
        # A regular file renamed over by a FIFO, a FIFO renamed over a
        # block's name: the name goes, and comes back only as a block.
        os.mkfifo(m.block("fifo-over"), 0o600)
        os.rename(m.block("fifo-over"), m.block(" lead"))
        write_block(m.block("was-fifo"), b"plain")
        os.mkfifo(m.block("tmp-fifo"), 0o600)
        os.rename(m.block("tmp-fifo"), m.block("was-fifo"))
        made.append(m.block(" lead"))
        made.append(m.block("was-fifo"))
        for _ in range(3):
            got = raw_listing(m.dir)
            assert set(got) == shm_names(prefix)
            assert set(os.listdir(m.dir)) == shm_names(prefix)
            check_types(m, got)
            for e in os.scandir(m.dir):
                assert e.inode() == os.stat(
                    m.block(e.name), follow_symlinks=False).st_ino, e.name
            assert {e.name for e in os.scandir(m.dir)
                    if e.is_dir(follow_symlinks=False)} == {"list-1",
                                                            "list-2"}
            time.sleep(0.2)
    finally:
        for p in made:
            try:
                os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) \
                    else os.unlink(p)
            except FileNotFoundError:
                pass
