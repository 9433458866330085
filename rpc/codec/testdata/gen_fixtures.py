#!/usr/bin/env python3
"""Golden fixtures for the Go package rpc/codec, made by real Python.

Usage:  python3 gen_fixtures.py [OUTDIR]      (default: ./golden beside this file)
   or:  go test ./rpc/codec/ -run TestGoldenFixturesUpToDate -update

TestGoldenFixturesUpToDate runs this script into a temporary directory and
fails when testdata/golden differs from what it writes; TestGolden checks
that the Go codec decodes every fixture to the described value and encodes
it back to the same bytes.

Needs CPython 3.11+ and the msgpack module (Debian: python3-msgpack). Nothing
else: Backend.AI itself is not imported. Instead this script mirrors the
pieces of lablup/backend.ai (26.8) that decide the bytes on the wire:

* the classes that travel as pickles, under their upstream module and class
  names, registered on the fly in sys.modules so that every pickle carries
  upstream's GLOBAL names: ai.backend.common.types (SlotName, ResourceSlot,
  BinarySize and the enums), ai.backend.common.docker (ImageRef),
  ai.backend.common.events.event_types.kernel.types
  (KernelLifecycleEventReason). Each keeps the __slots__ layout upstream has,
  since that layout shows in the pickled state;
* the packing of common/msgpack.py: use_bin_type and strict_types on, and a
  default hook with upstream's ext codes and order of cases;
* temporenc.packb of temporenc 0.1.0 (the release upstream pins; it is not in
  Debian), for datetimes only: microsecond precision, aware values converted
  to UTC with their offset in quarter hours (DTSZ), naive values as DTS.

Enums: Python 3.12+ pickles an enum member as REDUCE(cls, (value,)); 3.11
pickles a StrEnum member by name through builtins.getattr. Upstream runs
CPython 3.13, so the mirrored enums define __reduce_ex__ the way 3.12+ does,
and the output is the same on every 3.11+ interpreter. One fixture keeps the
3.11 by-name form on purpose (older managers send it).

Output: one OUTDIR/<name>.msgpack per fixture, and OUTDIR/index.json (one
entry a line) listing them in order with the expected decoded value in a
typed JSON form:

  null/true/false, "str"          as is
  {"int": "123"}                  int (decimal text, exact)
  {"float": "1.5"}                float (repr)
  {"bin": "base64"}               bytes
  [ ... ]                         list or tuple (msgpack array)
  {"map": [[k, v], ...]}          dict, in insertion order, any key type
  {"uuid": "..."}                 ext 1
  {"datetime": "isoformat"}       ext 2 (naive when there is no offset)
  {"decimal": "str"}              ext 3
  {"posix_path": ...}, {"pure_posix_path": ...}, {"auto_directory_path": ...}
  {"enum": {"module", "class", "value" | "member"}}                ext 6
  {"image_ref": {"name", "project", "tag", "registry", "architecture",
                 "is_local"}}                                       ext 7
  {"resource_slot": [[slot, "decimal"], ...]}                       ext 8
  {"slot_name": "..."}                                              ext 9
  {"binary_size": "123"}                                            ext 16

An entry has "canonical": false (with "why") when re-encoding the decoded
value cannot give the same bytes, and "error" (a substring of the expected
Go error) when decoding must fail. The run is deterministic: no clocks, no
random ids, no hash-ordered containers.
"""

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import os
import pathlib
import pickle
import struct
import sys
import types
import uuid
from collections import UserDict, UserString

import msgpack

# ---------------------------------------------------------------------------
# Upstream modules and classes


def _module(name):
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sub = ".".join(parts[:i])
        if sub not in sys.modules:
            sys.modules[sub] = types.ModuleType(sub)
    return sys.modules[name]


def _place(cls, modname):
    cls.__module__ = modname
    setattr(_module(modname), cls.__name__, cls)
    return cls


TYPES = "ai.backend.common.types"
DOCKER = "ai.backend.common.docker"
EVENT_TYPES = "ai.backend.common.events.event_types.kernel.types"


