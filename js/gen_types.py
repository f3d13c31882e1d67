"""Write ``js/lib/events.gen.ts``: the TypeScript view of the Python event union.

The source is the JSON schema of ``a3s_notebook.engine.events.AgentEvent`` (pydantic's
``TypeAdapter(AgentEvent).json_schema(mode="serialization")``: the shape of what Python
writes, i.e. ``event_to_dict`` and the session log's lines). The output has

* one exported interface per event and per nested model (``Message``, ``Task``,
  ``LlmCostRecord``, ``TokenUsage``...), a string literal union per enum, and named
  aliases for the unions Python names (``ContentBlock``);
* the ``AgentEvent`` union, ``EVENT_TYPES``, ``DURABLE_TYPES`` and ``TRANSIENT_TYPES``;
* a runtime check, ``isAgentEvent(x)`` / ``validateAgentEvent(x)``, built from the same
  schema, for JSON that crosses the boundary (tests feed it real Python output).

A field with a default is optional (``exclude_none`` drops ``None`` values; readers must
not count on defaults being written), except a model's ``const`` tag (``type``), which is
always written. Output is deterministic: definitions sorted by name, fields in declaration
order.

Usage (from the repository root)::

    .venv/bin/python js/gen_types.py          # (re)write js/lib/events.gen.ts
    .venv/bin/python js/gen_types.py --check  # exit 1 if the file is stale (make lint)

No dependency beyond the package itself: the schema-to-TypeScript converter is below.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "lib" / "events.gen.ts"
COMMAND = ".venv/bin/python js/gen_types.py"

# named unions that the schema inlines; a union of exactly these refs gets the name
ALIASES = {"ContentBlock": ("a3s_notebook.llm.types", "ContentBlock")}

# schema keywords that only annotate or constrain values: no bearing on the TS type
_IGNORED = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "format",
        "deprecated",
        "readOnly",
        "writeOnly",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "discriminator",
    }
)
_HANDLED = frozenset(
    {
        "$ref",
        "const",
        "enum",
        "anyOf",
        "oneOf",
        "allOf",
        "type",
        "items",
        "prefixItems",
        "properties",
        "required",
        "additionalProperties",
    }
)
_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
# global names a generated type must not take (a module may shadow them, but readers of
# the file would be misled)
_RESERVED = frozenset(
    {"Array", "Boolean", "Date", "Error", "Map", "Number", "Object", "Promise", "Record"}
    | {"Set", "String", "Symbol", "Spec", "Props"}
)


class SchemaError(Exception):
    """The schema uses something this converter does not understand."""


def _lit(value: Any) -> str:
    """A JSON value as a TS literal (strings with double quotes, as JSON writes them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return json.dumps(value, ensure_ascii=False)
    raise SchemaError(f"unsupported literal {value!r}")


def _ref_name(ref: str) -> str:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise SchemaError(f"unsupported $ref {ref!r} (only {prefix}...)")
    return ref[len(prefix) :]


def _doc(text: str | None, indent: str = "") -> list[str]:
    """A JSDoc comment of the first paragraph of a description."""
    if not text:
        return []
    para = " ".join(text.strip().split("\n\n")[0].split())
    para = para.replace("``", "`").replace("*/", "*\\/")
    lines = textwrap.wrap(para, width=96 - len(indent))
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}" for line in lines), f"{indent} */"]


def _key(name: str) -> str:
    return name if _IDENT.match(name) else json.dumps(name)


def _union(parts: Iterable[str]) -> str:
    seen: list[str] = []
    for p in parts:
        if p not in seen:
            seen.append(p)
    if "unknown" in seen:
        return "unknown"
    return " | ".join(seen)


