# SPDX-License-Identifier: MIT
"""The mount for every user: readiness (systemd's notification protocol
against a test socket standing in for NOTIFY_SOCKET, and the background
parent that exits only once the mount answers), and what nobody gets through
a root mount with allow_other: the blocks' own pages (a mapping through the
mount and a SharedMemory attached by name, LMDB opened both ways), or a loud
refusal where the mount can't give them.  The unit file and the fstab mount
of an installed daemon are in test_install.py."""

import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import SHM_DIR
from mountutil import SHMFS, daemon_pids, wait_gone

NOBODY = 65534


@pytest.fixture
def notify_socket():
    """A datagram socket where the daemon sends its sd_notify states, with
    the sender's credentials attached (as systemd reads them)."""
    d = tempfile.mkdtemp(prefix="shmfs-notify-")
    path = os.path.join(d, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    yield s, path
    s.close()
    os.unlink(path)
    os.rmdir(d)


def receive(sock, timeout=30):
    """(message, sender pid) of the next datagram, or (None, None)."""
    sock.settimeout(timeout)
    try:
        msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
    except (socket.timeout, BlockingIOError):
        return None, None
    pid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
    return msg.decode(), pid


def states(msg):
    """The fields of one sd_notify message: {"READY": "1", "STATUS": ...}."""
    return dict(line.split("=", 1) for line in msg.split("\n") if line)


def built_with_sd_notify():
    r = subprocess.run([SHMFS, "--version"], capture_output=True, text=True)
    return "(sd_notify): yes" in r.stdout


@pytest.fixture
def sd_notify():
    # scripts/deps installs libsystemd-dev: a build without it is a broken
    # setup here, not a reason to skip.
    assert built_with_sd_notify(), "shmfs built without libsystemd"


@pytest.fixture
def mountpoint():
    d = tempfile.mkdtemp(prefix="shmfs-mnt-")
    yield d
    pids = daemon_pids(d)
    if os.path.ismount(d):
        subprocess.run(["fusermount3", "-u", d], check=False)
    if not wait_gone(pids):
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    if os.path.ismount(d):
        subprocess.run(["umount", "-l", d], check=False)
    os.rmdir(d)


def test_ready_and_stopping_in_the_foreground(sd_notify, notify_socket,
                                              mountpoint, prefix):
    sock, path = notify_socket
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([SHMFS, "-f", "-o", "prefix=" + prefix,
                             mountpoint], stdout=log, stderr=log,
                            env=dict(os.environ, NOTIFY_SOCKET=path))
    try:
        msg, pid = receive(sock)
        assert states(msg)["READY"] == "1"
        assert pid == proc.pid      # the main process: NotifyAccess=main
        # Ready means the mount answers now, and the data path is known.
        assert os.path.ismount(mountpoint)
        with open(os.path.join(mountpoint, "r"), "wb") as f:
            f.write(b"ready")
        assert os.path.exists(os.path.join(SHM_DIR, prefix + "r"))
        log.seek(0)
        assert "data path:" in log.read()
        proc.send_signal(signal.SIGTERM)
        msg, pid = receive(sock)
        assert states(msg)["STOPPING"] == "1" and pid == proc.pid
        assert proc.wait(timeout=30) == 0
        assert not os.path.ismount(mountpoint)
        assert receive(sock, timeout=0.2) == (None, None)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_background_parent_exits_once_ready(sd_notify, notify_socket,
                                            mountpoint, prefix):
    """`shmfs DIR && ls DIR` can't race: when the command returns, READY=1
    has been sent and the data path line has been printed."""
    sock, path = notify_socket
    r = subprocess.run([SHMFS, "-o", "prefix=" + prefix, mountpoint],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, NOTIFY_SOCKET=path))
    assert r.returncode == 0, r.stderr
    msg, pid = receive(sock, timeout=0)
    assert states(msg)["READY"] == "1"
    assert daemon_pids(mountpoint) == [pid]
    assert "data path:" in r.stderr
    assert os.listdir(mountpoint) == []
    subprocess.run(["fusermount3", "-u", mountpoint], check=True)
    assert wait_gone([pid])
    assert states(receive(sock)[0])["STOPPING"] == "1"


