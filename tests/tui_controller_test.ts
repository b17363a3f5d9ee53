// Unit tests for the full-screen UI's controller (src/ui/tui/tui.ts) on a fake terminal, which
// keeps what is painted as rows of text, and a fake clock: the Ctrl+C-twice window, leaving,
// frame pacing, the bell's gap, the once-a-second tick, the last words.
//
// Run: deno test -A tests/tui_controller_test.ts

import assert from "node:assert/strict";
import { ClientState } from "../src/client/state.ts";
import type { ClientEvent, Shown } from "../src/client/state.ts";
import { QUIT_CONFIRM_MS } from "../src/ui/keymap.ts";
import type { Key } from "../src/ui/tui/keys.ts";
import { QUIT_HINT } from "../src/ui/tui/model.ts";
import { SYNC_START } from "../src/ui/tui/paint.ts";
import type { Terminal, TerminalHandlers } from "../src/ui/tui/terminal.ts";
import { FRAME_MS, tuiUi } from "../src/ui/tui/tui.ts";
import { FakeClock } from "./fake_clock.ts";

const ME = { id: "tom_0001", name: "tom" };
const ANN = { id: "ann_0002", name: "ann" };

/**
 * What a terminal shows after `writes`, as rows of text: cursor positioning, erasing the screen,
 * a line or its rest are followed; styles, modes and links are skipped (a column per code
 * point: the tests write no wide glyph). After a resize the last frame is drawn afresh, so all
 * the writes are read at the last size.
 */
function screenOf(writes: string[], cols: number, rows: number): string[] {
  const grid = Array.from({ length: rows }, () => Array<string>(cols).fill(" "));
  let x = 0;
  let y = 0;
  // deno-lint-ignore no-control-regex -- reading terminal sequences is the point
  const token = /\x1b\[([?0-9;]*)([A-Za-z])|\x1b\]8;;[^\x07]*\x07|\x07|([^\x1b\x07])/gsu;
  for (const [, params, command, char] of writes.join("").matchAll(token)) {
    if (char !== undefined) {
      if (x < cols && y < rows) grid[y][x] = char;
      x++;
    } else if (command === "H") {
      const [row, col] = (params || "1;1").split(";").map(Number);
      [y, x] = [row - 1, (col || 1) - 1];
    } else if (command === "J" && params === "2") {
      for (const line of grid) line.fill(" ");
    } else if (command === "K") {
      grid[y]?.fill(" ", params === "2" ? 0 : x);
    }
  }
  return grid.map((line) => line.join(""));
}

/** A TUI on fakes: keys are pressed by the test, frames and writes are kept. */
async function started(options: { bell?: boolean } = {}) {
  const clock = new FakeClock();
  const writes: string[] = [];
  const lines: string[] = [];
  const exits: number[] = [];
  let ends = 0;
  let handlers: TerminalHandlers | undefined;
  const size = { cols: 80, rows: 24 };
  const terminal: Terminal = {
    get cols() {
      return size.cols;
    },
    get rows() {
      return size.rows;
    },
    open: true,
    write: (text) => void writes.push(text),
    restore: () => {},
  };
  const state = new ClientState();
  const ui = tuiUi(
    { state, server: "h:1", bell: options.bell ?? true, color: false },
    {
      clock,
      openTerminal(h) {
        handlers = h;
        return terminal;
      },
      exit: (code) => void exits.push(code),
    },
  );
  ui.start({ onLine: (line) => void lines.push(line), onEnd: () => void ends++ });
  await clock.advance(0);
  return {
    ui,
    state,
    /** The terminal changes its size. */
    resize(cols: number, rows: number) {
      Object.assign(size, { cols, rows });
      handlers!.onResize();
    },
    clock,
    writes,
    lines,
    exits,
    ends: () => ends,
    /** Frames painted so far. */
    renders: () => writes.filter((w) => w.startsWith(SYNC_START)).length,
    press: (...keys: Key[]) => keys.forEach((key) => handlers!.onKey(key)),
    /** The screen as text, row by row. */
    screen: () => screenOf(writes, terminal.cols, terminal.rows),
    /** Renders what changed (frames are paced) and gives the screen. */
    async shown() {
      await clock.advance(FRAME_MS);
      return this.screen().join("\n");
    },
  };
}

