# SPDX-License-Identifier: MIT
"""The manager: every block and list made through it is unlinked at shutdown
and when its owner dies (SIGKILL, plain exit), and nothing else ever is."""

import ctypes
import errno
import os
import secrets
import signal
import subprocess
import sys

import pytest

from conftest import SHM_DIR, SHMBLOCK_DEFAULT_DIR
from mountutil import wait_for
from slist_ctypes import CList, check, load, values_array

TESTS = os.path.dirname(os.path.abspath(__file__))
PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture(autouse=True)
def no_mount_left_behind():
    """Replaces conftest's check: these tests mount nothing, and on a
    machine shared with other test runs a mount that appears meanwhile is
    theirs, not a leftover to fail on (and unmount)."""
    yield


@pytest.fixture(scope="module")
def slib():
    return load()


@pytest.fixture
def mgr(slib):
    h = ctypes.c_void_p()
    check(slib.shmblock_manager_start(ctypes.byref(h)), "manager_start")
    state = {"h": h}
    yield state
    if state["h"] is not None:
        slib.shmblock_manager_shutdown(state["h"])


def shutdown(slib, state):
    rc = slib.shmblock_manager_shutdown(state["h"])
    state["h"] = None
    return rc


def exists(name, directory=SHM_DIR):
    return os.path.exists(os.path.join(directory, name))


def make_block(slib, mgr, name, size=64, dirfd=SHMBLOCK_DEFAULT_DIR):
    blk = ctypes.c_void_p()
    rc = slib.shmblock_manager_create_block(mgr["h"], dirfd, name.encode() if name else None,
                                            size, 0o600, 0, ctypes.byref(blk))
    return rc, blk


def make_list(slib, mgr, name, values, dirfd=SHMBLOCK_DEFAULT_DIR):
    h = ctypes.c_void_p()
    arr = values_array(values)
    rc = slib.shmblock_manager_create_slist(mgr["h"], dirfd, name.encode() if name else None,
                                            arr, len(values), 0o600, ctypes.byref(h))
    return rc, CList(slib, h)


def test_shutdown_unlinks_what_it_made(slib, mgr, names):
    a, b = names(), names()
    rc, blk = make_block(slib, mgr, a)
    assert rc == 0
    rc, sl = make_list(slib, mgr, b, [1, "two", None])
    assert rc == 0
    rc, fresh = make_block(slib, mgr, None)
    assert rc == 0
    fresh_name = slib.shmblock_name(fresh).decode()
    other = names()
    with open(os.path.join(SHM_DIR, other), "wb") as f:
        f.write(b"someone else's")
    assert exists(a) and exists(b) and exists(fresh_name)
    pid = slib.shmblock_manager_pid(mgr["h"])
    assert shutdown(slib, mgr) == 3
    assert not exists(a) and not exists(b) and not exists(fresh_name)
    assert exists(other)
    # The helper was reaped: its pid is gone, not a zombie.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # Handles stay usable after their blocks are unlinked.
    assert sl[1] == "two"
    sl.close()
    slib.shmblock_close(blk)
    slib.shmblock_close(fresh)


def test_never_unlinks_a_replaced_name(slib, mgr, names):
    name = names()
    rc, blk = make_block(slib, mgr, name)
    assert rc == 0
    slib.shmblock_close(blk)
    os.unlink(os.path.join(SHM_DIR, name))
    with open(os.path.join(SHM_DIR, name), "wb") as f:   # same name, other file
        f.write(b"not the manager's")
    assert shutdown(slib, mgr) == 0
    assert exists(name)


def test_blocks_in_another_directory(slib, mgr, tmp_path):
    dirfd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        rc, blk = make_block(slib, mgr, "blk", dirfd=dirfd)
        assert rc == 0
        slib.shmblock_close(blk)
        rc, sl = make_list(slib, mgr, "lst", [1.5], dirfd=dirfd)
        assert rc == 0
        sl.close()
        (tmp_path / "mine").write_bytes(b"x")
    finally:
        os.close(dirfd)   # the helper holds its own descriptor
    assert sorted(os.listdir(tmp_path)) == ["blk", "lst", "mine"]
    assert shutdown(slib, mgr) == 2
    assert os.listdir(tmp_path) == ["mine"]


def test_create_errors_leave_nothing(slib, mgr, names):
    name = names()
    assert make_block(slib, mgr, name, size=0)[0] == -errno.EINVAL
    assert make_block(slib, mgr, "bad/name")[0] == -errno.EINVAL
    rc, blk = make_block(slib, mgr, name)
    assert rc == 0
    slib.shmblock_close(blk)
    assert make_block(slib, mgr, name)[0] == -errno.EEXIST
    empty_name, bad_name = names(), names()
    rc, sl = make_list(slib, mgr, empty_name, [])
    assert rc == 0
    sl.close()
    bad = values_array([1])
    bad[0].type = 42
    h = ctypes.c_void_p()
    assert slib.shmblock_manager_create_slist(mgr["h"], SHMBLOCK_DEFAULT_DIR, bad_name.encode(),
                                              bad, 1, 0o600, ctypes.byref(h)) == -errno.EINVAL
    assert not exists(bad_name)
    assert shutdown(slib, mgr) == 2
    assert not exists(name)


