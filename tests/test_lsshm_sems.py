# SPDX-License-Identifier: MIT
"""lsshm's semaphores against glibc: sem_open'd semaphores (through ctypes,
tests/sem_peer.py) shown as KIND semaphore with VALUE equal to sem_getvalue
and WAITERS counting a child blocked in sem_wait; their holders equal to
the processes that map them (fuser, and /proc/PID/maps for an unlinked
one); an unlinked semaphore still held, under --deleted; sem.* files that
are not semaphores (short, over SEM_VALUE_MAX, not shared, truncated under
a holder, rewritten while lsshm runs) are plain blocks, and lsshm never
dies of them."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import SHM_DIR
from sem_peer import Glibc
from test_lsshm import run

PEER = os.path.join(os.path.dirname(__file__), "sem_peer.py")
COLS = "name,kind,value,waiters,nholders,holders,dtype"


@pytest.fixture
def sems(prefix):
    """(glibc, a factory of semaphore names); every sem.PREFIX* file and
    every waiter child is gone when the test ends."""
    g = Glibc()
    kids = []
    counter = iter(range(1 << 30))
    yield g, (lambda: "%ss%d" % (prefix, next(counter))), kids
    for k in kids:
        if k.poll() is None:
            k.kill()
        k.wait()
    for n in os.listdir(SHM_DIR):
        if n.startswith("sem." + prefix):
            try:
                os.unlink(os.path.join(SHM_DIR, n))
            except FileNotFoundError:
                pass


def rows(*args):
    out = json.loads(run("-J", "-o", COLS, *args).stdout)["shmblocks"]
    return {r["name"]: r for r in out}


def until(check, what):
    """Waits for check() to hold (a child to reach sem_wait): no timing is
    asserted; a minute passing means it never did."""
    end = time.monotonic() + 60
    while not check():
        assert time.monotonic() < end, what
        time.sleep(0.01)


def fuser_pids(path):
    r = subprocess.run(["fuser", path], capture_output=True, text=True)
    return {int(p) for p in r.stdout.split()}


def maps_pids(ino):
    """The processes that map inode `ino` of /dev/shm, from /proc/PID/maps."""
    dev = os.stat(SHM_DIR).st_dev
    want = "%02x:%02x" % (os.major(dev), os.minor(dev))
    pids = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/maps" % p) as f:
                for line in f:
                    fields = line.split()
                    if len(fields) >= 5 and fields[3] == want and \
                            int(fields[4]) == ino:
                        pids.add(int(p))
                        break
        except OSError:
            pass
    return pids


def holder_pids(row):
    return {int(h.split("(")[0]) for h in row["holders"].split(",")} \
        if row["holders"] else set()


def test_value_against_sem_getvalue(sems):
    g, name, _ = sems
    n = name()
    s = g.open(n, os.O_CREAT | os.O_EXCL, 0o600, 3)
    try:
        r = rows()["sem." + n]
        assert r["kind"] == "semaphore" and r["dtype"] is None
        assert r["value"] == g.getvalue(s) == 3 and r["waiters"] == 0
        for _ in range(4):
            g.post(s)
        g.trywait(s)
        assert rows()["sem." + n]["value"] == g.getvalue(s) == 6
        # The table and --id agree.
        out = run("-r", "-n", "-o", "KIND,VALUE,WAITERS", "--id", "sem." + n,
                  "-l").stdout.split()
        assert out == ["semaphore", "6", "0"]
    finally:
        g.close(s)


def test_waiter_and_holders(sems):
    g, name, kids = sems
    n = name()
    path = os.path.join(SHM_DIR, "sem." + n)
    s = g.open(n, os.O_CREAT | os.O_EXCL, 0o600, 0)
    try:
        w = subprocess.Popen([sys.executable, PEER, "wait", n],
                             stdout=subprocess.PIPE, text=True)
        kids.append(w)
        until(lambda: rows()["sem." + n]["waiters"] == 1,
              "the child never waited")
        assert w.poll() is None
        r = rows()["sem." + n]
        assert r["value"] == g.getvalue(s) == 0
        # Holders: this process and the waiter, as fuser sees them.
        assert holder_pids(r) == fuser_pids(path) == {os.getpid(), w.pid}
        assert r["nholders"] == 2
        assert holder_pids(r) == maps_pids(os.stat(path).st_ino)
        g.post(s)
        assert w.stdout.readline() == "woke\n"
        w.wait()
        r = rows()["sem." + n]
        assert r["waiters"] == 0 and r["value"] == g.getvalue(s) == 0
        assert holder_pids(r) == {os.getpid()}
    finally:
        g.close(s)


def test_unlinked_semaphore_still_held(sems):
    """sem_unlink while a child waits in sem_wait: the semaphore lives on
    as a deleted inode, under --deleted, with its value, its waiter and
    its holders.  Opened by name first: its creator maps it under glibc's
    temporary name (sem.XXXXXX, linked to the real one once written), which
    is the name a deleted entry held only by its creator shows."""
    g, name, kids = sems
    n = name()
    path = os.path.join(SHM_DIR, "sem." + n)
    g.close(g.open(n, os.O_CREAT | os.O_EXCL, 0o600, 0))
    s = g.open(n)
    w = subprocess.Popen([sys.executable, PEER, "wait", n],
                         stdout=subprocess.PIPE, text=True)
    kids.append(w)
    try:
        until(lambda: rows()["sem." + n]["waiters"] == 1,
              "the child never waited")
        ino = os.stat(path).st_ino
        g.unlink(n)
        assert "sem." + n not in rows()

        def deleted():
            out = json.loads(run("-J", "--deleted", "-o", "name,inode," +
                                 COLS).stdout)["shmblocks"]
            found = [r for r in out if r["inode"] == ino]
            assert len(found) == 1
            return found[0]

        r = deleted()
        assert r["name"] == "sem." + n and r["kind"] == "semaphore"
        assert r["value"] == g.getvalue(s) == 0 and r["waiters"] == 1
        assert holder_pids(r) == maps_pids(ino) == {os.getpid(), w.pid}
        # --pid shows it marked, with the named ones.
        mine = rows("--pid", str(w.pid))
        assert mine["sem." + n + " (deleted)"]["kind"] == "semaphore"
        g.post(s)
        g.post(s)
        assert w.stdout.readline() == "woke\n"
        w.wait()
        r = deleted()
        assert r["value"] == g.getvalue(s) == 1 and r["waiters"] == 0
        assert holder_pids(r) == maps_pids(ino) == {os.getpid()}
    finally:
        g.close(s)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_sem_files_that_are_not_semaphores(sems):
    g, name, _ = sems
    p = lambda n: os.path.join(SHM_DIR, "sem." + n)
    real = name()
    g.close(g.open(real, os.O_CREAT | os.O_EXCL, 0o600, 5))
    with open(p(real), "rb") as f:
        good = f.read()
    assert len(good) == 32
    short, big, private, long_, zero = (name() for _ in range(5))
    write(p(short), good[:16])
    write(p(long_), good + b"\0" * 32)
    # A value above SEM_VALUE_MAX, and a private futex (sem_init's).
    write(p(big), (0x80000000).to_bytes(8, "little") + good[8:])
    write(p(private), good[:8] + b"\0" * 24)
    write(p(zero), b"")
    # glibc itself refuses none of these by their bytes, but lsshm must
    # not call them semaphores: sem_getvalue of the real one is the peer.
    s = g.open(real)
    try:
        assert g.getvalue(s) == 5
    finally:
        g.close(s)
    got = rows()
    assert got["sem." + real]["kind"] == "semaphore"
    for n in (short, big, private, long_, zero):
        r = got["sem." + n]
        assert r["kind"] == "plain" and r["value"] is None, n


def test_truncated_under_a_holder(sems):
    """A semaphore truncated while a process maps it: a plain block of 0
    bytes to lsshm (which reads, never maps), still held."""
    g, name, _ = sems
    n = name()
    path = os.path.join(SHM_DIR, "sem." + n)
    s = g.open(n, os.O_CREAT | os.O_EXCL, 0o600, 2)
    try:
        os.truncate(path, 0)
        r = rows()["sem." + n]
        assert r["kind"] == "plain" and r["value"] is None
        assert os.getpid() in holder_pids(r)
    finally:
        # glibc's mapping now faults on access: only unmap it.
        g.close(s)


def test_rewritten_while_lsshm_runs(sems, names):
    """A thread truncates, regrows and rewrites a semaphore file and a .npy
    block as fast as it can while lsshm reads them: lsshm exits 0 every
    time, and each is one of the kinds its bytes can have."""
    g, name, _ = sems
    n = name()
    g.close(g.open(n, os.O_CREAT | os.O_EXCL, 0o600, 1))
    sem_path = os.path.join(SHM_DIR, "sem." + n)
    with open(sem_path, "rb") as f:
        good = f.read()
    arr = names()
    arr_path = os.path.join(SHM_DIR, arr)
    header = (b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_order': "
              b"False, 'shape': (500,), }").ljust(127, b" ") + b"\n"
    write(arr_path, header + b"\0" * 4000)
    stop = threading.Event()

    def churn():
        sfd = os.open(sem_path, os.O_RDWR)
        afd = os.open(arr_path, os.O_RDWR)
        try:
            i = 0
            while not stop.is_set():
                i += 1
                os.ftruncate(sfd, i % 3 * 16)
                os.pwrite(sfd, good[:i % 3 * 16], 0)
                os.ftruncate(afd, (i % 5) * 40)
                os.pwrite(afd, header[:(i % 5) * 40], 0)
                if i % 5 == 4:
                    os.ftruncate(afd, len(header) + 4000)
        finally:
            os.close(sfd)
            os.close(afd)

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(30):
            got = rows()
            # 16 or 32 zero bytes are also an empty ShareableList.
            assert got["sem." + n]["kind"] in ("semaphore", "plain",
                                               "list[0]")
            kind = got[arr]["kind"]
            assert kind in ("array[<f8 500]", "plain") or \
                kind.startswith("list["), kind
    finally:
        stop.set()
        t.join()
