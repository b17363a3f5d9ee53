// PostgresStore as a cluster uses it, on a real PostgreSQL: several nodes committing at once,
// commit numbers, ids taken by another node, the bridge's timeouts and failures, and what a
// purge leaves on disk.
//
// Run: deno test -A --lock=deno.dev.lock tests/pg_store_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import { PG_READ_TIMEOUT_MS, PostgresStore } from "../src/server/store/postgres.ts";
import { IdTakenError, type StoredMessage } from "../src/server/store/store.ts";
import { GENERAL_ROOM } from "../src/protocol/schema.ts";
import { type PostgresEngine, psql, startPostgres } from "./engines.ts";
import type { CommitSeen, CommitterJob } from "./pg_committer.ts";

let engine: PostgresEngine | null = null;
let databases = 0;

/** A new empty database on this file's PostgreSQL (started on first use). */
async function freshDatabase(): Promise<string> {
  // the last test removes it; filtered out, it is killed when the process unloads
  engine ??= await startPostgres();
  const name = `c${++databases}`;
  await psql(engine.url, `CREATE DATABASE ${name}`);
  const url = new URL(engine.url);
  url.pathname = `/${name}`;
  return url.href;
}

/**
 * A test with the PostgreSQL store, on a new empty database (its URL given): the store's worker
 * outlives a test's op accounting.
 */
function pgTest(name: string, fn: (url: string) => void | Promise<void>) {
  Deno.test({
    name,
    fn: async () => fn(await freshDatabase()),
    sanitizeOps: false,
    sanitizeResources: false,
  });
}

/** A store on `url`, closed when the block that holds it (`using`) ends, however it ends. */
function opened(
  url: string,
  options?: ConstructorParameters<typeof PostgresStore>[1],
): PostgresStore & Disposable {
  const store = new PostgresStore(url, options);
  return Object.assign(store, { [Symbol.dispose]: () => store.close() });
}

/** Runs a committer worker (one node) to the end. */
function runNode(job: CommitterJob): Promise<CommitSeen[]> {
  return runWorker(job).then((data) => (data as { seen: CommitSeen[] }).seen);
}

