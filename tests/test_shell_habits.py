# SPDX-License-Identifier: MIT
"""Backups, copies and shell habits (issue 24): rsync -a and cp -a into the
mount change the root's attributes as they change a tmpfs directory's (the
peer); tar, rsync and cp round trips of blocks and lists exit 0 (.json and
.format take the text they show; what can't be exact fails loudly); rsync
--inplace into an item; rm -rf of a list stops at its items, rmdir removes
it; a write past the end reserves the hole where the daemon sees it."""

import errno
import os
import stat
import subprocess
import tempfile
from multiprocessing.shared_memory import ShareableList, SharedMemory

import pytest

from conftest import prefix, untrack  # noqa: F401
from mountutil import (errno_of, mnt, mode_options, peer,  # noqa: F401
                       shmfs, small_tmpfs)

RESTORE_EXCLUDES = ["--exclude=*/.json", "--exclude=*/.format"]
# The access ACL of mode 0755, as cp -a sets it.
ACL_0755 = (b"\2\0\0\0" + b"\1\0\7\0\377\377\377\377" +
            b"\4\0\5\0\377\377\377\377" + b" \0\5\0\377\377\377\377")


@pytest.fixture
def shmdir():
    """A private shm directory (on /dev/shm's tmpfs), shown whole by a mount
    without a prefix: its root is the directory itself."""
    d = tempfile.mkdtemp(prefix="shmfs-habits-", dir="/dev/shm")
    os.chmod(d, 0o1777)
    yield d
    subprocess.run(["rm", "-rf", d], check=False)


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                          timeout=120)


def make_source(d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "a"), "w") as f:
        f.write("hello\n")
    with open(os.path.join(d, "b"), "wb") as f:
        f.write(os.urandom(100000))
    os.chmod(os.path.join(d, "b"), 0o640)
    os.chmod(d, 0o750)
    os.utime(d, (1000000000, 1000000000))


