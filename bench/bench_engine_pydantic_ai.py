"""Baseline of benchmark 3: pydantic-ai's FunctionModel driving N rounds of one tool call.

Runs in the baseline venv (``bench/.venv-baseline``), started by ``bench_engine.py``,
and prints ``{"estimate": {rounds: ms per round}, "constant": {...}}`` as its marked
line. The model function returns one ``ToolCallPart`` per request until N rounds are
done, then text; the tool is trivial, as on our side. Two variants, matching ours:

* ``estimate``: FunctionModel as shipped, which estimates each request's tokens from the
  whole history (as our ScriptedClient does);
* ``constant``: the function reports its usage, so FunctionModel estimates nothing: the
  framework alone (as our constant-cost stub).

The function is ``async``: a plain ``def`` would be run in a thread pool on every call,
a cost that is not the framework's. ``function=`` (not ``stream_function=``) is the
baseline's cheapest path, while our models stream.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from _common import MARKER, parse_args
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage, UsageLimits


async def one_run(rounds: int, *, constant: bool) -> float:
    """Seconds for one ``agent.run`` of ``rounds`` tool rounds plus the final answer."""
    calls = 0

    async def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal calls
        calls += 1
        # an empty usage makes FunctionModel estimate one from the history
        usage = RequestUsage(input_tokens=100, output_tokens=10) if constant else RequestUsage()
        if calls <= rounds:
            return ModelResponse(parts=[ToolCallPart("ping", {"i": calls})], usage=usage)
        return ModelResponse(parts=[TextPart("done")], usage=usage)

    agent = Agent(FunctionModel(model))

    @agent.tool_plain
    def ping(i: int) -> str:
        """Return pong."""
        return "pong"

    start = time.perf_counter()
    # request_limit=None: the default limit of 50 requests would stop the run
    result = await agent.run("go", usage_limits=UsageLimits(request_limit=None))
    elapsed = time.perf_counter() - start
    if result.output != "done" or calls != rounds + 1:
        raise RuntimeError(f"pydantic-ai run ended early: {calls} calls, {result.output!r}")
    return elapsed


def ms_per_round(rounds: int, *, constant: bool) -> float:
    """Best of a few runs for the small sizes, one run for the large ones."""
    repeat = 3 if rounds < 300 else 1
    best = min(asyncio.run(one_run(rounds, constant=constant)) for _ in range(repeat))
    return best * 1000 / rounds


def main() -> None:
    """Measure both variants at each size."""
    args = parse_args(__doc__ or "")
    sizes = (20, 50, 100) if args.quick else (100, 300, 1000)
    out: dict[str, dict[int, float]] = {}
    for variant in ("estimate", "constant"):
        constant = variant == "constant"
        ms_per_round(20, constant=constant)  # warm-up: imports, schemas, first-call caches
        out[variant] = {n: ms_per_round(n, constant=constant) for n in sizes}
    sys.stdout.write(MARKER + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
