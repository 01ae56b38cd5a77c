# SPDX-License-Identifier: MIT
"""lsshm with lsipc's options: -g/--global against statvfs and stat of the
blocks, -e/-y/-r/-n/-J output shapes, -P numeric permissions against stat,
-u/--user, -i/--id with -l, --notruncate in a narrow terminal, and
--target PID, which reads another mount namespace's /dev/shm: a child in
its own mount namespace (unshare -m) with a private tmpfs there, whose
blocks are made by CPython (SharedMemory, ShareableList) and glibc
(sem_open), the peers."""

import fcntl
import os
import pty
import shlex
import struct
import subprocess
import sys
import termios

import pytest

from conftest import SHM_DIR
from test_lsshm import LSSHM, run

NOBODY = 65534

# Runs in the child's mount namespace: a private tmpfs on /dev/shm with a
# limit of 64 inodes and 1 MiB, then blocks of each kind, a deleted block
# still mapped, and six holders of one block; "ready", then waits for
# stdin to close.
CHILD = r"""
import ctypes, mmap, os, subprocess, sys
from multiprocessing import resource_tracker, shared_memory
p = sys.argv[1]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=64,mode=1777",
                "lsshmtest", "/dev/shm"], check=True)
def keep(sm):
    resource_tracker.unregister(sm._name, "shared_memory")
    return sm
plain = keep(shared_memory.SharedMemory(p + "plain", create=True, size=5000))
lst = shared_memory.ShareableList([1, "two"], name=p + "list")
keep(lst.shm)
libc = ctypes.CDLL(None, use_errno=True)
libc.sem_open.restype = ctypes.c_void_p
assert libc.sem_open(("/" + p + "sem").encode(), os.O_CREAT, 0o600, 1)
fd = os.open("/dev/shm/" + p + "nobody", os.O_CREAT | os.O_RDWR, 0o640)
os.fchown(fd, 65534, 65534)
os.fchmod(fd, 0o640)
os.close(fd)
gone = keep(shared_memory.SharedMemory(p + "gone", create=True, size=8192))
gone.buf[0] = gone.buf[4096] = 1   # both pages: 8192 bytes allocated
os.unlink("/dev/shm/" + p + "gone")
kids = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        os.read(0, 1)
        os._exit(0)
    kids.append(pid)
print(" ".join(map(str, kids)), flush=True)
sys.stdin.read()
for k in kids:
    os.waitpid(k, 0)
"""


@pytest.fixture
def container(prefix):
    """(pid, prefix, holder pids) of a child with its own /dev/shm."""
    child = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", sys.executable,
         "-c", CHILD, prefix],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line, "the child failed"
        yield child.pid, prefix, [int(x) for x in line.split()]
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def values(out):
    """lsshm -r -n lines as lists of fields."""
    return [line.split(" ") for line in out.splitlines()]


def test_target_shows_the_other_namespace_only(container):
    pid, p, kids = container
    ours = run("-n", "-r", "-o", "NAME").stdout.split()
    assert not [n for n in ours if n.startswith(p)]
    out = run("--target", str(pid), "-n", "-r", "-o",
              "NAME,KIND,NHOLDERS").stdout
    theirs = {r[0]: r[1:] for r in values(out)}
    shm = "/proc/%d/root/dev/shm" % pid
    assert sorted(theirs) == sorted(os.listdir(shm))
    assert theirs[p + "plain"] == ["plain", str(1 + len(kids))]
    assert theirs[p + "list"][0] == "list[2]"
    assert theirs["sem." + p + "sem"][0] == "semaphore"
    deleted = run("--target", str(pid), "--deleted", "-n", "-r", "-o",
                  "NAME").stdout.split()
    assert deleted == [p + "gone"]


def test_target_errors():
    r = run("--target", "999999999", check=False)
    assert r.returncode == 1 and "process 999999999" in r.stderr
    r = run("--target", "0", check=False)
    assert r.returncode == 1 and "invalid PID" in r.stderr


def test_global_against_statvfs_and_stat(container):
    pid, p, kids = container
    shm = "/proc/%d/root/dev/shm" % pid
    out = run("--target", str(pid), "-g", "-b", "-r", "-n").stdout
    g = {r[0]: r[2:] for r in values(out)}
    names = os.listdir(shm)
    blocks = [n for n in names if not n.startswith("sem.")]
    size = sum(os.stat(os.path.join(shm, n)).st_size for n in blocks)
    alloc = sum(os.stat(os.path.join(shm, n)).st_blocks * 512 for n in blocks)
    vfs = os.statvfs(shm)
    fs_size = vfs.f_blocks * vfs.f_frsize
    pct = lambda used, lim: "%.2f%%" % (used * 100.0 / lim)
    assert g["BLOCKS"] == ["64", str(len(blocks)), pct(len(blocks), 64)]
    assert g["LISTS"] == ["-", "1", "-"]
    assert g["SEMAPHORES"] == ["-", "1", "-"]
    assert g["DELETED"] == ["-", "1", "-"]
    assert g["SIZE"] == [str(fs_size), str(size), pct(size, fs_size)]
    assert g["ALLOC"] == [str(fs_size), str(alloc), pct(alloc, fs_size)]
    assert g["DELALLOC"][1] == "8192"
    used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
    assert g["FSUSED"] == [str(fs_size), str(used), pct(used, fs_size)]
    inodes = vfs.f_files - vfs.f_ffree
    assert g["FSINODES"] == ["64", str(inodes), pct(inodes, 64)]
    assert fs_size == 1 << 20
    # Human sizes without -b, as lsipc -g prints them.
    human = {r[0]: r[2:] for r in values(
        run("--target", str(pid), "-g", "-r", "-n").stdout)}
    assert human["FSUSED"][0] == "1M"


