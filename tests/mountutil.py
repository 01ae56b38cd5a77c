# SPDX-License-Identifier: MIT
"""Real shmfs mounts for the tests: started in the foreground on a temporary
directory, waited for while the daemon is checked to be alive, and always torn
down (unmounted, the daemon's exit status and stderr checked), pass or fail."""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, SHM_DIR, fuse_mounts

SHMFS = os.path.join(BUILD, "fs", "shmfs")

# Lines of daemon stderr that mean something went wrong.
_BAD_STDERR = re.compile(r"error|fuse:|sanitizer|assert|warning|refuses|fail",
                         re.IGNORECASE)

PASSTHROUGH_LINE = "data path: kernel passthrough"
FALLBACK_LINE = "data path: through the daemon"


def connection_of(mount_dir):
    """The FUSE connection number of the mount at `mount_dir`: its device
    minor in /proc/self/mountinfo (read without touching the mount)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == mount_dir:
                major, minor = fields[2].split(":")
                return (int(major) << 20) | int(minor)
    return None


class Mount:
    """`shmfs -f -o prefix=PREFIX[,OPTIONS] DIR` on a fresh directory."""

    def __init__(self, prefix, options=(), shmdir=None, extra_args=(),
                 timeout=10):
        self.dir = tempfile.mkdtemp(prefix="shmfs-mnt-")
        self.prefix = prefix
        self.shmdir = shmdir or SHM_DIR
        opts = ["prefix=" + prefix, *options]
        if shmdir:
            opts.append("shmdir=" + shmdir)
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [SHMFS, "-f", *extra_args, "-o", ",".join(opts), self.dir],
            stdout=self.log, stderr=self.log)
        self.closed = False
        deadline = time.monotonic() + timeout
        while not os.path.ismount(self.dir):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self.stderr()
                self.close()
                raise RuntimeError("shmfs did not mount:\n" + out)
            time.sleep(0.01)
        self.conn = connection_of(self.dir)

    def abort(self):
        """Cuts the FUSE connection (fusectl), as `umount -f` would: every
        request left to a daemon that died ends with ECONNABORTED.  A killed
        daemon whose thread waits in a notification for a directory lock
        held by such a request can't exit before (docs/shmfs.md)."""
        ctl = "/sys/fs/fuse/connections"
        if not os.path.exists(os.path.join(ctl, str(self.conn))):
            subprocess.run(["mount", "-t", "fusectl", "fusectl", ctl],
                           check=False, stderr=subprocess.DEVNULL)
        try:
            with open(os.path.join(ctl, str(self.conn), "abort"), "w") as f:
                f.write("1")
        except OSError:
            pass

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def block(self, name):
        """The block file in the shm directory behind mount name `name`."""
        return os.path.join(self.shmdir, self.prefix + name)

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    def mode(self):
        """'passthrough' or 'fallback', as the daemon logged it (after the
        first open)."""
        err = self.stderr()
        if PASSTHROUGH_LINE in err:
            return "passthrough"
        if FALLBACK_LINE in err:
            return "fallback"
        return None

    def unmount(self):
        """fusermount3 -u (umount -l if that fails); returns the exit code
        of the daemon, killing it if it does not end."""
        # Never stat the mount here: a dead daemon would never answer.
        if self.proc.poll() is not None and self.dir in fuse_mounts():
            self.abort()
        if self.dir in fuse_mounts():
            r = subprocess.run(["fusermount3", "-u", self.dir], check=False,
                               stderr=subprocess.DEVNULL)
            if r.returncode != 0 and self.proc.poll() is None:
                # Busy (a failed test left a file open): detach it; the
                # daemon ends when the last reference goes.
                subprocess.run(["fusermount3", "-uz", self.dir], check=False,
                               stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.abort()
            self.proc.kill()
            self.proc.wait()
        # A daemon that died leaves a dead mount, which os.path.ismount
        # can't stat: look in the mount table.
        if self.dir in fuse_mounts():
            subprocess.run(["umount", "-l", self.dir], check=False)
        return self.proc.returncode

    def close(self):
        if self.closed:
            return self.proc.returncode
        self.closed = True
        rc = self.unmount()
        try:
            os.rmdir(self.dir)
        except OSError:
            pass
        return rc

    def stderr_problems(self):
        return [line for line in self.stderr().splitlines()
                if _BAD_STDERR.search(line)]


@pytest.fixture
def shmfs(prefix):
    """A factory of mounts under this test's prefix.  Teardown unmounts them
    all and fails the test if a daemon did not exit 0 or wrote an error."""
    mounts = []

    def start(*options, shmdir=None, extra_args=(), prefix=prefix):
        m = Mount(prefix, options, shmdir=shmdir, extra_args=extra_args)
        mounts.append(m)
        return m

    yield start
    problems = []
    for m in mounts:
        already = m.closed
        rc = m.close()
        if not already and rc != 0:
            problems.append("daemon exited %r:\n%s" % (rc, m.stderr()))
        bad = m.stderr_problems()
        if bad:
            problems.append("daemon stderr:\n" + "\n".join(bad))
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture(params=["passthrough", "fallback"])
def mode_options(request):
    """Runs a test once with kernel passthrough and once with data served
    by the daemon (-o nopassthrough)."""
    if request.param == "fallback":
        return ("nopassthrough",)
    if os.geteuid() != 0:
        pytest.skip("passthrough needs root")
    return ()


@pytest.fixture
def mnt(shmfs, mode_options):
    """One mount of this test's prefix, in each data path mode."""
    return shmfs(*mode_options)


@pytest.fixture
def peer(prefix):
    """A directory on tmpfs, the reference for plain-file behaviour."""
    d = tempfile.mkdtemp(prefix=prefix + "peer-", dir=SHM_DIR)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def small_tmpfs():
    """A 1 MiB tmpfs to stand in for a full /dev/shm."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tempfile.mkdtemp(prefix="shmfs-small-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d],
                   check=True)
    yield d
    subprocess.run(["umount", "-l", d], check=False)
    os.rmdir(d)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                            ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def renameat2(old, new, flags):
    """renameat2(2); returns 0 or -errno."""
    rc = _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD,
                         os.fsencode(new), flags)
    return -ctypes.get_errno() if rc < 0 else 0


def errno_of(fn, *args, **kwargs):
    """The errno fn raises, or 0 when it succeeds."""
    try:
        fn(*args, **kwargs)
    except OSError as e:
        return e.errno
    return 0


def run(*cmd, **kwargs):
    """Runs a command, returns its stdout as text; fails on a nonzero exit."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert r.returncode == 0, "%s: %s" % (" ".join(cmd), r.stderr)
    return r.stdout


def daemon_pids(mountpoint, guardians=False):
    """shmfs processes whose command line ends with `mountpoint`: the
    daemons, or (guardians=True) the guardians they forked, which share
    the command line and are named shmfs-guard (fs/connection.c)."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%s/comm" % p) as f:
                guard = f.read().strip() == "shmfs-guard"
        except OSError:
            continue
        if argv and argv[0].endswith(b"shmfs") and \
                os.fsencode(mountpoint) in argv and guard == guardians:
            pids.append(int(p))
    return pids


def wait_for(cond, timeout=10):
    """True once cond() is, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [p for p in pids if os.path.exists("/proc/%d" % p)]:
            return True
        time.sleep(0.02)
    return False


__all__ = ["Mount", "shmfs", "mode_options", "mnt", "peer", "small_tmpfs",
           "renameat2", "errno_of", "run", "daemon_pids", "wait_gone", "wait_for",
           "RENAME_NOREPLACE", "RENAME_EXCHANGE", "SHMFS", "signal"]
