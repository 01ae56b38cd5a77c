# SPDX-License-Identifier: MIT
"""`meson install --destdir` yields a library that a C program finds through
pkg-config, and that program's block is attached by CPython; the installed
daemon's systemd unit verifies, and an fstab line of type fuse.shmfs mounts
it through mount.fuse3 (`mount DIR`, `mount -a`) with every shmfs option."""

import glob
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from multiprocessing import shared_memory

import pytest

from conftest import BUILD, untrack

PROGRAM = textwrap.dedent("""
    #include <shmblock.h>
    #include <string.h>
    #include <stdio.h>
    int main(int argc, char **argv)
    {
        struct shmblock *b;
        int rc = shmblock_create(argv[1], 64, SHMBLOCK_DEFAULT_MODE, 0, &b);
        if (rc < 0)
            return 1;
        strcpy(shmblock_data(b), "installed");
        printf("%s\\n", shmblock_name(b));
        shmblock_close(b);
        return 0;
    }
""")


def test_install_and_build_against_pkg_config(tmp_path, names):
    dest = tmp_path / "dest"
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", str(dest)],
                   check=True, capture_output=True)
    pcs = glob.glob(str(dest / "**" / "shmblock.pc"), recursive=True)
    assert len(pcs) == 1
    headers = glob.glob(str(dest / "**" / "include" / "shmblock.h"), recursive=True)
    assert len(headers) == 1
    # The daemon and its manual page come along.
    daemons = glob.glob(str(dest / "**" / "bin" / "shmfs"), recursive=True)
    assert len(daemons) == 1
    version = subprocess.run([daemons[0], "--version"], capture_output=True, text=True)
    assert "shmfs version" in version.stdout + version.stderr
    man = glob.glob(str(dest / "**" / "man1" / "shmfs.1"), recursive=True)
    assert len(man) == 1
    manpage = subprocess.run(["man", "-l", "-P", "cat", man[0]], capture_output=True,
                             text=True, env=dict(os.environ, MANWIDTH="80"))
    assert manpage.returncode == 0 and "prefix" in manpage.stdout
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=str(dest))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "shmblock"], env=env,
                           check=True, capture_output=True, text=True).stdout.split()
    libdir = [f[2:] for f in flags if f.startswith("-L")][0]
    assert glob.glob(os.path.join(libdir, "libshmblock.so*"))
    assert os.path.exists(os.path.join(libdir, "libshmblock.a"))
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "prog"
    subprocess.run(["cc", "-Wall", "-Werror", "-o", str(exe), str(src), *flags,
                    "-Wl,-rpath," + libdir], check=True)
    name = names()
    out = subprocess.run([str(exe), name], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == name
    peer = shared_memory.SharedMemory(name)
    untrack(peer)
    try:
        assert bytes(peer.buf[:10]) == b"installed\0"
    finally:
        peer.close()
        peer.unlink()


# --- the installed daemon: its unit and an fstab mount ----------------------
#
# mount(8) runs mount.fuse3 with PATH removed, and mount.fuse3 starts the
# file system through /bin/sh, whose default path has /usr/local/bin: so a
# private mount namespace with the destdir's /usr/local bound over
# /usr/local sees exactly what `meson install` would have put there, and
# nothing of the real system changes.  The steps run inside the namespace
# and report back as JSON; their mounts go away with it, whatever happens.
NAMESPACE_STEPS = textwrap.dedent(r"""
    import errno, json, mmap, os, shutil, subprocess, sys, time
    usr_local, mnt, fstab, prefix = sys.argv[1:5]
    report = {}

    def run(*cmd):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return [r.returncode, r.stdout + r.stderr]

    def mapping(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, 4096)
            mmap.mmap(fd, 4096, flags=mmap.MAP_SHARED).close()
            return "mapped"
        except OSError as e:
            return errno.errorcode[e.errno]
        finally:
            os.close(fd)

    def mounted():
        with open("/proc/self/mounts") as f:
            return [l.split()[:3] for l in f if l.split()[1] == mnt]

    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "--bind", usr_local, "/usr/local"], check=True)
    try:
        report["found"] = run("env", "-u", "PATH", "/bin/sh", "-c",
                              "command -v shmfs")
        if shutil.which("systemd-analyze"):
            report["verify"] = run(
                "systemd-analyze", "verify",
                "/usr/local/lib/systemd/system/shmfs.service")
        # mount DIR: the first fstab line (every shmfs option).
        report["mount"] = run("mount", "--fstab", fstab, mnt)
        report["table"] = mounted()
        report["map"] = mapping(os.path.join(mnt, "copy"))
        report["shm"] = sorted(n for n in os.listdir("/dev/shm")
                               if n.startswith(prefix))
        report["umount"] = run("umount", mnt)
        # -o cleanup runs as the daemon ends, which umount doesn't wait
        # for: up to 10 s (an ASan daemon on a loaded machine is slow).
        left = lambda: sorted(
            n for n in os.listdir("/dev/shm") if n.startswith(prefix))
        deadline = time.monotonic() + 10
        while left() and time.monotonic() < deadline:
            time.sleep(0.05)
        report["after_cleanup"] = left()
        # mount -a: the second line (the defaults, -o nommap spelled out).
        report["mount_a"] = run("mount", "--fstab", fstab + ".a", "-a")
        report["table_a"] = mounted()
        report["map_a"] = mapping(os.path.join(mnt, "refused"))
        report["umount_a"] = run("umount", mnt)
    finally:
        while mounted():
            subprocess.run(["umount", "-l", mnt])
        subprocess.run(["umount", "-l", "/usr/local"])
    print(json.dumps(report))
""")


def test_installed_unit_and_fstab_mount(tmp_path, prefix):
    if os.geteuid() != 0:
        pytest.skip("mount(8) and mount namespaces need root")
    dest = tmp_path / "dest"
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", str(dest)],
                   check=True, capture_output=True)
    usr_local = dest / "usr" / "local"
    unit = usr_local / "lib" / "systemd" / "system" / "shmfs.service"
    assert unit.exists(), "the unit is installed under the prefix"
    text = unit.read_text()
    assert "Type=notify" in text and "Restart=on-failure" in text
    assert "ExecStart=/usr/local/bin/shmfs -f " in text
    assert "SHMFS_MOUNTPOINT=/run/shmfs" in text and "allow_other" in text
    mnt = tempfile.mkdtemp(prefix="shmfs-mnt-")
    fstab = tmp_path / "fstab"
    # Every shmfs option, and what fstab lines carry for systemd and mount.
    fstab.write_text(
        "shmfs %s fuse.shmfs prefix=%s,shmdir=/dev/shm,sparse,cleanup,"
        "timeout=0.5,nopassthrough,mmapcopy,allow_other,nofail,"
        "x-systemd.automount 0 0\n" % (mnt, prefix))
    (tmp_path / "fstab.a").write_text(
        "shmfs %s fuse.shmfs prefix=%s,nopassthrough,nommap,allow_other,"
        "nofail,x-systemd.automount 0 0\n" % (mnt, prefix))
    try:
        r = subprocess.run(["unshare", "--mount", sys.executable, "-c",
                            NAMESPACE_STEPS, str(usr_local), mnt, str(fstab),
                            prefix], capture_output=True, text=True,
                           timeout=300)
    finally:
        os.rmdir(mnt)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["found"] == [0, "/usr/local/bin/shmfs\n"]
    if "verify" in got:
        assert got["verify"][0] == 0, got["verify"][1]
    assert got["mount"][0] == 0, got["mount"][1]
    # One line at mount time says what the mount gives mmap.
    assert "data path: through the daemon (-o nopassthrough)" in got["mount"][1]
    assert "(-o mmapcopy)" in got["mount"][1]
    assert got["table"] == [["shmfs", mnt, "fuse.shmfs"]]
    assert got["map"] == "mapped"
    assert got["shm"] == [prefix + "copy"]
    assert got["umount"][0] == 0, got["umount"][1]
    assert got["after_cleanup"] == []
    assert got["mount_a"][0] == 0, got["mount_a"][1]
    assert "refused with ENODEV" in got["mount_a"][1]
    assert got["table_a"] == [["shmfs", mnt, "fuse.shmfs"]]
    assert got["map_a"] == "ENODEV"
    assert got["umount_a"][0] == 0, got["umount_a"][1]
