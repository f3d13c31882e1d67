"""What an LLM call cost in USD: user overrides first, then genai-prices' bundled data.

A cost we do not know is ``None``, never 0: an unknown model, a local model (Ollama,
vLLM, llama.cpp, LM Studio) or the scripted provider all price as ``None`` unless the
user sets a price with :func:`set_price`.

Token convention (the same as genai-prices' ``Usage``): ``input_tokens`` counts *all*
input tokens, cached or not; ``cache_read_tokens`` and ``cache_write_tokens`` are the
parts of them that hit or filled a prompt cache. Uncached input is therefore
``input_tokens - cache_read_tokens - cache_write_tokens``. Anthropic reports its
``input_tokens`` *without* the cached parts, so its adapter must add them back first.
Cached tokens of a model without a cache rate of its own are charged as ordinary input.

Some prices depend on when the call was made (dated price changes, DeepSeek's off-peak
hours): :func:`price_call` takes a ``timestamp`` (default: now).

genai-prices is only ever used with the data bundled in the installed package; this
module never fetches newer prices. Its import is deferred to the first lookup because it
costs about 0.3 s.
"""

from __future__ import annotations

import functools
import math
import operator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from a3s_notebook._deferred import DEFER_BUILD

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, TieredPrices
    from genai_prices.types import ModelPrice as GenaiModelPrice

__all__ = [
    "ModelPrice",
    "clear_prices",
    "get_price",
    "known_context_window",
    "price_call",
    "set_price",
]

NO_PRICE_PROVIDERS = frozenset(
    {
        "scripted",
        "ollama",
        "vllm",
        "llamacpp",
        "llama.cpp",
        "llama-cpp",
        "llama_cpp",
        "lmstudio",
        "lm-studio",
        "lm_studio",
        "local",
    }
)
"""Providers that never get a genai-prices price: the scripted model and local servers.

A local model may share a name with a hosted one (``deepseek-r1``, ``gpt-oss-20b``); pricing
it at the hosted rate would be wrong, so it stays unknown unless the user sets a price.
"""

_PROVIDER_ALIASES = {
    # Names our model strings accept (spec section 10 factory) that genai-prices spells otherwise.
    "claude": "anthropic",
    "gpt": "openai",
    "grok": "x-ai",
    "xai": "x-ai",
    "kimi": "moonshotai",
    "zhipu": "zhipuai",
}

_MTOK = 1_000_000
_KCOUNT = 1_000
_ZERO = Decimal(0)


class ModelPrice(BaseModel):
    """Per-million-token USD rates for one model, and where they came from.

    ``cache_read_per_mtok`` / ``cache_write_per_mtok`` of ``None`` mean those tokens are
    charged as ordinary input. For genai-prices models with tiered prices (a higher rate
    above some prompt size) the rates shown are the base tier; :func:`price_call` applies
    the tiers.
    """

    model_config = ConfigDict(frozen=True, defer_build=DEFER_BUILD)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cache_read_per_mtok: float | None = Field(default=None, ge=0)
    cache_write_per_mtok: float | None = Field(default=None, ge=0)
    source: Literal["override", "genai-prices"]


# (model, provider or None) -> price; both keys normalised by _norm_model / _norm_provider.
_overrides: dict[tuple[str, str | None], ModelPrice] = {}


def _norm_model(model: str) -> str:
    return model.strip().lower()


def _norm_provider(provider: str | None) -> str:
    p = (provider or "").strip().lower()
    return _PROVIDER_ALIASES.get(p, p)


def _check_rate(name: str, value: float | None, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number (USD per million tokens, e.g. 0.15), got {value!r}"
        )
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name} must be a finite number (USD per million tokens), got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (USD per million tokens), got {value!r}")
    return float(value)


def _check_tokens(name: str, value: int) -> int:
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int token count, got {value!r}") from None
    if n < 0:
        raise ValueError(f"{name} must be >= 0 (a token count), got {n}")
    return n


