// Unit tests for src/ui/sanitize.ts: nothing from another person reaches a terminal as a
// control or escape sequence.
//
// Run: deno test -A tests/sanitize_test.ts

import assert from "node:assert/strict";
import { safeJson, sanitize, sanitizeLine } from "../src/ui/sanitize.ts";

/** No C0 (except \n), DEL, C1, ESC or bidi control survives. */
function assertClean(text: string): void {
  // deno-lint-ignore no-control-regex -- checking for control characters is the point
  const bad = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
  assert.ok(!bad.test(text), `control character left in ${JSON.stringify(text)}`);
}

Deno.test("sanitize: plain text is unchanged", () => {
  for (const text of ["hello", "a < b > c & d", "100% [ok] {x} ~`^", "line one\nline two"]) {
    assert.equal(sanitize(text), text);
  }
});

Deno.test("sanitize: normal unicode is kept (accents, CJK, emoji, joiners)", () => {
  const texts = [
    "héllo wörld ñ",
    "日本語のテキスト",
    "한국어 中文",
    "🎉👍",
    "👩‍👩‍👧‍👦", // ZWJ family
    "❤️", // with variation selector
    "🇫🇷",
    "עברית عربي", // RTL scripts themselves are fine; only the override controls go
    "\u00a0nbsp",
  ];
  for (const text of texts) assert.equal(sanitize(text), text);
});

Deno.test("sanitize: CSI colour and SGR sequences are stripped", () => {
  assert.equal(sanitize("\x1b[31mred\x1b[0m"), "red");
  assert.equal(sanitize("\x1b[1;38;5;196mbold\x1b[m"), "bold");
  assert.equal(sanitize("\x1b[38:2:255:0:0mtrue\x1b[39m"), "true");
});

Deno.test("sanitize: CSI clear screen and cursor moves are stripped", () => {
  assert.equal(sanitize("\x1b[2J\x1b[Hgotcha"), "gotcha");
  assert.equal(sanitize("a\x1b[10Ab\x1b[5;5Hc\x1b[Kd"), "abcd");
  assert.equal(sanitize("x\x1b[?25ly\x1b[?1049hz"), "xyz");
});

Deno.test("sanitize: 8-bit CSI (\\x9b) is stripped with its parameters", () => {
  assert.equal(sanitize("\x9b31mred\x9b0m"), "red");
  assert.equal(sanitize("\x9b2Jwiped"), "wiped");
});

Deno.test("sanitize: OSC title terminated by BEL is stripped", () => {
  assert.equal(sanitize("\x1b]0;pwned title\x07after"), "after");
  assert.equal(sanitize("\x1b]2;title\x07"), "");
});

Deno.test("sanitize: OSC terminated by ST (ESC \\) is stripped", () => {
  assert.equal(sanitize("\x1b]0;pwned\x1b\\after"), "after");
  // OSC 8 hyperlink: the link target goes, the visible words stay
  assert.equal(
    sanitize("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ here"),
    "click here",
  );
  // OSC 52 clipboard write
  assert.equal(sanitize("a\x1b]52;c;ZXZpbA==\x07b"), "ab");
});

Deno.test("sanitize: 8-bit OSC and ST (\\x9d … \\x9c) are stripped", () => {
  assert.equal(sanitize("\x9d0;title\x9cafter"), "after");
});

Deno.test("sanitize: an unterminated OSC takes the rest of the text with it", () => {
  const out = sanitize("before\x1b]0;title never ends");
  assert.equal(out, "before");
});

Deno.test("sanitize: DCS, SOS, PM, APC strings are stripped", () => {
  assert.equal(sanitize("a\x1bPq#0;2;0;0;0#0~~\x1b\\b"), "ab"); // DCS (sixel)
  assert.equal(sanitize("a\x1bXsos\x1b\\b"), "ab");
  assert.equal(sanitize("a\x1b^pm\x1b\\b"), "ab");
  assert.equal(sanitize("a\x1b_apc\x1b\\b"), "ab");
  assert.equal(sanitize("a\x90dcs\x9cb"), "ab");
});

Deno.test("sanitize: lone ESC and two-character escapes are stripped", () => {
  assert.equal(sanitize("a\x1bb"), "a"); // ESC b is a 2-char escape: both go
  assert.equal(sanitize("reset\x1bc"), "reset"); // RIS
  assert.equal(sanitize("x\x1b(0y"), "xy"); // charset designation
  assert.equal(sanitize("end\x1b"), "end");
  assertClean(sanitize("\x1b\x1b\x1b[\x1b]"));
});

