// Unit tests for the habits of issue 14 on the client and in the store: the ignore list (bound,
// ids ignoring case) and its file per server (0600, other servers' lists kept, a damaged one
// said); the commands /me, /msg, /away, /back, /ignore, /unignore and /clear (what each parses to
// and does); an action and an away in plain and JSON; and an action kept by the store (a
// database from before actions gains the column).
//
// Run: deno test -A --lock=deno.dev.lock tests/habits_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  IgnoreList,
  type Ignores,
  IGNORES_FILE_NAME,
  loadIgnores,
  MAX_IGNORED,
  saveIgnores,
} from "../src/client/ignore.ts";
import { type CommandContext, parseInput, perform } from "../src/client/commands.ts";
import { ClientState, type Shown } from "../src/client/state.ts";
import { MAX_AWAY_LENGTH, type ServerFrame } from "../src/protocol/schema.ts";
import { jsonEvent, plainLines } from "../src/ui/plain.ts";
import { safeEvent } from "../src/ui/safe.ts";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import { lineText, renderBubble, renderLine } from "../src/ui/bubble.ts";
import {
  addMessage,
  addNotice,
  clearItems,
  initialModel,
  type Model,
} from "../src/ui/tui/model.ts";
import { composeScreen } from "../src/ui/tui/screen.ts";
import { inTempDir, mid, newMessage, tempDir, welcomeFrame } from "./fixtures.ts";

// ---- the ignore list ---------------------------------------------------------------------------

Deno.test(`ignore list: by id ignoring case, in the order added, at most MAX_IGNORED (${MAX_IGNORED})`, () => {
  const list = new IgnoreList();
  assert.equal(list.add("Mal_0001"), "added");
  assert.equal(list.add("mal_0001"), "already");
  assert.equal(list.has("MAL_0001"), true);
  assert.equal(list.add("mal"), "not_an_id");
  assert.equal(list.add("mal_01"), "not_an_id");
  for (let i = 1; i < MAX_IGNORED; i++) assert.equal(list.add(`p${i}_0001`), "added");
  assert.equal(list.add("one_more_0001"), "full");
  assert.equal(list.size, MAX_IGNORED);
  assert.equal(list.remove("MAL_0001"), true);
  assert.equal(list.remove("mal_0001"), false);
  assert.equal(list.add("one_more_0001"), "added");
  assert.equal(list.list()[0], "p1_0001");
  // a list read from disk is cut to the bound too
  const many = Array.from({ length: MAX_IGNORED + 5 }, (_, i) => `q${i}_0001`);
  assert.equal(new IgnoreList(many).size, MAX_IGNORED);
});

Deno.test(
  "ignore file: one list per server, mode 0600, other servers' kept; an empty list leaves no entry",
  inTempDir(async (dir) => {
    assert.deepEqual(await loadIgnores(dir, "S"), [], "no file: nobody");
    await saveIgnores(dir, "S", ["mal_0001", "Eve_0002"]);
    await saveIgnores(dir, "T", ["zed_0003"]);
    assert.deepEqual(await loadIgnores(dir, "S"), ["mal_0001", "Eve_0002"]);
    assert.deepEqual(await loadIgnores(dir, "T"), ["zed_0003"]);
    const path = join(dir, IGNORES_FILE_NAME);
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await saveIgnores(dir, "S", []);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), { T: ["zed_0003"] });
  }),
);

Deno.test(
  "ignore file: what is not an id in it is dropped, a server named like a prototype key is none, a damaged file throws",
  inTempDir(async (dir) => {
    const path = join(dir, IGNORES_FILE_NAME);
    await Deno.writeTextFile(path, JSON.stringify({ S: ["ok_0001", 7, "no id", "x\u001b_0001"] }));
    assert.deepEqual(await loadIgnores(dir, "S"), ["ok_0001"]);
    assert.deepEqual(await loadIgnores(dir, "__proto__"), []);
    await Deno.writeTextFile(path, "{ not json");
    await assert.rejects(() => loadIgnores(dir, "S"), SyntaxError);
  }),
);

