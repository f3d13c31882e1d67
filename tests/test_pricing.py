"""Prices per LLM call: genai-prices' bundled data, user overrides, unknown = None (quirk 9)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from genai_prices import Usage, calc_price

from a3s_notebook.llm import pricing
from a3s_notebook.llm.pricing import ModelPrice, clear_prices, get_price, price_call, set_price


@pytest.fixture(autouse=True)
def _no_overrides() -> Iterator[None]:
    clear_prices()
    yield
    clear_prices()


def genai_total(
    model: str,
    provider: str | None,
    inp: int,
    out: int,
    cache_read: int = 0,
    cache_write: int = 0,
    when: datetime | None = None,
) -> float:
    usage = Usage(
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    calc = calc_price(usage, model, provider_id=provider, genai_request_timestamp=when)
    return float(calc.total_price)


USAGES = [
    # (input incl. cached, output, cache read, cache write)
    (1_000, 100, 0, 0),
    (1_000, 100, 200, 0),
    (1_000, 100, 200, 100),
    (12_345, 6_789, 10_000, 2_000),
    (0, 0, 0, 0),
    (300_000, 1_000, 50_000, 20_000),  # above the 200k tier of long-context models
]


# --- genai-prices ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o-mini", "openai"),
        ("gpt-4o", "openai"),
        ("claude-sonnet-4-20250514", "anthropic"),
        ("claude-3-5-haiku-20241022", "anthropic"),
        ("claude-sonnet-4-5", "anthropic"),  # tiered prices
        ("deepseek-chat", "deepseek"),
    ],
)
@pytest.mark.parametrize(("inp", "out", "cache_read", "cache_write"), USAGES)
def test_price_equals_genai_calc_price(
    model: str, provider: str, inp: int, out: int, cache_read: int, cache_write: int
) -> None:
    when = datetime(2026, 3, 1, 12, tzinfo=UTC)
    got = price_call(
        model,
        provider,
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        timestamp=when,
    )
    assert got == genai_total(model, provider, inp, out, cache_read, cache_write, when)
    assert isinstance(got, float)


def test_input_tokens_include_cached_ones() -> None:
    # genai-prices' convention (and ours): input_tokens is the total, cached parts included,
    # so cache reads are charged at the cache rate *instead of* the input rate.
    rates = get_price("gpt-4o-mini", "openai")
    assert rates is not None and rates.source == "genai-prices"
    assert rates.cache_read_per_mtok is not None
    assert rates.cache_read_per_mtok < rates.input_per_mtok
    got = price_call(
        "gpt-4o-mini", "openai", input_tokens=1_000, output_tokens=100, cache_read_tokens=400
    )
    expected = (
        600 * rates.input_per_mtok + 400 * rates.cache_read_per_mtok + 100 * rates.output_per_mtok
    ) / 1e6
    assert got == pytest.approx(expected, rel=1e-12)
    uncached = price_call("gpt-4o-mini", "openai", input_tokens=1_000, output_tokens=100)
    assert got is not None and uncached is not None and got < uncached


def test_anthropic_cache_reads_and_writes_are_priced() -> None:
    rates = get_price("claude-sonnet-4-20250514", "anthropic")
    assert rates is not None
    assert rates.cache_read_per_mtok is not None and rates.cache_write_per_mtok is not None
    got = price_call(
        "claude-sonnet-4-20250514",
        "anthropic",
        input_tokens=10_000,
        output_tokens=500,
        cache_read_tokens=6_000,
        cache_write_tokens=3_000,
    )
    expected = (
        1_000 * rates.input_per_mtok
        + 6_000 * rates.cache_read_per_mtok
        + 3_000 * rates.cache_write_per_mtok
        + 500 * rates.output_per_mtok
    ) / 1e6
    assert got == pytest.approx(expected, rel=1e-12)


def test_cache_writes_without_a_cache_write_rate_are_charged_as_input() -> None:
    # OpenAI has no cache-write price: those tokens stay ordinary input (as in genai-prices).
    assert get_price("gpt-4o", "openai").cache_write_per_mtok is None  # type: ignore[union-attr]
    with_writes = price_call(
        "gpt-4o", "openai", input_tokens=1_000, output_tokens=0, cache_write_tokens=500
    )
    assert with_writes == price_call("gpt-4o", "openai", input_tokens=1_000, output_tokens=0)


def test_tiered_prices_switch_on_total_input() -> None:
    below = price_call("claude-sonnet-4-5", "anthropic", input_tokens=200_000, output_tokens=0)
    above = price_call("claude-sonnet-4-5", "anthropic", input_tokens=200_001, output_tokens=0)
    assert below is not None and above is not None
    assert above / 200_001 > below / 200_000  # a higher rate for every token above the tier
    assert above == genai_total("claude-sonnet-4-5", "anthropic", 200_001, 0)


@pytest.mark.parametrize(
    ("model", "provider"),
    [("claude-sonnet-4-6", "anthropic"), ("deepseek-chat", "deepseek")],
)
@pytest.mark.parametrize(
    "when",
    [
        datetime(2025, 1, 1, 3, 0, tzinfo=UTC),
        datetime(2026, 6, 1, 3, 0, tzinfo=UTC),
        datetime(2026, 6, 1, 20, 0, tzinfo=UTC),
        datetime(2026, 6, 1, 20, 0),  # naive: UTC
    ],
)
def test_dated_and_time_of_day_prices_follow_the_timestamp(
    model: str, provider: str, when: datetime
) -> None:
    got = price_call(
        model,
        provider,
        input_tokens=5_000,
        output_tokens=700,
        cache_read_tokens=1_000,
        timestamp=when,
    )
    assert got == genai_total(model, provider, 5_000, 700, 1_000, 0, when)


def test_fast_path_matches_calc_price_for_every_bundled_model() -> None:
    # price_call does the arithmetic itself (calc_price is ~100x slower); check it against
    # genai-prices for every model and provider in the bundled data, tiers included.
    from genai_prices.data import providers

    when = datetime(2026, 3, 1, tzinfo=UTC)
    checked = 0
    for provider in providers:
        for model in provider.models:
            plan = pricing._plan_for(model.get_prices(when))
            assert plan is not None, f"{provider.id}/{model.id} would take the slow path"
            for inp, out, cache_read, cache_write in USAGES:
                usage = Usage(
                    input_tokens=inp,
                    output_tokens=out,
                    cache_read_tokens=cache_read,
                    cache_write_tokens=cache_write,
                )
                expected = model.calc_price(usage, provider, genai_request_timestamp=when)
                got = pricing._plan_cost(plan, inp, out, cache_read, cache_write)
                assert got == float(expected.total_price), (provider.id, model.id, inp)
                checked += 1
    assert checked > 1_000


def test_unknown_model_is_none_not_zero() -> None:
    assert price_call("no-such-model-xyz", "openai", input_tokens=100, output_tokens=10) is None
    assert price_call("no-such-model-xyz", "", input_tokens=100, output_tokens=10) is None
    assert price_call("", "openai", input_tokens=100, output_tokens=10) is None
    assert get_price("no-such-model-xyz") is None


@pytest.mark.parametrize("provider", ["scripted", "ollama", "vllm", "lmstudio", "Ollama"])
def test_scripted_and_local_providers_are_none(provider: str) -> None:
    # Even under a hosted model's name: a local gpt-oss or a scripted "gpt-4o" costs unknown.
    assert price_call("gpt-4o", provider, input_tokens=100, output_tokens=10) is None
    assert get_price("gpt-4o", provider) is None


def test_provider_falls_back_to_model_name() -> None:
    # An unknown provider id (a proxy, a custom endpoint) still finds the model by name.
    openai = price_call("gpt-4o", "openai", input_tokens=1_000, output_tokens=10)
    assert price_call("gpt-4o", "my-proxy", input_tokens=1_000, output_tokens=10) == openai
    # Provider aliases of the model-string syntax, and a provider/model prefix.
    claude = price_call("claude-3-haiku-20240307", "anthropic", input_tokens=1, output_tokens=1)
    assert (
        price_call("claude-3-haiku-20240307", "claude", input_tokens=1, output_tokens=1) == claude
    )
    assert price_call("openai/gpt-4o", "openai", input_tokens=1_000, output_tokens=10) == openai
    assert price_call("GPT-4o", "OpenAI", input_tokens=1_000, output_tokens=10) == openai


def test_lookups_are_cached() -> None:
    price_call("gpt-4o", "openai", input_tokens=1, output_tokens=1)
    before = pricing._resolve.cache_info()
    for i in range(20_000):
        price_call("gpt-4o", "openai", input_tokens=1_000 + i, output_tokens=50)
    after = pricing._resolve.cache_info()
    # every lookup after the first is a cache hit: the model is resolved once, not per call
    assert after.misses == before.misses
    assert after.hits - before.hits == 20_000


def test_get_price_from_genai_prices() -> None:
    price = get_price("gpt-4o", "openai")
    assert isinstance(price, ModelPrice)
    assert price.source == "genai-prices"
    assert price.input_per_mtok > 0 and price.output_per_mtok > price.input_per_mtok
    assert get_price("gpt-4o") == price  # by model name alone


# --- overrides ---------------------------------------------------------------------------


def test_override_prices_a_new_model() -> None:
    assert price_call("my-finetune", "openai", input_tokens=1_000, output_tokens=500) is None
    set_price("my-finetune", input_per_mtok=2.0, output_per_mtok=8.0)
    got = price_call("my-finetune", "openai", input_tokens=1_000, output_tokens=500)
    assert got == pytest.approx((1_000 * 2.0 + 500 * 8.0) / 1e6)
    assert get_price("my-finetune") == ModelPrice(
        input_per_mtok=2.0, output_per_mtok=8.0, source="override"
    )


def test_override_beats_genai_prices_and_clear_restores_it() -> None:
    original = price_call("gpt-4o", "openai", input_tokens=1_000_000, output_tokens=0)
    set_price("gpt-4o", input_per_mtok=1.0, output_per_mtok=2.0)
    assert price_call("gpt-4o", "openai", input_tokens=1_000_000, output_tokens=0) == 1.0
    assert get_price("gpt-4o", "openai").source == "override"  # type: ignore[union-attr]
    clear_prices()
    assert price_call("gpt-4o", "openai", input_tokens=1_000_000, output_tokens=0) == original
    assert get_price("gpt-4o", "openai").source == "genai-prices"  # type: ignore[union-attr]


def test_provider_specific_override() -> None:
    set_price("gpt-4o", provider="azure", input_per_mtok=1.0, output_per_mtok=1.0)
    set_price("gpt-4o", input_per_mtok=3.0, output_per_mtok=3.0)
    assert price_call("gpt-4o", "azure", input_tokens=1_000_000, output_tokens=0) == 1.0
    assert price_call("gpt-4o", "openai", input_tokens=1_000_000, output_tokens=0) == 3.0
    assert get_price("gpt-4o", "azure").input_per_mtok == 1.0  # type: ignore[union-attr]
    assert get_price("gpt-4o").input_per_mtok == 3.0  # type: ignore[union-attr]


def test_provider_specific_override_leaves_other_providers_alone() -> None:
    genai = price_call("gpt-4o", "openai", input_tokens=1_000, output_tokens=0)
    set_price("gpt-4o", provider="Azure", input_per_mtok=1.0, output_per_mtok=1.0)
    assert price_call("gpt-4o", "openai", input_tokens=1_000, output_tokens=0) == genai
    assert price_call("GPT-4o", "azure", input_tokens=1_000_000, output_tokens=0) == 1.0


def test_override_prices_a_local_model() -> None:
    set_price("llama3.1:8b", provider="ollama", input_per_mtok=0.01, output_per_mtok=0.02)
    got = price_call("llama3.1:8b", "ollama", input_tokens=1_000_000, output_tokens=1_000_000)
    assert got == pytest.approx(0.03)
    assert price_call("llama3.1:8b", "scripted", input_tokens=1, output_tokens=1) is None


def test_override_cache_rates_default_to_input() -> None:
    set_price("m", input_per_mtok=4.0, output_per_mtok=0.0)
    cached = price_call(
        "m", "x", input_tokens=1_000, output_tokens=0, cache_read_tokens=300, cache_write_tokens=200
    )
    assert cached == pytest.approx(1_000 * 4.0 / 1e6)
    set_price(
        "m",
        input_per_mtok=4.0,
        output_per_mtok=0.0,
        cache_read_per_mtok=0.4,
        cache_write_per_mtok=5.0,
    )
    cached = price_call(
        "m", "x", input_tokens=1_000, output_tokens=0, cache_read_tokens=300, cache_write_tokens=200
    )
    assert cached == pytest.approx((500 * 4.0 + 300 * 0.4 + 200 * 5.0) / 1e6)


def test_zero_price_override_is_a_known_zero() -> None:
    set_price("free-model", input_per_mtok=0, output_per_mtok=0)
    assert price_call("free-model", "x", input_tokens=10, output_tokens=10) == 0.0


# --- validation --------------------------------------------------------------------------


def test_negative_price_names_the_field() -> None:
    with pytest.raises(
        ValueError, match=r"^input_per_mtok must be >= 0 \(USD per million tokens\), got -1$"
    ):
        set_price("m", input_per_mtok=-1, output_per_mtok=1)
    with pytest.raises(ValueError, match="cache_read_per_mtok must be >= 0"):
        set_price("m", input_per_mtok=1, output_per_mtok=1, cache_read_per_mtok=-0.5)
    with pytest.raises(ValueError, match="output_per_mtok must be a finite number"):
        set_price("m", input_per_mtok=1, output_per_mtok=float("nan"))
    with pytest.raises(TypeError, match="output_per_mtok must be a number"):
        set_price("m", input_per_mtok=1, output_per_mtok="0.6")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model must be a non-empty model name"):
        set_price(" ", input_per_mtok=1, output_per_mtok=1)
    with pytest.raises(ValueError, match="provider must be a provider name"):
        set_price("m", provider="", input_per_mtok=1, output_per_mtok=1)
    assert get_price("m") is None  # nothing half-set


def test_bad_token_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"^output_tokens must be >= 0 \(a token count\), got -5$"):
        price_call("gpt-4o", "openai", input_tokens=10, output_tokens=-5)
    with pytest.raises(TypeError, match="input_tokens must be an int"):
        price_call("gpt-4o", "openai", input_tokens=1.5, output_tokens=0)  # type: ignore[arg-type]
    # The Anthropic trap: its input_tokens excludes cached tokens; ours must include them.
    with pytest.raises(ValueError, match="cannot exceed input_tokens") as info:
        price_call(
            "claude-sonnet-4-20250514",
            "anthropic",
            input_tokens=10,
            output_tokens=5,
            cache_read_tokens=1_000,
        )
    assert "including cached" in str(info.value)


def test_pricing_imports_neither_pandas_nor_genai_prices_eagerly() -> None:
    code = (
        "import sys, a3s_notebook.llm.pricing\n"
        "assert 'pandas' not in sys.modules, 'pandas'\n"
        "assert 'genai_prices' not in sys.modules, 'genai_prices'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
