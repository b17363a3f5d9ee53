// Unit tests of the Store: identities and message history, the same tests against SqliteStore
// (node:sqlite) and PostgresStore (a real PostgreSQL, started for this file); SQLite-only ones
// (its files, WAL, migrations) are named SqliteStore or test a file.
//
// Run: deno test -A tests/store_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import { QUOTE_LENGTH, type Store } from "../src/server/store/store.ts";
import { PostgresStore } from "../src/server/store/postgres.ts";
import { sharedPostgres } from "./engines.ts";
import { Backlog, BACKLOG_PAGE, type BacklogPlan, planBacklog } from "../src/server/backlog.ts";
import { GENERAL_ROOM, type Message, type ServerFrame } from "../src/protocol/schema.ts";
import { inGeneral, insert, mid, newMessage } from "./fixtures.ts";

type StoredMessageLike = { id: string; seq: number };

function ids(messages: { id: string }[]): string[] {
  return messages.map((m) => m.id);
}

/** Every frame of a backlog, read page by page as a connection would. */
function drain(store: Store, user: string, plan: BacklogPlan): ServerFrame[] {
  const backlog = new Backlog(store, user, plan);
  const frames: ServerFrame[] = [];
  for (let page = backlog.next(), n = 0; page && n < 10_000; page = backlog.next(), n++) {
    frames.push(...page);
  }
  return frames;
}

const messagesOf = (frames: ServerFrame[]) =>
  frames.filter((f): f is Message => f.type === "message");

/** What a newcomer who has seen everything is shown: the newest `limit` they may see. */
function recentVisible(store: Store, user: string, limit: number): Message[] {
  const plan = planBacklog(store, user, {
    resumeSeq: null,
    lastSeq: store.latestSeq(),
    recent: limit,
    limit,
  });
  return messagesOf(drain(store, user, plan));
}

/** The direct messages to or from `user` after `afterSeq`, the newest `limit`, oldest first. */
function directSince(store: Store, user: string, afterSeq: number, limit: number) {
  const upto = store.latestSeq();
  const from = store.newestStart(user, afterSeq, upto, limit, true) ?? afterSeq;
  return messagesOf(drain(store, user, { segments: [{ after: from, upto, directOnly: true }] }));
}

/** What a resume from `id` replays: messages, and whether it was cut (null: unknown id). */
function replaySince(store: Store, user: string, id: string, limit: number) {
  const resumeSeq = store.seqOf(id);
  if (resumeSeq === null) return null;
  const frames = drain(
    store,
    user,
    planBacklog(store, user, { resumeSeq, lastSeq: 0, recent: 0, limit }),
  );
  return {
    messages: messagesOf(frames),
    truncated: frames.some((f) => f.type === "error" && f.code === "backlog_truncated"),
  };
}

/** What `user` reads of the store by every path: backlogs, a resume from `from`, history pages
 * (before `upto`, and the newest), and a search for anything. */
function everyRead(store: Store, user: string, from: string, upto: string) {
  return [
    recentVisible(store, user, 100),
    directSince(store, user, 0, 100),
    replaySince(store, user, from, 100)!.messages,
    store.visibleBefore(user, upto, 100),
    store.visibleBefore(user, undefined, 100),
    store.search(user, () => true, 100).messages,
  ];
}

