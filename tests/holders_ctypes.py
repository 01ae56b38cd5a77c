# SPDX-License-Identifier: MIT
"""ctypes declarations of the holders API of core/shmblock.h, and a scan
turned into plain Python data."""

import ctypes
import os
import signal
import subprocess
import sys
import time

from conftest import load_library

HELD_FD, HELD_MAP, HELD_MAP_WRITE = 1, 2, 4
NO_DELETED, ANY_PATH = 1, 2
DEFAULT_DIR = -1


class Holder(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_int), ("uid", ctypes.c_uint), ("how", ctypes.c_uint),
                ("nfds", ctypes.c_uint), ("nmaps", ctypes.c_uint), ("fd", ctypes.c_int),
                ("map_start", ctypes.c_uint64), ("map_end", ctypes.c_uint64),
                ("comm", ctypes.c_char * 16)]


class Entry(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("deleted", ctypes.c_bool),
                ("have_stat", ctypes.c_bool), ("dev", ctypes.c_uint64),
                ("ino", ctypes.c_uint64), ("size", ctypes.c_uint64),
                ("alloc", ctypes.c_uint64), ("mode", ctypes.c_uint32),
                ("uid", ctypes.c_uint32), ("gid", ctypes.c_uint32),
                ("nholders", ctypes.c_size_t), ("holders", ctypes.POINTER(Holder))]


class Stats(ctypes.Structure):
    _fields_ = [("started_ns", ctypes.c_uint64), ("elapsed_ns", ctypes.c_uint64),
                ("nprocs", ctypes.c_uint), ("nunreadable", ctypes.c_uint),
                ("nvanished", ctypes.c_uint)]


P = ctypes.POINTER
vp = ctypes.c_void_p
PROTO = {
    "shmblock_holders_scan": (ctypes.c_int, [ctypes.c_int, ctypes.c_uint, P(vp)]),
    "shmblock_holders_scan_block": (ctypes.c_int, [ctypes.c_int, ctypes.c_char_p,
                                                   ctypes.c_uint, P(vp)]),
    "shmblock_holders_free": (None, [vp]),
    "shmblock_holders_is_partial": (ctypes.c_bool, [vp]),
    "shmblock_holders_stats": (None, [vp, P(Stats)]),
    "shmblock_holders_count": (ctypes.c_size_t, [vp]),
    "shmblock_holders_entry": (P(Entry), [vp, ctypes.c_size_t]),
    "shmblock_holders_find": (P(Entry), [vp, ctypes.c_uint64, ctypes.c_uint64]),
    "shmblock_holders_find_name": (P(Entry), [vp, ctypes.c_char_p]),
    "shmblock_holders_open": (ctypes.c_int, [vp, ctypes.c_uint64, ctypes.c_uint64]),
}


def load():
    lib = load_library()
    for fn, (res, args) in PROTO.items():
        f = getattr(lib, fn)
        f.restype = res
        f.argtypes = args
    return lib


def entry_dict(e):
    """A plain dict of one entry, with its holders as a {pid: dict} map."""
    holders = {}
    for i in range(e.nholders):
        h = e.holders[i]
        holders[h.pid] = dict(pid=h.pid, uid=h.uid, how=h.how, nfds=h.nfds,
                              nmaps=h.nmaps, fd=h.fd, comm=h.comm.decode(errors="surrogateescape"))
    return dict(name=e.name.decode(errors="surrogateescape"), deleted=e.deleted, have_stat=e.have_stat,
                dev=e.dev, ino=e.ino, size=e.size, alloc=e.alloc, mode=e.mode,
                uid=e.uid, gid=e.gid, holders=holders)


