"""Known secrets and the last line of defence: their values never leave the process.

A :class:`SecretRegistry` holds the values of the secrets a session knows about (the keys
it was given, secret-looking environment variables, every value of a ``.env`` file, and
the values the security guard taints) and replaces them, and their usual encodings, by
``[REDACTED:<name>]`` in any text before it goes to the model, a session file, an event,
a widget or an export.

For each value the registry also knows its *variants*: base64 (standard and URL-safe,
with and without padding), hex (lower and upper case), URL-encoding (unreserved
``A-Z a-z 0-9 - _ . ~`` kept, everything else ``%XX`` upper case, and the ``+``-for-space
form) and the JSON-escaped form. All of them go into one compiled alternation, built as
a trie so that a 100 KB text is scanned in one pass however many secrets there are.

:class:`StreamRedactor` does the same for text that arrives in pieces (a command's output
deltas), holding back just enough characters that a secret split across two pieces is
still caught.

The registry never shows a value: not in ``repr``, not in an error, not in a warning.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, quote_plus, unquote, unquote_plus

__all__ = [
    "MIN_SECRET_LENGTH",
    "SECRET_NAME_PARTS",
    "SecretMatch",
    "SecretRegistry",
    "StreamRedactor",
    "secret_looking",
]

MIN_SECRET_LENGTH = 8
"""Values shorter than this are not registered: redacting ``"1"`` or ``"true"`` everywhere
would wreck every text and protect nothing."""

SECRET_NAME_PARTS: tuple[str, ...] = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
)
"""A variable whose name contains one of these (any case) holds a secret."""

VariantKind = Literal[
    "original",
    "base64",
    "base64url",
    "hex",
    "url",
    "json",
]

_HEX_WORD = re.compile(r"[0-9A-Fa-f]{4,}")
_BASE64_WORD = re.compile(r"[A-Za-z0-9+/_\-]{8,}={0,2}")


def secret_looking(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret.

    ``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*PASSWD*``, ``*CREDENTIAL*``,
    case-insensitive: ``OPENAI_API_KEY``, ``github_token``, ``DB_PASSWORD``,
    ``GOOGLE_APPLICATION_CREDENTIALS``.
    """
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


@dataclass(frozen=True)
class SecretMatch:
    """One occurrence of a registered secret (or of one of its encodings) in a text.

    Attributes:
        name: the secret's name (``OPENAI_API_KEY``, ``email#1``...).
        kind: ``original`` or the encoding found (``base64``, ``hex``, ``url``...).
        start: where the occurrence starts in the text.
        end: where it ends (exclusive).
    """

    name: str
    kind: VariantKind
    start: int
    end: int

    @property
    def is_original(self) -> bool:
        """Whether the value itself was found (not an encoding of it)."""
        return self.kind == "original"

    def __repr__(self) -> str:  # never the matched text
        return (
            f"SecretMatch(name={self.name!r}, kind={self.kind!r}, "
            f"start={self.start}, end={self.end})"
        )


def _variants(value: str) -> list[tuple[str, VariantKind]]:
    """The value and its encodings, originals first, without duplicates."""
    raw = value.encode("utf-8")
    b64 = base64.b64encode(raw).decode("ascii")
    b64url = base64.urlsafe_b64encode(raw).decode("ascii")
    candidates: list[tuple[str, VariantKind]] = [
        (value, "original"),
        (b64, "base64"),
        (b64.rstrip("="), "base64"),
        (b64url, "base64url"),
        (b64url.rstrip("="), "base64url"),
        (raw.hex(), "hex"),
        (raw.hex().upper(), "hex"),
        # RFC 3986: unreserved A-Z a-z 0-9 - _ . ~ kept, the rest %XX in upper case
        (quote(value, safe=""), "url"),
        (quote_plus(value, safe=""), "url"),
        (json.dumps(value)[1:-1], "json"),
        (json.dumps(value, ensure_ascii=False)[1:-1], "json"),
    ]
    seen: set[str] = set()
    out: list[tuple[str, VariantKind]] = []
    for text, kind in candidates:
        if text and text not in seen:
            seen.add(text)
            out.append((text, kind))
    return out


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression matching any of ``words``, longest first at each position.

    The words are factored into a trie, so the engine follows one branch per character
    instead of trying every word at every position. Runs of single-child nodes are
    emitted as one literal, so the nesting depth is the number of branch points on a
    path, not the length of the longest word.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        branches = []
        for char, child in node.items():
            if not char:
                continue
            literal = [char]
            # follow a chain of nodes with one child and no word ending there
            while len(child) == 1 and "" not in child:
                ((next_char, next_child),) = child.items()
                literal.append(next_char)
                child = next_child
            branches.append(re.escape("".join(literal)) + render(child))
        if not branches:
            return ""
        body = "(?:" + "|".join(branches) + ")"
        # greedy "?": the longer word is tried first, the word ending here is the fallback
        return body + "?" if "" in node else body

    return render(trie)


