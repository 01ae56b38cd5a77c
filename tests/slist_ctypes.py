# SPDX-License-Identifier: MIT
"""ctypes declarations of the ShareableList and manager API of
core/shmblock.h, and conversions between Python values and
struct shmblock_value."""

import ctypes
import errno

from conftest import load_library

TYPE_NONE, TYPE_INT, TYPE_FLOAT, TYPE_BOOL, TYPE_STR, TYPE_BYTES = range(6)
PY39, PY38 = 39, 38
PROBE_SHALLOW = 1
SETTLE_KNOWN = 1
MAX_SLOT = 9999992


class _Str(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _ValueUnion(ctypes.Union):
    _fields_ = [("i", ctypes.c_int64), ("f", ctypes.c_double),
                ("b", ctypes.c_bool), ("s", _Str)]


class Value(ctypes.Structure):
    _anonymous_ = ("u",)
    _fields_ = [("type", ctypes.c_int), ("u", _ValueUnion)]


class Item(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("capacity", ctypes.c_uint64),
                ("type", ctypes.c_int)]


class Layout(ctypes.Structure):
    _fields_ = [("version", ctypes.c_int), ("count", ctypes.c_uint64),
                ("size", ctypes.c_uint64), ("data_offset", ctypes.c_uint64),
                ("formats_offset", ctypes.c_uint64),
                ("codes_offset", ctypes.c_uint64),
                ("items", ctypes.POINTER(Item))]


class Edit(ctypes.Structure):
    _fields_ = [("data_offset", ctypes.c_uint64), ("data_len", ctypes.c_uint64),
                ("payload", ctypes.c_void_p), ("payload_len", ctypes.c_size_t),
                ("scalar", ctypes.c_ubyte * 8),
                ("format_offset", ctypes.c_uint64), ("format", ctypes.c_char * 8),
                ("code_offset", ctypes.c_uint64), ("code", ctypes.c_int8)]


P = ctypes.POINTER
vp = ctypes.c_void_p
sz = ctypes.c_size_t
ssz = ctypes.c_ssize_t
i = ctypes.c_int

PROTO = {
    "shmblock_slist_validate": (i, [vp, sz, P(P(Layout))]),
    "shmblock_slist_layout_free": (None, [P(Layout)]),
    "shmblock_slist_read": (i, [P(Layout), vp, sz, sz, P(Value)]),
    "shmblock_slist_encode_set": (i, [P(Layout), sz, P(Value), P(Edit)]),
    "shmblock_slist_edit_apply": (i, [P(Edit), vp, sz]),
    "shmblock_slist_layout_size": (i, [P(Value), sz, P(sz)]),
    "shmblock_slist_build": (i, [P(Value), sz, vp, sz]),
    "shmblock_slist_format_render": (ssz, [P(Layout), ctypes.c_char_p, sz]),
    "shmblock_value_equal": (ctypes.c_bool, [P(Value), P(Value)]),
    "shmblock_slist_probe_fd": (i, [i, ctypes.c_uint64, ctypes.c_uint, P(P(Layout))]),
    "shmblock_slist_get_fd": (i, [i, P(Layout), sz, P(Value), vp, sz]),
    "shmblock_slist_probe_torn_fd": (i, [i, ctypes.c_uint64, P(P(Layout))]),
    "shmblock_slist_recheck_fd": (i, [i, P(Layout), sz]),
    "shmblock_slist_each_fd": (i, [i, P(Layout), sz, sz, vp, vp]),
    "shmblock_slist_probe_settled": (i, [i, ctypes.c_uint64, ctypes.c_uint, vp,
                                         P(P(Layout))]),
    "shmblock_slist_create": (i, [ctypes.c_char_p, P(Value), sz, ctypes.c_uint, P(vp)]),
    "shmblock_slist_create_at": (i, [i, ctypes.c_char_p, P(Value), sz,
                                     ctypes.c_uint, P(vp)]),
    "shmblock_slist_attach": (i, [ctypes.c_char_p, ctypes.c_uint, P(vp)]),
    "shmblock_slist_attach_at": (i, [i, ctypes.c_char_p, ctypes.c_uint, P(vp)]),
    "shmblock_slist_close": (None, [vp]),
    "shmblock_slist_block": (vp, [vp]),
    "shmblock_slist_len": (ssz, [vp]),
    "shmblock_slist_get": (i, [vp, sz, P(Value), vp, sz]),
    "shmblock_slist_set": (i, [vp, sz, P(Value)]),
    "shmblock_slist_type": (i, [vp, sz]),
    "shmblock_slist_count": (ssz, [vp, P(Value)]),
    "shmblock_slist_index": (ssz, [vp, P(Value)]),
    "shmblock_slist_format": (ssz, [vp, ctypes.c_char_p, sz]),
    "shmblock_manager_start": (i, [P(vp)]),
    "shmblock_manager_create_block": (i, [vp, i, ctypes.c_char_p, sz, ctypes.c_uint,
                                          ctypes.c_uint, P(vp)]),
    "shmblock_manager_create_slist": (i, [vp, i, ctypes.c_char_p, P(Value), sz,
                                          ctypes.c_uint, P(vp)]),
    "shmblock_manager_pid": (ctypes.c_int, [vp]),
    "shmblock_manager_shutdown": (i, [vp]),
}


def load():
    """The library with the block, list and manager API declared."""
    lib = load_library()
    for fn, (res, args) in PROTO.items():
        f = getattr(lib, fn)
        f.restype = res
        f.argtypes = args
    return lib


class CError(OSError):
    def __init__(self, rc, what):
        super().__init__(-rc, "%s: %s" % (what, errno.errorcode.get(-rc, rc)))
        self.rc = rc


def check(rc, what):
    if rc < 0:
        raise CError(rc, what)
    return rc


def to_value(obj, keep):
    """A Value for a Python object; `keep` holds the buffers it points to."""
    v = Value()
    if obj is None:
        v.type = TYPE_NONE
    elif isinstance(obj, bool):
        v.type, v.b = TYPE_BOOL, obj
    elif isinstance(obj, int):
        v.type, v.i = TYPE_INT, obj
    elif isinstance(obj, float):
        v.type, v.f = TYPE_FLOAT, obj
    elif isinstance(obj, (str, bytes, bytearray)):
        raw = obj.encode("utf-8", "surrogatepass") if isinstance(obj, str) else bytes(obj)
        buf = ctypes.create_string_buffer(raw, len(raw) + 1)
        keep.append(buf)
        v.type = TYPE_STR if isinstance(obj, str) else TYPE_BYTES
        v.s.ptr = ctypes.addressof(buf)
        v.s.len = len(raw)
    else:
        raise TypeError(type(obj))
    return v


def raw_value(type_, data=b""):
    """A STR/BYTES Value carrying raw bytes, for invalid inputs."""
    keep = ctypes.create_string_buffer(data, len(data) + 1)
    v = Value()
    v.type = type_
    v.s.ptr = ctypes.addressof(keep)
    v.s.len = len(data)
    v._keep = keep
    return v


def values_array(objs):
    keep = []
    arr = (Value * max(len(objs), 1))()
    for k, o in enumerate(objs):
        arr[k] = to_value(o, keep)
    arr._keep = keep
    return arr


def from_value(v):
    if v.type == TYPE_NONE:
        return None
    if v.type == TYPE_BOOL:
        return bool(v.b)
    if v.type == TYPE_INT:
        return v.i
    if v.type == TYPE_FLOAT:
        return v.f
    raw = ctypes.string_at(v.s.ptr, v.s.len) if v.s.len else b""
    return raw.decode("utf-8") if v.type == TYPE_STR else raw


class CList:
    """A C list handle with Python-ish methods, for the tests."""

    def __init__(self, lib, handle):
        self.lib, self.h = lib, handle

    @classmethod
    def create(cls, lib, name, objs, mode=0o600):
        arr = values_array(objs)
        h = vp()
        check(lib.shmblock_slist_create(name.encode() if name else None, arr,
                                        len(objs), mode, ctypes.byref(h)),
              "create")
        return cls(lib, h)

    @classmethod
    def attach(cls, lib, name, flags=0):
        h = vp()
        check(lib.shmblock_slist_attach(name.encode(), flags, ctypes.byref(h)),
              "attach")
        return cls(lib, h)

    @property
    def name(self):
        return self.lib.shmblock_name(self.lib.shmblock_slist_block(self.h)).decode()

    def __len__(self):
        return check(self.lib.shmblock_slist_len(self.h), "len")

    def get_rc(self, index, buflen=1 << 16):
        v = Value()
        buf = ctypes.create_string_buffer(max(buflen, 1))
        rc = self.lib.shmblock_slist_get(self.h, index, ctypes.byref(v), buf, buflen)
        v._keep = buf   # v.s.ptr points into buf
        return rc, v

    def __getitem__(self, index):
        rc, v = self.get_rc(index)
        check(rc, "get")
        return from_value(v)

    def set_rc(self, index, obj):
        keep = []
        v = obj if isinstance(obj, Value) else to_value(obj, keep)
        return self.lib.shmblock_slist_set(self.h, index, ctypes.byref(v))

    def __setitem__(self, index, obj):
        check(self.set_rc(index, obj), "set")

    def type(self, index):
        return self.lib.shmblock_slist_type(self.h, index)

    def count_rc(self, obj):
        keep = []
        return self.lib.shmblock_slist_count(self.h, ctypes.byref(to_value(obj, keep)))

    def index_rc(self, obj):
        keep = []
        return self.lib.shmblock_slist_index(self.h, ctypes.byref(to_value(obj, keep)))

    @property
    def format(self):
        n = check(self.lib.shmblock_slist_format(self.h, None, 0), "format")
        buf = ctypes.create_string_buffer(n + 1)
        check(self.lib.shmblock_slist_format(self.h, buf, n + 1), "format")
        return buf.value.decode()

    def tolist(self):
        return [self[k] for k in range(len(self))]

    def close(self):
        if self.h:
            self.lib.shmblock_slist_close(self.h)
            self.h = None


class Parsed:
    """A validated layout of a bytes object (the buffer layer)."""

    def __init__(self, lib, data):
        self.lib = lib
        self.buf = ctypes.create_string_buffer(bytes(data), max(len(data), 1))
        self.len = len(data)
        self.lay = P(Layout)()
        self.rc = lib.shmblock_slist_validate(self.buf, self.len, ctypes.byref(self.lay))

    def read(self, index):
        v = Value()
        rc = self.lib.shmblock_slist_read(self.lay, self.buf, self.len, index,
                                          ctypes.byref(v))
        return rc, (from_value(v) if rc == 0 else None)

    def close(self):
        if self.rc == 0:
            self.lib.shmblock_slist_layout_free(self.lay)
            self.rc = -1


def layout_fields(lay, types=True):
    """A validated layout as plain tuples, to compare two of them."""
    items = tuple((lay.items[k].offset, lay.items[k].capacity,
                   lay.items[k].type if types else None) for k in range(lay.count))
    return (lay.version, lay.count, lay.size, lay.data_offset,
            lay.formats_offset, lay.codes_offset, items)


class Probed:
    """A layout read through a descriptor (shmblock_slist_probe_fd)."""

    def __init__(self, lib, fd, size, flags=0):
        self.lib, self.fd = lib, fd
        self.lay = P(Layout)()
        self.rc = lib.shmblock_slist_probe_fd(fd, size, flags, ctypes.byref(self.lay))

    def get(self, index, buflen=1 << 16):
        v = Value()
        buf = ctypes.create_string_buffer(max(buflen, 1))
        rc = self.lib.shmblock_slist_get_fd(self.fd, self.lay, index, ctypes.byref(v),
                                            buf, buflen)
        if rc == -errno.ENOBUFS:
            return rc, v.s.len
        return rc, (from_value(v) if rc == 0 else None)

    def close(self):
        if self.rc == 0:
            self.lib.shmblock_slist_layout_free(self.lay)
            self.rc = -1