class Converter:
    """JSON schema (pydantic's dialect) to TS types and to the runtime check's specs."""

    def __init__(self, defs: dict[str, Any], aliases: dict[str, frozenset[str]]) -> None:
        self.defs = defs
        self.aliases = aliases

    def _check_keys(self, schema: dict[str, Any], where: str) -> None:
        unknown = set(schema) - _HANDLED - _IGNORED
        if unknown:
            raise SchemaError(f"{where}: unsupported schema keyword(s) {sorted(unknown)}")

    def _members(self, schema: dict[str, Any]) -> list[dict[str, Any]] | None:
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return list(schema[key])
        if "allOf" in schema:
            if len(schema["allOf"]) != 1:
                raise SchemaError("allOf with more than one member is not supported")
            return None
        return None

    def _alias_of(self, members: list[dict[str, Any]]) -> str | None:
        refs = [m.get("$ref") for m in members]
        if not all(isinstance(r, str) and len(m) == 1 for r, m in zip(refs, members, strict=True)):
            return None
        names = frozenset(_ref_name(str(r)) for r in refs)
        for alias, members_of in self.aliases.items():
            if names == members_of:
                return alias
        return None

    # --- TypeScript --------------------------------------------------------------------

    def ts(self, schema: Any, where: str, indent: str = "") -> str:
        if schema is True or schema == {}:
            return "unknown"
        if not isinstance(schema, dict):
            raise SchemaError(f"{where}: unsupported schema {schema!r}")
        self._check_keys(schema, where)
        if "$ref" in schema:
            return _ref_name(schema["$ref"])
        if "const" in schema:
            return _lit(schema["const"])
        if "enum" in schema:
            return _union(_lit(v) for v in schema["enum"])
        if "allOf" in schema:
            self._members(schema)  # raises on more than one
            return self.ts(schema["allOf"][0], where, indent)
        members = self._members(schema)
        if members is not None:
            alias = self._alias_of(members)
            if alias is not None:
                return alias
            return _union(self.ts(m, where, indent) for m in members)
        kind = schema.get("type")
        if isinstance(kind, list):
            return _union(self.ts({**schema, "type": k}, where, indent) for k in kind)
        if kind == "string":
            return "string"
        if kind in ("integer", "number"):
            return "number"
        if kind == "boolean":
            return "boolean"
        if kind == "null":
            return "null"
        if kind == "array":
            if "prefixItems" in schema:
                items = [self.ts(s, where, indent) for s in schema["prefixItems"]]
                return f"[{', '.join(items)}]"
            item = self.ts(schema.get("items", {}), where, indent)
            return f"({item})[]" if not _IDENT.match(item) else f"{item}[]"
        if kind == "object" or (kind is None and "properties" in schema):
            if "properties" in schema:
                return self._inline_object(schema, where, indent)
            extra = schema.get("additionalProperties", True)
            if extra is False:
                return "Record<string, never>"
            return f"Record<string, {self.ts(extra, where, indent)}>"
        if kind is None:
            return "unknown"
        raise SchemaError(f"{where}: unsupported type {kind!r}")

    def _fields(self, schema: dict[str, Any]) -> list[tuple[str, bool, dict[str, Any]]]:
        required = set(schema.get("required", []))
        out = []
        for name, prop in schema.get("properties", {}).items():
            # a const tag with a default is always written: it is what tells models apart
            req = name in required or (isinstance(prop, dict) and "const" in prop)
            out.append((name, req, prop))
        return out

    def _inline_object(self, schema: dict[str, Any], where: str, indent: str) -> str:
        if schema.get("additionalProperties") not in (None, False, True):
            raise SchemaError(f"{where}: properties with typed additionalProperties")
        inner = indent + "  "
        lines = ["{"]
        for name, req, prop in self._fields(schema):
            opt = "" if req else "?"
            lines += _doc(prop.get("description"), inner)
            lines.append(f"{inner}{_key(name)}{opt}: {self.ts(prop, f'{where}.{name}', inner)};")
        lines.append(f"{indent}}}")
        return "\n".join(lines)

    def definition(self, name: str) -> list[str]:
        schema = self.defs[name]
        lines = _doc(schema.get("description"))
        if schema.get("type") == "object" and "properties" in schema:
            body = self._inline_object(schema, name, "")
            return [*lines, f"export interface {name} {body}"]
        return [*lines, f"export type {name} = {self.ts(schema, name)};"]

    # --- runtime specs (a small JSON-like table the validator walks) ---------------------

    def spec(self, schema: Any, where: str) -> Any:
        if schema is True or schema == {}:
            return "unknown"
        self._check_keys(schema, where)
        if "$ref" in schema:
            return {"ref": _ref_name(schema["$ref"])}
        if "const" in schema:
            return {"enum": [schema["const"]]}
        if "enum" in schema:
            return {"enum": list(schema["enum"])}
        if "allOf" in schema:
            return self.spec(schema["allOf"][0], where)
        members = self._members(schema)
        if members is not None:
            return {"anyOf": [self.spec(m, where) for m in members]}
        kind = schema.get("type")
        if isinstance(kind, list):
            return {"anyOf": [self.spec({**schema, "type": k}, where) for k in kind]}
        if kind in ("string", "integer", "number", "boolean", "null"):
            return kind
        if kind == "array":
            if "prefixItems" in schema:
                return {"tuple": [self.spec(s, where) for s in schema["prefixItems"]]}
            return {"array": self.spec(schema.get("items", {}), where)}
        if kind == "object" or (kind is None and "properties" in schema):
            if "properties" in schema:
                return {"object": self.props(schema, where)}
            extra = schema.get("additionalProperties", True)
            return {"record": "never" if extra is False else self.spec(extra, where)}
        if kind is None:
            return "unknown"
        raise SchemaError(f"{where}: unsupported type {kind!r}")

    def props(self, schema: dict[str, Any], where: str) -> dict[str, Any]:
        return {
            name: [req, self.spec(prop, f"{where}.{name}")]
            for name, req, prop in self._fields(schema)
        }


