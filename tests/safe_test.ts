// Unit tests for src/ui/safe.ts, the one boundary where text from the server and other people
// enters what the text UIs print: every string of every event comes out without escape
// sequences or controls, layout (tabs, line breaks) is left to the UI, and nothing else changes.
//
// Run: deno test -A tests/safe_test.ts

import assert from "node:assert/strict";
import type { ConnectionStatus } from "../src/client/client.ts";
import type { ClientEvent, Shown } from "../src/client/state.ts";
import { safeEvent, safeStatus, safeUi } from "../src/ui/safe.ts";
import type { Ui } from "../src/ui/ui.ts";

/** Title, colour, clear screen, a bidi override, C1 CSI, a bell; a tab and a line break stay. */
const EVIL = "a\x1b]0;pwned\x07\x1b[31mb\x1b[2J\u202ec\x9b2J\x07\td\ne";
const CLEAN = "abc\td\ne";
// deno-lint-ignore no-control-regex -- looking for control characters is the point
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

const user = { id: EVIL, name: EVIL };
const message: Shown = {
  type: "message",
  id: "01JABCDEFGHJKMNPQRSTVWXYZ0",
  ref: "yz0",
  from: EVIL,
  to: [EVIL, EVIL],
  text: EVIL,
  time: 1,
  replyTo: "01JABCDEFGHJKMNPQRSTVWXYZ1",
  quote: { from: EVIL, text: EVIL },
};

const room = {
  name: EVIL,
  topic: EVIL,
  private: true,
  members: 2,
  online: 1,
  topicBy: EVIL,
  topicAt: 1,
};

/** One event of every type, with hostile text in every string a server or a person chose. */
const EVENTS: ClientEvent[] = [
  { type: "welcome", you: user, users: [user, user], online: 2, rooms: [room] },
  { type: "message", message },
  { type: "deleted", id: message.id, ref: "yz0", reason: "deleted" },
  { type: "presence", joined: user, online: 2 },
  { type: "presence", left: user, online: 1 },
  { type: "users", users: [user], online: 1 },
  { type: "results", total: 1, messages: [message], pattern: EVIL },
  {
    type: "sessions",
    sessions: [{ id: EVIL, current: true, createdAt: 1, lastSeenAt: 2, address: EVIL }],
    loggedOutOthers: false,
  },
  { type: "ack", requestRef: "r1", id: message.id },
  { type: "error", requestRef: "r2", code: EVIL, message: EVIL },
  { type: "goodbye", reason: EVIL, message: EVIL },
  { type: "pending", text: EVIL, to: [EVIL] },
  { type: "presence", room: EVIL, joined: user, online: 2 },
  { type: "users", users: [user], online: 1, room: EVIL },
  { type: "rooms", rooms: [room], total: 1 },
  { type: "room", event: "invited", room, by: EVIL, user: EVIL, toMe: true, here: EVIL },
];

/** Every string in a value, however deep. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

Deno.test("safeEvent: every string of every event comes out safe, tabs and line breaks kept", () => {
  for (const event of EVENTS) {
    const safe = safeEvent(event);
    for (const text of strings(safe)) {
      assert.doesNotMatch(
        text.replace(/[\t\n]/g, ""),
        CONTROL,
        `${event.type}: ${JSON.stringify(text)}`,
      );
      assert.ok(!text.includes("pwned"), `${event.type}: ${text}`);
    }
    const hostile = strings(event).filter((s) => s === EVIL).length;
    assert.equal(strings(safe).filter((s) => s === CLEAN).length, hostile, event.type);
  }
});

Deno.test("safeEvent: a copy; what it was given (the client's state, the JSON lines) keeps its text", () => {
  const before = structuredClone(EVENTS);
  for (const event of EVENTS) safeEvent(event);
  assert.deepEqual(EVENTS, before);
});

Deno.test("safeEvent: nothing but the text changes", () => {
  const safe = safeEvent({ type: "message", message }) as Extract<ClientEvent, { type: "message" }>;
  assert.deepEqual(safe.message, {
    ...message,
    from: CLEAN,
    to: [CLEAN, CLEAN],
    text: CLEAN,
    quote: { from: CLEAN, text: CLEAN },
  });
  const plain: ClientEvent = { type: "pending", text: "hi" };
  assert.deepEqual(safeEvent(plain), plain, "no fields added");
  const gone = { ...message, quote: { deleted: true as const } };
  assert.deepEqual(safeEvent({ type: "message", message: gone }), {
    type: "message",
    message: { ...gone, from: CLEAN, to: [CLEAN, CLEAN], text: CLEAN },
  });
});

Deno.test("safeStatus: why the last attempt failed is made safe; other states pass as they are", () => {
  const status: ConnectionStatus = { state: "reconnecting", retryAt: 5, attempt: 2, reason: EVIL };
  assert.deepEqual(safeStatus(status), { ...status, reason: CLEAN });
  for (const other of [{ state: "connected" }, { state: "offline" }] as ConnectionStatus[]) {
    assert.equal(safeStatus(other), other);
  }
});

Deno.test("safeUi: what the UI behind it is given to show is safe; the rest passes through", async () => {
  const got: unknown[] = [];
  const inner: Ui = {
    start: (handlers) => void got.push(["start", handlers]),
    show: (events) => void got.push(["show", events]),
    notice: (text) => void got.push(["notice", text]),
    localError: (text) => void got.push(["localError", text]),
    help: (topic) => void got.push(topic ? ["help", topic] : ["help"]),
    status: (status) => void got.push(["status", status]),
    leaving: () => void got.push(["leaving"]),
    stop: () => Promise.resolve(void got.push(["stop"])),
  };
  const ui = safeUi(inner);
  const handlers = { onLine: () => {}, onEnd: () => {} };
  ui.start(handlers);
  ui.show(EVENTS);
  ui.notice(EVIL);
  ui.localError(EVIL);
  ui.help();
  ui.help("operators");
  ui.status({ state: "reconnecting", retryAt: 5, attempt: 1, reason: EVIL });
  ui.leaving();
  await ui.stop();
  assert.deepEqual(got, [
    ["start", handlers],
    ["show", EVENTS.map(safeEvent)],
    ["notice", CLEAN],
    ["localError", CLEAN],
    ["help"],
    ["help", "operators"],
    ["status", { state: "reconnecting", retryAt: 5, attempt: 1, reason: CLEAN }],
    ["leaving"],
    ["stop"],
  ]);
});
