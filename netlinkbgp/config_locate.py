"""Where a key sits in a TOML text, and typed access to decoded tables (for :mod:`config`).

``tomllib`` returns plain dicts without positions, so :class:`KeyLocator` scans the text once
and records the line of every table header (``[a.b]``), array-of-tables entry (``[[a]]``,
counted per path, so the second ``[[neighbors]]`` is ``neighbors[1]``) and ``key = value``
line (dotted keys included). A key it cannot place (inside an inline table, say) falls back to
the nearest enclosing key it knows, which is also where a missing required key is reported:
its table's header.

:class:`Section` wraps one decoded table with its dotted path and reads values with type and
range checks; every problem becomes a :class:`~netlinkbgp.errors.ConfigError` naming the key
and its line.
"""

from __future__ import annotations

import datetime
import difflib
import math
import re
from collections.abc import Iterable

from netlinkbgp.errors import ConfigError

__all__ = ["KeyLocator", "Section", "syntax_error"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ERROR_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)")
_TOML_ERROR_END = "(at end of document)"


def syntax_error(message: str, text: str) -> ConfigError:
    """A :class:`ConfigError` from a ``tomllib.TOMLDecodeError`` message about ``text``.

    ``tomllib`` ends its messages with ``(at line N, column M)`` or ``(at end of document)``;
    the line becomes :attr:`ConfigError.line` (the last line for the end of the document) and
    the message keeps the column.
    """
    found = _TOML_ERROR_LINE.search(message)
    if found is not None:
        reason = message[:found.start()] + f" (column {found.group(2)})"
        return ConfigError(f"not valid TOML: {reason}", "", int(found.group(1)))
    if message.endswith(_TOML_ERROR_END):
        reason = message[: -len(_TOML_ERROR_END)].rstrip() + " (at the end of the file)"
        return ConfigError(f"not valid TOML: {reason}", "", text.count("\n") + 1)
    return ConfigError(f"not valid TOML: {message}")


def _split_key(text: str) -> list[str] | None:
    """Split a dotted TOML key (``a."b.c".d``) into its parts; ``None`` if it does not parse."""
    parts: list[str] = []
    rest = text.strip()
    while True:
        if rest[:1] in ('"', "'"):
            end = rest.find(rest[0], 1)
            if end < 0:
                return None
            parts.append(rest[1:end])
            rest = rest[end + 1:].lstrip()
        else:
            found = _BARE_KEY.match(rest)
            if found is None:
                return None
            parts.append(found.group(0))
            rest = rest[found.end():].lstrip()
        if not rest:
            return parts
        if rest[0] != ".":
            return None
        rest = rest[1:].lstrip()


def _parent(path: str) -> str | None:
    """``a.b[2]`` -> ``a.b`` -> ``a`` -> ``""`` -> ``None``."""
    if not path:
        return None
    if path.endswith("]"):
        return path[: path.rindex("[")]
    dot = path.rfind(".")
    return path[:dot] if dot >= 0 else ""