def set_price(
    model: str,
    *,
    input_per_mtok: float,
    output_per_mtok: float,
    cache_read_per_mtok: float | None = None,
    cache_write_per_mtok: float | None = None,
    provider: str | None = None,
) -> None:
    """Set the price of a model, overriding genai-prices (a negotiated rate, or a new model).

    Rates are USD per million tokens. Cache reads and writes default to the input rate.
    ``provider=None`` applies to the model under any provider; a provider-specific price
    wins over it. Model and provider names are matched case-insensitively.

    Example::

        set_price("my-finetune", input_per_mtok=0.3, output_per_mtok=1.2)
        set_price("gpt-4o", provider="openai", input_per_mtok=2.0, output_per_mtok=8.0)
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model must be a non-empty model name, e.g. 'gpt-4o-mini', got {model!r}")
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        raise ValueError(
            f"provider must be a provider name such as 'openai', or None for any provider, "
            f"got {provider!r}"
        )
    price = ModelPrice(
        input_per_mtok=_check_rate("input_per_mtok", input_per_mtok),
        output_per_mtok=_check_rate("output_per_mtok", output_per_mtok),
        cache_read_per_mtok=_check_rate("cache_read_per_mtok", cache_read_per_mtok, optional=True),
        cache_write_per_mtok=_check_rate(
            "cache_write_per_mtok", cache_write_per_mtok, optional=True
        ),
        source="override",
    )
    _overrides[(_norm_model(model), _norm_provider(provider) if provider else None)] = price


def clear_prices() -> None:
    """Remove every price set with :func:`set_price` (genai-prices' prices apply again)."""
    _overrides.clear()
    # Also forget resolved genai-prices lookups, so that a user who swapped genai-prices'
    # data snapshot can get a clean slate from this one call.
    _resolve.cache_clear()
    _plans.clear()


def _find_override(model: str, provider: str | None) -> ModelPrice | None:
    key = _norm_model(model)
    if provider:
        specific = _overrides.get((key, _norm_provider(provider)))
        if specific is not None:
            return specific
    return _overrides.get((key, None))


# --- genai-prices ------------------------------------------------------------------------


class _Resolved(NamedTuple):
    model_ref: str
    provider_id: str | None
    info: ModelInfo


def _candidates(model: str, provider: str) -> list[tuple[str, str | None]]:
    names = [model]
    # Accept "openai/gpt-4o" with provider "openai" (the user-facing provider/model form).
    for sep in "/:":
        prefix = provider + sep
        if provider and model.lower().startswith(prefix) and len(model) > len(prefix):
            names.append(model[len(prefix) :])
    pid = _norm_provider(provider) or None
    with_provider = [(name, pid) for name in names] if pid else []
    return with_provider + [(name, None) for name in names]


@functools.lru_cache(maxsize=4096)
def _resolve(model: str, provider: str) -> _Resolved | None:
    """Find genai-prices' model for (model, provider): provider id first, then the name alone."""
    from genai_prices import Usage, calc_price

    for ref, pid in _candidates(model, provider):
        try:
            # calc_price is the public way to run genai-prices' matcher; a zero usage is free.
            calc = calc_price(Usage(input_tokens=0), ref, provider_id=pid)
        except (LookupError, ValueError):
            # LookupError: unknown provider or model. ValueError: genai-prices rejected its own
            # data for this model; either way we do not know the price.
            continue
        return _Resolved(ref, pid, calc.model)
    return None


class _Plan(NamedTuple):
    """The rates of one genai-prices ModelPrice that can be non-zero for token-only usage."""

    input: Decimal | TieredPrices | None
    output: Decimal | TieredPrices | None
    cache_read: Decimal | TieredPrices | None
    cache_write: Decimal | TieredPrices | None
    requests: Decimal | TieredPrices | None


_FAST_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "requests_kcount": "requests",
}


