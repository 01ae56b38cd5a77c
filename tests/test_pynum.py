# SPDX-License-Identifier: MIT
"""fs/pynum.c against CPython: repr(float) of every power of two and of
random doubles, and int()/float() of a generated corpus, through
tests/pynum_cli in one process call per batch.  /usr/bin/python3 is the
oracle; the pyenv CPythons 3.8+ present are extra peers."""

import glob
import math
import os
import random
import re
import struct
import subprocess
import sys

import pytest

from conftest import BUILD, ROOT

CLI = os.path.join(BUILD, "tests", "pynum_cli")
TABLES = os.path.join(ROOT, "fs", "pynum_tables.h")

# What each CPython answers, in the CLI's output format.  int()'s limit on
# digits (3.11+, and 3.7.14+ backports) is switched off: pynum does not
# apply it (a long text gives ERANGE or its small value, not EINVAL).
@pytest.fixture(autouse=True)
def no_mount_left_behind():
    """Replaces conftest's check: these tests mount nothing, and on a
    machine shared with other test runs a mount that appears meanwhile is
    theirs, not a leftover to fail on (and unmount)."""
    yield


ORACLE = r"""
import struct, sys, unicodedata
try:
    sys.set_int_max_str_digits(0)
except AttributeError:
    pass
out = []
for line in sys.stdin:
    mode, _, hx = line.rstrip("\n").partition(" ")
    b = bytes.fromhex(hx)
    if mode == "r":
        out.append(repr(struct.unpack(">d", b)[0]))
        continue
    if mode == "u":
        out.append(unicodedata.unidata_version)
        continue
    try:
        t = b.decode("utf-8")
        if "\0" in t:
            raise ValueError
        v = int(t) if mode == "i" else float(t)
    except ValueError:
        out.append("err EINVAL")
        continue
    if mode == "i":
        out.append("ok %d" % v if -2**63 <= v < 2**63 else "err ERANGE")
    else:
        out.append("ok %016x" % struct.unpack(">Q", struct.pack(">d", v))[0])
sys.stdout.write("\n".join(out) + "\n")
"""


def peers():
    """/usr/bin/python3, then every pyenv CPython 3.8+ present."""
    found = ["/usr/bin/python3"]
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.path.expanduser("~/.pyenv")
    for exe in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3"))):
        m = re.search(r"/3\.(\d+)\.", exe)
        if m and int(m.group(1)) >= 8:
            found.append(exe)
    return found


