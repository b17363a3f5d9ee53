// Unit tests for /history on the client side: the command's parse and request
// (src/client/commands.ts), what the state makes of the answer (src/client/state.ts), the line
// modes (src/ui/plain.ts), the full-screen model placing an older page in its room's view
// (src/ui/tui/model.ts) and the controller asking for a quiet room's history by itself
// (src/ui/tui/tui.ts). Pure, or on fakes: the time is a parameter or a fake clock.
//
// Run: deno test -A tests/backfill_test.ts

import assert from "node:assert/strict";
import {
  type CommandContext,
  DEFAULT_HISTORY_MESSAGES,
  type Intent,
  parseInput,
  perform,
} from "../src/client/commands.ts";
import type { Request } from "../src/client/client.ts";
import { type ClientEvent, ClientState, type Shown } from "../src/client/state.ts";
import {
  type ClientFrame,
  MAX_HISTORY_LIMIT,
  type Message,
  type ServerFrame,
} from "../src/protocol/schema.ts";
import { lineText } from "../src/ui/bubble.ts";
import { jsonEvent, loadTables, plainLines } from "../src/ui/plain.ts";
import type { Key } from "../src/ui/tui/keys.ts";
import { addHistory, applyEvents, initialModel, lookAt, type Model } from "../src/ui/tui/model.ts";
import { composeScreen, READ_MARKER } from "../src/ui/tui/screen.ts";
import type { Terminal } from "../src/ui/tui/terminal.ts";
import { tuiUi } from "../src/ui/tui/tui.ts";
import { notInRoom } from "../src/server/rooms.ts";
import { IgnoreList } from "../src/client/ignore.ts";
import { View } from "../src/client/view.ts";
import { FakeClock } from "./fake_clock.ts";
import { shownMaker } from "./fixtures.ts";

const ME = { id: "tom_1234", name: "tom" };
/** Noon, local time: a day either side is another day wherever the tests run. */
const NOW = new Date(2026, 11, 3, 12, 0, 0).getTime();
const DAY = 86_400_000;

/** A message; ids grow with each one made (not with `time`: a page made later is older). */
const msg = shownMaker(NOW);

// ---- the command ---------------------------------------------------------------------------

function usage(intent: Intent, pattern: RegExp): void {
  assert.equal(intent.kind, "usage");
  if (intent.kind === "usage") assert.match(intent.message, pattern);
}

Deno.test("parseInput: /history asks for 50 by default, N up to the schema's limit", () => {
  assert.deepEqual(parseInput("/history"), { kind: "history", limit: DEFAULT_HISTORY_MESSAGES });
  assert.equal(DEFAULT_HISTORY_MESSAGES, 50);
  assert.deepEqual(parseInput("/history 120"), { kind: "history", limit: 120 });
  assert.deepEqual(parseInput("/history  1 "), { kind: "history", limit: 1 });
  assert.deepEqual(parseInput(`/history ${MAX_HISTORY_LIMIT}`), {
    kind: "history",
    limit: MAX_HISTORY_LIMIT,
  });
  usage(parseInput(`/history ${MAX_HISTORY_LIMIT + 1}`), /1 to 200 messages/);
  usage(parseInput("/history 0"), /1 to 200 messages/);
  usage(parseInput("/history ten"), /usage: \/history \[N\]/);
  usage(parseInput("/history -5"), /usage: \/history \[N\]/);
  usage(parseInput("/history #builds"), /usage: \/history \[N\]/);
});

Deno.test("perform: /history asks for the room typed in, before the oldest message shown there", async () => {
  const asked: Request[] = [];
  const shown: { first?: string } = {};
  const context: CommandContext = {
    send: () => {},
    request: (request) => {
      asked.push(request);
      return Promise.resolve({ type: "results", ref: "r", total: 0, messages: [] });
    },
    resolveRef: () => undefined,
    here: () => "#builds",
    reconnectNow: () => "busy",
    notice: () => {},
    error: () => {},
    help: () => {},
    leave: () => {},
    oldest: (room) => (room === "#builds" ? shown.first : undefined),
  };
  await perform(parseInput("/history"), context);
  shown.first = "01JABCDEFGHJKMNPQRSTV00001";
  await perform(parseInput("/history 10"), context);
  assert.deepEqual(asked, [
    { type: "history", room: "#builds", limit: 50 },
    { type: "history", room: "#builds", limit: 10, before: "01JABCDEFGHJKMNPQRSTV00001" },
  ]);
});