@dataclass(frozen=True)
class _Snapshot:
    """What a scan needs, swapped in as a whole when a secret is added (lock-free reads)."""

    pattern: re.Pattern[str] | None
    lookup: Mapping[str, tuple[str, VariantKind]]
    originals: Mapping[str, str]  # value -> name
    longest: int


_EMPTY = _Snapshot(pattern=None, lookup={}, originals={}, longest=0)


class SecretRegistry:
    """The values a session must never let out, with their encoded variants.

    Thread-safe: adding takes a lock; scanning reads an immutable snapshot, so a scan in
    one thread never sees a half-built pattern while another thread adds a secret.

    >>> registry = SecretRegistry()
    >>> registry.add("OPENAI_API_KEY", "sk-test-1234567890")
    True
    >>> registry.redact("key=sk-test-1234567890")
    'key=[REDACTED:OPENAI_API_KEY]'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}  # name -> source, in insertion order
        self._values: dict[str, str] = {}  # value -> name (first name wins)
        self._sources: dict[str, str] = {}  # value -> source
        self._built = _EMPTY
        self._dirty = False

    # --- adding -----------------------------------------------------------------------

    def add(self, name: str, value: str, *, source: str = "user") -> bool:
        """Register ``value`` under ``name``; return whether it was new.

        Values shorter than :data:`MIN_SECRET_LENGTH` (8) characters are ignored, and so
        are values already registered (the first name wins). Leading and trailing
        whitespace is stripped. ``source`` tags the entry (``env``, ``dotenv``,
        ``taint``...) so that :meth:`remove_source` can drop one kind later.
        """
        if not isinstance(value, str):
            return False
        value = value.strip()
        if len(value) < MIN_SECRET_LENGTH:
            return False
        with self._lock:
            if value in self._values:
                return False
            self._values[value] = name
            self._sources[value] = source
            self._names.setdefault(name, source)
            self._rebuild()
        return True

    def add_many(
        self, items: Mapping[str, str] | Iterable[tuple[str, str]], *, source: str = "user"
    ) -> int:
        """Register several ``(name, value)`` pairs with one rebuild; return how many were new."""
        pairs = items.items() if isinstance(items, Mapping) else items
        added = 0
        with self._lock:
            for name, value in pairs:
                if not isinstance(value, str):
                    continue
                value = value.strip()
                if len(value) < MIN_SECRET_LENGTH or value in self._values:
                    continue
                self._values[value] = name
                self._sources[value] = source
                self._names.setdefault(name, source)
                added += 1
            if added:
                self._rebuild()
        return added

    def add_environ(self, environ: Mapping[str, str] | None = None) -> int:
        """Register the values of the variables whose names look secret
        (:func:`secret_looking`); ``environ`` defaults to ``os.environ``.

        Returns how many values were new.
        """
        source = os.environ if environ is None else environ
        return self.add_many(
            ((name, value) for name, value in source.items() if secret_looking(name)),
            source="env",
        )

    def add_dotenv(self, path: str | os.PathLike[str]) -> int:
        """Register every value of a ``.env`` file (whatever its variable's name).

        The file is read with python-dotenv's parser and never changes the environment. A
        missing file counts 0; a file that cannot be read or parsed warns (without any of
        its content) and counts what could be read, never raising.
        """
        file = Path(path)
        if not file.is_file():
            return 0
        try:
            from dotenv import dotenv_values

            values = dotenv_values(file, interpolate=False)
        except Exception as exc:  # unreadable, not UTF-8, a parser bug: never fatal
            warnings.warn(
                f"could not read {file} for secrets to redact ({type(exc).__name__}); "
                "its values will not be redacted",
                RuntimeWarning,
                stacklevel=2,
            )
            return 0
        return self.add_many(
            ((name, value) for name, value in values.items() if value), source="dotenv"
        )

    def remove_source(self, source: str) -> int:
        """Forget every secret registered with ``source``; return how many."""
        with self._lock:
            doomed = [value for value, src in self._sources.items() if src == source]
            for value in doomed:
                del self._values[value]
                del self._sources[value]
            if doomed:
                kept = set(self._values.values())
                self._names = {n: s for n, s in self._names.items() if n in kept}
                self._rebuild()
        return len(doomed)

    def clear(self) -> None:
        """Forget every secret."""
        with self._lock:
            self._names.clear()
            self._values.clear()
            self._sources.clear()
            self._built = _EMPTY
            self._dirty = False

    def _rebuild(self) -> None:
        """Mark the pattern stale (called with the lock held); the next scan rebuilds it,
        so adding many secrets one by one compiles once."""
        self._dirty = True

    @property
    def _snapshot(self) -> _Snapshot:
        """The current pattern and tables, rebuilt first if a secret was added or removed."""
        if self._dirty:
            with self._lock:
                if self._dirty:
                    self._built = self._build()
                    self._dirty = False
        return self._built

    def _build(self) -> _Snapshot:
        """Compile the pattern and tables of the registered values (lock held)."""
        lookup: dict[str, tuple[str, VariantKind]] = {}
        for value, name in self._values.items():
            for text, kind in _variants(value):
                # first name wins, also when two secrets share an encoding
                lookup.setdefault(text, (name, kind))
        if not lookup:
            return _EMPTY
        words = sorted(lookup, key=len, reverse=True)
        return _Snapshot(
            pattern=re.compile(_trie_pattern(words)),
            lookup=lookup,
            originals=dict(self._values),
            longest=len(words[0]),
        )

    # --- reading ----------------------------------------------------------------------

    def names(self) -> list[str]:
        """The names of the registered secrets, in the order they were added."""
        return list(self._names)

    def __len__(self) -> int:
        return len(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` (or an encoding of it) is a registered secret, exactly."""
        return isinstance(value, str) and value.strip() in self._snapshot.lookup

    def __repr__(self) -> str:
        return f"SecretRegistry({len(self._values)} secrets: {', '.join(self._names) or '-'})"

    @property
    def longest(self) -> int:
        """The length of the longest registered value or variant (0 when empty)."""
        return self._snapshot.longest

    def finditer(self, text: str) -> Iterator[SecretMatch]:
        """Every occurrence of a secret or of one of its variants, left to right,
        the longest at each position, without overlaps."""
        snap = self._snapshot
        if snap.pattern is None or not text:
            return
        for m in snap.pattern.finditer(text):
            name, kind = snap.lookup[m.group()]
            yield SecretMatch(name=name, kind=kind, start=m.start(), end=m.end())

    def find(self, text: str) -> str | None:
        """The name of the first secret found in ``text`` (original or variant), or None."""
        snap = self._snapshot
        if snap.pattern is None or not text:
            return None
        m = snap.pattern.search(text)
        return None if m is None else snap.lookup[m.group()][0]

    def contains(self, text: str) -> bool:
        """Whether ``text`` holds a secret or one of its variants."""
        return self.find(text) is not None

    def replace(
        self, text: str, replacement: Callable[[SecretMatch], str]
    ) -> tuple[str, list[SecretMatch]]:
        """``text`` with each occurrence replaced by ``replacement(match)``, and the matches."""
        snap = self._snapshot
        if snap.pattern is None or not text:
            return text, []
        found: list[SecretMatch] = []

        def substitute(m: re.Match[str]) -> str:
            name, kind = snap.lookup[m.group()]
            hit = SecretMatch(name=name, kind=kind, start=m.start(), end=m.end())
            found.append(hit)
            return replacement(hit)

        return snap.pattern.sub(substitute, text), found

    def redact(self, text: str) -> str:
        """``text`` with every secret and variant replaced by ``[REDACTED:<name>]``."""
        snap = self._snapshot
        if snap.pattern is None or not text:
            return text
        lookup = snap.lookup
        return snap.pattern.sub(lambda m: f"[REDACTED:{lookup[m.group()][0]}]", text)

    def redact_data(self, obj: Any) -> Any:
        """A copy of ``obj`` with :meth:`redact` applied to every string in it, keys too.

        Dicts, lists and tuples are walked (their types kept); other objects are returned
        as they are.
        """
        if self._snapshot.pattern is None:
            return obj
        return self._redact_data(obj, 0)

    def _redact_data(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if depth > 200:  # a cycle or an absurd nesting: stop walking, keep the object
            return obj
        if isinstance(obj, dict):
            items = {
                self._redact_data(k, depth + 1): self._redact_data(v, depth + 1)
                for k, v in obj.items()
            }
            if type(obj) is dict:
                return items
            try:  # keep an OrderedDict an OrderedDict
                return type(obj)(items)
            except TypeError:
                return items
        if isinstance(obj, list):
            return [self._redact_data(v, depth + 1) for v in obj]
        if isinstance(obj, tuple):
            values = [self._redact_data(v, depth + 1) for v in obj]
            if hasattr(obj, "_fields"):  # a named tuple
                return type(obj)(*values)
            return tuple(values)
        return obj

    def check_encoded(self, text: str) -> str | None:
        """Decode each word of ``text`` and look for an original value in the result.

        A word (split on whitespace) is decoded as URL-encoding when it contains ``%``
        (or ``+``), as base64 (standard or URL-safe, padding optional) and as hex (an even
        number, at least 4, of hex digits); runs of base64 or hex characters inside a word
        (``token="ZGF0YQ=="``) are tried too. Returns the name of the secret found, or None.
        This catches encodings the variants miss, such as a secret inside a longer base64
        blob (``Basic dXNlcjpwYXNz``).
        """
        snap = self._snapshot
        if not snap.originals or not text:
            return None
        originals = snap.originals

        def hit(decoded: str) -> str | None:
            if len(decoded) < MIN_SECRET_LENGTH:
                return None
            for value, name in originals.items():
                if value in decoded:
                    return name
            return None

        for word in text.split():
            if "%" in word or "+" in word:
                for decoded in {unquote(word), unquote_plus(word)}:
                    if decoded != word and (name := hit(decoded)) is not None:
                        return name
            for m in _BASE64_WORD.finditer(word):
                if (name := hit(_b64decode(m.group()))) is not None:
                    return name
            for m in _HEX_WORD.finditer(word):
                run = m.group()
                # an odd run may have picked up one hex-looking letter of the text around it
                for part in (run,) if len(run) % 2 == 0 else (run[:-1], run[1:]):
                    decoded = bytes.fromhex(part).decode("utf-8", "replace")
                    if (name := hit(decoded)) is not None:
                        return name
        return None


def _b64decode(word: str) -> str:
    """``word`` decoded as base64 (the alphabet its characters say, padding optional),
    or ``""`` when it is not base64."""
    stripped = word.rstrip("=")
    if len(stripped) < 8 or len(stripped) % 4 == 1:
        return ""
    if "-" in stripped or "_" in stripped:
        if "+" in stripped or "/" in stripped:
            return ""
        stripped = stripped.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except (binascii.Error, ValueError):
        return ""
    return raw.decode("utf-8", "replace")


class StreamRedactor:
    """Redacts text that arrives in pieces, so a secret split across pieces is caught.

    Each :meth:`feed` returns the redacted text that is certain, holding back at most
    ``longest variant - 1`` characters that could still be the start of a secret;
    :meth:`flush` returns the rest. Concatenating every returned piece gives exactly
    ``registry.redact(whole text)``.

    Not thread-safe: one stream, one redactor.
    """

    def __init__(self, registry: SecretRegistry) -> None:
        self._registry = registry
        self._pending = ""

    @property
    def pending(self) -> int:
        """How many characters are held back."""
        return len(self._pending)

    def feed(self, chunk: str) -> str:
        """Redacted output that is safe to show now (may be empty)."""
        buf = self._pending + chunk
        snap = self._registry._snapshot
        if snap.pattern is None:
            self._pending = ""
            return buf
        # an occurrence starting before `cut` is complete within `buf`: no variant is
        # longer than `longest`; one starting at or after `cut` may still be growing
        cut = len(buf) - (snap.longest - 1)
        if cut <= 0:
            self._pending = buf
            return ""
        out: list[str] = []
        emitted = 0
        for m in snap.pattern.finditer(buf):
            if m.start() >= cut:
                break
            out.append(buf[emitted : m.start()])
            out.append(f"[REDACTED:{snap.lookup[m.group()][0]}]")
            emitted = m.end()
        end = max(cut, emitted)
        out.append(buf[emitted:end])
        self._pending = buf[end:]
        return "".join(out)

    def flush(self) -> str:
        """Everything still held back, redacted. The redactor can be reused afterwards."""
        rest, self._pending = self._pending, ""
        return self._registry.redact(rest)
