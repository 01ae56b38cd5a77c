# SPDX-License-Identifier: MIT
"""Exact errno values of the mount, against the same operation on a tmpfs
directory where tmpfs defines the behaviour, and against the documented
choices (docs/shmfs.md) where blocks differ from files."""

import errno
import os
import stat

import pytest

from mountutil import RENAME_EXCHANGE, RENAME_NOREPLACE, errno_of, renameat2


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def both(mnt, peer, fn):
    """fn(directory) on the mount and on the tmpfs peer; their results."""
    return fn(mnt.dir), fn(peer)


def test_unsupported_kinds_give_eperm(mnt):
    write(mnt.path("f"), b"f")
    assert errno_of(os.symlink, "f", mnt.path("l")) == errno.EPERM
    assert errno_of(os.link, mnt.path("f"), mnt.path("h")) == errno.EPERM
    # mkdir makes a ShareableList (tests/test_fs_lists.py).
    assert errno_of(os.mkfifo, mnt.path("p")) == errno.EPERM
    assert errno_of(os.mknod, mnt.path("c"), stat.S_IFCHR | 0o600,
                    os.makedev(1, 3)) == errno.EPERM
    assert sorted(os.listdir(mnt.dir)) == ["f"]


def test_errors_like_tmpfs(mnt, peer):
    for d in (mnt.dir, peer):
        write(os.path.join(d, "f"), b"data")

    def probe(d):
        p = lambda n: os.path.join(d, n)  # noqa: E731
        return [
            errno_of(os.open, p("f"), os.O_CREAT | os.O_EXCL | os.O_WRONLY),
            errno_of(os.open, p("missing"), os.O_RDONLY),
            errno_of(os.stat, p("missing")),
            errno_of(os.unlink, p("missing")),
            errno_of(os.rmdir, p("f")),
            errno_of(os.rmdir, p("missing")),
            errno_of(os.rename, p("missing"), p("g")),
            errno_of(os.listdir, p("f")),
            errno_of(os.open, p("f/x"), os.O_RDONLY),
            errno_of(os.truncate, p("f"), -1),
            errno_of(os.open, p("x" * 256), os.O_CREAT | os.O_WRONLY),
        ]
    m, t = both(mnt, peer, probe)
    assert m == t
    assert m[0] == errno.EEXIST and m[1] == errno.ENOENT


def test_long_names_count_the_prefix(mnt, prefix):
    room = 255 - len(prefix)
    write(mnt.path("n" * room), b"ok")
    assert os.path.exists(mnt.block("n" * room))
    assert errno_of(os.open, mnt.path("n" * (room + 1)),
                    os.O_CREAT | os.O_WRONLY) == errno.ENAMETOOLONG


def test_open_flags_like_tmpfs(mnt, peer):
    def probe(d):
        p = os.path.join(d, "f")
        write(p, b"0123456789")
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        size_after_trunc = os.fstat(fd).st_size
        os.write(fd, b"ab")
        os.close(fd)
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"cd")
        os.close(fd)
        fd = os.open(p, os.O_RDONLY)
        bad_write = errno_of(os.write, fd, b"x")
        os.close(fd)
        fd = os.open(p, os.O_WRONLY)
        bad_read = errno_of(os.read, fd, 1)
        os.close(fd)
        return size_after_trunc, read(p), bad_write, bad_read
    assert both(mnt, peer, probe) == ((0, b"abcd", errno.EBADF, errno.EBADF),
                                      ) * 2


def test_append_goes_to_the_end_after_outside_growth(mnt, prefix):
    write(mnt.path("a"), b"12345")
    fd = os.open(mnt.path("a"), os.O_WRONLY | os.O_APPEND)
    try:
        with open(mnt.block("a"), "ab") as f:
            f.write(b"outside")
        os.write(fd, b"END")
    finally:
        os.close(fd)
    assert read(mnt.block("a")) == b"12345outsideEND"


def test_rename_flags_like_tmpfs(mnt, peer):
    def probe(d):
        p = lambda n: os.path.join(d, n)  # noqa: E731
        write(p("a"), b"A")
        write(p("b"), b"B")
        res = [renameat2(p("a"), p("b"), RENAME_NOREPLACE)]
        res.append(renameat2(p("a"), p("b"), RENAME_EXCHANGE))
        res += [read(p("a")), read(p("b"))]
        res.append(renameat2(p("a"), p("missing"), RENAME_EXCHANGE))
        res.append(renameat2(p("a"), p("c"), RENAME_NOREPLACE))
        res.append(sorted(n for n in os.listdir(d)))
        res.append(renameat2(p("c"), p("b"),
                             RENAME_NOREPLACE | RENAME_EXCHANGE))
        return res
    m, t = both(mnt, peer, probe)
    assert m == t
    assert m[:4] == [-errno.EEXIST, 0, b"B", b"A"]
    assert m[4] == -errno.ENOENT and m[-1] == -errno.EINVAL


def test_exchange_swaps_blocks(mnt, prefix):
    write(mnt.path("a"), b"A")
    write(mnt.path("b"), b"BB")
    ino_a = os.stat(mnt.block("a")).st_ino
    assert renameat2(mnt.path("a"), mnt.path("b"), RENAME_EXCHANGE) == 0
    assert os.stat(mnt.block("b")).st_ino == ino_a
    assert os.stat(mnt.path("b")).st_ino == ino_a
    assert read(mnt.path("a")) == b"BB"
    assert read(mnt.block("b")) == b"A"


def test_grow_fails_with_enospc_on_a_full_shm(shmfs, small_tmpfs):
    m = shmfs(shmdir=small_tmpfs)
    write(m.path("big"), b"x" * 4096)
    assert errno_of(os.truncate, m.path("big"), 4 << 20) == errno.ENOSPC
    assert os.stat(m.block("big")).st_size == 4096
    assert os.stat(m.path("big")).st_size == 4096
    fd = os.open(m.path("big"), os.O_RDWR)
    try:
        assert errno_of(os.ftruncate, fd, 4 << 20) == errno.ENOSPC
        assert os.fstat(fd).st_size == 4096
    finally:
        os.close(fd)
    assert read(m.path("big")) == b"x" * 4096


def test_sparse_grows_like_tmpfs(shmfs, small_tmpfs):
    m = shmfs("sparse", shmdir=small_tmpfs)
    write(m.path("big"), b"x")
    os.truncate(m.path("big"), 4 << 20)
    assert os.stat(m.block("big")).st_size == 4 << 20
    assert os.stat(m.block("big")).st_blocks <= 8


def test_write_past_the_space_gives_enospc(shmfs, small_tmpfs, mode_options):
    m = shmfs(*mode_options, shmdir=small_tmpfs)
    fd = os.open(m.path("w"), os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        chunk = b"z" * 65536
        with pytest.raises(OSError) as e:
            for _ in range(64):
                os.write(fd, chunk)
        assert e.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