class _ReduceByValue:
    """The enum pickling of CPython 3.12+ (see the module doc)."""

    def __reduce_ex__(self, proto):
        return self.__class__, (self._value_,)


class SlotName(UserString):
    __slots__ = ("_device_name", "_major_type", "_minor_type", "_parsed")

    def __init__(self, value):
        self._parsed = False
        self._device_name = ""
        self._major_type = ""
        self._minor_type = ""
        super().__init__(value)


class ResourceSlot(UserDict):
    __slots__ = ("data",)

    def __init__(self, data=None):
        super().__init__({str(k): decimal.Decimal(v) for k, v in (data or {}).items()})


class BinarySize(int):
    pass


class SlotTypes(_ReduceByValue, enum.StrEnum):
    COUNT = "count"
    BYTES = "bytes"
    UNIQUE = "unique"
    UNIFIED = "unified"


class AutoPullBehavior(_ReduceByValue, enum.StrEnum):
    DIGEST = "digest"
    TAG = "tag"
    NONE = "none"


class SessionTypes(_ReduceByValue, enum.StrEnum):
    INTERACTIVE = "interactive"
    BATCH = "batch"
    INFERENCE = "inference"
    SYSTEM = "system"


class ClusterMode(_ReduceByValue, enum.StrEnum):
    SINGLE_NODE = "single-node"
    MULTI_NODE = "multi-node"


class Sentinel(_ReduceByValue, enum.Enum):
    TOKEN = 0


class KernelLifecycleEventReason(_ReduceByValue, enum.StrEnum):
    FAILED_TO_START = "failed-to-start"
    USER_REQUESTED = "user-requested"
    SELF_TERMINATED = "self-terminated"


@dataclasses.dataclass
class ImageRef:
    name: str
    project: str | None
    tag: str
    registry: str
    architecture: str
    is_local: bool


class AutoDirectoryPath:
    """Stands in for typed_validators.AutoDirectoryPath (a pydantic Path)."""

    def __init__(self, path):
        self._path = path

    def __fspath__(self):
        return self._path


for _cls in (SlotName, ResourceSlot, BinarySize, SlotTypes, AutoPullBehavior,
             SessionTypes, ClusterMode, Sentinel):
    _place(_cls, TYPES)
_place(ImageRef, DOCKER)
_place(KernelLifecycleEventReason, EVENT_TYPES)
_place(AutoDirectoryPath, "ai.backend.common.typed_validators")

# ---------------------------------------------------------------------------
# temporenc 0.1.0 packb, for datetime values


def temporenc_pack(dt):
    offset = dt.utcoffset()
    if offset is not None:
        minutes = offset.days * 1440 + offset.seconds // 60
        dt = dt - offset
        quarters, rest = divmod(minutes, 15)
        if rest or not 0 <= quarters + 64 <= 126:
            raise ValueError("offset not encodable: %r" % (offset,))
    d = dt.year << 9 | (dt.month - 1) << 5 | (dt.day - 1)
    t = dt.hour << 12 | dt.minute << 6 | dt.second
    if offset is None:
        # 01 01 D(21) T(17) S(20) 00: DTS with microseconds, 8 bytes
        return struct.pack(">Q", 0b0101 << 60 | d << 39 | t << 22 | dt.microsecond << 2)
    # 111 01 D(21) T(17) S(20) Z(7) 00: DTSZ with microseconds, 9 bytes
    n = 0b11101 << 67 | d << 46 | t << 29 | dt.microsecond << 9 | (quarters + 64) << 2
    return n.to_bytes(9, "big")


# ---------------------------------------------------------------------------
# common/msgpack.py packing


