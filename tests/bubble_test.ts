// Unit tests for src/ui/bubble.ts: speech bubbles as plain text, exact for wide and combining
// characters, never wider than asked.
//
// Run: deno test -A tests/bubble_test.ts

import assert from "node:assert/strict";
import { fc } from "./deps.ts";
import type { Shown } from "../src/client/state.ts";
import {
  graphemes,
  isForMe,
  lineText,
  linkTarget,
  renderBubble,
  renderLine,
  type StyledLine,
  textWidth,
  timeLeft,
  truncate,
  urlIn,
  wrapLine,
} from "../src/ui/bubble.ts";
import { clock } from "../src/ui/time.ts";
import { safeMessage, safeText } from "../src/ui/safe.ts";

const TIME = Date.UTC(2026, 0, 2, 10, 20, 30);
const ME = { id: "tom_1234", name: "tom" };

function message(over: Partial<Shown> = {}): Shown {
  return {
    type: "message",
    id: "01JABCDEFGHJKMNPQRSTVWXYZ0",
    ref: "yz0",
    from: "alice_1111",
    text: "hello",
    time: TIME,
    ...over,
  };
}

const text = (lines: StyledLine[]) => lines.map(lineText);

function bubble(over: Partial<Shown> = {}, width = 60, now = TIME): string[] {
  return text(renderBubble(message(over), { width, me: ME, now }));
}

/** Every line fits; in a bordered bubble the border lines and the text lines are equally wide. */
function assertShape(lines: string[], width: number): void {
  for (const line of lines) {
    assert.ok(textWidth(line) <= width, `wider than ${width}: ${JSON.stringify(line)}`);
  }
  const box = lines.filter((l) => /[╭│╰]/.test(l.trim()[0] ?? ""));
  if (box.length > 0) {
    const widths = new Set(box.map((l) => textWidth(l.trimStart())));
    assert.equal(widths.size, 1, `ragged bubble:\n${lines.join("\n")}`);
  }
}

/** The text inside the borders, line by line, trailing padding removed. */
function inside(lines: string[]): string[] {
  return lines.filter((l) => l.trimStart().startsWith("│"))
    .map((l) => l.trim().replace(/^│ /, "").replace(/ │$/, "").trimEnd());
}

Deno.test("bubble: someone else's message sits on the left with sender, Public, time and ref", () => {
  const lines = bubble({ text: "hello there" });
  assert.deepEqual(lines.slice(0, 3), [
    "╭─────────────╮",
    "│ hello there │",
    "╰─────────────╯",
  ]);
  assert.equal(lines[3], ` alice_1111 · Public · ${clock(TIME)} · #yz0`);
  assertShape(lines, 60);
});

Deno.test("bubble: my own message is right-aligned, signed 'you'", () => {
  const lines = bubble({ from: ME.id, text: "mine" }, 40);
  assert.equal(lines[0], `${" ".repeat(32)}╭──────╮`);
  assert.equal(lines[1], `${" ".repeat(32)}│ mine │`);
  for (const line of lines.slice(0, 3)) assert.equal(textWidth(line), 40);
  // the line under it ends one column in, under the bubble's text
  assert.ok(lines[3].endsWith(`you · Public · ${clock(TIME)} · #yz0`), lines[3]);
  assert.equal(textWidth(lines[3]), 39);
});

Deno.test("bubble: a direct message names its recipients, me as 'you'", () => {
  const lines = bubble({ to: [ME.id, "bob_2222"] });
  assert.match(lines.at(-1)!, /alice_1111 · Direct to you, bob_2222 · /);
  const mine = bubble({ from: ME.id, to: ["bob_2222"] });
  assert.match(mine.at(-1)!, /you · Direct to bob_2222 · /);
});

Deno.test("bubble: long text wraps at words inside the bubble; no line wider than the pane", () => {
  const words = "the quick brown fox jumps over the lazy dog ".repeat(6).trim();
  for (const width of [80, 60, 40, 30, 20, 12, 8, 6]) {
    const lines = bubble({ text: words }, width);
    assertShape(lines, width);
    const body = inside(lines);
    assert.equal(body.join("").replaceAll(" ", ""), words.replaceAll(" ", ""), `width ${width}`);
    // wide enough for every word: words are never cut
    if (width >= 12) assert.equal(body.join(" "), words, `width ${width}`);
  }
});