def run(argv, requests):
    data = "".join("%s %s\n" % (mode, arg.hex()) for mode, arg in requests)
    res = subprocess.run(argv, input=data, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split("\n")[:-1]
    assert len(lines) == len(requests)
    return lines


def ours(requests):
    assert os.path.exists(CLI), "build tests/pynum_cli first (scripts/build)"
    return run([CLI], requests)


def python(exe, requests):
    return run([exe, "-c", ORACLE], requests)


def normalize(line):
    """NaN's payload is not Python's business; its sign is kept."""
    if line.startswith("ok ") and len(line) == 19:
        bits = int(line[3:], 16)
        if (bits >> 52) & 0x7FF == 0x7FF and bits & ((1 << 52) - 1):
            return "ok %snan" % ("-" if bits >> 63 else "")
    return line


def compare(requests, exe, got=None, describe=None):
    got = ours(requests) if got is None else got
    want = python(exe, requests)
    bad = [(r, g, w) for r, g, w in zip(requests, got, want) if normalize(g) != normalize(w)]
    shown = [(r[0], describe(r[1]) if describe else r[1], g, w) for r, g, w in bad[:10]]
    assert not bad, "%d of %d differ from %s: %s" % (len(bad), len(requests), exe, shown)
    return len(requests)


def double(x):
    return struct.pack(">d", x)


# ---- repr(float) ----

def powers_of_two():
    xs = [math.ldexp(1.0, e) for e in range(-1074, 1024)]
    return [("r", double(s * x)) for x in xs for s in (1.0, -1.0)]


def random_doubles(n, seed):
    rnd = random.Random(seed)
    out = [("r", rnd.getrandbits(64).to_bytes(8, "big")) for _ in range(n)]
    # Doubles with short reprs: random bit patterns nearly all need 16-17.
    for _ in range(n // 6):
        text = "%se%d" % (rnd.randrange(1, 10 ** rnd.randint(1, 15)), rnd.randint(-330, 310))
        out.append(("r", double(float(text))))
    for x in (0.0, -0.0, math.inf, -math.inf, math.nan, 1e16, 1e15, 9999999999999998.0,
              0.0001, 0.00001, 1e22, 1e23, 5e-324, 2.2250738585072014e-308, 0.1, 0.3):
        out.append(("r", double(x)))
    return out


@pytest.mark.parametrize("exe", peers())
def test_repr_powers_of_two(exe):
    assert compare(powers_of_two(), exe) == 4196


def test_repr_random_doubles():
    reqs = random_doubles(300000, 13)
    got = ours(reqs)
    for exe in peers():
        compare(reqs, exe, got)
    assert len(reqs) == 350016


# ---- int() and float() ----

# Digits of scripts every CPython 3.8+ knows (Unicode 12.1).
ZEROS = [0x30, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0xFF10, 0x104A0, 0x1D7CE, 0x1D7F6]
SPACES = [" ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1f", "\x85", "\xa0",
          "\u1680", "\u2003", "\u2028", "\u202f", "\u3000", "\u200b"]
OTHER = ["_", "__", "+", "-", "e", "E", ".", "inf", "INF", "nan", "NaN", "nan(1)",
         "infinity", "Infinity", "infin", "0x", "x", "a", "p", "\u00b2", "\u216b",
         "\x7f", "(", "1", "0"]


def digit(rnd):
    return chr(rnd.choice(ZEROS) + rnd.randrange(10))


def digits(rnd, n, underscores=True):
    s = []
    for i in range(n):
        if underscores and i and rnd.random() < 0.1:
            s.append("_" if rnd.random() < 0.9 else "__")
        s.append(digit(rnd))
    return "".join(s)


def plausible(rnd):
    """A number as a user might write it, then perhaps damaged."""
    ws = lambda: "".join(rnd.choice(SPACES) for _ in range(rnd.choice([0, 0, 1, 2])))
    s = ws() + rnd.choice(["", "", "+", "-"])
    k = rnd.random()
    if k < 0.1:
        s += rnd.choice(["inf", "infinity", "nan", "iNf", "NAN", "InFiNiTy"])
    else:
        s += digits(rnd, rnd.choice([1, 1, 2, 3, 5, 10, 18, 19, 20, 25]))
        if rnd.random() < 0.4:
            s += "." + digits(rnd, rnd.choice([0, 1, 2, 6]))
        if rnd.random() < 0.3:
            s += rnd.choice("eE") + rnd.choice(["", "+", "-"]) + digits(rnd, rnd.choice([1, 2, 3, 4]))
    s += ws()
    if rnd.random() < 0.3:
        i = rnd.randrange(len(s) + 1)
        s = s[:i] + rnd.choice(OTHER + SPACES) + s[i + rnd.randrange(2):]
    return s


def soup(rnd):
    """Random tokens from the whole alphabet."""
    parts = [digit, lambda r: r.choice(SPACES), lambda r: r.choice(OTHER)]
    return "".join(rnd.choice(parts)(rnd) for _ in range(rnd.randint(0, 10)))


def long_text(rnd):
    """500-5000 characters: long integers, long decimals, leading zeros."""
    n = rnd.randint(500, 5000)
    k = rnd.randrange(5)
    if k == 0:
        s = "0" * (n - 3) + digits(rnd, 3, False)
    elif k == 1:
        s = digits(rnd, n, rnd.random() < 0.5)
    elif k == 2:
        s = "0." + "0" * (n - 10) + digits(rnd, 8) + "e%d" % rnd.randint(-400, 5000)
    elif k == 3:
        s = digits(rnd, n // 2) + "." + digits(rnd, n // 2) + "e-%d" % rnd.randint(0, 5400)
    else:
        s = digits(rnd, n) + rnd.choice(OTHER)
    return rnd.choice(["", "-", " +"]) + s + rnd.choice(["", " ", "\u3000"])


def corpus(seed=5, n=40000):
    rnd = random.Random(seed)
    texts = [plausible(rnd) for _ in range(n // 2)] + [soup(rnd) for _ in range(n // 2)]
    texts += [long_text(rnd) for _ in range(300)]
    texts += ["1_000", "1_0.5", "\u0661\u0662", "nan(123)", "9223372036854775807",
              "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
              "1e999", "-1e999", "1e-999", "0x10", "1__0", "_1", "1_", "", " ", "\x1c5",
              "1e1_0", "1_e5", "1.e5", ".e5", ".5", "5.", "-nan", "+inf", "- 1"]
    return [t.encode() for t in texts]


@pytest.fixture(scope="module")
def texts():
    return corpus()


@pytest.mark.parametrize("mode", ["i", "f"])
def test_parse_corpus(texts, mode):
    reqs = [(mode, t) for t in texts]
    got = ours(reqs)
    for exe in peers():
        compare(reqs, exe, got, describe=lambda b: b.decode(errors="replace")[:60])
    # The corpus exercises both outcomes, and ERANGE for int.
    kinds = {g.split()[0] if g.startswith("ok") else g for g in got}
    assert {"ok", "err EINVAL"} <= kinds
    if mode == "i":
        assert "err ERANGE" in kinds


def test_refusals_python_cannot_express():
    bad = [b"1\x002", b"\x00", b"\xff1", b"1\xc0\xb1", b"\xed\xa0\x80", b"\xf4\x90\x80\x801"]
    for mode in "if":
        assert ours([(mode, b) for b in bad]) == ["err EINVAL"] * len(bad)


def table_zeros():
    with open(TABLES) as f:
        text = f.read()
    body = text[text.index("pynum_digit_zeros"):text.index("pynum_spaces")]
    return [int(x, 16) for x in re.findall(r"0x([0-9a-f]+),", body)]


@pytest.mark.parametrize("exe", peers())
def test_every_digit_of_the_table(exe):
    """Each run of the table, as int("0123456789") in its script, and mixed
    with ASCII; a peer with older Unicode data than the table's knows fewer
    runs, and only the runs it knows are compared."""
    zeros = table_zeros()
    reqs = []
    for z in zeros:
        run_text = "".join(chr(z + k) for k in range(10))
        reqs += [("i", run_text.encode()), ("f", ("-" + run_text[::-1] + ".5_0").encode()),
                 ("i", ("4" + run_text[7] + "_" + run_text[1]).encode())]
    got = ours(reqs)
    want = python(exe, reqs)
    assert all(g.startswith("ok") for g in got)
    same_version = python(exe, [("u", b"")])[0] == re.search(
        r'PYNUM_UNICODE_VERSION "([^"]+)"', open(TABLES).read()).group(1)
    known = 0
    for r, g, w in zip(reqs, got, want):
        if w == "err EINVAL" and not same_version:
            continue   # a script newer than this CPython's Unicode data
        assert normalize(g) == normalize(w), (r, g, w)
        known += 1
    assert known >= 3 * 50


# ---- Whether a text can still become a number (a write's check) ----

# The oracle: a prefix can begin a number when one of a few continuations
# makes it one.  From any beginning that some continuation completes, one
# of these does: nothing, a digit ("0" is the smallest, so it keeps an int
# in range whenever a digit can), the rest of a word float() takes, or the
# rest of an incomplete UTF-8 character that is a space or a digit, then
# perhaps a digit.
PREFIX_ORACLE = r"""
import sys, unicodedata
try:
    sys.set_int_max_str_digits(0)
except AttributeError:
    pass
WORDS = ["inf", "infinity", "nan"]
RESTS = [b"", b"0"] + [w[k:].encode() for w in WORDS for k in range(1, len(w))]
READ = [chr(c).encode() for c in range(0x80, 0x110000)
        if (unicodedata.category(chr(c)) == "Nd" or chr(c).isspace())
        and not 0xd800 <= c < 0xe000]

def parses(mode, b):
    try:
        t = b.decode("utf-8")
        if "\0" in t:
            return False
        v = int(t) if mode == "I" else float(t)
    except ValueError:
        return False
    return mode == "F" or -2**63 <= v < 2**63

def tail(b):
    for k in (1, 2, 3):
        if len(b) >= k and b[-k] >= 0xc0:
            return b[-k:]
    return b""

out = []
for line in sys.stdin:
    mode, _, hx = line.rstrip("\n").partition(" ")
    b = bytes.fromhex(hx)
    t = tail(b)
    rests = list(RESTS)
    if t:
        rests += [c[len(t):] + r for c in READ
                  if len(c) > len(t) and c.startswith(t) for r in (b"", b"0")]
    out.append("ok" if any(parses(mode, b + r) for r in rests) else "err EINVAL")
sys.stdout.write("\n".join(out) + "\n")
"""


def prefixes(texts, limit):
    """Every byte prefix of the texts up to `limit` bytes long, once."""
    seen = set()
    for t in texts:
        for k in range(min(len(t), limit) + 1):
            seen.add(t[:k])
    return sorted(seen)


@pytest.mark.parametrize("mode", ["I", "F"])
def test_prefix_corpus(texts, mode):
    """pynum_int_prefix and pynum_float_prefix against CPython: a text is
    refused exactly when no continuation makes int() or float() of it an
    int64 or a float, for every prefix of the corpus (incomplete UTF-8
    characters included)."""
    extra = [b"-", b"1e", b"1e+", b"inf", b"infin", b"nan", b"0x", b"1_", b"1__",
             b"\xd9", b"\xd9\xa1", b"\xe3\x80", b"\xe2\x80", b"\xed\xa0", b"1 2",
             b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808",
             b"922337203685477580_", b"5\n7", b"5\n", b"\x00", b"1.", b".", b"-.",
             b"1e1_", b"1_.5", b"infinityy", b"inf_", b"+-1", b"  \xc2\xa0 -7 \xc2"]
    reqs = [(mode, t) for t in prefixes(texts[:2500], 32) + extra]
    got = ours(reqs)
    want = run(["/usr/bin/python3", "-c", PREFIX_ORACLE], reqs)
    bad = [(r[1], g, w) for r, g, w in zip(reqs, got, want) if g != w]
    assert not bad, "%d of %d differ: %s" % (len(bad), len(reqs), bad[:10])
    assert {"ok", "err EINVAL"} <= set(got)