const key = (name: string): Key => ({ kind: "key", name } as Key);
const text = (t: string): Key => ({ kind: "text", text: t });
const welcome: ClientEvent = { type: "welcome", you: ME, users: [ME, ANN], online: 2 };

let n = 0;
/** A message from ann, live. */
function said(over: Partial<Shown> = {}): ClientEvent {
  n++;
  const message: Shown = {
    type: "message",
    id: `01JABCDEFGHJKMNPQRSTV${String(n).padStart(5, "0")}`,
    ref: `r${n}`,
    from: ANN.id,
    text: `said ${n}`,
    time: 1,
    ...over,
  };
  return { type: "message", message };
}
const direct = () => said({ to: [ME.id] });

Deno.test("tui: Ctrl+C with a line typed asks for a second one; within QUIT_CONFIRM_MS it leaves", async () => {
  const t = await started();
  t.press(text("half a thought"), key("ctrl+c"));
  assert.ok((await t.shown()).includes(QUIT_HINT.slice(0, 30)));
  assert.equal(t.ends(), 0, "the first one only asks");
  await t.clock.advance(QUIT_CONFIRM_MS - 100);
  t.press(key("ctrl+c"));
  assert.equal(t.ends(), 1);
  assert.match(await t.shown(), /leaving…/);
  await t.ui.stop();
});

Deno.test("tui: the Ctrl+C window lapses: its hint goes at the next tick and Ctrl+C asks again", async () => {
  const t = await started();
  t.press(text("half a thought"), key("ctrl+c"));
  await t.clock.advance(QUIT_CONFIRM_MS);
  assert.ok(t.screen().join("\n").includes(QUIT_HINT.slice(0, 30)), "not lapsed yet");
  await t.clock.advance(1_000); // the tick after the window
  assert.ok(!(await t.shown()).includes(QUIT_HINT.slice(0, 30)));
  t.press(key("ctrl+c"));
  assert.equal(t.ends(), 0, "a new first press");
  assert.ok((await t.shown()).includes(QUIT_HINT.slice(0, 30)));
  await t.ui.stop();
});

Deno.test("tui: any other key between the two presses ends the wait", async () => {
  const t = await started();
  t.press(text("half"), key("ctrl+c"), text("!"), key("ctrl+c"));
  assert.equal(t.ends(), 0);
  await t.ui.stop();
});

Deno.test("tui: Ctrl+C on an empty line leaves at once; asked again while leaving, exits 130", async () => {
  const t = await started();
  t.press(key("ctrl+c"));
  assert.equal(t.ends(), 1);
  assert.deepEqual(t.exits, []);
  t.press(key("ctrl+c"));
  assert.deepEqual(t.exits, [130], "no second wait for the server");
  await t.ui.stop();
});

Deno.test("tui: /exit is a line like any other; leaving() then makes Ctrl+C leave at once", async () => {
  const t = await started();
  t.press(text("/exit"), key("enter"), key("ctrl+r"));
  assert.deepEqual(t.lines, ["/exit", "/reconnect"]);
  assert.doesNotMatch(await t.shown(), /leaving…/, "the UI does not parse lines");
  t.ui.leaving(); // what the join command does for /exit
  assert.match(await t.shown(), /leaving…/);
  t.press(key("ctrl+c"));
  assert.deepEqual(t.exits, [130]);
  await t.ui.stop();
});

Deno.test("tui: frames are paced to one per FRAME_MS; a burst of changes is one frame", async () => {
  const t = await started();
  await t.clock.advance(100);
  const before = t.renders();
  for (let i = 0; i < 20; i++) t.ui.notice(`notice ${i}`);
  assert.equal(t.renders(), before, "not drawn in the middle of the burst");
  await t.clock.advance(0);
  assert.equal(t.renders(), before + 1, "drawn once: nothing was drawn in the last FRAME_MS");
  assert.match(t.screen().join("\n"), /notice 19/);
  t.ui.notice("one more");
  await t.clock.advance(10);
  assert.equal(t.renders(), before + 1, "not within FRAME_MS of the last frame");
  await t.clock.advance(FRAME_MS - 10);
  assert.equal(t.renders(), before + 2);
  assert.match(t.screen().join("\n"), /one more/);
  await t.ui.stop();
});

