# SPDX-License-Identifier: MIT
"""The benchmark behind scripts/bench.

Every figure is a ratio to an anchor measured in the same run, interleaved
round by round (anchor, subject, anchor, subject, ...), because the machines
are shared and noisy; each side's median over the rounds is compared."""

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from mountlib import BUILD, ROOT, Mount

BENCH_IO = os.path.join(BUILD, "bench_io")
SHM = "/dev/shm"
MiB = 1 << 20


def build_bench_io():
    src = os.path.join(ROOT, "scripts", "bench_io.c")
    subprocess.run(["cc", "-O2", "-std=gnu11", "-Wall", "-Werror", "-o", BENCH_IO, src],
                   check=True)


def run_io(*args):
    """Runs one bench_io workload; returns (seconds, units)."""
    out = subprocess.run([BENCH_IO, *map(str, args)], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


class Ratio(float):
    """A ratio of medians, with the spread of the ratios of its rounds (each
    round's subject against the same round's anchor): their quartiles."""
    spread = None


def cpu_seconds(pid):
    """The CPU time (user and system, all threads) of process `pid` so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(rounds, anchor, subject, higher_is_better=True, peer=None, pids=None):
    """Interleaves the two workloads (three with `peer`) after one untimed
    warm-up run of each (pages of the block allocated, caches filled, the
    daemon's threads started); returns (anchor rate, subject rate, ratio),
    rates in units per second.  Rounds rotate which side goes first, so
    that none always follows another.  With `peer`, the ratio also carries
    the peer's rate and ratio to the anchor; with `pids` (the daemons of
    subject and peer), the daemons' CPU seconds per unit over the timed
    runs."""
    sides = [anchor, subject] + ([peer] if peer else [])
    pids = [None] + list(pids or [None, None])
    for fn in sides:
        fn()
    acc = [[] for _ in sides]
    cpu = [0.0] * len(sides)
    units = [0.0] * len(sides)
    for i in range(rounds):
        order = list(range(len(sides)))
        order = order[i % len(sides):] + order[:i % len(sides)]
        for k in order:
            c0 = cpu_seconds(pids[k]) if pids[k] else 0
            sec, u = sides[k]()
            if pids[k]:
                cpu[k] += cpu_seconds(pids[k]) - c0
                units[k] += u
            acc[k].append(u / sec)
    a, s = acc[0], acc[1]
    ra, rs = statistics.median(a), statistics.median(s)
    ratio = Ratio(rs / ra if higher_is_better else ra / rs)
    per_round = sorted(y / x if higher_is_better else x / y for x, y in zip(a, s))
    if len(per_round) >= 4:
        q = statistics.quantiles(per_round, n=4)
        ratio.spread = (q[0], q[2])
    if peer:
        rp = statistics.median(acc[2])
        ratio.peer_rate = rp
        ratio.peer_ratio = rp / ra if higher_is_better else ra / rp
    ratio.cpu = [cpu[k] / units[k] if units[k] else None for k in (1, 2)
                 if k < len(sides)]
    return ra, rs, ratio


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(BUILD, "bench-results.json"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["holders", "meta", "arrays", "lists"],
                    help="run one section alone (holders: lsshm and the core scan"
                    " against lsof and fuser; meta: the metadata rows against"
                    " passthrough_ll; arrays: a 1 GiB array attached and read"
                    " by NumPy through the mount against /dev/shm; lists: a"
                    " list's per-item costs by its length, and .json against"
                    " CPython)")
    args = ap.parse_args()
    if args.only == "holders":
        return holders_main(args)
    if args.only == "arrays":
        return arrays_main(args)
    if args.only == "lists":
        return lists_main(args)

    rounds = 3 if args.quick else 11
    # --only meta: the metadata rows alone (no data path, holders or C API).
    data = args.only != "meta"
    size = (64 if args.quick else 256) * MiB if data else MiB
    ndir = 1000 if args.quick else 10000
    build_bench_io()

    prefix = "shmfs-bench-%s-" % secrets.token_hex(3)
    rows = []
    mounts = []

    def row(figure, anchor_name, ra, rs, ratio, unit, target, kind="x"):
        spread = getattr(ratio, "spread", None)
        cpu = getattr(ratio, "cpu", None) or []
        rows.append(dict(figure=figure, anchor=anchor_name, anchor_rate=ra,
                         subject_rate=rs, ratio=float(ratio), spread=spread,
                         unit=unit, target=target, kind=kind,
                         peer_rate=getattr(ratio, "peer_rate", None),
                         peer_ratio=getattr(ratio, "peer_ratio", None),
                         cpu=cpu[0] if cpu else None,
                         peer_cpu=cpu[1] if len(cpu) > 1 else None))
        r = rows[-1]
        print("%-40s %12.4g %12.4g %8.2f%s  %s (target %s)%s%s" %
              (figure, ra, rs, ratio, kind,
               "%.2f-%.2f" % spread if spread else "", target,
               "  peer %.2f%s" % (r["peer_ratio"], kind) if r["peer_ratio"] else "",
               "  CPU/op %s / peer %s" % (us(r["cpu"]), us(r["peer_cpu"]))
               if r["cpu"] else ""), flush=True)

    try:
        pt = Mount(prefix)
        mounts.append(pt)
        if data:
            fb = Mount(prefix, "nopassthrough")
            mounts.append(fb)

        blk = prefix + "seq"
        with open(os.path.join(SHM, blk), "wb") as f:
            f.truncate(size)
        shm_file = os.path.join(SHM, blk)
        print("%-40s %12s %12s %9s" % ("figure", "anchor/s", "shmfs/s", "ratio"))

        mf = pt.path("seq")
        if data:
            for label, m in (("passthrough", pt), ("fallback", fb)):
                mf = m.path("seq")
                ra, rs, r = compare(rounds, lambda: run_io("seqwrite", shm_file, size),
                                    lambda: run_io("seqwrite", mf, size))
                row("seq write 1 MiB, %s" % label, "/dev/shm", ra / MiB, rs / MiB, r, "MiB/s",
                    "0.9x" if label == "passthrough" else "-")
                ra, rs, r = compare(rounds, lambda: run_io("seqread", shm_file),
                                    lambda: run_io("seqread", mf))
                row("seq read 1 MiB, %s" % label, "/dev/shm", ra / MiB, rs / MiB, r, "MiB/s",
                    "0.9x" if label == "passthrough" else "-")

            mf = pt.path("seq")
            # First touch (every page faulted in, timed), then a mapping in
            # use (pages already mapped by an untimed pass, 4 passes timed).
            for op in ("mmapwrite", "mmapread"):
                ra, rs, r = compare(rounds, lambda: run_io(op, shm_file),
                                    lambda: run_io(op, mf))
                row("%s whole block, first touch" % op.replace("mmap", "mmap "), "/dev/shm",
                    ra / MiB, rs / MiB, r, "MiB/s", "0.9x")
            for op in ("mmapwrite", "mmapread"):
                ra, rs, r = compare(rounds, lambda: run_io(op, shm_file, 4),
                                    lambda: run_io(op, mf, 4))
                row("%s whole block, mapped" % op.replace("mmap", "mmap "), "/dev/shm",
                    ra / MiB, rs / MiB, r, "MiB/s", "0.9x")

            n = 20000 if args.quick else 100000
            ra, rs, r = compare(rounds, lambda: run_io("randread", shm_file, n),
                                lambda: run_io("randread", mf, n))
            row("4 KiB random pread", "/dev/shm", ra, rs, r, "ops/s", "-")

        # The fallback mount watches the same directory: it would wake for
        # every change the metadata rows make (docs/shmfs.md), a second
        # daemon taking CPU from the one measured.
        if data:
            mounts.remove(fb)
            fb.close()

        # The one request floor first: the metadata rows below compare
        # with it.
        n = 5000 if args.quick else 50000
        ra, rs, r = compare(rounds, lambda: run_io("xattr", shm_file, n),
                            lambda: run_io("xattr", mf, n))
        row("one request to the daemon (getxattr)", "/dev/shm", ra, rs, r, "ops/s", "-")

        requests = meta_rows(rounds, pt, prefix, row, args.quick, ndir, mounts)
        lists_rows(rounds, pt, prefix, row, args.quick)
        coherence = None
        if data:
            c_api_rows(row)
            array_rows(rounds, pt, prefix, row, args.quick)
            holders_rows(rounds, prefix, row, args.quick)
            coherence = coherence_gap(pt, prefix)
    finally:
        for m in reversed(mounts):
            m.close()
        for name in os.listdir(SHM):
            if name.startswith(prefix):
                p = os.path.join(SHM, name)
                if os.path.isdir(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)

    command = "scripts/bench" + "".join(" " + a for a in sys.argv[1:])
    result = dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), machine=machine(),
                  command=command, rounds=rounds, block_size=size, rows=rows,
                  coherence=coherence, requests=requests)
    if not data:
        args.out = os.path.splitext(args.out)[0] + "-meta.json"
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print()
    print_markdown(result)
    print()
    print_requests(requests)
    if coherence:
        print()
        print("Outside changes seen through the mount's caches (the inotify watch's delay),"
              " over %d tries each:" % coherence["tries"])
        for what, g in coherence["gaps"].items():
            print("- %s: median %.0f us, max %.0f us, seen at once in %d%%"
                  % (what, g["median_us"], g["max_us"], g["at_once_pct"]))
    ceiling = create_unlink_ceiling(result)
    if ceiling:
        print()
        print("create+unlink through any FUSE mount takes at least two requests (CREATE,"
              " UNLINK); at this run's %.1f us per request, the best it could do is"
              " %.2fx /dev/shm." % ceiling)
    print("results written to", args.out)
    png = os.path.splitext(args.out)[0] + ".png"
    if data and plot(result, png):
        print("plot written to", png)


def create_unlink_ceiling(result):
    """(microseconds per request, the best create+unlink ratio two requests
    allow), from this run's rows; None if a row is missing."""
    rows = {r["figure"]: r for r in result["rows"]}
    one, cu = rows.get("one request to the daemon (getxattr)"), rows.get("create+close+unlink")
    if not one or not cu:
        return None
    return 1e6 / one["subject_rate"], one["subject_rate"] / 2 / cu["anchor_rate"]


def met(row):
    """'yes', 'no' or '' (no target) for a row."""
    t = row["target"]
    if t == "-":
        return ""
    limit = float(t.split()[-1].split("x")[0] if row["kind"] == "x" else
                  t.split()[2].rstrip("x"))
    ok = row["ratio"] >= limit if row["kind"] == "x" else row["ratio"] <= limit
    return "yes" if ok else "no"


def print_markdown(result):
    """The results as a Markdown table, with the machine and the command."""
    m = result["machine"]
    print("%s; Linux %s, %s, %d cores; CPython %s; `%s` (%d rounds per figure, "
          "medians)" % (result["date"], m["kernel"], m["cpu"], m["cores"], m["python"],
                        result["command"], result["rounds"]))
    print()
    print("| figure | anchor | anchor's figure | shmfs figure | ratio | rounds' middle half"
          " | target | met | %s ratio | daemon CPU/op, shmfs / peer |" % PEER_NAME)
    print("|---|---|---:|---:|---:|---|---|---|---:|---|")
    for r in result["rows"]:
        unit = r["unit"]
        fmt = (lambda v: "%.3g ms" % (v * 1e3)) if unit == "s" else \
              (lambda v: "%.4g %s" % (v, unit))
        spread = "%.2f-%.2f" % tuple(r["spread"]) if r.get("spread") else "-"
        peer = "%.2f%s" % (r["peer_ratio"], r["kind"]) if r.get("peer_ratio") else "-"
        cpu = "%s / %s" % (us(r["cpu"]), us(r.get("peer_cpu"))) if r.get("cpu") else "-"
        print("| %s | %s | %s | %s | %.2f%s | %s | %s | %s | %s | %s |" %
              (r["figure"], r["anchor"], fmt(r["anchor_rate"]), fmt(r["subject_rate"]),
               r["ratio"], r["kind"], spread, r["target"], met(r), peer, cpu))


def plot(result, path):
    """A bar chart of the ratios against their targets, when matplotlib is
    there.  Every bar is drawn as 'how many times the target' so that
    higher-is-better ratios and at-most time ratios read the same way:
    1 is the target exactly, above 1 is better than the target."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no plot)")
        return False
    rows = [r for r in result["rows"] if r["target"] != "-"]
    labels, values, colors = [], [], []
    for r in rows:
        if r["kind"] == "x":
            limit = float(r["target"].rstrip("x"))
            v = r["ratio"] / limit
        else:
            limit = float(r["target"].split()[2].rstrip("x"))
            v = limit / r["ratio"]
        labels.append("%s\n%.2f%s (target %s)" % (r["figure"], r["ratio"], r["kind"],
                                                 r["target"]))
        values.append(v)
        colors.append("tab:green" if v >= 1 else "tab:red")
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.5))
    y = range(len(rows))
    ax.barh(list(y), values, color=colors)
    ax.axvline(1, color="black", linewidth=1)
    ax.set_xscale("log")
    ticks = [t for t in (0.03, 0.1, 0.3, 1, 3, 10, 30)
             if min(values) / 2 <= t <= max(values) * 2]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["%g" % t for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("result / target (log scale; 1 = target met exactly, right of it = better)")
    m = result["machine"]
    ax.set_title("shmfs against its anchors, %s\nLinux %s, %s, %d cores" %
                 (result["date"], m["kernel"], m["cpu"], m["cores"]), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# ---- metadata: shmfs beside libfuse's passthrough_ll over tmpfs ----

PEER = os.path.join(BUILD, "passthrough_ll")
PEER_EXAMPLES = "/usr/share/doc/libfuse3-dev/examples"
PEER_NAME = "passthrough_ll -o cache=always"
# The peer as a file system shared by every user, as shmfs is: the kernel
# checks permissions (and asks the top level's attributes again after each
# change), and every user may enter.
DP_OPTIONS = ",default_permissions,allow_other"


def build_peer():
    """Builds libfuse's passthrough_ll example from Debian's libfuse3-dev
    into the build directory (it is GPL: built here, never copied into the
    repository).  Returns False, saying why, when it can't be had."""
    src = os.path.join(PEER_EXAMPLES, "passthrough_ll.c")
    if not os.path.exists(src) and os.path.exists(src + ".gz"):
        import gzip
        with gzip.open(src + ".gz", "rb") as f:
            data = f.read()
        src = os.path.join(BUILD, "passthrough_ll.c")
        with open(src, "wb") as f:
            f.write(data)
    if not os.path.exists(src):
        print("(no %s: the peer column is left empty)" % src)
        return False
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], check=True,
                           capture_output=True, text=True).stdout.split()
    # Its helpers header sits next to it.
    subprocess.run(["cc", "-O2", "-std=gnu11", "-I", PEER_EXAMPLES, "-o", PEER, src, *flags],
                   check=True)
    return True


