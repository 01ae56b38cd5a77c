# SPDX-License-Identifier: MIT
"""The labels of security modules that don't run here (issue 23.5): the
mount answers "not supported" for a label a file doesn't have, so that
`ls -l`, which asks every file for its SELinux label until it hears that,
asks once per mount instead of once per file (a round trip each); a label
a block does carry is still shown, and every other name answers as tmpfs
does.  Peers: tmpfs (the same names on a tmpfs file) and ls under strace."""

import errno
import os
import shutil
import struct
import subprocess

import pytest

from conftest import SHM_DIR
from mountutil import errno_of

SELINUX = os.path.exists("/sys/fs/selinux")
needs_no_selinux = pytest.mark.skipif(SELINUX, reason="SELinux runs here")


def make(prefix, name, data=b"x"):
    with open(os.path.join(SHM_DIR, prefix + name), "wb") as f:
        f.write(data)


@needs_no_selinux
def test_absent_label_is_not_supported(shmfs, prefix, peer):
    m = shmfs()
    make(prefix, "b")
    tmp = os.path.join(peer, "f")
    open(tmp, "w").close()
    os.mkdir(m.path("L"))
    for path in (m.path("b"), m.dir, m.path("L"), m.path("L", ".json")):
        assert errno_of(os.getxattr, path, "security.selinux") == errno.EOPNOTSUPP, path
    # Names tmpfs has and the file lacks: as tmpfs.
    for name in ("user.none", "security.capability", "system.posix_acl_access",
                 "trusted.none"):
        want = errno_of(os.getxattr, tmp, name)
        assert errno_of(os.getxattr, m.path("b"), name) == want, name


@needs_no_selinux
def test_a_label_a_block_carries_is_shown(shmfs, prefix):
    if os.geteuid() != 0:
        pytest.skip("setting security.* needs root")
    m = shmfs()
    make(prefix, "b")
    os.setxattr(os.path.join(SHM_DIR, prefix + "b"), "security.selinux", b"label\0")
    assert os.getxattr(m.path("b"), "security.selinux") == b"label\0"


@needs_no_selinux
@pytest.mark.skipif(not shutil.which("strace"), reason="no strace")
def test_ls_asks_the_label_once(shmfs, prefix, peer):
    """ls -l of 50 blocks: tmpfs is asked for every file's label (it
    answers ENODATA); the mount once."""
    for i in range(50):
        make(prefix, "b%d" % i)
        open(os.path.join(peer, "b%d" % i), "w").close()
    m = shmfs()

    def asks(d):
        r = subprocess.run(["strace", "-f", "-e", "trace=lgetxattr,getxattr", "ls", "-l", d],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stderr.count('"security.selinux"')

    assert asks(peer) >= 50
    assert asks(m.dir) == 1


def _acl(*entries):
    """A POSIX ACL xattr value (version 2; tag, perm, id per entry)."""
    return struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", *e) for e in entries)


ANY = 0xffffffff
ACL = _acl((1, 6, ANY), (2, 4, 65534), (4, 4, ANY), (0x10, 4, ANY),
           (0x20, 4, ANY))


def test_acl_is_the_blocks_own(shmfs, prefix, peer):
    """An ACL read through the mount (answered by name, without opening the
    block) is the block's, as tmpfs gives it: after the name is taken by
    another block, the new block's; through a file still open on a block
    unlinked since, that block's."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    m = shmfs()
    make(prefix, "a")
    make(prefix, "b")
    tmp_a, tmp_b = os.path.join(peer, "a"), os.path.join(peer, "b")
    open(tmp_a, "w").close()
    open(tmp_b, "w").close()
    for path in (os.path.join(SHM_DIR, prefix + "a"), tmp_a):
        os.setxattr(path, "system.posix_acl_access", ACL)
    for mine, theirs in ((m.path("a"), tmp_a), (m.path("b"), tmp_b)):
        for name in ("system.posix_acl_access", "system.posix_acl_default"):
            try:
                want = os.getxattr(theirs, name)
            except OSError as e:
                assert errno_of(os.getxattr, mine, name) == e.errno
            else:
                assert os.getxattr(mine, name) == want
    os.rename(os.path.join(SHM_DIR, prefix + "a"),
              os.path.join(SHM_DIR, prefix + "b"))
    os.rename(tmp_a, tmp_b)
    assert os.getxattr(m.path("b"), "system.posix_acl_access") == \
        os.getxattr(tmp_b, "system.posix_acl_access") == ACL
    fd = os.open(m.path("b"), os.O_RDONLY)
    tfd = os.open(tmp_b, os.O_RDONLY)
    try:
        os.unlink(os.path.join(SHM_DIR, prefix + "b"))
        os.unlink(tmp_b)
        make(prefix, "b")
        open(tmp_b, "w").close()
        assert os.getxattr(fd, "system.posix_acl_access") == \
            os.getxattr(tfd, "system.posix_acl_access") == ACL
    finally:
        os.close(fd)
        os.close(tfd)