/** Runs a committer worker to the end: what it reports. */
function runWorker(job: CommitterJob): Promise<unknown> {
  const worker = new Worker(new URL("./pg_committer.ts", import.meta.url), { type: "module" });
  return new Promise<unknown>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${job.node} did not finish`)), 60_000);
    worker.onmessage = ({ data }) => {
      clearTimeout(timer);
      if ("error" in data) reject(new Error(data.error));
      else resolve(data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      clearTimeout(timer);
      reject(new Error(event.message));
    };
    worker.postMessage(job);
  }).finally(() => worker.terminate());
}

pgTest(
  "cluster: two nodes committing at once get gapless seqs and commit numbers, commit order is seq order, and commitsAfter tells exactly what each commit did",
  async (url) => {
    // both open the fresh database at once: the schema is made once, under its lock
    const [a, b] = await Promise.all([
      runNode({ url, node: "a", commits: 60, batch: 3 }),
      runNode({ url, node: "b", commits: 60, batch: 2 }),
    ]);
    using store = opened(url);
    const seen = [...a, ...b].sort((x, y) => x.commitNo - y.commitNo);
    assert.deepEqual(
      seen.map((s) => s.commitNo),
      seen.map((_, i) => i + 1),
      "gapless, each once",
    );
    assert.equal(store.latestCommitNo(), 120);
    // commit order is seq order: each commit's seqs follow the previous commit's, no gaps
    const seqs = seen.flatMap((s) => s.inserted.map((m) => m.seq));
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
    assert.equal(store.latestSeq(), 60 * 3 + 60 * 2);

    const records = [...store.commitsAfter(0, 70), ...store.commitsAfter(70, 70)];
    assert.deepEqual(records.map((r) => r.commitNo), seen.map((s) => s.commitNo));
    for (const [i, record] of records.entries()) {
      assert.deepEqual(
        record.messages.map((m) => [m.id, m.seq]),
        seen[i].inserted.map((m) => [m.id, m.seq]),
      );
      assert.deepEqual(record.purges.map((p) => p.id), seen[i].purged);
      for (const purge of record.purges) {
        assert.equal(purge.reason, "deleted");
        // a purge goes after the newest message when it happened: this commit's last insert
        assert.equal(purge.after, Math.max(...seqs.filter((s) => s <= purge.after)));
        assert.ok(purge.after < (record.messages[0]?.seq ?? Infinity));
      }
    }
    // a message purged since comes back in its commit without its text
    const purged = records.flatMap((r) => r.purges.map((p) => p.id));
    const gone = records.flatMap((r) => r.messages).filter((m) => purged.includes(m.id));
    assert.ok(gone.length > 0 && gone.every((m) => m.text === ""));
    assert.deepEqual(store.commitsAfter(120, 10), []);
    assert.equal(store.commitsAfter(118, 1).length, 1);
  },
);

pgTest(
  "cluster: two nodes issuing the same ids at the same moment: each id is issued once, the other node gets IdTakenError",
  async (url) => {
    using store = opened(url);
    const [a, b] = await Promise.all(
      ["a", "b"].map((node) =>
        runWorker({ url, node, commits: 80, batch: 0, identities: true }) as Promise<
          { issued: string[] }
        >
      ),
    );
    for (let i = 0; i < 80; i++) {
      assert.deepEqual([a.issued[i], b.issued[i]].sort(), ["issued", "taken"], `id${i}_0001`);
      const winner = a.issued[i] === "issued" ? "a" : "b";
      assert.equal(store.sessionByToken(`id${i}`, winner)?.identity.id, `id${i}_0001`);
    }
  },
);

pgTest(
  "cluster: a commit that only drops a room's messages still takes a number; lastCommitNo is this store's",
  (url) => {
    using one = opened(url);
    using two = opened(url);
    one.joinRoom("ann_0001", "#spam", 1, { private: false });
    one.commit([{
      kind: "insert",
      message: { id: "s1", from: "ann_0001", room: "#spam", text: "x", time: 1 },
    }]);
    assert.equal(one.lastCommitNo, 1);
    assert.equal(two.lastCommitNo, 0);
    assert.ok(one.dropRoom("#spam"));
    assert.deepEqual(two.commit([{ kind: "dropRoom", room: "#spam", limit: 10 }]), [
      { removed: 1, done: true },
    ]);
    assert.equal(two.lastCommitNo, 2);
    assert.equal(one.latestCommitNo(), 2);
    assert.deepEqual(one.commitsAfter(0, 10), [
      { commitNo: 1, messages: [], purges: [] }, // its message went with the room
      { commitNo: 2, messages: [], purges: [] },
    ]);
    assert.deepEqual(one.commit([]), [], "nothing to commit: no number");
    assert.equal(one.latestCommitNo(), 2);
  },
);

pgTest(
  "cluster: an id another node issued (in any case) throws IdTakenError, and nothing of it is kept",
  (url) => {
    using one = opened(url);
    using two = opened(url);
    one.createIdentity({ id: "Tom_0001", name: "Tom", tokenHash: "h1", createdAt: 1 });
    assert.throws(
      () => two.createIdentity({ id: "tom_0001", name: "tom", tokenHash: "h2", createdAt: 2 }),
      (error) => error instanceof IdTakenError && error.id === "tom_0001",
    );
    assert.equal(two.sessionByToken("tom", "h2"), null, "its session rolled back with it");
    assert.equal(two.canonicalId("TOM_0001"), "Tom_0001");
    // other failures are not that
    assert.throws(
      () =>
        one.commit([{ kind: "insert", message: { id: "m", from: "x", text: "", time: 0 } }, {
          kind: "insert",
          message: { id: "m", from: "x", text: "", time: 0 },
        }]),
      (error) => !(error instanceof IdTakenError) && /refused the statement/.test(String(error)),
    );
  },
);

/**
 * Calls `store` until one goes through (after a timeout, calls are refused at once until a
 * background ping is answered): at most 5 s.
 */
async function answering(store: PostgresStore): Promise<void> {
  for (let tries = 0;; tries++) {
    try {
      return store.ping();
    } catch (error) {
      if (tries >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

pgTest(
  "bridge: a frozen PostgreSQL makes a call throw within its timeout, saying so; once it runs again, so do calls",
  async (url) => {
    using store = opened(url);
    store.commit([{
      kind: "insert",
      message: { id: "m1", from: "x", room: GENERAL_ROOM, text: "a", time: 1 },
    }]);
    engine!.freeze();
    const started = performance.now();
    try {
      assert.throws(() => store.latestSeq(), /did not answer within 2000 ms \(latestSeq\)/);
      const took = performance.now() - started;
      assert.ok(took >= PG_READ_TIMEOUT_MS - 10 && took < PG_READ_TIMEOUT_MS + 500, `${took} ms`);
      // while it stays frozen, calls fail at once: the server is not frozen 2 s per call
      const again = performance.now();
      assert.throws(() => store.latestSeq(), /is not answering; requests are refused/);
      assert.ok(performance.now() - again < 100, "refused at once");
    } finally {
      engine!.thaw();
    }
    // once a ping (sent in the background) is answered, calls go through again; the stale
    // answer of the call that timed out is not taken for this one's
    await answering(store);
    assert.equal(store.message("m1")?.text, "a");
    assert.equal(store.latestSeq(), 1);
  },
);

pgTest(
  "bridge: PostgreSQL stopped makes calls throw at once, saying so; they work again once it is back",
  async (url) => {
    using store = opened(url);
    await engine!.stop();
    let started = performance.now();
    assert.throws(() => store.latestSeq(), /refused the connection|connection .* was lost/);
    assert.throws(() => store.latestSeq(), /refused the connection/);
    assert.ok(performance.now() - started < 1000, "not after a timeout");
    // nor can a store be opened
    started = performance.now();
    assert.throws(() => new PostgresStore(url), /refused the connection/);
    assert.ok(performance.now() - started < 3000);
    await engine!.start();
    assert.equal(store.latestSeq(), 0);
    store.commit([{
      kind: "insert",
      message: { id: "m1", from: "x", room: GENERAL_ROOM, text: "a", time: 1 },
    }]);
    assert.equal(store.latestSeq(), 1);
  },
);

pgTest(
  "bridge: atomically holds one connection for the transaction: all or nothing, nested ones part of it",
  (url) => {
    using store = opened(url);
    assert.throws(() =>
      store.atomically(() => {
        store.joinRoom("ann_0001", "#x", 1, { private: false });
        store.atomically(() => store.setTopic("#x", "t", "ann_0001", 2));
        assert.equal(store.rooms().find((r) => r.name === "#x")?.topic, "t", "seen inside");
        throw new Error("no");
      }), /no/);
    assert.equal(store.isMember("ann_0001", "#x"), false);
    const result = store.atomically(() => {
      store.joinRoom("ann_0001", "#x", 1, { private: false });
      return store.commit([{
        kind: "insert",
        message: { id: "m1", from: "ann_0001", room: "#x", text: "a", time: 1 },
      }]);
    });
    assert.equal(result.length, 1);
    assert.equal(store.lastCommitNo, 1);
    assert.ok(store.isMember("ann_0001", "#x"));
  },
);

pgTest(
  "bridge: what a call costs (printed): a round trip without SQL, a one-row read, a one-message commit",
  (url) => {
    using store = opened(url);
    const perCall = (n: number, call: (i: number) => void) => {
      for (let i = 0; i < 50; i++) call(-i - 1); // warm
      const started = performance.now();
      for (let i = 0; i < n; i++) call(i);
      return (performance.now() - started) * 1000 / n;
    };
    const ping = perCall(2000, () => store.ping());
    const read = perCall(2000, () => store.latestSeq());
    const commit = perCall(
      300,
      (i) =>
        store.insertMessage({
          id: `c${i}`,
          from: "x_0001",
          room: GENERAL_ROOM,
          text: "hi",
          time: 1,
        }),
    );
    console.log(
      `per call: ping ${ping.toFixed(0)} µs, latestSeq ${read.toFixed(0)} µs, ` +
        `one-message commit ${commit.toFixed(0)} µs`,
    );
    // loose: a loaded machine (the whole suite in parallel) is slower, never by this much
    assert.ok(ping < 2_000, `${ping} µs per round trip`);
  },
);

pgTest(
  "bridge: a transaction whose calls time out is rolled back once PostgreSQL answers again, and later calls are not part of it",
  async (url) => {
    using store = opened(url, { readTimeoutMs: 300, writeTimeoutMs: 300 });
    using other = opened(url);
    try {
      assert.throws(
        () =>
          store.atomically(() => {
            store.joinRoom("ann_0001", "#x", 1, { private: false });
            engine!.freeze();
            store.setTopic("#x", "t", "ann_0001", 2);
          }),
        /did not answer within 300 ms \(setTopic\)/,
      );
    } finally {
      engine!.thaw();
    }
    await answering(store);
    // its rollback waited for the frozen call, past its own deadline: it ran all the same
    assert.equal(store.isMember("ann_0001", "#x"), false);
    store.joinRoom("bob_0001", GENERAL_ROOM, 3);
    assert.ok(
      other.isMember("bob_0001", GENERAL_ROOM),
      "committed, not in a transaction left open",
    );
  },
);

pgTest(
  "commit: a NUL in a text (which PostgreSQL's text refuses) does not fail the group commit: it is kept as U+FFFD, in what commit returns too",
  (url) => {
    using store = opened(url);
    const [evil, fine] = store.commit([
      {
        kind: "insert",
        message: { id: "n", from: "x", room: GENERAL_ROOM, text: "a\0b", time: 1 },
      },
      {
        kind: "insert",
        message: { id: "f", from: "y", room: GENERAL_ROOM, text: "ok", time: 1 },
      },
    ]) as StoredMessage[];
    assert.equal(evil.text, "a\uFFFDb");
    assert.equal(store.message("n")?.text, "a\uFFFDb");
    assert.equal(fine.seq, 2);
  },
);

/** The files under `dir` (relative) whose bytes contain `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    for (const entry of Deno.readDirSync(at)) {
      const path = join(at, entry.name);
      if (entry.isDirectory) walk(path);
      else if (entry.isFile) {
        const text = new TextDecoder("latin1").decode(Deno.readFileSync(path));
        if (text.includes(needle)) found.push(path.slice(dir.length + 1));
      }
    }
  };
  walk(dir);
  return found;
}

