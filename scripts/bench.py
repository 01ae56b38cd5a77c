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


def compare(rounds, anchor, subject, higher_is_better=True):
    """Interleaves the two workloads after one untimed warm-up run of each
    (pages of the block allocated, caches filled, the daemon's threads
    started); returns (anchor rate, subject rate, ratio), rates in units per
    second.  Rounds alternate which side goes first, so that neither always
    follows the other."""
    anchor()
    subject()
    a, s = [], []
    for i in range(rounds):
        order = ((anchor, a), (subject, s)) if i % 2 == 0 else ((subject, s), (anchor, a))
        for fn, acc in order:
            sec, units = fn()
            acc.append(units / sec)
    ra, rs = statistics.median(a), statistics.median(s)
    ratio = Ratio(rs / ra if higher_is_better else ra / rs)
    per_round = sorted(y / x if higher_is_better else x / y for x, y in zip(a, s))
    if len(per_round) >= 4:
        q = statistics.quantiles(per_round, n=4)
        ratio.spread = (q[0], q[2])
    return ra, rs, ratio


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(BUILD, "bench-results.json"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["holders"],
                    help="run one section alone (holders: lsshm and the core scan"
                    " against lsof and fuser)")
    args = ap.parse_args()
    if args.only == "holders":
        return holders_main(args)

    rounds = 3 if args.quick else 11
    size = (64 if args.quick else 256) * MiB
    ndir = 1000 if args.quick else 10000
    build_bench_io()

    prefix = "shmfs-bench-%s-" % secrets.token_hex(3)
    rows = []
    mounts = []

    def row(figure, anchor_name, ra, rs, ratio, unit, target, kind="x"):
        spread = getattr(ratio, "spread", None)
        rows.append(dict(figure=figure, anchor=anchor_name, anchor_rate=ra,
                         subject_rate=rs, ratio=float(ratio), spread=spread,
                         unit=unit, target=target, kind=kind))
        print("%-40s %12.4g %12.4g %8.2f%s  %s (target %s)" %
              (figure, ra, rs, ratio, kind,
               "%.2f-%.2f" % spread if spread else "", target), flush=True)

    try:
        pt = Mount(prefix)
        mounts.append(pt)
        fb = Mount(prefix, "nopassthrough")
        mounts.append(fb)

        blk = prefix + "seq"
        with open(os.path.join(SHM, blk), "wb") as f:
            f.truncate(size)
        shm_file = os.path.join(SHM, blk)
        print("%-40s %12s %12s %9s" % ("figure", "anchor/s", "shmfs/s", "ratio"))

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

        # Metadata.  create+unlink on /dev/shm happens in a directory of its
        # own so that it never touches anybody's blocks.
        n = 2000 if args.quick else 10000
        cu_dir = tempfile.mkdtemp(prefix=prefix + "cu-", dir=SHM)
        try:
            ra, rs, r = compare(rounds, lambda: run_io("createunlink", cu_dir, n),
                                lambda: run_io("createunlink", pt.dir, n))
        finally:
            shutil.rmtree(cu_dir)
        row("create+unlink", "/dev/shm", ra, rs, r, "ops/s", "0.25x")

        n = 20000 if args.quick else 200000
        ra, rs, r = compare(rounds, lambda: run_io("stat", shm_file, n),
                            lambda: run_io("stat", mf, n))
        row("stat", "/dev/shm", ra, rs, r, "ops/s", "0.5x")

        # The floor under every figure that needs the daemon: one request
        # and its answer (create+unlink needs at least two, CREATE and
        # UNLINK).
        n = 5000 if args.quick else 50000
        ra, rs, r = compare(rounds, lambda: run_io("xattr", shm_file, n),
                            lambda: run_io("xattr", mf, n))
        row("one request to the daemon (getxattr)", "/dev/shm", ra, rs, r, "ops/s", "-")

        # readdir of ndir blocks: a mount scoped to them, against a plain
        # tmpfs directory holding as many files.
        dprefix = prefix + "d-"
        for i in range(ndir):
            os.close(os.open(os.path.join(SHM, "%s%d" % (dprefix, i)),
                             os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
        ddir = tempfile.mkdtemp(prefix=prefix + "dir-", dir=SHM)
        try:
            for i in range(ndir):
                os.close(os.open(os.path.join(ddir, str(i)), os.O_CREAT | os.O_RDWR, 0o600))
            # Long-lived blocks, as a big directory mostly holds: older than
            # the two seconds after which the daemon trusts inotify for a
            # block's kind (fs/kindcache.h).
            time.sleep(3)
            dm = Mount(dprefix)
            mounts.append(dm)
            ra, rs, r = compare(rounds, lambda: run_io("readdir", ddir, 5),
                                lambda: run_io("readdir", dm.dir, 5),
                                higher_is_better=False)
            row("readdir of %d blocks (time)" % ndir, "tmpfs dir", 1 / ra, 1 / rs, r,
                "s", "at most 3x time", kind="x time")
            # The same after a change of the directory each time (a file
            # created and removed, untimed): the kernel must ask the daemon again.
            ra, rs, r = compare(
                rounds, lambda: run_io("readdircold", ddir, 5, os.path.join(ddir, "x")),
                lambda: run_io("readdircold", dm.dir, 5, os.path.join(SHM, dprefix + "x")),
                higher_is_better=False)
            row("readdir of %d blocks after a change (time)" % ndir, "tmpfs dir",
                1 / ra, 1 / rs, r, "s", "at most 3x time", kind="x time")
        finally:
            shutil.rmtree(ddir)

        list_rows(rounds, pt, prefix, row)
        c_api_rows(row)
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
                  coherence=coherence)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print()
    print_markdown(result)
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
    if plot(result, png):
        print("plot written to", png)


def create_unlink_ceiling(result):
    """(microseconds per request, the best create+unlink ratio two requests
    allow), from this run's rows; None if a row is missing."""
    rows = {r["figure"]: r for r in result["rows"]}
    one, cu = rows.get("one request to the daemon (getxattr)"), rows.get("create+unlink")
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
          " | target | met |")
    print("|---|---|---:|---:|---:|---|---|---|")
    for r in result["rows"]:
        unit = r["unit"]
        fmt = (lambda v: "%.3g ms" % (v * 1e3)) if unit == "s" else \
              (lambda v: "%.4g %s" % (v, unit))
        spread = "%.2f-%.2f" % tuple(r["spread"]) if r.get("spread") else "-"
        print("| %s | %s | %s | %s | %.2f%s | %s | %s | %s |" %
              (r["figure"], r["anchor"], fmt(r["anchor_rate"]), fmt(r["subject_rate"]),
               r["ratio"], r["kind"], spread, r["target"], met(r)))


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


def list_rows(rounds, pt, prefix, row):
    """One list entry read and written through the mount (open, read or
    write, close), against the same on a small /dev/shm file."""
    from multiprocessing import shared_memory
    name = prefix + "list"
    sl = shared_memory.ShareableList([12345, 2.5, "text"], name=name)
    try:
        entry = pt.path("list", "0")
        if not os.path.isdir(pt.path("list")):
            print("(list entries: the mount shows no list directories; skipped)")
            return
        plain = os.path.join(SHM, prefix + "plain")
        with open(plain, "w") as f:
            f.write("12345\n")
        n = 2000
        ra, rs, r = compare(rounds, lambda: run_io("entryread", plain, n),
                            lambda: run_io("entryread", entry, n))
        row("list entry read (open+read+close)", "/dev/shm file", ra, rs, r, "ops/s", "-")
        ra, rs, r = compare(rounds, lambda: run_io("entrywrite", plain, n, "678"),
                            lambda: run_io("entrywrite", entry, n, "678"))
        row("list entry write (open+write+close)", "/dev/shm file", ra, rs, r, "ops/s", "-")
        assert sl[0] == 678, sl[0]
    finally:
        sl.shm.close()
        sl.shm.unlink()


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
