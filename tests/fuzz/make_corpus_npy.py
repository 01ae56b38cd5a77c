# SPDX-License-Identifier: MIT
"""Writes the seed corpus of the .npy fuzz target (tests/fuzz/corpus-npy):
np.save's output for a range of dtypes and shapes ("np-*"), a header padded
to a page as shmblock_array_create writes one ("page-*"), and the hostile
blocks of tests/test_array.py ("bad-*", refused with the errno given
there).  Run with Debian's python3 (numpy)."""

import io
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus-npy")
sys.path.insert(0, os.path.dirname(HERE))

from test_array import HOSTILE, npy_bytes  # noqa: E402

ARRAYS = {
    "f8-3x4": np.arange(12.0).reshape(3, 4),
    "u1": np.arange(17, dtype="|u1"),
    "i4-be-fortran": np.asfortranarray(np.arange(6, dtype=">i4").reshape(2, 3)),
    "c16": np.array([1 + 2j, -3j]),
    "S5": np.array([b"ab", b"cdefg"]),
    "U3": np.array(["é", "日本"]),
    "b1-0d": np.array(True),
    "m8ns": np.array([1, 2], dtype="<m8[ns]"),
    "M8-10D": np.array([0, 1], dtype="<M8[10D]"),
    "f2-empty": np.zeros((0, 3), dtype="<f2"),
    "V4": np.zeros(2, dtype="|V4"),
    "struct": np.zeros(2, dtype=[("x", "<f4"), ("y", "<i2", (2, 3)),
                                 ("n", [("a", "|u1"), ("b", "|S2")]),
                                 (("title", "t"), "<U1")]),
    "struct-padded": np.zeros(2, dtype=np.dtype({"names": ["a", "b"],
                                                 "formats": ["u1", "<f8"],
                                                 "offsets": [0, 8],
                                                 "itemsize": 24})),
    "struct-latin1": np.zeros(1, dtype=[("é", "<f8")]),
    "struct-utf8": np.zeros(1, dtype=[("日本", "<f8")]),
    "struct-quotes": np.zeros(1, dtype=[("it's", "<f8"), ('a"b', "u1"), ("\\x\t", "u1")]),
    "struct-empty": np.zeros(3, dtype=[]),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    import warnings
    warnings.simplefilter("ignore")  # format 3.0
    for tag, arr in ARRAYS.items():
        b = io.BytesIO()
        np.save(b, arr)
        with open(os.path.join(OUT, "np-" + tag), "wb") as f:
            f.write(b.getvalue())
    page = npy_bytes(b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                     data=bytes(48), pad_to=4096)
    with open(os.path.join(OUT, "page-f8-2x3"), "wb") as f:
        f.write(page)
    for tag, (data, _) in HOSTILE.items():
        with open(os.path.join(OUT, "bad-" + tag), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