def test_helper_gone_gives_epipe(slib, mgr, names):
    pid = slib.shmblock_manager_pid(mgr["h"])
    os.kill(pid, signal.SIGKILL)
    name = names()
    assert make_block(slib, mgr, name)[0] == -errno.EPIPE
    assert not exists(name)           # a block it could not register is removed
    assert shutdown(slib, mgr) == -errno.EPIPE


def test_helper_keeps_no_unrelated_descriptors(slib, names, tmp_path):
    leak = os.open(str(tmp_path / "inheritable"), os.O_CREAT | os.O_RDWR, 0o600)
    os.set_inheritable(leak, True)
    h = ctypes.c_void_p()
    try:
        check(slib.shmblock_manager_start(ctypes.byref(h)), "start")
    finally:
        os.close(leak)
    try:
        pid = slib.shmblock_manager_pid(h)
        fd_dir = "/proc/%d/fd" % pid

        def targets():
            out = []
            for fd in os.listdir(fd_dir):
                try:
                    out.append(os.readlink(os.path.join(fd_dir, fd)))
                except FileNotFoundError:   # closed while we looked
                    out.append("closing")
            return sorted(out)

        # Wait until the helper has detached (its fds settle), then look.
        assert wait_for(lambda: all(not t.endswith("inheritable") and t != "closing"
                                    for t in targets()), 20)
        got = targets()
        assert got.count("/dev/null") == 3
        assert any(t.startswith("socket:") for t in got)
        assert len(got) <= 5, got        # 0-2, the socket, the /dev/shm directory
        # Its own session: a terminal's signals don't reach it.
        assert os.getsid(pid) == pid
    finally:
        assert slib.shmblock_manager_shutdown(h) == 0


STD_OWNER = r"""
import ctypes, os, sys
sys.path.insert(0, %(tests)r)
from slist_ctypes import load
lib = load()
m = ctypes.c_void_p()
assert lib.shmblock_manager_start(ctypes.byref(m)) == 0
# The helper answers a registration only after it has detached.
blk = ctypes.c_void_p()
assert lib.shmblock_manager_create_block(m, -1, sys.argv[1].encode(), 64, 0o600, 0,
                                         ctypes.byref(blk)) == 0
print(lib.shmblock_manager_pid(m), flush=True)
sys.stdin.read()
print(lib.shmblock_manager_shutdown(m), flush=True)
"""