def test_status_says_what_is_mounted_and_counts_blocks(sd_notify,
                                                      notify_socket,
                                                      mountpoint, prefix):
    """READY=1 comes with a STATUS= line for `systemctl status`: the shm
    directory, the mount point, the data path the daemon logged, and the
    blocks the mount shows: those of its prefix, counted against the
    directory itself, and its sem.PREFIX* files (issue 26: an empty one is
    no semaphore, a plain block shown as sem.s); another prefix's are not."""
    sock, path = notify_socket
    for i in range(3):
        with open(os.path.join(SHM_DIR, "%sb%d" % (prefix, i)), "wb"):
            pass
    with open(os.path.join(SHM_DIR, "sem." + prefix + "s"), "wb"):
        pass
    with open(os.path.join(SHM_DIR, "sem.x" + prefix + "s"), "wb"):
        pass
    try:
        r = subprocess.run([SHMFS, "-o", "prefix=" + prefix, mountpoint],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, NOTIFY_SOCKET=path))
        assert r.returncode == 0, r.stderr
        status = states(receive(sock, timeout=0)[0])["STATUS"]
        shown = [n for n in os.listdir(SHM_DIR) if n.startswith(prefix)]
        assert sorted(os.listdir(mountpoint)) == ["b0", "b1", "b2", "sem.s"]
        assert len(shown) == 3
        assert status.startswith("%s mounted at %s, prefix %s; " %
                                 (SHM_DIR, mountpoint, prefix))
        assert status.endswith("; 4 blocks")
        # The data path is the one the daemon printed when ready.
        line = [x for x in r.stderr.splitlines() if "data path:" in x][0]
        path_kind = line.split("data path: ", 1)[1].split(";")[0]
        assert "data path: " + path_kind.split(" (")[0] in status
        subprocess.run(["fusermount3", "-u", mountpoint], check=True)
        msg = states(receive(sock)[0])
        assert msg == {"STOPPING": "1", "STATUS": "unmounting"}
    finally:
        os.unlink(os.path.join(SHM_DIR, "sem." + prefix + "s"))
        os.unlink(os.path.join(SHM_DIR, "sem.x" + prefix + "s"))
        for i in range(3):
            os.unlink(os.path.join(SHM_DIR, "%sb%d" % (prefix, i)))


