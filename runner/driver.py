# bai-krunner Python driver: one long-lived interpreter per kernel.
#
# The runner starts it as `python3 -u driver.py` with
#   fd 0  requests from the runner: 4-byte big-endian length + UTF-8 JSON
#   fd 1  raw stdout (subprocesses, C code, forked children)
#   fd 2  raw stderr
#   fd 3  records to the runner: 1-byte kind + 4-byte big-endian length +
#         payload. Kinds: o stdout text, e stderr text, i waiting-input
#         (JSON {"is_password"}), f finished (JSON {"exitCode"}),
#         c completion (JSON {"id", "suggestions"}).
# Requests: {"op": "exec", "code"}, {"op": "input", "text"},
#           {"op": "complete", "id", "code", "line"?}.
#
# Interrupts arrive as SIGINT. They raise KeyboardInterrupt only while a
# cell runs and only outside the driver's own bookkeeping (a half-written
# record would desynchronise the runner); an interrupt that lands in the
# driver is re-raised when control returns to user code.
#
# Written for Python 3.6+: images bring their own interpreter.
import ast
import builtins
import codecs
import io
import json
import linecache
import os
import select
import signal
import struct
import sys
import threading
import time
import traceback
import types

_REQ_FD = os.dup(0)  # os.dup: not inherited by the cell's subprocesses
_REC_FD = os.dup(3)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)  # children must not eat requests
os.close(_null)
os.close(3)

_WAKE_R, _WAKE_W = os.pipe()  # signal wakeup fd (see _wait_readable)
os.set_blocking(_WAKE_R, False)
os.set_blocking(_WAKE_W, False)

_PID = os.getpid()
_MAIN = threading.main_thread()
_HDR = struct.Struct(">cI")
_CHUNK_CHARS = 256 * 1024  # <= 1 MiB of UTF-8 per record
_FLUSH_BYTES = 8192
_FLUSH_SECS = 0.01


class _State(object):
    running = False  # a cell is executing
    pending = False  # an interrupt was deferred
    cell = 0


_st = _State()
_lock = threading.RLock()  # guards _pending and the record pipe
_pending = []  # [kind, [str, ...]]
_pending_chars = [0]
_has_pending = threading.Event()  # wakes _flusher
_last_flush = [time.monotonic()]


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _send_locked(kind, payload):
    if len(payload) < 65536:
        _write_all(_REC_FD, _HDR.pack(kind, len(payload)) + payload)
    else:
        _write_all(_REC_FD, _HDR.pack(kind, len(payload)))
        _write_all(_REC_FD, payload)


def _flush_locked():
    global _pending
    items, _pending = _pending, []
    _pending_chars[0] = 0
    _last_flush[0] = time.monotonic()
    for kind, parts in items:
        text = "".join(parts)
        for i in range(0, len(text), _CHUNK_CHARS):
            _send_locked(kind, text[i:i + _CHUNK_CHARS].encode("utf-8", "replace"))


def _emit(kind, fd, text):
    if os.getpid() != _PID:
        # A forked child: framing from two processes would interleave.
        _write_all(fd, text.encode("utf-8", "replace"))
        return
    with _lock:
        if _pending and _pending[-1][0] == kind:
            _pending[-1][1].append(text)
        else:
            _pending.append([kind, [text]])
        _pending_chars[0] += len(text)
        if _pending_chars[0] >= _FLUSH_BYTES or time.monotonic() - _last_flush[0] >= _FLUSH_SECS:
            _flush_locked()
        elif not _has_pending.is_set():
            _has_pending.set()


def _flush():
    if os.getpid() == _PID:
        with _lock:
            _flush_locked()


def _send(kind, obj):
    with _lock:
        _flush_locked()
        _send_locked(kind, json.dumps(obj).encode("utf-8"))


def _flusher():
    # Sends what _emit left buffered within 20 ms; idle, it sleeps.
    while True:
        _has_pending.wait()
        time.sleep(0.02)
        with _lock:
            _has_pending.clear()
            _flush_locked()


def _check_pending():
    if _st.pending and _st.running and threading.current_thread() is _MAIN:
        _st.pending = False
        raise KeyboardInterrupt


class _BinStream(object):
    def __init__(self, text):
        self._text = text
        self._dec = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, b):
        self._text.write(self._dec.decode(bytes(b)))
        return len(b)

    def flush(self):
        self._text.flush()

    def fileno(self):
        return self._text.fileno()

    def isatty(self):
        return False

    def writable(self):
        return True


