// The cluster when things break (issue 15): three real nodes on a real PostgreSQL and a real
// NATS (tests/engines.ts), hundreds of real TLS clients (tests/e2e/cluster_client.ts) that move
// to another node when theirs goes, as `chat join --server a,b,c` does.
//
// Run: deno test -A --lock=deno.dev.lock tests/e2e/cluster_failover_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { loadTestServeArgs } from "../../src/cli/options.ts";
import { RECONNECT_CAP_MS } from "../../src/client/client.ts";
import { type Engine, type PostgresEngine, startNats, startPostgres } from "../engines.ts";
import { ClusterClient, IdTable } from "./cluster_client.ts";
import * as h from "./harness.ts";
import type { ServerHandle } from "./harness.ts";
import { freePort, startServerOn } from "./reliability_harness.ts";

type Nodes = Awaited<ReturnType<typeof threeNodes>>;

/** Three nodes on fixed ports (a node comes back on its own), one CA for all. */
async function threeNodes(connections: number) {
  const pg = await startPostgres();
  let nats: Engine;
  try {
    nats = await startNats();
  } catch (error) {
    await pg.stop();
    throw error;
  }
  const dir = await h.makeTempDir("chat-e2e-failover-");
  const ports = [freePort(), freePort(), freePort()];
  const args = ["--store", pg.url, "--bus", nats.url, ...loadTestServeArgs(connections)];
  const nodes: ServerHandle[] = [];
  const start = (i: number) => startServerOn(dir, ports[i], args);
  for (let i = 0; i < 3; i++) nodes.push(await start(i));
  const ca = await Deno.readTextFile(join(dir, "certs", "ca.pem"));
  const table = new IdTable();
  const clients: ClusterClient[] = [];
  return {
    pg: pg as PostgresEngine,
    nats,
    ports,
    nodes,
    ca,
    table,
    clients,
    /** Starts node i again on its port. */
    restart: async (i: number) => (nodes[i] = await start(i)),
    /** `count` clients named `prefix`N, spread over the nodes, welcomed (in batches). */
    async connect(prefix: string, count: number): Promise<ClusterClient[]> {
      const made: ClusterClient[] = [];
      for (let i = 0; i < count; i += 50) {
        const batch = Array.from(
          { length: Math.min(50, count - i) },
          (_, k) =>
            new ClusterClient({ name: `${prefix}${i + k}`, ports, first: i + k, ca, table }),
        );
        await Promise.all(batch.map((c) => c.start()));
        made.push(...batch);
      }
      clients.push(...made);
      return made;
    },
    /** `receivers` clients r0… and `senders` clients s0…; the senders, and everyone. */
    async crowd(receivers: number, senders: number) {
      const heard = await this.connect("r", receivers);
      const sending = await this.connect("s", senders);
      return { senders: sending, everyone: [...heard, ...sending] };
    },
    /** Message ids in PostgreSQL, with their seq. */
    async stored(): Promise<Map<string, number>> {
      const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql<{ id: string; seq: string }[]>`SELECT id, seq FROM messages`;
        return new Map(rows.map((r) => [r.id, Number(r.seq)]));
      } finally {
        await sql.end();
      }
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((c) => c.stop()));
      for (const node of nodes) await node.kill9().catch(() => {});
      await nats.stop().catch(() => {});
      await pg.stop().catch(() => {});
      await h.removeDir(dir);
    },
  };
}

/**
 * `senders` each send `each` messages, at most `window` unacknowledged at a time; `during`
 * runs once `at` of them are acknowledged. Resolves with every acknowledged id.
 */
async function sendAll(
  senders: ClusterClient[],
  each: number,
  window: number,
  at: number,
  during: () => Promise<void>,
): Promise<string[]> {
  let acked = 0;
  let trigger: Promise<void> | undefined;
  const ids: string[] = [];
  await Promise.all(senders.map(async (sender, k) => {
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < each; i++) {
      const sent: Promise<void> = sender.send(`s${k} ${i}`).then((id) => {
        ids.push(id);
        inFlight.delete(sent);
        if (++acked === at) trigger = during();
      });
      inFlight.add(sent);
      if (inFlight.size >= window) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }));
  await trigger;
  return ids;
}

/** Every receiver got every id of `ids` once, in PostgreSQL's order. */
function assertDelivered(
  receivers: ClusterClient[],
  ids: string[],
  seqs: Map<string, number>,
  table: IdTable,
) {
  const wanted = new Set(ids.map((id) => table.number(id)));
  for (const r of receivers) {
    assert.equal(r.duplicates, 0, `${r.name} got ${r.duplicates} twice`);
    const mine = r.received.filter((n) => wanted.has(n));
    assert.equal(mine.length, wanted.size, `${r.name} got ${mine.length} of ${wanted.size}`);
    let last = -1;
    for (const n of mine) {
      const seq = seqs.get(table.ids[n])!;
      assert.ok(seq > last, `${r.name} got seq ${seq} after ${last}`);
      last = seq;
    }
  }
}

/**
 * Waits up to `ms` for every client to have `count` messages, then checks that each acknowledged
 * id of `ids` is in PostgreSQL and reached every client once, in PostgreSQL's order; returns
 * what PostgreSQL holds (id → seq).
 */