def _spec_ts(value: Any) -> str:
    """A spec as compact TS source (JSON with bare keys where they are identifiers)."""
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)}: {_spec_ts(v)}" for k, v in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, list):
        return f"[{', '.join(_spec_ts(v) for v in value)}]"
    return _lit(value)


def _string_array(name: str, values: Iterable[str], doc: str) -> list[str]:
    items = sorted(values)
    lines = [f"/** {doc} */", f"export const {name} = ["]
    lines += [f"  {json.dumps(v)}," for v in items]
    lines.append("] as const;")
    return lines


_RUNTIME = """
// --- runtime check -------------------------------------------------------------------

type Literal = string | number | boolean | null;
type Spec =
  | "string"
  | "integer"
  | "number"
  | "boolean"
  | "null"
  | "unknown"
  | { readonly ref: string }
  | { readonly enum: readonly Literal[] }
  | { readonly anyOf: readonly Spec[] }
  | { readonly array: Spec }
  | { readonly tuple: readonly Spec[] }
  | { readonly record: Spec | "never" }
  | { readonly object: Props };
/** Field name -> [required, spec]. */
type Props = { readonly [field: string]: readonly [boolean, Spec] };

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  if (typeof x === "string") {
    return `string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)}`;
  }
  if (typeof x === "object") return "an object";
  return `${typeof x} ${String(x)}`;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function checkProps(x: unknown, props: Props, path: string): string | null {
  if (!isObject(x)) return `${path}: expected an object, got ${describe(x)}`;
  for (const [field, [required, spec]] of Object.entries(props)) {
    const value = x[field];
    if (value === undefined) {
      if (required) return `${path}.${field}: missing`;
      continue;
    }
    const problem = check(value, spec, `${path}.${field}`);
    if (problem !== null) return problem;
  }
  return null;
}

function check(x: unknown, spec: Spec, path: string): string | null {
  const bad = (what: string) => `${path}: expected ${what}, got ${describe(x)}`;
  switch (spec) {
    case "unknown":
      return null;
    case "string":
    case "boolean":
      return typeof x === spec ? null : bad(spec);
    case "number":
      return typeof x === "number" ? null : bad("a number");
    case "integer":
      return Number.isInteger(x) ? null : bad("an integer");
    case "null":
      return x === null ? null : bad("null");
  }
  if ("ref" in spec) {
    const def = DEFS[spec.ref];
    return def === undefined ? `${path}: no definition ${spec.ref}` : check(x, def, path);
  }
  if ("enum" in spec) {
    if (spec.enum.includes(x as Literal)) return null;
    return bad(spec.enum.map((v) => JSON.stringify(v)).join(" | "));
  }
  if ("anyOf" in spec) {
    const problems: string[] = [];
    for (const member of spec.anyOf) {
      const problem = check(x, member, path);
      if (problem === null) return null;
      problems.push(problem);
    }
    if (problems.length === 1) return problems[0] ?? null;
    return `${path}: matches no member (${problems.join("; ")})`;
  }
  if ("array" in spec) {
    if (!Array.isArray(x)) return bad("an array");
    for (let i = 0; i < x.length; i++) {
      const problem = check(x[i], spec.array, `${path}[${i}]`);
      if (problem !== null) return problem;
    }
    return null;
  }
  if ("tuple" in spec) {
    if (!Array.isArray(x) || x.length !== spec.tuple.length) {
      return bad(`an array of ${spec.tuple.length}`);
    }
    for (let i = 0; i < x.length; i++) {
      const problem = check(x[i], spec.tuple[i] ?? "unknown", `${path}[${i}]`);
      if (problem !== null) return problem;
    }
    return null;
  }
  if ("record" in spec) {
    if (!isObject(x)) return bad("an object");
    for (const [key, value] of Object.entries(x)) {
      if (spec.record === "never") return `${path}.${key}: unexpected field`;
      const problem = check(value, spec.record, `${path}.${key}`);
      if (problem !== null) return problem;
    }
    return null;
  }
  return checkProps(x, spec.object, path);
}

/**
 * Why `x` is not an `AgentEvent` of this version (the first problem found, with its path),
 * or null when it is one. Fields the schema does not know (a log line's `ts`) are allowed.
 */
export function validateAgentEvent(x: unknown): string | null {
  if (!isObject(x)) return `$: expected an event object, got ${describe(x)}`;
  const type = x.type;
  if (typeof type !== "string") return `$.type: expected a string, got ${describe(type)}`;
  const def = Object.hasOwn(EVENT_DEFS, type) ? EVENT_DEFS[type as EventType] : undefined;
  if (def === undefined) return `$.type: unknown event type ${JSON.stringify(type)}`;
  return check(x, { ref: def }, `$<${def}>`);
}

/** Whether `x` is a well-formed `AgentEvent`: a known `type` and every field of its type. */
export function isAgentEvent(x: unknown): x is AgentEvent {
  return validateAgentEvent(x) === null;
}

/** Whether `x` is a well-formed event of the given type. */
export function isEventOfType<T extends EventType>(x: unknown, type: T): x is EventOf<T> {
  return isObject(x) && x.type === type && validateAgentEvent(x) === null;
}
"""


