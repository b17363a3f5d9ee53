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