async function assertAllDelivered(
  c: Pick<Nodes, "stored" | "table">,
  everyone: ClusterClient[],
  ids: string[],
  count: number,
  ms: number,
): Promise<Map<string, number>> {
  await h.waitUntil(
    () => everyone.every((r) => r.received.length >= count),
    ms,
    "every client has every message",
  );
  const seqs = await c.stored();
  for (const id of ids) assert.ok(seqs.has(id), `acknowledged ${id} is in PostgreSQL`);
  assertDelivered(everyone, ids, seqs, c.table);
  return seqs;
}

Deno.test("failover: 3 nodes, 300 clients, 5 senders, 10,000 messages; one node killed with -9 mid-run and restarted: every acknowledged message is in PostgreSQL and reached every receiver once, in one order, and the dead node's clients resumed elsewhere", () =>
  h.takingTurns(async () => {
    await using c = await threeNodes(1_000);
    const { senders, everyone } = await c.crowd(300, 5);
    let killedAt = 0;
    const started = Date.now();
    const ids = await sendAll(senders, 2_000, 20, 3_000, async () => {
      killedAt = Date.now();
      await c.nodes[1].kill9();
      await h.delay(1_000);
      await c.restart(1);
    });
    const sendMs = Date.now() - started;
    assert.equal(new Set(ids).size, 10_000, "10,000 acknowledged, each once");
    const seqs = await assertAllDelivered(c, everyone, ids, 10_000, 120_000);
    assert.equal(seqs.size, 10_000, "each stored once");

    // the dead node's clients: back on another node within the backoff
    const moved = everyone.filter((r) => r.drops.some((t) => t >= killedAt));
    assert.ok(moved.length >= 90, `${moved.length} clients were on the killed node`);
    let slowest = 0;
    const backs: number[] = [];
    for (const r of moved) {
      const back = r.welcomes.find((w) => w.at >= killedAt)!;
      assert.ok(back, `${r.name} came back`);
      assert.notEqual(back.port, c.ports[1], `${r.name} came back on another node`);
      slowest = Math.max(slowest, back.at - killedAt);
      backs.push(back.at - killedAt);
    }
    // ~100 logins land on one node at once, each a TLS handshake while the flood goes on (60 – 110
    // ms each on this 2-core machine, shared with the other nodes, PostgreSQL and 305 clients):
    // measured 1.8 – 11 s for the last alone, 25 s with other suites on the machine. The bound:
    // within the longest pause a real client makes between attempts (its backoff's cap)
    assert.ok(slowest < RECONNECT_CAP_MS, `the last of them was back ${slowest} ms after the kill`);
    backs.sort((a, b) => a - b);
    console.log(
      `10,000 messages to 305 clients in ${sendMs} ms; ${moved.length} clients moved node, ` +
        `back after p50 ${backs[backs.length >> 1]} ms, the last ${slowest} ms after the kill`,
    );
  }));

Deno.test("NATS restarted mid-run: the nodes reconnect by themselves and nothing acknowledged is lost, repeated or out of order", () =>
  h.takingTurns(async () => {
    await using c = await threeNodes(200);
    const { senders, everyone } = await c.crowd(30, 3);
    const ids = await sendAll(senders, 500, 10, 300, async () => {
      await c.nats.kill();
      await h.delay(1_000);
      await c.nats.start();
    });
    assert.equal(new Set(ids).size, 1_500);
    await assertAllDelivered(c, everyone, ids, 1_500, 60_000);
    // the bus carries presence again: a newcomer on one node is known on the others
    const [late] = await c.connect("late", 1);
    await h.waitUntil(
      () => c.nodes.every((n) => n.output().includes("the bus (NATS) is back")),
      20_000,
      "every node said the bus is back",
    );
    assert.ok(late.connected);
  }));

Deno.test("PostgreSQL stopped for 5 s: sends are refused with a clear error meanwhile, never acknowledged and lost; after it, everything goes through", () =>
  h.takingTurns(async () => {
    await using c = await threeNodes(200);
    const { senders, everyone } = await c.crowd(12, 3);
    let stoppedFor = 0;
    const ids = await sendAll(senders, 300, 5, 150, async () => {
      const t0 = Date.now();
      await c.pg.halt();
      await h.delay(5_000);
      await c.pg.start();
      stoppedFor = Date.now() - t0;
    });
    assert.ok(stoppedFor >= 5_000);
    const refused = senders.reduce((sum, s) => sum + (s.errors.get("unavailable") ?? 0), 0);
    assert.ok(refused > 0, "sends were refused while PostgreSQL was down");
    assert.equal(new Set(ids).size, 900, "then every one was acknowledged, once");
    const seqs = await assertAllDelivered(c, everyone, ids, 900, 60_000);
    assert.equal(seqs.size, 900, "each stored once");
    const said = c.nodes.map((n) => n.output()).join("\n");
    assert.match(said, /the history database failed while storing/);
    assert.match(said, /the history database works again/);
    console.log(`PostgreSQL down ${stoppedFor} ms: ${refused} sends refused (then retried)`);
  }));
