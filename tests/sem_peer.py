# SPDX-License-Identifier: MIT
"""glibc's own named semaphores through ctypes: the peer the semaphore
tests check libshmblock against.  Imported by the tests, and run as a
separate process that waits or posts:
    python3 sem_peer.py wait NAME          sem_wait once, print "woke"
    python3 sem_peer.py waits NAME N       sem_wait N times
    python3 sem_peer.py posts NAME N       sem_post N times
"""

import ctypes
import os
import sys

O_CREAT = os.O_CREAT
O_EXCL = os.O_EXCL


class Glibc:
    def __init__(self):
        self.c = ctypes.CDLL("libc.so.6", use_errno=True)
        self.c.sem_open.restype = ctypes.c_void_p
        for fn in ("sem_close", "sem_post", "sem_wait", "sem_trywait",
                   "sem_getvalue"):
            getattr(self.c, fn).restype = ctypes.c_int
        self.c.sem_unlink.restype = ctypes.c_int
        self.c.sem_unlink.argtypes = [ctypes.c_char_p]

    def _check(self, rc):
        if rc != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    def open(self, name, flags=0, mode=0o600, value=0):
        """sem_open("/name", ...): the handle (an address)."""
        sem = self.c.sem_open(("/" + name).encode(), ctypes.c_int(flags),
                              ctypes.c_uint(mode), ctypes.c_uint(value))
        if not sem:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return sem

    def close(self, sem):
        self._check(self.c.sem_close(ctypes.c_void_p(sem)))

    def unlink(self, name):
        self._check(self.c.sem_unlink(("/" + name).encode()))

    def post(self, sem):
        self._check(self.c.sem_post(ctypes.c_void_p(sem)))

    def wait(self, sem):
        self._check(self.c.sem_wait(ctypes.c_void_p(sem)))

    def trywait(self, sem):
        self._check(self.c.sem_trywait(ctypes.c_void_p(sem)))

    def getvalue(self, sem):
        v = ctypes.c_int()
        self._check(self.c.sem_getvalue(ctypes.c_void_p(sem), ctypes.byref(v)))
        return v.value


def main(argv):
    g = Glibc()
    cmd, name = argv[1], argv[2]
    n = int(argv[3]) if len(argv) > 3 else 1
    sem = g.open(name)
    for _ in range(n):
        if cmd == "posts":
            g.post(sem)
        else:
            g.wait(sem)
    if cmd == "wait":
        print("woke", flush=True)
    g.close(sem)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