def _default(obj):
    match obj:
        case tuple():
            return list(obj)
        case uuid.UUID():
            return msgpack.ExtType(1, obj.bytes)
        case datetime.datetime():
            return msgpack.ExtType(2, temporenc_pack(obj))
        case BinarySize():
            return msgpack.ExtType(16, pickle.dumps(obj, protocol=5))
        case decimal.Decimal():
            return msgpack.ExtType(3, pickle.dumps(obj, protocol=5))
        case pathlib.PosixPath():
            return msgpack.ExtType(4, os.fsencode(obj))
        case pathlib.PurePosixPath():
            return msgpack.ExtType(5, os.fsencode(obj))
        case AutoDirectoryPath():
            return msgpack.ExtType(17, os.fsencode(obj))
        case ResourceSlot():
            return msgpack.ExtType(8, pickle.dumps(obj, protocol=5))
        case SlotName():
            return msgpack.ExtType(9, pickle.dumps(obj, protocol=5))
        case enum.Enum():
            return msgpack.ExtType(6, pickle.dumps(obj, protocol=5))
        case ImageRef():
            return msgpack.ExtType(7, pickle.dumps(obj, protocol=5))
    raise TypeError(f"Unknown type: {obj!r} ({type(obj)})")


def packb(value):
    return msgpack.packb(value, use_bin_type=True, strict_types=True, default=_default)


# ---------------------------------------------------------------------------
# Typed JSON description of a value


def describe(v):
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, enum.Enum):
        return {"enum": {"module": type(v).__module__, "class": type(v).__qualname__,
                         "value": describe(v.value)}}
    if isinstance(v, BinarySize):
        return {"binary_size": str(int(v))}
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": repr(v)}
    if isinstance(v, bytes):
        return {"bin": base64.b64encode(v).decode()}
    if isinstance(v, (list, tuple)):
        return [describe(x) for x in v]
    if isinstance(v, dict):
        return {"map": [[describe(k), describe(x)] for k, x in v.items()]}
    if isinstance(v, uuid.UUID):
        return {"uuid": str(v)}
    if isinstance(v, datetime.datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, pathlib.PosixPath):
        return {"posix_path": str(v)}
    if isinstance(v, pathlib.PurePosixPath):
        return {"pure_posix_path": str(v)}
    if isinstance(v, AutoDirectoryPath):
        return {"auto_directory_path": os.fspath(v)}
    if isinstance(v, ImageRef):
        return {"image_ref": {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}}
    if isinstance(v, ResourceSlot):
        return {"resource_slot": [[k, str(x)] for k, x in v.data.items()]}
    if isinstance(v, SlotName):
        return {"slot_name": v.data}
    raise TypeError(f"cannot describe {v!r}")


# ---------------------------------------------------------------------------
# Hand-made pickles for the decoder's edge cases


