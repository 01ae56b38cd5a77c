# SPDX-License-Identifier: MIT
"""core/sem.c against glibc's own sem_open, sem_post, sem_wait and
sem_getvalue (tests/sem_peer.py) both ways: values, waiters woken, no post
lost under concurrent posts and waits, creation byte for byte; hostile and
truncated semaphore files give errors, never a crash (tests/sem_fault.c)."""

import ctypes
import errno
import os
import signal
import stat
import subprocess
import sys

import pytest

from conftest import BUILD, SHM_DIR, err
from mountutil import wait_for
from sem_peer import O_CREAT, O_EXCL, Glibc

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "sem_peer.py")
FAULT = os.path.join(BUILD, "tests", "sem_fault")
DEFAULT_DIR = -1
SEM_SIZE = 32
VALUE_MAX = 2**31 - 1
KEEP = 2**32 - 1  # (uid_t)-1: leave the owner


class State(ctypes.Structure):
    _fields_ = [("value", ctypes.c_uint32), ("waiters", ctypes.c_uint32)]


@pytest.fixture(scope="module")
def lib(lib):
    S = ctypes.POINTER(State)
    proto = {
        "shmblock_sem_file_name": (ctypes.c_ssize_t, [
            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
            ctypes.c_size_t]),
        "shmblock_sem_name": (ctypes.c_char_p, [ctypes.c_char_p,
                                                ctypes.c_char_p]),
        "shmblock_sem_decode": (ctypes.c_int, [ctypes.c_char_p,
                                               ctypes.c_size_t, S]),
        "shmblock_sem_read_fd": (ctypes.c_int, [ctypes.c_int, S]),
        "shmblock_sem_read_at": (ctypes.c_int, [ctypes.c_int,
                                                ctypes.c_char_p, S]),
        "shmblock_sem_post_fd": (ctypes.c_int, [ctypes.c_int,
                                                ctypes.c_uint32, S]),
        "shmblock_sem_post_at": (ctypes.c_int, [ctypes.c_int, ctypes.c_char_p,
                                                ctypes.c_uint32, S]),
        "shmblock_sem_trywait_fd": (ctypes.c_int, [ctypes.c_int,
                                                   ctypes.c_uint32, S]),
        "shmblock_sem_trywait_at": (ctypes.c_int, [
            ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32, S]),
        "shmblock_sem_create_at": (ctypes.c_int, [
            ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint,
            ctypes.c_uint32, ctypes.c_uint32]),
    }
    for fn, (res, args) in proto.items():
        f = getattr(lib, fn)
        f.restype = res
        f.argtypes = args
    return lib


@pytest.fixture(scope="module")
def glibc():
    return Glibc()


@pytest.fixture
def sems(prefix):
    """A factory of fresh semaphore names (sem_open's, without the slash);
    their files sem.NAME are removed when the test ends."""
    counter = iter(range(1 << 30))
    yield lambda: "%s%d" % (prefix, next(counter))
    for n in os.listdir(SHM_DIR):
        if n.startswith("sem." + prefix):
            try:
                os.unlink(os.path.join(SHM_DIR, n))
            except FileNotFoundError:
                pass


def f(name):
    """The file name of semaphore `name`."""
    return ("sem." + name).encode()


def path(name):
    return os.path.join(SHM_DIR, "sem." + name)


def read(lib, name):
    st = State()
    rc = lib.shmblock_sem_read_at(DEFAULT_DIR, f(name), ctypes.byref(st))
    return rc, st.value, st.waiters


def post(lib, name, n):
    return lib.shmblock_sem_post_at(DEFAULT_DIR, f(name), n, None)


def trywait(lib, name, n):
    return lib.shmblock_sem_trywait_at(DEFAULT_DIR, f(name), n, None)


def create(lib, name, value, mode=0o600, uid=KEEP, gid=KEEP):
    return lib.shmblock_sem_create_at(DEFAULT_DIR, f(name), value, mode, uid,
                                      gid)


@pytest.fixture
def peers():
    """Peer processes, killed and reaped when the test ends."""
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


# -- names ------------------------------------------------------------------