class PeerMount(Mount):
    """passthrough_ll -f -o source=SOURCE,cache=always[,OPTIONS] on a fresh
    temporary directory (with -d, its debug output in the log)."""

    def __init__(self, source, debug=False, timeout=10, options=""):
        self.dir = tempfile.mkdtemp(prefix="shmfs-peer-")
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([PEER, "-f", *(["-d"] if debug else []), "-o",
                                      "source=%s,cache=always%s" % (source, options),
                                      self.dir],
                                     stderr=self.log, stdout=self.log)
        deadline = time.time() + timeout
        while not os.path.ismount(self.dir):
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                raise RuntimeError("passthrough_ll did not mount:\n" + self.stderr())
            time.sleep(0.02)


def us(seconds):
    return "-" if seconds is None else "%.0f us" % (seconds * 1e6)


def opcodes(mount):
    """The requests in a -d daemon's log so far, by opcode."""
    counts = {}
    for line in mount.stderr().splitlines():
        f = line.split()
        # libfuse's debug line: "unique: N, opcode: NAME (n), nodeid: ..."
        if len(f) > 3 and f[0] == "unique:" and f[2] == "opcode:":
            counts[f[3]] = counts.get(f[3], 0) + 1
    return counts


def count_requests(mount, workload, n):
    """Requests per operation: `workload(n)` runs n operations on a mount
    whose daemon prints every request (-d); the requests it logged meanwhile,
    divided by n, by opcode.  The asynchronous ones (RELEASE, FORGET) are
    waited for."""
    workload(2)
    time.sleep(0.3)
    before = opcodes(mount)
    workload(n)
    time.sleep(0.5)
    after = opcodes(mount)
    return {op: (after[op] - before.get(op, 0)) / n for op in after
            if after[op] > before.get(op, 0)}


