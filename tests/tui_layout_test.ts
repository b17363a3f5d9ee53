// Unit tests for the full-screen UI's layout: the pane (src/ui/tui/layout.ts), the model
// (src/ui/tui/model.ts), the composed screen at given sizes (src/ui/tui/screen.ts) and frame
// painting (src/ui/tui/paint.ts).
//
// Run: deno test -A tests/tui_layout_test.ts

import assert from "node:assert/strict";
import type { ClientEvent, Shown } from "../src/client/state.ts";
import { lineText, type StyledLine, textWidth } from "../src/ui/bubble.ts";
import { type Anchor, arraySource, layoutPane, scrollPane } from "../src/ui/tui/layout.ts";
import {
  addMessage,
  addNotice,
  applyEvents,
  applyStatus,
  initialModel,
  MAX_ITEMS,
  type Model,
  pressCtrlC,
  QUIT_HINT,
  removeItem,
} from "../src/ui/tui/model.ts";
import { KEY_BINDINGS, QUIT_CONFIRM_MS } from "../src/ui/keymap.ts";
import {
  composeScreen,
  itemLines,
  KEY_HINTS,
  paneHeight,
  panelScrollMax,
  RETRY_HINT,
  type ScreenContext,
} from "../src/ui/tui/screen.ts";
import { paintFrame, RowWriter, styledText } from "../src/ui/tui/paint.ts";
import { safeEvent, safeText } from "../src/ui/safe.ts";
import { ENTER_SEQUENCE, LEAVE_SEQUENCE } from "../src/ui/tui/terminal.ts";
import { sgrFor, styleFor } from "../src/ui/tui/style.ts";
import type { Role } from "../src/ui/bubble.ts";

// ---- the pane ----------------------------------------------------------------------------------

/** Blocks a..: block i has `sizes[i]` lines reading "<key><line>". */
function blocks(sizes: number[]) {
  return sizes.map((n, i) => {
    const key = String.fromCharCode(97 + i);
    return {
      key,
      lines: Array.from(
        { length: n },
        (_, l): StyledLine => [{ text: `${key}${l}`, role: "text" }],
      ),
    };
  });
}

const rows = (lines: StyledLine[]) => lines.map(lineText);

Deno.test("pane: following, fewer lines than rows sit at the bottom", () => {
  const view = layoutPane(arraySource(blocks([2, 1])), 5, undefined);
  assert.deepEqual(rows(view.rows), ["", "", "a0", "a1", "b0"]);
  assert.equal(view.anchor, undefined);
  assert.equal(view.above, false);
  assert.equal(view.below, false);
});

Deno.test("pane: following shows the newest lines, and says there is more above", () => {
  const view = layoutPane(arraySource(blocks([3, 3, 2])), 4, undefined);
  assert.deepEqual(rows(view.rows), ["b1", "b2", "c0", "c1"]);
  assert.ok(view.above);
  assert.ok(!view.below);
});

Deno.test("pane: anchored, new items below do not move the view", () => {
  const anchor: Anchor = { key: "a", line: 1 };
  const before = layoutPane(arraySource(blocks([3, 3, 2])), 3, anchor);
  assert.deepEqual(rows(before.rows), ["a1", "a2", "b0"]);
  assert.deepEqual(before.anchor, anchor);
  assert.ok(before.above && before.below);
  const after = layoutPane(arraySource(blocks([3, 3, 2, 5, 5])), 3, anchor);
  assert.deepEqual(rows(after.rows), rows(before.rows));
});

Deno.test("pane: an anchor within a page of the bottom goes back to following", () => {
  const view = layoutPane(arraySource(blocks([3, 3])), 4, { key: "b", line: 0 });
  assert.equal(view.anchor, undefined);
  assert.deepEqual(rows(view.rows), ["a1", "a2", "b0", "b1", "b2"].slice(1));
});

Deno.test("pane: scrolling up and down by lines, clamped at the top, following at the bottom", () => {
  const source = arraySource(blocks([4, 4, 4]));
  const up = scrollPane(source, 4, undefined, -3);
  assert.deepEqual(up, { key: "b", line: 1 });
  assert.deepEqual(rows(layoutPane(source, 4, up).rows), ["b1", "b2", "b3", "c0"]);
  const top = scrollPane(source, 4, up, -100);
  assert.deepEqual(top, { key: "a", line: 0 });
  const down = scrollPane(source, 4, top, 5);
  assert.deepEqual(down, { key: "b", line: 1 });
  assert.equal(scrollPane(source, 4, down, 3), undefined); // the bottom: follow again
  // nothing to scroll when everything fits
  assert.equal(scrollPane(arraySource(blocks([1, 1])), 4, undefined, -1), undefined);
});

