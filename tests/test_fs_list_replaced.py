# SPDX-License-Identifier: MIT
"""A list directory listed while another process replaces the list under
its name by rename(2), as CPython users and the mount's own append do
(issue 23.3): a name that exists throughout never gives an error, as a
tmpfs directory exchanged under the same loop never does."""

import errno
import os
import subprocess
import sys
from multiprocessing import shared_memory

from conftest import SHM_DIR, untrack

# Several listers: a lookup by one takes the name to the new list while
# another's request is on its way to the old one.
LISTERS = 3
SECONDS = 2.5

LISTER = r"""
import errno, json, os, sys, time
errors, n = {}, 0
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        os.listdir(sys.argv[1])
    except OSError as e:
        errors[errno.errorcode[e.errno]] = errors.get(errno.errorcode[e.errno], 0) + 1
    n += 1
print(json.dumps([n, errors]))
"""

# Replaces `target` over and over: a new ShareableList made under a
# temporary name and renamed over it (shm), or a new directory exchanged
# with it (tmpfs, where rename(2) can't replace a directory that has
# entries).
REPLACER = r"""
import ctypes, os, sys, time
from multiprocessing import resource_tracker, shared_memory
kind, target, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
libc = ctypes.CDLL(None, use_errno=True)
end = time.monotonic() + seconds
i = 0
while time.monotonic() < end:
    tmp = target + ".t"
    if kind == "shm":
        sl = shared_memory.ShareableList([i, 2, 3, 4][:3 + i % 2],
                                         name=os.path.basename(tmp))
        resource_tracker.unregister(sl.shm._name, "shared_memory")
        sl.shm.close()
        os.rename(tmp, target)
    else:
        os.mkdir(tmp)
        for k in range(3 + i % 2):
            open(os.path.join(tmp, str(k)), "w").close()
        assert libc.renameat2(-100, tmp.encode(), -100, target.encode(), 2) == 0
        for k in os.listdir(tmp):
            os.unlink(os.path.join(tmp, k))
        os.rmdir(tmp)
    i += 1
print(i)
"""


def listed_under_replacement(listed, replaced, kind):
    """Runs the replacer on `replaced` and the listers on `listed`; returns
    (listings, {errno name: count}, replacements)."""
    rep = subprocess.Popen([sys.executable, "-c", REPLACER, kind, replaced,
                            str(SECONDS)], stdout=subprocess.PIPE, text=True)
    listers = [subprocess.Popen([sys.executable, "-c", LISTER, listed,
                                 str(SECONDS)], stdout=subprocess.PIPE, text=True)
               for _ in range(LISTERS)]
    n, errors = 0, {}
    for p in listers:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        k, e = __import__("json").loads(out)
        n += k
        for name, c in e.items():
            errors[name] = errors.get(name, 0) + c
    out, _ = rep.communicate(timeout=60)
    assert rep.returncode == 0
    return n, errors, int(out)


def test_tmpfs_lists_a_directory_replaced_meanwhile(peer):
    """The peer: a tmpfs directory exchanged under its name, listed."""
    d = os.path.join(peer, "L")
    os.mkdir(d)
    n, errors, swaps = listed_under_replacement(d, d, "tmpfs")
    assert swaps > 100 and n > 300
    assert errors == {}, (errors, n)


def test_list_replaced_by_rename_outside_lists_without_error(shmfs, prefix):
    """The same through the mount, the list replaced by CPython's lists
    renamed over it: never ESTALE (it was about 1 in 1,000)."""
    m = shmfs()
    sl = shared_memory.ShareableList([1, 2, 3], name=prefix + "L")
    untrack(sl.shm)
    sl.shm.close()
    n, errors, swaps = listed_under_replacement(
        m.path("L"), os.path.join(SHM_DIR, prefix + "L"), "shm")
    assert swaps > 100 and n > 300
    assert errors == {}, (errors, n)
    assert os.listdir(m.path("L"))[:3] == [".format", ".json", ".raw"]