def test_global_headings_and_shapes(container):
    pid, p, _ = container
    t = ["--target", str(pid), "-g"]
    head = run(*t).stdout.splitlines()[0].split()
    assert head == ["RESOURCE", "DESCRIPTION", "LIMIT", "USED", "USE%"]
    export = run(*t, "-e").stdout.splitlines()[0]
    fields = dict(f.split("=", 1) for f in shlex.split(export))
    assert fields["RESOURCE"] == "BLOCKS" and "USE%" in fields
    # -y: names a shell takes (lsipc's USE% becomes USE_PCT).
    shell = run(*t, "-e", "-y").stdout.splitlines()[0]
    assert "USE_PCT=" in shell and "USE%" not in shell
    # Each line evaluates in sh, as -e -y is meant to.
    r = subprocess.run(["sh", "-c", 'eval "$1"; echo "$RESOURCE $USE_PCT"',
                        "sh", shell], capture_output=True, text=True)
    assert r.stdout.split()[0] == "BLOCKS"
    js = __import__("json").loads(run(*t, "-J").stdout)
    assert js["shmlimits"][0]["resource"] == "BLOCKS"
    assert run(*t, "--id", "x", check=False).returncode == 1


def test_user_filter_and_numeric_perms(container):
    pid, p, _ = container
    t = ["--target", str(pid), "-n", "-r"]
    out = run(*t, "-u", "nobody", "-o", "NAME,UID,MODE").stdout
    assert values(out) == [[p + "nobody", str(NOBODY), "-rw-r-----"]]
    assert run(*t, "-u", str(NOBODY), "-o", "NAME").stdout.split() == \
        [p + "nobody"]
    out = run(*t, "-P", "-o", "NAME,MODE").stdout
    shm = "/proc/%d/root/dev/shm" % pid
    for name, mode in values(out):
        assert mode == "%04o" % (os.stat(os.path.join(shm, name)).st_mode
                                 & 0o7777)
    root_and_nobody = run(*t, "-u", "root,nobody", "-o", "NAME").stdout
    assert sorted(root_and_nobody.split()) == sorted(os.listdir(shm))
    r = run("-u", "no-such-user-here", check=False)
    assert r.returncode == 1 and "unknown user" in r.stderr


def test_id_pretty_and_list(container):
    pid, p, _ = container
    t = ["--target", str(pid), "-i", p + "list"]
    lines = run(*t).stdout.splitlines()
    pretty = {k: v.strip() for k, v in (x.split(":", 1) for x in lines)}
    assert pretty["Name"] == p + "list" and pretty["Kind"] == "list[2]"
    # Labels line up, as lsipc --id has them.
    starts = {len(x) - len(x.split(":", 1)[1].lstrip()) for x in lines
              if x.split(":", 1)[1].strip()}
    assert len(starts) == 1
    table = run(*t, "-l", "-n", "-r", "-o", "NAME,KIND").stdout
    assert values(table) == [[p + "list", "list[2]"]]
    r = run("--target", str(pid), "-i", p + "missing", check=False)
    assert r.returncode == 1 and "no such block" in r.stderr


def in_terminal(args, cols):
    """lsshm's output in a terminal `cols` wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.Popen([LSSHM, *args], stdout=slave,
                            stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait()
    os.close(master)
    return out.decode().replace("\r", "").splitlines()


def test_notruncate(container):
    """HOLDERS (7 processes) is cut to the terminal's width unless
    --notruncate."""
    pid, p, kids = container
    args = ["--target", str(pid), "-i", p + "plain", "-l", "-o",
            "NAME,HOLDERS"]
    cut = in_terminal(args, 60)
    full = in_terminal(args + ["--notruncate"], 60)
    assert max(map(len, cut)) <= 60
    assert max(map(len, full)) > 60
    # Every holder is there (libsmartcols moves a cell too wide for the
    # line to the next one, as lsipc's tables do).
    for k in kids + [pid]:
        assert "%d(" % k in "".join(full)
    assert "%d(" % kids[-1] not in "".join(cut)
