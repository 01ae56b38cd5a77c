# SPDX-License-Identifier: MIT
"""Writes the seed corpus of scripts/fuzz: lists made by the CPython running
this script (run it with 3.8 and with 3.9+ to get both layouts)."""

import os
import sys
from multiprocessing.shared_memory import ShareableList

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
TAG = "py%d%d" % sys.version_info[:2]

CASES = {
    "empty": [],
    "mixed": [1, 2.5, True, "hello", b"xy", None],
    "edges": [-2**63, 2**63 - 1, -0.0, float("inf"), float("nan"), "", b"",
              "a\0b", "12345678", b"\0\0tail"],
    "unicode": ["é" * 3, "日本", False],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for tag, values in CASES.items():
        sl = ShareableList(values)
        try:
            if tag == "mixed":
                # Assignments rewrite formats and codes: cover those forms.
                sl[0] = "x"
                sl[3] = 7
                sl[5] = False
            with open(os.path.join(OUT, "%s-%s" % (TAG, tag)), "wb") as f:
                f.write(bytes(sl.shm.buf))
        finally:
            sl.shm.close()
            sl.shm.unlink()


if __name__ == "__main__":
    main()