class KeyLocator:
    """Lines of the keys and tables of a TOML text, by dotted path.

    Args:
        text: the TOML text (lines are counted as ``tomllib`` counts them: by ``\\n``).
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[str, int] = {}
        self._scan(text)

    def line(self, path: str) -> int | None:
        """The 1-based line of ``path`` (``neighbors[0].config.peer-as``).

        Returns:
            The line of the key, else of the nearest enclosing table or key that appears in
            the text, else ``None``.
        """
        current: str | None = path
        while current is not None:
            if current in self._lines:
                return self._lines[current]
            current = _parent(current)
        return None

    def _record(self, path: str, lineno: int) -> None:
        self._lines.setdefault(path, lineno)

    def _scan(self, text: str) -> None:
        table = ""
        arrays: dict[str, int] = {}  # resolved path of an array of tables -> current index
        state = _LexState()
        for lineno, line in enumerate(text.split("\n"), start=1):
            if state.string is not None or state.depth > 0:
                state.feed(line)
                continue
            stripped = line.lstrip()
            if stripped.startswith("["):
                is_array = stripped.startswith("[[")
                body = stripped[2:] if is_array else stripped[1:]
                close = _header_end(body, "]]" if is_array else "]")
                parts = _split_key(body[:close]) if close >= 0 else None
                if parts:
                    table = self._resolve(parts, arrays, is_array, lineno)
                    self._record(table, lineno)
                continue
            equals = _key_end(stripped)
            if equals < 0:
                state.feed(stripped)
                continue
            parts = _split_key(stripped[:equals])
            if parts:
                path = table
                for part in parts:
                    path = f"{path}.{part}" if path else part
                    self._record(path, lineno)
            state.feed(stripped[equals + 1:])

    def _resolve(self, parts: list[str], arrays: dict[str, int], is_array: bool,
                 lineno: int) -> str:
        path = ""
        for i, part in enumerate(parts):
            path = f"{path}.{part}" if path else part
            if is_array and i == len(parts) - 1:
                arrays[path] = arrays.get(path, -1) + 1
            self._record(path, lineno)
            if path in arrays:
                path = f"{path}[{arrays[path]}]"
        return path


def _header_end(body: str, close: str) -> int:
    """Index of the closing bracket(s) of a header body, skipping quoted parts; -1 if none."""
    i = 0
    while i < len(body):
        char = body[i]
        if char in ('"', "'"):
            end = body.find(char, i + 1)
            if end < 0:
                return -1
            i = end + 1
            continue
        if body.startswith(close, i):
            return i
        i += 1
    return -1


def _key_end(line: str) -> int:
    """Index of the ``=`` that ends the key of a ``key = value`` line, or -1."""
    i = 0
    while i < len(line):
        char = line[i]
        if char in ('"', "'"):
            end = line.find(char, i + 1)
            if end < 0:
                return -1
            i = end + 1
            continue
        if char == "=":
            return i
        if char == "#":
            return -1
        i += 1
    return -1


class _LexState:
    """Just enough of a TOML lexer to know whether a value goes on over the next lines."""

    def __init__(self) -> None:
        self.depth = 0  # open [ and { of multi-line arrays and inline tables
        self.string: str | None = None  # delimiter of an open multi-line string

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            if self.string is not None:
                end = text.find(self.string, i)
                if end < 0:
                    return
                i = end + 3
                self.string = None
                continue
            char = text[i]
            if text.startswith(('"""', "'''"), i):
                self.string = text[i:i + 3]
                i += 3
            elif char == '"':
                i = _basic_string_end(text, i + 1)
            elif char == "'":
                end = text.find("'", i + 1)
                i = len(text) if end < 0 else end + 1
            elif char == "#":
                return
            elif char in "[{":
                self.depth += 1
                i += 1
            elif char in "]}":
                self.depth = max(0, self.depth - 1)
                i += 1
            else:
                i += 1


def _basic_string_end(text: str, i: int) -> int:
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    return len(text)


# -- typed reading -----------------------------------------------------------------------------

_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
    (list, "an array"), (dict, "a table"), (datetime.datetime, "a date-time"),
    (datetime.date, "a date"), (datetime.time, "a time"),
)


