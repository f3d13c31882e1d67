"""Parse a bash command line into the simple commands it runs.

Permission rules for ``bash`` are matched against simple commands, not against the raw string
(see :mod:`a3s_notebook.engine.permissions`). This module turns a command line into those
simple commands with ``tree-sitter-bash`` (MIT), and says whether the result can be trusted.

What it does:

- splits compound commands: ``;``, ``&&``, ``||``, ``|``, ``|&``, ``&``, newlines, subshells
  ``( )``, groups ``{ ; }``, ``if``/``for``/``while``/``until``/``case``/``select`` bodies,
  function bodies, ``!``, command substitution ``$( )`` and backticks, process substitution
  ``<( )``/``>( )``, and commands inside ``${x:-$(...)}``, ``$(( ))``, here-strings and
  unquoted here-documents;
- normalises each word: quotes and backslashes are removed (``'r'm``, ``"rm"``, ``\\rm``,
  ``$'\\x72m'`` all read ``rm``), brace expansion is applied (``{rm,-rf,x}``), a command
  named by a path in a system directory (``/bin/rm``, ``/usr/bin/rm``) becomes its base
  name, leading assignments (``x=1 rm``) are set aside;
- unwraps commands that run another command: transparent wrappers (``env``, ``command``,
  ``builtin``, ``exec``, ``nohup``, ``time``, ``timeout``, ``nice``, ``ionice``,
  ``stdbuf``, ``setsid``, ``xargs``, ``watch``, ``flock``, ``taskset``, ``chrt``,
  ``chroot``, ``strace``, ``ltrace``, ``caffeinate``, ``unbuffer``, ``busybox``,
  ``coproc``), privilege wrappers (``sudo``, ``doas``, ``su``, ``runuser``, ``pkexec``,
  ``run0``), shells given a string (``bash|sh|zsh|dash|ksh|... -c STRING``, ``su -c``,
  ``flock -c``, ``env -S``, ``trap STRING``, ``eval``), parsed again up to
  :data:`MAX_NESTING` levels, and ``find``/``fd`` with ``-exec``/``-execdir``/``-ok``/``-x``.

``./rm`` and ``bin/rm`` (a path outside the system directories) keep their spelling in
``argv``: they are other programs than ``rm``, so an allow rule for ``rm`` does not cover
them; :attr:`SimpleCommand.name` (the base name) is what deny rules look at, so a deny rule
for ``rm`` still catches them.

A result is *certain* only when the parse is clean and static. ``certain`` is False (and
``problems`` says why) when tree-sitter reports a syntax error, the command uses command or
process substitution, ``eval``, a command name that is not static (``$CMD x``,
``"${X}"``), a glob or brace expansion in a command name, a wrapper whose arguments are not
static, a shell reading commands from standard input (``echo x | bash``), an assignment to a
variable that makes programs load or run other code (``PATH``, ``LD_PRELOAD``,
``BASH_ENV``, ``GIT_*``, ``*_PAGER``, ...), ``alias``/``enable``/``hash -p``, a callback
string (``mapfile -C``, ``compgen -C``, ``complete -C``, ``bind -x``), a quoted string
carrying ``$(`` or a backtick (bash evaluates such a value later in ``$((x))`` or
``${x@P}``), ``${x@P}`` itself, a redirect whose target is not static, a line
continuation or control character that could make bash and tree-sitter disagree (both
readings are then kept), or nesting deeper than the limits (:data:`MAX_NESTING` shell
strings, 200 syntax levels, 100,000 characters).
"""

from __future__ import annotations

import functools
import itertools
import os
import posixpath
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    # the parser is loaded on the first command parsed (_parser), not at import
    import tree_sitter

__all__ = [
    "CommandKind",
    "MAX_NESTING",
    "ShellCommand",
    "SimpleCommand",
    "command_name",
    "parse_command",
    "split_words",
]

MAX_NESTING = 4
"""How many times a string run by a shell (``bash -c``, ``eval``, ...) is parsed again."""

_MAX_TREE_DEPTH = 200
_MAX_UNWRAP = 16
_MAX_BRACE_WORDS = 256
_MAX_COMMAND_CHARS = 100_000

CommandKind = Literal["command", "wrapper", "privilege", "declaration"]
"""What a simple command is for the permission rules.

``command``: an effective command, judged by allow rules. ``privilege``: a wrapper that runs
its command as another user (``sudo``, ``doas``, ``su``, ``runuser``, ``pkexec``, ``run0``);
judged by allow rules too. ``wrapper``: a transparent wrapper (``timeout 5``, ``env``,
``xargs``, ``bash -c``, ...) whose effective command is judged instead. ``declaration``: a
builtin that only sets variables (``export``, ``local``, ``declare``, ``typeset``,
``readonly``, ``unset``); not judged by allow rules. Deny and ask rules look at every kind.
"""

SYSTEM_BIN_DIRS = frozenset(
    {
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/opt/homebrew/bin",
        "/opt/homebrew/sbin",
    }
)
"""A command named by a path in one of these directories is normalised to its base name."""


@dataclass(frozen=True)
class SimpleCommand:
    """One simple command, after quote removal and wrapper unwrapping.

    ``sudo -u bob timeout 5 rm x`` gives three: ``sudo -u bob timeout 5 rm x`` (kind
    ``privilege``), ``timeout 5 rm x`` (kind ``wrapper``, ``via=("sudo",)``) and ``rm x``
    (kind ``command``, ``via=("sudo", "timeout")``).
    """

    argv: tuple[str, ...]
    """The words, quotes removed. ``argv[0]`` is the command name, normalised (``/bin/rm`` ->
    ``rm``); a word that is not static keeps its source text (``$HOME``)."""
    text: str
    """The source text of this command (from its name to its last word)."""
    kind: CommandKind = "command"
    """See :data:`CommandKind`."""
    via: tuple[str, ...] = ()
    """The names of the wrappers around this command, outermost first."""
    open_args: bool = False
    """True when more arguments are appended at run time (``xargs rm``, ``-exec rm {} +``)."""
    dynamic: frozenset[int] = frozenset()
    """Indexes of words in ``argv`` that are not static (expansions, substitutions)."""
    globbed: frozenset[int] = frozenset()
    """Indexes of words in ``argv`` with an unquoted glob (``*``, ``?``, ``[...]``)."""

    @property
    def name(self) -> str:
        """The base name of the command (``./bin/rm`` -> ``rm``); ``""`` when argv is empty."""
        return posixpath.basename(self.argv[0]) if self.argv else ""

    @property
    def is_wrapper(self) -> bool:
        """True for a wrapper (transparent or privilege) that runs another simple command."""
        return self.kind in ("wrapper", "privilege")