Deno.test("pane: the same anchor after a resize (items re-wrapped to other heights)", () => {
  const anchor = { key: "b", line: 5 };
  const narrow = layoutPane(arraySource(blocks([6, 8, 6, 6])), 3, anchor);
  assert.deepEqual(rows(narrow.rows), ["b5", "b6", "b7"]);
  const wide = layoutPane(arraySource(blocks([3, 4, 3, 3])), 3, anchor);
  assert.equal(lineText(wide.rows[0]), "b3"); // clamped into the shorter item
});

// ---- the model ---------------------------------------------------------------------------------

const ME = { id: "tom_1234", name: "tom" };
const NOW = Date.UTC(2026, 0, 2, 10, 0, 0);
let counter = 0;

function msg(over: Partial<Shown> = {}): Shown {
  const n = String(++counter).padStart(4, "0");
  return {
    type: "message",
    id: `01JABCDEFGHJKMNPQRSTVW${n}`,
    ref: `w${n}`,
    from: "alice_1111",
    text: `message ${n}`,
    time: NOW,
    ...over,
  };
}

function modelWith(...messages: Shown[]): Model {
  let model: Model = { ...initialModel(), me: ME };
  for (const m of messages) model = addMessage(model, m);
  return model;
}

Deno.test("model: messages in, deletions and expiries take the bubble away in place", () => {
  const [a, b, c] = [msg(), msg(), msg()];
  let model = modelWith(a, b, c);
  model = applyEvents(model, [{ type: "deleted", id: b.id, ref: b.ref, reason: "deleted" }]).model;
  assert.deepEqual(model.items.map((i) => i.key), [a.id, c.id]);
  model = applyEvents(model, [{ type: "deleted", id: c.id, ref: c.ref, reason: "expired" }]).model;
  assert.deepEqual(model.items.map((i) => i.key), [a.id]);
  // a message already shown is not shown twice
  assert.equal(addMessage(model, a).items.length, 1);
});

Deno.test("model: a message is shown once, whichever model it is added to (the ids it keeps are right for each)", () => {
  const [a, b, c] = [msg(), msg(), msg()];
  const ab = modelWith(a, b);
  const abc = addMessage(ab, c);
  // the older model, still in use (a parked view), has no c yet and still has a and b
  assert.deepEqual(addMessage(ab, c).items.map((i) => i.key), [a.id, b.id, c.id]);
  assert.equal(addMessage(ab, a), ab);
  assert.equal(addMessage(abc, c), abc);
  // after a removal or /clear, what went may come back, what stayed may not come twice
  const noB = removeItem(abc, b.id);
  assert.deepEqual(addMessage(addMessage(noB, b), a).items.map((i) => i.key), [a.id, c.id, b.id]);
  assert.deepEqual(addMessage({ ...abc, items: [] }, a).items.map((i) => i.key), [a.id]);
  // past MAX_ITEMS the oldest go, and may be shown again if they come again; the others may not
  const many = Array.from({ length: MAX_ITEMS + 5 }, () => msg());
  let model = modelWith(...many);
  assert.equal(model.items.length, MAX_ITEMS);
  assert.equal(model.items[0].key, many[5].id);
  assert.equal(addMessage(model, many[5]), model);
  assert.equal(addMessage(model, many.at(-1)!), model);
  model = addMessage(model, many[0]);
  assert.equal(model.items.at(-1)!.key, many[0].id);
  assert.equal(model.items[0].key, many[6].id);
  // notices between messages do not upset it
  model = addMessage(addNotice(model, "hello"), many[0]);
  assert.equal(model.items.at(-1)!.kind, "notice");
});

Deno.test("model: an anchor on a deleted item moves to the next one", () => {
  const [a, b, c] = [msg(), msg(), msg()];
  const model = { ...modelWith(a, b, c), anchor: { key: b.id, line: 2 } };
  assert.deepEqual(removeItem(model, b.id).anchor, { key: c.id, line: 0 });
  const last = { ...modelWith(a, b), anchor: { key: b.id, line: 0 } };
  assert.deepEqual(removeItem(last, b.id).anchor, { key: a.id, line: 0 });
});

Deno.test("model: new messages while scrolled up are counted; mine are not", () => {
  let model: Model = { ...modelWith(msg()), anchor: { key: "x", line: 0 } };
  model = addMessage(model, msg());
  model = addMessage(model, msg({ from: ME.id }));
  assert.equal(model.unseen, 1);
  assert.equal(addMessage(modelWith(), msg()).unseen, 0);
});

Deno.test("model: a deletion leaves the replies to it quoting a deleted message", () => {
  const original = msg({ text: "the question" });
  const reply = msg({
    text: "the answer",
    replyTo: original.id,
    quote: { from: original.from, text: original.text },
  });
  const other = msg();
  let model = modelWith(original, reply, other);
  model = applyEvents(model, [{ type: "deleted", id: original.id, reason: "deleted" }]).model;
  const shown = model.items.flatMap((i) => (i.kind === "message" ? [i.message] : []));
  assert.deepEqual(shown.map((m) => m.id), [reply.id, other.id]);
  assert.deepEqual(shown[0].quote, { deleted: true });
  assert.deepEqual(reply.quote, { from: original.from, text: original.text }, "a copy changed");
  assert.equal(shown[1], other);
});

