"""SecretRegistry and StreamRedactor: known secrets and their encodings never leave."""

from __future__ import annotations

import base64
import json
import os
import random
import string
import threading
from collections import OrderedDict, namedtuple
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a3s_notebook.engine._secrets import (
    MIN_SECRET_LENGTH,
    SecretRegistry,
    StreamRedactor,
    secret_looking,
)

KEY = "sk-live-0123456789abcdef"
PW = "hunter2-correct horse/battery+staple"


def registry(**secrets: str) -> SecretRegistry:
    r = SecretRegistry()
    for name, value in secrets.items():
        assert r.add(name, value)
    return r


# --- names that look secret -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY",
        "openai_api_key",
        "GITHUB_TOKEN",
        "gh_Token",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "MYSQL_PASSWD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AZURE_CREDENTIAL",
        "KEY",
        "SLACK_BOT_TOKEN",
        "ClientSecret",
    ],
)
def test_secret_looking_names(name: str) -> None:
    assert secret_looking(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "LANG", "USER", "SHELL", "TERM", "PWD", ""])
def test_plain_names(name: str) -> None:
    assert not secret_looking(name)


# --- add ------------------------------------------------------------------------------------


def test_add_ignores_short_values_and_keeps_the_first_name() -> None:
    r = SecretRegistry()
    assert not r.add("SHORT", "1234567")  # 7 chars
    assert not r.add("EMPTY", "")
    assert not r.add("BLANK", "          ")
    assert r.add("A", "12345678")  # exactly MIN_SECRET_LENGTH
    assert not r.add("B", "12345678")  # duplicate value: the first name wins
    assert not r.add("C", "  12345678  ")  # the same value once stripped
    assert MIN_SECRET_LENGTH == 8
    assert len(r) == 1 and r.names() == ["A"]
    assert r.redact("x 12345678 y") == "x [REDACTED:A] y"


def test_one_name_several_values() -> None:
    r = SecretRegistry()
    assert r.add("K", "first-value-1")
    assert r.add("K", "second-value-2")
    assert len(r) == 2 and r.names() == ["K"]
    assert r.redact("first-value-1 second-value-2") == "[REDACTED:K] [REDACTED:K]"


def test_repr_and_errors_never_show_values() -> None:
    r = registry(OPENAI_API_KEY=KEY, DB_PASSWORD=PW)
    text = repr(r)
    assert KEY not in text and PW not in text
    assert "OPENAI_API_KEY" in text and "DB_PASSWORD" in text and "2 secrets" in text
    (hit,) = r.finditer(f"x{KEY}")
    assert KEY not in repr(hit) and hit.name == "OPENAI_API_KEY" and hit.is_original
    assert repr(SecretRegistry()) == "SecretRegistry(0 secrets: -)"


# --- variants -------------------------------------------------------------------------------


def _variants_of(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "original": value,
        "base64": base64.b64encode(raw).decode(),
        "base64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode(),
        "base64url unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "url": quote(value, safe=""),
        "quote_plus": quote_plus(value),
        "json": json.dumps(value)[1:-1],
    }


@pytest.mark.parametrize("value", [KEY, PW, 'quote"back\\slash?~', "ünïcødé-sécret"])
def test_every_variant_is_redacted(value: str) -> None:
    r = registry(S=value)
    for label, variant in _variants_of(value).items():
        text = f"<<{variant}>>"
        assert r.redact(text) == "<<[REDACTED:S]>>", label
        assert r.find(text) == "S", label
        assert r.contains(text)


def test_url_encoding_is_rfc3986_with_upper_case_hex() -> None:
    value = "a b/c~d_e.f-g!h"
    encoded = quote(value, safe="")
    assert encoded == "a%20b%2Fc~d_e.f-g%21h"
    r = registry(S=value)
    assert r.redact(encoded) == "[REDACTED:S]"
    assert r.redact("a+b%2Fc~d_e.f-g%21h") == "[REDACTED:S]"  # quote_plus


def test_longest_variant_wins_at_a_position() -> None:
    # the padded base64 contains the unpadded one: the padding goes too
    r = registry(S="abcdefghij")
    padded = base64.b64encode(b"abcdefghij").decode()
    assert padded.endswith("=")
    assert r.redact(padded + "!") == "[REDACTED:S]!"
    # a secret that contains another secret: the longer one is replaced whole
    r = registry(SHORT="password", LONG="password-and-more")
    assert r.redact("password-and-more password") == "[REDACTED:LONG] [REDACTED:SHORT]"


def test_find_returns_the_first_secret_in_the_text() -> None:
    r = registry(A="aaaaaaaa-1", B="bbbbbbbb-2")
    assert r.find("x bbbbbbbb-2 then aaaaaaaa-1") == "B"
    assert r.find("nothing here") is None
    assert SecretRegistry().find("anything") is None


def test_replace_reports_matches_without_values() -> None:
    r = registry(K=KEY)
    b64 = base64.b64encode(KEY.encode()).decode()
    out, hits = r.replace(f"{KEY} and {b64}", lambda m: "<orig>" if m.is_original else "<enc>")
    assert out == "<orig> and <enc>"
    assert [(h.name, h.kind) for h in hits] == [("K", "original"), ("K", "base64")]
    assert hits[1].start == len(KEY) + 5