@functools.lru_cache(maxsize=1)
def _zero_keys() -> frozenset[str]:
    """Price keys whose count is always 0 when a usage reports only our four token counts.

    genai-prices prices a unit by its leaf count; a unit that is not one of ours or an
    ancestor of one (audio, images, 1h cache writes, web searches, ...) infers a count of 0.
    """
    try:
        from genai_prices.data_units import unit_data
    except ImportError:  # an older genai-prices without a unit registry: always slow path
        return frozenset()
    reported = [
        set(unit_data[k]["dimensions"].items())
        for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    ]
    zero: set[str] = set()
    for usage_key, unit in unit_data.items():
        if usage_key == "requests":
            continue
        dims = set(unit["dimensions"].items())
        if not any(dims <= r for r in reported):
            zero.add(unit["price_key"])
    return frozenset(zero)


# id(genai ModelPrice) -> (that ModelPrice, plan or None). The object is kept in the value so
# its id cannot be reused; None means "not a plain token price: ask calc_price itself".
_plans: dict[int, tuple[object, _Plan | None]] = {}


def _plan_for(price: GenaiModelPrice) -> _Plan | None:
    cached = _plans.get(id(price))
    if cached is not None and cached[0] is price:
        return cached[1]
    plan = _build_plan(price)
    _plans[id(price)] = (price, plan)
    return plan


def _build_plan(price: GenaiModelPrice) -> _Plan | None:
    from genai_prices.types import TieredPrices

    fields: dict[str, Any] = dict.fromkeys(_Plan._fields)
    zero = _zero_keys()
    for key, value in vars(price).items():
        if key.startswith("_") or value is None:
            continue
        if key in _FAST_KEYS:
            if not isinstance(value, (Decimal, TieredPrices)):
                return None
            fields[_FAST_KEYS[key]] = value
        elif key not in zero:
            return None
    return _Plan(**fields)


def _rate(price: Decimal | TieredPrices, total_input: int) -> Decimal:
    if isinstance(price, Decimal):
        return price
    # genai-prices' "cliff" tiers: crossing a threshold moves *all* tokens to that tier's rate,
    # and the tier is chosen by the total input tokens (cached ones included).
    for tier in reversed(price.tiers):
        if total_input > tier.start:
            return tier.price
    return price.base


def _plan_cost(plan: _Plan, inp: int, out: int, cache_read: int, cache_write: int) -> float:
    # Decimal arithmetic, term by term as genai-prices does, so results match calc_price exactly.
    total = _ZERO
    uncached = inp
    # Cache tokens without a cache rate of their own stay in (and are charged as) input.
    if plan.cache_read is not None:
        uncached -= cache_read
        if cache_read:
            total += _rate(plan.cache_read, inp) * cache_read / _MTOK
    if plan.cache_write is not None:
        uncached -= cache_write
        if cache_write:
            total += _rate(plan.cache_write, inp) * cache_write / _MTOK
    if plan.input is not None and uncached:
        total += _rate(plan.input, inp) * uncached / _MTOK
    if plan.output is not None and out:
        total += _rate(plan.output, inp) * out / _MTOK
    if plan.requests is not None:
        total += _rate(plan.requests, inp) / _KCOUNT
    return float(total)


def _genai_price_at(resolved: _Resolved, when: datetime | None) -> GenaiModelPrice:
    prices = resolved.info.prices
    if not isinstance(prices, list):
        return prices
    # Dated price changes: pick the price in force when the call was made.
    return resolved.info.get_prices(when or datetime.now(UTC))