Deno.test("model: the bell rings for a live direct message or a mention, not for replays or mine", () => {
  const bell = (m: Shown) => applyEvents(modelWith(), [{ type: "message", message: m }]).bell;
  assert.ok(bell(msg({ to: [ME.id] })));
  assert.ok(bell(msg({ text: "ping @tom" })));
  assert.ok(!bell(msg({ text: "nothing for you" })));
  assert.ok(!bell(msg({ to: [ME.id], replay: true })));
  assert.ok(!bell(msg({ from: ME.id, text: "tom here" })));
});

Deno.test("model: search results and the online list open a panel; a deletion leaves results too", () => {
  const [a, b] = [msg(), msg()];
  let model = applyEvents(modelWith(), [{
    type: "results",
    total: 2,
    messages: [a, b],
    pattern: "mess",
  }]).model;
  assert.equal(model.panel?.kind, "results");
  model = applyEvents(model, [{ type: "deleted", id: a.id, reason: "deleted" }]).model;
  assert.ok(model.panel?.kind === "results" && model.panel.messages.length === 1);
  const users = [{ id: ME.id, name: "tom" }, { id: "alice_1111", name: "alice" }];
  model = applyEvents(model, [{ type: "users", users, online: users.length }]).model;
  assert.deepEqual(model.panel, { kind: "who", users, online: users.length, scroll: 0 });
});

Deno.test("model: notices are made safe, whoever wrote their text", () => {
  const evil = "bye\x1b]0;pwned\x07 now\x1b[2J\u202e";
  // as the UI gets them: through the boundary (ui/safe.ts)
  let model = addNotice(modelWith(), safeText(`disconnected: ${evil}`), "error");
  model = applyEvents(model, [safeEvent({ type: "goodbye", reason: "x", message: evil })]).model;
  model = applyEvents(model, [safeEvent({ type: "error", code: "x", message: evil })]).model;
  const texts = model.items.flatMap((i) => (i.kind === "notice" ? [i.text] : []));
  assert.equal(texts.length, 3);
  for (const text of texts) {
    // deno-lint-ignore no-control-regex -- looking for control characters is the point
    assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/, JSON.stringify(text));
    assert.match(text, /bye now/);
  }
});

Deno.test("model: a large room counts everyone online, not the first users it was sent", () => {
  const users = Array.from({ length: 5 }, (_, i) => ({ id: `u${i}_0000`, name: `u${i}` }));
  let model = applyEvents({ ...initialModel() }, [
    { type: "welcome", you: users[0], users, online: 1500 },
  ]).model;
  const welcome = model.items.find((i) => i.kind === "notice");
  assert.ok(welcome?.kind === "notice" && welcome.text.includes("1500 online"), welcome?.text);
  model = applyEvents(model, [{ type: "users", users, online: 1500 }]).model;
  const screen = composeScreen(model, ctx(80, 24));
  const heading = screen.lines.map(lineText).find((l) => l.includes("Online ("));
  assert.match(heading ?? "", /Online \(1500, first 5 shown\)/);
});

Deno.test('screen: the whole online list scrolls into view, "(you)" included', () => {
  // 41 names: "(you)" widens every cell, so fewer fit a row and the list has more rows
  const users = Array.from({ length: 41 }, (_, i) => ({
    id: `user${String(i).padStart(2, "0")}_${1000 + i}`,
    name: `user${i}`,
  }));
  const me = users[0];
  const model: Model = {
    ...initialModel(),
    me,
    panel: { kind: "who", users, online: users.length, scroll: 0 },
  };
  const [cols, rows] = [90, 24];
  const max = panelScrollMax(model.panel!, cols, rows, me);
  const scrolled = { ...model, panel: { ...model.panel!, scroll: max } } as Model;
  const shown = composeScreen(scrolled, ctx(cols, rows)).lines.map(lineText).join("\n");
  // the last name in sorted order is on screen at the end of the scroll
  assert.match(shown, /user40_1040/);
});

Deno.test("model: items are bounded", () => {
  let model = modelWith();
  for (let i = 0; i < MAX_ITEMS + 10; i++) model = addNotice(model, `n${i}`);
  assert.equal(model.items.length, MAX_ITEMS);
});

// ---- the screen at given sizes -----------------------------------------------------------------

function ctx(cols: number, rowsCount: number): ScreenContext {
  return { cols, rows: rowsCount, now: NOW, server: "127.0.0.1:7777", online: 3 };
}