# --- redact_data --------------------------------------------------------------------------


def test_redact_data_walks_containers_and_keys() -> None:
    r = registry(K=KEY)
    Point = namedtuple("Point", "x y")
    data = {
        "plain": 1,
        KEY: [KEY, ("a", KEY), {"nested": f"Bearer {KEY}"}],
        "ordered": OrderedDict([("k", KEY)]),
        "point": Point(KEY, 2),
        "none": None,
    }
    out = r.redact_data(data)
    assert KEY not in repr(out)
    assert out["[REDACTED:K]"][1] == ("a", "[REDACTED:K]")
    assert out["[REDACTED:K]"][2] == {"nested": "Bearer [REDACTED:K]"}
    assert isinstance(out["ordered"], OrderedDict)
    assert out["point"] == Point("[REDACTED:K]", 2) and isinstance(out["point"], Point)
    assert out["plain"] == 1 and out["none"] is None
    assert data[KEY][0] == KEY  # the input is not modified
    assert SecretRegistry().redact_data(data) is data


# --- environment and .env ---------------------------------------------------------------


def test_add_environ_takes_only_secret_looking_names() -> None:
    env = {
        "OPENAI_API_KEY": "sk-openai-123456789",
        "github_token": "ghp_abcdefghijklmnop",
        "DB_PASSWORD": "correct-horse",
        "PATH": "/usr/local/bin:/usr/bin",
        "HOME": "/home/someone-long",
        "SHORT_TOKEN": "abc",
    }
    r = SecretRegistry()
    assert r.add_environ(env) == 3
    assert sorted(r.names()) == ["DB_PASSWORD", "OPENAI_API_KEY", "github_token"]
    assert "/usr/local/bin" in r.redact("PATH=/usr/local/bin")
    assert r.add_environ(env) == 0  # nothing new


def test_add_environ_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A3S_TEST_SECRET", "from-the-environment")
    r = SecretRegistry()
    assert r.add_environ() >= 1
    assert r.redact("v=from-the-environment") == "v=[REDACTED:A3S_TEST_SECRET]"


def test_add_dotenv_registers_every_value(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# comment\n"
        "OPENAI_API_KEY=sk-from-dotenv-123\n"
        'export DATABASE_URL="postgres://u:pw-12345@db/x"\n'
        "PLAIN_NAME=not-secret-looking-but-in-dotenv\n"
        "SHORT=abc\n"
        "EMPTY=\n"
        'MULTI="line one\nline two"\n'
    )
    r = SecretRegistry()
    assert r.add_dotenv(env) == 4
    assert "PLAIN_NAME" in r.names()
    assert r.redact("x not-secret-looking-but-in-dotenv") == "x [REDACTED:PLAIN_NAME]"
    assert r.redact("line one\nline two") == "[REDACTED:MULTI]"
    assert (
        "OPENAI_API_KEY" not in os.environ or os.environ["OPENAI_API_KEY"] != "sk-from-dotenv-123"
    )


def test_add_dotenv_missing_and_broken_files(tmp_path: Path) -> None:
    r = SecretRegistry()
    assert r.add_dotenv(tmp_path / "missing.env") == 0
    assert r.add_dotenv(tmp_path) == 0  # a directory is not a file

    broken = tmp_path / "broken.env"
    broken.write_text('GOOD=good-value-123\nthis is not a statement "\nBAD="unclosed\n')
    assert r.add_dotenv(broken) >= 1  # python-dotenv skips what it cannot parse
    assert r.redact("good-value-123") == "[REDACTED:GOOD]"

    binary = tmp_path / "binary.env"
    binary.write_bytes(b"KEY=\xff\xfe\xfdsecret-bytes\n")
    with pytest.warns(RuntimeWarning, match="could not read") as record:
        assert r.add_dotenv(binary) == 0
    assert "secret-bytes" not in str(record[0].message)


def test_remove_source_and_clear() -> None:
    r = SecretRegistry()
    r.add("ENV", "environment-value", source="env")
    r.add("email#1", "someone@example.com", source="taint")
    assert r.remove_source("taint") == 1
    assert r.names() == ["ENV"] and r.find("someone@example.com") is None
    assert r.find("environment-value") == "ENV"
    r.clear()
    assert len(r) == 0 and r.redact("environment-value") == "environment-value"


# --- check_encoded -------------------------------------------------------------------------


def test_check_encoded_decodes_words() -> None:
    r = registry(PASS="s3cret-pass")
    basic = base64.b64encode(b"root:s3cret-pass").decode()
    # not a registered variant (the secret is inside a longer blob)...
    assert r.find(f"Authorization: Basic {basic}") is None
    # ...but decoding each word finds it
    assert r.check_encoded(f"Authorization: Basic {basic}") == "PASS"
    assert r.check_encoded(f'token="{basic}",') == "PASS"
    assert r.check_encoded("x " + b"user=s3cret-pass".hex() + " y") == "PASS"
    assert r.check_encoded("q=" + quote("pw: s3cret-pass!", safe="")) == "PASS"
    urlsafe = base64.urlsafe_b64encode(b"\xfb\xff s3cret-pass").decode()
    assert "-" in urlsafe or "_" in urlsafe
    assert r.check_encoded(urlsafe) == "PASS"
    assert r.check_encoded("plain words and deadbeef and aGVsbG8gd29ybGQ=") is None
    assert SecretRegistry().check_encoded(basic) is None


