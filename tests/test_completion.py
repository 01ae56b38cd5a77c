# SPDX-License-Identifier: MIT
"""The bash completions in completions/, loaded by bash-completion as it
loads any: COMPREPLY for a few command lines, and the lists they offer
held to the programs' own --help (every -o option of shmfs, every option
and column of lsshm)."""

import os
import re
import subprocess

from conftest import BUILD, ROOT
from test_lsshm import LSSHM

SHMFS = os.path.join(BUILD, "fs", "shmfs")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


def complete(line, cwd=None):
    """COMPREPLY for the command line `line` (the cursor at its end)."""
    cmd = line.split()[0]
    script = r'''
source %s
source %s
read -ra COMP_WORDS <<<"$1"
[[ $1 == *" " ]] && COMP_WORDS+=("")
COMP_LINE=$1 COMP_POINT=${#1} COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
# bash splits words at "=" and ":" (COMP_WORDBREAKS) as it completes
__reassemble_comp_words_by_ref "=" words cword 2>/dev/null
_%s %s "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%%s\n' "${COMPREPLY[@]}"
''' % (BASH_COMPLETION, os.path.join(ROOT, "completions", cmd), cmd, cmd)
    # Without the sanitized suite's LD_PRELOAD (it is for the library in
    # python): procps's ps, which _pids runs, hangs on a futex under it.
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    r = subprocess.run(["bash", "-c", script, "bash", line], cwd=cwd,
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return [x for x in r.stdout.split("\n") if x]


def help_of(prog):
    return subprocess.run([prog, "--help"], capture_output=True,
                          text=True).stdout


def test_shmfs_o_offers_every_option_of_its_help():
    offered = {o.rstrip("=") for o in complete("shmfs -o ")}
    # shmfs's own and libfuse's (-o max_threads, -o allow_other...).
    documented = set(re.findall(r"-o (\w+)", help_of(SHMFS)))
    assert {"prefix", "sparse", "allow_other"} <= documented
    assert documented <= offered, documented - offered


def test_shmfs_o_completes_the_last_item():
    assert complete("shmfs -o allow_other,spa") == ["allow_other,sparse"]
    assert complete("shmfs -o nopass") == ["nopassthrough"]
    assert complete("shmfs -o prefix=x,time") == ["prefix=x,timeout="]


def test_shmfs_options_and_mountpoint(tmp_path):
    assert set(complete("shmfs --")) == {"--help", "--version"}
    (tmp_path / "mnt").mkdir()
    (tmp_path / "file").write_text("")
    assert complete("shmfs m", cwd=tmp_path) == ["mnt"]


def test_lsshm_options_are_those_of_its_help():
    offered = set(complete("lsshm -"))
    documented = set(re.findall(r"(?<![\w-])(--?[\w-]+)", help_of(LSSHM)
                                .split("Available output columns")[0]))
    assert documented == offered, documented ^ offered


def test_lsshm_columns_are_those_of_its_help():
    cols = re.findall(r"^\s+([A-Z]+)  ", help_of(LSSHM).split(
        "Available output columns:")[1], re.M)
    assert len(cols) >= 13
    assert sorted(complete("lsshm -o ")) == sorted(cols)
    assert complete("lsshm -o NAME,SI") == ["NAME,SIZE"]
    assert complete("lsshm --output +own") == ["+OWNER"]


def test_lsshm_pid_and_user():
    pids = complete("lsshm --target ")
    assert str(os.getpid()) in pids
    assert "root" in complete("lsshm -u ro")
