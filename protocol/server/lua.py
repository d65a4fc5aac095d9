"""Lua function files, as uWSGI's lua51 plugin runs them (``uwsgi --lua-load FILE``).

A Lua function file does ``uwsgi.register_rpc("name", fn)``; :meth:`FunctionTable.load_file`
hands a ``.lua`` file to :func:`load_lua`, which runs it in a Lua 5.1 interpreter from the
optional ``lupa`` package (``pip install 'rpccli[lua]'``; imported only here, only when a Lua file
is loaded, so ``protocol`` stays standard library only). ``lupa.lua51`` is chosen over LuaJIT or
Lua 5.4: it is the language uWSGI's plugin embeds, and it formats numbers with the same C
``"%.14g"`` (LuaJIT writes ``nan`` where Lua 5.1 writes ``-nan``). All Lua files of one table share
one Lua state, as ``--lua-load`` files share uWSGI's.

What each rule copies of real uWSGI 2.0.21 (docs/protocol.md#lua-functions):

- a call passes every argument as a Lua string (binary safe) and keeps the FIRST value returned:
  a non-empty string is the result, a number is sent as Lua writes it (``42``, ``4.5``,
  ``1e+20``, ``-0``, ``-nan``, ``inf``); nil, booleans, tables, functions, an empty string or an
  error are the 0-byte close;
- the ``uwsgi`` table has what the plugin's has: ``register_rpc`` (true, or nil without a
  function or for a name over 255 bytes; a number name becomes its text, a name is cut at a NUL),
  ``log`` (exactly one argument; strings and numbers logged), ``version``, ``lock``/``unlock``,
  ``cache_*`` (nil: no cache, as uWSGI without ``--cache2``), ``register_signal`` (accepted, one
  log line: no signal reaches a Lua function here), ``async_sleep``; the request-bound
  functions (websockets, file descriptors, async connect) raise a Lua error. There is no
  ``uwsgi.rpc`` or ``uwsgi.call`` in Lua, as in uWSGI 2.0.21;
- ``print`` and ``io.write`` go to the log (uWSGI's stdout IS its log; rpccli keeps stdout for
  results);
- a name that is not a string or number is a Lua error here, where uWSGI crashes (SIGSEGV).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import UsageError
from .shim import SHIM_VERSION

if TYPE_CHECKING:
    from .functions import FunctionTable

__all__ = ["LUA_MISSING", "LuaFunction", "LuaLoadError", "load_lua"]

LUA_MISSING: Final = "Lua function files need the lupa package: pip install 'rpccli[lua]'"

#: a fresh uWSGI 2.0.21 lua51 worker dies on more arguments (docs/protocol.md#lua-functions)
UWSGI_LUA_SAFE_ARGS: Final = 42

#: functions of uWSGI's Lua ``uwsgi`` table that need a uWSGI request or async mode
_REQUEST_BOUND: Final = (
    "async_connect",
    "close",
    "connection_fd",
    "is_connected",
    "ready_fd",
    "wait_fd_read",
    "wait_fd_write",
    "websocket_handshake",
    "websocket_recv",
    "websocket_recv_nb",
    "websocket_send",
    "websocket_send_binary",
    "websocket_send_binary_from_sharedarea",
    "websocket_send_from_sharedarea",
)

_PRELUDE: Final = r"""
local register, log, notice, version, request_bound = ...
local type, tostring, select, error, pcall = type, tostring, select, error, pcall
local concat = table.concat
python = nil
package.loaded.python = nil

uwsgi = { version = version }

function uwsgi.register_rpc(...)
  if select("#", ...) < 2 then return nil end
  local name, fn = ...
  local kind = type(name)
  if kind ~= "string" and kind ~= "number" then
    error("uwsgi.register_rpc: the name is a " .. kind .. ", not a string "
      .. "(real uWSGI crashes with a segmentation fault here)", 2)
  end
  if register(tostring(name), fn) then return true end
  return nil
end

function uwsgi.log(...)
  if select("#", ...) ~= 1 then error("uwsgi.log takes 1 parameter", 0) end
  local line = ...
  local kind = type(line)
  if kind == "string" or kind == "number" then log(tostring(line)) end
end

function uwsgi.lock() end
function uwsgi.unlock() end
for _, name in ipairs({"cache_get", "cache_set", "cache_update", "cache_del", "cache_exists",
                       "cache_clear"}) do
  uwsgi[name] = function()
    notice("uwsgi." .. name .. ": no cache here, nil as in uWSGI without --cache2")
    return nil
  end
end
function uwsgi.register_signal(num)
  notice("uwsgi.register_signal(" .. tostring(num) .. ") accepted: rpccli delivers no signal "
    .. "to a Lua function")
  return nil
end
function uwsgi.async_sleep()
  log("ASYNC call without async mode !!!")
  return nil
end
for _, name in ipairs(request_bound) do
  uwsgi[name] = function()
    error("uwsgi." .. name .. " needs a uWSGI request: not available in rpccli", 2)
  end