Deno.test("tui: a key is echoed at once, within FRAME_MS of the last frame too; keys read together are one frame", async () => {
  const t = await started();
  await t.clock.advance(100);
  t.ui.notice("a message arrives");
  await t.clock.advance(0);
  const before = t.renders();
  t.ui.notice("another, within FRAME_MS");
  t.press(text("h"), text("i"), text("!"));
  assert.equal(t.renders(), before, "drawn after the keys read together are handled");
  await t.clock.advance(0);
  assert.equal(t.renders(), before + 1, "not held back to FRAME_MS after the last frame");
  const screen = t.screen();
  assert.match(screen[23], /hi!/);
  assert.match(screen.join("\n"), /another, within FRAME_MS/, "what arrived comes with it");
  // what arrives next waits for FRAME_MS after that frame, and a key then cuts the wait short
  t.ui.notice("paced");
  await t.clock.advance(FRAME_MS / 2);
  assert.equal(t.renders(), before + 1);
  t.press(text("?"));
  await t.clock.advance(0);
  assert.equal(t.renders(), before + 2);
  assert.match(t.screen()[23], /hi!\?/);
  await t.clock.advance(FRAME_MS);
  assert.equal(t.renders(), before + 2, "nothing left to draw: no frame");
  await t.ui.stop();
});

Deno.test("tui: a direct message rings the bell, at most once a second; --no-bell never", async () => {
  const t = await started();
  const bells = () => t.writes.filter((w) => w === "\x07").length;
  t.ui.show([welcome, direct()]);
  assert.equal(bells(), 1);
  await t.clock.advance(500);
  t.ui.show([direct()]);
  assert.equal(bells(), 1, "within a second of the last");
  await t.clock.advance(500);
  t.ui.show([direct()]);
  assert.equal(bells(), 2);
  await t.ui.stop();

  const quiet = await started({ bell: false });
  quiet.ui.show([welcome, direct()]);
  assert.equal(quiet.writes.filter((w) => w === "\x07").length, 0);
  await quiet.ui.stop();
});

Deno.test("tui: the reconnect countdown goes down a second at each tick", async () => {
  const t = await started();
  t.ui.status({ state: "reconnecting", retryAt: t.clock.now() + 3_000, attempt: 1 });
  assert.match(await t.shown(), /reconnecting in 3 s/);
  await t.clock.advance(1_000);
  assert.match(t.screen().join("\n"), /reconnecting in 2 s/);
  await t.clock.advance(1_000);
  assert.match(t.screen().join("\n"), /reconnecting in 1 s/);
  await t.ui.stop();
});

Deno.test("tui: stopping on its own says the last words of the last 10 s; asked to leave, nothing", async () => {
  const said: string[] = [];
  const error = console.error;
  console.error = (line: string) => void said.push(line);
  try {
    const t = await started();
    t.ui.show([{ type: "error", code: "x", message: "an old error" }]);
    await t.clock.advance(10_001);
    t.ui.notice("the server is shutting down");
    t.ui.show([{ type: "goodbye", reason: "shutdown", message: "see you" }]);
    await t.ui.stop();
    assert.deepEqual(said, ["* the server is shutting down", "! see you"]);

    said.length = 0;
    const asked = await started();
    asked.ui.notice("bye for now");
    asked.ui.leaving();
    await asked.ui.stop();
    assert.deepEqual(said, []);
  } finally {
    console.error = error;
  }
});

Deno.test("tui: stopped, it leaves no timer behind and ignores keys", async () => {
  const t = await started();
  t.ui.notice("something to draw");
  await t.ui.stop();
  assert.equal(t.clock.pending, 0);
  const renders = t.renders();
  t.press(text("late"), key("enter"));
  await t.clock.advance(2_000);
  assert.equal(t.renders(), renders);
  assert.deepEqual(t.lines, []);
});

