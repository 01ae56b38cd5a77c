# SPDX-License-Identifier: MIT
"""`meson install --destdir` yields a library that a C program finds through
pkg-config, and that program's block is attached by CPython."""

import glob
import os
import subprocess
import textwrap
from multiprocessing import shared_memory

from conftest import BUILD, untrack

PROGRAM = textwrap.dedent("""
    #include <shmblock.h>
    #include <string.h>
    #include <stdio.h>
    int main(int argc, char **argv)
    {
        struct shmblock *b;
        int rc = shmblock_create(argv[1], 64, SHMBLOCK_DEFAULT_MODE, 0, &b);
        if (rc < 0)
            return 1;
        strcpy(shmblock_data(b), "installed");
        printf("%s\\n", shmblock_name(b));
        shmblock_close(b);
        return 0;
    }
""")


def test_install_and_build_against_pkg_config(tmp_path, names):
    dest = tmp_path / "dest"
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", str(dest)],
                   check=True, capture_output=True)
    pcs = glob.glob(str(dest / "**" / "shmblock.pc"), recursive=True)
    assert len(pcs) == 1
    headers = glob.glob(str(dest / "**" / "include" / "shmblock.h"), recursive=True)
    assert len(headers) == 1
    # The daemon and its manual page come along.
    daemons = glob.glob(str(dest / "**" / "bin" / "shmfs"), recursive=True)
    assert len(daemons) == 1
    version = subprocess.run([daemons[0], "--version"], capture_output=True, text=True)
    assert "shmfs version" in version.stdout + version.stderr
    man = glob.glob(str(dest / "**" / "man1" / "shmfs.1"), recursive=True)
    assert len(man) == 1
    manpage = subprocess.run(["man", "-l", "-P", "cat", man[0]], capture_output=True,
                             text=True, env=dict(os.environ, MANWIDTH="80"))
    assert manpage.returncode == 0 and "prefix" in manpage.stdout
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=str(dest))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "shmblock"], env=env,
                           check=True, capture_output=True, text=True).stdout.split()
    libdir = [f[2:] for f in flags if f.startswith("-L")][0]
    assert glob.glob(os.path.join(libdir, "libshmblock.so*"))
    assert os.path.exists(os.path.join(libdir, "libshmblock.a"))
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "prog"
    subprocess.run(["cc", "-Wall", "-Werror", "-o", str(exe), str(src), *flags,
                    "-Wl,-rpath," + libdir], check=True)
    name = names()
    out = subprocess.run([str(exe), name], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == name
    peer = shared_memory.SharedMemory(name)
    untrack(peer)
    try:
        assert bytes(peer.buf[:10]) == b"installed\0"
    finally:
        peer.close()
        peer.unlink()
