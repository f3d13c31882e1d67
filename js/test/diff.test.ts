import assert from "node:assert/strict";
import { test } from "node:test";
import { type DiffLine, diffLines, diffStats, hunks, splitLines } from "../lib/diff.js";

function sides(lines: DiffLine[]): { a: string[]; b: string[] } {
  return {
    a: lines.filter((l) => l.op !== "+").map((l) => l.text),
    b: lines.filter((l) => l.op !== "-").map((l) => l.text),
  };
}

test("splitLines ignores the final newline", () => {
  assert.deepEqual(splitLines("a\nb\n"), ["a", "b"]);
  assert.deepEqual(splitLines(""), []);
});

test("a new file is all additions", () => {
  const d = diffLines("", "# Notes\n\nhello\n");
  assert.deepEqual(
    d.map((l) => l.op),
    ["+", "+", "+"],
  );
  assert.deepEqual(diffStats(d), { added: 3, removed: 0 });
  assert.equal(d[2]?.b, 3);
});

test("a one-line change in the middle", () => {
  const old = "a\nb\nc\nd\ne\nf\ng\nh\n";
  const d = diffLines(old, old.replace("e\n", "E\n"));
  assert.deepEqual(diffStats(d), { added: 1, removed: 1 });
  const hs = hunks(d, 2);
  assert.equal(hs.length, 1);
  assert.equal(hs[0]?.header, "@@ -3,5 +3,5 @@");
});

test("diffs reconstruct both texts (random edits)", () => {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let round = 0; round < 200; round++) {
    const a = Array.from({ length: Math.floor(rnd() * 30) }, () => String.fromCharCode(97 + Math.floor(rnd() * 4)));
    const b = a.filter(() => rnd() > 0.2);
    for (let i = 0; i < 5; i++) b.splice(Math.floor(rnd() * (b.length + 1)), 0, "z");
    const d = diffLines(`${a.join("\n")}\n`, `${b.join("\n")}\n`);
    const s = sides(d);
    assert.deepEqual(s.a, splitLines(`${a.join("\n")}\n`));
    assert.deepEqual(s.b, splitLines(`${b.join("\n")}\n`));
  }
});

test("separate changes make separate hunks", () => {
  const a = Array.from({ length: 30 }, (_, i) => `line ${i}`);
  const b = [...a];
  b[2] = "changed 2";
  b[25] = "changed 25";
  const hs = hunks(diffLines(a.join("\n"), b.join("\n")));
  assert.equal(hs.length, 2);
  assert.equal(hs[1]?.header, "@@ -23,7 +23,7 @@");
});

test("identical texts have no hunks", () => {
  assert.deepEqual(hunks(diffLines("x\ny", "x\ny")), []);
});