function busyModel(): Model {
  let model = modelWith();
  const events: ClientEvent[] = [
    {
      type: "welcome",
      you: { id: ME.id, name: "tom" },
      users: [{ id: ME.id, name: "tom" }],
      online: 1,
    },
  ];
  model = applyEvents(model, events).model;
  for (let i = 0; i < 30; i++) {
    model = addMessage(
      model,
      msg({
        from: i % 3 === 0 ? ME.id : "alice_1111",
        text: i % 5 === 0 ? "a longer message ".repeat(8) : `short ${i} 日本語 👩‍👩‍👧`,
        to: i % 7 === 0 ? [ME.id] : undefined,
        expiresAt: i % 4 === 0 ? NOW + 30_000 : undefined,
      }),
    );
  }
  return model;
}

function plain(model: Model, cols: number, rowsCount: number) {
  const screen = composeScreen(model, ctx(cols, rowsCount));
  return { screen, text: screen.lines.map(lineText) };
}

Deno.test("screen: exactly the terminal's rows, none wider than its columns, at many sizes", () => {
  const model = busyModel();
  for (
    const [cols, rowsCount] of [
      [80, 24],
      [200, 60],
      [100, 30],
      [40, 12],
      [20, 6],
      [12, 3],
      [7, 2],
      [5, 1],
    ]
  ) {
    const { screen, text } = plain(model, cols, rowsCount);
    assert.equal(text.length, rowsCount, `${cols}x${rowsCount}`);
    for (const line of text) assert.ok(textWidth(line) <= cols, `${cols}x${rowsCount}: ${line}`);
    assert.equal(screen.cursor.y, rowsCount - 1);
    assert.ok(screen.cursor.x < cols);
    assert.ok(text[rowsCount - 1].startsWith("›"));
    if (rowsCount > 1) {
      // narrow: fields are dropped whole (the state last), never cut in the middle of a word
      if (cols >= 12) assert.match(text[rowsCount - 2], cols >= 40 ? /tom_1234/ : /connected/);
      if (cols >= 12) assert.ok(!text[rowsCount - 2].includes("…"), text[rowsCount - 2]);
    }
  }
});

Deno.test("screen: status line has my id, the server, who is online and the connection", () => {
  const { text } = plain(busyModel(), 100, 30);
  assert.match(text[28], /^ tom_1234 · 127\.0\.0\.1:7777 · 3 online · connected /);
  const reconnecting: Model = {
    ...busyModel(),
    status: { state: "reconnecting", retryAt: NOW + 4_200, attempt: 2 },
  };
  assert.match(plain(reconnecting, 100, 30).text[28], /reconnecting in 5 s/);
});