Deno.test("sanitize: C0 controls go, except newline (tab becomes spaces)", () => {
  assert.equal(sanitize("a\x00b\x07c\x08d\x0be\x0cf\x0dg\x7fh"), "abcdefgh");
  assert.equal(sanitize("a\nb"), "a\nb");
  assert.equal(sanitize("a\tb"), "a    b");
  assert.equal(sanitize("over\rwrite"), "overwrite");
});

Deno.test("sanitize: C1 controls go", () => {
  let c1 = "";
  for (let c = 0x80; c <= 0x9f; c++) c1 += String.fromCharCode(c);
  const out = sanitize(`a${c1}b`);
  assertClean(out);
  assert.ok(out.startsWith("a"));
});

Deno.test("sanitize: every C0/C1 control alone is removed", () => {
  for (let c = 0; c <= 0x9f; c++) {
    if (c >= 0x20 && c < 0x7f) continue;
    const ch = String.fromCharCode(c);
    const out = sanitize(`x${ch}y`);
    if (c === 0x0a) assert.equal(out, "x\ny");
    else if (c === 0x09) assert.equal(out, "x    y");
    else assertClean(out);
  }
});

Deno.test("sanitize: bidi overrides and isolates are stripped", () => {
  // the "Trojan Source" trick: RLO makes "txt.exe" read as "exe.txt"
  assert.equal(sanitize("file\u202etxt.exe"), "filetxt.exe");
  assert.equal(
    sanitize("\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061cok"),
    "ok",
  );
});

Deno.test("sanitize: a hostile mix comes out clean", () => {
  const hostile =
    "\x1b]0;owned\x07\x1b[2J\x1b[H\x1b[31mHI\x1b[0m\x9b1m\x1bP+q\x1b\\\u202eevil\x00\x1b";
  const out = sanitize(hostile);
  assertClean(out);
  assert.equal(out, "HIevil");
});

Deno.test("sanitizeLine: newlines become spaces", () => {
  assert.equal(sanitizeLine("a\nb\r\nc"), "a b c");
  assert.equal(sanitizeLine("\x1b[31mred\x1b[0m\nnext"), "red next");
  assert.equal(sanitizeLine("日本\n🎉"), "日本 🎉");
  assert.ok(!sanitizeLine("x\n\ny").includes("\n"));
});

/** Every control and bidi control a terminal acts on (the set sanitize strips), and U+2028/9. */
function unsafeForJson(): string[] {
  const out: string[] = [];
  for (let c = 0x00; c <= 0x1f; c++) out.push(String.fromCharCode(c));
  for (let c = 0x7f; c <= 0x9f; c++) out.push(String.fromCharCode(c));
  for (const c of [0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e]) {
    out.push(String.fromCharCode(c));
  }
  for (const c of [0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029]) {
    out.push(String.fromCharCode(c));
  }
  return out;
}

Deno.test("safeJson: every C0/C1 control, DEL and bidi control is escaped as \\uXXXX", () => {
  for (const ch of unsafeForJson()) {
    const out = safeJson({ text: `x${ch}y` });
    assert.ok(![...out].some((c) => unsafeForJson().includes(c)), JSON.stringify(out));
    assert.deepEqual(JSON.parse(out), { text: `x${ch}y` }, "parses back to the same string");
  }
  assert.equal(safeJson("\u009b2J"), '"\\u009b2J"');
  assert.equal(safeJson("\x7f"), '"\\u007f"');
  assert.equal(safeJson("a\u202eb"), '"a\\u202eb"');
  assert.equal(safeJson("\u2066"), '"\\u2066"');
});

Deno.test("safeJson: whatever sanitize would strip never reaches the output raw", () => {
  // the same set, checked against sanitize: a character it strips is escaped here
  for (let c = 0; c <= 0x2100; c++) {
    const ch = String.fromCharCode(c);
    if (ch === "\n" || ch === "\t" || sanitize(ch) === ch) continue;
    assert.ok(!safeJson(ch).includes(ch), `U+${c.toString(16).padStart(4, "0")} left raw`);
  }
});

Deno.test("safeJson: keys, nesting, backslashes and ordinary unicode come back intact", () => {
  const value = {
    "k\u0085": ["\\\u009b", { deep: "\\u202e is text, \u202e is not" }],
    text: "日本 🎉 é\u200d",
    n: 1,
    t: true,
    z: null,
  };
  const out = safeJson(value);
  assert.deepEqual(JSON.parse(out), value);
  assert.ok(out.includes("日本 🎉 é\u200d"), "ordinary text (and a joiner) is left as it is");
  assert.ok(!out.includes("\n"), "one line");
});