@dataclass(frozen=True)
class ShellCommand:
    """A parsed command line."""

    source: str
    """The command line as given."""
    simple: tuple[SimpleCommand, ...]
    """Every simple command, wrappers and the commands they run included, in source order."""
    certain: bool
    """True when the parse is clean and every command name is static (see the module doc)."""
    problems: tuple[str, ...] = ()
    """Why ``certain`` is False, one sentence each."""
    words: tuple[str, ...] = ()
    """Every word of the command line (arguments, redirect targets, assignment values, loop
    lists), quotes removed, for path checks."""
    writes: tuple[str, ...] = ()
    """Files the shell opens for writing by redirection (``> f``, ``>> f``, ``&> f``)."""

    @property
    def effective(self) -> tuple[SimpleCommand, ...]:
        """The simple commands of kind ``command`` (what wrappers run)."""
        return tuple(c for c in self.simple if c.kind == "command")

    @property
    def judged(self) -> tuple[SimpleCommand, ...]:
        """The simple commands an allow rule must cover: kinds ``command`` and ``privilege``."""
        return tuple(c for c in self.simple if c.kind in ("command", "privilege"))


# -- words -------------------------------------------------------------------------------------

_Chars = list[tuple[str, bool]]
"""A word as characters, each with a flag: True when unquoted and literal (may be a glob,
brace or tilde metacharacter)."""


@dataclass
class _Word:
    value: str
    static: bool
    glob: bool
    start: int
    end: int
    braced: bool = False
    tilde: bool = False

    @classmethod
    def synthetic(cls, value: str, like: _Word) -> _Word:
        return cls(value, True, False, like.start, like.end)


_DQ_ESCAPABLE = frozenset('$`"\\\n')
_ANSI_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


