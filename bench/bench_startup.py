"""Benchmark 5: start-up cost, each figure in a fresh process.

* ``import a3s_notebook``;
* ``%load_ext a3s_notebook`` in a new IPython ``InteractiveShell``, against
  ``%load_ext jupyter_ai_magics`` in the baseline venv (same IPython version).

Every case runs in a new interpreter several times; the median is reported. Two ways of
looking at each: the time the import or ``%load_ext`` itself takes, measured inside the
child (the extension's cost, what a user waits for in a running kernel); and the wall
time of the whole process seen from outside, beside the wall time of the same process
without the import (bare interpreter, or interpreter plus IPython shell), whose
difference is the same cost measured the other way.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _common import MARKER, Row, emit, parse_args, row

BENCH = "5 start-up"
TARGET_S = 0.15
TARGET_RATIO = 3.0
""""Several times faster" than the baseline: at least this."""

_BARE = "pass"
_IMPORT = f"""
import time
t = time.perf_counter()
import a3s_notebook
print({MARKER!r} + repr(time.perf_counter() - t))
"""
_SHELL = f"""
import time
t = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
print({MARKER!r} + repr(time.perf_counter() - t))
"""
# the extension is loaded into a shell that already exists, as in a running kernel;
# the magic it must have registered is checked, so a failed load cannot look fast
_LOAD_EXT = """
import time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t = time.perf_counter()
shell.run_line_magic("load_ext", {ext!r})
elapsed = time.perf_counter() - t
magics = shell.magics_manager.magics["cell"]
assert {magic!r} in magics, "the extension did not register %%{magic}"
print({marker!r} + repr(elapsed))
"""


def run_child(python: str, code: str) -> tuple[float, float | None]:
    """Wall seconds of a fresh ``python -c code`` and the time it printed, if any."""
    start = time.perf_counter()
    proc = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{python} -c ... exited {proc.returncode}: {tail}")
    inner = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            inner = float(line[len(MARKER) :])
    return wall, inner


def medians(python: str, code: str, repeat: int) -> tuple[float, float | None]:
    """Median wall and median inner time over ``repeat`` fresh processes."""
    run_child(python, code)  # warm the OS page cache, as a second start in a session is
    results = [run_child(python, code) for _ in range(repeat)]
    walls = [w for w, _ in results]
    inners = [i for _, i in results if i is not None]
    return statistics.median(walls), statistics.median(inners) if inners else None


def load_ext_code(ext: str, magic: str) -> str:
    """The child code that times ``%load_ext ext``."""
    return _LOAD_EXT.format(ext=ext, magic=magic, marker=MARKER)


def main() -> None:
    """Measure and print the rows."""
    args = parse_args(__doc__ or "")
    repeat = 3 if args.quick else 7
    ours = sys.executable
    bare_wall, _ = medians(ours, _BARE, repeat)
    import_wall, import_inner = medians(ours, _IMPORT, repeat)
    shell_wall, shell_inner = medians(ours, _SHELL, repeat)
    ext_wall, ext_inner = medians(ours, load_ext_code("a3s_notebook", "ask"), repeat)
    assert import_inner is not None and ext_inner is not None

    base_ext: float | None = None
    base_wall: float | None = None
    base_shell_wall: float | None = None
    why = ""
    if args.baseline_python:
        try:
            base_shell_wall, _ = medians(args.baseline_python, _SHELL, max(3, repeat - 2))
            base_wall, base_ext = medians(
                args.baseline_python, load_ext_code("jupyter_ai_magics", "ai"), max(3, repeat - 2)
            )
        except Exception as exc:  # our figures still print, with the reason
            why = f"baseline failed: {exc}"
    else:
        why = "no baseline venv (make bench creates bench/.venv-baseline)"

    ratio = base_ext / ext_inner if base_ext is not None else None
    rows: list[Row] = [
        row(
            BENCH,
            "import a3s_notebook (inside a fresh process)",
            import_inner,
            "s",
            target=f"< {TARGET_S:g} s",
            met=import_inner < TARGET_S,
            note=(
                f"process wall {import_wall:.3f} s vs bare interpreter {bare_wall:.3f} s "
                f"(difference {import_wall - bare_wall:.3f} s)"
            ),
        ),
        row(
            BENCH,
            "%load_ext a3s_notebook vs %load_ext jupyter_ai_magics (inside a fresh shell)",
            ext_inner,
            "s",
            baseline=base_ext,
            ratio=ratio,
            target=f"< {TARGET_S:g} s and >= {TARGET_RATIO:g}x faster",
            # without the baseline only the absolute half of the target can be judged
            met=ext_inner < TARGET_S and (ratio is None or ratio >= TARGET_RATIO),
            note=why or "includes importing the package and its magics",
        ),
        row(
            BENCH,
            "process wall: python + IPython shell + %load_ext (raw)",
            ext_wall,
            "s",
            baseline=base_wall,
            ratio=base_wall / ext_wall if base_wall is not None else None,
            note=(
                f"IPython shell alone: ours {shell_wall:.3f} s"
                + (f", baseline venv {base_shell_wall:.3f} s" if base_shell_wall else "")
                + f"; shell creation inside the process {shell_inner or 0:.3f} s"
            ),
        ),
        row(
            BENCH,
            "extension cost from process walls (with %load_ext minus shell alone)",
            ext_wall - shell_wall,
            "s",
            baseline=(base_wall - base_shell_wall)
            if base_wall is not None and base_shell_wall is not None
            else None,
            ratio=((base_wall - base_shell_wall) / (ext_wall - shell_wall))
            if base_wall is not None and base_shell_wall is not None and ext_wall > shell_wall
            else None,
            note="the same cost measured from outside: noisier, for cross-checking",
        ),
    ]
    emit(rows)


if __name__ == "__main__":
    sys.exit(main())