// ---- rooms and conversations (issue 14) ---------------------------------------------------------

const room = (name: string) => ({ name, topic: "", private: false, members: 2, online: 2 });
const inRooms: ClientEvent = { ...welcome, rooms: [room("#general"), room("#builds")] };
const alt = (d: string): Key => ({ kind: "key", name: `alt+${d}`, alt: true } as Key);

Deno.test("tui: Alt+2 and Ctrl+N/Ctrl+P switch views; what is typed goes to the room looked at", async () => {
  const t = await started();
  t.state.rooms.set("#builds", room("#builds"));
  t.ui.show([inRooms, said({ room: "#builds", text: "build 7 passed" })]);
  const list = (await t.shown()).split("\n").at(-3)!;
  assert.equal(list.trimEnd(), " [1:#general] 2:#builds(1)");
  t.press(alt("2"));
  const builds = await t.shown();
  assert.match(builds, /build 7 passed/);
  assert.match(builds, / 1:#general \[2:#builds\]/);
  assert.equal(t.state.room, "#builds", "plain text goes to the room looked at");
  t.press(key("ctrl+n"));
  assert.doesNotMatch(await t.shown(), /build 7 passed/);
  assert.equal(t.state.room, "#general");
  t.press(key("ctrl+p"));
  assert.match(await t.shown(), /build 7 passed/);
  t.press(text("/window 1"), key("enter"));
  assert.equal(t.state.room, "#general");
  assert.deepEqual(t.lines, [], "/window is the UI's own");
  await t.ui.stop();
});

Deno.test("tui: in a conversation what is typed goes to its person; /part closes it; /topic needs a room", async () => {
  const t = await started();
  t.ui.show([inRooms, direct()]);
  assert.match((await t.shown()).split("\n").at(-3)!, /3:@ann_0002\(1!\)/);
  t.press(alt("3"), text("hi ann"), key("enter"));
  t.press(text("/temp 5m gone soon"), key("enter"));
  t.press(text("@tom_0001 to me"), key("enter"), text("/who"), key("enter"));
  assert.deepEqual(t.lines, [
    "@ann_0002 hi ann",
    "/temp 300s @ann_0002 gone soon",
    "@tom_0001 to me",
    "/who",
  ]);
  assert.equal(t.state.room, "#general", "a conversation is no room");
  t.press(text("/topic hello"), key("enter"));
  assert.match(await t.shown(), /\/topic is about a room/);
  t.press(text("/part"), key("enter"));
  const back = await t.shown();
  assert.doesNotMatch(back, /@ann_0002/, "closed");
  assert.equal(t.lines.length, 4, "nothing sent");
  // /query opens one with someone online, by name
  t.state.users.set(ANN.id, ANN);
  t.press(text("/query @ann"), key("enter"), text("again"), key("enter"));
  assert.match(await t.shown(), /\[3:@ann_0002\]/);
  assert.equal(t.lines.at(-1), "@ann_0002 again");
  await t.ui.stop();
});

Deno.test("tui: counts, the marker and the list survive a resize", async () => {
  const t = await started();
  t.ui.show([inRooms, said({ room: "#builds", text: "one" })]);
  t.press(alt("2"), alt("1"));
  t.ui.show([said({ room: "#builds", text: "two" }), said({ room: "#builds", text: "three" })]);
  assert.match((await t.shown()).split("\n").at(-3)!, /2:#builds\(2\)/);
  t.resize(60, 20);
  const narrow = t.screen();
  assert.equal(narrow.length, 20);
  assert.match(narrow.at(-3)!, /2:#builds\(2\)/);
  t.press(alt("2"));
  const shown = await t.shown();
  assert.match(shown, /─ unread ─[\s\S]*two[\s\S]*three/);
  assert.doesNotMatch(shown.split("\n").at(-3)!, /\(2\)/, "read now");
  await t.ui.stop();
});
