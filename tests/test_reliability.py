# SPDX-License-Identifier: MIT
"""Bad input at the mount's surfaces: names at and past NAME_MAX and with odd
bytes, sizes of 0 and huge ones, a full shm file system.  Every case ends in
the errno tmpfs gives (or the one docs/reliability.md names) and loses
nothing: other blocks and the block itself keep their bytes."""

import errno
import os
import subprocess
import tempfile
import time

import pytest

from mountutil import errno_of

NAME_MAX = 255


@pytest.fixture
def shmdir():
    """A private tmpfs-backed shm directory (a directory of /dev/shm), so a
    mount can run with an empty prefix and names can use all 255 bytes."""
    d = tempfile.mkdtemp(prefix="shmfs-rely-", dir="/dev/shm")
    yield d
    subprocess.run(["rm", "-rf", d], check=False)


def roundtrip(path, data):
    """Creates `path` with `data`, reads it back, stats it, lists it and
    unlinks it; returns the errno of the first failing step, 0 if none."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.write(fd, data)
            assert os.pread(fd, len(data) + 1, 0) == data
        finally:
            os.close(fd)
        assert os.stat(path).st_size == len(data)
        d, base = os.path.split(os.fsencode(path))
        assert base in os.listdir(d)
        with open(path, "rb") as f:
            assert f.read() == data
        os.unlink(path)
        assert not os.path.lexists(path)
    except OSError as e:
        return e.errno
    return 0


# Names ---------------------------------------------------------------------

def test_name_length_with_prefix(mnt, prefix):
    """Mount names whose block name is exactly NAME_MAX work; one byte more,
    and names of 255 and 256 bytes after the prefix, give ENAMETOOLONG, on
    every surface (create, lookup, mknod, rename, unlink)."""
    room = NAME_MAX - len(prefix)
    longest = "a" * room
    assert roundtrip(mnt.path(longest), b"longest") == 0
    for n in (room + 1, 255, 256):
        name = "b" * n
        p = mnt.path(name)
        assert errno_of(os.open, p, os.O_CREAT | os.O_RDWR, 0o600) == errno.ENAMETOOLONG  # never opens
        assert errno_of(os.stat, p) == errno.ENAMETOOLONG
        assert errno_of(os.mknod, p, 0o600) == errno.ENAMETOOLONG
        assert errno_of(os.unlink, p) == errno.ENAMETOOLONG
    # Rename onto a name that is too long loses nothing.
    src = mnt.path("src")
    with open(src, "wb") as f:
        f.write(b"keep me")
    assert errno_of(os.rename, src, mnt.path("c" * (room + 1))) == errno.ENAMETOOLONG
    with open(src, "rb") as f:
        assert f.read() == b"keep me"
    assert sorted(os.listdir(mnt.dir)) == ["src"]


def test_name_length_without_prefix(shmfs, shmdir, peer):
    """With an empty prefix the mount takes names of NAME_MAX bytes and
    refuses 256, as tmpfs does."""
    m = shmfs(shmdir=shmdir, prefix="")
    for n in (NAME_MAX, NAME_MAX + 1):
        want = roundtrip(os.path.join(peer, "x" * n), b"data")
        assert roundtrip(m.path("x" * n), b"data") == want, n
    assert want == errno.ENAMETOOLONG
    assert os.listdir(shmdir) == []


ODD_NAMES = [
    b"\x01\x02\x7f",
    b"\xff\xfe latin-1 \xe9",
    b"new\nline",
    b"tab\tand space ",
    b" leading space",
    b"back\\slash",
    b"quote'\"",
    b"...",
    b"-dash",
    b"star*?[x]",
    "unicod\u00e9-\u4e2d\u6587-\U0001f600".encode(),
    b"%s%n%x",
    b"sem",
    b"semx.y",
]


def test_odd_bytes_in_names(mnt, peer):
    """Every byte but '/' and NUL is a name byte: create, read, list and
    unlink work as on tmpfs, and the block in /dev/shm has the same name."""
    for raw in ODD_NAMES:
        assert roundtrip(os.path.join(os.fsencode(peer), raw), raw) == 0
        path = os.path.join(os.fsencode(mnt.dir), raw)
        with open(path, "wb") as f:
            f.write(raw)
        with open(os.fsencode(mnt.block("")) + raw, "rb") as f:
            assert f.read() == raw
    assert sorted(os.listdir(os.fsencode(mnt.dir))) == sorted(ODD_NAMES)
    for raw in ODD_NAMES:
        os.unlink(os.path.join(os.fsencode(mnt.dir), raw))
    assert os.listdir(mnt.dir) == []


def test_names_made_outside_with_odd_bytes(mnt):
    """Blocks created directly in /dev/shm with odd names show in the mount
    with their bytes."""
    for raw in ODD_NAMES:
        with open(os.fsencode(mnt.block("")) + raw, "wb") as f:
            f.write(raw * 3)
    for raw in ODD_NAMES:
        with open(os.path.join(os.fsencode(mnt.dir), raw), "rb") as f:
            assert f.read() == raw * 3
    assert sorted(os.listdir(os.fsencode(mnt.dir))) == sorted(ODD_NAMES)


def test_semaphore_names_are_for_semaphores(shmfs, shmdir):
    """Names of named semaphores ("sem.*") are semaphores' (issue 26): a
    file there that is no semaphore is shown, untouched, as a plain block;
    one made through the mount is a semaphore, never an empty file; a block
    can't be renamed to such a name, nor a list made there."""
    m = shmfs(shmdir=shmdir, prefix="")
    sem = os.path.join(shmdir, "sem.x")
    with open(sem, "wb") as f:
        f.write(b"semaphore")
    with open(m.path("sem.x"), "rb") as f:
        assert f.read() == b"semaphore"
    fd = os.open(m.path("sem.y"), os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    assert os.stat(os.path.join(shmdir, "sem.y")).st_size == 32
    with open(m.path("a"), "wb") as f:
        f.write(b"a")
    assert errno_of(os.rename, m.path("a"), m.path("sem.x")) == errno.EPERM
    assert errno_of(os.mkdir, m.path("sem.z")) == errno.EPERM
    assert sorted(os.listdir(m.dir)) == ["a", "sem.x", "sem.y"]
    with open(sem, "rb") as f:
        assert f.read() == b"semaphore"


# Sizes ---------------------------------------------------------------------

def test_size_zero(mnt, peer):
    """Empty blocks: create, read (EOF at once), truncate to 0 and back,
    a write of 0 bytes, as on tmpfs."""
    for d in (peer, mnt.dir):
        p = os.path.join(d, "empty")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            assert os.fstat(fd).st_size == 0
            assert os.pread(fd, 4096, 0) == b""
            assert os.pread(fd, 4096, 1 << 20) == b""
            assert os.write(fd, b"") == 0
            assert os.fstat(fd).st_size == 0
            os.write(fd, b"abc")
            os.ftruncate(fd, 0)
            assert os.pread(fd, 10, 0) == b""
            os.ftruncate(fd, 5)
            assert os.pread(fd, 10, 0) == b"\0" * 5
        finally:
            os.close(fd)
    assert os.path.getsize(mnt.block("empty")) == 5


HUGE = [2**63 - 1, 2**62, 2**50]


def test_huge_sizes_reserve(mnt):
    """Without -o sparse growing reserves the memory, so a size larger than
    the shm file system answers ENOSPC (or EFBIG past the largest file), and
    the block keeps its size and bytes."""
    p = mnt.path("huge")
    with open(p, "wb") as f:
        f.write(b"precious")
    for size in HUGE:
        assert errno_of(os.truncate, p, size) in (errno.ENOSPC, errno.EFBIG), size
        fd = os.open(p, os.O_RDWR)
        try:
            assert errno_of(os.ftruncate, fd, size) in (errno.ENOSPC, errno.EFBIG)
            assert errno_of(os.posix_fallocate, fd, 0, size) in (errno.ENOSPC, errno.EFBIG)
        finally:
            os.close(fd)
        assert os.path.getsize(p) == 8
        with open(p, "rb") as f:
            assert f.read() == b"precious"
        with open(mnt.block("huge"), "rb") as f:
            assert f.read() == b"precious"


def test_huge_sizes_sparse(shmfs, mode_options, peer):
    """With -o sparse the mount grows like tmpfs: the same sizes give what
    tmpfs gives (a sparse file), and writing near the largest offset gives
    tmpfs's result too."""
    m = shmfs("sparse", *mode_options)
    for d in (peer, m.dir):
        with open(os.path.join(d, "huge"), "wb") as f:
            f.write(b"precious")
    for size in HUGE:
        want = errno_of(os.truncate, os.path.join(peer, "huge"), size)
        assert errno_of(os.truncate, m.path("huge"), size) == want, size
        assert os.path.getsize(m.path("huge")) == os.path.getsize(os.path.join(peer, "huge"))
        with open(m.path("huge"), "rb") as f:
            assert f.read(8) == b"precious"
    for off in (2**63 - 2, 2**63 - 1, 2**62):
        res = []
        for d in (peer, m.dir):
            fd = os.open(os.path.join(d, "huge"), os.O_RDWR)
            try:
                res.append(errno_of(os.pwrite, fd, b"z", off))
            finally:
                os.close(fd)
        assert res[0] == res[1], (off, res)
    for d in (peer, m.dir):
        os.truncate(os.path.join(d, "huge"), 8)
    with open(m.block("huge"), "rb") as f:
        assert f.read() == b"precious"


def test_negative_and_past_end_offsets(mnt, peer):
    """Reads and writes at offsets tmpfs refuses get tmpfs's errno."""
    for d in (peer, mnt.dir):
        with open(os.path.join(d, "f"), "wb") as f:
            f.write(b"0123456789")
    for off in (-1, 2**63 - 1):
        res = []
        for d in (peer, mnt.dir):
            fd = os.open(os.path.join(d, "f"), os.O_RDWR)
            try:
                res.append((errno_of(os.pread, fd, 1, off),
                            errno_of(os.pwrite, fd, b"x", off)))
            finally:
                os.close(fd)
        assert res[0] == res[1], (off, res)
    with open(mnt.block("f"), "rb") as f:
        assert f.read() == b"0123456789"


def test_full_shm_filesystem(small_tmpfs, shmfs, mode_options, prefix):
    """On a full shm file system (a 1 MiB tmpfs given with -o shmdir) every
    way of growing answers ENOSPC, nothing half-done stays, the blocks
    already there keep their bytes, and freeing space makes it work again."""
    m = shmfs(*mode_options, shmdir=small_tmpfs)
    keep = os.urandom(256 * 1024)
    with open(m.path("keep"), "wb") as f:
        f.write(keep)
    # Grow by truncate and fallocate past what is left: ENOSPC, no change.
    p = m.path("grow")
    with open(p, "wb") as f:
        f.write(b"g" * 1000)
    assert errno_of(os.truncate, p, 4 << 20) == errno.ENOSPC
    assert os.path.getsize(p) == 1000
    fd = os.open(p, os.O_RDWR)
    try:
        assert errno_of(os.posix_fallocate, fd, 0, 4 << 20) == errno.ENOSPC
        assert os.fstat(fd).st_size == 1000
    finally:
        os.close(fd)
    # Fill it by writing: the write that doesn't fit answers ENOSPC (a
    # short write first, as on tmpfs), and what was written stays.
    written = 0
    fd = os.open(m.path("fill"), os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        chunk = b"f" * 65536
        with pytest.raises(OSError) as e:
            for _ in range(64):
                n = os.write(fd, chunk)
                written += n
                if n < len(chunk):
                    os.write(fd, chunk)
        assert e.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    assert 0 < written < (1 << 20)
    assert os.path.getsize(m.path("fill")) == written
    assert os.path.getsize(os.path.join(small_tmpfs, prefix + "fill")) == written
    # Creating an empty file may still work (it takes no pages); making it
    # any bigger fails cleanly.
    q = m.path("late")
    rc = errno_of(lambda: os.close(os.open(q, os.O_CREAT | os.O_WRONLY, 0o600)))
    assert rc in (0, errno.ENOSPC)
    if rc == 0:
        assert errno_of(os.truncate, q, 1 << 20) == errno.ENOSPC
        assert os.path.getsize(q) == 0
    with open(m.path("keep"), "rb") as f:
        assert f.read() == keep
    with open(os.path.join(small_tmpfs, prefix + "keep"), "rb") as f:
        assert f.read() == keep
    # Room again, once the kernel has forgotten the unlinked block (the
    # daemon holds each known block open until then; FORGET is asynchronous,
    # see docs/reliability.md).
    os.unlink(m.path("fill"))
    deadline = time.monotonic() + 10
    while errno_of(os.truncate, p, 512 * 1024) == errno.ENOSPC:
        assert time.monotonic() < deadline, "the unlinked block's space never came back"
        time.sleep(0.01)
    assert os.path.getsize(p) == 512 * 1024
    for n in os.listdir(m.dir):
        os.unlink(m.path(n))