end

print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  log(concat(parts, "\t"))
end
local stdout = {}
function stdout:write(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local value = select(i, ...)
    local kind = type(value)
    if kind ~= "string" and kind ~= "number" then
      error("bad argument #" .. i .. " to 'write' (string expected, got " .. kind .. ")", 2)
    end
    parts[i] = tostring(value)
  end
  local text = concat(parts)
  if text ~= "" then log((text:gsub("\n$", ""))) end
  return self
end
function stdout:flush() return self end
function stdout:setvbuf() return true end
io.stdout = stdout
io.write = function(...) return stdout:write(...) end

local function shown(err)
  local kind = type(err)
  if kind == "string" or kind == "number" then return tostring(err) end
  return "(a " .. kind .. " value; uWSGI logs (null))"
end

local function call(fn, ...)
  local ok, value = pcall(fn, ...)
  if not ok then return nil, "error", shown(value) end
  local kind = type(value)
  if kind == "number" then value, kind = tostring(value), "string" end
  if kind == "string" then
    if value ~= "" then return value, "string", nil end
    return nil, "empty", nil
  end
  return nil, kind, nil
end

local function load(path)
  local chunk, err = loadfile(path)
  if not chunk then return shown(err) end
  local ok, failed = pcall(chunk)
  if not ok then return shown(failed) end
  return nil
end

return call, load
"""


class LuaLoadError(UsageError):
    """A Lua function file that cannot be loaded (no lupa, a syntax error, an error while run)."""


class _LuaState:
    """One Lua 5.1 interpreter for all the Lua files of one function table."""

    def __init__(self, table: FunctionTable) -> None:
        try:
            from lupa import lua51  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise LuaLoadError(LUA_MISSING) from None
        self.table = table
        self.runtime = lua51.LuaRuntime(encoding=None, register_eval=False)
        self._noticed: set[str] = set()
        self._lock = threading.Lock()
        request_bound = self.runtime.table(*(n.encode() for n in _REQUEST_BOUND))
        self.call, self.load = self.runtime.execute(
            _PRELUDE.encode(),
            self._register,
            self._log,
            self._notice,
            SHIM_VERSION,
            request_bound,
        )

    def _register(self, name: bytes, fn: object) -> bool:
        # uWSGI reads the name as a C string: cut at the first NUL (docs/protocol.md#lua-functions)
        key = bytes(name).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        try:
            return self.table.register(key, LuaFunction(self, fn))
        except ValueError:  # too long, or --rpc-max reached: logged by the table; nil in Lua
            return False

    def _log(self, line: bytes) -> None:
        self.table.log(bytes(line).decode("utf-8", "replace"))

    def _notice(self, line: bytes) -> None:
        """A log line said once per state: what rpccli accepts but does not do."""
        text = bytes(line).decode("utf-8", "replace")
        with self._lock:
            if text in self._noticed:
                return
            self._noticed.add(text)
        self.table.log(text)


class LuaFunction:
    """A registered Lua function: :meth:`rpccli_outcome` is what the table's ``invoke`` asks."""

    def __init__(self, state: _LuaState, fn: object) -> None:
        self._state = state
        self._fn = fn

    def rpccli_outcome(self, args: Sequence[bytes]) -> tuple[bytes | None, str | None, None]:
        """(result, reason, traceback) with the lua51 plugin's result rule."""
        if len(args) > UWSGI_LUA_SAFE_ARGS:
            self._state._notice(
                f"note: a call with more than {UWSGI_LUA_SAFE_ARGS} arguments crashes a fresh "
                "uWSGI 2.0.21 lua51 worker (it pushes them without growing the Lua stack)".encode()
            )
        value, kind, message = self._state.call(self._fn, *args)
        if value is not None:
            return bytes(value), None, None
        kind = bytes(kind).decode()
        if kind == "error":
            return None, "Lua error: " + bytes(message).decode("utf-8", "replace"), None
        if kind == "empty":
            return None, "returned an empty string (an empty result is never delivered)", None
        return None, f"returned {kind}, not a string or number", None

    def __call__(self, *args: bytes) -> bytes | None:
        return self.rpccli_outcome(args)[0]


_states_lock = threading.Lock()
#: where a table keeps its Lua state (an attribute: the two are freed together)
_STATE_ATTRIBUTE: Final = "_rpccli_lua_state"


def load_lua(table: FunctionTable, path: str | os.PathLike[str]) -> None:
    """Run a Lua function file in ``table``'s Lua state; its ``register_rpc`` fills ``table``."""
    file = Path(path)
    with _states_lock:
        state: _LuaState | None = getattr(table, _STATE_ATTRIBUTE, None)
        if state is None:
            state = _LuaState(table)
            setattr(table, _STATE_ATTRIBUTE, state)
    failed: Any = state.load(os.fsencode(file))
    if failed is not None:
        raise LuaLoadError(bytes(failed).decode("utf-8", "replace"))