/** A test given the path of a database file in a fresh temp dir (removed afterwards) and the dir. */
function withDbFile(fn: (path: string, dir: string) => void): () => void {
  return () => {
    const dir = Deno.makeTempDirSync({ prefix: "chat-store-test-" });
    try {
      fn(join(dir, "chat.db"), dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** Who the tests read as: in GENERAL_ROOM, where the public messages are. */
const PEOPLE = ["tom_0001", "tom_0002", "alice_1234", "bob_1111", "carol_3333", "eve_6666"];

/** One PostgreSQL for this file; each test gets a fresh database on it. */
const postgres = sharedPostgres();

/** One PostgresStore for the file's tests, emptied before each (a new one costs ~0.5 s). */
let shared: { store: PostgresStore; url: string } | null = null;

/** The backends every store test runs against; `open` gives an empty store, `done` is after. */
const BACKENDS: { name: string; open(): Promise<Store>; done(store: Store): void }[] = [
  {
    name: "sqlite",
    open: () => Promise.resolve(new SqliteStore(":memory:")),
    done: (store) => store.close(),
  },
  {
    name: "postgres",
    open: async () => {
      if (!shared) {
        const url = await postgres.freshDatabase();
        shared = { store: new PostgresStore(url), url };
      } else {
        await postgres.emptyDatabase(shared.url);
      }
      return shared.store;
    },
    done: () => {},
  },
];

/**
 * Registers `fn` once per backend, named `[backend] name`, with an empty store (the test people
 * in GENERAL_ROOM, unless `bare`).
 */
function storeTest(
  name: string,
  fn: (store: Store) => void,
  options: { bare?: boolean } = {},
): void {
  for (const backend of BACKENDS) {
    Deno.test({
      name: `[${backend.name}] ${name}`,
      // the PostgreSQL store's worker and the server's process outlive a test
      sanitizeOps: backend.name === "sqlite",
      sanitizeResources: backend.name === "sqlite",
      fn: async () => {
        const store = await backend.open();
        try {
          if (!options.bare) inGeneral(store, ...PEOPLE, "a_0001", "x_0001", "y_0001", "zed_0000");
          fn(store);
        } finally {
          backend.done(store);
        }
      },
    });
  }
}

function addIdentity(store: Store, id: string, name: string, tokenHash = `hash-${id}`) {
  store.createIdentity({ id, name, tokenHash, createdAt: 1 });
}

// ---- identities -------------------------------------------------------------------------------

storeTest(
  "canonicalId: the id as issued, ignoring case; null when never issued",
  (store) => {
    addIdentity(store, "Tom_0001", "Tom");
    assert.equal(store.canonicalId("Tom_0001"), "Tom_0001");
    assert.equal(store.canonicalId("tom_0001"), "Tom_0001");
    assert.equal(store.canonicalId("TOM_0001"), "Tom_0001");
    assert.equal(store.canonicalId("tom_0002"), null);
    assert.equal(store.canonicalId(""), null);
  },
);

storeTest(
  "createIdentity: the same id in another case cannot be issued twice",
  (store) => {
    addIdentity(store, "Tom_0001", "Tom");
    assert.throws(() => addIdentity(store, "tom_0001", "tom"));
  },
);

storeTest(
  "identity and identityByToken: by id; by name + token hash",
  (store) => {
    store.createIdentity({ id: "tom_0001", name: "tom", tokenHash: "aaa", createdAt: 42 });
    store.createIdentity({ id: "tom_0002", name: "tom", tokenHash: "bbb", createdAt: 43 });
    assert.deepEqual(store.identity("tom_0001"), {
      id: "tom_0001",
      name: "tom",
      tokenHash: "aaa",
      createdAt: 42,
      lastSeq: 0,
    });
    assert.equal(store.identity("nobody_0000"), null);
    assert.equal(store.identityByToken("tom", "bbb")?.id, "tom_0002");
    assert.equal(store.identityByToken("tom", "aaa")?.id, "tom_0001");
    assert.equal(store.identityByToken("tom", "ccc"), null, "wrong token");
    assert.equal(store.identityByToken("alice", "aaa"), null, "right token, other name");
  },
);

storeTest(
  "setLastSeq: remembered on the identity",
  (store) => {
    addIdentity(store, "tom_0001", "tom", "aaa");
    store.setLastSeq("tom_0001", 17);
    assert.equal(store.identity("tom_0001")?.lastSeq, 17);
    assert.equal(store.identityByToken("tom", "aaa")?.lastSeq, 17);
  },
);

// ---- messages ---------------------------------------------------------------------------------

storeTest(
  "insertMessage: increasing seq; message() reads it back with every field",
  (store) => {
    assert.equal(store.latestSeq(), 0);
    const pub = { id: mid(1), from: "tom_0001", text: "public", time: 100 };
    const direct = {
      id: mid(2),
      from: "tom_0001",
      to: ["alice_1234", "bob_1111"],
      text: "direct ✓ 日本",
      time: 200,
      replyTo: mid(1),
      expiresAt: 9_999_999_999_999,
    };
    const a = store.insertMessage(pub);
    const b = store.insertMessage(direct);
    assert.ok(b.seq > a.seq);
    assert.equal(store.latestSeq(), b.seq);
    assert.deepEqual(store.message(mid(1)), { seq: a.seq, ...pub });
    assert.deepEqual(store.message(mid(2)), {
      seq: b.seq,
      ...direct,
      quote: { from: "tom_0001", text: "public" },
    });
    assert.equal(store.message(mid(3)), null);
  },
);

storeTest(
  "insertMessage: a duplicate id is refused and leaves nothing behind",
  (store) => {
    store.insertMessage({ id: mid(1), from: "tom_0001", text: "one", time: 1 });
    assert.throws(() =>
      store.insertMessage({ id: mid(1), from: "x_0001", to: ["y_0001"], text: "two", time: 2 })
    );
    assert.equal(store.message(mid(1))?.text, "one");
    assert.deepEqual(directSince(store, "y_0001", 0, 10), []);
    // the store is still usable (the transaction was rolled back)
    store.insertMessage({ id: mid(2), from: "tom_0001", text: "three", time: 3 });
    assert.equal(store.message(mid(2))?.text, "three");
  },
);

storeTest(
  "recentVisible: the newest N visible, oldest first; DMs only for their audience",
  (store) => {
    const pub1 = store.insertMessage(newMessage("tom_0001"));
    const dm = store.insertMessage(newMessage("tom_0001", ["alice_1234"]));
    const pub2 = store.insertMessage(newMessage("bob_1111"));
    const dm2 = store.insertMessage(newMessage("alice_1234", ["bob_1111"]));
    assert.deepEqual(ids(recentVisible(store, "tom_0001", 10)), ids([pub1, dm, pub2]));
    assert.deepEqual(ids(recentVisible(store, "alice_1234", 10)), ids([pub1, dm, pub2, dm2]));
    assert.deepEqual(ids(recentVisible(store, "bob_1111", 10)), ids([pub1, pub2, dm2]));
    assert.deepEqual(ids(recentVisible(store, "carol_3333", 10)), ids([pub1, pub2]));
    assert.deepEqual(ids(recentVisible(store, "alice_1234", 2)), ids([pub2, dm2]));
  },
);

storeTest(
  "directSince: DMs to or from the user after a seq, oldest first, the newest when limited",
  (store) => {
    const d1 = store.insertMessage(newMessage("tom_0001", ["alice_1234"]));
    store.insertMessage(newMessage("tom_0001")); // public: not a DM
    const d2 = store.insertMessage(newMessage("alice_1234", ["bob_1111"]));
    store.insertMessage(newMessage("bob_1111", ["carol_3333"])); // not alice's
    const d3 = store.insertMessage(newMessage("bob_1111", ["alice_1234", "carol_3333"]));
    assert.deepEqual(ids(directSince(store, "alice_1234", 0, 10)), ids([d1, d2, d3]));
    assert.deepEqual(ids(directSince(store, "alice_1234", d1.seq, 10)), ids([d2, d3]));
    assert.deepEqual(ids(directSince(store, "alice_1234", 0, 2)), ids([d2, d3]));
    assert.deepEqual(ids(directSince(store, "alice_1234", d3.seq, 10)), []);
    assert.deepEqual(ids(directSince(store, "zed_0000", 0, 10)), []);
  },
);

storeTest(
  "replaySince: what the user may see after an id, the newest `limit` of it, and whether more was left out; null for an unknown id",
  (store) => {
    const a = store.insertMessage(newMessage("tom_0001"));
    const dmOther = store.insertMessage(newMessage("bob_1111", ["carol_3333"]));
    const dmMine = store.insertMessage(newMessage("bob_1111", ["alice_1234"]));
    const b = store.insertMessage(newMessage("tom_0001"));
    const replay = (user: string, id: string, limit: number) => {
      const r = replaySince(store, user, id, limit)!;
      return { ids: ids(r.messages), truncated: r.truncated };
    };
    assert.deepEqual(replay("alice_1234", a.id, 10), { ids: ids([dmMine, b]), truncated: false });
    assert.deepEqual(replay("carol_3333", a.id, 10), { ids: ids([dmOther, b]), truncated: false });
    assert.deepEqual(replay("alice_1234", a.id, 2), { ids: ids([dmMine, b]), truncated: false });
    // more than the limit: the newest, oldest first, and said so
    assert.deepEqual(replay("alice_1234", a.id, 1), { ids: ids([b]), truncated: true });
    assert.deepEqual(replay("alice_1234", b.id, 10), { ids: [], truncated: false });
    assert.equal(replaySince(store, "alice_1234", mid(999_999), 10), null);
  },
);

storeTest(
  "visibleBefore: the newest `limit` before an id (or the newest), oldest first",
  (store) => {
    const ms = Array.from({ length: 6 }, () => store.insertMessage(newMessage("tom_0001")));
    const dm = store.insertMessage(newMessage("tom_0001", ["alice_1234"]));
    assert.deepEqual(ids(store.visibleBefore("bob_1111", undefined, 3)), ids(ms.slice(3)));
    assert.deepEqual(
      ids(store.visibleBefore("alice_1234", undefined, 3)),
      ids([ms[4], ms[5], dm]),
    );
    assert.deepEqual(ids(store.visibleBefore("bob_1111", ms[4].id, 2)), ids([ms[2], ms[3]]));
    assert.deepEqual(ids(store.visibleBefore("bob_1111", ms[0].id, 5)), []);
    assert.deepEqual(store.visibleBefore("bob_1111", mid(999_999), 5), [], "unknown id");
  },
);

storeTest(
  "DMs are invisible to anyone outside their audience, through every read",
  (store) => {
    const before = store.insertMessage(newMessage("tom_0001"));
    const secret = store.insertMessage(newMessage("tom_0001", ["alice_1234"], "the secret"));
    const after = store.insertMessage(newMessage("tom_0001"));
    for (const read of everyRead(store, "eve_6666", before.id, after.id)) {
      assert.ok(!ids(read).includes(secret.id));
      assert.ok(!read.some((m) => m.text === "the secret"));
    }
  },
);

storeTest(
  "rows come back as plain objects that compare with deepEqual",
  (store) => {
    const stored = store.insertMessage({
      id: mid(1),
      from: "a_0001",
      room: GENERAL_ROOM,
      text: "x",
      time: 5,
    });
    const [row] = store.messagesAfter("a_0001", 0, stored.seq, 1);
    assert.deepEqual({ ...row }, {
      seq: stored.seq,
      id: mid(1),
      from: "a_0001",
      room: GENERAL_ROOM,
      text: "x",
      time: 5,
    });
  },
);

// ---- replies and quotes ----------------------------------------------------------------------

storeTest(
  "quote: a reply is read with the original's author and first line, cut",
  (store) => {
    const long = "x".repeat(QUOTE_LENGTH + 50);
    store.insertMessage({ id: mid(1), from: "tom_0001", text: `first\nsecond`, time: 1 });
    store.insertMessage({ id: mid(2), from: "bob_1111", text: long, time: 2 });
    store.insertMessage({ id: mid(3), from: "alice_1234", text: "re", time: 3, replyTo: mid(1) });
    store.insertMessage({ id: mid(4), from: "alice_1234", text: "re", time: 4, replyTo: mid(2) });
    assert.deepEqual(store.message(mid(3))?.quote, { from: "tom_0001", text: "first" });
    const cut = store.message(mid(4))?.quote;
    assert.ok(cut && "text" in cut);
    assert.equal(cut.text.length, QUOTE_LENGTH);
    assert.ok(cut.text.endsWith("…"));
    assert.equal(store.message(mid(1))?.quote, undefined, "not a reply: no quote");
  },
);

storeTest(
  "quote: once the original is purged, replies quote it as deleted (its text never leaks)",
  (store) => {
    store.insertMessage({ id: mid(1), from: "tom_0001", text: "regret this", time: 1 });
    store.insertMessage({ id: mid(2), from: "alice_1234", text: "lol", time: 2, replyTo: mid(1) });
    store.purge([mid(1)], "deleted");
    const reads = [
      store.message(mid(2)),
      ...recentVisible(store, "bob_1111", 10),
      ...store.visibleBefore("bob_1111", undefined, 10),
      ...store.search("bob_1111", () => true, 10).messages,
    ];
    for (const m of reads) {
      assert.equal(m?.id, mid(2));
      assert.deepEqual(m?.quote, { deleted: true });
    }
  },
);

// ---- purge, expiry, search --------------------------------------------------------------------

storeTest(
  "purge: returns the live messages and their audience; they never come back through any read",
  (store) => {
    const before = store.insertMessage(newMessage("tom_0001"));
    const gone = store.insertMessage(newMessage("tom_0001", undefined, "delete me"));
    const dm = store.insertMessage(newMessage("tom_0001", ["alice_1234"], "secret dm"));
    const after = store.insertMessage(newMessage("tom_0001"));
    const purged = store.purge([gone.id, dm.id, mid(999_999)], "deleted");
    assert.deepEqual(purged.map((m) => m.id), [gone.id, dm.id], "the unknown id is skipped");
    assert.deepEqual(purged[0], { id: gone.id, from: "tom_0001", room: GENERAL_ROOM });
    assert.deepEqual(purged[1].to, ["alice_1234"], "the audience comes back to notify");
    for (const user of ["tom_0001", "alice_1234"]) {
      for (const read of everyRead(store, user, before.id, after.id)) {
        assert.ok(!ids(read).includes(gone.id), user);
        assert.ok(!ids(read).includes(dm.id), user);
      }
    }
    assert.equal(store.message(gone.id), null);
    assert.equal(store.message(dm.id), null);
  },
);

storeTest(
  "purge: a second purge of the same id returns nothing",
  (store) => {
    const m = store.insertMessage(newMessage("tom_0001"));
    assert.equal(store.purge([m.id], "expired").length, 1);
    assert.deepEqual(store.purge([m.id], "deleted"), []);
    assert.deepEqual(store.purge([], "deleted"), []);
  },
);

Deno.test(
  "purge: the text is gone from the database file, WAL included",
  withDbFile((path, dir) => {
    const store = new SqliteStore(path);
    const secret = "UNIQUE-SECRET-" + crypto.randomUUID();
    const m = store.insertMessage({ id: mid(1), from: "tom_0001", text: secret, time: 1 });
    store.insertMessage({ id: mid(2), from: "tom_0001", text: "keep", time: 2 });
    store.purge([m.id], "deleted");
    store.close();
    const bytes = new TextDecoder("latin1").decode(Deno.readFileSync(path));
    assert.ok(!bytes.includes(secret), "purged text found in the db file");
    for (const entry of Deno.readDirSync(dir)) {
      const file = new TextDecoder("latin1").decode(Deno.readFileSync(join(dir, entry.name)));
      assert.ok(!file.includes(secret), `purged text found in ${entry.name}`);
    }
  }),
);

storeTest(
  "pendingExpiries: live temporary messages only",
  (store) => {
    store.insertMessage({ id: mid(1), from: "a_0001", text: "t1", time: 1, expiresAt: 100 });
    store.insertMessage({ id: mid(2), from: "a_0001", text: "plain", time: 2 });
    store.insertMessage({ id: mid(3), from: "a_0001", text: "t3", time: 3, expiresAt: 50 });
    store.insertMessage({ id: mid(4), from: "a_0001", text: "t4", time: 4, expiresAt: 70 });
    store.purge([mid(4)], "deleted");
    const pending = store.pendingExpiries().map((p) => ({ ...p }));
    pending.sort((a, b) => a.expiresAt - b.expiresAt);
    assert.deepEqual(pending, [{ id: mid(3), expiresAt: 50 }, { id: mid(1), expiresAt: 100 }]);
  },
);

storeTest(
  "search: visible live matches newest first, limited, with the full total",
  (store) => {
    const a = store.insertMessage(newMessage("tom_0001", undefined, "apple pie"));
    store.insertMessage(newMessage("tom_0001", undefined, "banana"));
    const dm = store.insertMessage(newMessage("tom_0001", ["alice_1234"], "apple secret"));
    const b = store.insertMessage(newMessage("bob_1111", undefined, "apple tart"));
    const c = store.insertMessage(newMessage("bob_1111", undefined, "apple crumble"));
    const has = (t: string) => t.includes("apple");
    assert.deepEqual(store.search("carol_3333", has, 10).total, 3);
    assert.deepEqual(ids(store.search("carol_3333", has, 10).messages), ids([c, b, a]));
    const alice = store.search("alice_1234", has, 2);
    assert.equal(alice.total, 4);
    assert.deepEqual(ids(alice.messages), ids([c, b]));
    assert.deepEqual(ids(store.search("alice_1234", has, 10).messages), ids([c, b, dm, a]));
    assert.deepEqual(store.search("carol_3333", () => false, 10), { total: 0, messages: [] });
  },
);

// ---- persistence ------------------------------------------------------------------------------

Deno.test(
  "SqliteStore: identities and history survive closing and reopening a file",
  withDbFile((path) => {
    const first = new SqliteStore(path);
    first.createIdentity({ id: "Tom_0001", name: "Tom", tokenHash: "aaa", createdAt: 7 });
    inGeneral(first, "alice_1234", "bob_1111");
    first.setLastSeq("Tom_0001", 1);
    const pub = first.insertMessage({
      id: mid(1),
      from: "Tom_0001",
      room: GENERAL_ROOM,
      text: "kept",
      time: 1,
    });
    const dm = first.insertMessage({
      id: mid(2),
      from: "Tom_0001",
      to: ["alice_1234"],
      text: "also kept",
      time: 2,
    });
    first.close();

    const second = new SqliteStore(path);
    try {
      assert.equal(second.canonicalId("tom_0001"), "Tom_0001");
      assert.equal(second.identityByToken("Tom", "aaa")?.lastSeq, 1);
      assert.deepEqual(ids(recentVisible(second, "alice_1234", 10)), [pub.id, dm.id]);
      assert.deepEqual(ids(recentVisible(second, "bob_1111", 10)), [pub.id]);
      assert.equal(second.latestSeq(), dm.seq);
      const next = second.insertMessage({ id: mid(3), from: "Tom_0001", text: "new", time: 3 });
      assert.ok(next.seq > dm.seq, "sequence numbers keep increasing after a reopen");
    } finally {
      second.close();
    }
  }),
);

Deno.test(
  "SqliteStore: close leaves everything in the database file and may be called again; a closed store refuses use",
  withDbFile((path, dir) => {
    const store = new SqliteStore(path);
    store.createIdentity({ id: "tom_0001", name: "tom", tokenHash: "aaa", createdAt: 1 });
    store.close();
    const files = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(files, ["chat.db"], "the WAL folded in and removed");
    assert.doesNotThrow(() => store.close(), "a second close is a no-op");
    assert.throws(() => store.latestSeq(), "a closed store is not silently reopened");
  }),
);

// ---- backlogs read page by page ---------------------------------------------------------------

storeTest(
  "backlog: a resume over many pages replays messages and purges in the order they happened, each once",
  (store) => {
    // a reproducible mix: public and direct messages, purges of earlier ones along the way
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const live: StoredMessageLike[] = [];
    const events: { at: number; what: string }[] = [];
    const early = Array.from({ length: 150 }, () => store.insertMessage(newMessage("tom_0001")));
    const resumeFrom = store.insertMessage(newMessage("tom_0001"));
    live.push(...early);
    // every purge of a message at or before the resume point comes in the replay, after the
    // message that was newest when it happened; messages purged after the resume point do not
    for (let i = 0; i < BACKLOG_PAGE * 5; i++) {
      const to = random() < 0.3 ? ["alice_1234"] : random() < 0.1 ? ["bob_1111"] : undefined;
      const m = store.insertMessage(newMessage("tom_0001", to));
      live.push(m);
      if (!to || to[0] === "alice_1234") events.push({ at: m.seq, what: `m:${m.id}` });
      if (random() < 0.4) {
        const victim = live.splice(Math.floor(random() * live.length), 1)[0];
        store.purge([victim.id], random() < 0.5 ? "deleted" : "expired");
        if (victim.seq <= resumeFrom.seq) {
          events.push({ at: m.seq + 0.5, what: `d:${victim.id}` });
        } else {
          const i = events.findIndex((e) => e.what === `m:${victim.id}`);
          if (i >= 0) events.splice(i, 1);
        }
      }
    }
    // purging the resume point's own message too, with nothing newer since
    store.purge([resumeFrom.id], "deleted");
    events.push({ at: store.latestSeq() + 0.5, what: `d:${resumeFrom.id}` });
    const frames = drain(
      store,
      "alice_1234",
      planBacklog(store, "alice_1234", {
        resumeSeq: resumeFrom.seq,
        lastSeq: 0,
        recent: 0,
        limit: 10_000,
      }),
    );
    const got = frames.map((f) =>
      f.type === "message" ? `m:${f.id}` : f.type === "deleted" ? `d:${f.id}` : f.type
    );
    assert.deepEqual(got, events.sort((a, b) => a.at - b.at).map((e) => e.what));
    assert.ok(got.length > BACKLOG_PAGE * 3, `${got.length} events: several pages`);
  },
);

storeTest(
  "backlog: a newcomer's direct messages from while away come before the recent history, over many pages",
  (store) => {
    const dms = Array.from(
      { length: BACKLOG_PAGE * 2 + 3 },
      () => store.insertMessage(newMessage("bob_1111", ["alice_1234"])),
    );
    const noise = Array.from({ length: 300 }, () => store.insertMessage(newMessage("tom_0001")));
    const frames = drain(
      store,
      "alice_1234",
      planBacklog(store, "alice_1234", { resumeSeq: null, lastSeq: 0, recent: 50, limit: 100 }),
    );
    assert.deepEqual(
      ids(messagesOf(frames)),
      ids([...dms.slice(-100), ...noise.slice(-50)]),
      "the newest 100 DMs, then the newest 50 of everything",
    );
  },
);

storeTest(
  "backlog: holds one page, however long the backlog (messages are read as it is drained)",
  (store) => {
    for (let i = 0; i < 1_000; i++) store.insertMessage(newMessage("tom_0001"));
    let reads = 0;
    const counting = new Proxy(store, {
      get(target, key) {
        const value = Reflect.get(target, key);
        if (key !== "messagesAfter") {
          return typeof value === "function" ? value.bind(target) : value;
        }
        return (...args: Parameters<Store["messagesAfter"]>) => {
          reads++;
          const page = target.messagesAfter(...args);
          assert.ok(page.length <= BACKLOG_PAGE);
          return page;
        };
      },
    });
    const backlog = new Backlog(counting, "alice_1234", {
      segments: [{ after: 0, upto: store.latestSeq(), directOnly: false }],
    });
    assert.equal(reads, 0, "nothing is read before the first page is asked for");
    backlog.next();
    assert.equal(reads, 1);
    let frames = 1;
    while (backlog.next()) frames++;
    assert.equal(frames, Math.ceil(1_000 / BACKLOG_PAGE));
    assert.equal(reads, Math.ceil(1_000 / BACKLOG_PAGE), "one read a page");
  },
);

// ---- rooms ------------------------------------------------------------------------------------

/** The tables of a database from before rooms, as that version made them. */
const SCHEMA_BEFORE_ROOMS = `
CREATE TABLE identities (id TEXT PRIMARY KEY COLLATE NOCASE, name TEXT NOT NULL,
  token_hash TEXT NOT NULL, created_at INTEGER NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL COLLATE NOCASE,
  token_hash TEXT NOT NULL, prev_hash TEXT, rotated_at INTEGER, created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL, address TEXT NOT NULL DEFAULT '', revoked_at INTEGER);
CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
  sender TEXT NOT NULL, recipients TEXT, text TEXT NOT NULL, time INTEGER NOT NULL,
  reply_to TEXT, expires_at INTEGER, purged TEXT, purged_after INTEGER);
CREATE TABLE sent_refs (user_id TEXT NOT NULL, ref TEXT NOT NULL, message_id TEXT NOT NULL,
  time INTEGER NOT NULL, PRIMARY KEY (user_id, ref)) WITHOUT ROWID;
CREATE TABLE audience (user_id TEXT NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (user_id, seq)) WITHOUT ROWID;
INSERT INTO identities (id, name, token_hash, created_at) VALUES
  ('tom_0001', 'tom', 'h1', 1), ('ann_0001', 'ann', 'h2', 2);
INSERT INTO messages (id, sender, recipients, text, time) VALUES
  ('${mid(1)}', 'tom_0001', NULL, 'old public', 1),
  ('${mid(2)}', 'tom_0001', '["ann_0001"]', 'old dm', 2);
INSERT INTO audience (user_id, seq) VALUES ('tom_0001', 2), ('ann_0001', 2);
`;

Deno.test(
  "rooms: a database from before rooms moves its public messages to #general, and everyone into it, once",
  withDbFile((path) => {
    const old = new DatabaseSync(path);
    old.exec(SCHEMA_BEFORE_ROOMS);
    old.close();
    for (let open = 0; open < 2; open++) {
      const store = new SqliteStore(path);
      try {
        // cy, made after the first opening, is the one more the second time
        assert.deepEqual(store.rooms().map((r) => [r.name, r.members, r.private]), [
          [GENERAL_ROOM, 2 + open, false],
        ]);
        assert.deepEqual(store.roomsOf("ann_0001"), [GENERAL_ROOM]);
        assert.equal(store.message(mid(1))?.room, GENERAL_ROOM);
        assert.equal(store.message(mid(2))?.room, undefined, "a DM has no room");
        assert.deepEqual(ids(store.visibleBefore("ann_0001", undefined, 10)), [mid(1), mid(2)]);
        // a new id is put in #general too
        if (open === 0) {
          store.createIdentity({ id: "cy_0001", name: "cy", tokenHash: "h3", createdAt: 3 });
        }
        assert.deepEqual(store.roomsOf("cy_0001"), [GENERAL_ROOM]);
      } finally {
        store.close();
      }
    }
  }),
);

storeTest(
  "rooms: a public message is seen by its room's members only, in every read; parting hides it again",
  (store) => {
    store.joinRoom("tom_0001", "#side", 1, { private: true });
    const side = store.insertMessage({ ...newMessage("tom_0001"), room: "#side" });
    const general = store.insertMessage(newMessage("tom_0001"));
    for (const read of everyRead(store, "alice_1234", general.id, general.id)) {
      assert.ok(!ids(read).includes(side.id), "alice is not in #side");
    }
    assert.equal(store.visibleMessage("alice_1234", side.id), null);
    assert.deepEqual(store.visibleBefore("tom_0001", undefined, 10, "#side").map((m) => m.id), [
      side.id,
    ]);
    assert.deepEqual(
      store.search("tom_0001", () => true, 10, GENERAL_ROOM).messages.map((m) => m.id),
      [general.id],
    );
    store.joinRoom("alice_1234", "#side", 2);
    assert.equal(store.visibleMessage("alice_1234", side.id)?.id, side.id, "earlier ones too");
    store.partRoom("alice_1234", "#side");
    assert.equal(store.visibleMessage("alice_1234", side.id), null);
    // its deletion is replayed to its members only
    store.purge([side.id], "deleted");
    const range = { atOrBefore: general.seq, since: 0, upto: store.latestSeq() };
    assert.deepEqual(store.purgesAfter("alice_1234", range, 10), []);
    assert.deepEqual(store.purgesAfter("tom_0001", range, 10).map((p) => p.id), [side.id]);
  },
);

// ---- moderation ---------------------------------------------------------------------------------

storeTest(
  "store: server operators are added once, listed in the order made, removed; ids ignore case",
  (store) => {
    assert.equal(store.addServerOperator("ann_0001", 2), true);
    assert.equal(store.addServerOperator("ANN_0001", 3), false);
    assert.equal(store.addServerOperator("bob_0002", 1), true);
    assert.deepEqual(store.serverOperators(), ["bob_0002", "ann_0001"]);
    assert.ok(store.isServerOperator("Ann_0001"));
    assert.equal(store.removeServerOperator("ann_0001"), true);
    assert.equal(store.removeServerOperator("ann_0001"), false);
    assert.deepEqual(store.serverOperators(), ["bob_0002"]);
  },
  { bare: true },
);

storeTest(
  "store: a room keeps at most `keep` operators (one already is one), its creator among them",
  (store) => {
    store.joinRoom("ann_0001", "#ops", 1, { private: false });
    assert.equal(store.roomCreator("#ops"), "ann_0001");
    assert.equal(store.roomCreator(GENERAL_ROOM), null);
    assert.equal(store.addRoomOperator("#ops", "bob_0002", 2), true);
    assert.equal(store.addRoomOperator("#ops", "bob_0002", 2), true, "already one");
    assert.equal(store.addRoomOperator("#ops", "cat_0003", 2), false);
    assert.deepEqual(store.roomOperators("#ops"), ["ann_0001", "bob_0002"]);
    assert.equal(store.removeRoomOperator("#ops", "bob_0002"), true);
    assert.equal(store.removeRoomOperator("#ops", "bob_0002"), false);
  },
  { bare: true },
);

storeTest(
  "store: bans and mutes: one per kind, scope and target; in force until their end; listed newest first and paged; pruned a batch at a time",
  (store) => {
    const base = { kind: "ban" as const, onAddress: false, by: "ann_0001" };
    assert.ok(
      store.restrict({ ...base, scope: "#ops", target: "bob_0002", time: 10, until: 100 }, 3),
    );
    assert.ok(
      store.restrict({ ...base, scope: "#ops", target: "cat_0003", time: 20, reason: "x" }, 3),
    );
    assert.ok(
      store.restrict({ ...base, kind: "mute", scope: "#ops", target: "bob_0002", time: 30 }, 3),
    );
    // full: a new one is refused, a replacement is not
    assert.ok(!store.restrict({ ...base, scope: "#ops", target: "dan_0004", time: 40 }, 3));
    assert.ok(store.restrict({ ...base, scope: "#ops", target: "cat_0003", time: 50 }, 3));
    assert.ok(
      store.restrict({ ...base, scope: "", target: "10.0.0.1", onAddress: true, time: 1 }, 3),
    );
    assert.equal(store.restriction("ban", "#ops", "bob_0002", 99)?.until, 100);
    assert.equal(store.restriction("ban", "#ops", "bob_0002", 100), null, "ended");
    assert.equal(store.restriction("ban", "", "10.0.0.1", 99)?.onAddress, true);
    assert.deepEqual(store.restrictionsOf("bob_0002", "mute", 99).map((r) => r.scope), ["#ops"]);
    const listed = store.restrictions("#ops", 99, 0, 2);
    assert.deepEqual(
      [listed.total, listed.restrictions.map((r) => [r.kind, r.target, r.time])],
      [3, [["ban", "cat_0003", 50], ["mute", "bob_0002", 30]]],
    );
    assert.deepEqual(store.restrictions("#ops", 99, 2, 2).restrictions.map((r) => r.target), [
      "bob_0002",
    ]);
    assert.equal(store.restrictions("#ops", 100, 0, 10).total, 2, "the ended one is not listed");
    // lift says whether one was in force
    assert.equal(store.lift("ban", "#ops", "cat_0003", 99), true);
    assert.equal(store.lift("ban", "#ops", "cat_0003", 99), false);
    // pruning forgets ended ones, at most `limit` a time
    for (let i = 0; i < 5; i++) {
      store.restrict({ ...base, scope: "#x", target: `e${i}_0001`, time: 1, until: 50 }, 10);
    }
    assert.equal(store.pruneRestrictions(200, 4), 4);
    assert.equal(store.pruneRestrictions(200, 4), 2);
    assert.equal(store.pruneRestrictions(200, 4), 0);
    assert.deepEqual(store.restrictions("#ops", 0, 0, 10).restrictions.map((r) => r.kind), [
      "mute",
    ]);
  },
  { bare: true },
);

storeTest(
  "store: the moderation log keeps its `keep` newest entries, numbered, newest first, per room or all",
  (store) => {
    for (let i = 1; i <= 6; i++) {
      const id = store.logModeration({
        time: i,
        action: i % 2 ? "kicked" : "banned",
        by: "ann_0001",
        room: i % 2 ? "#a" : undefined,
        user: "bob_0002",
        reason: i === 5 ? "why" : undefined,
      }, 4);
      assert.equal(id, i);
    }
    assert.deepEqual(store.modlog(undefined, undefined, 10).map((e) => e.id), [6, 5, 4, 3]);
    assert.deepEqual(store.modlog(undefined, 5, 10).map((e) => e.id), [4, 3]);
    assert.deepEqual(store.modlog("#a", undefined, 10), [
      {
        id: 5,
        time: 5,
        action: "kicked",
        by: "ann_0001",
        room: "#a",
        user: "bob_0002",
        reason: "why",
      },
      { id: 3, time: 3, action: "kicked", by: "ann_0001", room: "#a", user: "bob_0002" },
    ]);
    // atomically: all of it or none
    assert.throws(() =>
      store.atomically(() => {
        store.logModeration({ time: 7, action: "kicked", by: "x" }, 4);
        throw new Error("no");
      })
    );
    assert.equal(store.modlog(undefined, undefined, 1)[0].id, 6);
  },
  { bare: true },
);

storeTest(
  "store: dropRoom takes a room's members, operators, invitations, bans and mutes (no other scope's) and marks it; dropRoom writes delete its oldest messages a batch at a time, then it; the latest seq stays",
  (store) => {
    inGeneral(store, "ann_0001", "bob_0001");
    store.joinRoom("ann_0001", "#spam", 1, { private: true });
    store.joinRoom("bob_0001", "#spam", 2);
    store.invite("#spam", "cat_0001", "ann_0001", 3, 10);
    const ban = { kind: "ban" as const, target: "cat_0001", onAddress: false, by: "ann_0001" };
    store.restrict({ ...ban, scope: "#spam", time: 4 }, 10);
    store.restrict({ ...ban, kind: "mute", scope: "#spam", time: 4 }, 10);
    store.restrict({ ...ban, scope: "", time: 4 }, 10);
    const inRoom = (n: number) => ({
      ...newMessage("ann_0001", undefined, `spam ${n}`),
      room: "#spam",
    });
    const spam = [1, 2, 3, 4, 5].map(inRoom);
    const [general] = insert(store, newMessage("bob_0001", undefined, "kept"));
    insert(store, ...spam);
    const latest = store.latestSeq();

    assert.equal(store.dropRoom("#spam"), true);
    assert.equal(store.dropRoom("#spam"), false, "being removed already");
    assert.equal(store.dropRoom("#nothing"), false);
    assert.deepEqual(store.roomsOf("bob_0001"), [GENERAL_ROOM]);
    assert.deepEqual(store.roomOperators("#spam"), []);
    assert.equal(store.isInvited("cat_0001", "#spam"), false);
    assert.equal(store.restriction("ban", "#spam", "cat_0001", 5), null);
    assert.equal(store.restriction("mute", "#spam", "cat_0001", 5), null);
    assert.ok(store.restriction("ban", "", "cat_0001", 5), "a server-wide ban is not the room's");
    assert.deepEqual(store.rooms().map((r) => r.name), [GENERAL_ROOM]);
    assert.deepEqual(store.droppedRooms(), ["#spam"]);

    // oldest first, `limit` at a time; fewer than `limit` left: the last batch, and the room goes
    assert.deepEqual(store.commit([{ kind: "dropRoom", room: "#spam", limit: 2 }]), [
      { removed: 2, done: false },
    ]);
    assert.equal(store.tombstone(spam[0].id), null);
    assert.ok(store.message(spam[2].id));
    assert.deepEqual(store.commit([{ kind: "dropRoom", room: "#spam", limit: 2 }]), [
      { removed: 2, done: false },
    ]);
    assert.deepEqual(store.commit([{ kind: "dropRoom", room: "#spam", limit: 2 }]), [
      { removed: 1, done: true },
    ]);
    assert.deepEqual(store.droppedRooms(), []);
    for (const m of spam) assert.equal(store.seqOf(m.id), null);
    assert.ok(store.message(general.id), "other rooms' messages stay");
    // its newest messages went: the latest seq given out does not go back, nor does the next
    assert.equal(store.latestSeq(), latest);
    const [next] = insert(store, newMessage("bob_0001"));
    assert.equal(next.seq, latest + 1);
    // the name is free: made again, it is a new room with nothing in it
    store.joinRoom("bob_0001", "#spam", 9, { private: false });
    assert.equal(store.roomCreator("#spam"), "bob_0001");
    assert.deepEqual(store.visibleBefore("bob_0001", undefined, 10, "#spam"), []);
  },
  { bare: true },
);

Deno.test({
  name: "[postgres] (the server stops)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    shared?.store.close();
    await postgres.remove();
  },
});