def _kind(value: object) -> str:
    for cls, name in _TOML_TYPES:
        if isinstance(value, cls):
            return name
    return type(value).__name__


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class Section:
    """One decoded TOML table, its dotted path, and typed getters.

    Args:
        data: the table as ``tomllib`` decoded it.
        path: its dotted path (``neighbors[0].config``; ``""`` for the document).
        locator: line lookup for error messages.
        keys: the keys this table may hold; any other key is an error.

    Raises:
        ConfigError: the table holds a key not in ``keys``.
    """

    def __init__(self, data: dict[str, object], path: str, locator: KeyLocator,
                 keys: Iterable[str]) -> None:
        self.data = data
        self.path = path
        self.locator = locator
        allowed = tuple(keys)
        for name in data:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else (
                    f"; known keys here: {', '.join(allowed)}" if allowed else "")
                raise self.error(f"unknown key {name!r}{hint}", name)

    def key(self, name: str) -> str:
        """The dotted path of ``name`` in this table."""
        return _join(self.path, name)

    def error(self, message: str, name: str = "") -> ConfigError:
        """A :class:`ConfigError` about key ``name`` of this table (or the table itself)."""
        key = self.key(name) if name else self.path
        return ConfigError(message, key, self.locator.line(key))

    def has(self, name: str) -> bool:
        """Whether the key is present."""
        return name in self.data

    def _get(self, name: str, kind: type | tuple[type, ...], what: str) -> object:
        value = self.data[name]
        if isinstance(value, bool) and kind is not bool:
            raise self.error(f"expected {what}, got a boolean", name)
        if not isinstance(value, kind):
            raise self.error(f"expected {what}, got {_kind(value)}", name)
        return value

    def section(self, name: str, keys: Iterable[str]) -> Section:
        """A sub-table (empty when absent).

        Raises:
            ConfigError: the key is not a table, or holds unknown keys.
        """
        if name not in self.data:
            return Section({}, self.key(name), self.locator, keys)
        value = self._get(name, dict, "a table")
        assert isinstance(value, dict)
        return Section(value, self.key(name), self.locator, keys)

    def sections(self, name: str, keys: Iterable[str]) -> list[Section]:
        """An array of tables (``[[name]]``), empty when absent.

        Raises:
            ConfigError: the key is not an array of tables, or an entry holds unknown keys.
        """
        if name not in self.data:
            return []
        value = self._get(name, list, "an array of tables")
        assert isinstance(value, list)
        allowed = tuple(keys)
        out: list[Section] = []
        for index, item in enumerate(value):
            path = f"{self.key(name)}[{index}]"
            if not isinstance(item, dict):
                raise ConfigError(f"expected a table, got {_kind(item)}", path,
                                  self.locator.line(path))
            out.append(Section(item, path, self.locator, allowed))
        return out

    def string(self, name: str, default: str = "") -> str:
        """A string (``default`` when absent).

        Raises:
            ConfigError: the value is not a string.
        """
        if name not in self.data:
            return default
        value = self._get(name, str, "a string")
        assert isinstance(value, str)
        return value

    def required_string(self, name: str) -> str:
        """A string that must be present and not blank.

        Raises:
            ConfigError: missing (reported at the table's line), not a string, or blank.
        """
        if name not in self.data:
            raise self.error(f"required key {name!r} is missing", name)
        value = self.string(name)
        if not value.strip():
            raise self.error("must not be empty", name)
        return value

    def integer(self, name: str, low: int, high: int) -> int | None:
        """An integer in ``low..high`` (``None`` when absent).

        Raises:
            ConfigError: not an integer (a boolean is not one, although Python's ``bool`` is
                an ``int``), or out of range.
        """
        if name not in self.data:
            return None
        value = self._get(name, int, "an integer")
        assert isinstance(value, int)
        if not low <= value <= high:
            raise self.error(f"{value} is outside {low}..{high}", name)
        return value

    def required_integer(self, name: str, low: int, high: int) -> int:
        """An integer in ``low..high`` that must be present.

        Raises:
            ConfigError: missing (reported at the table's line), not an integer, or out of
                range.
        """
        value = self.integer(name, low, high)
        if value is None:
            raise self.error(f"required key {name!r} is missing", name)
        return value

    def number(self, name: str) -> float | None:
        """A positive, finite integer or float (``None`` when absent).

        Raises:
            ConfigError: not a number, or zero, negative, infinite or NaN.
        """
        if name not in self.data:
            return None
        value = self._get(name, (int, float), "a number")
        assert isinstance(value, int | float)
        if not math.isfinite(value) or value <= 0:
            raise self.error(f"{value} is not a positive number", name)
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        """A boolean (``default`` when absent).

        Raises:
            ConfigError: not a boolean.
        """
        if name not in self.data:
            return default
        value = self._get(name, bool, "a boolean")
        assert isinstance(value, bool)
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        """An array of strings (empty when absent).

        Raises:
            ConfigError: not an array, or an entry (named with its index) is not a string.
        """
        if name not in self.data:
            return ()
        value = self._get(name, list, "an array of strings")
        assert isinstance(value, list)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                key = f"{self.key(name)}[{index}]"
                raise ConfigError(f"expected a string, got {_kind(item)}", key,
                                  self.locator.line(key))
        return tuple(value)

    def item_error(self, message: str, name: str, index: int) -> ConfigError:
        """A :class:`ConfigError` about entry ``index`` of the array ``name``."""
        key = f"{self.key(name)}[{index}]"
        return ConfigError(message, key, self.locator.line(key))