def test_file_name_as_glibc(lib):
    out = ctypes.create_string_buffer(300)

    def fname(prefix, name):
        rc = lib.shmblock_sem_file_name(prefix, name, out, len(out))
        return out.value if rc >= 0 else rc

    assert fname(None, b"/jobs") == b"sem.jobs"
    assert fname(b"", b"//jobs") == b"sem.jobs"
    assert fname(None, b"jobs") == b"sem.jobs"
    assert fname(b"P", b"/jobs") == b"sem.Pjobs"
    for bad in (b"", b"/", b"a/b", b"/a/"):
        assert fname(None, bad) == -errno.EINVAL, bad
    assert fname(b"x/", b"a") == -errno.EINVAL
    assert fname(None, b"n" * 251) == b"sem." + b"n" * 251
    assert fname(None, b"n" * 252) == -errno.ENAMETOOLONG
    assert fname(b"pp", b"n" * 250) == -errno.ENAMETOOLONG
    # As snprintf: the length, whatever the buffer.
    assert lib.shmblock_sem_file_name(None, b"jobs", None, 0) == 8

    assert lib.shmblock_sem_name(None, b"sem.jobs") == b"jobs"
    assert lib.shmblock_sem_name(b"P", b"sem.Pjobs") == b"jobs"
    assert lib.shmblock_sem_name(b"P", b"sem.jobs") is None
    assert lib.shmblock_sem_name(None, b"sem.") is None
    assert lib.shmblock_sem_name(b"P", b"sem.P") is None
    assert lib.shmblock_sem_name(None, b"psm_1234") is None


# -- values, both ways ---------------------------------------------------------

def test_values_agree_with_glibc(lib, glibc, sems):
    name = sems()
    sem = glibc.open(name, O_CREAT | O_EXCL, 0o600, 5)
    try:
        assert read(lib, name) == (0, 5, 0)
        glibc.post(sem)
        assert read(lib, name) == (0, 6, 0)
        assert post(lib, name, 3) == 0
        assert glibc.getvalue(sem) == 9
        assert trywait(lib, name, 4) == 0
        assert glibc.getvalue(sem) == 5
        glibc.trywait(sem)
        assert read(lib, name) == (0, 4, 0)
        # The state the operation was applied to.
        before = State()
        assert lib.shmblock_sem_post_at(DEFAULT_DIR, f(name), 1,
                                        ctypes.byref(before)) == 0
        assert (before.value, before.waiters) == (4, 0)
        assert lib.shmblock_sem_trywait_at(DEFAULT_DIR, f(name), 5,
                                           ctypes.byref(before)) == 0
        assert (before.value, before.waiters) == (5, 0)
        assert glibc.getvalue(sem) == 0
    finally:
        glibc.close(sem)


def test_through_descriptors(lib, glibc, sems):
    name = sems()
    sem = glibc.open(name, O_CREAT | O_EXCL, 0o600, 2)
    fd = os.open(path(name), os.O_RDWR)
    ro = os.open(path(name), os.O_RDONLY)
    try:
        st = State()
        assert lib.shmblock_sem_read_fd(ro, ctypes.byref(st)) == 0
        assert st.value == 2
        assert lib.shmblock_sem_post_fd(fd, 7, None) == 0
        assert lib.shmblock_sem_trywait_fd(fd, 3, None) == 0
        assert glibc.getvalue(sem) == 6
        # Posting needs a writable descriptor: a shared writable mapping.
        assert lib.shmblock_sem_post_fd(ro, 1, None) == -errno.EACCES
        assert lib.shmblock_sem_trywait_fd(ro, 1, None) == -errno.EACCES
        assert glibc.getvalue(sem) == 6
    finally:
        os.close(fd)
        os.close(ro)
        glibc.close(sem)


def test_trywait_takes_all_or_nothing(lib, glibc, sems):
    name = sems()
    sem = glibc.open(name, O_CREAT | O_EXCL, 0o600, 2)
    try:
        assert trywait(lib, name, 3) == -errno.EAGAIN
        assert glibc.getvalue(sem) == 2
        assert trywait(lib, name, 2) == 0
        assert trywait(lib, name, 1) == -errno.EAGAIN
        assert glibc.getvalue(sem) == 0
        with pytest.raises(OSError) as e:
            glibc.trywait(sem)
        assert e.value.errno == errno.EAGAIN
        assert trywait(lib, name, 0) == -errno.EINVAL
        assert post(lib, name, 0) == -errno.EINVAL
        assert read(lib, name) == (0, 0, 0)
    finally:
        glibc.close(sem)


