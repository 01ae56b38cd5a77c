# SPDX-License-Identifier: MIT
"""fs/ and core/ keep their layers (fs/layers.txt, core/layers.txt): read
from the built objects, every call between two files goes to a file of the
same layer or below, and the calls make no circle; read from the sources,
every #include "x.h" names a header of the same layer or below (a lower
file using a higher header's constants or inline functions leaves no
symbol for nm, but it has to include the header); every source file has a
layer; and none is over 800 lines."""

import glob
import os
import re
import subprocess

import pytest

from conftest import BUILD, ROOT

# Each tree, bottom up, with the build directories of its objects.
TREES = {
    "core": ["core/libshmblock.so*.p", "core/lsshm.p"],
    "fs": ["fs/shmfs.p"],
}
MAX_LINES = 800
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_map(tree):
    """{name: layer}: a source file by its stem, a header named by itself."""
    layers = {}
    with open(os.path.join(ROOT, tree, "layers.txt")) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if words:
                for name in words[1:]:
                    layers[name] = int(words[0])
    return layers


def file_layer(name, layers):
    """The layer of a source file (x.c: x's) or header (x.h, else x's)."""
    if name.endswith(".h") and name in layers:
        return layers[name]
    return layers.get(name.rsplit(".", 1)[0])


def sources(tree):
    return sorted(os.path.basename(p)
                  for ext in ("*.c", "*.h")
                  for p in glob.glob(os.path.join(ROOT, tree, ext)))


def symbols(obj, *flags):
    out = subprocess.run(["nm", "--format=posix", *flags, obj],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def call_graph(objs):
    """{file: set of files it calls}, from undefined and defined symbols of
    the objects {file: path}."""
    defined = {}
    for name, obj in objs.items():
        for sym in symbols(obj, "--defined-only", "--extern-only"):
            defined[sym] = name
    graph = {}
    for name, obj in objs.items():
        graph[name] = {defined[s] for s in symbols(obj, "--undefined-only")
                       if s in defined and defined[s] != name}
    return graph


def include_graph(srcdir):
    """{file: set of headers of the same directory it includes}."""
    graph = {}
    for name in sorted(os.listdir(srcdir)):
        if not name.endswith((".c", ".h")):
            continue
        with open(os.path.join(srcdir, name), errors="replace") as f:
            text = f.read()
        graph[name] = {h for h in INCLUDE.findall(text)
                       if "/" not in h and
                       os.path.exists(os.path.join(srcdir, h)) and h != name}
    return graph


def violations(graph, layers, what="calls", mapfile="layers.txt"):
    """Calls (or includes) up a layer, and files the map doesn't place."""
    def layer(f):
        return layers.get(f) if what == "calls" else file_layer(f, layers)

    bad = [f"{f}: not in {mapfile}" for f in graph if layer(f) is None]
    for f, targets in graph.items():
        for t in targets:
            if layer(f) is None or layer(t) is None:
                continue
            if layer(t) > layer(f):
                bad.append(f"{f} (layer {layer(f)}) {what} up into "
                           f"{t} (layer {layer(t)})")
    return sorted(set(bad))


def circles(graph):
    """The strongly connected sets of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def long_files(srcdir, names, limit=MAX_LINES):
    bad = []
    for name in names:
        with open(os.path.join(srcdir, name), errors="replace") as f:
            n = sum(1 for _ in f)
        if n > limit:
            bad.append(f"{name}: {n} lines")
    return bad


def objects(tree):
    objs = {}
    for pattern in TREES[tree]:
        for d in glob.glob(os.path.join(BUILD, pattern)):
            for o in glob.glob(os.path.join(d, "*.o")):
                objs[os.path.basename(o).split(".")[0]] = o
    if not objs:
        pytest.skip(f"the objects of {tree}/ are not built")
    return objs


@pytest.mark.parametrize("tree", sorted(TREES))
def test_no_call_goes_up_a_layer(tree):
    assert violations(call_graph(objects(tree)), layer_map(tree),
                      mapfile=f"{tree}/layers.txt") == []


@pytest.mark.parametrize("tree", sorted(TREES))
def test_calls_make_no_circle(tree):
    assert circles(call_graph(objects(tree))) == []


@pytest.mark.parametrize("tree", sorted(TREES))
def test_no_include_goes_up_a_layer(tree):
    graph = include_graph(os.path.join(ROOT, tree))
    assert violations(graph, layer_map(tree), what="includes",
                      mapfile=f"{tree}/layers.txt") == []


def test_core_includes_no_header_of_fs():
    """The trees are layers too: the library knows nothing of the daemon."""
    fs_only = set(sources("fs")) - set(sources("core"))
    core = os.path.join(ROOT, "core")
    bad = []
    for name in sources("core"):
        with open(os.path.join(core, name), errors="replace") as f:
            for h in INCLUDE.findall(f.read()):
                if os.path.basename(h) in fs_only or h.startswith("../"):
                    bad.append(f"{name} includes {h}")
    assert bad == []


@pytest.mark.parametrize("tree", sorted(TREES))
def test_every_source_file_has_a_layer(tree):
    layers = layer_map(tree)
    assert [s for s in sources(tree) if file_layer(s, layers) is None] == []


@pytest.mark.parametrize("tree", sorted(TREES))
def test_no_source_file_is_over_800_lines(tree):
    assert long_files(os.path.join(ROOT, tree), sources(tree)) == []


def test_the_check_sees_a_call_up_and_a_circle():
    """The checks themselves, on a graph with a deliberate call up."""
    layers = {"shmfs": 1, "shmdir": 2, "ops": 6}
    graph = {"shmfs": {"shmdir"}, "shmdir": {"shmfs"}, "ops": {"shmdir"}}
    assert violations(graph, layers) == [
        "shmfs (layer 1) calls up into shmdir (layer 2)"]
    assert circles(graph) == [["shmdir", "shmfs"]]


def test_the_check_sees_an_include_up_and_a_long_file(tmp_path):
    """On sources written here: a lower file that uses a higher header's
    inline function and constant (no symbol of it in the object, so the
    call check can't see it) is caught by its include, a header without a
    layer is named, and so is a file of 801 lines."""
    (tmp_path / "low.h").write_text("int low(void);\n")
    (tmp_path / "low.c").write_text(
        '#include "low.h"\n#include "high.h"\n'
        "int low(void) { return twice(HIGH_LIMIT); }\n")
    (tmp_path / "high.h").write_text(
        '#include "low.h"\n#define HIGH_LIMIT 4\n'
        "static inline int twice(int x) { return 2 * x; }\n")
    (tmp_path / "high.c").write_text('#include "high.h"\n#include <stdio.h>\n')
    (tmp_path / "loose.h").write_text('#include "low.h"\n')
    (tmp_path / "long.c").write_text("\n" * 801)
    layers = {"low": 1, "high": 2}
    graph = include_graph(str(tmp_path))
    assert graph["low.c"] == {"low.h", "high.h"}
    assert violations(graph, layers, what="includes") == [
        "long.c: not in layers.txt",
        "loose.h: not in layers.txt",
        "low.c (layer 1) includes up into high.h (layer 2)"]
    assert long_files(str(tmp_path), sorted(graph)) == ["long.c: 801 lines"]
    # Named in the map, a header takes that layer rather than its stem's.
    layers["high.h"] = 1
    assert "low.c (layer 1) includes up into high.h (layer 2)" not in \
        violations(graph, layers, what="includes")
