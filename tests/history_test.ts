// Unit tests for src/server/history.ts on its own (no hub): the backlog a joining user is shown,
// `history` pages and `search` answers, each list cut to fit one frame, on a real in-memory store
// (and a stand-in searcher where the searcher's answer is what is tested).
//
// Beyond tests/hub_test.ts: the backlog handed to a connection's `replay` (read as it drains)
// instead of sent at once, a resume from an unknown id, a store that cannot read the backlog
// (told, logged, and the join goes on), history and search results of long messages cut to the
// newest that fit one frame with the full total, and what a search asks of the searcher.
//
// Run: deno test -A --lock=deno.dev.lock tests/history_test.ts

import assert from "node:assert/strict";
import { MAX_FRAME_BYTES } from "../src/protocol/codec.ts";
import { GENERAL_ROOM, MAX_SEARCH_RESULTS, MAX_TEXT_LENGTH } from "../src/protocol/schema.ts";
import type { BacklogSource } from "../src/server/backlog.ts";
import { Histories, HISTORY_ON_JOIN } from "../src/server/history.ts";
import { InlineSearcher } from "../src/server/search/inline.ts";
import type { Searcher, SearchOutcome, SearchRequest } from "../src/server/search/searcher.ts";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import type { StoredMessage } from "../src/server/store/store.ts";
import {
  clientFrame,
  commitMessages,
  FakePeer,
  inGeneral,
  insert,
  mid,
  T0,
  testLog,
  testRooms,
} from "./fixtures.ts";
import type { History, Search } from "../src/protocol/schema.ts";

function setup(searcher?: (store: SqliteStore) => Searcher) {
  const store = new SqliteStore(":memory:");
  // everyone here is in GENERAL_ROOM, where the public messages are
  inGeneral(store, "ann_0001", "bob_0001", "tom_0001");
  const { log, lines } = testLog();
  const histories = new Histories({
    store,
    searcher: searcher?.(store) ?? new InlineSearcher(store),
    rooms: testRooms(store),
    log,
  });
  return { store, histories, lines };
}

/** `n` public messages by tom, `text(i)` each, stored in one commit. */
function publicMessages(store: SqliteStore, n: number, text = (i: number) => `m${i}`) {
  return commitMessages(store, n, (i) => ({ room: GENERAL_ROOM, text: text(i), time: T0 + i }));
}

const long = (i: number) => `${i} `.padEnd(MAX_TEXT_LENGTH, "x");

Deno.test("history: a connection that can replay is handed the backlog to read as it drains; nothing is sent at once", () => {
  const { store, histories } = setup();
  publicMessages(store, HISTORY_ON_JOIN + 10);
  let source: BacklogSource | undefined;
  const peer = Object.assign(new FakePeer("ann"), { replay: (s: BacklogSource) => source = s });
  histories.backlog(peer, "ann_0001", 0);
  assert.equal(peer.frames.length, 0);
  assert.ok(source);
  const frames = [];
  for (let page = source.next(); page; page = source.next()) frames.push(...page);
  assert.equal(frames.length, HISTORY_ON_JOIN, "the recent public history");
  assert.ok(frames.every((f) => f.type === "message" && f.replay === true));
});

Deno.test("history: without replay the backlog is sent at once, a frame a send, oldest first", () => {
  const { store, histories } = setup();
  const stored = publicMessages(store, 3);
  const peer = new FakePeer("ann");
  histories.backlog(peer, "ann_0001", 0);
  assert.equal(peer.raw.length, 3);
  assert.deepEqual(peer.of("message").map((m) => m.id), stored.map((m) => m.id));
});

Deno.test("history: a resume replays what came after that id; an unknown id is a join without one", () => {
  const { store, histories } = setup();
  const stored = publicMessages(store, 5);
  const resumed = new FakePeer("ann");
  histories.backlog(resumed, "ann_0001", 0, stored[2].id);
  assert.deepEqual(resumed.of("message").map((m) => m.text), ["m3", "m4"]);
  const unknown = new FakePeer("ann");
  histories.backlog(unknown, "ann_0001", 0, mid(999_999));
  assert.deepEqual(unknown.of("message").map((m) => m.text), ["m0", "m1", "m2", "m3", "m4"]);
});