def meta_rows(rounds, pt, prefix, row, quick, ndir, mounts):
    """The metadata rows, each with a third side: passthrough_ll over a
    tmpfs directory, the anchor being the same directory used directly.
    Returns the requests per operation of both daemons."""
    peer_ok = build_peer()
    pdir = tempfile.mkdtemp(prefix=prefix + "peer-", dir=SHM)
    peer = PeerMount(pdir) if peer_ok else None
    if peer:
        mounts.append(peer)
    pids = (pt.proc.pid, peer.proc.pid if peer else None)

    def three(anchor_args, shmfs_args, peer_args, higher_is_better=True, mount=pt,
              peer_mount=None):
        peer_mount = peer_mount or peer
        return compare(rounds, lambda: run_io(*anchor_args), lambda: run_io(*shmfs_args),
                       higher_is_better,
                       peer=(lambda: run_io(*peer_args)) if peer else None,
                       pids=(mount.proc.pid, peer_mount.proc.pid if peer else None))

    # The files: one small file in the peer's directory for the anchor and
    # the peer, one small block for shmfs, a list, a directory of ndir files
    # and ndir blocks.
    small = os.path.join(pdir, "f")
    with open(small, "w") as f:
        f.write("12345\n")
    with open(os.path.join(SHM, prefix + "f"), "w") as f:
        f.write("12345\n")
    cu_dir = os.path.join(pdir, "cu")
    os.mkdir(cu_dir)
    pmnt = (lambda *p: os.path.join(peer.dir, *p)) if peer else (lambda *p: None)

    n = 2000 if quick else 10000
    ra, rs, r = three(("createunlink", cu_dir, n), ("createunlink", pt.dir, n),
                      ("createunlink", pmnt("cu"), n))
    row("create+close+unlink", "tmpfs dir", ra, rs, r, "ops/s", "0.25x")
    # The same against the peer checking permissions in the kernel as shmfs
    # does (default_permissions: the mode and owner it reports, the caller's
    # groups and capabilities), shared by every user as shmfs is.
    peer_dp = PeerMount(pdir, options=DP_OPTIONS) if peer else None
    if peer_dp:
        mounts.append(peer_dp)
        ra, rs, r = three(("createunlink", cu_dir, n), ("createunlink", pt.dir, n),
                          ("createunlink", os.path.join(peer_dp.dir, "cu"), n),
                          peer_mount=peer_dp)
        row("create+close+unlink, peer -o %s" % DP_OPTIONS[1:], "tmpfs dir", ra, rs, r,
            "ops/s", "-")

    n = 5000 if quick else 50000
    ra, rs, r = three(("openclose", small, n), ("openclose", pt.path("f"), n),
                      ("openclose", pmnt("f"), n))
    row("open+close", "tmpfs file", ra, rs, r, "ops/s", "-")

    n = 20000 if quick else 200000
    ra, rs, r = three(("stat", small, n), ("stat", pt.path("f"), n),
                      ("stat", pmnt("f"), n))
    row("stat", "tmpfs file", ra, rs, r, "ops/s", "0.5x")

    # readdir of ndir blocks: a mount scoped to them, against a plain tmpfs
    # directory holding as many files (listed directly and through the peer).
    dprefix = prefix + "d-"
    for i in range(ndir):
        os.close(os.open(os.path.join(SHM, "%s%d" % (dprefix, i)),
                         os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    ddir = os.path.join(pdir, "dir")
    os.mkdir(ddir)
    for i in range(ndir):
        os.close(os.open(os.path.join(ddir, str(i)), os.O_CREAT | os.O_RDWR, 0o600))
    # Long-lived blocks, as a big directory mostly holds: older than the two
    # seconds after which the daemon trusts inotify for a block's kind.
    time.sleep(3)
    dm = Mount(dprefix)
    mounts.append(dm)
    ra, rs, r = three(("readdir", ddir, 5), ("readdir", dm.dir, 5), ("readdir", pmnt("dir"), 5),
                      higher_is_better=False, mount=dm)
    row("readdir of %d blocks (time)" % ndir, "tmpfs dir", 1 / ra, 1 / rs, r,
        "s", "at most 3x time", kind="x time")
    # The same after a change of the directory each time (a file created and
    # removed, untimed; outside the mount for shmfs, through it for the peer,
    # which doesn't see changes made under it): the kernel must ask again.
    ra, rs, r = three(("readdircold", ddir, 5, os.path.join(ddir, "x")),
                      ("readdircold", dm.dir, 5, os.path.join(SHM, dprefix + "x")),
                      ("readdircold", pmnt("dir"), 5, pmnt("dir", "x")),
                      higher_is_better=False, mount=dm)
    row("readdir of %d blocks after a change (time)" % ndir, "tmpfs dir",
        1 / ra, 1 / rs, r, "s", "at most 3x time", kind="x time")

    # The first listing after ndir blocks appeared outside: a fresh set of
    # names each round, created in /dev/shm (untimed) while the mount is up.
    fresh = []

    def fresh_listing(make, listdir):
        base = "%sn%d-" % (prefix, len(fresh))
        fresh.append(base)
        for i in range(ndir):
            os.close(os.open(make(base + str(i)), os.O_CREAT | os.O_RDWR, 0o600))
        time.sleep(0.05)
        sec, _ = run_io("readdir", listdir, 1)
        for i in range(ndir):
            os.unlink(make(base + str(i)))
        return sec, 1

    fdir = os.path.join(pdir, "fresh")
    os.mkdir(fdir)
    fm = Mount(prefix + "n")
    mounts.append(fm)
    ra, rs, r = compare(rounds, lambda: fresh_listing(lambda b: os.path.join(fdir, b), fdir),
                        lambda: fresh_listing(lambda b: os.path.join(SHM, b), fm.dir),
                        higher_is_better=False)
    row("first readdir after %d blocks appeared (time)" % ndir, "tmpfs dir", 1 / ra, 1 / rs,
        r, "s", "at most 3x time", kind="x time")

    # A list item through the mount, against a small tmpfs file (directly
    # and through the peer).
    from multiprocessing import shared_memory
    sl = shared_memory.ShareableList([12345, 2.5, "text"], name=prefix + "list")
    plain = os.path.join(pdir, "plain")
    with open(plain, "w") as f:
        f.write("12345\n")
    entry = pt.path("list", "0.int")
    try:
        n = 2000
        ra, rs, r = three(("entryread", plain, n), ("entryread", entry, n),
                          ("entryread", pmnt("plain"), n))
        row("list item read (open+read+close)", "tmpfs file", ra, rs, r, "ops/s", "0.1x")
        ra, rs, r = three(("entrywrite", plain, n, "678"), ("entrywrite", entry, n, "678"),
                          ("entrywrite", pmnt("plain"), n, "678"))
        row("list item write (open+write+close)", "tmpfs file", ra, rs, r, "ops/s", "-")
        assert sl[0] == 678, sl[0]

        # Requests per operation, from the daemons' own debug output (-d:
        # libfuse prints one line per request it reads from /dev/fuse).
        # Separate mounts, so the timed ones never pay for the printing.
        requests = {}
        dbg = Mount(prefix, "debug")
        mounts.append(dbg)
        dbgd = Mount(dprefix, "debug")
        mounts.append(dbgd)
        pdbg = PeerMount(pdir, debug=True) if peer else None
        if pdbg:
            mounts.append(pdbg)
        pdbg_dp = PeerMount(pdir, debug=True, options=DP_OPTIONS) if peer else None
        if pdbg_dp:
            mounts.append(pdbg_dp)
        k = 200
        cases = [
            ("create+close+unlink", lambda m, n: run_io("createunlink", m.path(), n),
             lambda m, n: run_io("createunlink", m.path("cu"), n)),
            ("create+close+unlink, peer -o %s" % DP_OPTIONS[1:],
             lambda m, n: run_io("createunlink", m.path(), n),
             lambda m, n: run_io("createunlink", m.path("cu"), n)),
            ("open+close", lambda m, n: run_io("openclose", m.path("f"), n), None),
            ("stat", lambda m, n: run_io("stat", m.path("f"), n), None),
            ("readdir of %d" % ndir, None, lambda m, n: run_io("readdir", m.path("dir"), n)),
            ("list item read", lambda m, n: run_io("entryread", m.path("list", "0.int"), n),
             lambda m, n: run_io("entryread", m.path("plain"), n)),
            ("list item stat", lambda m, n: run_io("stat", m.path("list", "0.int"), n),
             lambda m, n: run_io("stat", m.path("plain"), n)),
        ]
        for name, fn, pfn in cases:
            sm = dbg
            sfn = fn
            if name.startswith("readdir"):
                sm, sfn = dbgd, lambda m, n: run_io("readdir", m.path(), n)
            kk = 5 if name.startswith("readdir") else k
            pm = pdbg_dp if "default_permissions" in name else pdbg
            requests[name] = dict(
                shmfs=count_requests(sm, lambda n: sfn(sm, n), kk),
                peer=count_requests(pm, lambda n: (pfn or fn)(pm, n), kk) if pm
                else None)
    finally:
        sl.shm.close()
        sl.shm.unlink()
    return requests


def print_requests(requests):
    """Requests per operation of both daemons, as a Markdown table."""
    if not requests:
        return

    def total(c):
        return "-" if c is None else "%.2f" % sum(c.values())

    def detail(c):
        if c is None:
            return "-"
        return ", ".join("%s %.2f" % (op, v) for op, v in
                         sorted(c.items(), key=lambda kv: -kv[1]))

    print("Requests per operation (counted from each daemon's -d output):")
    print()
    print("| operation | shmfs | %s | shmfs's requests | %s's |" % (PEER_NAME, "peer"))
    print("|---|---:|---:|---|---|")
    for name, c in requests.items():
        print("| %s | %s | %s | %s | %s |" % (name, total(c["shmfs"]), total(c["peer"]),
                                             detail(c["shmfs"]), detail(c["peer"])))


def coherence_gap(pt, prefix, tries=300):
    """How long a change made directly in /dev/shm takes to show through the
    mount's cached entries and attributes: from the change until a stat
    through the mount agrees (0 when the first stat already does)."""
    def poll(check):
        t = time.perf_counter()
        if check():
            return 0.0
        while not check():
            pass
        return (time.perf_counter() - t) * 1e6

    gaps = {"created outside": [], "resized outside": [], "unlinked outside": []}
    for i in range(tries):
        name = "gap%d" % i
        shm_path, mnt_path = os.path.join(SHM, prefix + name), pt.path(name)
        os.close(os.open(shm_path, os.O_CREAT | os.O_RDWR, 0o600))
        gaps["created outside"].append(poll(lambda: os.path.exists(mnt_path)))
        os.truncate(shm_path, 4096)
        gaps["resized outside"].append(poll(lambda: os.stat(mnt_path).st_size == 4096))
        os.unlink(shm_path)
        gaps["unlinked outside"].append(poll(lambda: not os.path.exists(mnt_path)))
    out = {}
    for what, g in gaps.items():
        out[what] = dict(median_us=statistics.median(g), max_us=max(g),
                         at_once_pct=100 * g.count(0.0) // len(g))
    return dict(tries=tries, gaps=out)


def c_api_rows(row):
    """C get/set of an int item against CPython's ShareableList, from
    scripts/bench-slist's side-by-side run."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "bench-slist")], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] in ("get", "set"):
            c_ns, py_ns = float(f[1]), float(f[2])
            row("list int %s, C API vs CPython" % f[0], "CPython", 1e9 / py_ns,
                1e9 / c_ns, py_ns / c_ns, "ops/s", "20x")


# ---- holders: who holds each block, against lsof and fuser ----

# Holds blocks in many processes: argv = nprocs, per_proc, nblocks, prefix.
# Child i holds `per_proc` blocks spread over the directory, even ones by a
# descriptor, odd ones by a shared mapping (the descriptor closed).  The
# parent prints "ready" when every child holds its blocks, and kills them
# all when its stdin closes; a child dies with its parent (PDEATHSIG).
HOLDERS_LOAD_C = r"""
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int nprocs = atoi(argv[1]), per = atoi(argv[2]), nblocks = atoi(argv[3]);
	pid_t *kids = calloc(nprocs, sizeof(*kids));
	int ready[2], i, j;
	char c;

	if (pipe(ready) < 0)
		return 1;
	for (i = 0; i < nprocs; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			return 1;
		if (kids[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(1);
			for (j = 0; j < per; j++) {
				char path[512];
				int fd, b = (i * per + j * 7919) % nblocks;

				snprintf(path, sizeof(path), "/dev/shm/%s%d", argv[4], b);
				fd = open(path, O_RDWR);
				if (fd < 0)
					_exit(1);
				if (j % 2 &&
				    (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) ==
				     MAP_FAILED || close(fd) < 0))
					_exit(1);
			}
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
	}
	for (i = 0; i < nprocs; i++)
		if (read(ready[0], &c, 1) != 1)
			return 1;
	printf("ready\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	for (i = 0; i < nprocs; i++)
		kill(kids[i], SIGKILL);
	for (i = 0; i < nprocs; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}
"""


def rss_bytes():
    """This process's resident set, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def array_rows(rounds, mount, prefix, row, quick):
    """A 1 GiB array (256 MiB with --quick) made by NumPy in /dev/shm,
    attached with np.load(mmap_mode='r+') through the passthrough mount
    against /dev/shm: the attach (time, and the RSS it adds: no copy), and
    a full read of it (arr.sum() in a fresh mapping: every page faulted
    in).  Returns the RSS growths, in bytes."""
    import numpy as np
    nbytes = (256 if quick else 1024) * MiB
    name = prefix + "array"
    path = os.path.join(SHM, name)
    a = np.lib.format.open_memmap(path, mode="w+", dtype="<f8",
                                  shape=(nbytes // 8 // 4, 4))
    a[:] = 1.0
    a.flush()
    del a
    mf = mount.path("array")
    if os.getxattr(mf, "user.shmfs.dtype") != b"<f8":
        raise RuntimeError("the mount does not show the array as one")
    growth = {}

    def attach(p, key=None):
        r0 = rss_bytes()
        t = time.perf_counter()
        arr = np.load(p, mmap_mode="r+")
        sec = time.perf_counter() - t
        if key:
            growth[key] = max(growth.get(key, 0), rss_bytes() - r0)
        del arr
        return sec, 1

    def full_read(p):
        arr = np.load(p, mmap_mode="r+")
        t = time.perf_counter()
        total = float(np.add.reduce(arr, axis=None))
        sec = time.perf_counter() - t
        if total != arr.size:
            raise RuntimeError("the array read back wrong: %r" % total)
        del arr
        return sec, nbytes

    try:
        label = "%d MiB array" % (nbytes // MiB)
        ra, rs, r = compare(rounds, lambda: attach(path, "shm"),
                            lambda: attach(mf, "mount"))
        row("%s: np.load mmap r+ attach" % label, "/dev/shm", ra, rs, r,
            "ops/s", "-")
        print("(%s attach: RSS grew by %.1f KiB via /dev/shm, %.1f KiB via the"
              " mount: no copy)" % (label, growth["shm"] / 1024,
                                    growth["mount"] / 1024), flush=True)
        if growth["mount"] > nbytes // 100:
            raise RuntimeError("attaching through the mount copied the array")
        ra, rs, r = compare(rounds, lambda: full_read(path), lambda: full_read(mf))
        row("%s: full read (np.add.reduce)" % label, "/dev/shm", ra / MiB,
            rs / MiB, r, "MiB/s", "0.9x")
    finally:
        os.unlink(path)
    return growth


def arrays_main(args):
    """scripts/bench --only arrays: the array rows alone, on one mount."""
    rounds = 3 if args.quick else 7
    prefix = "shmfs-bench-%s-" % secrets.token_hex(3)
    rows = []

    def row(figure, anchor_name, ra, rs, ratio, unit, target, kind="x"):
        spread = getattr(ratio, "spread", None)
        rows.append(dict(figure=figure, anchor=anchor_name, anchor_rate=ra,
                         subject_rate=rs, ratio=float(ratio), spread=spread,
                         unit=unit, target=target, kind=kind))
        print("%-45s %12.4g %12.4g %8.2f%s  %s (target %s)" %
              (figure, ra, rs, ratio, kind,
               "%.2f-%.2f" % spread if spread else "", target), flush=True)

    m = Mount(prefix)
    try:
        print("%-45s %12s %12s %9s" % ("figure", "anchor/s", "shmfs/s", "ratio"))
        growth = array_rows(rounds, m, prefix, row, args.quick)
    finally:
        m.close()
    out = os.path.splitext(args.out)[0] + "-arrays.json"
    result = dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), machine=machine(),
                  command="scripts/bench" + "".join(" " + a for a in sys.argv[1:]),
                  rounds=rounds, rows=rows, attach_rss_growth_bytes=growth)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print("results written to", out)


def timed(cmd):
    """Runs a command, its output thrown away; returns (seconds, 1)."""
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t, 1


def holders_rows(rounds, prefix, row, quick):
    """The full holders table of 10,000 blocks held by 500 processes (20
    blocks each, half by a descriptor, half by a mapping): lsshm --json and
    the core scan alone, against lsof +D and fuser doing the same job."""
    import ctypes
    nblocks, nprocs, per = (2000, 100, 20) if quick else (10000, 500, 20)
    hprefix = prefix + "h-"
    load_bin = os.path.join(BUILD, "bench_holders_load")
    src = load_bin + ".c"
    with open(src, "w") as f:
        f.write(HOLDERS_LOAD_C)
    subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-o", load_bin, src], check=True)
    lib = ctypes.CDLL(os.path.join(BUILD, "core", "libshmblock.so"))
    lib.shmblock_holders_scan.argtypes = [ctypes.c_int, ctypes.c_uint,
                                          ctypes.POINTER(ctypes.c_void_p)]
    lib.shmblock_holders_free.argtypes = [ctypes.c_void_p]
    lsshm = os.path.join(BUILD, "core", "lsshm")
    paths = [os.path.join(SHM, "%s%d" % (hprefix, i)) for i in range(nblocks)]
    loader = None
    try:
        for p in paths:
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            os.ftruncate(fd, 4096)
            os.close(fd)
        loader = subprocess.Popen([load_bin, str(nprocs), str(per), str(nblocks), hprefix],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if loader.stdout.readline().strip() != "ready":
            raise RuntimeError("the holders' load did not start")

        # The tables must agree before they are timed.
        out = json.loads(subprocess.run([lsshm, "-J"], capture_output=True,
                                        text=True).stdout)
        held = sum(r["nholders"] for r in out["shmblocks"] if r["name"].startswith(hprefix))
        print("(holders: %d blocks, %d processes, lsshm sees %d holdings of %d)"
              % (nblocks, nprocs, held, nprocs * per), flush=True)

        def core_scan():
            snap = ctypes.c_void_p()
            t = time.perf_counter()
            rc = lib.shmblock_holders_scan(-1, 0, ctypes.byref(snap))
            sec = time.perf_counter() - t
            if rc < 0:
                raise OSError(-rc, "shmblock_holders_scan")
            lib.shmblock_holders_free(snap)
            return sec, 1

        lsof = lambda: timed(["lsof", "-w", "-n", "+D", SHM])
        fuser = lambda: timed(["fuser", "-v", *paths])
        label = "holders of %d blocks, %d procs" % (nblocks, nprocs)
        for subject, sname in ((lambda: timed([lsshm, "--json"]), "lsshm --json"),
                               (core_scan, "core scan")):
            ra, rs, r = compare(rounds, lsof, subject, higher_is_better=False)
            row("%s: %s (time)" % (label, sname), "lsof +D /dev/shm", 1 / ra, 1 / rs, r,
                "s", "at most 0.1x time", kind="x time")
        ra, rs, r = compare(rounds, fuser, lambda: timed([lsshm, "--json"]),
                            higher_is_better=False)
        row("%s: lsshm --json (time)" % label, "fuser -v", 1 / ra, 1 / rs, r, "s", "-",
            kind="x time")
        # lsshm against ls -l of the same blocks through a mount: what it
        # costs to see them as files, beside what it costs to see them
        # with their holders.
        mnt = Mount(hprefix)
        try:
            ra, rs, r = compare(rounds, lambda: timed(["ls", "-l", "--color=never", mnt.dir]),
                                lambda: timed([lsshm]), higher_is_better=False)
        finally:
            mnt.close()
        row("%d blocks: lsshm (time)" % nblocks, "ls -l through the mount", 1 / ra, 1 / rs,
            r, "s", "at most 1x time", kind="x time")
    finally:
        if loader:
            loader.stdin.close()
            try:
                loader.wait(timeout=60)
            except subprocess.TimeoutExpired:
                loader.kill()
                loader.wait()
            loader.stdout.close()
        for p in paths:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


def holders_main(args):
    """scripts/bench --only holders: the holders rows alone, no mount."""
    rounds = 3 if args.quick else 5
    prefix = "shmfs-bench-%s-" % secrets.token_hex(3)
    rows = []

    def row(figure, anchor_name, ra, rs, ratio, unit, target, kind="x"):
        spread = getattr(ratio, "spread", None)
        rows.append(dict(figure=figure, anchor=anchor_name, anchor_rate=ra,
                         subject_rate=rs, ratio=float(ratio), spread=spread,
                         unit=unit, target=target, kind=kind))
        print("%-60s %10.4g %10.4g %8.3f%s (target %s)" %
              (figure, ra, rs, ratio, kind, target), flush=True)

    holders_rows(rounds, prefix, row, args.quick)
    result = dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), machine=machine(),
                  command="scripts/bench" + "".join(" " + a for a in sys.argv[1:]),
                  rounds=rounds, rows=rows)
    out = os.path.splitext(args.out)[0] + "-holders.json"
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print()
    print_markdown(result)
    print("results written to", out)


# ---- lists: costs by a list's length (issue 23.4) ----

def lists_rows(rounds, m, prefix, row, quick):
    """A list's per-item costs through the mount `m` at 100 items against
    the same at 100,000 (CPython lists of ints), and .json against
    CPython's own json.dumps(list(sl)) at both lengths."""
    from multiprocessing import shared_memory
    small, big = 100, 20000 if quick else 100000
    lists = {n: shared_memory.ShareableList(list(range(n)), name="%sL%d" % (prefix, n))
             for n in (small, big)}
    try:
        def item_reads(n, k=300):
            d = m.path("L%d" % n)
            step = max(1, n // k)

            def run():
                t = time.perf_counter()
                for i in range(0, step * k, step):
                    with open(os.path.join(d, "%d.int" % (i % n)), "rb") as f:
                        f.read()
                return time.perf_counter() - t, k
            return run

        ra, rs, r = compare(rounds, item_reads(small), item_reads(big), False)
        row("item read (open+read+close), %d vs %d items" % (big, small),
            "%d items" % small, 1 / ra, 1 / rs, r, "s", "at most 1.2x time",
            kind="x time")

        def ls_l(n):
            d = m.path("L%d" % n)

            def run():
                t = time.perf_counter()
                subprocess.run(["ls", "-l", d], stdout=subprocess.DEVNULL, check=True)
                return time.perf_counter() - t, n
            return run

        ra, rs, r = compare(rounds, ls_l(small), ls_l(big), False)
        row("ls -l per item, %d vs %d items" % (big, small), "%d items" % small,
            1 / ra, 1 / rs, r, "s", "at most 1.2x time", kind="x time")

        for n in (small, big):
            sl = lists[n]

            def cpython(sl=sl):
                t = time.perf_counter()
                json.dumps(list(sl))
                return time.perf_counter() - t, 1

            def mount(n=n):
                t = time.perf_counter()
                with open(m.path("L%d" % n, ".json"), "rb") as f:
                    f.read()
                return time.perf_counter() - t, 1

            ra, rs, r = compare(rounds, cpython, mount, False)
            row(".json of %d items" % n, "CPython json.dumps(list(sl))", 1 / ra, 1 / rs,
                r, "s", "at most 2x time", kind="x time")
    finally:
        for sl in lists.values():
            sl.shm.close()
            sl.shm.unlink()


def lists_main(args):
    """scripts/bench --only lists: the list rows alone, on one mount."""
    rounds = 3 if args.quick else 7
    prefix = "shmfs-bench-%s-" % secrets.token_hex(3)
    rows = []

    def row(figure, anchor_name, ra, rs, ratio, unit, target, kind="x"):
        spread = getattr(ratio, "spread", None)
        rows.append(dict(figure=figure, anchor=anchor_name, anchor_rate=ra,
                         subject_rate=rs, ratio=float(ratio), spread=spread,
                         unit=unit, target=target, kind=kind))
        print("%-50s %12.4g %12.4g %8.2f%s  %s (target %s)" %
              (figure, ra, rs, ratio, kind,
               "%.2f-%.2f" % spread if spread else "", target), flush=True)

    m = Mount(prefix)
    try:
        lists_rows(rounds, m, prefix, row, args.quick)
    finally:
        m.close()
    result = dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), machine=machine(),
                  command="scripts/bench" + "".join(" " + a for a in sys.argv[1:]),
                  rounds=rounds, rows=rows)
    out = os.path.splitext(args.out)[0] + "-lists.json"
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print()
    print_markdown(result)
    print("results written to", out)


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return dict(kernel=platform.release(), cpu=cpu, cores=os.cpu_count(),
                python=sys.version.split()[0])


if __name__ == "__main__":
    main()
