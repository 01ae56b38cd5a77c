# SPDX-License-Identifier: MIT
"""A shmfs mount for the scripts (bench, stress): started in the foreground,
waited for, and always torn down."""

import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("SHMFS_BUILD", "build"))
SHMFS = os.path.join(BUILD, "fs", "shmfs")


class Mount:
    """shmfs -f -o prefix=PREFIX[,OPTIONS] on a fresh temporary directory.
    `wrapper` runs the daemon under another program (valgrind)."""

    def __init__(self, prefix, *options, wrapper=(), timeout=10):
        self.dir = tempfile.mkdtemp(prefix="shmfs-mnt-")
        opts = ",".join(("prefix=" + prefix,) + options)
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([*wrapper, SHMFS, "-f", "-o", opts, self.dir],
                                     stderr=self.log, stdout=self.log)
        deadline = time.time() + timeout
        while not os.path.ismount(self.dir):
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                raise RuntimeError("shmfs did not mount:\n" + self.stderr())
            time.sleep(0.02)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        """Unmounts; returns the daemon's exit status."""
        if os.path.ismount(self.dir):
            subprocess.run(["fusermount3", "-u", self.dir], check=False)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # A daemon that died leaves a dead mount, which os.path.ismount
        # can't stat: look in the mount table.
        with open("/proc/self/mounts") as f:
            if any(line.split()[1] == self.dir for line in f):
                subprocess.run(["umount", "-l", self.dir], check=False)
        os.rmdir(self.dir)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
