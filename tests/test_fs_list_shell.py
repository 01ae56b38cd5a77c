# SPDX-License-Identifier: MIT
"""List items as a shell writes them (issue 23): a value refused is heard
where the shell listens, at write(2) (bash prints "Invalid argument" or
"File too large" and the command exits 1), as soon as what is written so
far can begin no value of the item's type by Python's rules; and a refused
write changes nothing, whatever the open's flags, as CPython's failed
sl[i] = v.  Peers: CPython's ShareableList and int()/float(), bash, and
coreutils' cat, dd and cp on a tmpfs file."""

import errno
import os
import subprocess
from multiprocessing import shared_memory

import pytest

from mountutil import errno_of

BASH = "/bin/bash"


@pytest.fixture
def lst(prefix):
    made = []

    def make(name, vals):
        sl = shared_memory.ShareableList(vals, name=prefix + name)
        made.append(sl)
        return sl

    yield make
    for sl in made:
        sl.shm.close()


def bash(script, **env):
    """Runs `script` in bash; without the sanitizer runtimes the ASan run
    preloads (coreutils' dd trips them: its aligned_alloc is not ours)."""
    base = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    return subprocess.run([BASH, "-c", script], capture_output=True, text=True,
                          env=dict(base, **env))


def python_value(kind, text):
    """What CPython's sl[i] = <text read as kind> stores, or None when the
    text is no value (int() or float() raises, or an int past int64)."""
    try:
        if kind == "int":
            v = int(text)
            return v if -2**63 <= v < 2**63 else None
        return float(text)
    except ValueError:
        return None


def may_begin(kind, text):
    """Whether some continuation makes `text` a value (the few that can
    complete any beginning: nothing, a digit, the rest of inf, infinity or
    nan)."""
    rests = ["", "0"] + [w[k:] for w in ("inf", "infinity", "nan") for k in range(1, 8)]
    return any(python_value(kind, text + r) is not None for r in rests)


TEXTS = ["12", "-7", " 42 ", "1_000", "\u0661\u0662", "notanumber", "five", "0x10",
         "1__0", "1_", "-", "+", "", "1e", "1e5", "1.5", ".5", "5.", "inf", "-Infinity",
         "nan", "infin", "inf_", "1 2", "9223372036854775807", "9223372036854775808",
         "-9223372036854775808", "2.5e-3x", "\u3000-3\u3000", "-1e-3\n", "5\n7"]


@pytest.mark.parametrize("kind", ["int", "float"])
def test_printf_into_a_number_as_cpython_assigns(shmfs, lst, kind):
    """printf TEXT > L/0.<kind> for every text: the value CPython's
    assignment of int(TEXT) or float(TEXT) stores, or the old value kept;
    write(2) refuses exactly the texts that no continuation makes a value
    (bash: "Invalid argument", exit 1), and the rest of the refused ones
    (only their end shows it) fail at close, which bash doesn't hear."""
    m = shmfs()
    old = 3 if kind == "int" else 2.5
    sl = lst("L", [old])
    path = m.path("L", "0." + kind)
    refused_at_write = 0
    for text in TEXTS:
        sl[0] = old
        r = bash('printf "%s" "$T" > "$P"', T=text, P=path)
        want = python_value(kind, text)
        got = sl[0]
        if want is None:
            assert got == old and type(got) is type(old), (text, got)
        else:
            assert got == want or (want != want and got != got), (text, got, want)
        if may_begin(kind, text):
            assert r.returncode == 0, (text, r.stderr)
        else:
            refused_at_write += 1
            assert r.returncode == 1, (text, r)
            assert "write error: Invalid argument" in r.stderr, (text, r.stderr)
    assert refused_at_write >= 8


def test_echo_into_bool_none_and_str(shmfs, lst):
    m = shmfs()
    sl = lst("L", [True, None, "abc", b"xy"])
    P = lambda n: m.path("L", n)  # noqa: E731
    for text, ok in (("False", True), ("true", True), ("1", True), ("maybe", False),
                     ("Tru", True), ("True x", False), ("10", False)):
        sl[0] = True
        r = bash('printf "%s" "$T" > "$P"', T=text, P=P("0.bool"))
        # "Tru" begins a bool: the write passes, the close refuses it.
        assert r.returncode == (0 if ok else 1), (text, r.stderr)
        if not ok:
            assert "Invalid argument" in r.stderr
        assert sl[0] == {"False": False, "true": True, "1": True}.get(text, True)
    for text, ok in (("None", True), ("", True), ("Nonsense", False), ("x", False)):
        r = bash('echo "$T" > "$P"', T=text, P=P("1.none"))
        assert r.returncode == (0 if ok else 1), (text, r.stderr)
        assert sl[1] is None
    # A str must be UTF-8: a byte that can't begin a character is refused
    # at once; a character cut short only at close.
    r = bash(r"printf 'ok\xff' > " + P("2.str"))
    assert r.returncode == 1 and "Invalid argument" in r.stderr
    assert sl[2] == "abc"
    r = bash(r"printf 'ok\xe2\x82' > " + P("2.str"))
    assert r.returncode == 0 and sl[2] == "abc"
    # Bytes take any bytes.
    assert bash(r"printf '\xff\x01' > " + P("3.bytes")).returncode == 0
    assert sl[3] == b"\xff\x01"


