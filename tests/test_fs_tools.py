# SPDX-License-Identifier: MIT
"""The mount with ordinary tools (ls, cat, cp, dd, truncate, rm, mv, chmod,
stat, hexdump) and Python's open(), in both data path modes; /dev/shm itself
(the block files) and a tmpfs directory are the references."""

import errno
import os
import stat
import subprocess
from multiprocessing import shared_memory

import pytest

from conftest import untrack
from mountutil import run, errno_of


def make_block(name, data, size=None):
    """A block made by CPython, closed again (the block stays)."""
    shm = shared_memory.SharedMemory(name=name, create=True,
                                     size=size or len(data))
    untrack(shm)
    shm.buf[:len(data)] = data
    shm.close()


def test_ls_shows_blocks_with_their_attributes(mnt, prefix):
    make_block(prefix + "one", b"x" * 100)
    make_block(prefix + "two", b"y" * 5000)
    os.chmod(mnt.block("two"), 0o640)
    out = run("ls", "-ln", "--time-style=+%s", mnt.dir)
    lines = {l.split()[-1]: l.split() for l in out.splitlines()[1:]}
    assert set(lines) == {"one", "two"}
    for name in lines:
        st = os.stat(mnt.block(name))
        mode, _, uid, gid, size, mtime = lines[name][:6]
        assert mode == stat.filemode(st.st_mode)
        assert (int(uid), int(gid)) == (st.st_uid, st.st_gid)
        assert int(size) == st.st_size
        assert int(mtime) == int(st.st_mtime)


def test_stat_matches_the_block(mnt, prefix):
    make_block(prefix + "s", b"abc", size=4096)
    fmt = "%s %a %u %g %i %Y %h %F"
    assert run("stat", "-c", fmt, mnt.path("s")) == \
        run("stat", "-c", fmt, mnt.block("s"))


def test_cat_and_hexdump_show_the_block(mnt, prefix):
    data = bytes(range(256)) * 3
    make_block(prefix + "h", data)
    assert subprocess.run(["cat", mnt.path("h")], capture_output=True,
                          check=True).stdout == data
    assert run("hexdump", "-C", mnt.path("h")) == \
        run("hexdump", "-C", mnt.block("h"))