// ---- the state -----------------------------------------------------------------------------

const frame = (m: Message): ServerFrame => ({ ...m, type: "message" });

Deno.test("state: the oldest message of each room shown, live or from history; results say what was asked", () => {
  const state = new ClientState();
  const [a, b, c] = [msg({ room: "#builds" }), msg({ room: "#builds" }), msg({ room: "#ops" })];
  state.apply(frame(b));
  state.apply(frame(a)); // came later, but is older
  state.apply(frame(c));
  state.apply(frame(msg({ to: [ME.id] }))); // direct: no room's
  assert.equal(state.oldest("#builds"), a.id);
  assert.equal(state.oldest("#ops"), c.id);
  assert.equal(state.oldest("#general"), undefined);

  const older = { ...msg({ room: "#builds", text: "older" }), id: "01JA0000000000000000000001" };
  const asked: ClientFrame = { type: "history", ref: "r1", room: "#builds", limit: 50 };
  const [history] = state.apply({ type: "results", ref: "r1", total: 1, messages: [older] }, asked);
  assert.equal(history.type, "results");
  if (history.type !== "results") return;
  assert.equal(history.history, true);
  assert.equal(history.room, "#builds");
  assert.equal(history.pattern, undefined);
  assert.ok(history.messages[0].ref, "a ref /reply takes");
  assert.equal(state.oldest("#builds"), older.id, "the next /history goes further back");
  assert.equal(state.resolveRef(history.messages[0].ref)?.id, older.id);

  const search: ClientFrame = { type: "search", ref: "r2", pattern: "old" };
  const [found] = state.apply({ type: "results", ref: "r2", total: 1, messages: [older] }, search);
  assert.deepEqual(
    found.type === "results" ? [found.pattern, found.history, found.room] : [],
    ["old", undefined, undefined],
  );
  // search results are not shown in their room: they move nothing
  const far = { ...msg({ room: "#ops" }), id: "01J00000000000000000000001" };
  state.apply({ type: "results", ref: "r3", total: 1, messages: [far] }, { ...search, ref: "r3" });
  assert.equal(state.oldest("#ops"), c.id);
});

// ---- line modes ----------------------------------------------------------------------------