def test_helper_std_descriptors_are_dev_null(names):
    """An owner with only 0-2 open gets the socket pair as 3 and 4: the
    helper's /dev/null must not land on 3 and be replaced by the socket."""
    owner = subprocess.Popen([sys.executable, "-c", STD_OWNER % {"tests": TESTS}, names()],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        line = owner.stdout.readline()
        assert line, owner.stderr.read().decode()
        fd_dir = "/proc/%d/fd" % int(line)
        std = [os.readlink(os.path.join(fd_dir, str(fd))) for fd in range(3)]
        assert std == ["/dev/null"] * 3
        assert os.readlink(os.path.join(fd_dir, "3")).startswith("socket:")
    finally:
        out, err = owner.communicate(timeout=30)
    assert owner.returncode == 0, err.decode()
    assert out.split() == [b"1"]


def xattrs(path):
    return {k: os.getxattr(path, k) for k in os.listxattr(path)}


def rebuild_by_hand(name, extra=b"", keep_xattrs=True):
    """Does what the mount does to append to a list: a copy under a hidden
    temporary name (with the user.* xattrs), exchanged in, the old unlinked."""
    path = os.path.join(SHM_DIR, name)
    tmp = os.path.join(SHM_DIR, "%s.shmfs-tmp-%s" % (name, secrets.token_hex(4)))
    with open(path, "rb") as f:
        data = f.read()
    with open(tmp, "xb") as f:
        f.write(data + extra)
    if keep_xattrs:
        for k, v in xattrs(path).items():
            os.setxattr(tmp, k, v)
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    if libc.renameat2(AT_FDCWD, tmp.encode(), AT_FDCWD, path.encode(), RENAME_EXCHANGE):
        raise OSError(ctypes.get_errno(), "renameat2")
    os.unlink(tmp)                       # now the old file
    return os.stat(path).st_ino


def test_blocks_carry_an_id(slib, mgr, names):
    a, b = names(), names()
    rc, blk = make_block(slib, mgr, a)
    assert rc == 0
    slib.shmblock_close(blk)
    rc, sl = make_list(slib, mgr, b, [1])
    assert rc == 0
    sl.close()
    ids = [os.getxattr(os.path.join(SHM_DIR, n), "user.shmblock.id") for n in (a, b)]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert ids[0] != ids[1]
    assert shutdown(slib, mgr) == 2


def test_follows_a_rebuilt_list(slib, mgr, names):
    name, plain = names(), names()
    rc, sl = make_list(slib, mgr, name, [1, "two"])
    assert rc == 0
    sl.close()
    rc, blk = make_block(slib, mgr, plain)
    assert rc == 0
    slib.shmblock_close(blk)
    before = os.stat(os.path.join(SHM_DIR, name)).st_ino
    assert rebuild_by_hand(name, b"\0" * 16) != before
    assert rebuild_by_hand(name, b"\0" * 16) != before   # and again
    assert rebuild_by_hand(plain) is not None
    assert shutdown(slib, mgr) == 2
    assert not exists(name) and not exists(plain)


@pytest.mark.parametrize("their_id", [None, b"0" * 32, b"short"])
def test_never_unlinks_someone_elses_block_under_its_name(slib, mgr, names, their_id):
    name = names()
    rc, sl = make_list(slib, mgr, name, [1, "two"])
    assert rc == 0
    sl.close()
    path = os.path.join(SHM_DIR, name)
    os.unlink(path)
    with open(path, "wb") as f:          # same name, someone else's file
        f.write(b"not the manager's")
    if their_id is not None:
        os.setxattr(path, "user.shmblock.id", their_id)
    assert shutdown(slib, mgr) == 0
    assert exists(name)


def test_a_rebuild_without_the_id_is_not_followed(slib, mgr, names):
    """A copy swapped in without the id xattr is a new file to the helper:
    only (st_dev, st_ino) or the id identify the manager's block."""
    name = names()
    rc, blk = make_block(slib, mgr, name)
    assert rc == 0
    slib.shmblock_close(blk)
    rebuild_by_hand(name, keep_xattrs=False)
    assert shutdown(slib, mgr) == 0
    assert exists(name)


OWNER = r"""
import ctypes, os, sys, time
sys.path.insert(0, %(tests)r)
from slist_ctypes import load, values_array
lib = load()
prefix, how = sys.argv[1], sys.argv[2]
m = ctypes.c_void_p()
assert lib.shmblock_manager_start(ctypes.byref(m)) == 0
blk = ctypes.c_void_p()
for k in range(2):
    assert lib.shmblock_manager_create_block(m, -1, ("%%smgr%%d" %% (prefix, k)).encode(),
                                             4096, 0o600, 0, ctypes.byref(blk)) == 0
sl = ctypes.c_void_p()
arr = values_array([1, "x", None])
assert lib.shmblock_manager_create_slist(m, -1, (prefix + "mgrlist").encode(), arr, 3,
                                         0o600, ctypes.byref(sl)) == 0
print(lib.shmblock_manager_pid(m), flush=True)
if how == "exit":
    os._exit(0)
time.sleep(600)
"""


@pytest.fixture
def subreaper():
    """Makes this process the reaper of orphaned descendants, so a helper
    whose owner died becomes our child and its exit status can be checked."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) failed")
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.mark.parametrize("how", ["sigkill", "exit"])
def test_owner_death_releases_blocks(prefix, subreaper, how):
    theirs = prefix + "mgr-not-mine"
    with open(os.path.join(SHM_DIR, theirs), "wb") as f:
        f.write(b"made by someone else with the same prefix")
    env = dict(os.environ)
    owner = subprocess.Popen([sys.executable, "-c", OWNER % {"tests": TESTS}, prefix, how],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = owner.stdout.readline()
    assert line, owner.stderr.read().decode()
    helper = int(line)
    made = [prefix + "mgr0", prefix + "mgr1", prefix + "mgrlist"]
    if how == "sigkill":
        assert all(exists(n) for n in made)
        owner.send_signal(signal.SIGKILL)
    # The helper must not hold the owner's pipes: EOF comes with the owner.
    out, err = owner.communicate(timeout=30)
    assert owner.returncode == (-signal.SIGKILL if how == "sigkill" else 0), err.decode()

    status = {}

    def helper_exited():
        pid, st = os.waitpid(helper, os.WNOHANG)
        if pid:
            status["st"] = st
        return bool(pid)

    assert wait_for(helper_exited, 20), "helper still running"
    assert os.WIFEXITED(status["st"]) and os.WEXITSTATUS(status["st"]) == 0
    assert not any(exists(n) for n in made)
    assert exists(theirs)