Deno.test("screen: scrolled up shows a 'new messages below' marker on the pane's last row", () => {
  const model = busyModel();
  const height = paneHeight(model, 80, 24);
  const anchor = { key: model.items[3].key, line: 0 };
  const scrolled = { ...model, anchor, unseen: 2 };
  const { text } = plain(scrolled, 80, 24);
  assert.match(text[height - 1], /─ 2 new messages below · PgDn · Esc jumps ─/);
  assert.equal(textWidth(text[height - 1]), 80);
  // following: the newest bubble's line is right above the status line
  const { text: following } = plain(model, 80, 24);
  assert.match(following[height - 1], /#w\d+/);
});

Deno.test("screen: a panel for search results sits above the status line, closable", () => {
  const model = busyModel();
  const results = applyEvents(model, [{
    type: "results",
    total: 60,
    messages: model.items.flatMap((i) => (i.kind === "message" ? [i.message] : [])).slice(0, 20),
    pattern: "short",
  }]).model;
  const { text, screen } = plain(results, 80, 24);
  assert.ok(screen.panel);
  assert.match(text[screen.panel.top], /Search for short: 60 results, newest 20 shown/);
  assert.match(text[screen.panel.top + 1], /^ #w\d+ /);
  assert.ok(screen.panel.height <= Math.floor(22 * 0.4));
  const closed = plain({ ...results, panel: undefined }, 80, 24);
  assert.equal(closed.screen.panel, undefined);
});

const SESSIONS = [
  {
    id: "s-laptop",
    current: false,
    createdAt: NOW - 86_400_000,
    lastSeenAt: NOW - 3_600_000,
    address: "10.0.0.2",
  },
  { id: "s-here", current: true, createdAt: NOW - 60_000, lastSeenAt: NOW, address: "127.0.0.1" },
];

Deno.test("model and screen: /sessions opens a panel listing them, this device first", () => {
  const model = applyEvents(busyModel(), [
    { type: "sessions", sessions: SESSIONS, loggedOutOthers: false },
  ]).model;
  assert.deepEqual(model.panel, {
    kind: "sessions",
    sessions: SESSIONS,
    loggedOutOthers: false,
    scroll: 0,
  });
  const { text, screen } = plain(model, 120, 24);
  assert.ok(screen.panel);
  assert.match(
    text[screen.panel.top],
    /^ Your sessions \(2\); \/logout-others signs out .*Esc closes/,
  );
  assert.match(
    text[screen.panel.top + 1],
    /^ \[s-here\] created .* from 127\.0\.0\.1 · this device/,
  );
  assert.match(
    text[screen.panel.top + 2],
    /^ \[s-laptop\] created .* last seen .* from 10\.0\.0\.2$/,
  );
  // narrow: cut to fit, never wider
  for (const line of plain(model, 30, 12).text) assert.ok(textWidth(line) <= 30, line);
});

Deno.test("model: /logout-others leaves a notice and the list of what is left", () => {
  const model = applyEvents(busyModel(), [
    { type: "sessions", sessions: [SESSIONS[1]], loggedOutOthers: true },
  ]).model;
  const last = model.items.at(-1);
  assert.ok(last?.kind === "notice" && /signed out every other session/.test(last.text));
  const { text, screen } = plain(model, 120, 24);
  assert.match(text[screen.panel!.top], /^ Signed out every other session; 1 left · Esc closes/);
});

Deno.test("screen: a hostile server's session fields are made safe in the panel", () => {
  const evil = { ...SESSIONS[0], id: "e\x1b]0;pwned\x07\u202e", address: "1.2.3.4\x1b[2J\x9b31m" };
  const model = applyEvents(busyModel(), [
    safeEvent({ type: "sessions", sessions: [evil], loggedOutOthers: false }), // ui/safe.ts
  ]).model;
  const shown = plain(model, 120, 24).text.join("\n");
  // deno-lint-ignore no-control-regex -- looking for control characters is the point
  assert.doesNotMatch(shown, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
  assert.ok(!shown.includes("pwned"));
  assert.match(shown, /\[e\] created .* from 1\.2\.3\.4/);
});

Deno.test("model: a reconnect that fails says why in the pane, once for a run of the same reason", () => {
  const why = "cannot connect to h:1: the server closed the connection during the TLS handshake";
  const notices = (m: Model) => m.items.filter((i) => i.kind === "notice" && i.text.includes(why));
  let model = applyStatus(busyModel(), { state: "reconnecting", retryAt: NOW, attempt: 1 });
  assert.equal(notices(model).length, 0, "right after the drop there is no reason yet");
  model = applyStatus(model, { state: "reconnecting", retryAt: NOW, attempt: 2, reason: why });
  model = applyStatus(model, { state: "reconnecting", retryAt: NOW, attempt: 3, reason: why });
  assert.equal(notices(model).length, 1);
  assert.equal(model.status.state === "reconnecting" && model.status.attempt, 3);
  model = applyStatus(model, { state: "connected" });
  model = applyStatus(model, { state: "reconnecting", retryAt: NOW, attempt: 1 });
  model = applyStatus(model, { state: "reconnecting", retryAt: NOW, attempt: 2, reason: why });
  assert.equal(notices(model).length, 2, "a later outage says it again");
});

Deno.test("screen: reflows when the size changes (bubble widths follow the columns)", () => {
  const model = modelWith(msg({ text: "word ".repeat(60).trim() }));
  const widest = (cols: number) =>
    Math.max(...plain(model, cols, 40).text.filter((l) => l.includes("╭")).map(textWidth));
  assert.ok(widest(200) > widest(80));
  assert.ok(widest(80) > widest(40));
  assert.ok(widest(40) <= 40);
});

// ---- painting ----------------------------------------------------------------------------------

Deno.test("paint: a first frame clears and draws; later ones rewrite only the rows that changed", () => {
  const first = paintFrame(undefined, ["a", "b", "c"], 3, { x: 2, y: 2 });
  assert.ok(first.includes("\x1b[2J"));
  for (const row of [1, 2, 3]) assert.ok(first.includes(`\x1b[${row};1H`));
  assert.ok(first.endsWith("\x1b[3;3H\x1b[?25h\x1b[?2026l"));
  const next = paintFrame(["a", "b", "c"], ["a", "B", "c"], 3, { x: 0, y: 2 });
  assert.ok(!next.includes("\x1b[2J"));
  const rewrite = (row: number) => `\x1b[${row};1H\x1b[0m\x1b[2K`;
  assert.ok(next.includes(`${rewrite(2)}B`));
  assert.ok(!next.includes(rewrite(1)) && !next.includes(rewrite(3)));
});

Deno.test("style: without colour no role has a colour (only bold, underline, inverse)", () => {
  // every role: a Record, so the type checker says when a new one is missing here
  const every: Record<Role, true> = {
    text: true,
    border: true,
    mine: true,
    quote: true,
    sender: true,
    meta: true,
    direct: true,
    ref: true,
    temp: true,
    mention: true,
    notice: true,
    presence: true,
    error: true,
    marker: true,
    panel: true,
    heading: true,
    status: true,
    statusGood: true,
    statusBad: true,
    input: true,
    hint: true,
    link: true,
    hotCurrent: true,
    hotActive: true,
    hotHighlight: true,
    nick0: true,
    nick1: true,
    nick2: true,
    nick3: true,
    nick4: true,
    nick5: true,
  };
  const roles = Object.keys(every) as Role[];
  for (const role of roles) {
    const style = styleFor(role, false);
    assert.equal(style.color, undefined, role);
    assert.equal(style.backgroundColor, undefined, role);
    assert.equal(style.dimColor, undefined, role);
  }
  assert.equal(styleFor("border", true).color, "cyan");
});

Deno.test("styled rows: each role's SGR, a reset between runs and after the last", () => {
  assert.equal(sgrFor("border", true), "36");
  assert.equal(sgrFor("sender", true), "1;36");
  assert.equal(sgrFor("heading", true), "30;44");
  assert.equal(sgrFor("statusBad", true), "1;7;31");
  assert.equal(sgrFor("text", true), "");
  const line: StyledLine = [
    { text: "│ ", role: "border" },
    { text: "hi ", role: "text" },
    { text: "ann", role: "sender" },
    { text: " there", role: "sender" },
  ];
  assert.equal(
    styledText(line, true, 80),
    "\x1b[0;36m│ \x1b[0mhi \x1b[0;1;36mann there\x1b[0m",
  );
  assert.equal(styledText([{ text: "plain", role: "text" }], true, 80), "plain");
});

Deno.test("styled rows: without colour only bold, underline and inverse are written", () => {
  const line: StyledLine = [
    { text: "│", role: "border" },
    { text: "ann", role: "sender" },
    { text: "@tom", role: "mention" },
    { text: "ok", role: "status" },
    { text: "x", role: "error" },
  ];
  const out = styledText(line, false, 80);
  assert.equal(out, "│\x1b[0;1mann\x1b[0;1;4m@tom\x1b[0;7mok\x1b[0;1mx\x1b[0m");
  // deno-lint-ignore no-control-regex -- reading SGR parameters is the point
  const codes = [...out.matchAll(/\x1b\[([0-9;]*)m/g)].flatMap((m) => m[1].split(";"));
  assert.deepEqual([...new Set(codes)].sort(), ["0", "1", "4", "7"]);
});

Deno.test("styled rows: a link is an OSC 8 hyperlink around its text, styled inside", () => {
  const url = "https://example.com/a?b=1";
  const out = styledText(
    [{ text: "see ", role: "text" }, { text: url, role: "link", link: url }],
    true,
    80,
  );
  assert.equal(out, `see \x1b[0;4;34m\x1b]8;;${url}\x07${url}\x1b]8;;\x07\x1b[0m`);
  // cut at the width: the text is, the target is not
  const cut = styledText([{ text: url, role: "link", link: url }], false, 10);
  assert.equal(cut, `\x1b[0;4m\x1b]8;;${url}\x07https://e…\x1b]8;;\x07\x1b[0m`);
});

Deno.test("styled rows: cut at the width with …, a wide glyph never straddles the edge", () => {
  const text = (line: StyledLine, width: number) =>
    // deno-lint-ignore no-control-regex -- dropping SGR sequences to read the text
    styledText(line, true, width).replace(/\x1b\[[0-9;]*m/g, "");
  const wide: StyledLine = [{ text: "ab", role: "text" }, { text: "漢字漢字", role: "mine" }];
  assert.equal(text(wide, 10), "ab漢字漢字");
  assert.equal(text(wide, 9), "ab漢字漢…");
  assert.equal(text(wide, 8), "ab漢字…"); // 漢 would end past the edge
  assert.equal(textWidth(text(wide, 8)), 7);
  assert.equal(text([{ text: "ab", role: "text" }, { text: "cd", role: "ref" }], 2), "ab");
  // 👍🏽 counts 4 columns (the most any terminal draws it in)
  assert.equal(text([{ text: "👍🏽👍🏽", role: "text" }], 5), "👍🏽…");
  assert.equal(text([{ text: "👍🏽👍🏽", role: "text" }], 4), "…");
});

Deno.test("row writer: a line is written once; its pinned tail goes to its column", () => {
  const writer = new RowWriter(false);
  const line: StyledLine = [
    { text: " │ hello", role: "border" },
    { text: "   ", role: "text" },
    { text: "│", role: "border", pin: true },
  ];
  const row = writer.row(line, 40);
  assert.deepEqual(row, { text: " │ hello   ", tail: { col: 11, text: "│", end: 12 } });
  assert.equal(writer.row(line, 40), row, "the same row for the same line");
  assert.notEqual(writer.row([...line], 40), row, "another line is written anew");
  assert.notEqual(writer.row(line, 30), row, "at another width too");
  assert.deepEqual(writer.row([{ text: "x", role: "text" }], 40), { text: "x" });
});

// ---- issue 13 ----------------------------------------------------------------------------------

const statusRow = (model: Model, cols: number, rowsCount = 12) => {
  const { text } = plain(model, cols, rowsCount);
  return text[rowsCount - 2];
};
const reconnecting = (model: Model, inSeconds: number): Model =>
  applyStatus(model, { state: "reconnecting", retryAt: NOW + inSeconds * 1000, attempt: 3 });

Deno.test("status: narrow, whole fields are dropped — no word is ever cut", () => {
  const model = busyModel();
  for (const cols of [30, 40, 50, 60, 80, 100, 160]) {
    for (const m of [model, reconnecting(model, 11), { ...model, leaving: true }]) {
      const row = statusRow(m, cols);
      assert.ok(!row.includes("…") || row.includes("leaving…"), `${cols}: ${row}`);
      assert.match(row, /connected|reconnecting in 11 s|leaving…/, `${cols}: ${row}`);
      // what is shown of a field is all of it
      for (const part of row.trim().split(/ · |\s{2,}/)) {
        assert.ok(
          [
            "tom_1234",
            "127.0.0.1:7777",
            "3 online",
            "3 online (stale)",
            "connected",
            "reconnecting in 11 s",
            "leaving…",
            RETRY_HINT,
            ...KEY_HINTS.flatMap((k) => [k, ...k.split(" · ")]),
          ].includes(part.trim()),
          `${cols}: "${part}" in ${row}`,
        );
      }
    }
  }
  assert.match(statusRow(model, 50), /^ tom_1234 · 127\.0\.0\.1:7777 · 3 online · connected/);
  assert.match(statusRow(reconnecting(model, 11), 60), /reconnecting in 11 s/);
});

Deno.test("status: while disconnected the online count says it is stale, and Ctrl+R retries", () => {
  const model = reconnecting(busyModel(), 9);
  const row = statusRow(model, 100);
  assert.match(row, /3 online \(stale\) · reconnecting in 9 s/);
  assert.ok(row.trimEnd().endsWith(RETRY_HINT), row);
  assert.match(statusRow(busyModel(), 100), /3 online · connected/);
  const connecting = applyStatus(model, { state: "connecting", attempt: 4 });
  assert.match(statusRow(connecting, 100), /3 online \(stale\) · connecting…/);
  // the online list says so too
  const who = {
    ...model,
    panel: { kind: "who" as const, users: [{ id: "tom_1234", name: "tom" }], online: 3, scroll: 0 },
  };
  assert.ok(plain(who, 100, 24).text.some((l) => l.includes("as of the last connection")));
});

Deno.test("hint: a long one wraps at words on rows above the status line, never cut", () => {
  const hint = "paste refused: 5000 characters, a message holds 4000; split it into two or more";
  const model = { ...busyModel(), hint: { text: hint, error: true } };
  for (const cols of [40, 60, 100]) {
    const { text } = plain(model, cols, 20);
    const status = text.findIndex((l) => l.includes("tom_1234 ·") || / connected/.test(l));
    const above = text.slice(0, status).filter((l) => l.startsWith(" ") && l.trim() !== "");
    const joined = text.slice(status - 3, status).join(" ").replace(/\s+/g, " ").trim();
    assert.ok(joined.includes(hint), `${cols}:\n${text.join("\n")}`);
    assert.ok(above.length > 0);
    for (const line of text) assert.ok(textWidth(line) <= cols);
  }
  // a short one stays on the status line
  const short = { ...busyModel(), hint: { text: "no match", error: false } };
  assert.ok(statusRow(short, 80).trimEnd().endsWith("no match"));
  assert.equal(paneHeight(short, 80, 24), 22);
  assert.ok(paneHeight(model, 60, 24) < 22);
});

Deno.test("help: the commands and keys wrap under their own column at the pane's width", () => {
  for (const cols of [50, 60, 100]) {
    const lines = itemLines({ kind: "help", key: "h" }, cols, ME, NOW).map(lineText);
    for (const line of lines) assert.ok(textWidth(line) <= cols, `${cols}: ${line}`);
    // a wrapped help line starts under the help column, not at column 3
    const column = lines.find((l) => l.includes("/reply REF text"))!.indexOf("reply to");
    const after = lines.slice(lines.findIndex((l) => l.includes("/reply REF text")) + 1);
    const continuation = after.find((l) => !/^ {3}\S/.test(l) && l.trim() !== "");
    if (continuation) {
      assert.equal(continuation.search(/\S/), column, `${cols}:\n${lines.join("\n")}`);
    }
    for (const b of KEY_BINDINGS) assert.ok(lines.some((l) => l.includes(b.keys)), b.keys);
  }
});

Deno.test("ctrl+c: with a line typed, only a second press within 2 s leaves (clock injected)", () => {
  const empty = busyModel();
  assert.equal(pressCtrlC(empty, NOW).quit, true);
  const typing = { ...empty, input: { ...empty.input, text: "half typed", cursor: 10 } };
  const first = pressCtrlC(typing, NOW);
  assert.equal(first.quit, false);
  assert.equal(first.model.hint?.text, QUIT_HINT);
  assert.equal(pressCtrlC(first.model, NOW + QUIT_CONFIRM_MS).quit, true);
  // too late: it asks again
  const late = pressCtrlC(first.model, NOW + QUIT_CONFIRM_MS + 1);
  assert.equal(late.quit, false);
  assert.equal(pressCtrlC(late.model, NOW + QUIT_CONFIRM_MS + 500).quit, true);
});

Deno.test("lines layout: one line per message, `HH:MM #ref <from> text`, no borders", () => {
  const model = { ...modelWith(msg({ text: "hello there" }), msg({ from: ME.id, text: "mine" })) };
  const lines = plain({ ...model, layout: "lines" }, 80, 10).text;
  assert.ok(
    lines.some((l) => /^ \d\d:\d\d #w\d+ <alice_1111> hello there$/.test(l)),
    lines.join("\n"),
  );
  assert.ok(lines.some((l) => /^ \d\d:\d\d #w\d+ <tom_1234> mine$/.test(l)), lines.join("\n"));
  assert.ok(!lines.some((l) => /[│╭╰]/.test(l)));
  // back to bubbles: the same items, drawn anew
  assert.ok(plain({ ...model, layout: "bubbles" }, 80, 10).text.some((l) => l.includes("╭")));
});

Deno.test("model: a reconnect's failure is said once, an attempt under way in between or not", () => {
  let model = busyModel();
  const count = () => model.items.filter((i) => i.kind === "notice" && i.role === "error").length;
  model = applyStatus(model, { state: "reconnecting", retryAt: NOW, attempt: 1 });
  for (let attempt = 2; attempt < 6; attempt++) {
    model = applyStatus(model, { state: "connecting", attempt });
    model = applyStatus(model, { state: "reconnecting", retryAt: NOW, attempt, reason: "refused" });
  }
  assert.equal(count(), 1);
});

Deno.test("paint: a pinned tail is placed at its column, then the rest of the row cleared", () => {
  const out = paintFrame(
    undefined,
    [{ text: "│ 👍🏽", tail: { col: 10, text: "│", end: 11 } }],
    1,
    undefined,
    40,
  );
  assert.ok(
    out.includes("\x1b[1;1H\x1b[0m\x1b[2K│ 👍🏽\x1b[0m\x1b[1;11H│\x1b[0m\x1b[K"),
    JSON.stringify(out),
  );
  // a tail that ends at the last column is not followed by an erase (it would eat the last cell)
  const full = paintFrame(
    undefined,
    [{ text: "x", tail: { col: 39, text: "│", end: 40 } }],
    1,
    undefined,
    40,
  );
  assert.ok(!full.includes("\x1b[K"));
  // unchanged rows, tails included, are not written again
  const row = { text: "a", tail: { col: 5, text: "│", end: 6 } };
  assert.ok(!paintFrame([row], [{ ...row }], 1, undefined, 40).includes("1;1H"));
  assert.ok(
    paintFrame([row], [{ ...row, tail: { ...row.tail, col: 6 } }], 1, undefined, 40).includes(
      "1;1H",
    ),
  );
});

Deno.test("terminal: autowrap is off while the UI runs and back on after", () => {
  assert.ok(ENTER_SEQUENCE.includes("\x1b[?7l"));
  assert.ok(LEAVE_SEQUENCE.includes("\x1b[?7h"));
});

Deno.test("model: rooms joined, topics, the list and a room's joins are said as notices; who is online is kept", () => {
  const builds = { name: "#builds", topic: "green", private: false, members: 2, online: 2 };
  const ann = { id: "ann_0001", name: "ann" };
  const { model } = applyEvents(modelWith(), [
    { type: "room", event: "joined", room: builds, here: "#builds" },
    { type: "rooms", rooms: [builds], total: 1 },
    { type: "presence", room: "#builds", joined: ann, online: 3 },
    { type: "presence", room: "#builds", online: 300 },
  ]);
  const notices = model.items.flatMap((i) => (i.kind === "notice" ? [[i.text, i.role]] : []));
  assert.deepEqual(notices, [
    ["you joined #builds (2 members, 2 online): green; what you type goes to #builds", "notice"],
    ["rooms (1): /join #name to go in", "notice"],
    ["  #builds (2 members, 2 online): green", "notice"],
    ["ann_0001 joined #builds (3 online)", "presence"],
  ]);
});
