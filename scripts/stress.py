# SPDX-License-Identifier: MIT
"""A bounded load on one shmfs mount: WORKERS processes create, write, read,
truncate and unlink blocks of their own, write their own region of shared
blocks, all create, write, truncate and unlink the same contended blocks, and
set their own item of a shared list through the mount, for SECONDS.  Then a final check finds every byte it expects, through the mount
and in /dev/shm, the daemon must still be up, and its memory must not have
grown beyond a bound.  Exit status 0 when all holds."""

import argparse
import errno
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
from multiprocessing import Process, Queue, resource_tracker, shared_memory

from mountlib import Mount

SHM = "/dev/shm"
SHARED_BLOCKS = 4
REGION = 4096


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pattern(worker, counter, size):
    seed = ("%d:%d:" % (worker, counter)).encode()
    return (seed * (size // len(seed) + 1))[:size]


CLEAN = {errno.ENOENT, errno.ESTALE}


def contended(mnt, wid, counter, rnd):
    """Every worker creates, writes, reads, truncates and unlinks the same
    few blocks at once: no byte is checked (others change them), only that
    every call succeeds or fails with a clean errno, and that a read never
    gives bytes no worker wrote."""
    path = os.path.join(mnt, "contended%d" % rnd.randrange(2))
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as e:
        if e.errno not in CLEAN:
            raise
        return
    try:
        off = rnd.randrange(0, 64 * 1024)
        os.pwrite(fd, b"%c" % (65 + wid) * 512, off)
        got = os.pread(fd, 4096, rnd.randrange(0, 64 * 1024))
        assert not got.strip(b"\0" + bytes(range(65, 65 + 32))), "foreign bytes"
        if counter % 4 == 0:
            os.ftruncate(fd, rnd.randrange(0, 64 * 1024))
    finally:
        os.close(fd)
    if counter % 7 == 0:
        try:
            os.unlink(path)
        except OSError as e:
            if e.errno not in CLEAN:
                raise


def worker(wid, mnt, deadline, has_lists, results):
    rnd = random.Random(wid)
    ops = counter = 0
    own = {}  # name -> (counter, length) of what the block must hold
    try:
        while time.time() < deadline:
            counter += 1
            # A block of its own: create, write, read back, truncate, unlink.
            name = "w%d-%d" % (wid, counter % 5)
            path = os.path.join(mnt, name)
            data = pattern(wid, counter, rnd.randint(1, 256 * 1024))
            fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                assert os.pread(fd, len(data) + 1, 0) == data, "read back " + name
                cut = rnd.randint(0, len(data))
                os.ftruncate(fd, cut)
                assert os.fstat(fd).st_size == cut
            finally:
                os.close(fd)
            with open(os.path.join(mnt, name), "rb") as f:
                assert f.read() == data[:cut], "after truncate " + name
            own[name] = (counter, len(data), cut)
            if counter % 3 == 0:
                os.unlink(path)
                del own[name]
            contended(mnt, wid, counter, rnd)
            # Its own region of every shared block.
            for b in range(SHARED_BLOCKS):
                with open(os.path.join(mnt, "shared%d" % b), "r+b") as f:
                    f.seek(wid * REGION)
                    f.write(pattern(wid, counter, REGION))
                    f.seek(wid * REGION)
                    assert f.read(REGION) == pattern(wid, counter, REGION)
            # Its own item of the shared list.
            if has_lists:
                entry = os.path.join(mnt, "list", str(wid))
                with open(entry, "w") as f:
                    f.write("%d\n" % counter)
                with open(entry) as f:
                    assert f.read() == "%d\n" % counter
            ops += 1
        results.put((wid, "ok", counter, ops, own))
    except BaseException as e:  # reported, then the check fails
        results.put((wid, "error: %r" % (e,), counter, ops, own))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def hostile(kind, mnt, prefix, deadline, results):
    """One of the hostile or careless loads of --hostile, run beside the
    ordinary workers until the deadline.  What it checks is a clean answer
    to every request; the daemon's resources are sampled by main()."""
    rnd = random.Random(kind)
    n = 0
    try:
        if kind == "sparse":
            # 4 KiB blocks that claim a 256 MiB list, made and looked at.
            while time.time() < deadline:
                name = "sparse%d" % (n % 4)
                with open(os.path.join(SHM, prefix + name), "wb") as f:
                    f.write((1).to_bytes(8, "little") + bytes(8) +
                            ((256 << 20) - 33).to_bytes(8, "little"))
                    f.truncate(256 << 20)
                os.stat(os.path.join(mnt, name))
                os.listdir(mnt)
                n += 1
        elif kind == "xattrs":
            # Another process's xattr churn on a list while it is listed.
            block = os.path.join(SHM, prefix + "hlist")
            while time.time() < deadline:
                os.setxattr(block, "user.h%d" % (n % 30), b"v" * rnd.randint(1, 200))
                if n % 2:
                    try:
                        os.removexattr(block, "user.h%d" % rnd.randrange(30))
                    except OSError as e:
                        if e.errno != errno.ENODATA:
                            raise
                names = os.listxattr(os.path.join(mnt, "hlist"))
                assert "user.shmfs.format" in names, names
                n += 1
        elif kind == "ls":
            # ls -l of many blocks: a stat and an xattr call per entry.
            for i in range(300):
                with open(os.path.join(SHM, prefix + "many%03d" % i), "wb") as f:
                    f.write(b"m")
            while time.time() < deadline:
                for e in os.scandir(mnt):
                    try:  # the workers' blocks come and go
                        e.stat()
                        os.listxattr(e.path)
                    except OSError as err:
                        if err.errno not in CLEAN:
                            raise
                n += 1
        elif kind == "stores":
            # CPython stores in a loop while the mount reads the list.
            sl = shared_memory.ShareableList(name=prefix + "hlist")
            resource_tracker.unregister(sl.shm._name, "shared_memory")
            try:
                while time.time() < deadline:
                    sl[0] = [7, 2.5, True, None][n % 4]
                    sl[1] = "s%d" % (n % 10)
                    n += 1
            finally:
                sl.shm.close()
        elif kind == "reader":
            while time.time() < deadline:
                try:
                    names = os.listdir(os.path.join(mnt, "hlist"))
                    assert len(names) == 6, names
                    # os.read, not open().read(): Python's file objects
                    # turn a read's EAGAIN into None (then a TypeError),
                    # where the daemon's documented EAGAIN is meant.
                    text = read_raw(os.path.join(mnt, "hlist", "1")).decode()
                    # "" is the instant CPython's struct.pack_into has
                    # zero-filled the slot and not yet copied: its own
                    # reader sees it too (docs/lists.md).
                    assert text.startswith("s") or text == "\n", text
                    read_raw(os.path.join(mnt, "hlist", ".json"))
                except OSError as e:
                    if e.errno != errno.EAGAIN:  # rare, documented
                        raise
                n += 1
        elif kind == "renames":
            # Two lists exchanged outside while one is listed.
            a = os.path.join(SHM, prefix + "ra")
            b = os.path.join(SHM, prefix + "rb")
            while time.time() < deadline:
                os.rename(a, os.path.join(SHM, prefix + "rtmp"))
                os.rename(b, a)
                os.rename(os.path.join(SHM, prefix + "rtmp"), b)
                try:  # the name is missing for an instant: ENOENT
                    assert len(os.listdir(os.path.join(mnt, "ra"))) in (5, 6)
                except OSError as e:
                    if e.errno not in CLEAN:
                        raise
                n += 1
        elif kind == "owners":
            # owner= policies on many empty blocks of one's own, naming
            # short-lived processes: the daemon's descriptors must not
            # follow them (main() bounds them), and each block goes with
            # its owner.
            while time.time() < deadline:
                child = os.fork()
                if child == 0:
                    time.sleep(0.2)
                    os._exit(0)
                for i in range(50):
                    p = os.path.join(SHM, prefix + "own%d-%d" % (n % 8, i))
                    with open(p, "wb"):
                        pass
                    os.setxattr(p, "user.shmfs.lifetime", b"owner=%d" % child)
                os.waitpid(child, 0)
                n += 1
        elif kind == "holders":
            # holders xattrs of blocks made a moment ago (unknown to the
            # last scan: EAGAIN, never a scan in the request) and of one
            # that stays, in a loop.
            keep = os.path.join(SHM, prefix + "hkeep")
            with open(keep, "wb"):
                pass
            while time.time() < deadline:
                p = os.path.join(mnt, "hnew%d" % (n % 4))
                with open(p, "wb"):
                    pass
                for q in (p, os.path.join(mnt, "hkeep")):
                    try:
                        os.getxattr(q, "user.shmfs.holders")
                        os.getxattr(q, "user.shmfs.holders_age")
                    except OSError as e:
                        if e.errno != errno.EAGAIN:
                            raise
                os.unlink(p)
                n += 1
        elif kind == "policies":
            # last-holder and idle=1 set and withdrawn on blocks held for a
            # moment through the mount: every set makes the daemon look at
            # holders, every close brings a scan forward.
            while time.time() < deadline:
                name = "pol%d" % (n % 4)
                p = os.path.join(mnt, name)
                try:
                    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
                    os.setxattr(p, "user.shmfs.lifetime",
                                [b"last-holder", b"idle=1"][n % 2])
                    os.close(fd)
                    if n % 3 == 0:
                        os.removexattr(p, "user.shmfs.lifetime")
                except OSError as e:  # removed by its policy meanwhile
                    if e.errno not in CLEAN | {errno.ENODATA}:
                        raise
                n += 1
        results.put(("hostile " + kind, "ok", n, n, {}))
    except BaseException as e:
        results.put(("hostile " + kind, "error: %r" % (e,), n, n, {}))


def read_raw(path):
    """The whole file by os.read: a read's error is an OSError."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    finally:
        os.close(fd)


HOSTILE = ["sparse", "xattrs", "ls", "stores", "reader", "renames",
           "owners", "holders", "policies"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--valgrind", action="store_true",
                    help="run the daemon under valgrind and fail on leaks")
    ap.add_argument("--max-rss-growth-mib", type=float, default=32)
    ap.add_argument("--hostile", action="store_true",
                    help="also run the hostile loads beside the workers and "
                    "bound the daemon's descriptors and memory throughout")
    ap.add_argument("--max-fds", type=int, default=96,
                    help="--hostile: the most descriptors the daemon may have")
    args = ap.parse_args()

    prefix = "shmfs-stress-%s-" % secrets.token_hex(3)
    wrapper = ()
    if args.valgrind:
        vglog = tempfile.NamedTemporaryFile(prefix="shmfs-valgrind-", suffix=".log")
        wrapper = ("valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
                   "--error-exitcode=99", "--log-file=" + vglog.name)
    failures = []
    shared = []
    sl = None
    try:
        for b in range(SHARED_BLOCKS):
            s = shared_memory.SharedMemory(prefix + "shared%d" % b, create=True,
                                           size=REGION * args.workers)
            shared.append(s)
        sl = shared_memory.ShareableList([0] * args.workers, name=prefix + "list")
        if args.hostile:
            for name, values in (("hlist", [0, "s0", "tail"]),
                                 ("ra", [1, 2, 3]), ("rb", ["x", "y"])):
                h = shared_memory.ShareableList(values, name=prefix + name)
                resource_tracker.unregister(h.shm._name, "shared_memory")
                h.shm.close()

        m = Mount(prefix, wrapper=wrapper, timeout=60)
        try:
            has_lists = os.path.isdir(m.path("list"))
            if not has_lists:
                print("stress: the mount shows no list directories; list items not exercised")
            time.sleep(0.5)
            rss0 = rss_kib(m.proc.pid)
            deadline = time.time() + args.seconds
            results = Queue()
            procs = [Process(target=worker, args=(w, m.dir, deadline, has_lists, results))
                     for w in range(args.workers)]
            if args.hostile:
                procs += [Process(target=hostile, args=(k, m.dir, prefix, deadline, results))
                          for k in HOSTILE]
            for p in procs:
                p.start()
            peak_fds = peak_rss = 0
            while args.hostile and time.time() < deadline and m.alive():
                peak_fds = max(peak_fds, fd_count(m.proc.pid))
                peak_rss = max(peak_rss, rss_kib(m.proc.pid))
                time.sleep(0.5)
            outcome, owned, hostiles = {}, {}, {}
            for _ in procs:
                wid, status, counter, ops, own = results.get(timeout=args.seconds + 300)
                if isinstance(wid, str):
                    hostiles[wid] = (status, ops)
                    continue
                outcome[wid] = (status, counter, ops)
                owned[wid] = own
            for p in procs:
                p.join()
            for kind, (status, ops) in sorted(hostiles.items()):
                print("stress: %s: %d rounds, %s" % (kind, ops, status))
                if status != "ok":
                    failures.append("%s: %s" % (kind, status))
            if args.hostile:
                print("stress: hostile: daemon peak %d descriptors, peak RSS %d KiB"
                      % (peak_fds, peak_rss))
                if peak_fds > args.max_fds:
                    failures.append("daemon had %d descriptors" % peak_fds)
                if not args.valgrind and \
                        peak_rss - rss0 > args.max_rss_growth_mib * 1024:
                    failures.append("daemon peak RSS grew by %d KiB" % (peak_rss - rss0))
            rss1 = rss_kib(m.proc.pid)
            total = sum(o[2] for o in outcome.values())
            print("stress: %d workers, %.0f s, %d rounds, daemon RSS %d -> %d KiB"
                  % (args.workers, args.seconds, total, rss0, rss1))
            for wid, (status, counter, ops) in sorted(outcome.items()):
                if status != "ok":
                    failures.append("worker %d: %s" % (wid, status))
            if not m.alive():
                failures.append("the daemon died")
            if not args.valgrind and rss1 - rss0 > args.max_rss_growth_mib * 1024:
                failures.append("daemon RSS grew by %d KiB" % (rss1 - rss0))

            # The final check: every worker's last region, through the mount
            # and directly in /dev/shm; every list item.
            for b in range(SHARED_BLOCKS):
                with open(m.path("shared%d" % b), "rb") as f:
                    through_mount = f.read()
                direct = bytes(shared[b].buf[:REGION * args.workers])
                if through_mount != direct:
                    failures.append("shared%d differs between the mount and /dev/shm" % b)
                for wid, (status, counter, ops) in outcome.items():
                    want = pattern(wid, counter, REGION)
                    got = direct[wid * REGION:(wid + 1) * REGION]
                    if status == "ok" and got != want:
                        failures.append("shared%d region %d lost its last write" % (b, wid))
            # Each worker's own blocks hold their last bytes, and nothing
            # else of theirs is left.
            checked = 0
            for wid, own in owned.items():
                if outcome[wid][0] != "ok":
                    continue
                left = {n for n in os.listdir(m.dir) if n.startswith("w%d-" % wid)}
                if left != set(own):
                    failures.append("worker %d: blocks %s, want %s" % (wid, sorted(left), sorted(own)))
                for name, (counter, length, cut) in own.items():
                    want = pattern(wid, counter, length)[:cut]
                    for where in (m.path(name), os.path.join(SHM, prefix + name)):
                        with open(where, "rb") as f:
                            if f.read() != want:
                                failures.append("%s lost bytes" % where)
                    checked += 1
            print("stress: final check of %d own blocks, %d shared blocks x %d regions"
                  % (checked, SHARED_BLOCKS, args.workers))
            if has_lists:
                for wid, (status, counter, ops) in outcome.items():
                    if status == "ok" and sl[wid] != counter:
                        failures.append("list item %d is %r, want %d" % (wid, sl[wid], counter))
        finally:
            rc = m.close()
            if rc != 0:
                failures.append("daemon exit status %s:\n%s" % (rc, m.stderr()[-4000:]))
            if args.valgrind:
                with open(vglog.name) as f:
                    report = f.read()
                summary = [line.split("== ", 1)[-1] for line in report.splitlines()
                           if any(k in line for k in ("in use at exit", "definitely lost",
                                                      "indirectly lost", "possibly lost",
                                                      "still reachable", "ERROR SUMMARY"))]
                print("stress: valgrind: " + "; ".join(summary))
                if rc == 99:
                    print(report[-8000:])
    finally:
        for s in shared:
            s.close()
            s.unlink()
        if sl is not None:
            sl.shm.close()
            sl.shm.unlink()
        for name in os.listdir(SHM):
            if name.startswith(prefix):
                p = os.path.join(SHM, name)
                shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)

    for f in failures:
        print("stress: FAIL:", f)
    print("stress: %s" % ("FAILED" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