Deno.test("plain: a page of history is its messages as lines, oldest first, under a line saying so", async () => {
  await loadTables(); // as a line mode does before it shows anything
  const t1 = new Date(2026, 11, 2, 9, 5, 7).getTime();
  const first = msg({ room: "#builds", text: "build 1 failed", time: t1 });
  const second = msg({ room: "#builds", text: "build 2 passed", time: t1 + 60_000 });
  const event: ClientEvent = {
    type: "results",
    total: 2,
    messages: [second, first],
    history: true,
    room: "#builds",
  };
  assert.deepEqual(plainLines(event, "#builds"), [
    "* 2 earlier messages of #builds:",
    `#${first.ref} 09:05:07 ann_0001: build 1 failed`,
    `#${second.ref} 09:06:07 ann_0001: build 2 passed`,
  ]);
  // typed in another room, each says where it is from
  assert.match(plainLines(event, "#general")[1], /ann_0001 in #builds: build 1 failed$/);
  assert.deepEqual(plainLines({ ...event, messages: [], total: 0 }), [
    "* no earlier messages in #builds",
  ]);
  // --json: the results event as before
  assert.deepEqual(Object.keys(jsonEvent(event, () => [])!), ["type", "total", "messages"]);
  // a search's results stay a table
  const search: ClientEvent = { type: "results", total: 1, messages: [first], pattern: "build" };
  assert.match(plainLines(search)[0], /^\* 1 result$/);
});

// ---- the full-screen model -----------------------------------------------------------------

const screen = (model: Model, rows = 40) =>
  composeScreen(model, { cols: 80, rows, now: NOW, server: "h:1", online: 3 }).lines.map(
    lineText,
  );
const texts = (model: Model) =>
  model.items.flatMap((i) => (i.kind === "message" ? [i.message.text] : []));
const ev = (message: Shown): ClientEvent => ({ type: "message", message });
const page = (room: string, messages: Shown[]): ClientEvent => ({
  type: "results",
  total: messages.length,
  messages,
  history: true,
  room,
});

function inRooms(): Model {
  const rooms = ["#general", "#builds"].map((name) => ({
    name,
    topic: "",
    private: false,
    members: 3,
    online: 2,
  }));
  const welcome: ClientEvent = { type: "welcome", you: ME, users: [ME], online: 3, rooms };
  return applyEvents(initialModel(), [welcome]).model;
}

Deno.test("model: an older page goes before what its room's view shows, in time order, once, not as news", () => {
  let model = lookAt(inRooms(), "#builds");
  const seen = msg({ room: "#builds", text: "read today", time: NOW - 60_000 });
  model = applyEvents(model, [ev(seen)]).model;
  model = lookAt(model, "#general");
  const fresh = msg({ room: "#builds", text: "new today", time: NOW });
  model = applyEvents(model, [ev(fresh)]).model;
  const unread = model.views.find((v) => v.key === "#builds")!.unread;
  assert.equal(unread, 1);

  // the page comes while #general is looked at: it goes to #builds, not the search panel
  const y1 = msg({ room: "#builds", text: "yesterday 1", time: NOW - DAY });
  const y2 = msg({ room: "#builds", text: "yesterday 2", time: NOW - DAY + 60_000 });
  const d2 = msg({ room: "#builds", text: "two days ago", time: NOW - 2 * DAY });
  model = applyEvents(model, [page("#builds", [d2, y1, y2, seen])]).model;
  assert.equal(model.panel, undefined);
  assert.deepEqual(texts(model), [], "#general shows none of it");
  const builds = model.views.find((v) => v.key === "#builds")!;
  assert.equal(builds.unread, unread, "not news");
  assert.equal(builds.highlights, 0);

  model = lookAt(model, "#builds");
  assert.deepEqual(texts(model), [
    "two days ago",
    "yesterday 1",
    "yesterday 2",
    "read today",
    "new today",
  ]);
  assert.equal(model.unseen, 0);
  const lines = screen(model, 60);
  const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
  // a day line above each day's first message, the read marker above the first unread one
  assert.ok(at(/Tuesday 1 December 2026/) < at(/two days ago/), lines.join("\n"));
  assert.ok(at(/two days ago/) < at(/Wednesday 2 December 2026/));
  assert.ok(at(/Wednesday 2 December 2026/) < at(/yesterday 1/));
  assert.ok(at(/yesterday 2/) < at(/Thursday 3 December 2026/));
  assert.ok(at(/Thursday 3 December 2026/) < at(/read today/));
  assert.ok(at(/read today/) < at(new RegExp(`─ ${READ_MARKER} ─`)));
  assert.ok(at(new RegExp(`─ ${READ_MARKER} ─`)) < at(/new today/));

  // the same page again, and one further back with one the view has: each shown once
  const older = msg({ room: "#builds", text: "last week", time: NOW - 7 * DAY });
  model = applyEvents(model, [page("#builds", [older, d2]), page("#builds", [d2, y1])]).model;
  assert.deepEqual(texts(model), [
    "last week",
    "two days ago",
    "yesterday 1",
    "yesterday 2",
    "read today",
    "new today",
  ]);
  // asked in a view with messages: the pane moves up to the first of the page
  assert.equal(model.anchor?.key, older.id);
  // a live message after that still goes last
  model = applyEvents(model, [ev(msg({ room: "#builds", text: "later", time: NOW + 1 }))]).model;
  assert.equal(texts(model).at(-1), "later");
});

Deno.test("model: an empty page says there is nothing earlier; a page of a view gone is dropped", () => {
  let model = lookAt(inRooms(), "#builds");
  model = applyEvents(model, [page("#builds", [])]).model;
  assert.ok(screen(model).some((l) => l.includes("no earlier messages in #builds")));
  assert.equal(model.anchor, undefined);
  const before = inRooms();
  assert.equal(addHistory(before, "#gone", [msg({ room: "#gone" })]), before);
  // a quiet room's first page: its messages, the pane following the bottom
  model = applyEvents(lookAt(inRooms(), "#builds"), [
    page("#builds", [msg({ room: "#builds", text: "a while ago", time: NOW - 3_600_000 })]),
  ]).model;
  assert.deepEqual(texts(model), ["a while ago"]);
  assert.equal(model.anchor, undefined);
  assert.match(screen(model).join("\n"), /a while ago/);
});

// ---- the controller ------------------------------------------------------------------------

Deno.test("tui: looking at a room that shows no messages asks for its history once; in a conversation /history is refused", async () => {
  const clock = new FakeClock();
  const writes: string[] = [];
  const lines: string[] = [];
  let onKey: ((key: Key) => void) | undefined;
  const terminal: Terminal = {
    cols: 80,
    rows: 24,
    open: true,
    write: (text) => void writes.push(text),
    restore: () => {},
  };
  const state = new ClientState();
  const ui = tuiUi({ state, server: "h:1", bell: false, color: false }, {
    clock,
    openTerminal(h) {
      onKey = h.onKey;
      return terminal;
    },
    exit: () => {},
  });
  const histories: string[] = [];
  ui.start({
    onLine: (line) => void lines.push(line),
    onEnd: () => {},
    onHistory: () => void histories.push(state.room),
  });
  await clock.advance(0);
  const rooms = ["#general", "#builds", "#ops"].map((name) => ({
    name,
    topic: "",
    private: false,
    members: 2,
    online: 2,
  }));
  ui.show([
    { type: "welcome", you: ME, users: [ME], online: 2, rooms },
    ev(msg({ room: "#ops", text: "ops talk" })),
    // (a live direct message shows in the view on screen too: this one is from the backlog)
    ev(msg({ from: "ann_0001", to: [ME.id], text: "psst", replay: true })),
  ]);
  assert.deepEqual(histories, [], "not on joining");
  const alt = (d: string): Key => ({ kind: "key", name: `alt+${d}`, alt: true } as Key);
  onKey!(alt("2"));
  assert.deepEqual(histories, ["#builds"], "asked for the room now typed in");
  onKey!(alt("3"));
  assert.deepEqual(histories, ["#builds"], "#ops shows a message already");
  onKey!(alt("1"));
  assert.deepEqual(histories, ["#builds", "#general"]);
  onKey!(alt("2"));
  assert.deepEqual(histories, ["#builds", "#general"], "once per room");
  // the conversation's view: /history is about rooms
  onKey!(alt("4"));
  for (const char of "/history") onKey!({ kind: "text", text: char } as Key);
  onKey!({ kind: "key", name: "enter" } as Key);
  await clock.advance(100);
  assert.deepEqual(lines, [], "nothing sent");
  const painted = () =>
    // deno-lint-ignore no-control-regex -- the text painted, without its sequences
    writes.join("").replace(/\x1b\[[?0-9;]*[A-Za-z]|\x1b\]8;;[^\x07]*\x07/g, "");
  assert.match(painted(), /\/history is about a room/);
  // the answer to what it asked by itself: empty, it says nothing; the next (asked for) does
  onKey!(alt("2"));
  ui.show([page("#builds", [])]);
  await clock.advance(100);
  assert.doesNotMatch(painted(), /no earlier messages in #builds/);
  ui.show([page("#builds", [])]);
  await clock.advance(100);
  assert.match(painted(), /no earlier messages in #builds/);
  await ui.stop();
});

Deno.test("plain: /history about a room one is not in shows the server's own sentence", () => {
  const state = new ClientState();
  const asked: ClientFrame = { type: "history", ref: "r1", room: "#vault", limit: 50 };
  const refused: ServerFrame = {
    type: "error",
    ref: "r1",
    code: "not_found",
    message: notInRoom("#vault"),
  };
  const events = state.apply(refused, asked);
  assert.deepEqual(events.flatMap((e) => plainLines(e, "#vault")), ["! you are not in #vault"]);
});

Deno.test("view: a page of /history leaves out people ignored, as live messages do; --json keeps all", () => {
  const mal = msg({ from: "mal_0001", room: "#builds", text: "spam" });
  const ann = msg({ room: "#builds", text: "build 3 passed" });
  const event: ClientEvent = { type: "results", total: 2, messages: [mal, ann], history: true };
  const view = (everything: boolean) =>
    new View({
      ignores: new IgnoreList(["Mal_0001"]),
      here: () => "#builds",
      now: () => NOW,
      everything,
    });
  const shown = view(false).filter([event]);
  assert.deepEqual(shown.flatMap((e) => e.type === "results" ? e.messages : []), [ann]);
  assert.deepEqual(view(true).filter([event]), [event]);
  // a search's results are what was searched for: as they were
  const search: ClientEvent = { type: "results", total: 2, messages: [mal, ann], pattern: "." };
  assert.deepEqual(view(false).filter([search]), [search]);
});