Deno.test("bubble: a very long word breaks cleanly across lines", () => {
  const word = "x".repeat(150);
  const lines = bubble({ text: `see ${word} there` }, 40);
  assertShape(lines, 40);
  const body = inside(lines);
  assert.equal(body.join("").replaceAll(" ", ""), `see${word}there`);
  assert.equal(body[0], "see"); // the long word starts on a line of its own
  assert.ok(body.every((l) => textWidth(l) <= 40 - 4));
  // a word that only looks like a URL (no http) breaks the same way
  const path = "example.com/" + "segment/".repeat(20);
  assert.equal(inside(bubble({ text: path }, 30)).join(""), path);
  assertShape(bubble({ text: path }, 30), 30);
});

Deno.test("bubble: CJK takes two columns; borders stay aligned at odd widths", () => {
  const cjk = "日本語のテキストを折り返すとき、枠線がずれてはいけません。";
  for (const width of [60, 31, 25, 17, 9, 7]) {
    const lines = bubble({ text: cjk }, width);
    assertShape(lines, width);
    assert.equal(inside(lines).join(""), cjk, `width ${width}`);
  }
});

Deno.test("bubble: emoji, ZWJ sequences, flags and combining marks are never split", () => {
  const family = "👩‍👩‍👧‍👦";
  const texts = [
    `${family}${family}${family}${family}`,
    "🇫🇷🇩🇪🇯🇵🇧🇷",
    "e\u0301".repeat(30),
    "❤️🎉👍🏽",
  ];
  for (const t of texts) {
    for (const width of [40, 12, 9, 7]) {
      const lines = bubble({ text: t }, width);
      assertShape(lines, width);
      const body = inside(lines).join("");
      // a grapheme wider than the whole inside (the family counts 8: see cellWidth) shows as …
      const fits = Math.max(...graphemes(t).map(textWidth)) <= width - 4;
      if (fits) assert.deepEqual(graphemes(body), graphemes(t), `width ${width}: ${body}`);
      else assert.ok(graphemes(body).every((g) => g === "…" || graphemes(t).includes(g)), body);
    }
  }
});

Deno.test("bubble: empty text (or only escape sequences) gives an empty bubble, not a crash", () => {
  for (const t of ["", "\x1b[2J", "   "]) {
    const lines = bubble({ text: safeText(t) }, 30); // as the UI gets it (ui/safe.ts)
    assertShape(lines, 30);
    assert.equal(lines[0], "╭───╮");
    assert.equal(lines[1].trimEnd(), "│   │");
  }
});

Deno.test("bubble: escape sequences and control characters from others never get through", () => {
  const nasty = "\x1b]0;owned\x07\x1b[31mred\x1b[0m \u202eevil\u202c \x07bell \x9b2J";
  // as the UI gets it: through the boundary (ui/safe.ts)
  const lines = renderBubble(safeMessage(message({ text: nasty, from: "alice_1111" })), {
    width: 50,
    me: ME,
    now: TIME,
  });
  for (const line of lines.map(lineText)) {
    // deno-lint-ignore no-control-regex -- checking for control characters is the point
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/.test(line), JSON.stringify(line));
  }
  assert.match(lines.map(lineText).join("\n"), /red evil bell/);
});

Deno.test("bubble: a reply quotes its original's author and first line inside, at the top", () => {
  const lines = bubble({
    text: "agreed",
    replyTo: "01JABCDEFGHJKMNPQRSTVWXYZ9",
    replyRef: "yz9",
    quote: { from: "bob_2222", text: "shall we meet at noon?\nsecond line" },
  }, 80);
  assert.equal(lines[0], `╭${"─".repeat(41)}╮`);
  assert.equal(lines[1], "│ > #yz9 bob_2222: shall we meet at noon? │");
  assert.equal(lines[2], "│ agreed                                  │");
  assertShape(lines, 80);
  // my own original is "you"; a long quote is cut with an ellipsis, never wrapped
  const long = bubble({
    text: "ok",
    replyTo: "01JABCDEFGHJKMNPQRSTVWXYZ9",
    quote: { from: ME.id, text: "word ".repeat(40) },
  }, 40);
  assert.match(long[1], /^│ > you: word word .*… │$/);
  assertShape(long, 40);
});

Deno.test("bubble: a reply whose original was deleted says so", () => {
  for (
    const over of [
      { replyTo: "01JABCDEFGHJKMNPQRSTVWXYZ9", quote: { deleted: true as const } },
      { replyTo: "01JABCDEFGHJKMNPQRSTVWXYZ9" },
    ]
  ) {
    const lines = bubble({ text: "what was that?", ...over });
    assert.equal(lines[1].trimEnd(), "│ > (a deleted message) │");
  }
});