// ---- the commands ------------------------------------------------------------------------------

/** A context recording what the actions did; an ignore list kept in `saved` (or failing). */
function recorder(options: { saveFails?: boolean; clear?: boolean } = {}) {
  const did: string[] = [];
  const list = new IgnoreList();
  const ignores: Ignores = {
    list,
    save: () => {
      if (options.saveFails) return Promise.reject(new Error("read-only file system"));
      did.push(`saved ${list.list().join(",")}`);
      return Promise.resolve();
    },
  };
  const context: CommandContext = {
    send: (message) => void did.push(`send ${JSON.stringify(message)}`),
    request(request) {
      did.push(`request ${JSON.stringify(request)}`);
      return new Promise<ServerFrame>(() => {});
    },
    resolveRef: () => undefined,
    here: () => "#general",
    reconnectNow: () => "retrying",
    notice: (text) => void did.push(`notice ${text}`),
    error: (text) => void did.push(`error ${text}`),
    help: () => void did.push("help"),
    leave: () => void did.push("leave"),
    ignores,
    ...(options.clear === false ? {} : { clear: () => void did.push("clear") }),
  };
  const run = async (...lines: string[]) => {
    for (const line of lines) await perform(parseInput(line), context);
    return did;
  };
  return { did, run, list };
}

Deno.test("commands: /me is an action, public or to @ids; /msg is a direct message, the @ optional", async () => {
  const { run } = recorder();
  assert.deepEqual(
    await run("/me waves", "/me @ann_0001 @bob hugs you", "/msg @ann_0001 psst", "/msg bob hi"),
    [
      'send {"text":"waves","action":true}',
      'send {"text":"hugs you","to":["ann_0001","bob"],"action":true}',
      'send {"text":"psst","to":["ann_0001"]}',
      'send {"text":"hi","to":["bob"]}',
    ],
  );
  for (const line of ["/me", "/msg", "/msg bob", "/msg @ "]) {
    assert.equal(parseInput(line).kind, "usage", line);
  }
  assert.deepEqual(parseInput("/action @ann_0001 dances"), {
    kind: "me",
    text: "dances",
    to: ["ann_0001"],
  });
  // the text is checked as any message's is
  const { run: again } = recorder();
  const [said] = await again(`/me ${"x".repeat(4001)}`);
  assert.match(said, /^error a message is at most 4000 characters/);
});

Deno.test("commands: /away with a reason, /away alone and /back are back; a bad reason is said before sending", async () => {
  const { run } = recorder();
  assert.deepEqual(await run("/away gone to lunch", "/away", "/back"), [
    'request {"type":"away","reason":"gone to lunch"}',
    'request {"type":"away"}',
    'request {"type":"away"}',
  ]);
  assert.deepEqual(parseInput(`/away ${"x".repeat(MAX_AWAY_LENGTH + 1)}`), {
    kind: "usage",
    message: `an away reason is at most ${MAX_AWAY_LENGTH} characters`,
  });
  assert.equal(parseInput(`/away ${"x".repeat(MAX_AWAY_LENGTH)}`).kind, "away");
  assert.deepEqual(parseInput("/away tab\there"), {
    kind: "usage",
    message: "an away reason is one line, without control characters",
  });
});

Deno.test("commands: /ignore adds by id (kept on disk) and lists; /unignore takes one off; mistakes are said", async () => {
  const { run, list } = recorder();
  const did = await run(
    "/ignore",
    "/ignore @mal_0001",
    "/ignore MAL_0001",
    "/ignore mal",
    "/ignore",
    "/unignore @eve_0002",
    "/unignore bob",
    "/unignore mal_0001",
  );
  assert.deepEqual(did, [
    "notice you ignore nobody; /ignore @id hides someone",
    "saved mal_0001",
    "notice ignoring mal_0001: their messages, mentions and bells are not shown",
    "notice you ignore MAL_0001 already",
    "error ignoring is by id, as name_1234 (/who lists them)",
    "notice you ignore (1): mal_0001",
    "notice you do not ignore eve_0002",
    "error ignoring is by id, as name_1234 (/who lists them)",
    "saved ",
    "notice no longer ignoring mal_0001",
  ]);
  assert.equal(list.size, 0);
  assert.equal(parseInput("/unignore").kind, "usage");
  assert.equal(parseInput("/ignore a b").kind, "usage");
});