def _ansi_c(body: str) -> str:
    """Decode the body of a ``$'...'`` string."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[nxt])
            i += 2
        elif nxt in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert m is not None
            out.append(chr(int(m.group(), 8) & 0xFF))
            i += 1 + len(m.group())
        elif nxt in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[nxt]
            m = re.match(f"[0-9a-fA-F]{{1,{size}}}", body[i + 2 :])
            if m is None:
                out.append("\\" + nxt)
                i += 2
            else:
                code = int(m.group(), 16)
                out.append(chr(code) if code <= 0x10FFFF else "\ufffd")
                i += 2 + len(m.group())
        elif nxt == "c" and i + 2 < n:
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        else:
            out.append("\\" + nxt)
            i += 2
    return "".join(out)


def _unquoted_chars(text: str) -> _Chars:
    """An unquoted word: a backslash quotes the next character; backslash-newline vanishes."""
    out: _Chars = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            if text[i + 1] != "\n":
                out.append((text[i + 1], False))
            i += 2
        else:
            out.append((ch, True))
            i += 1
    return out


def _dq_chars(text: str) -> _Chars:
    """Literal text inside double quotes: backslash escapes only ``$ ` " \\`` and newline."""
    out: _Chars = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in _DQ_ESCAPABLE:
            if text[i + 1] != "\n":
                out.append((text[i + 1], False))
            i += 2
        else:
            out.append((ch, False))
            i += 1
    return out


def _has_glob(chars: _Chars) -> bool:
    for i, (ch, meta) in enumerate(chars):
        if not meta:
            continue
        if ch in "*?":
            return True
        if ch == "[" and any(c == "]" and m for c, m in chars[i + 2 :]):
            return True
    return False


def _brace_body(chars: _Chars, open_at: int) -> tuple[int, list[int], bool] | None:
    """For an unquoted ``{`` at ``open_at``: (index of its ``}``, top-level comma indexes,
    whether the body is a sequence ``a..b``), or None when it is not a brace expansion."""
    depth = 0
    commas: list[int] = []
    for j in range(open_at + 1, len(chars)):
        ch, meta = chars[j]
        if not meta:
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                body = "".join(c for c, _ in chars[open_at + 1 : j])
                if commas:
                    return j, commas, False
                if re.fullmatch(r"(-?\d+\.\.-?\d+|[A-Za-z]\.\.[A-Za-z])(\.\.-?\d+)?", body):
                    return j, [], True
                return None
            depth -= 1
        elif ch == "," and depth == 0:
            commas.append(j)
    return None


def _sequence(body: str) -> list[str]:
    parts = body.split("..")
    step = abs(int(parts[2])) if len(parts) == 3 and int(parts[2]) != 0 else 1
    a, b = parts[0], parts[1]
    if a.lstrip("-").isdigit() and b.lstrip("-").isdigit():
        lo, hi = int(a), int(b)
        rng = range(lo, hi + 1, step) if lo <= hi else range(lo, hi - 1, -step)
        return [str(x) for x in list(rng)[: _MAX_BRACE_WORDS + 1]]
    lo_c, hi_c = ord(a), ord(b)
    rng = range(lo_c, hi_c + 1, step) if lo_c <= hi_c else range(lo_c, hi_c - 1, -step)
    return [chr(x) for x in rng]


def _brace_expand(chars: _Chars, budget: list[int]) -> list[_Chars]:
    """Bash brace expansion on unquoted braces; ``budget[0]`` counts words left."""
    for i, (ch, meta) in enumerate(chars):
        if not (meta and ch == "{"):
            continue
        if i > 0 and chars[i - 1] == ("$", True):
            continue
        found = _brace_body(chars, i)
        if found is None:
            continue
        close, commas, is_seq = found
        prefix, suffix = chars[:i], chars[close + 1 :]
        if is_seq:
            alts: list[_Chars] = [
                [(c, False) for c in s]
                for s in _sequence("".join(c for c, _ in chars[i + 1 : close]))
            ]
        else:
            bounds = [i, *commas, close]
            alts = [chars[a + 1 : b] for a, b in itertools.pairwise(bounds)]
        results: list[_Chars] = []
        tails = _brace_expand(suffix, budget)
        for alt in alts:
            for head in _brace_expand(alt, budget):
                for tail in tails:
                    budget[0] -= 1
                    if budget[0] < 0:
                        return results
                    results.append(prefix + head + tail)
        return results
    return [chars]


# -- names -------------------------------------------------------------------------------------


def command_name(word: str) -> str:
    """Normalise a command word: a path in a system bin directory becomes its base name
    (``/usr/bin/rm`` and ``//bin//rm`` -> ``rm``); any other word is returned as written
    (``./rm`` stays ``./rm``, ``rm`` stays ``rm``)."""
    if "/" not in word:
        return word
    collapsed = re.sub(r"/+", "/", word)
    head, base = posixpath.split(posixpath.normpath(collapsed))
    if base and head in SYSTEM_BIN_DIRS:
        return base
    return word


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
_DANGEROUS_VARS = frozenset(
    {
        "PATH",
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "IFS",
        "PS4",
        "PROMPT_COMMAND",
        "CDPATH",
        "GLOBIGNORE",
        "EDITOR",
        "VISUAL",
        "PAGER",
        "MANPAGER",
        "BROWSER",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "PYTHONINSPECT",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "RUBYOPT",
        "RUBYLIB",
        "NODE_OPTIONS",
        "NODE_PATH",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "LESSOPEN",
        "LESSCLOSE",
        "HOME",
        "ZDOTDIR",
        "XDG_CONFIG_HOME",
        "TMPDIR",
    }
)
_DANGEROUS_PREFIXES = ("LD_", "DYLD_", "GIT_", "BASH_FUNC_", "NPM_CONFIG_", "PIP_")
_DANGEROUS_SUFFIXES = ("_COMMAND", "_EDITOR", "_PAGER", "_ASKPASS", "_PRELOAD", "_SHELL")


def _dangerous_var(name: str) -> bool:
    upper = name.upper()
    return (
        upper in _DANGEROUS_VARS
        or upper.startswith(_DANGEROUS_PREFIXES)
        or upper.endswith(_DANGEROUS_SUFFIXES)
    )


# -- wrappers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    kind: CommandKind = "wrapper"
    arg_opts: frozenset[str] = frozenset()
    """Options that take the next word (or the rest of their cluster) as their argument."""
    string_opts: frozenset[str] = frozenset()
    """Options whose argument is a shell string that is run."""
    stop_opts: frozenset[str] = frozenset()
    """Options after which the remaining words are not a command (``ionice -p PID``)."""
    shell_opts: frozenset[str] = frozenset()
    """Options that open an interactive shell when no command follows (``sudo -s``)."""
    positional: int = 0
    """Words between the options and the command (``timeout DURATION``)."""
    assignments: bool = False
    """NAME=value words before the command are environment settings (``env``, ``sudo``)."""
    numeric: bool = False
    """``-N`` is an option (``nice -10``)."""
    open_args: bool = False
    """Arguments are appended at run time (``xargs``)."""
    join_string: bool = False
    """The remaining words are joined and run by ``sh -c`` (``watch``)."""
    exec_opts: frozenset[str] = frozenset()
    """Options that turn ``join_string`` off (``watch -x``)."""
    no_command_shell: bool = False
    """Without a command it opens an interactive shell (``sudo -i``, ``chroot DIR``)."""


def _fs(*items: str) -> frozenset[str]:
    return frozenset(items)


_SPECS: dict[str, _Spec] = {
    "env": _Spec(
        arg_opts=_fs("-u", "--unset", "-C", "--chdir", "-P"),
        string_opts=_fs("-S", "--split-string"),
        assignments=True,
    ),
    "command": _Spec(),
    "builtin": _Spec(),
    "exec": _Spec(arg_opts=_fs("-a")),
    "nohup": _Spec(),
    "time": _Spec(arg_opts=_fs("-f", "-o", "--format", "--output")),
    "nice": _Spec(arg_opts=_fs("-n", "--adjustment"), numeric=True),
    "ionice": _Spec(
        arg_opts=_fs("-c", "-n", "--class", "--classdata"),
        stop_opts=_fs("-p", "-P", "-u", "--pid", "--pgid", "--uid"),
    ),
    "stdbuf": _Spec(arg_opts=_fs("-i", "-o", "-e", "--input", "--output", "--error")),
    "timeout": _Spec(arg_opts=_fs("-k", "-s", "--kill-after", "--signal"), positional=1),
    "setsid": _Spec(),
    "xargs": _Spec(
        arg_opts=_fs(
            "-a",
            "-d",
            "-E",
            "-I",
            "-L",
            "-n",
            "-P",
            "-s",
            "--arg-file",
            "--delimiter",
            "--eof",
            "--max-lines",
            "--max-args",
            "--max-procs",
            "--max-chars",
            "--process-slot-var",
        ),
        open_args=True,
    ),
    "watch": _Spec(
        arg_opts=_fs("-n", "--interval", "-q", "--equexit"),
        join_string=True,
        exec_opts=_fs("-x", "--exec"),
    ),
    "flock": _Spec(
        arg_opts=_fs("-w", "-E", "--timeout", "--wait", "--conflict-exit-code"),
        string_opts=_fs("-c", "--command"),
        positional=1,
    ),
    "taskset": _Spec(stop_opts=_fs("-p", "--pid"), positional=1),
    "chrt": _Spec(
        arg_opts=_fs("-T", "-P", "-D", "--sched-runtime", "--sched-period", "--sched-deadline"),
        stop_opts=_fs("-p", "--pid"),
        positional=1,
    ),
    "chroot": _Spec(arg_opts=_fs("--groups", "--userspec"), positional=1, no_command_shell=True),
    "strace": _Spec(
        arg_opts=_fs("-o", "-e", "-p", "-s", "-u", "-E", "-I", "-b", "-O", "-S", "-P", "-X", "-a")
    ),
    "ltrace": _Spec(arg_opts=_fs("-o", "-e", "-p", "-s", "-u", "-n", "-a", "-A", "-D", "-F")),
    "caffeinate": _Spec(arg_opts=_fs("-t", "-w")),
    "unbuffer": _Spec(),
    "busybox": _Spec(),
    "coproc": _Spec(),
    "nocache": _Spec(),
    "sudo": _Spec(
        kind="privilege",
        arg_opts=_fs(
            "-u",
            "-g",
            "-C",
            "-D",
            "-p",
            "-r",
            "-t",
            "-T",
            "-U",
            "--user",
            "--group",
            "--close-from",
            "--chdir",
            "--prompt",
            "--role",
            "--type",
            "--command-timeout",
            "--other-user",
            "--host",
        ),
        shell_opts=_fs("-s", "-i", "--shell", "--login"),
        assignments=True,
    ),
    "doas": _Spec(kind="privilege", arg_opts=_fs("-u", "-C"), shell_opts=_fs("-s")),
    "pkexec": _Spec(kind="privilege", arg_opts=_fs("--user"), no_command_shell=True),
    "run0": _Spec(
        kind="privilege",
        arg_opts=_fs(
            "-u",
            "--user",
            "-g",
            "--group",
            "-D",
            "--chdir",
            "--nice",
            "--unit",
            "--property",
            "--description",
            "--slice",
            "--setenv",
            "--machine",
            "--background",
        ),
        no_command_shell=True,
    ),
}

_SHELLS = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh", "fish", "rbash"}
)
_SU_LIKE = frozenset({"su", "runuser"})
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FD_EXEC = frozenset({"-x", "--exec", "-X", "--exec-batch"})
_ALIASING = frozenset({"alias", "enable"})
_CALLBACKS = {"mapfile": "-C", "readarray": "-C", "compgen": "-C", "complete": "-C", "bind": "-x"}
"""Builtins whose option takes a command string run later (``mapfile -C 'cmd'``)."""
_DECLARATIONS = frozenset({"export", "local", "declare", "typeset", "readonly", "unset"})
_WRITE_OPS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
_HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "-"})
_CD = frozenset({"cd", "pushd", "popd"})

_WORD_TYPES = frozenset(
    {
        "word",
        "number",
        "string",
        "raw_string",
        "ansi_c_string",
        "translated_string",
        "concatenation",
        "simple_expansion",
        "expansion",
        "command_substitution",
        "process_substitution",
        "arithmetic_expansion",
        "brace_expression",
    }
)
_SUBSTITUTIONS = frozenset({"command_substitution", "process_substitution"})

_local = threading.local()


def _parser() -> tree_sitter.Parser:
    parser: tree_sitter.Parser | None = getattr(_local, "parser", None)
    if parser is None:
        import tree_sitter
        import tree_sitter_bash

        parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
        _local.parser = parser
    return parser


class _Walker:
    """Collects the simple commands of one source string (one nesting level)."""

    def __init__(self, source: str, nesting: int, via: tuple[str, ...] = ()) -> None:
        self.source = source
        self.src = source.encode("utf-8", "surrogatepass")
        self.nesting = nesting
        self.via = via
        self.simple: list[SimpleCommand] = []
        self.problems: list[str] = []
        self.words: list[str] = []
        self.writes: list[str] = []
        self.has_cd = False
        self.relative_writes = False

    # -- helpers -----------------------------------------------------------------------------

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def slice(self, start: int, end: int) -> str:
        return self.src[start:end].decode("utf-8", "replace")

    def node_text(self, node: tree_sitter.Node) -> str:
        return self.slice(node.start_byte, node.end_byte)

    def merge(self, other: _Walker) -> None:
        self.simple.extend(other.simple)
        for p in other.problems:
            self.problem(p)
        self.words.extend(other.words)
        self.writes.extend(other.writes)
        self.has_cd = self.has_cd or other.has_cd
        self.relative_writes = self.relative_writes or other.relative_writes

    # -- entry -------------------------------------------------------------------------------

    def run(self) -> None:
        tree = _parser().parse(self.src)
        root = tree.root_node
        if root.has_error or _has_missing(root):
            self.problem("the command does not parse as bash")
            self.fallback(self.source)
        self.visit(root, 0)

    def fallback(self, text: str) -> None:
        """Crude split for text tree-sitter could not parse: every chunk between shell
        operators becomes a simple command, so that deny rules still see its words."""
        for chunk in re.split(r"[;&|\n()`]|\$\(|<\(|>\(|(?<!\S)[{}](?!\S)", text):
            words = _crude_words(chunk)
            if words:
                words[0] = command_name(words[0])
                self.simple.append(
                    SimpleCommand(argv=tuple(words), text=chunk.strip(), via=self.via)
                )
                self.words.extend(words)

    # -- tree walk ---------------------------------------------------------------------------

    def visit(self, node: tree_sitter.Node, depth: int) -> None:
        if depth > _MAX_TREE_DEPTH:
            self.problem("the command is nested too deeply to check")
            self.fallback(self.node_text(node))
            return
        t = node.type
        if t == "command":
            self.command(node, depth, [])
            return
        if t == "redirected_statement":
            self.redirected(node, depth)
            return
        if t == "variable_assignment":
            self.assignment(node, depth)
            return
        if t in ("declaration_command", "unset_command"):
            self.declaration(node, depth)
            return
        if t == "file_redirect":
            self.redirect(node, depth, [])
            return
        if t == "command_substitution":
            self.problem("the command uses command substitution")
        elif t == "process_substitution":
            self.problem("the command uses process substitution")
        elif t in _WORD_TYPES:
            for w in self.eval_word(node):
                self.words.append(w.value)
            self.substitutions(node, depth)
            return
        for child in node.children:
            self.visit(child, depth + 1)

    def substitutions(self, node: tree_sitter.Node, depth: int) -> None:
        """Visit the commands nested inside a word (substitutions, ``${x:-$(...)}``)."""
        if depth > _MAX_TREE_DEPTH:
            self.problem("the command is nested too deeply to check")
            self.fallback(self.node_text(node))
            return
        for child in node.children:
            if child.type in _SUBSTITUTIONS:
                self.visit(child, depth + 1)
            elif child.child_count:
                self.substitutions(child, depth + 1)

    def redirected(self, node: tree_sitter.Node, depth: int) -> None:
        body = node.child_by_field_name("body")
        extra: list[tree_sitter.Node] = []
        redirects: list[tree_sitter.Node] = []
        for child in node.children:
            if child is not None and body is not None and child.id == body.id:
                continue
            if child.type == "file_redirect":
                redirects.append(child)
            else:
                self.visit(child, depth + 1)
        if body is not None and body.type == "command":
            for r in redirects:
                self.redirect(r, depth + 1, extra)
            self.command(body, depth + 1, extra)
            return
        for r in redirects:
            self.redirect(r, depth + 1, extra)
        if extra:
            # "{ x; } > f y" is a syntax error in bash
            self.problem("the command does not parse as bash")
            self.fallback(" ".join(self.node_text(n) for n in extra))
        if body is not None:
            self.visit(body, depth + 1)

    def redirect(
        self, node: tree_sitter.Node, depth: int, extra_args: list[tree_sitter.Node]
    ) -> None:
        """Record a redirect's target; words after the target are command arguments."""
        op = ""
        dests: list[tree_sitter.Node] = []
        for i, child in enumerate(node.children):
            fieldname = node.field_name_for_child(i)
            if fieldname == "destination":
                dests.append(child)
            elif not child.is_named:
                op = child.type
            elif fieldname != "descriptor":
                self.visit(child, depth + 1)
        if not dests:
            return
        target, rest = dests[0], dests[1:]
        extra_args.extend(rest)
        self.substitutions_of(target, depth)
        if target.type == "process_substitution":
            return
        values = self.eval_word(target)
        for w in values:
            self.words.append(w.value)
        if op not in _WRITE_OPS:
            return
        if op == ">&" and all(w.static and (w.value.isdigit() or w.value == "-") for w in values):
            return
        for w in values:
            if not w.static:
                self.problem("the command writes to a file whose name is not static")
            elif w.glob or w.braced:
                self.problem("the command writes to a file named by a pattern")
            if w.value in _HARMLESS_TARGETS or w.value.startswith("/dev/fd/"):
                continue
            path = _expand_tilde(w.value) if w.tilde else w.value
            self.writes.append(path)
            if not path.startswith("/"):
                self.relative_writes = True

    def substitutions_of(self, node: tree_sitter.Node, depth: int) -> None:
        if node.type in _SUBSTITUTIONS:
            self.visit(node, depth + 1)
        else:
            self.substitutions(node, depth)

    def assignment(self, node: tree_sitter.Node, depth: int) -> None:
        name = node.child_by_field_name("name")
        if name is not None:
            var = self.node_text(name)
            if _dangerous_var(var.split("[")[0]):
                self.problem(f"the command sets {var}, which changes what programs run")
        value = node.child_by_field_name("value")
        for child in node.children:
            if value is not None and child.id == value.id:
                if child.type == "array":
                    for item in child.named_children:
                        self.visit(item, depth + 1)
                else:
                    self.visit(child, depth + 1)
            elif child.is_named and child.type != "variable_name":
                self.visit(child, depth + 1)

    def declaration(self, node: tree_sitter.Node, depth: int) -> None:
        keyword = node.children[0].type if node.children else "declare"
        argv: list[str] = [keyword]
        for child in node.children[1:]:
            if child.type == "variable_assignment":
                self.assignment(child, depth + 1)
                name = child.child_by_field_name("name")
                argv.append(self.node_text(child))
                if name is not None:
                    self.words.append(self.node_text(name))
            elif child.type == "variable_name":
                var = self.node_text(child)
                argv.append(var)
                if keyword != "unset" and _dangerous_var(var):
                    self.problem(f"the command exports {var}, which changes what programs run")
            elif child.type in _WORD_TYPES:
                for w in self.eval_word(child):
                    argv.append(w.value)
                    self.words.append(w.value)
                self.substitutions_of(child, depth)
            else:
                self.visit(child, depth + 1)
        self.simple.append(
            SimpleCommand(
                argv=tuple(argv), text=self.node_text(node), kind="declaration", via=self.via
            )
        )

    def command(
        self,
        node: tree_sitter.Node,
        depth: int,
        extra_args: list[tree_sitter.Node],
    ) -> None:
        word_nodes: list[tree_sitter.Node] = []
        for i, child in enumerate(node.children):
            fieldname = node.field_name_for_child(i)
            t = child.type
            if t == "variable_assignment":
                self.assignment(child, depth + 1)
            elif t == "command_name":
                inner = child.named_children
                word_nodes.append(inner[0] if len(inner) == 1 else child)
            elif t == "file_redirect":
                self.redirect(child, depth + 1, extra_args)
            elif t in ("heredoc_redirect", "herestring_redirect"):
                self.visit(child, depth + 1)
            elif fieldname == "argument" or t in _WORD_TYPES:
                word_nodes.append(child)
            elif child.is_named:
                self.visit(child, depth + 1)
        word_nodes.extend(extra_args)
        words: list[_Word] = []
        for group in _adjacent_groups(word_nodes):
            for wn in group:
                self.substitutions_of(wn, depth)
            words.extend(self.eval_word(*group))
        for w in words:
            self.words.append(w.value)
        if words:
            self.unwrap(words, self.via, False, 0)

    # -- words -------------------------------------------------------------------------------

    def chars(self, node: tree_sitter.Node) -> tuple[_Chars, bool]:
        """The characters of a word node and whether it is static."""
        t = node.type
        text = self.node_text(node)
        if t in ("word", "number"):
            return _unquoted_chars(text), True
        if t == "raw_string":
            return [(c, False) for c in text[1:-1]], True
        if t == "ansi_c_string":
            return [(c, False) for c in _ansi_c(text[2:-1])], True
        if t == "translated_string":
            for child in node.named_children:
                if child.type == "string":
                    return self.chars(child)
            return [(c, False) for c in text], False
        if t == "string":
            out: _Chars = []
            static = True
            pos = node.start_byte + 1
            end = node.end_byte - 1
            for child in node.children:
                if not child.is_named:
                    continue
                if child.start_byte > pos:
                    out.extend(_dq_chars(self.slice(pos, child.start_byte)))
                if child.type == "string_content":
                    out.extend(_dq_chars(self.node_text(child)))
                else:
                    static = False
                    out.extend((c, False) for c in self.node_text(child))
                pos = max(pos, child.end_byte)
            if end > pos:
                out.extend(_dq_chars(self.slice(pos, end)))
            return out, static
        if t == "concatenation":
            out = []
            static = True
            pos = node.start_byte
            for child in node.children:
                if child.start_byte > pos:
                    out.extend(_unquoted_chars(self.slice(pos, child.start_byte)))
                sub, sub_static = self.chars(child)
                out.extend(sub)
                static = static and sub_static
                pos = max(pos, child.end_byte)
            if node.end_byte > pos:
                out.extend(_unquoted_chars(self.slice(pos, node.end_byte)))
            return out, static
        if t == "brace_expression":
            return [(c, True) for c in text], True
        # expansions, substitutions and anything unknown: not static
        return [(c, False) for c in text], False

    def eval_word(self, *nodes: tree_sitter.Node) -> list[_Word]:
        """The word(s) of adjacent nodes (more than one after brace expansion)."""
        chars: _Chars = []
        static = True
        for i, node in enumerate(nodes):
            if node.type == "$" and i + 1 < len(nodes) and nodes[i + 1].type == "string":
                continue  # $"..." that tree-sitter split in two
            sub, sub_static = self.chars(node)
            chars.extend(sub)
            static = static and sub_static
            if not sub_static and "@P}" in self.node_text(node):
                self.problem("the command expands a variable as a prompt string (${x@P})")
        literal = "".join(c for c, meta in chars if not meta)
        if "$(" in literal or "`" in literal:
            # x='a[$(cmd)]'; echo $((x)) and x='$(cmd)'; echo ${x@P} run cmd
            self.problem("the command carries a command substitution in a quoted string")
        node = nodes[0]
        tilde = bool(chars) and chars[0] == ("~", True)
        budget = [_MAX_BRACE_WORDS]
        expanded = _brace_expand(chars, budget)
        if budget[0] < 0:
            self.problem("the command's brace expansion is too large to check")
        braced = len(expanded) != 1 or expanded[0] is not chars
        words = []
        for chs in expanded:
            words.append(
                _Word(
                    value="".join(c for c, _ in chs),
                    static=static,
                    glob=_has_glob(chs),
                    start=node.start_byte,
                    end=nodes[-1].end_byte,
                    braced=braced,
                    tilde=tilde,
                )
            )
        return words

    # -- unwrapping --------------------------------------------------------------------------

    def emit(
        self,
        words: Sequence[_Word],
        kind: CommandKind,
        via: tuple[str, ...],
        open_args: bool,
    ) -> None:
        argv = [w.value for w in words]
        if words and words[0].static and not words[0].glob:
            argv[0] = command_name(argv[0])
        text = self.slice(words[0].start, words[-1].end) if words else ""
        self.simple.append(
            SimpleCommand(
                argv=tuple(argv),
                text=text,
                kind=kind,
                via=via,
                open_args=open_args,
                dynamic=frozenset(i for i, w in enumerate(words) if not w.static),
                globbed=frozenset(i for i, w in enumerate(words) if w.glob),
            )
        )

    def nested(self, script: str, via: tuple[str, ...], why: str | None = None) -> None:
        """Parse a string a shell will run, one nesting level down."""
        if why:
            self.problem(why)
        if self.nesting + 1 > MAX_NESTING:
            self.problem("the command nests shells too deeply to check")
            self.fallback(script)
            return
        inner = _Walker(script, self.nesting + 1, via)
        inner.run()
        self.merge(inner)

    def unwrap(self, words: list[_Word], via: tuple[str, ...], open_args: bool, level: int) -> None:
        """Emit ``words`` as a simple command, and what it runs if it is a wrapper."""
        if not words:
            return
        first = words[0]
        if level > _MAX_UNWRAP:
            self.problem("the command nests wrappers too deeply to check")
            self.emit(words, "command", via, open_args)
            return
        if not first.static:
            self.problem(f"the command name {first.value!r} is not static")
            self.emit(words, "command", via, open_args)
            return
        if first.glob or first.braced:
            self.problem(f"the command name {first.value!r} is a pattern")
        name = command_name(first.value)
        base = posixpath.basename(first.value)
        # A wrapper is only transparent when it is the real one (not "./timeout")
        trusted = name == base
        if base in _ALIASING or (base == "hash" and any(w.value == "-p" for w in words[1:])):
            self.problem(f"the command uses {base}, which changes what command names mean")
        if base in _CD:
            self.has_cd = True
        if base in _SHELLS:
            self.shell(words, via, open_args, level, trusted)
        elif base in _SU_LIKE:
            self.su(words, via, open_args, level)
        elif base == "eval":
            self.emit(words, "wrapper" if trusted else "command", via, open_args)
            self.script_from(words[1:], (*via, base), "the command uses eval")
        elif base in _CALLBACKS and any(
            w.value.startswith(_CALLBACKS[base]) for w in words[1:] if w.static
        ):
            self.emit(words, "command", via, open_args)
            option = _CALLBACKS[base]
            for k, w in enumerate(words[1:], start=1):
                if w.static and w.value.startswith(option):
                    attached = w.value[len(option) :]
                    script = [_Word.synthetic(attached, w)] if attached else words[k + 1 : k + 2]
                    self.script_from(script, (*via, base), "the command registers a callback")
        elif base == "trap":
            self.emit(words, "command", via, open_args)
            rest = [w for w in words[1:] if not w.value.startswith("-")]
            if rest:
                self.script_from(rest[:1], (*via, base), None)
        elif base == "find":
            self.find(words, via, open_args, level)
        elif base in ("fd", "fdfind"):
            self.fd(words, via, open_args, level)
        elif base in _SPECS:
            self.wrapper(words, _SPECS[base], via, open_args, level, trusted)
        else:
            self.emit(words, "command", via, open_args)

    def script_from(self, words: Sequence[_Word], via: tuple[str, ...], why: str | None) -> None:
        if not words:
            if why:
                self.problem(why)
            return
        if not all(w.static for w in words):
            self.problem("the command runs a string that is not static")
            if why:
                self.problem(why)
            return
        self.nested(" ".join(w.value for w in words), via, why)

    def wrapper(
        self,
        words: list[_Word],
        spec: _Spec,
        via: tuple[str, ...],
        open_args: bool,
        level: int,
        trusted: bool,
    ) -> None:
        base = posixpath.basename(words[0].value)
        kind: CommandKind = spec.kind if trusted else "command"
        inner_via = (*via, base)
        i = 1
        strings: list[_Word] = []
        stopped = False
        shell_flag = False
        exec_flag = False
        n = len(words)
        while i < n:
            w = words[i]
            v = w.value
            if not w.static:
                self.problem(f"the arguments of {base} are not static")
                self.emit(words, kind if kind != "wrapper" else "command", via, open_args)
                return
            if v == "--":
                i += 1
                break
            if v == "-" and base == "env":
                i += 1
                continue
            if spec.assignments and _ASSIGNMENT.match(v):
                var = v.split("=", 1)[0].split("[")[0].rstrip("+")
                if _dangerous_var(var):
                    self.problem(f"the command sets {var}, which changes what programs run")
                i += 1
                continue
            if v.startswith("--") and len(v) > 2:
                opt, eq, val = v.partition("=")
                if opt in spec.string_opts:
                    if eq:
                        strings.append(_Word.synthetic(val, w))
                        i += 1
                    elif i + 1 < n:
                        strings.append(words[i + 1])
                        i += 2
                    else:
                        i += 1
                    continue
                if opt in spec.arg_opts and not eq:
                    i += 2
                    continue
                stopped = stopped or opt in spec.stop_opts
                shell_flag = shell_flag or opt in spec.shell_opts
                exec_flag = exec_flag or opt in spec.exec_opts
                i += 1
                continue
            if v.startswith("-") and len(v) > 1:
                if spec.numeric and re.fullmatch(r"-\d+", v):
                    i += 1
                    continue
                consumed_next = False
                for j in range(1, len(v)):
                    opt = "-" + v[j]
                    if opt in spec.arg_opts or opt in spec.string_opts:
                        attached = v[j + 1 :]
                        if attached:
                            arg: _Word | None = _Word.synthetic(attached, w)
                        elif i + 1 < n:
                            arg = words[i + 1]
                            consumed_next = True
                        else:
                            arg = None
                        if opt in spec.string_opts and arg is not None:
                            strings.append(arg)
                        break
                    stopped = stopped or opt in spec.stop_opts
                    shell_flag = shell_flag or opt in spec.shell_opts
                    exec_flag = exec_flag or opt in spec.exec_opts
                i += 2 if consumed_next else 1
                continue
            break
        for s in strings:
            if not s.static:
                self.problem("the command runs a string that is not static")
            else:
                self.nested(s.value, inner_via, None)
        if strings and base == "env":
            self.problem("the command uses env -S")
        if stopped:
            self.emit(words, "command", via, open_args)
            return
        i += spec.positional
        if i < n and words[i].static and words[i].value in spec.string_opts:
            # "flock FILE -c STRING"
            if i + 1 < n:
                strings.append(words[i + 1])
            i = n
            for s in strings[-1:]:
                if s.static:
                    self.nested(s.value, inner_via, None)
                else:
                    self.problem("the command runs a string that is not static")
        if i >= n:
            if strings:
                self.emit(words, kind, via, open_args)
                return
            if shell_flag or spec.no_command_shell:
                self.problem(f"{base} opens an interactive shell")
            # nothing to unwrap: the wrapper is the effective command
            self.emit(words, kind if kind == "privilege" else "command", via, open_args)
            return
        self.emit(words, kind, via, open_args)
        rest = words[i:]
        if spec.join_string and not exec_flag:
            self.script_from(rest, inner_via, None)
            return
        self.unwrap(list(rest), inner_via, open_args or spec.open_args, level + 1)

    def shell(
        self,
        words: list[_Word],
        via: tuple[str, ...],
        open_args: bool,
        level: int,
        trusted: bool,
    ) -> None:
        base = posixpath.basename(words[0].value)
        i, n = 1, len(words)
        has_c = False
        stdin = False
        while i < n:
            w = words[i]
            if not w.static:
                self.problem(f"the arguments of {base} are not static")
                self.emit(words, "command", via, open_args)
                return
            v = w.value
            if v in ("--", "-"):
                i += 1
                break
            if v in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
                i += 2
                continue
            if v.startswith("--"):
                i += 1
                continue
            if len(v) > 1 and v[0] in "-+":
                if v[0] == "-" and "c" in v[1:]:
                    has_c = True
                if "s" in v[1:] or "i" in v[1:]:
                    stdin = True
                i += 1
                continue
            break
        if has_c:
            if i >= n:
                self.problem(f"{base} -c has no command string")
                self.emit(words, "command", via, open_args)
                return
            self.emit(words, "wrapper" if trusted else "command", via, open_args)
            script = words[i]
            if not script.static:
                self.problem("the command runs a string that is not static")
                return
            why = "the command runs fish, parsed as bash" if base == "fish" else None
            self.nested(script.value, (*via, base), why)
            return
        if stdin or i >= n:
            self.problem(f"{base} reads commands from standard input")
        self.emit(words, "command", via, open_args)

    def su(self, words: list[_Word], via: tuple[str, ...], open_args: bool, level: int) -> None:
        base = posixpath.basename(words[0].value)
        i, n = 1, len(words)
        scripts: list[_Word] = []
        user_mode = False
        while i < n:
            w = words[i]
            v = w.value
            if not w.static:
                self.problem(f"the arguments of {base} are not static")
                self.emit(words, "privilege", via, open_args)
                return
            if v in ("-c", "--command"):
                if i + 1 < n:
                    scripts.append(words[i + 1])
                i += 2
                continue
            if v.startswith("--command="):
                scripts.append(_Word.synthetic(v.split("=", 1)[1], w))
                i += 1
                continue
            if v in ("-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w"):
                i += 2
                continue
            if v in ("-u", "--user") and base == "runuser":
                user_mode = True
                i += 2
                continue
            if v == "--":
                i += 1
                if user_mode:
                    break
                continue
            if v.startswith("-") and (len(v) > 1 or v == "-"):
                i += 1
                continue
            if user_mode:
                break
            i += 1  # the user name, or arguments passed to the shell
        self.emit(words, "privilege", via, open_args)
        if scripts:
            for s in scripts:
                if s.static:
                    self.nested(s.value, (*via, base), None)
                else:
                    self.problem("the command runs a string that is not static")
        elif user_mode and i < n:
            self.unwrap(list(words[i:]), (*via, base), open_args, level + 1)
        else:
            self.problem(f"{base} opens an interactive shell")

    def find(self, words: list[_Word], via: tuple[str, ...], open_args: bool, level: int) -> None:
        self.emit(words, "command", via, open_args)
        i, n = 1, len(words)
        while i < n:
            if words[i].static and words[i].value in _FIND_EXEC:
                j = i + 1
                while j < n and not (
                    words[j].static
                    and (
                        words[j].value == ";"
                        or (words[j].value == "+" and words[j - 1].value == "{}")
                    )
                ):
                    j += 1
                if j >= n:
                    self.problem("find -exec has no terminating ';' or '+'")
                plus = j < n and words[j].value == "+"
                self.unwrap(list(words[i + 1 : j]), (*via, "find"), plus, level + 1)
                i = j + 1
            else:
                i += 1

    def fd(self, words: list[_Word], via: tuple[str, ...], open_args: bool, level: int) -> None:
        self.emit(words, "command", via, open_args)
        for i, w in enumerate(words[1:], start=1):
            if w.static and w.value in _FD_EXEC:
                rest = words[i + 1 :]
                end = next((k for k, x in enumerate(rest) if x.value == ";"), len(rest))
                batch = w.value in ("-X", "--exec-batch")
                self.unwrap(list(rest[:end]), (*via, "fd"), True if batch else open_args, level + 1)
                return


def _adjacent_groups(nodes: Sequence[tree_sitter.Node]) -> list[list[tree_sitter.Node]]:
    """Group nodes with no space between them: bash reads them as one word."""
    groups: list[list[tree_sitter.Node]] = []
    for node in nodes:
        if groups and groups[-1][-1].end_byte == node.start_byte:
            groups[-1].append(node)
        else:
            groups.append([node])
    return groups


def _has_missing(root: tree_sitter.Node) -> bool:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            return True
        stack.extend(node.children)
    return False


def _crude_words(chunk: str) -> list[str]:
    out = []
    for tok in re.findall(r"""(?:[^\s'"\\]|\\.|'[^']*'?|"(?:[^"\\]|\\.)*"?)+""", chunk):
        word = re.sub(r"""\\(.)|'([^']*)'?|"((?:[^"\\]|\\.)*)"?""", _crude_unquote, tok)
        budget = [_MAX_BRACE_WORDS]
        for chars in _brace_expand([(c, True) for c in word], budget):
            out.append("".join(c for c, _ in chars))
    return out


def _crude_unquote(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return m.group(1)
    if m.group(2) is not None:
        return m.group(2)
    return re.sub(r"\\(.)", r"\1", m.group(3) or "")


def _expand_tilde(value: str) -> str:
    if value == "~" or value.startswith("~/"):
        return os.path.expanduser("~") + value[1:]
    return value


def _suspicious_characters(command: str) -> str | None:
    if "\\\n" in command:
        return "the command has a line continuation"
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", command):
        return "the command has control characters"
    return None


def _merge_variants(a: _Walker, b: _Walker) -> None:
    """Add to ``a`` what ``b`` saw and ``a`` did not (same command, different reading)."""
    seen = {(c.argv, c.kind) for c in a.simple}
    differs = False
    for c in b.simple:
        if (c.argv, c.kind) not in seen:
            a.simple.append(c)
            differs = True
    a.words.extend(b.words)
    a.writes.extend(w for w in b.writes if w not in a.writes)
    for p in b.problems:
        a.problem(p)
    if differs:
        a.problem("bash and the parser may read the line continuation differently")


@functools.lru_cache(maxsize=512)
def parse_command(command: str) -> ShellCommand:
    """Parse a bash command line into the simple commands it runs (see the module doc)."""
    if len(command) > _MAX_COMMAND_CHARS:
        walker = _Walker("", 0)
        walker.problem("the command is too long to check")
        walker.fallback(command)
    else:
        walker = _Walker(command, 0)
        walker.run()
        odd = _suspicious_characters(command)
        if odd:
            walker.problem(odd)
            if "\\\n" in command:
                joined = _Walker(command.replace("\\\n", ""), 0)
                joined.run()
                _merge_variants(walker, joined)
    if walker.has_cd and walker.relative_writes:
        walker.problem("the command changes directory and then writes through a relative path")
    return ShellCommand(
        source=command,
        simple=tuple(walker.simple),
        certain=not walker.problems,
        problems=tuple(walker.problems),
        words=tuple(dict.fromkeys(walker.words)),
        writes=tuple(dict.fromkeys(walker.writes)),
    )


@functools.lru_cache(maxsize=512)
def split_words(text: str) -> tuple[str, ...] | None:
    """The words of one simple command, quotes removed, without unwrapping wrappers.

    Used for the words of a rule (``Bash(npm run test:*)`` -> ``("npm", "run", "test")``).
    The first word is normalised with :func:`command_name`. None when ``text`` is not one
    simple command.
    """
    walker = _Walker(text, 0)
    tree = _parser().parse(walker.src)
    root = tree.root_node
    if root.has_error or _has_missing(root):
        return None
    nodes = [c for c in root.named_children if c.type != "comment"]
    if len(nodes) != 1 or nodes[0].type != "command":
        return None
    words: list[str] = []
    for child in nodes[0].children:
        if child.type == "command_name":
            inner = child.named_children
            target = inner[0] if len(inner) == 1 else child
            words.extend(w.value for w in walker.eval_word(target))
        elif child.type in _WORD_TYPES:
            words.extend(w.value for w in walker.eval_word(child))
        elif child.is_named:
            return None
    if not words:
        return None
    words[0] = command_name(words[0])
    return tuple(words)
