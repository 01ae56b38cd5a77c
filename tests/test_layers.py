# SPDX-License-Identifier: MIT
"""fs/ keeps its layers (fs/layers.txt): read from the built objects, every
call between two files of the daemon goes to a file of the same layer or
below, and the calls make no circle."""

import glob
import os
import subprocess

import pytest

from conftest import BUILD, ROOT

LAYERS = os.path.join(ROOT, "fs", "layers.txt")


def layer_map():
    layers = {}
    with open(LAYERS) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if words:
                for name in words[1:]:
                    layers[name] = int(words[0])
    return layers


def symbols(obj, *flags):
    out = subprocess.run(["nm", "--format=posix", *flags, obj],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def call_graph(objdir):
    """{file: set of files it calls}, from undefined and defined symbols."""
    objs = {os.path.basename(o).split(".")[0]: o
            for o in glob.glob(os.path.join(objdir, "*.o"))}
    defined = {}
    for name, obj in objs.items():
        for sym in symbols(obj, "--defined-only", "--extern-only"):
            defined[sym] = name
    graph = {}
    for name, obj in objs.items():
        graph[name] = {defined[s] for s in symbols(obj, "--undefined-only")
                       if s in defined and defined[s] != name}
    return graph


def violations(graph, layers):
    """Calls up a layer, and files the map doesn't place."""
    bad = [f"{f}: not in fs/layers.txt" for f in graph if f not in layers]
    for f, callees in graph.items():
        for c in callees:
            if f in layers and c in layers and layers[c] > layers[f]:
                bad.append(f"{f} (layer {layers[f]}) calls up into "
                           f"{c} (layer {layers[c]})")
    return sorted(bad)


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


def objdir():
    d = os.path.join(BUILD, "fs", "shmfs.p")
    if not glob.glob(os.path.join(d, "*.o")):
        pytest.skip("the daemon's objects are not built")
    return d


def test_no_call_goes_up_a_layer():
    assert violations(call_graph(objdir()), layer_map()) == []


def test_calls_make_no_circle():
    assert circles(call_graph(objdir())) == []


def test_the_check_sees_a_call_up_and_a_circle():
    """The checks themselves, on a graph with a deliberate call up."""
    layers = {"shmfs": 1, "shmdir": 2, "ops": 6}
    graph = {"shmfs": {"shmdir"}, "shmdir": {"shmfs"}, "ops": {"shmdir"}}
    assert violations(graph, layers) == [
        "shmfs (layer 1) calls up into shmdir (layer 2)"]
    assert circles(graph) == [["shmdir", "shmfs"]]


def test_every_source_file_has_a_layer():
    srcs = {os.path.basename(p)[:-2]
            for p in glob.glob(os.path.join(ROOT, "fs", "*.c"))}
    assert sorted(srcs - set(layer_map())) == []
