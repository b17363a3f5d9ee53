// A cluster end to end: three real `chat serve` nodes on one real PostgreSQL and one real NATS
// (both started here on 127.0.0.1, in temp dirs), real TLS clients on each node.
//
// Run: deno test -A --lock=deno.dev.lock tests/e2e/cluster_test.ts

import assert from "node:assert/strict";
import { startNats, startPostgres } from "../engines.ts";
import * as h from "./harness.ts";
import type { ChatEvent, ClientHandle, ServerHandle } from "./harness.ts";

/**
 * The engines and `count` nodes on them, sharing a certs dir (one CA: a client trusts them all);
 * disposing of it ends the nodes, last first, then the engines.
 */
async function startCluster(count: number) {
  const pg = await startPostgres();
  const nats = await startNats().catch(async (error) => {
    await pg.stop();
    throw error;
  });
  const dir = await h.makeTempDir("chat-e2e-cluster-");
  const nodes: ServerHandle[] = [];
  const cluster = {
    nodes,
    nats,
    async [Symbol.asyncDispose]() {
      for (const node of [...nodes].reverse()) await node[Symbol.asyncDispose]();
      await nats.stop().catch(() => {});
      await pg.stop().catch(() => {});
      await h.removeDir(dir);
    },
  };
  try {
    for (let i = 0; i < count; i++) {
      nodes.push(await h.startServer({ dir, args: ["--store", pg.url, "--bus", nats.url] }));
    }
    return cluster;
  } catch (error) {
    await cluster[Symbol.asyncDispose]();
    throw error;
  }
}

const texts = (client: ClientHandle) =>
  client.events.filter((e) => e.type === "message" && e.text.startsWith("n")).map((e) => e.text);

Deno.test("three nodes: messages from every node reach everyone in one order, presence and direct messages cross nodes, a dead node's users leave", async () => {
  await using cluster = await startCluster(3);
  const [n1, n2, n3] = cluster.nodes;
  await using a = await h.joinClient(n1, "alice");
  await using b = await h.joinClient(n2, "bob");
  await using c = await h.joinClient(n3, "carol");
  const [alice, bob, carol] = [await a.me(), await b.me(), await c.me()];

  // presence crosses nodes: bob (on n2) hears carol (on n3) come; /who lists all three
  // (in bob's welcome, if carol came first)
  await b.waitFor((e) =>
    (e.type === "presence" && e.joined?.id === carol.id) ||
    (e.type === "welcome" && e.users.some((u: { id: string }) => u.id === carol.id))
  );
  await b.send("/who");
  const who = await b.waitFor((e) => e.type === "users" && e.users.length === 3);
  assert.deepEqual(
    who.users.map((u: { id: string }) => u.id).sort(),
    [alice, bob, carol].map((u) => u.id).sort(),
  );

  // all three send at once; every client sees all 60, each once, in the same order
  const per = 20;
  await Promise.all([a, b, c].map(async (client, k) => {
    for (let i = 0; i < per; i++) await client.send(`n${k}-${i}`);
  }));
  for (const client of [a, b, c]) {
    await h.waitUntil(() => texts(client).length >= 3 * per, 20_000, "every message everywhere");
  }
  const order = texts(a);
  assert.equal(new Set(order).size, 3 * per, "each once");
  assert.deepEqual(texts(b), order, "bob saw alice's order");
  assert.deepEqual(texts(c), order, "carol saw alice's order");
  for (let k = 0; k < 3; k++) {
    const own = order.filter((t) => t.startsWith(`n${k}-`));
    assert.deepEqual(
      own,
      Array.from({ length: per }, (_, i) => `n${k}-${i}`),
      "a sender's order kept",
    );
  }

  // a direct message to someone on another node, by name: theirs alone
  await a.send("/msg carol psst");
  const dm = await c.waitFor((e) => e.type === "message" && e.text === "psst");
  assert.deepEqual(dm.to, [carol.id]);
  await a.waitFor((e) => e.type === "message" && e.text === "psst");
  await b.send("after the dm");
  await a.waitFor((e) => e.type === "message" && e.text === "after the dm");
  assert.equal(b.events.filter((e) => e.type === "message" && e.text === "psst").length, 0);

  // kill -9 carol's node: alice and bob hear carol leave within 10 s
  const killed = Date.now();
  await n3.kill9();
  await a.waitFor((e) => e.type === "presence" && e.left?.id === carol.id, 12_000);
  await b.waitFor((e) => e.type === "presence" && e.left?.id === carol.id, 12_000);
  const noticed = Date.now() - killed;
  assert.ok(noticed < 10_000, `a dead node noticed in ${noticed} ms`);
  console.log(`a node killed with -9: its users left everywhere ${noticed} ms later`);
});