Deno.test("commands: a full ignore list is said; a list that cannot be kept on disk holds for the run, and says so", async () => {
  const full = recorder();
  for (let i = 0; i < MAX_IGNORED; i++) full.list.add(`p${i}_0001`);
  assert.deepEqual(await full.run("/ignore @one_more_0001"), [
    `error you ignore ${MAX_IGNORED} people already, the most kept; /unignore someone first`,
  ]);
  const failing = recorder({ saveFails: true });
  const did = await failing.run("/ignore mal_0001");
  assert.match(did[0], /^error could not keep the ignore list on disk \(read-only file system\)/);
  assert.equal(failing.list.has("mal_0001"), true);
});

Deno.test("commands: /clear empties the view, or says there is none", async () => {
  assert.deepEqual(await recorder().run("/clear"), ["clear"]);
  assert.deepEqual(await recorder({ clear: false }).run("/clear"), [
    "notice there is no screen to clear here",
  ]);
});

// ---- what is shown -----------------------------------------------------------------------------

const T1 = new Date(2025, 0, 2, 9, 5, 7).getTime();
const action: Shown = {
  type: "message",
  id: mid(1),
  ref: "q3sf",
  from: "alice_1111",
  text: "waves",
  time: T1,
  room: "#general",
  action: true,
};

Deno.test("plain: an action is `* alice waves`; where it went (a DM, another room) after it", () => {
  assert.deepEqual(plainLines({ type: "message", message: action }), [
    "#q3sf 09:05:07 * alice_1111 waves",
  ]);
  const direct = { ...action, room: undefined, to: ["bob_2222"] };
  assert.deepEqual(plainLines({ type: "message", message: direct }), [
    "#q3sf 09:05:07 * alice_1111 waves (-> bob_2222)",
  ]);
  assert.deepEqual(plainLines({ type: "message", message: action }, "#builds"), [
    "#q3sf 09:05:07 * alice_1111 waves (in #general)",
  ]);
  const json = jsonEvent({ type: "message", message: { ...action, ignored: true } }, () => []);
  assert.deepEqual([json?.action, json?.ignored], [true, true]);
  assert.equal(
    jsonEvent({ type: "message", message: { ...action, action: undefined } }, () => [])
      ?.action,
    undefined,
  );
});

Deno.test("plain and json: away and back, mine and others'; /who marks who is away; all made safe", () => {
  const state = new ClientState();
  state.apply(welcomeFrame());
  const mine = state.apply({
    type: "away",
    ref: "r",
    user: "tom_0001",
    reason: "lunch",
    since: T1,
  });
  assert.equal(state.away, "lunch");
  assert.deepEqual(plainLines(mine[0]), [
    "* you are away: lunch; /away alone when you are back",
  ]);
  const back = state.apply({ type: "away", ref: "r2", user: "tom_0001" });
  assert.equal(state.away, undefined);
  assert.deepEqual(plainLines(back[0]), ["* you are back"]);
  const other = state.apply({
    type: "away",
    user: "ann_0001",
    reason: "in\u001b[2J a meeting",
    since: T1,
  });
  assert.deepEqual(plainLines(safeEvent(other[0])), [
    "* ann_0001 is away: in a meeting (since 09:05)",
  ]);
  assert.deepEqual(jsonEvent(other[0], () => []), {
    type: "away",
    user: "ann_0001",
    reason: "in\u001b[2J a meeting",
    since: T1,
    mine: false,
  });
  const users = state.apply({
    type: "users",
    ref: "w",
    users: [{ id: "ann_0001", name: "ann", away: "bell\u0007" }, { id: "tom_0001", name: "tom" }],
    online: 2,
  });
  assert.deepEqual(plainLines(safeEvent(users[0])), [
    "* online (2): ann_0001 (away: bell), tom_0001",
  ]);
});