class Snapshot:
    """One scan as Python data: .entries (a list of dicts, in the core's
    order), .partial, .stats; frees the C snapshot at once."""

    def __init__(self, lib, dirfd=DEFAULT_DIR, flags=0, block=None):
        snap = vp()
        if block is None:
            rc = lib.shmblock_holders_scan(dirfd, flags, ctypes.byref(snap))
        else:
            rc = lib.shmblock_holders_scan_block(dirfd, block.encode(), flags,
                                                 ctypes.byref(snap))
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))
        try:
            n = lib.shmblock_holders_count(snap)
            self.entries = [entry_dict(lib.shmblock_holders_entry(snap, i).contents)
                            for i in range(n)]
            self.partial = lib.shmblock_holders_is_partial(snap)
            st = Stats()
            lib.shmblock_holders_stats(snap, ctypes.byref(st))
            self.stats = dict(elapsed_ns=st.elapsed_ns, nprocs=st.nprocs,
                              nunreadable=st.nunreadable, nvanished=st.nvanished)
        finally:
            lib.shmblock_holders_free(snap)

    def named(self, name):
        return next((e for e in self.entries if e["name"] == name and not e["deleted"]),
                    None)

    def deleted(self, name):
        return [e for e in self.entries if e["name"] == name and e["deleted"]]

    def by_ino(self, ino):
        return next((e for e in self.entries if e["ino"] == ino), None)


# A helper process that holds blocks as told on its command line and says
# "ready" once it does; it then waits for stdin to close (or a signal).
# Mappings go through libc's mmap, not Python's mmap module, which keeps a
# descriptor of its own: "map" must hold by a mapping only.
HOLDER_SRC = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
PROT_READ, PROT_WRITE, MAP_SHARED = 1, 2, 1
held = []
for spec in sys.argv[1:]:
    how, path = spec.split(":", 1)
    flags = os.O_RDWR if how in ("fd", "map", "both") else os.O_RDONLY
    fd = os.open(path, flags)
    if how in ("map", "both", "mapro"):
        prot = PROT_READ if how == "mapro" else PROT_READ | PROT_WRITE
        addr = libc.mmap(None, max(os.fstat(fd).st_size, 1), prot, MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
    if how in ("fd", "both", "fdro"):
        held.append(fd)
    else:
        os.close(fd)
if os.environ.get("HOLDER_FORK"):
    # The child exits when the parent closes the pipe: stdin is the
    # parent's alone, so the two never race for a line.
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    print("ready", child, flush=True)
    sys.stdin.readline()
    os.close(w)
    os.waitpid(child, 0)
    print("child gone", flush=True)
else:
    print("ready", flush=True)
sys.stdin.read()
"""


class Holders:
    """Spawns holder processes and always kills them, pass or fail."""

    def __init__(self):
        self.procs = []

    def spawn(self, *specs, fork=False):
        """A holder of `specs` ("fd:PATH", "fdro:", "map:", "mapro:", "both:");
        with fork, it forks a child that keeps everything until a line is
        written to stdin; then it reaps the child and says "child gone"
        (p.child is the child's pid)."""
        env = dict(os.environ, HOLDER_FORK="1" if fork else "")
        p = subprocess.Popen([sys.executable, "-c", HOLDER_SRC, *specs],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=env)
        self.procs.append(p)
        line = p.stdout.readline().split()
        assert line and line[0] == "ready", "holder failed: %r" % line
        p.child = int(line[1]) if fork else None
        return p

    def stop(self, p, sig=None):
        if sig is None:
            p.stdin.close()
        else:
            p.send_signal(sig)
        p.wait(timeout=10)

    def close(self):
        for p in self.procs:
            if p.child:
                try:
                    os.kill(p.child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdin, p.stdout):
                try:
                    f.close()
                except Exception:
                    pass


def wait_gone(pid, timeout=5.0):
    """Waits until /proc/PID is gone (a reaped child)."""
    end = time.monotonic() + timeout
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < end:
        time.sleep(0.01)


__all__ = ["load", "Snapshot", "Holders", "HELD_FD", "HELD_MAP", "HELD_MAP_WRITE",
           "NO_DELETED", "ANY_PATH", "DEFAULT_DIR", "signal", "wait_gone"]