Deno.test("the same person joining on another node ends the first session; a token works on every node", async () => {
  await using cluster = await startCluster(2);
  const [n1, n2] = cluster.nodes;
  await using a = await h.joinClient(n1, "alice");
  await using b = await h.joinClient(n2, "bob");
  const alice = await a.me();
  await b.waitFor((e) =>
    (e.type === "presence" && e.joined?.id === alice.id) ||
    (e.type === "welcome" && e.users.some((u: { id: string }) => u.id === alice.id))
  );
  // alice again, with her saved token, on the other node
  await using again = await h.joinClient(n2, "alice", { stateDir: a.stateDir, extraArgs: [] });
  assert.equal((await again.me()).id, alice.id, "the token of n1 works on n2");
  const bye = await a.waitFor((e) => e.type === "goodbye");
  assert.equal(bye.reason, "replaced");
  // bob never saw her leave: she stayed online
  await b.send("/who");
  const who = await b.waitFor((e) => e.type === "users");
  assert.ok(who.users.some((u: { id: string }) => u.id === alice.id));
  assert.equal(
    b.events.filter((e: ChatEvent) => e.type === "presence" && e.left?.id === alice.id).length,
    0,
  );
});

Deno.test("back on another node, what was missed comes once", async () => {
  await using cluster = await startCluster(2);
  const [n1, n2] = cluster.nodes;
  await using a = await h.joinClient(n1, "alice");
  await using b = await h.joinClient(n2, "bob");
  await a.me();
  await b.me();
  await a.send("before");
  await b.waitFor((e) => e.type === "message" && e.text === "before");
  const state = b.stateDir;
  await b.end();
  for (let i = 0; i < 5; i++) await a.send(`missed ${i}`);
  await a.waitFor((e) => e.type === "message" && e.text === "missed 4");
  // bob comes back on the other node
  await using back = await h.joinClient(n1, "bob", { stateDir: state });
  await back.waitFor((e) => e.type === "message" && e.text === "missed 4");
  const seen = back.events.filter((e) => e.type === "message").map((e) => e.text);
  for (let i = 0; i < 5; i++) {
    assert.equal(seen.filter((t) => t === `missed ${i}`).length, 1, `missed ${i} once`);
  }
});

Deno.test("NATS away: a topic set and a mute made on one node meanwhile reach the other node's clients, once, and hold there when it is back", async () => {
  await using cluster = await startCluster(2);
  const [n1, n2] = cluster.nodes;
  await using a = await h.joinClient(n1, "alice");
  await using b = await h.joinClient(n2, "bob");
  const [alice, bob] = [await a.me(), await b.me()];
  const joined = (e: ChatEvent) => e.type === "room" && e.event === "joined";
  await a.send("/join #ops");
  await a.waitFor(joined);
  await b.send("/join #ops");
  await b.waitFor(joined);
  // bob sends there: n2 now keeps that he is not muted in #ops
  await b.send("before");
  await a.waitFor((e) => e.type === "message" && e.text === "before");
  const said = (text: string) => () => [n1, n2].every((n) => n.output().includes(text));

  await cluster.nats.stop();
  await h.waitUntil(said("lost the bus"), 15_000, "both nodes lost the bus");
  await a.send("/topic set while NATS was down");
  await a.waitFor((e) => e.type === "room" && e.event === "topic");
  await a.send(`/mute @${bob.id} #ops`);
  await a.waitFor((e) => e.type === "moderation" && e.action === "muted");
  await cluster.nats.start();
  await h.waitUntil(said("the bus (NATS) is back"), 20_000, "both nodes are back on the bus");

  const isTopic = (e: ChatEvent) => e.type === "room" && e.event === "topic";
  const topic = await b.waitFor(isTopic, 10_000);
  assert.deepEqual([topic.by, topic.room.topic], [alice.id, "set while NATS was down"]);
  await h.waitUntil(
    () => n2.output().includes("rooms and moderation read again from the store"),
    10_000,
    "n2 read rooms and moderation again",
  );
  await b.send("after");
  const refusal = await b.waitFor((e) => e.type === "error" && /muted in #ops/.test(e.message));
  assert.equal(refusal.code, "forbidden");
  assert.equal(b.events.filter(isTopic).length, 1, "the topic told once");
});

Deno.test("a store or bus that cannot be reached stops chat serve with one sentence naming it, the password hidden", async () => {
  const dir = await h.makeTempDir("chat-e2e-engines-");
  await using pg = { ...(await startPostgres()), [Symbol.asyncDispose]: () => pg.stop() };
  try {
    const certs = ["--port", "0", "--certs", `${dir}/certs`];
    const noStore = await h.runChat([
      "serve",
      ...certs,
      "--store",
      "postgres://chat:hunter2@127.0.0.1:1/chat",
    ], { timeoutMs: 30_000 });
    assert.notEqual(noStore.code, 0);
    const said = noStore.stderr.trim();
    assert.match(
      said,
      /^chat: cannot open the store postgres:\/\/chat:\*\*\*@127\.0\.0\.1:1\/chat.*refused the connection/,
    );
    assert.doesNotMatch(said, /hunter2|\n\s+at /);
    const noBus = await h.runChat([
      "serve",
      ...certs,
      "--store",
      pg.url,
      "--bus",
      "nats://127.0.0.1:1",
    ], { timeoutMs: 30_000 });
    assert.notEqual(noBus.code, 0);
    assert.match(
      noBus.stderr.trim(),
      /^chat: cannot reach the bus \(NATS\) at nats:\/\/127\.0\.0\.1:1/,
    );
    assert.equal(noBus.stderr.trim().split("\n").length, 1, noBus.stderr);
  } finally {
    await h.removeDir(dir);
  }
});