def test_overflow_as_sem_post(lib, glibc, sems):
    name = sems()
    assert create(lib, name, VALUE_MAX + 1) == -errno.EINVAL
    assert not os.path.exists(path(name))
    assert create(lib, name, VALUE_MAX - 1) == 0
    sem = glibc.open(name)
    try:
        # All or nothing: two posts would pass SEM_VALUE_MAX.
        assert post(lib, name, 2) == -errno.EOVERFLOW
        assert glibc.getvalue(sem) == VALUE_MAX - 1
        assert post(lib, name, 2**32 - 1) == -errno.EOVERFLOW
        assert post(lib, name, 1) == 0
        assert glibc.getvalue(sem) == VALUE_MAX
        # glibc agrees that the semaphore is full.
        with pytest.raises(OSError) as e:
            glibc.post(sem)
        assert e.value.errno == errno.EOVERFLOW
        assert post(lib, name, 1) == -errno.EOVERFLOW
        assert read(lib, name) == (0, VALUE_MAX, 0)
        assert trywait(lib, name, VALUE_MAX) == 0
        assert glibc.getvalue(sem) == 0
    finally:
        glibc.close(sem)


# -- creation -------------------------------------------------------------------

def test_create_is_what_sem_open_writes(lib, glibc, sems):
    ours, theirs = sems(), sems()
    assert create(lib, ours, 2, 0o640) == 0
    sem = glibc.open(theirs, O_CREAT | O_EXCL, 0o640, 2)
    glibc.close(sem)
    with open(path(ours), "rb") as a, open(path(theirs), "rb") as b:
        assert a.read() == b.read()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path(ours)).st_mode) == 0o640 & ~umask
    assert (stat.S_IMODE(os.stat(path(ours)).st_mode) ==
            stat.S_IMODE(os.stat(path(theirs)).st_mode))

    sem = glibc.open(ours)
    try:
        assert glibc.getvalue(sem) == 2
        glibc.wait(sem)
        assert read(lib, ours) == (0, 1, 0)
    finally:
        glibc.close(sem)


def test_create_never_replaces(lib, glibc, sems):
    name = sems()
    assert create(lib, name, 3) == 0
    ino = os.stat(path(name)).st_ino
    assert create(lib, name, 9) == -errno.EEXIST
    with pytest.raises(OSError) as e:
        glibc.open(name, O_CREAT | O_EXCL, 0o600, 1)
    assert e.value.errno == errno.EEXIST
    assert os.stat(path(name)).st_ino == ino
    assert read(lib, name) == (0, 3, 0)

    other = sems()
    glibc.close(glibc.open(other, O_CREAT | O_EXCL, 0o600, 4))
    assert create(lib, other, 1) == -errno.EEXIST
    assert read(lib, other) == (0, 4, 0)


def test_create_leaves_no_other_name(lib, sems):
    before = set(os.listdir(SHM_DIR))
    name = sems()
    assert create(lib, name, 1, 0o600, 65534, 65534) == 0
    assert set(os.listdir(SHM_DIR)) - before == {"sem." + name}
    st = os.stat(path(name))
    assert (st.st_uid, st.st_gid, st.st_size) == (65534, 65534, SEM_SIZE)
    assert create(lib, b"a/b".decode(), 1) == -errno.EINVAL


def test_create_in_a_directory(lib, glibc, sems, tmp_path):
    d = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert lib.shmblock_sem_create_at(d, b"sem.x", 6, 0o600, KEEP,
                                          KEEP) == 0
        assert lib.shmblock_sem_post_at(d, b"sem.x", 1, None) == 0
        st = State()
        assert lib.shmblock_sem_read_at(d, b"sem.x", ctypes.byref(st)) == 0
        assert st.value == 7
        assert os.listdir(tmp_path) == ["sem.x"]
    finally:
        os.close(d)


# -- waiters ----------------------------------------------------------------------