# --- performance and threads ------------------------------------------------------------


def test_redaction_of_100_kb_finds_a_secret_and_an_encoded_one() -> None:
    rnd = random.Random(7)
    r = SecretRegistry()
    values = []
    for i in range(100):
        value = "tok-" + "".join(
            rnd.choice(string.ascii_letters + string.digits) for _ in range(40)
        )
        values.append(value)
        r.add(f"K{i}", value)
    text = "".join(rnd.choice(string.ascii_letters + string.digits + " \n") for _ in range(100_000))
    text = text[:1000] + values[5] + text[1000:] + base64.b64encode(values[9].encode()).decode()
    out = r.redact(text)
    assert out.count("[REDACTED:") == 2
    assert values[5] not in out and "[REDACTED:K5]" in out


def test_long_secrets_do_not_hit_the_recursion_limit() -> None:
    pem = "-----BEGIN KEY-----\n" + "A1b2C3d4" * 500 + "\n-----END KEY-----"
    r = registry(PEM=pem)
    assert r.redact(f"x{pem}y") == "x[REDACTED:PEM]y"
    assert r.redact(base64.b64encode(pem.encode()).decode()) == "[REDACTED:PEM]"


def test_adding_while_redacting_from_other_threads() -> None:
    r = SecretRegistry()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                r.redact("value-0000 value-0001 " * 50)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        r.add(f"V{i}", f"value-{i:04d}")
    stop.set()
    for t in threads:
        t.join()
    assert not errors and len(r) == 200
    assert r.redact("value-0199") == "[REDACTED:V199]"


# --- streams ------------------------------------------------------------------------------


def test_stream_redactor_catches_a_secret_split_across_chunks() -> None:
    r = registry(K=KEY)
    s = StreamRedactor(r)
    out = s.feed("token: sk-live-0123") + s.feed("456789abcdef and more text") + s.flush()
    assert out == "token: [REDACTED:K] and more text"


def test_stream_redactor_holds_back_little() -> None:
    r = registry(K=KEY)
    s = StreamRedactor(r)
    longest = r.longest
    assert longest == 2 * len(KEY)  # the hex form is the longest
    first = s.feed("x" * 1000)
    assert len(first) == 1000 - (longest - 1) and s.pending == longest - 1
    assert s.feed("") == ""
    assert s.flush() == "x" * (longest - 1) and s.pending == 0


def test_stream_redactor_with_no_secrets_passes_through() -> None:
    s = StreamRedactor(SecretRegistry())
    assert s.feed("abc") == "abc" and s.flush() == ""


_ALPHABET = "ab-sk0123456789=\n "


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.lists(st.text(_ALPHABET, min_size=8, max_size=14), min_size=1, max_size=3),
    pieces=st.lists(st.text(_ALPHABET, max_size=30), max_size=12),
    data=st.data(),
)
def test_stream_equals_whole_text_redaction(
    secrets: list[str], pieces: list[str], data: st.DataObject
) -> None:
    r = SecretRegistry()
    for i, value in enumerate(secrets):
        r.add(f"S{i}", value)
    # plant the secrets, sometimes split over pieces
    for value in secrets:
        at = data.draw(st.integers(0, len(pieces)))
        pieces.insert(at, value)
    whole = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(whole)), max_size=8)))
    chunks = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    s = StreamRedactor(r)
    streamed = "".join(s.feed(c) for c in chunks) + s.flush()
    assert streamed == r.redact(whole)
    for value in r._snapshot.originals:
        assert value.strip() not in streamed or not value.strip()


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=8, max_size=40).filter(lambda v: len(v.strip()) >= 8))
def test_any_value_and_its_encodings_are_redacted(value: str) -> None:
    r = registry(S=value)
    for label, variant in _variants_of(value.strip()).items():
        out = r.redact(f"[{variant}]")
        assert variant not in out, label


def test_streamed_chunks_are_redacted_without_dumping_the_event() -> None:
    from a3s_notebook.engine._protect import Protection
    from a3s_notebook.engine.events import TextDeltaEvent, ToolOutputDelta

    protection = Protection(lambda _event: None)
    protection.secrets.add("TOKEN", "tok_abcdef123456")
    plain = TextDeltaEvent(text="nothing here")
    assert protection.redact_event(plain) is plain  # untouched: the same object
    leaked = protection.redact_event(TextDeltaEvent(text="key tok_abcdef123456!"))
    assert leaked.text == "key [REDACTED:TOKEN]!"  # type: ignore[union-attr]
    out = protection.redact_event(ToolOutputDelta(id="t", name="bash", delta="tok_abcdef123456"))
    assert out.delta == "[REDACTED:TOKEN]"  # type: ignore[union-attr]
