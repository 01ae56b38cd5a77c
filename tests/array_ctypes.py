# SPDX-License-Identifier: MIT
"""ctypes declarations of the array (.npy) API of core/shmblock.h."""

import ctypes

from conftest import load_library

MAX_DIMS = 64
HEADER_MAX = 1 << 20


class NpyInfo(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint8), ("minor", ctypes.c_uint8),
                ("fortran_order", ctypes.c_bool), ("structured", ctypes.c_bool),
                ("ndim", ctypes.c_uint), ("data_offset", ctypes.c_uint64),
                ("itemsize", ctypes.c_uint64), ("count", ctypes.c_uint64),
                ("nbytes", ctypes.c_uint64), ("descr", ctypes.c_void_p),
                ("descr_len", ctypes.c_size_t),
                ("shape", ctypes.c_uint64 * MAX_DIMS)]

    def descr_text(self):
        raw = ctypes.string_at(self.descr, self.descr_len) if self.descr_len else b""
        return raw.decode("utf-8" if self.major == 3 else "latin-1")

    def shape_tuple(self):
        return tuple(self.shape[k] for k in range(self.ndim))


P = ctypes.POINTER
vp = ctypes.c_void_p
sz = ctypes.c_size_t
ssz = ctypes.c_ssize_t
i = ctypes.c_int
u64 = ctypes.c_uint64
cp = ctypes.c_char_p

PROTO = {
    "shmblock_npy_probe": (i, [vp, sz, u64, P(NpyInfo)]),
    "shmblock_npy_probe_fd": (i, [i, u64, vp, sz, P(NpyInfo)]),
    "shmblock_npy_describe": (i, [cp, ctypes.c_uint, P(u64), ctypes.c_bool,
                                  P(NpyInfo)]),
    "shmblock_npy_header_build": (ssz, [cp, ctypes.c_uint, P(u64), ctypes.c_bool,
                                        sz, vp, sz]),
    "shmblock_npy_shape_parse": (i, [cp, sz, P(u64), P(ctypes.c_uint)]),
    "shmblock_npy_shape_format": (ssz, [P(u64), ctypes.c_uint, ctypes.c_char,
                                        cp, sz]),
    "shmblock_array_create": (i, [cp, cp, ctypes.c_uint, P(u64), ctypes.c_bool,
                                  ctypes.c_uint, ctypes.c_uint, P(vp)]),
    "shmblock_array_create_at": (i, [i, cp, cp, ctypes.c_uint, P(u64),
                                     ctypes.c_bool, ctypes.c_uint, ctypes.c_uint,
                                     P(vp)]),
    "shmblock_array_attach": (i, [cp, ctypes.c_uint, P(vp)]),
    "shmblock_array_attach_at": (i, [i, cp, ctypes.c_uint, P(vp)]),
    "shmblock_array_close": (None, [vp]),
    "shmblock_array_block": (vp, [vp]),
    "shmblock_array_info": (P(NpyInfo), [vp]),
    "shmblock_array_data": (vp, [vp]),
    "shmblock_array_descr": (cp, [vp]),
    "shmblock_array_ndim": (ctypes.c_uint, [vp]),
    "shmblock_array_shape": (P(u64), [vp]),
    "shmblock_array_fortran_order": (ctypes.c_bool, [vp]),
    "shmblock_array_itemsize": (u64, [vp]),
    "shmblock_array_nbytes": (u64, [vp]),
    "shmblock_array_data_offset": (u64, [vp]),
}


def load():
    lib = load_library()
    for fn, (res, args) in PROTO.items():
        f = getattr(lib, fn)
        f.restype = res
        f.argtypes = args
    return lib


def shape_arg(shape):
    return (u64 * max(len(shape), 1))(*shape)


def probe(lib, data, block_size=None):
    """shmblock_npy_probe on an exact-size copy of `data`: (rc, info)."""
    buf = ctypes.create_string_buffer(data, max(len(data), 1))
    info = NpyInfo()
    rc = lib.shmblock_npy_probe(buf, len(data),
                                len(data) if block_size is None else block_size,
                                ctypes.byref(info))
    info._keep = buf
    return rc, info


def header_build(lib, descr, shape, fortran=False, align=0):
    """The header bytes, or the negative errno."""
    d = descr.encode() if isinstance(descr, str) else descr
    n = lib.shmblock_npy_header_build(d, len(shape), shape_arg(shape), fortran,
                                      align, None, 0)
    if n < 0:
        return n
    buf = ctypes.create_string_buffer(n)
    assert lib.shmblock_npy_header_build(d, len(shape), shape_arg(shape), fortran,
                                         align, buf, n) == n
    return buf.raw


class CArray:
    """An array handle, for the tests."""

    def __init__(self, lib, h):
        self.lib, self.h = lib, h

    @classmethod
    def create(cls, lib, name, descr, shape, fortran=False, mode=0o600, flags=0):
        h = vp()
        rc = lib.shmblock_array_create(name.encode() if name else None,
                                       descr.encode(), len(shape), shape_arg(shape),
                                       fortran, mode, flags, ctypes.byref(h))
        return rc, (cls(lib, h) if rc == 0 else None)

    @classmethod
    def attach(cls, lib, name, flags=0):
        h = vp()
        rc = lib.shmblock_array_attach(name.encode(), flags, ctypes.byref(h))
        return rc, (cls(lib, h) if rc == 0 else None)

    def close(self):
        if self.h:
            self.lib.shmblock_array_close(self.h)
            self.h = None

    @property
    def info(self):
        return self.lib.shmblock_array_info(self.h).contents

    @property
    def name(self):
        return self.lib.shmblock_name(self.lib.shmblock_array_block(self.h)).decode()

    @property
    def descr(self):
        return self.lib.shmblock_array_descr(self.h).decode()

    @property
    def shape(self):
        s = self.lib.shmblock_array_shape(self.h)
        return tuple(s[k] for k in range(self.lib.shmblock_array_ndim(self.h)))

    @property
    def nbytes(self):
        return self.lib.shmblock_array_nbytes(self.h)

    @property
    def data_offset(self):
        return self.lib.shmblock_array_data_offset(self.h)

    def data(self):
        """The data as a writable ctypes char array over the mapping."""
        addr = self.lib.shmblock_array_data(self.h)
        return (ctypes.c_char * self.nbytes).from_address(addr)
