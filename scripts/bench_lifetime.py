#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cost of the lifetime enforcer (docs/shmfs.md, "Lifetimes"): one
holders scan of 10,000 blocks with 500 holding processes, and what the close
watch costs a process that opens and closes a block.  Needs root (it mounts
a tmpfs).  SHMFS_BUILD names the build directory (default build)."""
import ctypes, os, subprocess, sys, time, tempfile
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("SHMFS_BUILD", "build"))
d = tempfile.mkdtemp(prefix="ltb-")
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", d], check=True)
procs = []
try:
    for i in range(10000):
        fd = os.open("%s/b%05d" % (d, i), os.O_CREAT | os.O_RDWR, 0o600); os.close(fd)
    # 500 processes, each holding one block by fd and a mapping
    code = "import os,mmap,sys,time\nfd=os.open(sys.argv[1],os.O_RDWR)\nos.ftruncate(fd,4096)\nm=mmap.mmap(fd,4096)\nprint(1,flush=True)\nsys.stdin.read()"
    for i in range(500):
        p = subprocess.Popen([sys.executable, "-c", code, "%s/b%05d" % (d, i)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs.append(p)
    for p in procs: p.stdout.readline()
    lib = ctypes.CDLL(BUILD + "/core/libshmblock.so")
    class Stats(ctypes.Structure):
        _fields_ = [("started_ns", ctypes.c_uint64), ("elapsed_ns", ctypes.c_uint64),
                    ("nprocs", ctypes.c_uint), ("nunreadable", ctypes.c_uint), ("nvanished", ctypes.c_uint)]
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    times = []; cpu = []
    for _ in range(10):
        snap = ctypes.c_void_p(); t0 = time.process_time()
        assert lib.shmblock_holders_scan(dfd, 1, ctypes.byref(snap)) == 0
        cpu.append(time.process_time() - t0)
        st = Stats(); lib.shmblock_holders_stats(snap, ctypes.byref(st)); times.append(st.elapsed_ns / 1e6)
        lib.shmblock_holders_free(snap)
    times.sort(); cpu.sort()
    print("procs", st.nprocs, "scan ms median", times[5], "min", times[0], "max", times[-1], "cpu ms median", cpu[5] * 1000)
    # the daemon: close events cost, with and without a last-holder policy
    M = tempfile.mkdtemp(prefix="ltm-")
    daemon = subprocess.Popen([BUILD + "/fs/shmfs", "-f", "-o", "shmdir=%s,lifetime_scan=2" % d, M], stderr=subprocess.PIPE)
    while not os.path.ismount(M): time.sleep(0.02)
    def dcpu():
        f = open("/proc/%d/stat" % daemon.pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    def churn(n=100000):
        p = "%s/b09999" % d; t0 = time.monotonic()
        for _ in range(n): os.close(os.open(p, os.O_RDONLY))
        return time.monotonic() - t0
    time.sleep(1); c0 = dcpu(); w = churn(); c1 = dcpu()
    print("no policy: 100k open/close %.2fs, daemon cpu %.2fs" % (w, c1 - c0))
    os.setxattr("%s/b00000" % d, "user.shmfs.lifetime", b"last-holder")
    time.sleep(1); c0 = dcpu(); w = churn(); c1 = dcpu()
    print("last-holder on another block: 100k open/close %.2fs, daemon cpu %.2fs" % (w, c1 - c0))
    os.setxattr("%s/b09999" % d, "user.shmfs.lifetime", b"last-holder")
    time.sleep(1); c0 = dcpu(); w = churn(); c1 = dcpu()
    print("last-holder on the churned block: 100k open/close %.2fs, daemon cpu %.2fs" % (w, c1 - c0))
    time.sleep(1); c0 = dcpu(); time.sleep(10); c1 = dcpu()
    print("idle, periodic scans every 2 s: daemon cpu %.2fs over 10 s" % (c1 - c0))
    subprocess.run(["fusermount3", "-u", M]); daemon.wait(); os.rmdir(M)
finally:
    for p in procs: p.kill(); p.wait()
    subprocess.run(["umount", "-l", d]); os.rmdir(d)