/** How many times messages has been vacuumed (by hand or by the store's worker). */
async function vacuums(url: string): Promise<number> {
  return Number(
    await psql(url, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'messages'"),
  );
}

pgTest(
  "purge: after the store's VACUUM and a checkpoint no data file holds a purged text, short or TOASTed; without VACUUM the old row version keeps it; PostgreSQL's WAL still does until its segments are reused",
  async (url) => {
    const secret = (label: string) => `${label}-SECRET-${crypto.randomUUID()}`;
    // a long text PostgreSQL moves out of line (TOAST), random so that it is not compressed
    const random = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(3000))));
    const long = `LONG-SECRET-${random}`;
    const longProbe = random.slice(1000, 1060);
    const short = secret("SHORT");
    const insert = (id: string, text: string) => ({
      kind: "insert" as const,
      message: { id, from: "x_0001", room: GENERAL_ROOM, text, time: 1 },
    });
    const dataFiles = (needle: string) => filesHolding(join(engine!.dataDir, "base"), needle);
    const wal = (needle: string) => filesHolding(join(engine!.dataDir, "pg_wal"), needle);

    // without VACUUM: the purge's UPDATE leaves the old row version, text and all
    {
      using unvacuumed = opened(url, { vacuumIntervalMs: Infinity });
      const kept = secret("UNVACUUMED");
      unvacuumed.commit([insert("k", kept)]);
      unvacuumed.purge(["k"], "deleted");
      await psql(engine!.url, "CHECKPOINT");
      assert.notDeepEqual(dataFiles(kept), [], "the dead row version is still in the table");
    } // closed before the next store opens

    using store = opened(url, { vacuumIntervalMs: 0 });
    store.commit([insert("s", short), insert("l", long), insert("c", "kept")]);
    await psql(engine!.url, "CHECKPOINT");
    assert.notDeepEqual(dataFiles(short), [], "on disk before the purge");
    assert.notDeepEqual(dataFiles(longProbe), [], "on disk before the purge");
    const before = await vacuums(url);
    store.purge(["s", "l"], "deleted");
    // the worker vacuums right after the commit, without the caller waiting for it
    const deadline = Date.now() + 10_000;
    while (await vacuums(url) === before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(await vacuums(url) > before, "the store vacuumed messages after the purge");
    await psql(engine!.url, "CHECKPOINT");
    assert.deepEqual(dataFiles(short), [], "no data file holds the short text");
    assert.deepEqual(dataFiles(longProbe), [], "no data file holds the TOASTed text");
    assert.equal(store.message("c")?.text, "kept");
    // what is true of the WAL: the inserts (and the full-page images after each checkpoint) are
    // in its segments until PostgreSQL reuses them; recycled ones keep their old bytes till then
    const inWal = [...wal(short), ...wal(longProbe)];
    assert.ok(
      inWal.length > 0,
      "PostgreSQL's WAL still holds the text (see PostgresStore.commit)",
    );
    console.log(`purged text still in pg_wal: ${[...new Set(inWal)].join(", ")}`);
  },
);

Deno.test({
  name: "(PostgreSQL stops)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await engine?.remove();
    engine = null;
  },
});

pgTest(
  "bridge: postgres.js throwing in the worker in the middle of a transaction (a new pool taken) fails the transaction: none of it is kept, and what came after is not written outside it",
  (url) => {
    const workerUrl = new URL("./pg_renewing_worker.ts?throwBefore=setTopic", import.meta.url);
    using store = opened(url, { workerUrl });
    using other = opened(url);
    other.joinRoom("ann_0001", "#x", 1, { private: false });
    assert.throws(() =>
      store.atomically(() => {
        store.joinRoom("bob_0001", "#x", 2);
        store.setTopic("#x", "set in the transaction", "bob_0001", 3);
      })
    );
    assert.equal(other.isMember("bob_0001", "#x"), false, "the first write was not kept");
    assert.equal(other.rooms().find((r) => r.name === "#x")?.topic, "", "nor the second");
    // and the store goes on, on its new pool
    store.joinRoom("bob_0001", GENERAL_ROOM, 4);
    assert.ok(other.isMember("bob_0001", GENERAL_ROOM));
  },
);