// ---- the store ---------------------------------------------------------------------------------

Deno.test("store: an action is kept and read back as one (history, search); others are not marked", async () => {
  await using dir = await tempDir();
  const store = new SqliteStore(join(dir.path, "chat.db"));
  try {
    store.joinRoom("tom_0001", "#general", 1);
    const waved = store.insertMessage({ ...newMessage("tom_0001"), text: "waves", action: true });
    const said = store.insertMessage(newMessage("tom_0001"));
    assert.equal(store.message(waved.id)?.action, true);
    assert.equal(store.message(said.id)?.action, undefined);
    assert.equal(store.search("tom_0001", (t) => t === "waves", 5).messages[0].action, true);
  } finally {
    store.close();
  }
});

Deno.test("store: a database from before actions gains the column; its messages are not actions", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "chat.db");
  new SqliteStore(path).close();
  const old = new DatabaseSync(path);
  // as an earlier version left it: no action column
  old.exec("ALTER TABLE messages DROP COLUMN action");
  old.exec(
    `INSERT INTO messages (id, sender, room, text, time) VALUES ('${
      mid(9)
    }', 'a_0001', '#general', 'old', 1)`,
  );
  old.close();
  const store = new SqliteStore(path);
  try {
    assert.equal(store.message(mid(9))?.action, undefined);
    const waved = store.insertMessage({ ...newMessage("a_0001"), action: true });
    assert.equal(store.message(waved.id)?.action, true);
  } finally {
    store.close();
  }
});

// ---- the full-screen client: an action in bubbles and lines, /clear ---------------------------

Deno.test("full-screen: an action reads `* alice_1111 waves` in a bubble and in the lines layout", () => {
  const options = { width: 60, me: { id: "tom_0001", name: "tom" }, now: T1 };
  const text = (lines: { text: string }[][]) => lines.map((l) => l.map((s) => s.text).join(""));
  const bubble = text(renderBubble(action, options));
  assert.ok(bubble.some((l) => l.includes("│ * alice_1111 waves")), bubble.join("\n"));
  const [line] = text(renderLine(action, options));
  assert.equal(line, "09:05 #q3sf * alice_1111 waves");
  const [direct] = text(renderLine({ ...action, room: undefined, to: ["tom_0001"] }, options));
  assert.equal(direct, "09:05 #q3sf * alice_1111 → tom_0001 waves");
});

Deno.test("full-screen: /clear empties the message area and the scroll; what comes next shows", () => {
  let model = addNotice(initialModel(), "hello");
  model = addMessage({ ...model, anchor: { key: "n1", line: 0 }, unseen: 2 }, action);
  model = clearItems(model);
  assert.deepEqual([model.items, model.anchor, model.unseen], [[], undefined, 0]);
  model = addMessage(model, { ...action, id: mid(2) });
  assert.equal(model.items.length, 1);
});

Deno.test("full-screen: the online list (F2, /who) marks who is away", () => {
  const users = [{ id: "ann_0001", name: "ann", away: "lunch" }, { id: "tom_0001", name: "tom" }];
  const model: Model = {
    ...initialModel(),
    me: users[1],
    panel: { kind: "who", users, online: 2, scroll: 0 },
  };
  const context = { cols: 80, rows: 20, now: T1, server: "127.0.0.1:7777", online: 2 };
  const shown = composeScreen(model, context).lines.map(lineText).join("\n");
  assert.match(shown, /ann_0001 \(away\)\s+tom_0001 \(you\)/);
});