Deno.test("bubble: a temporary message shows the time it has left", () => {
  const expiresAt = TIME + 10_000;
  assert.match(bubble({ expiresAt }, 60, TIME + 5_500).at(-1)!, / · 5s left$/);
  assert.match(bubble({ expiresAt: TIME + 125_000 }).at(-1)!, / · 2m 05s left$/);
  assert.match(bubble({ expiresAt }, 60, expiresAt + 1).at(-1)!, / · expiring$/);
  assert.equal(timeLeft(3 * 3600_000 + 20 * 60_000), "3h 20m left");
  assert.equal(timeLeft(2 * 86400_000 + 4 * 3600_000), "2d 4h left");
});

Deno.test("bubble: the line under the bubble wraps at ' · ' when the pane is narrow", () => {
  const lines = bubble({ to: [ME.id, "bob_2222", "carol_3333"], expiresAt: TIME + 9000 }, 24);
  assertShape(lines, 24);
  const meta = lines.slice(lines.indexOf(lines.find((l) => l.startsWith("╰"))!) + 1);
  assert.ok(meta.length > 1);
  assert.match(meta.join(" "), /alice_1111/);
  assert.match(meta.join(" "), /9s left/);
});

Deno.test("bubble: below 6 columns there is no border, still nothing too wide", () => {
  for (const width of [1, 2, 3, 5]) {
    const lines = bubble({ text: "日本 hello 👩‍👩‍👧‍👦", to: ["bob_2222"] }, width);
    for (const line of lines) assert.ok(textWidth(line) <= width, `${width}: ${line}`);
  }
});

