# SPDX-License-Identifier: MIT
"""Semaphores in the mount (issue 26): sem.NAME as a text file, against
glibc's own sem_open, sem_wait, sem_post and sem_getvalue (tests/sem_peer.py,
through ctypes) and the shell's echo: a waiter woken by a write, values that
agree both ways under concurrent posts and waits, creation that sem_open
sees byte for byte as its own, EAGAIN, EINVAL and EOVERFLOW as echo reports
them, the prefix's namespace, truncated, replaced and hostile files under
the running daemon, permissions as nobody, holders and lifetimes."""

import errno
import mmap
import os
import signal
import subprocess
import sys
import threading

import pytest

from conftest import SHM_DIR
from mountutil import errno_of, wait_for
from sem_peer import O_CREAT, O_EXCL, Glibc

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "sem_peer.py")
VALUE_MAX = 2**31 - 1
NOBODY = 65534
LIFETIME = "user.shmfs.lifetime"
HOLDERS = "user.shmfs.holders"


@pytest.fixture(scope="module")
def glibc():
    return Glibc()


@pytest.fixture(autouse=True)
def sem_cleanup(prefix):
    """Every sem.PREFIX* file of the test is removed when it ends (the
    prefix fixture only removes PREFIX*)."""
    yield
    for n in os.listdir(SHM_DIR):
        if n.startswith("sem." + prefix):
            try:
                os.unlink(os.path.join(SHM_DIR, n))
            except FileNotFoundError:
                pass


@pytest.fixture
def peers():
    """sem_peer.py processes, killed and reaped when the test ends."""
    procs = []

    def start(*args):
        p = subprocess.Popen([sys.executable, PEER, *map(str, args)],
                             stdout=subprocess.PIPE, text=True)
        procs.append(p)
        return p
    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def shm(m, name):
    """The file in /dev/shm behind the mount's sem.NAME."""
    return os.path.join(SHM_DIR, "sem." + m.prefix + name)


def word(m, name):
    """(value, waiters) read from the file itself, not through the mount."""
    with open(shm(m, name), "rb") as f:
        data = int.from_bytes(f.read(8), "little")
    return data & 0xffffffff, data >> 32


