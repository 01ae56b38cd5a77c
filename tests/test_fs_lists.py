# SPDX-License-Identifier: MIT
"""ShareableLists in the mount (issue 5): a list block is a directory of
typed item files.  CPython's ShareableList is the peer both ways: what it
stores reads back through the mount, what the mount writes it reads back."""

import errno
import json
import math
import os
import random
import struct
import subprocess
import threading
from multiprocessing import shared_memory

import pytest

from conftest import SHM_DIR, untrack
from mountutil import errno_of, run

VALUES = [1, 2.5, True, "hello", b"xy", None, -7, 1e100, False, "",
          b"", 2**63 - 1, -2**63, -0.0, float("inf"), float("nan")]
TYPES = {int: "int", float: "float", bool: "bool", str: "str",
         bytes: "bytes", type(None): "none"}


def make_list(name, values):
    """A ShareableList made by CPython; the caller closes it."""
    sl = shared_memory.ShareableList(values, name=name)
    return sl


def attach(name):
    sl = shared_memory.ShareableList(name=name)
    untrack(sl.shm)
    return sl


def text_of(value):
    """What reading an item file gives, from CPython's own repr."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode() + b"\n"
    return repr(value).encode() + b"\n"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data, flags=os.O_WRONLY | os.O_TRUNC):
    """One write(2) of `data` and the close; returns 0 or the errno of open,
    write or close (an item's value is stored, or refused, at close)."""
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        return e.errno
    rc = 0
    try:
        os.write(fd, data)
    except OSError as e:
        rc = e.errno
    try:
        os.close(fd)
    except OSError as e:
        rc = rc or e.errno
    return rc


@pytest.fixture
def lst(prefix):
    """Lists made by CPython under this test's prefix, closed at the end
    (the blocks go with the prefix fixture)."""
    made = []

    def make(name, values):
        sl = make_list(prefix + name, values)
        made.append(sl)
        return sl

    yield make
    for sl in made:
        sl.shm.close()


def test_list_is_a_directory_of_typed_items(mnt, lst):
    sl = lst("L", VALUES)
    assert os.path.isdir(mnt.path("L"))
    names = sorted(os.listdir(mnt.path("L")))
    want = [".format", ".json", ".raw"] + [
        "%d.%s" % (i, TYPES[type(v)]) for i, v in enumerate(VALUES)]
    assert names == sorted(want)
    # d_type: ls -F marks the list as a directory.
    assert run("ls", "-F", mnt.dir).split() == ["L/"]
    for i, v in enumerate(VALUES):
        typed = mnt.path("L", "%d.%s" % (i, TYPES[type(v)]))
        data = read(typed)
        assert data == text_of(sl[i]), (i, v)
        assert os.stat(typed).st_size == len(data)
        assert read(mnt.path("L", str(i))) == data
        assert os.path.isfile(typed)


def test_float_text_is_python_repr(shmfs, lst):
    m = shmfs()
    rnd = random.Random(5)
    floats = [0.1, 1 / 3, 1e16, 1e-5, 123456789012345678.0, 5e-324,
              1.7976931348623157e308, -2.5e-10, 100.0, 1e15]
    floats += [struct.unpack("d", rnd.randbytes(8))[0] for _ in range(40)]
    floats = [f for f in floats if not math.isnan(f)]
    lst("F", floats)
    for i, f in enumerate(floats):
        assert read(m.path("F", str(i))) == repr(f).encode() + b"\n"


def test_python_stores_show_on_the_next_read(shmfs, lst):
    m = shmfs()
    sl = lst("L", [1, "abcdefgh"])
    fd = os.open(m.path("L", "0"), os.O_RDONLY)
    try:
        assert os.pread(fd, 100, 0) == b"1\n"
        sl[0] = 12345
        assert os.pread(fd, 100, 0) == b"12345\n"
        sl[0] = 2.5   # a type change made by Python
        assert os.pread(fd, 100, 0) == b"2.5\n"
    finally:
        os.close(fd)
    assert os.stat(m.path("L", "0")).st_size == 4
    assert "0.float" in os.listdir(m.path("L"))
    sl[1] = "xy"
    assert read(m.path("L", "1.str")) == b"xy\n"
    assert os.stat(m.path("L", "1.str")).st_size == 3


def test_writes_through_the_mount_are_read_by_python(shmfs, lst):
    m = shmfs()
    sl = lst("L", [0, 0.0, False, "........", b"........", None])
    assert write(m.path("L", "0.int"), b"  -42 \n") == 0
    assert sl[0] == -42
    assert write(m.path("L", "1.float"), b"1e-7\n") == 0
    assert sl[1] == 1e-7
    for text, want in [(b"True", True), (b"false\n", False), (b"1", True),
                       (b"0\n", False), (b"true\n", True),
                       (b"False", False)]:
        assert write(m.path("L", "2.bool"), text) == 0
        assert sl[2] is want
    # str drops one trailing newline; bytes are stored exactly.
    assert write(m.path("L", "3.str"), b"hi\n") == 0
    assert sl[3] == "hi"
    assert write(m.path("L", "3.str"), b"a\n\n") == 0
    assert sl[3] == "a\n"
    assert write(m.path("L", "4.bytes"), b"\x01\n\xff") == 0
    assert sl[4] == b"\x01\n\xff"
    assert write(m.path("L", "5.none"), b"None\n") == 0
    assert sl[5] is None
    # echo and cat round-trip a str.
    subprocess.run("echo 'héllo' > %s" % m.path("L", "3.str"), shell=True,
                   check=True)
    assert sl[3] == "héllo"
    assert run("cat", m.path("L", "3")) == "héllo\n"
    # The bare name parses by the item's current type.
    assert write(m.path("L", "0"), b"7") == 0
    assert sl[0] == 7
    assert write(m.path("L", "3"), b"ok") == 0
    assert sl[3] == "ok"


def test_type_change_by_writing_to_another_type_name(shmfs, lst):
    m = shmfs()
    sl = lst("L", [1, "abc", None])
    subprocess.run("echo 2.5 > %s" % m.path("L", "0.float"), shell=True,
                   check=True)
    assert sl[0] == 2.5 and type(sl[0]) is float
    assert "0.float" in os.listdir(m.path("L"))
    assert "0.int" not in os.listdir(m.path("L"))
    assert write(m.path("L", "0.bool"), b"True") == 0
    assert sl[0] is True
    assert write(m.path("L", "0.none"), b"None") == 0
    assert sl[0] is None
    # str or bytes into a numeric slot: CPython gives it 8 bytes.
    assert write(m.path("L", "2.str"), b"eightchr") == 0
    assert sl[2] == "eightchr"
    assert write(m.path("L", "0.bytes"), b"ninechars") == errno.EFBIG
    assert sl[0] is None
    assert write(m.path("L", "1.int"), b"99") == 0
    assert sl[1] == 99
    assert sl.format == "xxxxxx?xq8s"
    # Reading a name of the wrong type serves the current value, but only
    # the true name is listed.
    assert read(m.path("L", "1.str")) == b"99\n"
    assert "1.str" not in os.listdir(m.path("L"))


def test_write_errors_leave_the_item_unchanged(shmfs, lst):
    m = shmfs()
    sl = lst("L", [5, 2.5, True, "abc", b"abc"])
    cases = [("0.int", b"five", errno.EINVAL), ("0.int", b"1.5", errno.EINVAL),
             ("0.int", b"99999999999999999999", errno.EINVAL),
             ("1.float", b"2.5x", errno.EINVAL), ("2.bool", b"yes", errno.EINVAL),
             ("2.bool", b"2", errno.EINVAL), ("4.none", b"nothing", errno.EINVAL),
             ("3.str", b"x" * 9, errno.EFBIG), ("4.bytes", b"y" * 9, errno.EFBIG),
             ("3.str", b"\xff\xfe", errno.EINVAL)]
    before = list(sl)
    raw = read(os.path.join(SHM_DIR, sl.shm.name))
    for name, data, err in cases:
        assert write(m.path("L", name), data) == err, (name, data)
        assert list(sl) == before
    assert read(os.path.join(SHM_DIR, sl.shm.name)) == raw
    # An index beyond the list is not there.
    assert errno_of(os.stat, m.path("L", "5")) == errno.ENOENT
    assert errno_of(os.stat, m.path("L", "5.int")) == errno.ENOENT
    assert errno_of(os.stat, m.path("L", "00")) == errno.ENOENT
    assert errno_of(os.stat, m.path("L", "0.long")) == errno.ENOENT
    assert errno_of(os.stat, m.path("L", "x")) == errno.ENOENT
    # Writing (with O_CREAT, as a shell does) to an index beyond the list:
    # ENOENT.  Other names can't be created.
    assert write(m.path("L", "7.int"), b"1", os.O_WRONLY | os.O_CREAT | os.O_TRUNC) == \
        errno.ENOENT
    assert write(m.path("L", "x.int"), b"1", os.O_WRONLY | os.O_CREAT) == \
        errno.EINVAL
    assert write(m.path("L", "5"), b"1", os.O_WRONLY | os.O_CREAT) == \
        errno.EINVAL
    assert errno_of(os.open, m.path("L", "0.int"),
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL) == errno.EEXIST
    assert list(sl) == before
    # Truncating an item to 0 stores its empty value: int('') raises, so
    # an int item refuses it (test_fs_items.py has str and bytes).
    assert errno_of(os.truncate, m.path("L", "0"), 0) == errno.EINVAL
    assert sl[0] == 5
    assert errno_of(os.truncate, m.path("L", "0"), 3) == errno.EINVAL
    # Items can't be removed, renamed or chmod-ed; no directories inside.
    assert errno_of(os.unlink, m.path("L", "0.int")) == errno.EPERM
    assert errno_of(os.rename, m.path("L", "0.int"),
                    m.path("L", "1.int")) == errno.EPERM
    assert errno_of(os.chmod, m.path("L", "0.int"), 0o600) == errno.EPERM
    assert errno_of(os.mkdir, m.path("L", "d")) == errno.EPERM
    # Hidden text files are read-only.
    assert errno_of(os.open, m.path("L", ".json"), os.O_WRONLY) == errno.EACCES
    assert errno_of(os.open, m.path("L", ".format"), os.O_RDWR) == errno.EACCES
    assert list(sl) == before


def test_mkdir_append_and_rmdir(shmfs, prefix):
    m = shmfs()
    os.mkdir(m.path("E"), 0o750)
    assert os.path.isdir(m.path("E"))
    assert sorted(os.listdir(m.path("E"))) == [".format", ".json", ".raw"]
    st = os.stat(m.block("E"))
    assert st.st_size == 16 and st.st_mode & 0o777 == 0o640
    assert os.getxattr(m.block("E"), "user.shmfs.list") == b"1"
    assert os.stat(m.path("E")).st_mode & 0o777 == 0o750
    assert errno_of(os.mkdir, m.path("E")) == errno.EEXIST
    sl = attach(prefix + "E")
    assert len(sl) == 0
    sl.shm.close()
    # Appends: touch, echo, and a long str through the creating handle.
    run("touch", m.path("E", "0.int"))
    subprocess.run("echo 2.5 > %s" % m.path("E", "1.float"), shell=True,
                   check=True)
    subprocess.run("printf '%%s' '%s' > %s" % ("long " * 30,
                                                m.path("E", "2.str")),
                   shell=True, check=True)
    assert write(m.path("E", "3.bytes"), b"\x00\x01abc",
                 os.O_WRONLY | os.O_CREAT) == 0
    assert write(m.path("E", "4.bool"), b"True",
                 os.O_WRONLY | os.O_CREAT) == 0
    assert write(m.path("E", "5.none"), b"", os.O_WRONLY | os.O_CREAT) == 0
    sl = attach(prefix + "E")
    try:
        assert list(sl) == [0, 2.5, "long " * 30, b"\x00\x01abc", True, None]
        assert read(m.path("E", ".format")).decode().strip() == sl.format
    finally:
        sl.shm.close()
    # No temporary block is left behind.
    assert not [n for n in os.listdir(SHM_DIR) if n.startswith(prefix) and
                "shmfs-tmp" in n]
    # Only whole items of a known type can be created.
    assert errno_of(os.mknod, m.path("E", "6.int")) == 0
    assert errno_of(os.mknod, m.path("E", "8.int")) == errno.ENOENT
    assert errno_of(os.mknod, m.path("E", "7")) == errno.EINVAL
    # rmdir removes the list with its items; unlink and rmdir mix-ups fail.
    assert errno_of(os.unlink, m.path("E")) == errno.EISDIR
    os.rmdir(m.path("E"))
    assert not os.path.exists(m.block("E"))
    with open(m.path("f"), "w") as f:
        f.write("x")
    assert errno_of(os.rmdir, m.path("f")) == errno.ENOTDIR
    assert errno_of(os.rmdir, m.path("nothing")) == errno.ENOENT


def test_rmdir_of_a_python_list_with_items(shmfs, lst):
    m = shmfs()
    sl = lst("L", [1, 2, 3])
    os.rmdir(m.path("L"))
    assert not os.path.exists(os.path.join(SHM_DIR, sl.shm.name))
    assert sl[2] == 3   # attached processes keep the block


def test_attached_processes_keep_the_old_list_after_append(shmfs, lst):
    m = shmfs()
    sl = lst("L", [1, "a"])
    assert write(m.path("L", "2.int"), b"3", os.O_WRONLY | os.O_CREAT) == 0
    assert len(sl) == 2 and list(sl) == [1, "a"]
    new = attach(sl.shm.name)
    try:
        assert list(new) == [1, "a", 3]
    finally:
        new.shm.close()
    # The str slot kept its capacity (8) through the rebuild.
    assert os.getxattr(m.path("L", "1.str"), "user.shmfs.capacity") == b"8"


def test_empty_python_list_is_a_plain_file(shmfs, lst):
    m = shmfs()
    lst("Z", [])
    assert os.path.isfile(m.path("Z"))
    assert os.stat(m.path("Z")).st_size == 16


def test_raw_format_json_and_xattrs(mnt, lst):
    values = [1, 2.5, True, "hé \"q\"\n", b"\x00\xff", None, float("inf"),
              float("-inf"), float("nan"), -0.0]
    sl = lst("L", values)
    block = os.path.join(SHM_DIR, sl.shm.name)
    assert read(mnt.path("L", ".raw")) == read(block)
    assert os.stat(mnt.path("L", ".raw")).st_size == os.stat(block).st_size
    assert read(mnt.path("L", ".format")) == sl.format.encode() + b"\n"
    assert os.getxattr(mnt.path("L"), "user.shmfs.format") == \
        sl.format.encode()
    assert "user.shmfs.format" in os.listxattr(mnt.path("L"))
    got = json.loads(read(mnt.path("L", ".json")))
    assert got[:6] == [1, 2.5, True, "hé \"q\"\n", {"bytes": "00ff"}, None]
    assert got[6:9] == ["inf", "-inf", "nan"]
    assert str(got[9]) == "-0.0"
    assert os.stat(mnt.path("L", ".json")).st_size == \
        len(read(mnt.path("L", ".json")))
    assert os.getxattr(mnt.path("L", "3.str"), "user.shmfs.capacity") == \
        str(8 * (len(values[3]) // 8 + 1)).encode()
    assert os.getxattr(mnt.path("L", "0"), "user.shmfs.capacity") == b"8"
    assert os.listxattr(mnt.path("L", "0")) == ["user.shmfs.capacity"]
    assert errno_of(os.getxattr, mnt.path("L", "0"), "user.x") == \
        errno.ENODATA
    assert errno_of(os.setxattr, mnt.path("L", "0"), "user.x", b"1") == \
        errno.EPERM
    assert errno_of(os.setxattr, mnt.path("L"), "user.shmfs.format",
                    b"q") == errno.EPERM
    # Writing .raw is writing the block.
    with open(mnt.path("L", ".raw"), "r+b") as f:
        f.seek(8 + 8 * (len(values) + 1))
        f.write(struct.pack("q", 77))
    assert sl[0] == 77


def test_blocks_that_are_not_lists_stay_files(shmfs, prefix):
    m = shmfs()
    good = shared_memory.ShareableList([1, "two", 3.0], name=prefix + "g")
    raw = bytes(good.shm.buf)
    good.shm.close()
    rnd = random.Random(7)
    blocks = {
        "random": rnd.randbytes(4096),
        "zeros": bytes(4096),
        "zeros16": bytes(16),
        "zeros8": bytes(8),
        "truncated": raw[:-1],
        "grown": raw + b"\0" * 8,
        "badcount": struct.pack("q", 1 << 60) + raw[8:],
        "negcount": struct.pack("q", -1) + raw[8:],
        "badformat": raw[:-12] + b"z" + raw[-11:],
    }
    for name, data in blocks.items():
        with open(m.block(name), "wb") as f:
            f.write(data)
    for name, data in blocks.items():
        assert os.path.isfile(m.path(name)), name
        assert read(m.path(name)) == data
    kinds = dict(l.split("\t") for l in run(
        "find", m.dir, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f\t%y\n").splitlines())
    assert kinds == dict({n: "f" for n in blocks}, g="d")
    # Random garbage in many shapes never crashes the daemon.
    for i in range(300):
        n = rnd.choice([8, 16, 24, 33, len(raw), 200])
        data = bytearray(raw[:n] if rnd.random() < 0.5 else bytes(n))
        for _ in range(rnd.randint(1, 4)):
            if data:
                data[rnd.randrange(len(data))] = rnd.randrange(256)
        with open(m.block("fuzz"), "wb") as f:
            f.write(data)
        p = m.path("fuzz")
        try:
            if os.path.isdir(p):
                for e in os.listdir(p):
                    read(os.path.join(p, e))
            else:
                os.stat(p)
        except OSError:
            pass
    assert os.path.ismount(m.dir)
    assert os.path.isdir(m.path("g"))


def test_a_file_that_becomes_a_list_gets_a_new_node(shmfs, prefix):
    m = shmfs("timeout=0")
    with open(m.block("x"), "wb") as f:
        f.write(b"plain")
    assert os.path.isfile(m.path("x"))
    sl = shared_memory.ShareableList([4, "four"])
    data = bytes(sl.shm.buf[:sl.shm.size])
    sl.shm.close()
    sl.shm.unlink()
    with open(m.block("x"), "r+b") as f:
        f.write(data)
        f.truncate(len(data))
    assert os.path.isdir(m.path("x"))
    assert read(m.path("x", "1.str")) == b"four\n"
    with open(m.block("x"), "r+b") as f:
        f.truncate(5)
    assert os.path.isfile(m.path("x"))


def test_list_rewritten_while_read_gives_errors_not_a_crash(shmfs, lst):
    # No cached entries: the list may be a file for a moment while churned.
    m = shmfs("timeout=0")
    sl = lst("L", list(range(50)) + ["s" * 40])
    good = read(os.path.join(SHM_DIR, sl.shm.name))
    path = os.path.join(SHM_DIR, sl.shm.name)
    fd = os.open(m.path("L", "50"), os.O_RDONLY)
    try:
        # Rewritten as garbage under an open item: a clean error.
        with open(path, "r+b") as f:
            f.write(b"\xff" * 64)
        assert errno_of(os.pread, fd, 100, 0) == errno.EIO
        with open(path, "r+b") as f:
            f.write(good)
        assert os.pread(fd, 100, 0) == b"s" * 40 + b"\n"
    finally:
        os.close(fd)
    stop = threading.Event()

    def churn():
        r = random.Random(3)
        while not stop.is_set():
            with open(path, "r+b") as f:
                f.truncate(r.randrange(len(good)))
                f.seek(0)
                f.write(good)
                f.truncate(len(good))

    t = threading.Thread(target=churn)
    t.start()
    seen = set()
    try:
        for i in range(400):
            for p in (m.path("L", str(i % 51)), m.path("L", ".json"),
                      m.path("L")):
                try:
                    if p == m.path("L"):
                        os.listdir(p)
                    else:
                        read(p)
                    seen.add(0)
                except OSError as e:
                    seen.add(e.errno)
    finally:
        stop.set()
        t.join()
    assert seen <= {0, errno.EIO, errno.ENOENT, errno.ESTALE, errno.ENOTDIR,
                    errno.EAGAIN}, seen
    assert os.path.ismount(m.dir)
    assert read(m.path("L", "50")) == b"s" * 40 + b"\n"


def _py38():
    root = os.environ.get("PYENV_ROOT", "/root/.pyenv")
    vdir = os.path.join(root, "versions")
    if not os.path.isdir(vdir):
        return None
    for v in sorted(os.listdir(vdir)):
        exe = os.path.join(vdir, v, "bin", "python3")
        if v.startswith("3.8") and os.access(exe, os.X_OK):
            return exe
    return None


def test_python38_layout(shmfs, prefix):
    py = _py38()
    if not py:
        pytest.skip("no CPython 3.8")
    m = shmfs()
    name = prefix + "old"
    code = ("from multiprocessing import shared_memory as s, "
            "resource_tracker as r\n"
            "import sys\n"
            "sl = s.ShareableList([1, 'abc', 2.5, None], name=%r)\n"
            "r.unregister(sl.shm._name, 'shared_memory')\n"
            "sl.shm.close()\n" % name)
    subprocess.run([py, "-c", code], check=True)
    assert sorted(os.listdir(m.path("old")))[3:] == \
        ["0.int", "1.str", "2.float", "3.none"]
    assert read(m.path("old", "1")) == b"abc\n"
    assert write(m.path("old", "0.int"), b"41") == 0
    assert write(m.path("old", "1.str"), b"xyz") == 0
    out = subprocess.run(
        [py, "-c", "from multiprocessing import shared_memory as s, "
         "resource_tracker as r\n"
         "sl = s.ShareableList(name=%r)\n"
         "r.unregister(sl.shm._name, 'shared_memory')\n"
         "print(list(sl))\nsl.shm.close()" % name],
        capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[41, 'xyz', 2.5, None]"
    # Appending would rewrite it in the 3.9+ layout its peers can't read.
    assert write(m.path("old", "4.int"), b"1", os.O_WRONLY | os.O_CREAT) == \
        errno.EOPNOTSUPP
