/**
 * The full-screen UI painted into another terminal emulator (xterm.js, through a pseudo-terminal:
 * see pty.ts), whose width table disagrees with ours and with tmux's about emoji sequences. No
 * row may spill into another: the status line stays whole, a bubble's right border stays in one
 * column, and only the rows that hold the glyphs differ from what was composed.
 *
 * Run: deno test -A tests/e2e/tui_xterm_test.ts
 */
import assert from "node:assert/strict";
import { joinClient, startServer } from "./harness.ts";
import { PtyClient } from "./pty.ts";

const START_TIMEOUT_MS = 30_000;
const SHOW_TIMEOUT_MS = 10_000;

const FAMILY = "👨‍👩‍👧"; // xterm.js: 3 cells, string-width: 2
const THUMBS = "👍🏽"; // xterm.js: 2 cells, tmux 3.3a: 4

for (const cols of [60, 160]) {
  Deno.test(`xterm at ${cols} columns: wide glyphs in a bubble and in the input line spill nowhere`, async () => {
    await using server = await startServer();
    const rows = 20;
    await using alice = await PtyClient.start({
      cols,
      rows,
      args: ["--name", "alice", "--server", `127.0.0.1:${server.port}`, "--ca", server.caFile],
    });
    const statusLine = /^ alice_\d{4} · 127\.0\.0\.1:\d+ · \d+ online/;
    await alice.waitFor(
      (r) => statusLine.test(r[rows - 2]),
      START_TIMEOUT_MS,
      "alice's status line",
    );

    await using bob = await joinClient(server, "bob");
    const bobId = (await bob.me()).id;
    await alice.waitFor(
      (r) => r.some((l) => l.includes(`${bobId} joined`)),
      SHOW_TIMEOUT_MS,
      "bob",
    );
    await bob.send(`thumbs ${THUMBS.repeat(14)} family ${FAMILY.repeat(8)}`);
    await alice.waitFor(
      (r) => r.some((l) => l.includes(`${bobId} · Public`)),
      SHOW_TIMEOUT_MS,
      "bob's bubble",
    );
    // typed, not sent: the input line holds more glyphs than fit
    await alice.type(`family ${FAMILY.repeat(cols === 60 ? 18 : 50)}`);
    const screen = await alice.waitFor(
      (r) => r[rows - 1].includes(FAMILY),
      SHOW_TIMEOUT_MS,
      "the input line",
    );
    const shown = screen.join("\n");

    // the status line is where it belongs, whole: nothing scrolled the screen
    assert.match(screen[rows - 2], statusLine, shown);
    assert.match(screen[rows - 2], /connected/, shown);
    assert.ok(screen[rows - 1].startsWith("›"), shown);
    // the notices above are untouched
    assert.ok(screen.some((l) => /^ \* you are alice_\d{4}/.test(l)), shown);
    assert.ok(screen.some((l) => l === ` · ${bobId} joined · 2 online`), shown);

    // the bubble: one box, its right border in one column on every row
    const top = screen.findIndex((l) => l.includes("╭"));
    const bottom = screen.findIndex((l) => l.includes("╰"));
    assert.ok(top >= 0 && bottom > top + 1, shown);
    const right = alice.lastColumn(top);
    assert.equal(alice.cell(right, top), "╮", shown);
    for (let y = top + 1; y < bottom; y++) {
      assert.equal(alice.cell(right, y), "│", `row ${y}, column ${right}:\n${shown}`);
      assert.equal(alice.lastColumn(y), right, `row ${y} goes past the border:\n${shown}`);
    }
    assert.equal(alice.cell(right, bottom), "╯", shown);
    assert.match(
      screen[bottom + 1],
      new RegExp(`^  ${bobId} · Public · \\d\\d:\\d\\d:\\d\\d · #\\w+$`),
    );
    // every glyph sent is inside the bubble (or cut with … at the border), none outside it
    for (const [y, line] of screen.entries()) {
      if (y > top && y < bottom) continue;
      if (y === rows - 1) continue; // the input line
      assert.ok(!line.includes(FAMILY) && !line.includes(THUMBS), `row ${y}: ${line}`);
    }
  });
}

Deno.test("xterm: a URL in a message is one OSC 8 link on one row, in both layouts; nothing else is", async () => {
  await using server = await startServer();
  const rows = 24;
  for (const layout of ["bubbles", "lines"]) {
    await using alice = await PtyClient.start({
      cols: 60,
      rows,
      args: [
        "--name",
        "alice",
        "--server",
        `127.0.0.1:${server.port}`,
        "--ca",
        server.caFile,
        "--layout",
        layout,
      ],
    });
    await alice.waitFor((r) => / · connected/.test(r[rows - 2]), START_TIMEOUT_MS, "alice");
    await using bob = await joinClient(server, `bob${layout}`);
    const long = `https://example.com/${"segment/".repeat(12)}end?q=1`;
    await bob.send(`see https://example.com/a?b=1 and ${long}. javascript:alert(1) ftp://x.y/z`);
    const screen = await alice.waitFor(
      (r) => r.some((l) => l.includes("https://example.com/a?b=1")),
      SHOW_TIMEOUT_MS,
      "the message",
    );
    // the link's start, then its text (colour codes may come between them)
    const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const linked = (url: string, text: string) =>
      new RegExp(`\x1b\\]8;;${esc(url)}\x07(?:\x1b\\[[0-9;]*m)*${esc(text)}`).test(alice.raw);
    assert.ok(linked("https://example.com/a?b=1", "https://example.com/a?b=1"), "the short link");
    // the long one: one row, cut with …, the link whole (and without the sentence's full stop)
    const cut = screen.find((l) => l.includes("https://example.com/segment/"))!;
    assert.match(cut, /https:\/\/example\.com\/segment\/\S*…/, screen.join("\n"));
    assert.equal(screen.filter((l) => l.includes("segment/")).length, 1, screen.join("\n"));
    assert.ok(alice.raw.includes(`\x1b]8;;${long}\x07`), "the long link");
    // only http(s) become links, and every link the client wrote is one of those two
    // deno-lint-ignore no-control-regex -- reading OSC 8 sequences is the point
    const targets = [...alice.raw.matchAll(/\x1b\]8;;([^\x07]*)\x07/g)].map((m) => m[1])
      .filter((t) => t !== "");
    assert.deepEqual([...new Set(targets)].sort(), [long, "https://example.com/a?b=1"].sort());
  }
});