def _genai_cost(
    resolved: _Resolved,
    when: datetime | None,
    inp: int,
    out: int,
    cache_read: int,
    cache_write: int,
) -> float | None:
    plan = _plan_for(_genai_price_at(resolved, when))
    if plan is not None:
        return _plan_cost(plan, inp, out, cache_read, cache_write)
    # Prices with units we do not model (rare): let genai-prices do it, about 100x slower.
    from genai_prices import Usage, calc_price

    usage = Usage(
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    try:
        calc = calc_price(
            usage,
            resolved.model_ref,
            provider_id=resolved.provider_id,
            genai_request_timestamp=when,
        )
    except (LookupError, ValueError):
        return None
    return float(calc.total_price)


# --- public ------------------------------------------------------------------------------


def price_call(
    model: str,
    provider: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    timestamp: datetime | None = None,
) -> float | None:
    """The USD cost of one LLM call, or ``None`` when no price is known (never 0 for unknown).

    ``input_tokens`` counts all input tokens including the cached ones; cache reads and
    writes are charged at the model's cache rates (input rate when it has none).
    ``timestamp`` (default: now) selects the price in force at that time, for models whose
    price changed. Lookup order: a provider-specific :func:`set_price` override, an
    any-provider override, then genai-prices with the provider id, then with the model
    name alone. The scripted provider and local servers (``NO_PRICE_PROVIDERS``) only
    get a price from an override.

    Raises:
        ValueError: a negative token count, or cache tokens exceeding ``input_tokens``.
    """
    inp = _check_tokens("input_tokens", input_tokens)
    out = _check_tokens("output_tokens", output_tokens)
    cr = _check_tokens("cache_read_tokens", cache_read_tokens)
    cw = _check_tokens("cache_write_tokens", cache_write_tokens)
    if cr + cw > inp:
        raise ValueError(
            f"cache_read_tokens + cache_write_tokens ({cr} + {cw}) cannot exceed input_tokens "
            f"({inp}): input_tokens must count all input tokens including cached ones "
            "(for Anthropic, add cache_read_input_tokens and cache_creation_input_tokens "
            "to input_tokens)"
        )

    override = _find_override(model, provider) if _overrides else None
    if override is not None:
        cr_rate = override.cache_read_per_mtok
        cw_rate = override.cache_write_per_mtok
        in_rate = override.input_per_mtok
        cost = (
            (inp - cr - cw) * in_rate
            + cr * (in_rate if cr_rate is None else cr_rate)
            + cw * (in_rate if cw_rate is None else cw_rate)
            + out * override.output_per_mtok
        )
        return cost / _MTOK

    prov = (provider or "").strip().lower()
    if prov in NO_PRICE_PROVIDERS or not model or not model.strip():
        return None
    resolved = _resolve(model.strip(), prov)
    if resolved is None:
        return None
    return _genai_cost(resolved, timestamp, inp, out, cr, cw)


def get_price(model: str, provider: str | None = None) -> ModelPrice | None:
    """The rates :func:`price_call` would use for ``model`` now, or ``None`` if unknown.

    ``provider=None`` looks at any-provider overrides and at genai-prices by model name
    alone; pass the provider to see a provider-specific override or genai-prices' price
    for that provider.
    """
    override = _find_override(model, provider)
    if override is not None:
        return override
    prov = (provider or "").strip().lower()
    if prov in NO_PRICE_PROVIDERS or not model or not model.strip():
        return None
    resolved = _resolve(model.strip(), prov)
    if resolved is None:
        return None
    price = _genai_price_at(resolved, None)

    def base(key: str) -> float | None:
        value = getattr(price, key, None)
        if value is None:
            return None
        return float(value if isinstance(value, Decimal) else value.base)

    return ModelPrice(
        input_per_mtok=base("input_mtok") or 0.0,
        output_per_mtok=base("output_mtok") or 0.0,
        cache_read_per_mtok=base("cache_read_mtok"),
        cache_write_per_mtok=base("cache_write_mtok"),
        source="genai-prices",
    )


def known_context_window(model: str, provider: str | None = None) -> int | None:
    """The model's context window (input tokens) in genai-prices' bundled data, or None.

    Looked up like a price (provider id first, then the model name alone). The scripted
    provider and local servers (``NO_PRICE_PROVIDERS``) get None: a local model sharing a
    hosted model's name runs with whatever window its server was started with, which only
    the server can tell (see ``OpenAIClient.context_window``). Never raises.
    """
    prov = (provider or "").strip().lower()
    if prov in NO_PRICE_PROVIDERS or not model or not model.strip():
        return None
    try:
        resolved = _resolve(model.strip(), prov)
    except Exception:  # pragma: no cover - bad data in genai-prices must not break a session
        return None
    if resolved is None:
        return None
    window = getattr(resolved.info, "context_window", None)
    return window if isinstance(window, int) and window > 0 else None