def _alias_members() -> dict[str, frozenset[str]]:
    import importlib

    from pydantic import TypeAdapter

    out: dict[str, frozenset[str]] = {}
    for alias, (module, attr) in sorted(ALIASES.items()):
        schema = TypeAdapter(getattr(importlib.import_module(module), attr)).json_schema(
            mode="serialization"
        )
        members = schema.get("oneOf") or schema.get("anyOf") or []
        out[alias] = frozenset(_ref_name(m["$ref"]) for m in members)
    return out


def generate() -> str:
    """The text of events.gen.ts."""
    sys.path.insert(0, str(ROOT))
    from pydantic import TypeAdapter

    from a3s_notebook.engine import events

    schema = TypeAdapter(events.AgentEvent).json_schema(mode="serialization")
    defs: dict[str, Any] = schema["$defs"]
    mapping: dict[str, str] = schema["discriminator"]["mapping"]
    by_type = {t: _ref_name(ref) for t, ref in mapping.items()}
    if set(by_type) != set(events.EVENT_TYPES):
        raise SchemaError(
            "the union's discriminator and EVENT_TYPES disagree: "
            f"{sorted(set(by_type) ^ set(events.EVENT_TYPES))}"
        )
    taken = _RESERVED & (set(defs) | set(ALIASES))
    if taken:
        raise SchemaError(f"model names that clash with TS globals: {sorted(taken)}")
    aliases = _alias_members()
    conv = Converter(defs, aliases)
    event_names = sorted(set(by_type.values()))
    support = sorted(set(defs) - set(event_names))

    out = [
        "// GENERATED FILE: do not edit by hand.",
        "// The TypeScript view of the Python event union (a3s_notebook.engine.events.AgentEvent),",
        "// from its JSON schema (pydantic, serialization mode: the JSON that Python writes).",
        f"// Regenerate with `{COMMAND}`; `make lint` fails when this file is stale.",
        "",
        "// --- nested models and enums ---------------------------------------------------------",
    ]
    for name in support:
        out += ["", *conv.definition(name)]
    for alias, members in sorted(aliases.items()):
        module, attr = ALIASES[alias]
        out += ["", f"/** Python's `{module}.{attr}` (a union the schema inlines). */"]
        out += [f"export type {alias} = {' | '.join(sorted(members))};"]
    out += [
        "",
        "// --- events -------------------------------------------------------------------------",
    ]
    for name in event_names:
        out += ["", *conv.definition(name)]
    out += ["", "/** Every event this version knows, told apart by `type`. */"]
    out.append("export type AgentEvent =")
    out += [f"  | {name}" for name in event_names]
    out[-1] += ";"
    out += [
        "",
        "/** An event's wire name. */",
        'export type EventType = AgentEvent["type"];',
        "",
        '/** The event of one type: `EventOf<"security">` is `SecurityEvent`. */',
        "export type EventOf<T extends EventType> = Extract<AgentEvent, { type: T }>;",
        "",
    ]
    out += _string_array("EVENT_TYPES", by_type, "Every wire name this version knows.")
    out += [""]
    out += _string_array(
        "DURABLE_TYPES",
        events.DURABLE_TYPES,
        "Event types written to the session's log, one JSON line each.",
    )
    out += [""]
    out += _string_array(
        "TRANSIENT_TYPES",
        events.TRANSIENT_TYPES,
        "Event types that are never persisted (token and output deltas).",
    )
    out += [
        "",
        "/** Wire name -> the interface that describes it. */",
        "const EVENT_DEFS: { readonly [T in EventType]: string } = {",
    ]
    out += [f"  {_key(t)}: {json.dumps(by_type[t])}," for t in sorted(by_type)]
    out += ["};"]
    out += _RUNTIME.rstrip("\n").split("\n")
    out += ["", "/** Every definition's spec, by name (generated from the schema's $defs). */"]
    out += ["const DEFS: { readonly [name: string]: Spec } = {"]
    for name in sorted(defs):
        spec = conv.spec(defs[name], name)
        if "object" in spec:
            # one field a line: a change on the Python side is a one-line diff here
            out.append(f"  {_key(name)}: {{")
            out.append("    object: {")
            for field, req_spec in spec["object"].items():
                out.append(f"      {_key(field)}: {_spec_ts(req_spec)},")
            out += ["    },", "  },"]
        else:
            out.append(f"  {_key(name)}: {_spec_ts(spec)},")
    out += ["};", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    args = parser.parse_args(argv)
    try:
        text = generate()
    except SchemaError as exc:
        print(f"gen_types: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    if args.check:
        name = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
        if not out.exists():
            print(f"{name} is missing.\nRun `{COMMAND}` and commit the result.", file=sys.stderr)
            return 1
        current = out.read_text(encoding="utf-8")
        if current == text:
            return 0
        diff = list(
            difflib.unified_diff(
                current.splitlines(),
                text.splitlines(),
                f"{name} (on disk)",
                f"{name} (from the Python schema)",
                lineterm="",
            )
        )
        shown = diff[:60] + ([f"... ({len(diff) - 60} more diff lines)"] if len(diff) > 60 else [])
        print("\n".join(shown), file=sys.stderr)
        print(
            f"\n{name} is stale: it does not match the Python event union (which changed "
            f"since, or the file was edited by hand).\nRun `{COMMAND}` and commit the result.",
            file=sys.stderr,
        )
        return 1
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