def attrs(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns


@pytest.mark.parametrize("tool", ["rsync -a {src}/ {dst}/",
                                  "cp -a {src}/. {dst}/"])
def test_copy_into_the_root_as_into_tmpfs(shmfs, shmdir, peer, tmp_path,
                                          tool):
    """rsync -a and cp -a of a directory into the mount of a whole shm
    directory exit 0 and give the root the source's mode and times, as the
    same copy into a tmpfs directory (the peer) does."""
    m = shmfs(shmdir=shmdir, prefix="")
    src = str(tmp_path / "src")
    make_source(src)
    for dst in (peer, m.dir):
        r = sh(tool.format(src=src, dst=dst))
        assert r.returncode == 0, r.stderr
    assert attrs(m.dir) == attrs(peer) == attrs(src)
    assert attrs(m.path("b")) == attrs(os.path.join(peer, "b"))
    assert attrs(shmdir) == attrs(src)


def test_prefix_root_takes_only_its_own_attrs(shmfs, prefix):
    """With a prefix the root shows part of /dev/shm: setting the mode and
    owner it already has is accepted (a restore does), changing them is
    EPERM (it would be everyone's), ACLs are EOPNOTSUPP (cp falls back to
    chmod)."""
    m = shmfs()
    st = os.stat(m.dir)
    assert errno_of(os.chmod, m.dir, stat.S_IMODE(st.st_mode)) == 0
    assert errno_of(os.chown, m.dir, st.st_uid, st.st_gid) == 0
    assert errno_of(os.chmod, m.dir, 0o755) == errno.EPERM
    assert errno_of(os.chown, m.dir, 1, -1) == errno.EPERM
    assert errno_of(os.setxattr, m.dir, "system.posix_acl_access",
                    ACL_0755) == errno.EOPNOTSUPP
    assert stat.S_IMODE(os.stat("/dev/shm").st_mode) == 0o1777


def make_list(m):
    """A list L of two items made through the mount, and a block."""
    os.mkdir(m.path("L"))
    for name, text in (("0.int", "42\n"), ("1.str", "hi\n")):
        with open(m.path("L", name), "w") as f:
            f.write(text)
    with open(m.path("a"), "wb") as f:
        f.write(os.urandom(5000))


def snapshot(m):
    with open(m.path("L", ".json")) as f:
        js = f.read()
    with open(m.path("L", ".raw"), "rb") as f:
        raw = f.read()
    with open(m.path("a"), "rb") as f:
        a = f.read()
    return js, raw, a


def cpython_values(raw):
    """CPython's ShareableList read of a list block's bytes, copied into a
    block of its own (the test's blocks live in a private shm directory,
    which shm_open can't name)."""
    shm = SharedMemory(create=True, size=len(raw))
    try:
        shm.buf[:len(raw)] = raw
        sl = ShareableList(name=shm.name)
        untrack(sl.shm)
        values = list(sl)
        sl.shm.close()
        return values
    finally:
        shm.close()
        shm.unlink()


def test_backup_and_restore_round_trip(shmfs, shmdir, tmp_path, mode_options):
    """tar c, rsync -a and cp -a of a mount with a block and a list exit 0;
    tar x --overwrite, cp -a and rsync -a --inplace restore both over the
    live mount and into an empty one with exit 0, .json and .format
    included (they take the text they already show), and the same bytes
    (.raw, the list's block) and values (CPython's reading of the block).
    Into an empty mount cp -a needs the lists made first and rsync the
    excludes (docs/lists.md: it writes .format and .json before .raw)."""
    m = shmfs(*mode_options, shmdir=shmdir, prefix="")
    make_list(m)
    want = snapshot(m)
    assert want[0] == '[42, "hi"]\n'
    assert cpython_values(want[1]) == [42, "hi"]
    tar, bk, bk2 = tmp_path / "bk.tar", tmp_path / "bk", tmp_path / "bk2"
    for cmd in ("tar -C %s -cf %s ." % (m.dir, tar),
                "rsync -a %s/ %s/" % (m.dir, bk),
                "cp -a %s/. %s/" % (m.dir, bk2)):
        r = sh(cmd)
        assert r.returncode == 0, (cmd, r.stderr)
    for d in (bk, bk2):
        assert (d / "L" / ".json").read_text() == want[0]
        assert (d / "L" / ".raw").read_bytes() == want[1]
        assert (d / "a").read_bytes() == want[2]
    mkdir = "mkdir %s/L && " % m.dir
    restores = (  # (over the live mount, into an empty one)
        ("tar -C %s --overwrite -xf %s" % (m.dir, tar),) * 2,
        ("cp -a %s/. %s/" % (bk2, m.dir),) * 2,
        ("rsync -a --inplace -I %s/ %s/" % (bk, m.dir),
         "rsync -a --inplace %s %s/ %s/" % (" ".join(RESTORE_EXCLUDES), bk,
                                            m.dir)))
    for live, fresh in restores:
        r = sh(live)
        assert r.returncode == 0, (live, r.stderr)
        assert snapshot(m) == want
        os.rmdir(m.path("L"))
        os.unlink(m.path("a"))
        assert os.listdir(m.dir) == []
        r = sh((mkdir if fresh.startswith("cp") else "") + fresh)
        assert r.returncode == 0, (fresh, r.stderr)
        assert snapshot(m) == want
        assert cpython_values(snapshot(m)[1]) == [42, "hi"]


def test_restores_that_cant_be_exact_fail_loudly(shmfs, shmdir, tmp_path):
    """What can't work fails with a clear message and stores nothing wrong
    (docs/lists.md): tar x without --overwrite removes each file before it
    extracts it, and a list's files can't be removed; cp -a into a list it
    just made creates with O_EXCL what mkdir already made; rsync writes
    .format and .json before .raw, into an empty list that doesn't show
    them yet; a .json of other values is EPERM at write."""
    m = shmfs(shmdir=shmdir, prefix="")
    make_list(m)
    want = snapshot(m)
    tar, bk = tmp_path / "bk.tar", tmp_path / "bk"
    assert sh("tar -C %s -cf %s ." % (m.dir, tar)).returncode == 0
    assert sh("rsync -a %s/ %s/" % (m.dir, bk)).returncode == 0
    r = sh("tar -C %s -xf %s" % (m.dir, tar))
    assert r.returncode == 2
    assert "L/.raw: Cannot open: File exists" in r.stderr
    assert snapshot(m) == want
    r = subprocess.run(["bash", "-c", "echo '[1, \"x\"]' > \"$0\"",
                        m.path("L", ".json")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "Operation not permitted" in r.stderr
    assert snapshot(m) == want
    # The text it shows is taken, and changes nothing.
    r = sh("cat %s > %s" % (bk / "L" / ".json", m.path("L", ".json")))
    assert r.returncode == 0, r.stderr
    assert snapshot(m) == want
    # An O_TRUNC open that writes nothing: the close says so.
    fd = os.open(m.path("L", ".format"), os.O_WRONLY | os.O_TRUNC)
    assert errno_of(os.close, fd) == errno.EPERM
    with open(m.path("L", ".format")) as f:
        assert f.read() == "q8s\n"
    os.rmdir(m.path("L"))
    os.mkdir(m.path("L"))
    r = sh("rsync -a --inplace %s/ %s/" % (bk, m.dir))
    assert r.returncode == 11
    assert 'write failed on "%s"' % m.path("L", ".format") in r.stderr
    assert "Operation not permitted" in r.stderr
    with open(m.path("L", ".json")) as f:
        assert f.read() == "[]\n"
    os.rmdir(m.path("L"))
    r = sh("cp -a %s/. %s/" % (bk, m.dir))
    assert r.returncode == 1
    assert "L/.raw': File exists" in r.stderr


def test_rsync_inplace_and_ftruncate_of_an_item(shmfs, shmdir, tmp_path):
    """An item's ftruncate cuts or pads its pending text as a file's would
    (the peer: a file), so rsync --inplace into an item exits 0; a size the
    item can't hold is EFBIG and stores nothing."""
    m = shmfs(shmdir=shmdir, prefix="")
    make_list(m)
    item = m.path("L", "1.str")
    peerfile = tmp_path / "p"
    peerfile.write_text("hi\n")
    for path in (item, str(peerfile)):
        with open(path, "r+") as f:
            f.write("abcdefg")
            f.truncate(4)
    # The item's text is the str with a newline added.
    assert open(item).read() == peerfile.read_text() + "\n" == "abcd\n"
    src = tmp_path / "v"
    src.write_text("bye\n")
    r = sh("rsync -a --inplace %s %s" % (src, item))
    assert r.returncode == 0, r.stderr
    assert open(item).read() == "bye\n"
    fd = os.open(item, os.O_RDWR)
    assert errno_of(os.ftruncate, fd, 1 << 30) == errno.EFBIG
    os.close(fd)
    assert open(item).read() == "bye\n"
    # By path, only 0 has a meaning.
    assert errno_of(os.truncate, item, 3) == errno.EINVAL


def test_rm_rf_of_a_list_stops_at_its_items(shmfs, shmdir):
    """rm -rf L can't remove a list's items (EPERM: removing one would
    renumber the others under attached processes) and leaves the list
    whole; rmdir L removes it (docs/lists.md)."""
    m = shmfs(shmdir=shmdir, prefix="")
    make_list(m)
    want = snapshot(m)
    r = sh("rm -rf %s" % m.path("L"))
    assert r.returncode == 1
    assert "Operation not permitted" in r.stderr
    assert snapshot(m) == want
    os.rmdir(m.path("L"))
    assert sorted(os.listdir(m.dir)) == ["a"]


def test_write_past_the_end_reserves(shmfs, mode_options, prefix):
    """1 byte written at 64 MiB: without passthrough the daemon reserves the
    hole, as truncate does; with passthrough the kernel writes without the
    daemon and the hole stays unreserved, as on tmpfs (docs/reliability.md).
    With -o sparse, as tmpfs always."""
    size = 64 << 20
    for opts in (mode_options, (*mode_options, "sparse")):
        m = shmfs(*opts)
        fd = os.open(m.path("w"), os.O_CREAT | os.O_RDWR, 0o600)
        os.pwrite(fd, b"x", size)
        os.close(fd)
        st = os.stat(m.block("w"))
        assert st.st_size == size + 1
        reserved = st.st_blocks * 512 >= size
        assert reserved == ("nopassthrough" in opts and "sparse" not in opts)
        os.unlink(m.block("w"))
        m.close()


def test_write_past_the_end_of_a_full_tmpfs(shmfs, small_tmpfs):
    """Without passthrough, a write whose hole doesn't fit answers ENOSPC
    and leaves the block as it was."""
    m = shmfs("nopassthrough", shmdir=small_tmpfs, prefix="")
    fd = os.open(m.path("w"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        assert errno_of(os.pwrite, fd, b"x", 4 << 20) == errno.ENOSPC
        assert os.fstat(fd).st_size == 0
        assert os.pwrite(fd, b"x", 4096) == 1
    finally:
        os.close(fd)
