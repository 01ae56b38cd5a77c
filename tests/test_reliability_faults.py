# SPDX-License-Identifier: MIT
"""Faults: hostile list layouts in the shm directory, a block shrunk and grown
by another process while the daemon reads it, the daemon SIGKILLed in the
middle of a workload (every block stays, a restart clears the dead mount),
and a client SIGKILLed in the middle of a write (nothing else is damaged)."""

import errno
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import SHM_DIR
from mountutil import SHMFS

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz", "corpus")

# What a read of a damaged or vanishing entry may answer; anything else
# (ENOTCONN, ECONNABORTED: the daemon is gone; EIO: a catch-all) fails.
CLEAN_ERRNOS = {errno.ENOENT, errno.ESTALE, errno.EBADMSG, errno.EILSEQ,
                errno.EINVAL, errno.ERANGE, errno.EISDIR, errno.ENOTDIR,
                errno.EACCES, errno.EPERM, errno.ENODATA, errno.EOVERFLOW}


def corpus_variants(count=150, seed=7):
    """The seed corpus, and `count` deterministic mutants of it: bytes
    flipped, cut short, grown with garbage, headers overwritten."""
    seeds = []
    for fname in sorted(os.listdir(CORPUS)):
        with open(os.path.join(CORPUS, fname), "rb") as f:
            seeds.append((fname, f.read()))
    rnd = random.Random(seed)
    out = list(seeds)
    for i in range(count):
        name, data = seeds[i % len(seeds)]
        b = bytearray(data)
        kind = i % 4
        if kind == 0 and b:
            for _ in range(rnd.randint(1, 8)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif kind == 1:
            b = b[:rnd.randint(0, len(b))]
        elif kind == 2:
            b += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
        elif b:
            at = rnd.randrange(0, min(len(b), 16))
            b[at:at + 8] = rnd.getrandbits(64).to_bytes(8, "little")
        out.append(("mut%03d-%s" % (i, name), bytes(b)))
    return out


def walk_all(top, also=()):
    """Lists, stats and reads everything under `top` through the mount.
    Returns the number of entries seen; fails on an unclean errno (other
    than those in `also`)."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(top, onerror=lambda e: check_errno(e, also)):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            seen += 1
            try:
                os.stat(p)
                if os.path.isfile(p):
                    with open(p, "rb") as f:
                        f.read()
            except OSError as e:
                check_errno(e, also)
    return seen


def check_errno(e, also=()):
    assert e.errno in CLEAN_ERRNOS or e.errno in also, "unclean error %r" % (e,)


def test_fuzz_corpus_through_the_mount(mnt, prefix):
    """Every corpus file and mutant, put in the shm directory under the
    test prefix, resolves through the mount; ls, stat and cat of all of them
    give data or a clean errno, and the daemon stays up.  (They are plain
    files until the mount shows lists; then some are list directories, and
    walking them reads every entry.)"""
    variants = corpus_variants()
    for name, data in variants:
        with open(os.path.join(SHM_DIR, prefix + name), "wb") as f:
            f.write(data)
    listed = set(os.listdir(mnt.dir))
    for name, data in variants:
        assert name in listed
        p = mnt.path(name)
        st = os.stat(p)
        if os.path.isfile(p):
            assert st.st_size == len(data)
            with open(p, "rb") as f:
                assert f.read() == data
        else:
            walk_all(p)
    assert walk_all(mnt.dir) >= len(variants)
    assert mnt.proc.poll() is None
    # Nothing was changed by looking.
    for name, data in variants:
        with open(os.path.join(SHM_DIR, prefix + name), "rb") as f:
            assert f.read() == data


def _shrink_grow(path, seconds, stop):
    """Run in another process: cuts the block to random sizes and grows it
    back, refilling it, until `seconds` pass or `stop` exists."""
    code = r"""
import os, random, sys, time
path, seconds, stop = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rnd = random.Random(1)
full = bytes(range(256)) * 4096
end = time.monotonic() + seconds
n = 0
with open(path, "r+b") as f:
    while time.monotonic() < end and not os.path.exists(stop):
        os.ftruncate(f.fileno(), rnd.choice([0, 1, 4095, 4096, 65537, 300000]))
        os.ftruncate(f.fileno(), len(full))
        os.pwrite(f.fileno(), full, 0)
        n += 1
print(n)
"""
    return subprocess.Popen([sys.executable, "-c", code, path, str(seconds), stop],
                            stdout=subprocess.PIPE, text=True)


def race(mnt, cutter, reader, problems, counts):
    """Runs three reader(seed) threads until the cutter process ends, then
    checks that no reader met a problem, both sides did work, and the daemon
    is still up."""
    threads = [threading.Thread(target=reader, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    out, _ = cutter.communicate(timeout=60)
    for t in threads:
        t.join()
    assert not problems, problems
    assert int(out) > 0 and counts[0] > 0
    assert mnt.proc.poll() is None, "the daemon died"


def test_truncate_under_read(mnt, tmp_path):
    """Another process shrinks and grows the block in /dev/shm in a loop
    while threads read and write it through the mount (and stat it): every
    read gives bytes of the block's pattern or zeros, or a clean error; the
    daemon takes no SIGBUS and stays up."""
    full = bytes(range(256)) * 4096
    with open(mnt.block("victim"), "wb") as f:
        f.write(full)
    stop = str(tmp_path / "stop")
    cutter = _shrink_grow(mnt.block("victim"), 3.0, stop)
    problems, counts = [], [0, 0]

    def reader(seed):
        rnd = random.Random(seed)
        try:
            with open(mnt.path("victim"), "r+b", buffering=0) as f:
                while cutter.poll() is None:
                    off = rnd.choice([0, 4096, 65536, 200000, len(full) - 10])
                    try:
                        got = os.pread(f.fileno(), 70000, off)
                    except OSError as e:
                        check_errno(e)
                        continue
                    want = full[off:off + len(got)]
                    # A read racing a cut-and-refill sees the bytes or the
                    # zeros of the regrown pages.
                    for i in range(0, len(got), 4096):
                        g, w = got[i:i + 4096], want[i:i + 4096]
                        if g != w and g.strip(b"\0") and g != w[:len(g)]:
                            if any(x not in (0, y) for x, y in zip(g, w)):
                                problems.append("foreign bytes at %d" % (off + i))
                                return
                    counts[0] += 1
                    if rnd.random() < 0.1:
                        os.fstat(f.fileno())
                        try:
                            os.pwrite(f.fileno(), full[:100], 0)
                            counts[1] += 1
                        except OSError as e:
                            check_errno(e)
        except BaseException as e:  # reported below
            problems.append(repr(e))

    race(mnt, cutter, reader, problems, counts)
    # The mount still answers with the block as it is now.
    with open(mnt.path("victim"), "rb") as f:
        assert f.read() == full


def test_daemon_does_not_map_blocks():
    """The daemon's data path is pread/pwrite on descriptors: no source file
    of the daemon calls mmap, and it opens blocks with SHMBLOCK_NOMAP, so a
    block shrunk under it can't SIGBUS it."""
    fs_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fs")
    for fname in os.listdir(fs_dir):
        if fname.endswith(".c"):
            with open(os.path.join(fs_dir, fname)) as f:
                src = f.read()
            assert "mmap(" not in src, fname
            for line in src.splitlines():
                if "shmblock_attach_at(" in line or "shmblock_create_at(" in line:
                    # Every attach in the daemon passes NOMAP flags.
                    assert "flags" in line or "NOMAP" in line, (fname, line)


def dead_mount_errno(path):
    """ENOTCONN for a mount point whose daemon is gone.  statfs, since stat
    may answer from the kernel's attribute cache for a moment."""
    try:
        os.statvfs(path)
    except OSError as e:
        return e.errno
    return 0


def start_daemon(prefix, mountpoint):
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([SHMFS, "-f", "-o", "prefix=" + prefix, mountpoint],
                            stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while not os.path.ismount(mountpoint) or dead_mount_errno(mountpoint):
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            text = log.read()
            proc.kill()
            proc.wait()
            raise RuntimeError("shmfs did not mount:\n" + text)
        time.sleep(0.01)
    return proc, log


def _writer(mountpoint, wid, done_path):
    """A client process: writes its blocks with a known pattern, records
    each finished block in `done_path`, forever (until the mount dies)."""
    code = r"""
import os, sys
mnt, wid, done = sys.argv[1], int(sys.argv[2]), sys.argv[3]
i = 0
with open(done, "a") as log:
    while True:
        name = "w%d-%d" % (wid, i % 20)
        data = (("%d:%d;" % (wid, i)).encode() * 20000)[:100000 + i % 5000]
        try:
            with open(os.path.join(mnt, name), "wb") as f:
                f.write(data)
        except OSError:
            break
        log.write("%s %d\n" % (name, i))
        log.flush()
        i += 1
"""
    return subprocess.Popen([sys.executable, "-c", code, mountpoint, str(wid), done_path],
                            stderr=subprocess.DEVNULL)


def test_sigkill_daemon_mid_workload(prefix, tmp_path):
    """SIGKILL the daemon while clients write: every block whose write had
    finished is intact in /dev/shm; the mount point answers ENOTCONN; a new
    daemon started on it detaches the dead mount itself and shows every
    block with its bytes."""
    mountpoint = tempfile.mkdtemp(prefix="shmfs-mnt-")
    procs = []
    try:
        proc, log = start_daemon(prefix, mountpoint)
        procs.append(proc)
        writers = [_writer(mountpoint, w, str(tmp_path / ("done%d" % w))) for w in range(4)]
        # Let them get going, then kill the daemon in the middle of it.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sizes = [os.path.getsize(tmp_path / ("done%d" % w))
                     if os.path.exists(tmp_path / ("done%d" % w)) else 0 for w in range(4)]
            if min(sizes) > 200:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for w in writers:
            try:
                w.wait(timeout=20)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        assert dead_mount_errno(mountpoint) == errno.ENOTCONN
        # Every finished write is there, byte for byte: the last one
        # recorded for each name (a write in flight at the kill may have
        # left that block shorter or partly rewritten; it was not finished).
        expect = {}
        for w in range(4):
            with open(tmp_path / ("done%d" % w)) as f:
                for line in f:
                    name, i = line.split()
                    expect[name] = int(i)
        assert expect
        in_flight = {"w%d-%d" % (w, (max(i for n, i in expect.items() if n.startswith("w%d-" % w)) + 1) % 20)
                     for w in range(4)}

        def check(directory, pfx):
            ok = 0
            for name, i in expect.items():
                if name in in_flight:
                    continue
                w = int(name[1:].split("-")[0])
                data = (("%d:%d;" % (w, i)).encode() * 20000)[:100000 + i % 5000]
                with open(os.path.join(directory, pfx + name), "rb") as f:
                    assert f.read() == data, name
                ok += 1
            return ok

        assert check(SHM_DIR, prefix) > 0
        # A restart on the dead mount point clears it and shows everything.
        proc2, log2 = start_daemon(prefix, mountpoint)
        procs.append(proc2)
        log2.seek(0)
        assert "detached the dead mount" in log2.read()
        assert check(mountpoint, "") > 0
        assert set(expect) <= set(os.listdir(mountpoint))
        subprocess.run(["fusermount3", "-u", mountpoint], check=True)
        assert proc2.wait(timeout=20) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.path.ismount(mountpoint) or dead_mount_errno(mountpoint) == errno.ENOTCONN:
            subprocess.run(["umount", "-l", mountpoint], check=False)
        os.rmdir(mountpoint)


def test_restart_refuses_a_foreign_dead_mount(prefix, tmp_path):
    """A dead mount point of another FUSE file system is not ours to clear:
    the daemon says so, names `fusermount3 -u`, and exits 1."""
    mountpoint = tempfile.mkdtemp(prefix="shmfs-mnt-")
    try:
        proc = subprocess.Popen([SHMFS, "-f", "-o", "prefix=%s,subtype=other" % prefix,
                                 mountpoint], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.ismount(mountpoint):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        proc.kill()
        proc.wait()
        assert dead_mount_errno(mountpoint) == errno.ENOTCONN
        r = subprocess.run([SHMFS, "-f", "-o", "prefix=" + prefix, mountpoint],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 1
        assert "fusermount3 -u" in r.stderr, r.stderr
        assert dead_mount_errno(mountpoint) == errno.ENOTCONN
        # And once cleared as told, a mount works.
        subprocess.run(["fusermount3", "-u", mountpoint], check=True)
        proc2, log = start_daemon(prefix, mountpoint)
        subprocess.run(["fusermount3", "-u", mountpoint], check=True)
        assert proc2.wait(timeout=20) == 0
    finally:
        if os.path.ismount(mountpoint) or dead_mount_errno(mountpoint) == errno.ENOTCONN:
            subprocess.run(["umount", "-l", mountpoint], check=False)
        os.rmdir(mountpoint)


def test_client_killed_mid_write(mnt):
    """A client SIGKILLed in the middle of a large write damages no other
    block; its own block holds a prefix of what it was writing (or the old
    bytes); the daemon stays up and serves the next client."""
    others = {}
    for i in range(4):
        data = os.urandom(100000 + i)
        with open(mnt.path("other%d" % i), "wb") as f:
            f.write(data)
        others[i] = data
    big = 64 << 20
    code = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
chunk = b"\xab" * (%d)
print("go", flush=True)
while True:
    os.pwrite(fd, chunk, 0)
""" % big
    for attempt in range(3):
        p = subprocess.Popen([sys.executable, "-c", code, mnt.path("victim")],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline() == "go\n"
        time.sleep(0.2 + 0.1 * attempt)
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
    assert mnt.proc.poll() is None
    with open(mnt.path("victim"), "rb") as f:
        got = f.read()
    assert len(got) <= big and got.strip(b"\xab") == b""
    for i, data in others.items():
        with open(mnt.path("other%d" % i), "rb") as f:
            assert f.read() == data
        with open(mnt.block("other%d" % i), "rb") as f:
            assert f.read() == data
    with open(mnt.path("after"), "wb") as f:
        f.write(b"still serving")
    with open(mnt.block("after"), "rb") as f:
        assert f.read() == b"still serving"


def test_write_after_outside_unlink_is_not_lost(mnt):
    """A block unlinked (or replaced) outside and at once written again
    through the mount by the same name: the write lands in the block that
    the name now names, never in the unlinked one, even while the kernel
    still caches the old name."""
    lost = []
    for i in range(100):
        with open(mnt.path("again"), "wb") as f:
            f.write(b"old %d" % i)
        os.stat(mnt.path("again"))
        if i % 2:
            os.unlink(mnt.block("again"))
        else:
            with open(mnt.block("again.tmp"), "wb") as f:
                f.write(b"replacement")
            os.rename(mnt.block("again.tmp"), mnt.block("again"))
        with open(mnt.path("again"), "wb") as f:
            f.write(b"new %d" % i)
        with open(mnt.block("again"), "rb") as f:
            if f.read() != b"new %d" % i:
                lost.append(i)
        os.truncate(mnt.path("again"), 2)
        if os.path.getsize(mnt.block("again")) != 2:
            lost.append(("truncate", i))
    assert not lost, lost


def test_list_truncated_under_read(mnt, prefix, tmp_path):
    """A ShareableList block cut short and restored by another process in a
    loop while threads list and read its entries through the mount: reads
    give data or a clean errno, the daemon stays up.  (Before the mount shows
    lists, the block is read as a plain file: the same holds.)"""
    from multiprocessing import shared_memory
    from conftest import untrack
    sl = shared_memory.ShareableList([1, 2.5, "three", b"four", None, True],
                                     name=prefix + "lst")
    untrack(sl.shm)
    try:
        with open(mnt.block("lst"), "rb") as f:
            good = f.read()
        stop = str(tmp_path / "stop")
        code = r"""
import os, random, sys, time
path, good, stop = sys.argv[1], open(sys.argv[1], "rb").read(), sys.argv[2]
rnd = random.Random(3)
end = time.monotonic() + 3
n = 0
fd = os.open(path, os.O_RDWR)
while time.monotonic() < end and not os.path.exists(stop):
    os.ftruncate(fd, rnd.randrange(0, len(good)))
    os.ftruncate(fd, len(good))
    os.pwrite(fd, good, 0)
    n += 1
print(n)
"""
        cutter = subprocess.Popen([sys.executable, "-c", code, mnt.block("lst"), stop],
                                  stdout=subprocess.PIPE, text=True)
        problems, reads = [], [0]

        def reader():
            try:
                while cutter.poll() is None:
                    try:
                        # An entry file open while its list stops being
                        # one answers EIO, and .json EAGAIN when the block
                        # never holds still for two copies (docs/lists.md).
                        walk_all(mnt.path("lst"), also=(errno.EIO, errno.EAGAIN)) \
                            if os.path.isdir(mnt.path("lst")) \
                            else open(mnt.path("lst"), "rb").close()
                        reads[0] += 1
                    except OSError as e:
                        check_errno(e, (errno.EIO, errno.EAGAIN))
            except BaseException as e:  # reported below
                problems.append(repr(e))

        race(mnt, cutter, lambda seed: reader(), problems, reads)
        with open(mnt.block("lst"), "rb") as f:
            assert f.read() == good
        if os.path.isdir(mnt.path("lst")):
            with open(mnt.path("lst", "2")) as f:
                assert "three" in f.read()
    finally:
        sl.shm.close()