def sh(command):
    """Runs a shell command: (exit code, stderr)."""
    r = subprocess.run(["bash", "-c", command], capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stderr


def cat(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    """One write(2) of `text` to an existing file; 0 or the errno."""
    fd = os.open(path, os.O_WRONLY)
    try:
        return errno_of(os.write, fd, text.encode())
    finally:
        os.close(fd)


def test_waiter_wakes_on_echo(shmfs, prefix, glibc, peers):
    """A process blocked in glibc's sem_wait wakes when the shell writes 1
    to the mount, and the token it took is gone from the value."""
    m = shmfs()
    sem = glibc.open(prefix + "w", O_CREAT | O_EXCL, 0o600, 0)
    try:
        waiter = peers("wait", prefix + "w")
        # Registered in the futex word: it sleeps in sem_wait now.
        assert wait_for(lambda: word(m, "w")[1] == 1)
        assert cat(m.path("sem.w")) == "0\n"
        rc, err = sh("echo 1 > %s" % m.path("sem.w"))
        assert (rc, err) == (0, "")
        assert waiter.stdout.readline().strip() == "woke"
        assert waiter.wait(timeout=30) == 0
        assert glibc.getvalue(sem) == 0
        assert word(m, "w") == (0, 0)
        assert cat(m.path("sem.w")) == "0\n"
    finally:
        glibc.close(sem)


def test_values_agree_under_concurrent_posts_and_waits(shmfs, prefix, glibc,
                                                       peers):
    """glibc posts and waits in other processes while the mount posts and
    takes: no post is lost, no token taken twice, and both sides read the
    same value at the end."""
    m = shmfs()
    name = prefix + "c"
    sem = glibc.open(name, O_CREAT | O_EXCL, 0o600, 0)
    try:
        posters = [peers("posts", name, 400) for _ in range(2)]
        waiters = [peers("waits", name, 300) for _ in range(2)]
        path = m.path("sem.c")
        posted = took = 0
        fd = os.open(path, os.O_WRONLY)
        try:
            while posted < 500 or took < 300:
                if posted < 500:
                    os.write(fd, b"1\n")
                    posted += 1
                if took < 300 and errno_of(os.write, fd, b"-1") == 0:
                    took += 1
        finally:
            os.close(fd)
        for p in posters + waiters:
            assert p.wait(timeout=60) == 0
        # 800 + 500 posted, 600 + 300 taken.
        assert glibc.getvalue(sem) == 400
        assert cat(path) == "400\n"
        assert word(m, "c") == (400, 0)
    finally:
        glibc.close(sem)


def test_create_through_the_mount(mnt, prefix, glibc):
    """`echo 2 > MNT/sem.jobs` makes the semaphore sem_open("/jobs", 0)
    opens with value 2: byte for byte the file glibc makes, with the
    caller's mode; `touch` makes one of value 0; `rm` is sem_unlink."""
    m = mnt
    rc, err = sh("umask 022; echo 2 > %s" % m.path("sem.jobs"))
    assert (rc, err) == (0, "")
    sem = glibc.open(prefix + "jobs")
    try:
        assert glibc.getvalue(sem) == 2
        glibc.trywait(sem)
        assert cat(m.path("sem.jobs")) == "1\n"
    finally:
        glibc.close(sem)
    ref = glibc.open(prefix + "ref", O_CREAT | O_EXCL, 0o644, 1)
    glibc.close(ref)
    with open(shm(m, "jobs"), "rb") as a, open(shm(m, "ref"), "rb") as b:
        assert a.read() == b.read()
    st, ref_st = os.stat(shm(m, "jobs")), os.stat(shm(m, "ref"))
    assert (st.st_mode, st.st_size) == (ref_st.st_mode, 32)
    # An empty create, as sem_open(O_CREAT, mode, 0).
    assert sh("touch %s" % m.path("sem.empty")) == (0, "")
    sem = glibc.open(prefix + "empty")
    try:
        assert glibc.getvalue(sem) == 0
    finally:
        glibc.close(sem)
    assert "sem.jobs" in os.listdir(m.dir)
    # rm is sem_unlink: the name goes, a holder keeps its semaphore.
    sem = glibc.open(prefix + "jobs")
    try:
        assert sh("rm %s" % m.path("sem.jobs")) == (0, "")
        assert not os.path.exists(shm(m, "jobs"))
        assert errno_of(glibc.open, prefix + "jobs") == errno.ENOENT
        glibc.post(sem)
        assert glibc.getvalue(sem) == 2
        # Held while unlinked: .deleted/ shows it under its mount name.
        assert wait_for(lambda: any(
            n.startswith("sem.jobs@")
            for n in os.listdir(m.path(".deleted"))), 5)
    finally:
        glibc.close(sem)
    # A name that exists is opened, not made again (no O_EXCL).
    glibc.close(glibc.open(prefix + "there", O_CREAT | O_EXCL, 0o600, 5))
    assert sh("echo 1 > %s" % m.path("sem.there")) == (0, "")
    assert word(m, "there") == (6, 0)
    assert errno_of(os.open, m.path("sem.there"),
                    os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST


def test_trywait_and_errors_as_echo_reports_them(shmfs, prefix, glibc):
    """-N takes N at once or nothing (EAGAIN); other text is EINVAL; a
    count or a value past SEM_VALUE_MAX is EOVERFLOW; nothing changes on
    an error."""
    m = shmfs()
    path = m.path("sem.t")
    glibc.close(glibc.open(prefix + "t", O_CREAT | O_EXCL, 0o600, 3))
    assert sh("echo -2 > %s" % path) == (0, "")
    assert cat(path) == "1\n"
    rc, err = sh("echo -2 > %s" % path)
    assert rc == 1 and "Resource temporarily unavailable" in err, err
    assert sh("echo -1 > %s" % path) == (0, "")
    rc, err = sh("echo -1 > %s" % path)
    assert rc == 1 and "Resource temporarily unavailable" in err, err
    for text in ("abc", "1 2", " ", "0x10", "1.5", "--1", "1\n2", "\0",
                 "+", "-"):
        assert write(path, text) == errno.EINVAL, repr(text)
    rc, err = sh("echo hello > %s" % path)
    assert rc == 1 and "Invalid argument" in err, err
    for text in ("2147483648", "-2147483648", "99999999999999999999999"):
        assert write(path, text) == errno.EOVERFLOW, text
    rc, err = sh("printf %%s %d > %s" % (VALUE_MAX, path))
    assert (rc, err) == (0, "")
    assert word(m, "t") == (VALUE_MAX, 0)
    rc, err = sh("echo 1 > %s" % path)
    assert rc == 1 and "Value too large" in err, err
    assert word(m, "t") == (VALUE_MAX, 0)
    # Accepted: white space around, a sign, 0 (posts nothing).
    for text, value in ((" -7 \n", VALUE_MAX - 7), ("+7", VALUE_MAX),
                        ("0", VALUE_MAX), ("-0\n", VALUE_MAX)):
        assert write(path, text) == 0, repr(text)
        assert word(m, "t")[0] == value
    sem = glibc.open(prefix + "t")
    try:
        assert glibc.getvalue(sem) == VALUE_MAX
    finally:
        glibc.close(sem)


def test_reads_snapshot_and_attributes(mnt, prefix, glibc):
    """A read at offset 0 reads the value; later offsets continue that
    text, so a short reader never mixes two values.  The file shows the
    semaphore's own attributes (32 bytes); truncating it is EINVAL;
    MAP_SHARED is refused, the text is no mapping of the semaphore."""
    m = mnt
    sem = glibc.open(prefix + "r", O_CREAT | O_EXCL, 0o640, 12)
    try:
        path = m.path("sem.r")
        fd = os.open(path, os.O_RDONLY)
        try:
            assert os.pread(fd, 1, 0) == b"1"
            for _ in range(100):
                glibc.post(sem)
            assert os.pread(fd, 10, 1) == b"2\n"
            assert os.pread(fd, 10, 3) == b""
            assert os.pread(fd, 10, 0) == b"112\n"
            with pytest.raises(OSError) as e:
                mmap.mmap(fd, 32, mmap.MAP_SHARED, mmap.PROT_READ)
            assert e.value.errno == errno.ENODEV
        finally:
            os.close(fd)
        st, real = os.stat(path), os.stat(shm(m, "r"))
        assert (st.st_ino, st.st_mode, st.st_size, st.st_uid) == \
            (real.st_ino, real.st_mode, 32, real.st_uid)
        assert errno_of(os.truncate, path, 0) == errno.EINVAL
        os.chmod(path, 0o600)
        assert os.stat(shm(m, "r")).st_mode & 0o777 == 0o600
        assert glibc.getvalue(sem) == 112
    finally:
        glibc.close(sem)


def test_prefix_namespace(shmfs, prefix, glibc):
    """Under -o prefix=P, /dev/shm/sem.PNAME shows as sem.NAME; another
    prefix's semaphores and a block named Psem.x are not shown; blocks
    keep their names; a semaphore name is for semaphores only."""
    m = shmfs()
    glibc.close(glibc.open(prefix + "mine", O_CREAT | O_EXCL, 0o600, 4))
    other = "sem.other-%s" % prefix
    fd = os.open(os.path.join(SHM_DIR, other), os.O_CREAT | os.O_WRONLY,
                 0o600)
    os.close(fd)
    try:
        glibc.close(glibc.open("other-" + prefix, 0))
    except OSError:
        pass
    try:
        with open(m.block("sem.hidden"), "wb") as f:
            f.write(b"x" * 32)
        with open(m.block("plain"), "wb") as f:
            f.write(b"y" * 10)
        names = set(os.listdir(m.dir))
        assert {"sem.mine", "plain"} <= names
        assert not {n for n in names if "hidden" in n or "other" in n}
        assert cat(m.path("sem.mine")) == "4\n"
        assert errno_of(os.stat, m.path("sem.hidden")) == errno.ENOENT
        assert errno_of(os.stat, m.path("sem.")) == errno.ENOENT
        assert errno_of(os.open, m.path("sem."),
                        os.O_CREAT | os.O_WRONLY) == errno.EPERM
        assert errno_of(os.mkdir, m.path("sem.dir")) == errno.EPERM
        assert errno_of(os.rename, m.path("plain"),
                        m.path("sem.plain")) == errno.EPERM
        assert errno_of(os.rename, m.path("sem.mine"),
                        m.path("mine")) == errno.EPERM
        os.rename(m.path("sem.mine"), m.path("sem.moved"))
        assert os.path.exists(shm(m, "moved"))
        sem = glibc.open(prefix + "moved")
        try:
            assert glibc.getvalue(sem) == 4
        finally:
            glibc.close(sem)
    finally:
        os.unlink(os.path.join(SHM_DIR, other))


def hostile(path, data):
    """Replaces `path` by a file holding `data`, as an attacker may."""
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def test_invalid_sem_file_is_a_plain_block(shmfs, prefix):
    """A sem.* file that is not a glibc semaphore (a private futex, a
    value past SEM_VALUE_MAX, another size) shows its bytes as a plain
    block does."""
    m = shmfs()
    cases = {
        "priv": (1).to_bytes(8, "little") + bytes(24),
        "big": (2**31).to_bytes(8, "little") + (128).to_bytes(4, "little")
        + bytes(20),
        "long": b"z" * 100,
        "empty": b"",
    }
    for name, data in cases.items():
        with open(shm(m, name), "wb") as f:
            f.write(data)
    for name, data in cases.items():
        with open(m.path("sem." + name), "rb") as f:
            assert f.read() == data, name
        assert os.stat(m.path("sem." + name)).st_size == len(data)


def test_truncated_and_replaced_under_the_daemon(shmfs, prefix, glibc):
    """A semaphore open through the mount is truncated, refilled with
    garbage and replaced under the daemon: each read and write answers a
    value or an error (EBADMSG), never a crash or a hang, and the mount
    keeps answering."""
    m = shmfs()
    glibc.close(glibc.open(prefix + "h", O_CREAT | O_EXCL, 0o600, 5))
    real = shm(m, "h")
    with open(real, "rb") as f:
        good = f.read()
    fd = os.open(m.path("sem.h"), os.O_RDWR)
    try:
        os.truncate(real, 0)
        assert errno_of(os.pread, fd, 16, 0) == errno.EBADMSG
        assert errno_of(os.write, fd, b"1") == errno.EBADMSG
        assert errno_of(os.write, fd, b"-1") == errno.EBADMSG
        os.truncate(real, 32)  # zeros: a private futex, not shared
        assert errno_of(os.write, fd, b"1") == errno.EBADMSG
        with open(real, "r+b") as f:
            f.write(good)
        assert os.write(fd, b"2") == 1
        assert os.pread(fd, 16, 0) == b"7\n"

        # The race the core guards against, under the running daemon.
        stop = threading.Event()
        outcomes = {}

        def flip():
            with open(real, "r+b") as f:
                while not stop.is_set():
                    f.truncate(0)
                    f.truncate(32)
                    f.seek(0)
                    f.write(good)
                    f.flush()

        t = threading.Thread(target=flip)
        t.start()
        try:
            for i in range(3000):
                op = (lambda: os.write(fd, b"1"), lambda: os.write(fd, b"-1"),
                      lambda: os.pread(fd, 16, 0))[i % 3]
                e = errno_of(op)
                assert e in (0, errno.EBADMSG, errno.EAGAIN), e
                outcomes[e] = outcomes.get(e, 0) + 1
        finally:
            stop.set()
            t.join()
        print("outcomes", outcomes)
        assert m.proc.poll() is None
        # Replaced by a hostile file: the open file keeps its semaphore
        # (as a sem_open handle would); the name is now a plain block.
        with open(real, "r+b") as f:
            f.write(good)
        hostile(real, b"\xff" * 32)
        assert os.write(fd, b"3") == 1
        assert os.pread(fd, 16, 0) == b"8\n"
    finally:
        os.close(fd)
    assert wait_for(lambda: open(m.path("sem.h"), "rb").read() == b"\xff" * 32)
    hostile(real, good)
    assert wait_for(lambda: cat(m.path("sem.h")) == "5\n")
    assert m.proc.poll() is None


def test_nobody_may_not_read_or_post_roots_0600(shmfs, prefix, glibc):
    """As nobody through a root allow_other mount: root's 0600 semaphore
    can be neither read nor posted (nor taken); a 0666 one can be both, as
    sem_open would allow."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    m = shmfs("allow_other")
    glibc.close(glibc.open(prefix + "priv", O_CREAT | O_EXCL, 0o600, 1))
    glibc.close(glibc.open(prefix + "open", O_CREAT | O_EXCL, 0o600, 1))
    os.chmod(shm(m, "open"), 0o666)
    code = r"""
import errno, os, sys
out = []
for p in sys.argv[1:]:
    for how, text in (("r", None), ("w", b"1"), ("w", b"-1")):
        try:
            if how == "r":
                with open(p) as f:
                    out.append(f.read().strip())
            else:
                fd = os.open(p, os.O_WRONLY)
                os.write(fd, text)
                os.close(fd)
                out.append("ok")
        except OSError as e:
            out.append(errno.errorcode[e.errno])
print(" ".join(out))
"""
    r = subprocess.run([sys.executable, "-c", code, m.path("sem.priv"),
                        m.path("sem.open")], user=NOBODY, group=NOBODY,
                       extra_groups=[], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["EACCES"] * 3 + ["1", "ok", "ok"]
    assert word(m, "priv") == (1, 0)
    assert word(m, "open") == (1, 0)
    # Nor may nobody create one in root's name, or remove root's.
    r = subprocess.run(["bash", "-c", "rm -f %s" % m.path("sem.priv")],
                       user=NOBODY, group=NOBODY, extra_groups=[],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and os.path.exists(shm(m, "priv"))


def test_holders_and_lifetime(shmfs, prefix, glibc, peers):
    """The mount's holders xattr names the processes that have the
    semaphore open (sem_open maps it), and a lifetime set through the mount
    removes it when its owner exits, as a block's would."""
    m = shmfs("lifetime_scan=0.3")
    glibc.close(glibc.open(prefix + "l", O_CREAT | O_EXCL, 0o600, 0))
    waiter = peers("wait", prefix + "l")
    assert wait_for(lambda: word(m, "l")[1] == 1)

    def holder_pids():
        # EAGAIN until a scan knows the semaphore; a scan answers for a
        # second, so one made before the waiter opened it may come first
        # (docs/security.md, "Requests").
        try:
            text = os.getxattr(m.path("sem.l"), HOLDERS).decode()
        except BlockingIOError:
            return []
        return [line.split()[0] for line in text.splitlines()]

    assert wait_for(lambda: str(waiter.pid) in holder_pids(), 10)
    assert sh("echo 1 > %s" % m.path("sem.l")) == (0, "")
    assert waiter.wait(timeout=30) == 0
    owner = subprocess.Popen(["sleep", "60"])
    try:
        os.setxattr(m.path("sem.l"), LIFETIME, b"owner=%d" % owner.pid)
        assert os.getxattr(m.path("sem.l"), LIFETIME).startswith(
            b"owner=%d:" % owner.pid)
        assert os.path.exists(shm(m, "l"))
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert wait_for(lambda: not os.path.exists(shm(m, "l")))


def test_cleanup_removes_semaphores_made_through_the_mount(shmfs, prefix,
                                                           glibc):
    """-o cleanup unlinks the semaphores the mount created, and leaves the
    ones sem_open made alone."""
    m = shmfs("cleanup")
    assert sh("echo 1 > %s" % m.path("sem.mine"))[0] == 0
    glibc.close(glibc.open(prefix + "theirs", O_CREAT | O_EXCL, 0o600, 0))
    assert m.close() == 0
    assert not os.path.exists(shm(m, "mine"))
    assert os.path.exists(shm(m, "theirs"))
