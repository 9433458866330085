#!/usr/bin/env python3
"""Reads what the Go producer wrote to Redis the way a 26.8 manager does.

Usage: python3 -I upstream_consumer.py IN.json

IN.json (written by TestPythonConsumer) holds the raw Redis values:
  {"anycast": [{"name", "source", "args": base64, "metadata"}],
   "broadcast": ["<the published JSON>"],
   "node_stats": base64, "kernel_stats": base64, "container_log": ["<item>"]}

Nothing of Backend.AI is imported. The classes that travel as pickles are
mirrored under upstream's module and class names (lablup/backend.ai 26.8:
ai.backend.common.types, ai.backend.common.docker,
ai.backend.common.events.event_types.kernel.types), so pickle.loads finds
them as the manager would; the unpacking options and ext hooks are those of
common/msgpack.py unpackb; each event's tuple is then checked as its class's
deserialize() and the manager's handler would read it. Prints one JSON line
per message and exits non-zero on the first mismatch.
"""

import base64
import dataclasses
import decimal
import enum
import json
import pickle
import sys
import types
import uuid
import zlib
from collections import UserDict, UserString

import msgpack


def _place(cls, modname):
    parts = modname.split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    cls.__module__ = modname
    setattr(sys.modules[modname], cls.__name__, cls)


class SlotName(UserString):
    __slots__ = ("_device_name", "_major_type", "_minor_type", "_parsed")


class ResourceSlot(UserDict):
    __slots__ = ("data",)


class BinarySize(int):
    pass


class SlotTypes(enum.StrEnum):
    COUNT = "count"
    BYTES = "bytes"
    UNIQUE = "unique"
    UNIFIED = "unified"


class KernelLifecycleEventReason(enum.StrEnum):
    AGENT_TERMINATION = "agent-termination"
    ALREADY_TERMINATED = "already-terminated"
    ANOMALY_DETECTED = "anomaly-detected"
    EXEC_TIMEOUT = "exec-timeout"
    FAILED_TO_CREATE = "failed-to-create"
    FAILED_TO_START = "failed-to-start"
    FORCE_TERMINATED = "force-terminated"
    BOOTSTRAP_TIMEOUT = "bootstrap-timeout"
    HANG_TIMEOUT = "hang-timeout"
    IDLE_TIMEOUT = "idle-timeout"
    IDLE_SESSION_LIFETIME = "idle-session-lifetime"
    IDLE_UTILIZATION = "idle-utilization"
    KILLED_BY_EVENT = "killed-by-event"
    SERVICE_SCALED_DOWN = "service-scaled-down"
    NEW_CONTAINER_STARTED = "new-container-started"
    PENDING_TIMEOUT = "pending-timeout"
    RESTARTING = "restarting"
    RESTART_TIMEOUT = "restart-timeout"
    RESUMING_AGENT_OPERATION = "resuming-agent-operation"
    SELF_TERMINATED = "self-terminated"
    TASK_FAILED = "task-failed"
    TASK_TIMEOUT = "task-timeout"
    TASK_CANCELLED = "task-cancelled"
    TASK_FINISHED = "task-finished"
    TERMINATED_UNKNOWN_CONTAINER = "terminated-unknown-container"
    UNKNOWN = "unknown"
    USER_REQUESTED = "user-requested"
    USER_PURGED = "user-purged"
    NOT_FOUND_IN_MANAGER = "not-found-in-manager"
    CONTAINER_NOT_FOUND = "container-not-found"


@dataclasses.dataclass
class ImageRef:
    name: str
    project: str | None
    tag: str
    registry: str
    architecture: str
    is_local: bool


for _cls in (SlotName, ResourceSlot, BinarySize, SlotTypes):
    _place(_cls, "ai.backend.common.types")
_place(ImageRef, "ai.backend.common.docker")
_place(KernelLifecycleEventReason, "ai.backend.common.events.event_types.kernel.types")

_HOOKS = {
    1: lambda data: uuid.UUID(bytes=data),
    3: pickle.loads,
    6: pickle.loads,
    7: pickle.loads,
    8: pickle.loads,
    9: pickle.loads,
    16: pickle.loads,
}