Deno.test("history: a store that cannot read the backlog: told with unavailable, logged, nothing thrown", () => {
  const { store, histories, lines } = setup();
  publicMessages(store, 3);
  store.latestSeq = () => {
    throw new Error("disk I/O error");
  };
  const peer = new FakePeer("ann");
  histories.backlog(peer, "ann_0001", 0);
  assert.deepEqual(peer.frames.map((f) => f.type === "error" && f.code), ["unavailable"]);
  assert.match((peer.frames[0] as { message: string }).message, /goes on without it/);
  assert.match(
    lines.join("\n"),
    /ERROR could not read a backlog id=ann_0001 cause="disk I\/O error"/,
  );
});

Deno.test("history: a page of long messages is cut to the newest that fit one frame; total counts what was read", () => {
  const { store, histories } = setup();
  publicMessages(store, 40, long);
  const peer = new FakePeer("ann");
  const frame = clientFrame({ type: "history", ref: "h", limit: 40 }) as History;
  histories.history(peer, "ann_0001", frame);
  const [results] = peer.of("results");
  assert.equal(results.ref, "h");
  assert.equal(results.total, 40);
  const n = results.messages.length;
  assert.ok(n > 5 && n < 40, `${n} fit`);
  assert.deepEqual(
    results.messages.map((m) => m.text.split(" ")[0]),
    Array.from({ length: n }, (_, i) => String(40 - n + i)),
    "the newest, oldest first",
  );
  assert.ok(peer.raw[0].length <= MAX_FRAME_BYTES + 4, `${peer.raw[0].length} bytes`);
  assert.ok(results.messages.every((m) => m.replay === true));
});

Deno.test("history: pages go back from `before`, at most `limit`, only what the user may see", () => {
  const { store, histories } = setup();
  const stored = publicMessages(store, 6);
  insert(store, { id: mid(7), from: "tom_0001", to: ["bob_0001"], text: "dm", time: T0 + 7 });
  const page = (user: string, frame: Record<string, unknown>) => {
    const peer = new FakePeer(user);
    histories.history(peer, user, clientFrame({ type: "history", ref: "h", ...frame }) as History);
    return peer.of("results")[0].messages.map((m) => m.text);
  };
  assert.deepEqual(page("ann_0001", { limit: 2 }), ["m4", "m5"]);
  assert.deepEqual(page("bob_0001", { limit: 2 }), ["m5", "dm"]);
  assert.deepEqual(page("ann_0001", { limit: 2, before: stored[3].id }), ["m1", "m2"]);
});

Deno.test("history: a search asks the searcher for the user's MAX_SEARCH_RESULTS and answers when it does", async () => {
  const asked: SearchRequest[] = [];
  let answer!: (outcome: SearchOutcome) => void;
  const { histories } = setup(() => ({
    search: (request) => {
      asked.push(request);
      return new Promise((resolve) => answer = resolve);
    },
    close() {},
  }));
  const peer = new FakePeer("ann");
  histories.search(
    peer,
    "ann_0001",
    clientFrame({ type: "search", ref: "s", pattern: "x+" }) as Search,
  );
  assert.deepEqual(asked, [{ userId: "ann_0001", pattern: "x+", limit: MAX_SEARCH_RESULTS }]);
  await Promise.resolve();
  assert.equal(peer.frames.length, 0, "nothing before the searcher answers");
  answer({ ok: true, total: 0, messages: [] });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(peer.frames, [{ type: "results", ref: "s", total: 0, messages: [] }]);
});

Deno.test("history: search results of long messages are cut to the first that fit one frame; total is the searcher's", async () => {
  const { store, histories } = setup();
  const stored = publicMessages(store, 40, long);
  const newestFirst: StoredMessage[] = [...stored].reverse();
  const peer = new FakePeer("ann");
  const frame = clientFrame({ type: "search", ref: "s", pattern: "x" }) as Search;
  histories.search(peer, "ann_0001", frame);
  await new Promise((resolve) => setTimeout(resolve, 0));
  const [results] = peer.of("results");
  assert.equal(results.total, 40);
  const n = results.messages.length;
  assert.ok(n > 5 && n < 40, `${n} fit`);
  assert.deepEqual(results.messages.map((m) => m.id), newestFirst.slice(0, n).map((m) => m.id));
  assert.ok(peer.raw[0].length <= MAX_FRAME_BYTES + 4);
});