def test_cp_in_and_out(mnt, prefix, tmp_path):
    src = tmp_path / "src"
    data = os.urandom(300000)
    src.write_bytes(data)
    run("cp", str(src), mnt.path("copy"))
    with open(mnt.block("copy"), "rb") as f:
        assert f.read() == data
    run("cp", mnt.path("copy"), str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == data
    # A new file gets the requested mode and the caller's owner.
    st = os.stat(mnt.block("copy"))
    assert st.st_uid == os.getuid() and st.st_gid == os.getgid()


def test_dd_write_and_read(mnt, prefix, tmp_path):
    src = tmp_path / "src"
    data = os.urandom(1 << 20)
    src.write_bytes(data)
    run("dd", "if=" + str(src), "of=" + mnt.path("dd"), "bs=64k",
        "status=none")
    with open(mnt.block("dd"), "rb") as f:
        assert f.read() == data
    # Rewrite a piece in the middle without truncating.
    run("dd", "if=/dev/zero", "of=" + mnt.path("dd"), "bs=4096", "seek=3",
        "count=2", "conv=notrunc", "status=none")
    out = subprocess.run(["dd", "if=" + mnt.path("dd"), "bs=4096",
                          "status=none"], capture_output=True,
                         check=True).stdout
    assert out == data[:3 * 4096] + bytes(8192) + data[5 * 4096:]


def test_truncate_resizes_the_block(mnt, prefix, peer):
    make_block(prefix + "t", b"123456789")
    for size in ("100K", "5", "0", "1M"):
        run("truncate", "-s", size, mnt.path("t"))
        run("truncate", "-s", size, os.path.join(peer, "t"))
        assert os.stat(mnt.block("t")).st_size == \
            os.stat(os.path.join(peer, "t")).st_size
        assert os.stat(mnt.path("t")).st_size == \
            os.stat(mnt.block("t")).st_size
    with open(mnt.path("t"), "rb") as f:
        assert f.read() == bytes(1 << 20)


def test_rm_removes_the_block(mnt, prefix):
    make_block(prefix + "r", b"r")
    run("rm", mnt.path("r"))
    assert not os.path.exists(mnt.block("r"))
    assert not os.path.exists(mnt.path("r"))
    assert errno_of(os.stat, mnt.path("r")) == errno.ENOENT


def test_mv_renames_the_block_and_keeps_it(mnt, prefix):
    make_block(prefix + "m", b"moved")
    ino = os.stat(mnt.block("m")).st_ino
    run("mv", mnt.path("m"), mnt.path("n"))
    assert not os.path.exists(mnt.block("m"))
    assert os.stat(mnt.block("n")).st_ino == ino
    assert os.stat(mnt.path("n")).st_ino == ino
    with open(mnt.path("n"), "rb") as f:
        assert f.read() == b"moved"
    # Over an existing file, as on tmpfs.
    make_block(prefix + "o", b"old")
    run("mv", "-f", mnt.path("n"), mnt.path("o"))
    with open(mnt.block("o"), "rb") as f:
        assert f.read() == b"moved"
    assert sorted(os.listdir(mnt.dir)) == ["o"]


def test_chmod_chown_touch(mnt, prefix):
    make_block(prefix + "c", b"c")
    run("chmod", "640", mnt.path("c"))
    assert stat.S_IMODE(os.stat(mnt.block("c")).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(mnt.path("c")).st_mode) == 0o640
    if os.geteuid() == 0:
        run("chown", "1234:5678", mnt.path("c"))
        st = os.stat(mnt.block("c"))
        assert (st.st_uid, st.st_gid) == (1234, 5678)
        assert os.stat(mnt.path("c")).st_uid == 1234
    run("touch", "-d", "@1000000000", mnt.path("c"))
    assert os.stat(mnt.block("c")).st_mtime == 1000000000
    assert os.stat(mnt.path("c")).st_mtime == 1000000000
    os.utime(mnt.path("c"), ns=(5 * 10**9 + 7, 6 * 10**9 + 9))
    st = os.stat(mnt.block("c"))
    assert (st.st_atime_ns, st.st_mtime_ns) == (5 * 10**9 + 7, 6 * 10**9 + 9)


def test_python_open(mnt, prefix, peer):
    for d in (mnt.dir, peer):
        p = os.path.join(d, "py")
        with open(p, "w") as f:
            f.write("hello\n")
        with open(p, "a") as f:
            f.write("world\n")
        with open(p, "r+b") as f:
            f.seek(2)
            f.write(b"LL")
            f.seek(0)
            assert f.read() == b"heLLo\nworld\n"
        with pytest.raises(FileExistsError):
            open(p, "x")
        with open(p, "rb") as f:
            f.seek(6)
            assert f.read(5) == b"world"
            assert f.tell() == 11
    with open(mnt.block("py"), "rb") as f:
        assert f.read() == b"heLLo\nworld\n"
    assert stat.S_IMODE(os.stat(mnt.block("py")).st_mode) == \
        stat.S_IMODE(os.stat(os.path.join(peer, "py")).st_mode)


def test_new_file_mode_is_exact(mnt, prefix):
    old = os.umask(0)
    try:
        fd = os.open(mnt.path("m1"), os.O_CREAT | os.O_WRONLY, 0o604)
        os.close(fd)
        os.mknod(mnt.path("m2"), 0o640 | stat.S_IFREG)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(mnt.block("m1")).st_mode) == 0o604
    assert stat.S_IMODE(os.stat(mnt.block("m2")).st_mode) == 0o640
    assert os.stat(mnt.block("m2")).st_size == 0