def unpackb(data):
    def hook(code, data):
        if code in _HOOKS:
            return _HOOKS[code](data)
        return msgpack.ExtType(code, data)

    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=False, ext_hook=hook)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def check_agent_info(info):
    """AgentInfo.model_validate of 26.8, as far as the manager relies on it."""
    for k in ("ip", "addr", "public_host", "version", "architecture"):
        expect(isinstance(info[k], str), k)
    slots = info["available_resource_slots"]
    expect(type(slots) is ResourceSlot, "available_resource_slots is a ResourceSlot")
    expect(all(isinstance(v, decimal.Decimal) for v in slots.data.values()), "slot values are Decimal")
    units = info["slot_key_and_units"]
    expect(all(isinstance(k, SlotName) for k in units), "slot keys are SlotName")
    expect(all(isinstance(v, SlotTypes) for v in units.values()), "slot units are SlotTypes")
    expect(info["images_opts"] == {"compression": "zlib"}, "images_opts")
    images = unpackb(zlib.decompress(info["images"]))
    expect(isinstance(info["auto_terminate_abusing_kernel"], bool), "auto_terminate_abusing_kernel")
    return {
        "slots": {str(k): str(v) for k, v in slots.data.items()},
        "units": {str(k): v.value for k, v in units.items()},
        "images": [list(x) for x in images],
        "plugins": sorted(info["compute_plugins"]),
    }


def check_event(name, args):
    """Each class's deserialize() in common/events/event_types (26.8)."""
    if name in ("agent_started", "agent_terminated"):
        return {"reason": args[0]}
    if name == "agent_heartbeat":
        return check_agent_info(args[0])
    if name == "agent_error":
        expect(args[4] == "ERROR", "severity")
        return {"message": args[0]}
    if name in ("kernel_preparing", "kernel_pulling", "kernel_creating", "kernel_started"):
        uuid.UUID(args[0]), uuid.UUID(args[1])
        expect(isinstance(args[3], dict), "creation_info")
        return {"kernel_id": args[0], "reason": args[2], "creation_info": sorted(args[3])}
    if name == "kernel_terminated":
        uuid.UUID(args[0]), uuid.UUID(args[1])
        expect(isinstance(args[2], KernelLifecycleEventReason), "reason is the enum")
        return {"reason": args[2].value, "exit_code": args[3]}
    if name == "do_sync_kernel_logs":
        return {"kernel_id": str(uuid.UUID(args[0])), "container_id": args[1]}
    if name in ("image_pull_started", "image_pull_finished", "image_pull_failed"):
        ref_at = {"image_pull_started": 3, "image_pull_finished": 4, "image_pull_failed": 3}[name]
        ref = args[ref_at] if len(args) > ref_at else None
        expect(ref is None or isinstance(ref, ImageRef), "image_ref")
        return {"image": args[0], "agent_id": args[1], "image_ref": ref and ref.tag}
    if name.startswith("bgtask_"):
        uuid.UUID(args[0])
        return {"task_id": args[0], "rest": list(args[1:])}
    if name == "do_agent_resource_check":
        return {"agent_id": args[0]}
    raise AssertionError("unexpected event " + name)


def metric_map(m):
    for key, mv in m.items():
        expect(isinstance(mv["current"], str) and isinstance(mv["pct"], str), key)
    return sorted(m)


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    for entry in data["anycast"]:
        expect(entry["source"] and json.loads(entry["metadata"]) == {
            "request_id": None, "user": None, "triggered_user": None}, "metadata")
        args = unpackb(base64.b64decode(entry["args"]))
        expect(isinstance(args, tuple), "args is a tuple")
        out = {"via": "anycast", "name": entry["name"], "got": check_event(entry["name"], args)}
        print(json.dumps(out, sort_keys=True))
    for raw in data["broadcast"]:
        msg = json.loads(raw)
        args = unpackb(base64.b64decode(msg["args"]))
        out = {"via": "broadcast", "name": msg["name"], "got": check_event(msg["name"], args)}
        print(json.dumps(out, sort_keys=True))
    node = unpackb(base64.b64decode(data["node_stats"]))
    expect(list(node) == ["node", "devices"], "node stats keys")
    print(json.dumps({"via": "stats", "name": "node", "got": metric_map(node["node"])}))
    kernel = unpackb(base64.b64decode(data["kernel_stats"]))
    print(json.dumps({"via": "stats", "name": "kernel", "got": metric_map(kernel)}))
    content = b""
    for item in data["container_log"]:
        obj = json.loads(item)
        expect(obj["compress_type"] == "zlib", "compress_type")
        content += zlib.decompress(base64.b64decode(obj["content"]))
    print(json.dumps({"via": "containerlog", "name": "log", "got": content.decode()}))


if __name__ == "__main__":
    main()