Deno.test("bubble: property — any text at any width fits and keeps its visible characters", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "grapheme", maxLength: 120 }),
      fc.integer({ min: 6, max: 120 }),
      fc.boolean(),
      (t, width, mine) => {
        const lines = bubble({ text: t, from: mine ? ME.id : "alice_1111" }, width);
        assertShape(lines, width);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("wrapLine and truncate: widths by grapheme", () => {
  assert.deepEqual(wrapLine("aa bb cc", 5), ["aa bb", "cc"]);
  assert.deepEqual(wrapLine("漢字漢字漢", 4), ["漢字", "漢字", "漢"]);
  assert.deepEqual(wrapLine("", 4), [""]);
  assert.equal(truncate("漢字漢字", 5), "漢字…");
  assert.equal(truncate("short", 10), "short");
});

Deno.test("isForMe: a direct message to me or a mention of my name or id; not my own", () => {
  assert.ok(isForMe(message({ to: [ME.id] }), ME));
  assert.ok(isForMe(message({ text: "hey @tom, look" }), ME));
  assert.ok(isForMe(message({ text: "TOM: look" }), ME));
  assert.ok(isForMe(message({ text: "ask tom_1234." }), ME));
  assert.ok(!isForMe(message({ text: "a tomato" }), ME));
  assert.ok(!isForMe(message({ text: "atom" }), ME));
  assert.ok(!isForMe(message({ from: ME.id, text: "I am tom" }), ME));
  assert.ok(!isForMe(message({ text: "tom" }), undefined));
});

Deno.test("isForMe: ids of 5 to 8 digits: mine is a mention, a longer one is someone else", () => {
  const long = { id: "tom_12345678", name: "tom" };
  assert.ok(isForMe(message({ text: "ping @tom_12345678!" }), long));
  // tom_1234 is not tom_12345, nor tom_12345 tom_12345678
  assert.ok(!isForMe(message({ text: "ask tom_12345" }), ME));
  assert.ok(!isForMe(message({ text: "@tom_12345 hi" }), long));
  assert.ok(!isForMe(message({ text: "@tom_123456789 hi" }), long));
});

Deno.test("bubble: a mention of me stands out (its own segment)", () => {
  const lines = renderBubble(message({ text: "hi @tom and all" }), {
    width: 40,
    me: ME,
    now: TIME,
  });
  const mention = lines.flat().find((s) => s.role === "mention");
  assert.equal(mention?.text, "@tom");
});

// ---- issue 13 ----------------------------------------------------------------------------------

Deno.test("bubble: pasted tabs line up at tab stops inside the bubble", () => {
  const lines = bubble({ text: "name\tqty\tprice\nwidget\t3\t9.50" }, 60);
  assertShape(lines, 60);
  assert.deepEqual(inside(lines), ["name    qty     price", "widget  3       9.50"]);
});

Deno.test("bubble: a URL is one link, never split across rows; cut with … when too wide", () => {
  const url = "https://example.com/" + "segment/".repeat(20);
  const rendered = renderBubble(message({ text: `see ${url}.` }), { width: 40, me: ME, now: TIME });
  const links = rendered.flatMap((line) => line.filter((s) => s.link));
  assert.equal(links.length, 1);
  assert.equal(links[0].link, url); // the full URL, without the sentence's full stop
  assert.ok(links[0].text.endsWith("…"));
  assert.equal(links[0].role, "link");
  // short enough: shown whole, on one row
  const short = renderBubble(message({ text: "go to https://example.com/a?b=1 now" }), {
    width: 60,
    me: ME,
    now: TIME,
  }).flatMap((line) => line.filter((s) => s.link));
  assert.deepEqual(short.map((s) => [s.text, s.link]), [[
    "https://example.com/a?b=1",
    "https://example.com/a?b=1",
  ]]);
});

Deno.test("links: only http(s), nothing but printable ASCII in the target", () => {
  assert.equal(linkTarget("https://example.com/ok"), "https://example.com/ok");
  assert.equal(linkTarget("javascript:alert(1)"), undefined);
  assert.equal(linkTarget("file:///etc/passwd"), undefined);
  assert.equal(linkTarget("https://exämple.com/é"), "https://ex%C3%A4mple.com/%C3%A9");
  assert.equal(linkTarget("https://a.b/\x07\x1b]8;;x"), "https://a.b/%07%1B]8;;x");
  assert.equal(linkTarget("https://a.b/\u202e"), "https://a.b/%E2%80%AE");
  assert.deepEqual(urlIn("(https://en.wikipedia.org/wiki/Tab_(key))."), undefined);
  assert.deepEqual(urlIn("https://en.wikipedia.org/wiki/Tab_(key))."), {
    url: "https://en.wikipedia.org/wiki/Tab_(key)",
    rest: ").",
  });
  // escape sequences in the text never reach a link: the text is made safe first
  const hostile = renderBubble(message({ text: "https://a.b/\x1b]8;;evil\x07x" }), {
    width: 60,
    now: TIME,
  }).flatMap((line) => line.filter((s) => s.link));
  for (const seg of hostile) {
    // deno-lint-ignore no-control-regex -- no control character may be inside
    assert.ok(!/[\x00-\x1f\x7f-\x9f]/.test(seg.link! + seg.text), JSON.stringify(seg));
  }
});

Deno.test("widths: sequences terminals disagree on count as their widest", () => {
  assert.equal(textWidth("👍🏽"), 4); // tmux 3.3a draws it in 4
  assert.equal(textWidth("👨‍👩‍👧"), 6);
  assert.equal(textWidth("❤️"), 2);
  assert.equal(textWidth("中"), 2);
  assert.equal(textWidth("a"), 1);
  // a bubble's right border is pinned to its column
  const lines = renderBubble(message({ text: "👍🏽 ok" }), { width: 40, me: ME, now: TIME });
  const pinned = lines.filter((line) => line.some((s) => s.pin));
  assert.equal(pinned.length, 3);
  for (const line of pinned) assert.match(line.find((s) => s.pin)!.text, /[│╮╯]$/);
});

Deno.test("renderLine: irssi-like, wrapped under the text, a reply's quote above", () => {
  const lines = renderLine(
    message({
      text: "a longer message that wraps under its own text column nicely",
      to: ["tom_1234"],
      replyTo: "01JABCDEFGHJKMNPQRSTVWXYZ9",
      quote: { from: "tom_1234", text: "the original" },
    }),
    { width: 60, me: ME, now: TIME },
  ).map(lineText);
  const clockText = clock(TIME).slice(0, 5);
  assert.equal(lines[0].trim(), "> you: the original");
  assert.ok(lines[1].startsWith(`${clockText} #yz0 <alice_1111 → tom_1234> a longer`), lines[1]);
  const column = lines[1].indexOf("a longer");
  for (const line of lines.slice(2)) assert.equal(line.search(/\S/), column, lines.join("\n"));
  for (const line of lines) assert.ok(textWidth(line) <= 60);
});

Deno.test("bubble and lines: a message of a room other than #general names it; #general stays 'Public'", () => {
  const general = bubble({ room: "#general" });
  assert.ok(general.at(-1)!.includes("Public"), general.join("\n"));
  const builds = bubble({ room: "#builds" });
  assert.ok(builds.at(-1)!.includes("#builds") && !builds.at(-1)!.includes("Public"));
  const options = { width: 80, me: ME, now: TIME };
  assert.match(
    text(renderLine(message({ room: "#builds" }), options))[0],
    /<alice_1111:#builds> hello/,
  );
  assert.match(text(renderLine(message({ room: "#general" }), options))[0], /<alice_1111> hello/);
});