def test_waiter_wakes_on_post(lib, glibc, sems, peers):
    name = sems()
    assert create(lib, name, 0) == 0
    w = peers("wait", name)
    # Registered in sem_wait: the high half of the word counts it.
    assert wait_for(lambda: read(lib, name) == (0, 0, 1))
    assert w.poll() is None
    assert post(lib, name, 1) == 0
    assert w.wait(timeout=30) == 0
    assert w.stdout.read() == "woke\n"
    assert read(lib, name) == (0, 0, 0)


def test_post_n_wakes_n_waiters(lib, sems, peers):
    name = sems()
    assert create(lib, name, 0) == 0
    ws = [peers("wait", name) for _ in range(3)]
    assert wait_for(lambda: read(lib, name) == (0, 0, 3))
    assert post(lib, name, 2) == 0
    # Two take the two tokens; the third stays registered, asleep.
    assert wait_for(lambda: sum(w.poll() == 0 for w in ws) == 2)
    assert read(lib, name) == (0, 0, 1)
    assert [w.poll() for w in ws].count(None) == 1
    assert post(lib, name, 5) == 0
    for w in ws:
        assert w.wait(timeout=30) == 0
    assert read(lib, name) == (0, 4, 0)


def test_concurrent_posts_and_waits_lose_nothing(lib, glibc, sems, peers):
    """glibc posters and waiters, and our posts and takes, all at once: the
    value at the end is every post less every take."""
    name = sems()
    n = 10000
    assert create(lib, name, 0) == 0
    procs = [peers("posts", name, n), peers("posts", name, n),
             peers("waits", name, n), peers("waits", name, n)]
    taken = posted = 0
    for i in range(n):
        assert post(lib, name, 2) == 0
        posted += 2
        rc = trywait(lib, name, 1 + i % 3)
        assert rc in (0, -errno.EAGAIN), err(rc)
        taken += (1 + i % 3) if rc == 0 else 0
    for p in procs:
        assert p.wait(timeout=120) == 0
    rc, value, waiters = read(lib, name)
    assert (rc, waiters) == (0, 0)
    assert value == 2 * n + posted - 2 * n - taken
    sem = glibc.open(name)
    try:
        assert glibc.getvalue(sem) == value
    finally:
        glibc.close(sem)


# -- replaced, truncated, hostile ------------------------------------------------

def test_replaced_name_and_open_descriptor(lib, glibc, sems):
    """A name is looked up on every call; a descriptor stays with its
    semaphore, as a process that has it open does."""
    name, spare = sems(), sems()
    old = glibc.open(name, O_CREAT | O_EXCL, 0o600, 1)
    fd = os.open(path(name), os.O_RDWR)
    try:
        glibc.close(glibc.open(spare, O_CREAT | O_EXCL, 0o600, 10))
        os.rename(path(spare), path(name))
        assert post(lib, name, 1) == 0
        assert lib.shmblock_sem_post_fd(fd, 5, None) == 0
        assert glibc.getvalue(old) == 6
        assert read(lib, name) == (0, 11, 0)
    finally:
        os.close(fd)
        glibc.close(old)


def write_file(name, data):
    with open(path(name), "wb") as fh:
        fh.write(data)


def word(value, waiters=0, private=128):
    return (value | waiters << 32).to_bytes(8, "little") + \
        private.to_bytes(4, "little") + bytes(20)


@pytest.mark.parametrize("data", [
    b"", bytes(16), bytes(31), bytes(33), bytes(4096),
    word(1, private=0),            # a process-private semaphore (sem_init)
    word(1, private=1),
    word(2**31),                   # past SEM_VALUE_MAX
    word(2**32 - 1, 2**32 - 1),
], ids=["empty", "16", "31", "33", "4096", "private", "private1", "toobig",
     "ones"])
def test_not_a_semaphore(lib, sems, data):
    name = sems()
    write_file(name, data)
    assert read(lib, name)[0] == -errno.EBADMSG
    assert post(lib, name, 1) == -errno.EBADMSG
    assert trywait(lib, name, 1) == -errno.EBADMSG
    with open(path(name), "rb") as fh:
        assert fh.read() == data  # nothing written
    assert lib.shmblock_sem_decode(data, len(data), None) == -errno.EBADMSG