class _Reducer:
    """Pickles as func(*args): how a hostile or legacy peer builds a payload."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def ext_pickle(code, obj, protocol=5):
    return msgpack.ExtType(code, pickle.dumps(obj, protocol=protocol))


# ---------------------------------------------------------------------------
# Fixtures

U = uuid.UUID
D = decimal.Decimal
KST = datetime.timezone(datetime.timedelta(hours=9))
SESSION = U("6a1b7c2d-0e4f-4a5b-9c8d-7e6f5a4b3c2d")
KERNEL1 = U("0f1e2d3c-4b5a-4697-8877-665544332211")
KERNEL2 = U("11111111-2222-4333-8444-555555555555")
AGENT_ID = "i-agent-01"


def python_image(tag, arch="x86_64"):
    return ImageRef(name="stable/python", project="stable", tag=tag,
                    registry="cr.backend.ai", architecture=arch, is_local=False)


def image_config(canonical):
    return {
        "canonical": canonical,
        "project": "stable",
        "architecture": "x86_64",
        "digest": "sha256:" + "ab" * 32,
        "repo_digest": None,
        "registry": {"name": "cr.backend.ai", "url": "https://cr.backend.ai",
                     "username": None, "password": None},
        "labels": {"ai.backend.service-ports": "jupyter:http:8080",
                   "ai.backend.runtime-type": "python"},
        "is_local": False,
        "auto_pull": AutoPullBehavior.DIGEST,
    }


def kernel_config(kernel_id, idx):
    role = "main" if idx == 0 else "sub"
    canonical = "cr.backend.ai/stable/python:3.13-ubuntu24.04"
    return {
        "image": image_config(canonical),
        "kernel_id": str(kernel_id),
        "session_id": str(SESSION),
        "owner_user_id": "f38dea23-50fa-42a0-b5ae-338f5f4693f4",
        "owner_project_id": None,
        "network_id": str(SESSION),
        "session_type": SessionTypes.INTERACTIVE,
        "cluster_mode": ClusterMode.SINGLE_NODE,
        "cluster_role": role,
        "cluster_idx": idx + 1,
        "cluster_hostname": f"{role}{idx + 1}",
        "local_rank": idx,
        "uid": None,
        "main_gid": None,
        "supplementary_gids": [],
        "resource_slots": {"cpu": "1", "mem": "1073741824", "cuda.device": "0"},
        "resource_opts": {"shmem": "64m"},
        "environ": {
            "BACKENDAI_KERNEL_ID": str(kernel_id),
            "BACKENDAI_KERNEL_IMAGE": canonical,
            "BACKENDAI_CLUSTER_ROLE": role,
            "BACKENDAI_CLUSTER_IDX": str(idx + 1),
            "BACKENDAI_CLUSTER_LOCAL_RANK": str(idx),
            "BACKENDAI_CLUSTER_HOST": f"{role}{idx + 1}",
            "BACKENDAI_SERVICE_PORTS": "jupyter:http:8080",
        },
        "mounts": [{
            "name": "mydata",
            "vfid": "00000000-0000-4000-8000-000000000001/fd3c8a9b5e6f4d1c",
            "vfsubpath": ".",
            "host_path": "/vfroot/local/fd/3c/8a9b5e6f4d1c",
            "kernel_path": "/home/work/mydata",
            "mount_perm": "rw",
            "usage_mode": "general",
        }],
        "package_directory": (),
        "idle_timeout": 600,
        "bootstrap_script": None,
        "startup_command": None,
        "internal_data": None,
        "auto_pull": AutoPullBehavior.DIGEST,
        "preopen_ports": [],
        "allocated_host_ports": [],
        "agent_addr": "tcp://10.0.0.5:6001",
        "scaling_group": "default",
        "endpoint_id": None,
    }


def create_kernels_call():
    args = (
        str(SESSION),
        [str(KERNEL1), str(KERNEL2)],
        [kernel_config(KERNEL1, 0), kernel_config(KERNEL2, 1)],
        {
            "mode": ClusterMode.SINGLE_NODE,
            "size": 2,
            "replicas": {"main": 1, "sub": 1},
            "network_config": {"mode": "bridge", "network_name": "bai-singlenode-6a1b7c2d"},
            "ssh_keypair": {"public_key": "ssh-rsa AAAA test", "private_key": "-----BEGIN"},
            "cluster_ssh_port_mapping": None,
        },
        {KERNEL1: python_image("3.13-ubuntu24.04"), KERNEL2: python_image("3.13-ubuntu24.04")},
    )
    return {"args": args, "kwargs": {"agent_id": AGENT_ID}}


def heartbeat_event():
    info = {
        "ip": "10.0.0.5",
        "region": "local",
        "scaling_group": "default",
        "addr": "tcp://10.0.0.5:6001",
        "public_key": None,
        "public_host": "10.0.0.5",
        "available_resource_slots": ResourceSlot(
            {"cpu": D("8"), "mem": D("33285996544"), "cuda.device": D("2")}),
        "slot_key_and_units": {
            SlotName("cpu"): SlotTypes.COUNT,
            SlotName("mem"): SlotTypes.BYTES,
            SlotName("cuda.device"): SlotTypes.COUNT,
        },
        "version": "26.8.0",
        "compute_plugins": {
            "cpu": {"version": "26.8.0", "agent_version": "26.8.0",
                    "machine": "x86_64", "os_type": "Linux"},
            "mem": {"version": "26.8.0", "capacity": BinarySize(33285996544)},
        },
        "images": b"x\x9c\x8b\x8e\x05\x00\x01\x15\x00\xb9",
        "images_opts": {"compression": "zlib"},
        "architecture": "x86_64",
        "auto_terminate_abusing_kernel": False,
    }
    return (info,)


def fixtures():
    """Yields (name, value, extra) with extra holding index overrides."""
    yield "nil", None, {}
    yield "scalars", [True, False, 0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1,
                      2**32, 2**63 - 1, 2**64 - 1, -1, -32, -33, -128, -129,
                      -32768, -32769, -2**31, -2**31 - 1, -2**63,
                      0.0, 1.5, -2.25, 1e300, 0.1], {}
    yield "strings", ["", "a", "x" * 31, "y" * 32, "z" * 255, "w" * 256,
                      "v" * 300, "한글 ✓ emoji 🎉"], {}
    yield "binary", [b"", b"\x00\xff", b"b" * 256, b"c" * 300], {}
    yield "containers", {"list": list(range(16)), "tuple": (1, "two", None),
                         "empty_list": [], "empty_map": {}, "nested": {"a": {"b": [{"c": ()}]}},
                         "big_map": {f"k{i:02d}": i for i in range(16)}}, {}
    yield "non_str_keys", {1: "int", None: "nil", False: "bool", b"raw": "bytes",
                           (1, 2): "tuple", 1.5: "float"}, {}
    yield "uuid", [SESSION, U(int=0), U(int=2**128 - 1)], {}
    yield "datetime_naive", datetime.datetime(2026, 8, 23, 1, 2, 3, 456789), {}
    yield "datetime_naive_no_us", datetime.datetime(1999, 12, 31, 23, 59, 59), {}
    yield "datetime_utc", datetime.datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=datetime.timezone.utc), {}
    yield "datetime_kst", datetime.datetime(2026, 8, 23, 9, 0, 0, 123000, tzinfo=KST), {}
    yield "datetime_offsets", [
        datetime.datetime(2024, 2, 29, 0, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=45))),
        datetime.datetime(2024, 3, 1, 1, 0, tzinfo=datetime.timezone(-datetime.timedelta(hours=3, minutes=30))),
        datetime.datetime(1, 1, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=12))),
        datetime.datetime(4094, 12, 31, 23, 59, 59, 999999),
    ], {}
    yield "decimal", [D("1.5"), D("0"), D("-0"), D("1E+3"), D("1.000"), D("-12.34e-5"),
                      D("123456789012345678901234567890.000001"), D("NaN"), D("sNaN"),
                      D("Infinity"), D("-Infinity")], {}
    yield "paths", [pathlib.PosixPath("/home/work/data"), pathlib.PurePosixPath("a/b"),
                    pathlib.PurePosixPath("/"), AutoDirectoryPath("/var/lib/backend.ai")], {}
    yield "enums", [SessionTypes.BATCH, ClusterMode.MULTI_NODE, AutoPullBehavior.NONE,
                    SlotTypes.UNIFIED, Sentinel.TOKEN,
                    KernelLifecycleEventReason.USER_REQUESTED], {}
    yield "image_ref", python_image("3.13-ubuntu24.04"), {}
    yield "image_ref_local", ImageRef(name="my-image", project=None, tag="latest",
                                      registry="local", architecture="aarch64", is_local=True), {}
    yield "image_ref_empty_fields", ImageRef(name="x", project="", tag="", registry="",
                                             architecture="a", is_local=False), {}
    shared = "".join(["cr.backend", ".ai"])
    yield "image_ref_shared_string", ImageRef(name="img", project=shared, tag="1",
                                              registry=shared, architecture="x86_64",
                                              is_local=False), {
        "canonical": False,
        "why": "project and registry are one Python object, pickled once and then "
               "fetched from the memo (BINGET); a Go string has no identity, so the "
               "encoder writes it twice",
    }
    yield "resource_slot", ResourceSlot({"cpu": D("1"), "mem": D("1073741824"),
                                         "cuda.shares": D("0.5"), "cuda.device": D("1")}), {}
    yield "resource_slot_empty", ResourceSlot(), {}
    yield "resource_slot_one", ResourceSlot({"cpu": D("Infinity")}), {}
    yield "resource_slot_1000", ResourceSlot({f"s{i:04d}": D(i) for i in range(1000)}), {}
    yield "slot_name", [SlotName("cpu"), SlotName("cuda.device"), SlotName("")], {}
    yield "binary_size", [BinarySize(0), BinarySize(255), BinarySize(256), BinarySize(65536),
                          BinarySize(2**31), BinarySize(2**40), BinarySize(-1),
                          BinarySize(-2**31 - 1), BinarySize(2**63 - 1), BinarySize(-2**63)], {}
    yield "create_kernels_call", create_kernels_call(), {}
    yield "agent_heartbeat_event", heartbeat_event(), {}
    yield "kernel_terminated_event", (str(KERNEL1), str(SESSION),
                                      KernelLifecycleEventReason.SELF_TERMINATED, 0), {}
    yield "destroy_kernel_call", {"args": (str(KERNEL1), str(SESSION),
                                           KernelLifecycleEventReason.USER_REQUESTED),
                                  "kwargs": {"suppress_events": False, "agent_id": AGENT_ID}}, {}
    yield "result_dict", [{"id": str(KERNEL1), "kernel_host": "10.0.0.5", "repl_in_port": 30001,
                           "repl_out_port": 30002, "stdin_port": 30003, "stdout_port": 30004,
                           "service_ports": [{"name": "jupyter", "protocol": "http",
                                              "container_ports": (8080,), "host_ports": (30005,),
                                              "is_inference": False}],
                           "container_id": "c" * 64, "resource_spec": {},
                           "attached_devices": {}, "agent_addr": "tcp://10.0.0.5:6001",
                           "scaling_group": "default"}], {}
    # Legacy and hand-made pickles the decoder must read (or refuse).
    yield "enum_by_name_py311", msgpack.ExtType(6, pickle.dumps(
        _Reducer(getattr, (SessionTypes, "INTERACTIVE")), protocol=5)), {
        "value": {"enum": {"module": TYPES, "class": "SessionTypes", "member": "INTERACTIVE"}},
    }
    yield "decimal_protocol2", ext_pickle(3, D("2.50"), protocol=2), {
        "value": {"decimal": "2.50"}, "canonical": False,
        "why": "protocol 2 (GLOBAL, BINPUT, no FRAME); upstream and the encoder use protocol 5",
    }
    yield "image_ref_protocol4", ext_pickle(7, python_image("old"), protocol=4), {
        "value": describe(python_image("old")), "canonical": False,
        "why": "PROTO 4 header; the opcodes are those of protocol 5, which the encoder writes",
    }
    yield "forbidden_os_system", ext_pickle(6, _Reducer(os.system, ("true",))), {
        "error": "forbidden class posix.system"}
    yield "forbidden_eval", ext_pickle(3, _Reducer(eval, ("1+1",))), {
        "error": "forbidden class builtins.eval"}
    yield "forbidden_getattr_class", ext_pickle(6, _Reducer(getattr, (pathlib.Path, "home"))), {
        "error": "forbidden class pathlib.Path"}
    yield "enum_private_member", ext_pickle(6, _Reducer(getattr, (SessionTypes, "__class__"))), {
        "error": "member"}
    yield "unknown_ext_code", msgpack.ExtType(99, b"\x01\x02"), {"error": "ext type 99"}
    yield "binary_size_too_big", BinarySize(2**64), {"error": "int64"}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "golden")
    os.makedirs(out, exist_ok=True)
    index = []
    for name, value, extra in fixtures():
        data = packb(value)
        fname = name + ".msgpack"
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
        entry = {"name": name, "file": fname, "canonical": True}
        entry.update(extra)
        if "error" in entry:
            entry["canonical"] = False
            entry.pop("value", None)
        elif "value" not in entry:
            entry["value"] = describe(value)
        index.append(entry)
    with open(os.path.join(out, "index.json"), "w") as f:
        rows = (json.dumps(e, sort_keys=True, ensure_ascii=True) for e in index)
        f.write("[\n" + ",\n".join(rows) + "\n]\n")


if __name__ == "__main__":
    main()
