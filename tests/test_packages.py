# SPDX-License-Identifier: MIT
"""The Debian packages: scripts/package builds them offline from debian/
(dpkg-buildpackage -us -uc -b, lintian with no error), each has what it
should, and scripts/systemd-test runs them under a real systemd (its
checks are in scripts/systemd-test-guest): booted with systemd-nspawn on
this machine's kernel, and in a qemu virtual machine with Debian 12's own
kernel (--vm), which has autofs for the x-systemd.automount fstab line.
Once per CI run: the sanitized pass skips them (they build from source,
not from the build directory under test)."""

import os
import subprocess

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("SHMFS_SANITIZED")),
    reason="the packages are built from source; checked in the normal pass")

VERSION = subprocess.run(
    ["dpkg-parsechangelog", "-l", os.path.join(ROOT, "debian", "changelog"),
     "-S", "Version"], capture_output=True, text=True).stdout.strip()

EXPECTED = {
    "shmfs": {"./usr/bin/shmfs", "./lib/systemd/system/shmfs.service",
              "./usr/share/man/man1/shmfs.1.gz",
              "./usr/share/bash-completion/completions/shmfs",
              "./usr/share/doc/shmfs/copyright"},
    "lsshm": {"./usr/bin/lsshm", "./usr/share/man/man1/lsshm.1.gz",
              "./usr/share/bash-completion/completions/lsshm"},
    "libshmblock0": {"./usr/lib/x86_64-linux-gnu/libshmblock.so.0"},
    "libshmblock-dev": {"./usr/include/shmblock.h",
                        "./usr/include/shmblock_array.h",
                        "./usr/include/shmblock_sem.h",
                        "./usr/lib/x86_64-linux-gnu/libshmblock.so",
                        "./usr/lib/x86_64-linux-gnu/pkgconfig/shmblock.pc"},
}


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    out = tmp_path_factory.mktemp("debs")
    r = subprocess.run([os.path.join(ROOT, "scripts", "package"), str(out)],
                       capture_output=True, text=True)
    # scripts/package fails on a lintian error too.
    assert r.returncode == 0, r.stderr[-4000:]
    return out


def deb(debs, name):
    return os.path.join(debs, "%s_%s_amd64.deb" % (name, VERSION))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_package_contents(debs, name):
    listing = subprocess.run(["dpkg-deb", "-c", deb(debs, name)],
                             capture_output=True, text=True, check=True)
    paths = {line.split()[5] for line in listing.stdout.splitlines()}
    assert EXPECTED[name] <= paths, EXPECTED[name] - paths


def test_package_relations(debs):
    field = lambda name, f: subprocess.run(
        ["dpkg-deb", "-f", deb(debs, name), f], capture_output=True,
        text=True, check=True).stdout
    # mount.fuse3 (fstab, mount -t fuse.shmfs) comes with fuse3.
    assert "fuse3" in field("shmfs", "Depends").replace(",", " ").split()
    assert "libshmblock0 (= %s)" % VERSION in field("libshmblock-dev",
                                                    "Depends")
    copyright = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", deb(debs, "shmfs")],
        capture_output=True, check=True).stdout
    assert b"License: MIT" in copyright and b"the shmfs authors" in copyright


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
                    reason="systemd-nspawn and FUSE need root and /dev/fuse")
def test_under_a_real_systemd(debs):
    r = subprocess.run([os.path.join(ROOT, "scripts", "systemd-test"),
                        "--debs", str(debs)], capture_output=True, text=True,
                       timeout=900)
    report = r.stdout.splitlines()
    print(r.stdout, r.stderr[-3000:])
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert report and all(line.startswith("ok - ") for line in report)
    assert len([x for x in report if "SKIP" not in x]) >= 12


@pytest.mark.skipif(os.geteuid() != 0, reason="mmdebstrap needs root")
def test_in_a_virtual_machine(debs):
    # Debian's kernel: autofs, so the automount check runs and may not be
    # skipped (the guest is told autofs=required); no FUSE passthrough, so
    # the daemon's own data path is what the user gets.  The image is kept
    # in /var/cache/shmfs-test; without it the run builds it (2-3 minutes).
    r = subprocess.run([os.path.join(ROOT, "scripts", "systemd-test"),
                        "--vm", "--debs", str(debs)], capture_output=True,
                       text=True, timeout=1500)
    report = r.stdout.splitlines()
    print(r.stdout, r.stderr[-3000:])
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert report and all(line.startswith("ok - ") for line in report)
    assert any("x-systemd.automount" in x and "SKIP" not in x
               for x in report), report
    assert len([x for x in report if "SKIP" not in x]) >= 11
