# SPDX-License-Identifier: MIT
"""The daemon's command line and life: signals, fusermount3 -u, going to the
background, mount -t fuse.shmfs and fstab, --help/--version, bad options,
-s, and -o cleanup (the manager's role)."""

import errno
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from multiprocessing import shared_memory

import pytest

from conftest import fuse_mounts, untrack
from mountutil import SHMFS, daemon_pids, errno_of, wait_gone


@pytest.fixture
def mountpoint():
    d = tempfile.mkdtemp(prefix="shmfs-mnt-")
    yield d
    if os.path.ismount(d):
        subprocess.run(["fusermount3", "-u", d], check=False)
    if os.path.ismount(d):
        subprocess.run(["umount", "-l", d], check=False)
    for pid in daemon_pids(d):
        os.kill(pid, signal.SIGKILL)
    os.rmdir(d)


def wait_unmounted(path, timeout=10):
    deadline = time.monotonic() + timeout
    while os.path.ismount(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_unmounts_cleanly(shmfs, sig):
    m = shmfs()
    with open(m.path("f"), "wb") as f:
        f.write(b"f")
    m.proc.send_signal(sig)
    assert m.proc.wait(timeout=30) == 0, m.stderr()
    assert not os.path.ismount(m.dir)
    assert m.stderr_problems() == []


def test_signal_with_an_open_file(shmfs):
    m = shmfs()
    f = open(m.path("f"), "wb")
    try:
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(timeout=30) == 0, m.stderr()
    finally:
        try:
            f.close()
        except OSError:
            pass
    assert wait_unmounted(m.dir)


def threads_waiting_in(pid, wchan):
    n = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/wchan" % (pid, t)) as f:
                n += f.read() == wchan
        except OSError:
            pass
    return n


def test_a_killed_daemon_never_leaves_the_mount_hanging(shmfs, prefix):
    """SIGKILL while the watch thread's notification waits for the top
    level's lock, which a create holds while it waits for the daemon (its
    one worker is busy): that thread can't die, so without the guardian
    /dev/fuse stayed open and the create, the daemon and every later user
    of the mount hung for good.  The guardian cuts the connection: the
    create fails (ECONNABORTED, or ENOTCONN under ASan here) and the daemon
    is reaped."""
    big = shared_memory.ShareableList(list(range(3000000)), name=prefix + "big")
    untrack(big.shm)
    os.close(os.open("/dev/shm/" + prefix + "outside", os.O_CREAT, 0o600))
    m = shmfs("max_threads=1")
    guards = daemon_pids(m.dir, guardians=True)
    assert len(guards) == 1
    done = {}

    def call(key, fn):
        try:
            fn()
            done[key] = "ok"
        except OSError as e:
            done[key] = errno.errorcode[e.errno]

    def render():
        with open(m.path("big", ".json")) as f:
            f.read(1)

    def create():
        os.close(os.open(m.path("made"), os.O_CREAT | os.O_RDWR, 0o600))

    threads = [threading.Thread(target=call, args=("render", render))]
    threads[0].start()
    try:
        time.sleep(0.2)
        threads.append(threading.Thread(target=call, args=("create", create)))
        threads[1].start()
        time.sleep(0.1)
        # A block going outside: the watch drops its name (a name created
        # outside needs no invalidation, so it would not wait).
        os.unlink("/dev/shm/" + prefix + "outside")
        deadline = time.monotonic() + 10
        while not threads_waiting_in(m.proc.pid, "fuse_reverse_inval_entry"):
            assert "create" not in done and time.monotonic() < deadline, \
                "the create was answered first: the render was too quick"
            time.sleep(0.01)
        m.proc.kill()
        assert m.proc.wait(timeout=20) == -signal.SIGKILL
        for t in threads:
            t.join(20)
        # Aborted while waiting, or refused once the connection was cut.
        assert done.get("create") in ("ECONNABORTED", "ENOTCONN"), done
        assert wait_gone(guards)
    finally:
        m.abort()
        m.close()
        for t in threads:
            t.join(20)
        big.shm.close()
        for name in ("big", "outside", "made"):
            try:
                os.unlink("/dev/shm/" + prefix + name)
            except OSError:
                pass


def test_the_guardian_goes_with_the_daemon(shmfs):
    m = shmfs()
    guards = daemon_pids(m.dir, guardians=True)
    assert len(guards) == 1
    with open("/proc/%d/stat" % guards[0]) as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == m.proc.pid
    assert m.close() == 0
    assert wait_gone(guards)


def test_fusermount_unmounts(shmfs):
    m = shmfs()
    os.listdir(m.dir)
    subprocess.run(["fusermount3", "-u", m.dir], check=True)
    assert m.proc.wait(timeout=30) == 0
    assert not os.path.ismount(m.dir)


def test_goes_to_the_background(mountpoint, prefix):
    r = subprocess.run([SHMFS, "-o", "prefix=" + prefix, mountpoint],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert os.path.ismount(mountpoint)
    pids = daemon_pids(mountpoint)
    assert len(pids) == 1
    with open(os.path.join(mountpoint, "bg"), "wb") as f:
        f.write(b"bg")
    assert os.path.exists("/dev/shm/" + prefix + "bg")
    subprocess.run(["fusermount3", "-u", mountpoint], check=True)
    assert wait_gone(pids)


def test_single_threaded(shmfs):
    m = shmfs(extra_args=("-s",))
    for i in range(20):
        with open(m.path("s%d" % i), "wb") as f:
            f.write(b"s" * i)
    assert len(os.listdir(m.dir)) == 20


def test_debug_output(shmfs):
    m = shmfs(extra_args=("-d",))
    os.listdir(m.dir)
    m.close()
    assert "OPENDIR" in m.stderr() or "opendir" in m.stderr().lower()
    # -d traces are not errors; don't let the fixture judge them.
    m.log.truncate(0)


def shmfs_in_mount_path():
    """True when mount(8)'s helper finds `shmfs` by name (installed)."""
    r = subprocess.run(["/bin/sh", "-c", "command -v shmfs"],
                       capture_output=True, env={"PATH": os.defpath})
    return r.returncode == 0


def check_mounted(mountpoint, prefix):
    assert os.path.ismount(mountpoint)
    with open("/proc/self/mounts") as f:
        line = [l for l in f if " %s " % mountpoint in l][0]
    assert line.split()[:3] == ["shmfs", mountpoint, "fuse.shmfs"]
    shm = shared_memory.SharedMemory(name=prefix + "fs", create=True,
                                     size=10)
    untrack(shm)
    shm.close()
    assert os.listdir(mountpoint) == ["fs"]
    with open(os.path.join(mountpoint, "m"), "wb") as f:
        f.write(b"m")
    assert os.path.exists("/dev/shm/" + prefix + "m")
    pids = daemon_pids(mountpoint)
    assert len(pids) == 1
    subprocess.run(["umount", mountpoint], check=True)
    assert wait_gone(pids)


@pytest.fixture
def as_root():
    if os.geteuid() != 0:
        pytest.skip("mount(8) needs root")


def test_mount_t_fuse_shmfs(as_root, mountpoint, prefix):
    """mount -t fuse.shmfs shmfs DIR, where shmfs is installed; the
    uninstalled build is mounted with mount.fuse3's PROGRAM#SOURCE form,
    which takes the same path through mount.fuse3 (source argument first)."""
    if shmfs_in_mount_path():
        argv = ["mount", "-t", "fuse.shmfs", "-o", "prefix=" + prefix,
                "shmfs", mountpoint]
    else:
        argv = ["mount", "-t", "fuse", "-o", "prefix=" + prefix,
                SHMFS + "#shmfs", mountpoint]
    r = subprocess.run(argv, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    check_mounted(mountpoint, prefix)


def test_mount_from_fstab(as_root, mountpoint, prefix, tmp_path):
    fstab = tmp_path / "fstab"
    if shmfs_in_mount_path():
        line = "shmfs %s fuse.shmfs prefix=%s,noauto 0 0\n"
    else:
        line = SHMFS + "#shmfs %s fuse prefix=%s,noauto 0 0\n"
    fstab.write_text(line % (mountpoint, prefix))
    r = subprocess.run(["mount", "--fstab", str(fstab), mountpoint],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    check_mounted(mountpoint, prefix)


def test_help_and_version():
    r = subprocess.run([SHMFS, "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    assert "prefix=" in r.stdout and "shmdir=" in r.stdout
    r = subprocess.run([SHMFS, "--version"], capture_output=True, text=True)
    assert r.returncode == 0
    assert "shmfs version" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["-o", "bogus_option"], "unknown option"),
    (["-o", "shmdir=/nonexistent/dir"], "shm directory"),
    (["-o", "timeout=-1"], "timeout"),
    # libfuse would turn these into undefined seconds and nanoseconds.
    (["-o", "timeout=nan"], "timeout"),
    (["-o", "timeout=inf"], "timeout"),
    (["-o", "timeout=1e300"], "timeout"),
    ([], None),  # no mount point (the fixture's directory is dropped)
])
def test_bad_command_lines_fail_clearly(mountpoint, args, message):
    argv = [SHMFS, "-f", *args] + ([mountpoint] if args else [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert not os.path.ismount(mountpoint)
    if message:
        assert message in r.stderr
    else:
        assert "mount point" in r.stderr


def test_too_many_arguments(mountpoint):
    r = subprocess.run([SHMFS, "-f", "src", mountpoint, "extra"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "too many" in r.stderr


def test_cleanup_unlinks_only_blocks_made_through_the_mount(shmfs, prefix):
    theirs = shared_memory.SharedMemory(name=prefix + "theirs", create=True,
                                        size=10)
    untrack(theirs)
    theirs.close()
    m = shmfs("cleanup")
    for name in ("a", "b", "c"):
        with open(m.path(name), "wb") as f:
            f.write(name.encode())
    os.rename(m.path("b"), m.path("renamed"))
    os.unlink(m.path("c"))
    # Someone reuses the name of a removed block: not ours.
    with open(m.block("c"), "wb") as f:
        f.write(b"someone else's")
    # Someone opens a block we made through a different name: still ours.
    os.rename(m.block("a"), m.block("moved-outside"))
    assert m.close() == 0
    left = sorted(n[len(prefix):] for n in os.listdir("/dev/shm")
                  if n.startswith(prefix))
    assert left == ["c", "theirs"]


def test_without_cleanup_blocks_stay(shmfs, prefix):
    m = shmfs()
    with open(m.path("kept"), "wb") as f:
        f.write(b"k")
    assert m.close() == 0
    assert os.path.exists("/dev/shm/" + prefix + "kept")


@pytest.mark.parametrize("options", [(), ("nopassthrough",)])
def test_data_path_logged_once(shmfs, options):
    m = shmfs(*options)
    for i in range(5):
        with open(m.path("l%d" % i), "wb") as f:
            f.write(b"l")
        with open(m.path("l%d" % i), "rb") as f:
            f.read()
    lines = [l for l in m.stderr().splitlines() if "data path:" in l]
    assert len(lines) == 1, m.stderr()
    if options:
        assert "-o nopassthrough" in lines[0]


# The guardian of the connection: a killed daemon never leaves its mount
# hanging, and never cuts another mount's.

FUSECTL = "/sys/fs/fuse/connections"


def fds_of(pid):
    d = "/proc/%d/fd" % pid
    out = {}
    for fd in os.listdir(d):
        try:
            out[int(fd)] = os.readlink(os.path.join(d, fd))
        except OSError:
            pass
    return out


def unescape(field):
    """A mountinfo path: space, tab, newline and backslash are \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def conn_of(mount_dir):
    """The connection number as fusectl names it (the mount's st_dev)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if unescape(fields[4]) == mount_dir:
                major, minor = fields[2].split(":")
                return (int(major) << 20) | int(minor)
    return None


def check_guardian(daemon_pid, mount_dir):
    guards = daemon_pids(mount_dir, guardians=True)
    assert len(guards) == 1
    g = guards[0]
    with open("/proc/%d/stat" % g) as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == daemon_pid
    fds = fds_of(g)
    want = "%s/%d/abort" % (FUSECTL, conn_of(mount_dir))
    assert fds == {3: want}, fds
    return g


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_guardian_holds_only_its_abort_file(shmfs):
    m = shmfs()
    g = check_guardian(m.proc.pid, m.dir)
    # SIGTERM to the guardian alone changes nothing: still there, mount
    # still served, and it goes with an orderly exit.
    os.kill(g, signal.SIGTERM)
    os.kill(g, signal.SIGUSR1)
    time.sleep(0.2)
    assert os.path.exists("/proc/%d" % g)
    with open(m.path("x"), "wb") as f:
        f.write(b"x")
    assert os.listdir(m.dir) == ["x"]
    assert m.close() == 0
    assert wait_gone([g])


@pytest.fixture
def mountpoints():
    made = []

    def make():
        d = tempfile.mkdtemp(prefix="shmfs-mnt-")
        made.append(d)
        return d

    yield make
    for d in made:
        for pid in daemon_pids(d):
            os.kill(pid, signal.SIGKILL)
        if d in fuse_mounts():
            subprocess.run(["umount", "-l", d], check=False)
        os.rmdir(d)


def mount_in_background(d, prefix):
    """shmfs -o prefix=PREFIX D, as a user starts it: in the background."""
    r = subprocess.run([SHMFS, "-o", "prefix=" + prefix, d],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_background_guardian_and_kill(mountpoints, prefix):
    """In the background: the guardian is the daemon's (not the parent's
    that exited), holds only its abort file, and a SIGKILL of that daemon
    cuts its connection alone: a second mount goes on."""
    a, b = mountpoints(), mountpoints()
    for d, p in ((a, prefix + "a-"), (b, prefix + "b-")):
        mount_in_background(d, p)
    da, db = daemon_pids(a), daemon_pids(b)
    assert len(da) == len(db) == 1
    time.sleep(0.2)      # the parent's exit must not have fired it
    ga = check_guardian(da[0], a)
    gb = check_guardian(db[0], b)
    with open(os.path.join(a, "f"), "wb") as f:
        f.write(b"a")
    os.kill(da[0], signal.SIGKILL)
    assert wait_gone([da[0], ga])
    assert errno_of(os.listdir, a) in (errno.ENOTCONN, errno.ECONNABORTED)
    # The other mount, its daemon and its guardian are untouched.
    with open(os.path.join(b, "g"), "wb") as f:
        f.write(b"b")
    assert os.listdir(b) == ["g"]
    assert os.path.exists("/proc/%d" % gb)
    subprocess.run(["fusermount3", "-u", b], check=True)
    assert wait_gone([db[0], gb])
    subprocess.run(["umount", "-l", a], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_guardian_of_a_mount_point_with_a_space(mountpoints, prefix):
    """mountinfo writes a space in a path as \\040: the daemon must still
    find its connection, or a killed daemon leaves its mount hanging."""
    d = os.path.join(mountpoints(), "with space")
    os.mkdir(d)
    r = mount_in_background(d, prefix)
    pids = daemon_pids(d)
    assert len(pids) == 1
    try:
        assert b"no guardian" not in r.stderr, r.stderr
        g = check_guardian(pids[0], d)
    finally:
        subprocess.run(["fusermount3", "-u", d], check=False)
        wait_gone(pids)
        os.rmdir(d)
    assert wait_gone([g])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_guardian_never_takes_another_mounts_connection(mountpoints, prefix):
    """A mount point named with a backslash and 040 (as mountinfo escapes a
    space) next to one with a space: the guardian of the first must hold
    its own abort file, and its daemon's death must not cut the other."""
    top = mountpoints()
    spaced = os.path.join(top, "a b")
    literal = os.path.join(top, "a\\040b")
    os.mkdir(spaced)
    os.mkdir(literal)
    try:
        for d, p in ((spaced, prefix + "s-"), (literal, prefix + "l-")):
            mount_in_background(d, p)
        ds, dl = daemon_pids(spaced), daemon_pids(literal)
        assert len(ds) == len(dl) == 1
        gl = daemon_pids(literal, guardians=True)
        assert len(gl) == 1
        abort = fds_of(gl[0]).get(3)
        assert abort == "%s/%d/abort" % (FUSECTL, conn_of(literal)), abort
        os.kill(dl[0], signal.SIGKILL)
        assert wait_gone(dl + gl)
        with open(os.path.join(spaced, "f"), "wb") as f:
            f.write(b"s")
        assert os.listdir(spaced) == ["f"]
    finally:
        for d in (spaced, literal):
            pids = daemon_pids(d)
            # A dead mount can't be stat'ed, and /proc/self/mounts escapes.
            subprocess.run(["umount", "-l", d], check=False,
                           stderr=subprocess.DEVNULL)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            wait_gone(pids)
            os.rmdir(d)