def refusals(P):
    """Shell commands that are refused, by the item each is refused by:
    too long (EFBIG) and no value (EINVAL), through every kind of open."""
    return [
        ("printf 'far too long for the slot' > %s" % P("1.str"), "File too large"),
        ("printf 'far too long for the slot' >> %s" % P("1.str"), "File too large"),
        ("printf 'far too long for the slot' > %s" % P("1"), "File too large"),
        ("echo notanumber > %s" % P("0.int"), "Invalid argument"),
        ("echo notanumber > %s" % P("0"), "Invalid argument"),
        ("echo 7 >> %s" % P("0.int"), "Invalid argument"),
        # A type change: str into the int's 8-byte slot, too long; text
        # that is no float.
        ("printf 'longer than eight' > %s" % P("0.str"), "File too large"),
        ("echo abc > %s" % P("0.float"), "Invalid argument"),
        ("printf 'toolongforthisslot' > %s" % P("2.bytes"), "File too large"),
        ("printf '\\xff' > %s" % P("1.str"), "Invalid argument"),
        ("echo maybe > %s" % P("3.bool"), "Invalid argument"),
        ("echo x > %s" % P("4.none"), "Invalid argument"),
    ]


def test_a_refused_write_changes_nothing(shmfs, lst, prefix):
    """Each refused shell write leaves the list as it was, byte for byte as
    CPython sees it (values and formats): bash's redirection closes a copy
    of the descriptor before it writes, and that close must not leave
    O_TRUNC's empty value behind (it did: '' after an EFBIG)."""
    m = shmfs()
    vals = [5, "ab", b"xy", True, None]
    sl = lst("L", vals)
    P = lambda n: m.path("L", n)  # noqa: E731
    for cmd, msg in refusals(P):
        r = bash(cmd)
        assert r.returncode == 1 and msg in r.stderr, (cmd, r)
        assert list(sl) == vals, (cmd, list(sl))
        assert sl.format == "q8s8sxxxxxxx?xxxxxx?x", (cmd, sl.format)
    # The same through a descriptor bash keeps open over several writes.
    r = bash('exec 3> "$P"; echo ok >&3; printf "%020d" 0 >&3; exec 3>&-', P=P("1.str"))
    assert r.returncode == 0 and "File too large" in r.stderr
    assert sl[1] == "ab"


def test_a_store_made_meanwhile_is_not_taken_back(shmfs, lst):
    """What a refused handle's earlier close stored is taken back only if
    the item still holds it: a value CPython stored since stays."""
    m = shmfs()
    sl = lst("L", [5, "abcdefgh"])
    fd = os.open(m.path("L", "1.str"), os.O_WRONLY | os.O_TRUNC)
    fd2 = os.dup(fd)
    os.close(fd2)                 # stores '' (a shell's dup2 and close)
    assert sl[1] == ""
    sl[1] = "python"
    assert errno_of(os.write, fd, b"x" * 20) == errno.EFBIG
    os.close(fd)
    assert sl[1] == "python"
    fd = os.open(m.path("L", "1.str"), os.O_WRONLY | os.O_TRUNC)
    os.close(os.dup(fd))
    assert errno_of(os.write, fd, b"x" * 20) == errno.EFBIG
    assert sl[1] == "python"       # taken back at the refused write
    os.close(fd)
    assert sl[1] == "python"


@pytest.mark.parametrize("tool", ["cat", "dd", "cp"])
def test_tools_hear_the_refusal(shmfs, lst, peer, tool):
    """cat, dd and cp writing a file that is no int: each prints its write
    error with "Invalid argument" and exits 1, where the same command into
    a tmpfs file succeeds; the item keeps its value."""
    m = shmfs()
    sl = lst("L", [5, 2.5])
    src = os.path.join(peer, "src")
    with open(src, "w") as f:
        f.write("notanumber\n")
    cmd = {"cat": 'cat "$S" > "$D"', "dd": 'dd if="$S" of="$D" status=none',
           "cp": 'cp "$S" "$D"'}[tool]
    r = bash(cmd, S=src, D=os.path.join(peer, "dst"))
    assert r.returncode == 0, r.stderr
    r = bash(cmd, S=src, D=m.path("L", "0.int"))
    assert r.returncode == 1, r
    assert "Invalid argument" in r.stderr, r.stderr
    assert sl[0] == 5
    # A valid value written a byte at a time (dd bs=1) is stored whole.
    with open(src, "w") as f:
        f.write("-1.5e3\n")
    r = bash('dd if="$S" of="$D" bs=1 status=none', S=src, D=m.path("L", "1.float"))
    assert r.returncode == 0, r.stderr
    assert sl[1] == -1500.0


@pytest.mark.parametrize("kind,chunks,want", [
    ("int", [b"1", b"2", b"3\n"], 123),
    ("int", [b"-", b"1_0", b"0"], -100),
    ("int", [b" ", b"\xd9", b"\xa1", b"\xd9\xa2"], 12),
    ("float", [b"-", b"1e", b"5"], -1e5),
    ("float", [b"i", b"n", b"f"], float("inf")),
    ("float", [b"N", b"a", b"N\n"], float("nan")),
    ("float", [b"1", b".", b"5_0"], 1.5),
    ("float", [b"\xe3\x80", b"\x802\xe3\x80\x80"], 2.0),
])
def test_chunked_values_still_store(shmfs, lst, kind, chunks, want):
    """A value written in pieces, each piece the beginning of a value only
    with what follows: no write is refused, and the close stores what
    CPython's assignment of the whole text stores."""
    m = shmfs()
    sl = lst("L", [0, 0.0])
    name = "0.int" if kind == "int" else "1.float"
    fd = os.open(m.path("L", name), os.O_WRONLY | os.O_TRUNC)
    for c in chunks:
        assert os.write(fd, c) == len(c)
    os.close(fd)
    got = sl[0 if kind == "int" else 1]
    text = b"".join(chunks).decode()
    assert python_value(kind, text) == want or want != want
    assert got == want or (want != want and got != got)