class _Stream(io.TextIOBase):
    def __init__(self, kind, fd, name):
        self._kind = kind
        self._fd = fd
        self._name = name
        self.buffer = _BinStream(self)

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "replace"

    @property
    def name(self):
        return self._name

    @property
    def line_buffering(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if s:
            _emit(self._kind, self._fd, s)
            _check_pending()
        return len(s)

    def flush(self):
        _flush()
        _check_pending()

    def fileno(self):
        return self._fd

    def isatty(self):
        return False

    def writable(self):
        return True

    def close(self):
        pass


def _wait_readable():
    # The one place in the driver where an interrupt may land: nothing of a
    # request has been read yet. An interrupt deferred just before is raised
    # here; one that comes between that check and the select call would not
    # wake select, but its wakeup byte does, and its handler then runs (and
    # raises) in this frame.
    while True:
        _check_pending()
        ready = select.select([_REQ_FD, _WAKE_R], [], [])[0]
        if _WAKE_R in ready:
            try:
                os.read(_WAKE_R, 4096)
            except OSError:
                pass
        if _REQ_FD in ready:
            return


def _read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(_REQ_FD, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _read_request(interruptible):
    if interruptible:
        _wait_readable()
    hdr = _read_exact(4)
    if hdr is None:
        return None
    body = _read_exact(struct.unpack(">I", hdr)[0])
    if body is None:
        return None
    return json.loads(body.decode("utf-8"))


def _read_input(prompt="", password=False):
    if os.getpid() != _PID or not _st.running:
        raise EOFError("input is not available here")
    if prompt:
        _emit(b"o", 1, str(prompt))
    _send(b"i", {"is_password": bool(password)})
    while True:
        req = _read_request(True)
        if req is None:
            raise EOFError
        op = req.get("op")
        if op == "input":
            _check_pending()
            return req.get("text", "")
        if op == "complete":
            _send(b"c", {"id": req.get("id"), "suggestions": []})


def _input(prompt=""):
    return _read_input(prompt)


def _getpass(prompt="Password: ", stream=None):
    return _read_input(prompt, password=True)


class _Stdin(io.TextIOBase):
    @property
    def encoding(self):
        return "utf-8"

    @property
    def name(self):
        return "<stdin>"

    def readable(self):
        return True

    def isatty(self):
        return False

    def readline(self, size=-1):
        text = _read_input()
        return text if text.endswith("\n") else text + "\n"

    def read(self, size=-1):
        return self.readline()

    def close(self):
        pass


def _on_sigint(signum, frame):
    if not _st.running:
        return
    f = frame
    while f is not None and f.f_code.co_filename != _DRIVER_FILE:
        f = f.f_back
    if f is None or f.f_code in _INTERRUPTIBLE:
        raise KeyboardInterrupt
    _st.pending = True


def _exec(code, filename):
    flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Interactive(body=[tree.body.pop()])
    _await(eval(compile(tree, filename, "exec", flags=flags, dont_inherit=True), _globals))
    if last is not None:
        # "single" mode hands the value to sys.displayhook, as a REPL does.
        _await(eval(compile(last, filename, "single", flags=flags, dont_inherit=True), _globals))


def _await(result):
    # Top-level await compiles to a coroutine that one loop runs per driver.
    if result is None or not hasattr(result, "__await__"):
        return
    import asyncio

    if _loop[0] is None:
        _loop[0] = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop[0])
    _loop[0].run_until_complete(result)


def _format_exc(e):
    if isinstance(e, SyntaxError):
        # The cell did not run: where it failed to compile is all there is.
        return "".join(traceback.format_exception_only(type(e), e))
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _DRIVER_FILE:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def _run_cell(code):
    _st.cell += 1
    filename = "<cell-%d>" % _st.cell
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    rc = 1
    try:
        _st.pending = False
        _st.running = True
        try:
            _exec(code, filename)
            rc = 0
        except SystemExit as e:
            if e.code is None:
                rc = 0
            elif isinstance(e.code, int):
                rc = e.code
            else:
                _emit(b"e", 2, "%s\n" % (e.code,))
                rc = 1
        except BaseException as e:  # KeyboardInterrupt included
            _st.running = False
            _emit(b"e", 2, _format_exc(e))
            rc = 1
    finally:
        _st.running = False
        _send(b"f", {"exitCode": rc})


def _complete(req):
    suggestions = []
    try:
        import re
        import rlcompleter

        text = req.get("line") or req.get("code") or ""
        lines = text.splitlines() or [""]
        token = re.search(r"[\w.]*$", lines[-1]).group(0)
        if token:
            completer = rlcompleter.Completer(_globals)
            for state in range(500):
                s = completer.complete(token, state)
                if s is None:
                    break
                s = s.rstrip("(")
                if s not in suggestions:
                    suggestions.append(s)
    except Exception:
        pass
    _send(b"c", {"id": req.get("id"), "suggestions": suggestions})


def _main():
    while True:
        try:
            req = _read_request(False)
            if req is None:
                return
            op = req.get("op")
            if op == "exec":
                _run_cell(req.get("code", ""))
            elif op == "complete":
                _complete(req)
            # A stray "input" (its cell is gone) is dropped.
        except KeyboardInterrupt:
            _st.running = False  # a late interrupt between cells


_DRIVER_FILE = _on_sigint.__code__.co_filename
_INTERRUPTIBLE = frozenset([_exec.__code__, _await.__code__, _wait_readable.__code__])
_loop = [None]
# Cells run in a fresh __main__ so that pickle (and multiprocessing) find
# the classes and functions they define; the driver keeps its own module.
_driver_module = sys.modules["__main__"]
_user_main = types.ModuleType("__main__")
_user_main.__dict__["__builtins__"] = builtins
sys.modules["__main__"] = _user_main
_globals = _user_main.__dict__

sys.stdout = _Stream(b"o", 1, "<stdout>")
sys.stderr = _Stream(b"e", 2, "<stderr>")
sys.stdin = _Stdin()
builtins.input = _input
try:
    import getpass

    getpass.getpass = _getpass
except Exception:
    pass
signal.signal(signal.SIGINT, _on_sigint)
try:
    signal.set_wakeup_fd(_WAKE_W, warn_on_full_buffer=False)  # 3.7+
except TypeError:
    signal.set_wakeup_fd(_WAKE_W)
_t = threading.Thread(target=_flusher, name="bai-flusher")
_t.daemon = True
_t.start()
sys.argv = [""]
sys.path[0] = ""  # the working directory, as in a REPL, not the driver's
_main()
