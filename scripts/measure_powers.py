#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Figures for docs/security.md (issue 22), measured, not asserted:

1. the daemon's descriptors and RSS with N owner= policies from one user
   (nobody), each on an empty block of its own naming one live process;
2. another user's lookups through the mount (a name that does not exist:
   each one a LOOKUP the daemon answers) while nobody asks for the holders
   of blocks it keeps making, against the same lookups with no one asking:
   median and worst latency.

Run as root: scripts/measure_powers.py [--policies 10000] [--seconds 10]"""

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time

from mountlib import Mount

SHM = "/dev/shm"
NOBODY = 65534


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def as_nobody(code, *args, **kw):
    return subprocess.Popen(["setpriv", "--reuid=%d" % NOBODY,
                             "--regid=%d" % NOBODY, "--clear-groups",
                             sys.executable, "-c", code, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, **kw)


OWNERS = r"""
import os, sys
prefix, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    p = prefix + "own%06d" % i
    with open(p, "wb"):
        pass
    os.setxattr(p, "user.shmfs.lifetime", ("owner=" + pid).encode())
print("done", flush=True)
"""

HAMMER = r"""
import errno, os, sys
d = sys.argv[1]
n = 0
print("go", flush=True)
while True:
    p = os.path.join(d, "ham%d" % (n % 64))
    with open(p, "wb"):
        pass
    for name in ("user.shmfs.holders", "user.shmfs.nholders"):
        try:
            os.getxattr(p, name)
        except OSError as e:
            if e.errno != errno.EAGAIN:
                raise
    n += 1
"""


def lookups(m, seconds):
    lat = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        p = m.path("absent-%d" % i)
        t = time.perf_counter()
        try:
            os.stat(p)
        except FileNotFoundError:
            pass
        lat.append(time.perf_counter() - t)
        i += 1
        time.sleep(0.001)
    return lat


def show(what, lat):
    lat = sorted(lat)
    print("%s: %d lookups, median %.3f ms, p99 %.3f ms, worst %.3f ms" % (
        what, len(lat), statistics.median(lat) * 1e3,
        lat[int(len(lat) * 0.99)] * 1e3, lat[-1] * 1e3))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--policies", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    prefix = "shmfs-powers-%s-" % secrets.token_hex(3)
    m = Mount(prefix, "allow_other", timeout=30)
    owner = None
    try:
        pid = m.proc.pid
        time.sleep(0.5)
        print("daemon at start: %d descriptors, RSS %d KiB" % (fds(pid), rss(pid)))
        owner = as_nobody("import sys; print('up', flush=True); sys.stdin.read()")
        owner.stdout.readline()
        t = time.monotonic()
        w = as_nobody(OWNERS, os.path.join(SHM, prefix), str(args.policies),
                      str(owner.pid))
        w.stdout.readline()
        w.wait()
        # The daemon has read them all once each has its trust record.
        last = os.path.join(SHM, prefix + "own%06d" % (args.policies - 1))
        while True:
            try:
                os.getxattr(last, "trusted.shmfs.lifetime_by")
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(1)
        print("with %d owner= policies from one user (%.1f s to set and "
              "follow): %d descriptors, RSS %d KiB" % (
                  args.policies, time.monotonic() - t, fds(pid), rss(pid)))
        t = time.monotonic()
        owner.kill()
        owner.wait()
        while any(n.startswith(prefix + "own") for n in os.listdir(SHM)):
            time.sleep(0.05)
        print("owner killed: all %d blocks gone in %.2f s; %d descriptors, "
              "RSS %d KiB" % (args.policies, time.monotonic() - t, fds(pid),
                              rss(pid)))
        show("lookups, no one asking for holders", lookups(m, args.seconds))
        h = as_nobody(HAMMER, m.dir)
        h.stdout.readline()
        try:
            show("lookups, nobody asking for holders in a loop",
                 lookups(m, args.seconds))
        finally:
            h.kill()
            h.wait()
    finally:
        if owner and owner.poll() is None:
            owner.kill()
            owner.wait()
        m.close()
        for n in os.listdir(SHM):
            if n.startswith(prefix):
                os.unlink(os.path.join(SHM, n))


if __name__ == "__main__":
    main()