def test_background_without_notify_socket(mountpoint, prefix):
    """Without NOTIFY_SOCKET the daemon runs as before; a bad mount still
    fails in the parent, with the reason on its stderr."""
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    r = subprocess.run([SHMFS, "-o", "prefix=" + prefix, mountpoint],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    assert os.path.ismount(mountpoint)
    subprocess.run(["fusermount3", "-u", mountpoint], check=True)
    r = subprocess.run([SHMFS, "-o", "shmdir=/nonexistent", mountpoint],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode != 0 and "shm directory" in r.stderr


# --- as nobody through a root mount with allow_other ------------------------

def as_nobody(script, *args, timeout=120):
    """Runs a Python script as uid/gid 65534; returns its stdout."""
    r = subprocess.run([sys.executable, "-c", script, *args], user=NOBODY,
                       group=NOBODY, extra_groups=[], capture_output=True,
                       text=True, timeout=timeout, cwd="/")
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def shared_mount(shmfs):
    """A root mount for every user, as the unit makes it."""
    if os.geteuid() != 0:
        pytest.skip("needs root")

    def start(*options):
        m = shmfs("allow_other", *options)
        # The data path is logged when the mount is ready, before any open.
        assert wait_logged(m) is not None, m.stderr()
        return m
    return start


def wait_logged(m, timeout=10):
    """The mount's data path line: logged when the mount is ready, which can
    be a moment after the mount point shows."""
    deadline = time.monotonic() + timeout
    while m.mode() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return m.mode()


def passthrough_mount(shared_mount):
    m = shared_mount()
    if m.mode() != "passthrough":
        pytest.skip("no kernel passthrough here:\n" + m.stderr())
    return m


_MAPPING = r"""
import mmap, os, sys
from multiprocessing import shared_memory, resource_tracker
mount_path, name, size = sys.argv[1], sys.argv[2], 1 << 16
shm = shared_memory.SharedMemory(name=name, create=True, size=size)
resource_tracker.unregister(shm._name, "shared_memory")
fd = os.open(mount_path, os.O_RDWR)
mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
os.close(fd)
for i in range(1000):
    mm[i * 8:i * 8 + 8] = b"%08d" % i          # mount -> SharedMemory
    assert bytes(shm.buf[i * 8:i * 8 + 8]) == b"%08d" % i
    shm.buf[size - 8:] = b"%08d" % (i * 7)     # SharedMemory -> mount
    assert mm[size - 8:] == b"%08d" % (i * 7)
mm.close()
shm.close()
# And a block made through the mount, attached by name.
fd = os.open(mount_path + "-made", os.O_RDWR | os.O_CREAT, 0o600)
os.ftruncate(fd, size)
mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
os.close(fd)
shm = shared_memory.SharedMemory(name=name + "-made")
resource_tracker.unregister(shm._name, "shared_memory")
mm[:4] = b"ping"
assert bytes(shm.buf[:4]) == b"ping"
shm.buf[4:8] = b"pong"
assert mm[4:8] == b"pong"
mm.close()
shm.close()
print(os.stat(mount_path + "-made").st_uid)
"""


def test_nobody_mapping_and_sharedmemory_share_pages(shared_mount, prefix):
    m = passthrough_mount(shared_mount)
    out = as_nobody(_MAPPING, m.path("nb"), prefix + "nb")
    assert int(out) == NOBODY
    assert os.stat(m.block("nb-made")).st_uid == NOBODY


_REFUSED = r"""
import errno, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
os.ftruncate(fd, 4096)
try:
    mmap.mmap(fd, 4096, flags=mmap.MAP_SHARED)
    print("mapped")
except OSError as e:
    print(errno.errorcode[e.errno])
"""


def test_nobody_gets_a_refusal_not_a_copy_without_passthrough(shared_mount):
    m = shared_mount("nopassthrough")
    assert m.mode() == "fallback"
    assert as_nobody(_REFUSED, m.path("nc")).strip() == "ENODEV"


# Opens one LMDB environment (a file and its "-lock" file: a mount is flat)
# and adds 1 to one counter `count` times, each in its own write transaction.
# LMDB keeps its reader table and writer mutex (a robust, process-shared
# pthread mutex) in a MAP_SHARED mapping of the lock file, maps the data
# file MAP_SHARED, and writes it with pwrite.  "hold" opens it and waits.
_LMDB = r"""
import sys
import lmdb
path, count = sys.argv[1], int(sys.argv[2])
env = lmdb.open(path, subdir=False, map_size=1 << 26, max_dbs=0, sync=False,
                metasync=False, lock=True)
if count == 0:
    print("ready", flush=True)
    sys.stdin.read()
    sys.exit(0)
for _ in range(count):
    with env.begin(write=True) as txn:
        txn.put(b"c", b"%d" % (int(txn.get(b"c", b"0")) + 1))
with env.begin() as txn:
    print(int(txn.get(b"c")))
"""


def nobody_popen(*args):
    return subprocess.Popen([sys.executable, "-c", _LMDB, *args], user=NOBODY,
                            group=NOBODY, extra_groups=[], cwd="/",
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_lmdb_through_the_mount_and_directly_loses_no_update(shared_mount,
                                                             prefix):
    pytest.importorskip("lmdb")
    m = passthrough_mount(shared_mount)
    via_mount, direct = m.path("db"), m.block("db")
    procs, holders = 6, []
    each = 300
    try:
        # LMDB's first opener (it gets an exclusive fcntl lock on the lock
        # file) initialises the lock table.  fcntl locks through the mount
        # are the FUSE inode's, not the block's, so each side would see
        # itself first: one holder per side opens it before any writer.
        for path in (via_mount, direct):
            h = nobody_popen(path, "0")
            holders.append(h)
            assert h.stdout.readline().strip() == "ready", h.stderr.read()
        workers = [nobody_popen(via_mount if i % 2 else direct, str(each))
                   for i in range(procs)]
        for w in workers:
            _, errs = w.communicate(timeout=300)
            assert w.returncode == 0, errs
        check = as_nobody(_LMDB, direct, "1")
        assert int(check) == procs * each + 1
    finally:
        for h in holders:
            if h.poll() is None:
                h.stdin.close()
                try:
                    h.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    h.kill()
                    h.wait()


def test_lmdb_through_a_fallback_mount_fails_loudly(shared_mount, prefix):
    """Without passthrough, LMDB's shared mapping is refused at open rather
    than silently served from a copy that loses updates."""
    pytest.importorskip("lmdb")
    m = shared_mount("nopassthrough")
    r = subprocess.run([sys.executable, "-c", _LMDB, m.path("db"), "1"],
                       user=NOBODY, group=NOBODY, extra_groups=[], cwd="/",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "No such device" in r.stderr or "ENODEV" in r.stderr, r.stderr