def test_statfs_reports_the_shm_filesystem(mnt):
    a, b = os.statvfs(mnt.dir), os.statvfs("/dev/shm")
    assert (a.f_bsize, a.f_blocks, a.f_files) == \
        (b.f_bsize, b.f_blocks, b.f_files)


def test_only_prefixed_regular_files_show(mnt, prefix, peer):
    make_block(prefix + "shown", b"1")
    make_block("x" + prefix + "other", b"2")
    try:
        os.mkfifo(os.path.join("/dev/shm", prefix + "fifo"))
        os.symlink("nowhere", os.path.join("/dev/shm", prefix + "link"))
        names = os.listdir(mnt.dir)
        assert names == ["shown"]
        # peer is a directory named prefix+"peer-...": hidden too.
        for hidden in ("fifo", "link", os.path.basename(peer)[len(prefix):]):
            assert errno_of(os.stat, mnt.path(hidden)) == errno.ENOENT
    finally:
        os.unlink(os.path.join("/dev/shm", "x" + prefix + "other"))


def test_semaphores_shown_without_prefix(shmfs, prefix):
    """With no prefix the mount shows all of /dev/shm, semaphores under
    their own names, minus non-regular files.  (Read-only: other tests'
    blocks are visible.)  32 zero bytes are no glibc semaphore (a private
    futex): a plain block; a name made through the mount is a semaphore
    (tests/test_fs_sem.py has the rest)."""
    sem = os.path.join("/dev/shm", "sem." + prefix + "s")
    made = os.path.join("/dev/shm", "sem." + prefix + "t")
    with open(sem, "wb") as f:
        f.write(b"\0" * 32)
    try:
        make_block(prefix + "b", b"b")
        m = shmfs(prefix="")
        names = os.listdir(m.dir)
        assert prefix + "b" in names
        assert "sem." + prefix + "s" in names
        with open(m.path("sem." + prefix + "s"), "rb") as f:
            assert f.read() == b"\0" * 32
        with open(m.path("sem." + prefix + "t"), "w") as f:
            f.write("3")
        with open(made, "rb") as f:
            data = f.read()
        assert len(data) == 32 and data[:8] == (3).to_bytes(8, "little")
    finally:
        os.unlink(sem)
        if os.path.exists(made):
            os.unlink(made)


def test_xattrs(mnt, prefix):
    make_block(prefix + "x", b"x")
    try:
        os.setxattr(mnt.block("x"), "user.probe", b"1")
    except OSError as e:
        pytest.skip("the shm filesystem has no user xattrs: %s" % e)
    os.setxattr(mnt.path("x"), "user.color", b"blue")
    assert os.getxattr(mnt.block("x"), "user.color") == b"blue"
    assert os.getxattr(mnt.path("x"), "user.probe") == b"1"
    # The block's own, and the mount's read-only holders attributes
    # (docs/holders.md), which the block itself doesn't carry.
    own = [n for n in os.listxattr(mnt.path("x"))
           if n not in ("user.shmfs.holders", "user.shmfs.nholders",
                        "user.shmfs.holders_age")]
    assert sorted(own) == sorted(os.listxattr(mnt.block("x")))
    os.removexattr(mnt.path("x"), "user.color")
    assert errno_of(os.getxattr, mnt.block("x"), "user.color") == \
        errno.ENODATA
    assert errno_of(os.getxattr, mnt.path("x"), "user.color") == \
        errno.ENODATA


def test_readdir_of_many_blocks(mnt, prefix):
    names = {"f%04d" % i for i in range(600)}
    for n in names:
        with open(mnt.block(n), "wb"):
            pass
    assert set(os.listdir(mnt.dir)) == names
    # Plain readdir (ls -f) and readdirplus (ls -l) both see them all.
    assert set(run("ls", "-f", mnt.dir).split()) - {".", ".."} == names
    inos = {e.name: e.inode() for e in os.scandir(mnt.dir)}
    for n in list(names)[:20]:
        assert inos[n] == os.stat(mnt.block(n)).st_ino