def test_decode(lib):
    st = State()
    assert lib.shmblock_sem_decode(word(7, 3), SEM_SIZE,
                                   ctypes.byref(st)) == 0
    assert (st.value, st.waiters) == (7, 3)
    # pad and the 16 bytes after it are glibc's to ignore.
    data = word(VALUE_MAX, 1)[:12] + b"\xff" * 20
    assert lib.shmblock_sem_decode(data, SEM_SIZE, ctypes.byref(st)) == 0
    assert (st.value, st.waiters) == (VALUE_MAX, 1)
    assert lib.shmblock_sem_decode(None, SEM_SIZE, None) == -errno.EBADMSG


def test_waiters_left_by_a_dead_waiter(lib, glibc, sems):
    """The waiters half a killed waiter leaves behind is read as it is, and
    posts still work (they wake nobody)."""
    name = sems()
    write_file(name, word(0, 2))
    assert read(lib, name) == (0, 0, 2)
    assert post(lib, name, 3) == 0
    sem = glibc.open(name)
    try:
        assert glibc.getvalue(sem) == 3
        glibc.wait(sem)
    finally:
        glibc.close(sem)
    assert read(lib, name) == (0, 2, 2)


def test_not_a_regular_file(lib, sems, tmp_path):
    d, fifo, link, missing = sems(), sems(), sems(), sems()
    os.mkdir(path(d))
    os.mkfifo(path(fifo))
    os.symlink(tmp_path, path(link))
    try:
        assert read(lib, d)[0] == -errno.EINVAL
        assert post(lib, d, 1) == -errno.EISDIR
        # A FIFO is neither waited on nor read.
        assert read(lib, fifo)[0] == -errno.EINVAL
        assert post(lib, fifo, 1) == -errno.EINVAL
        assert trywait(lib, fifo, 1) == -errno.EINVAL
        assert read(lib, link)[0] == -errno.ELOOP
        assert post(lib, link, 1) == -errno.ELOOP
        assert create(lib, link, 1) == -errno.EEXIST
        assert read(lib, missing)[0] == -errno.ENOENT
        assert post(lib, missing, 1) == -errno.ENOENT
        for bad in (b"", b".", b"..", b"a/b"):
            assert lib.shmblock_sem_read_at(DEFAULT_DIR, bad,
                                            None) == -errno.EINVAL
    finally:
        os.rmdir(path(d))


def run_fault(case, name):
    return subprocess.run([FAULT, case, name], capture_output=True,
                          text=True, timeout=120)


def test_guard_turns_a_fault_into_an_error(sems):
    r = run_fault("guard", sems())
    assert r.returncode == 0, r.stderr
    assert r.stdout == "guarded: -14\n" * 3


def ended_by_sigbus(r):
    """The process died of its SIGBUS: by the default action, or, in the
    sanitized build, by AddressSanitizer's handler, which was in place
    before ours and so is the one a SIGBUS that is not ours goes to."""
    if os.environ.get("SHMFS_SANITIZED") and r.returncode == 1:
        return "AddressSanitizer: BUS" in r.stderr
    return r.returncode == -signal.SIGBUS


@pytest.mark.parametrize("case", ["unguarded", "outside", "sent"])
def test_other_sigbus_still_kill(sems, case):
    r = run_fault(case, sems())
    assert ended_by_sigbus(r), (r.returncode, r.stdout, r.stderr)
    assert "survived" not in r.stdout


def test_ignored_sigbus_stays_ignored(sems):
    r = run_fault("ignored", sems())
    assert ended_by_sigbus(r), (r.returncode, r.stdout, r.stderr)
    assert r.stdout.endswith("alive\n")


def test_program_handler_is_chained(sems):
    r = run_fault("chained", sems())
    assert r.returncode == 42
    assert r.stdout.endswith("app handler\n")


def test_truncation_race_never_kills(sems):
    """Posts, takes and guarded reads while another thread truncates the
    semaphore and restores it: errors, never a SIGBUS."""
    r = run_fault("race", sems())
    assert r.returncode == 0, (r.stdout, r.stderr)
    counts = dict(zip(*[iter(r.stdout.split())] * 2))
    assert int(counts["ok"]) >= 1000
    assert int(counts["ebadmsg"]) >= 1000
    assert int(counts["faults"]) >= 100
