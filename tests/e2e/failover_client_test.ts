// A server given as several addresses (`--server a:7777,b:7777`, the nodes of one server), end
// to end over real TLS: the client joins the first address that answers; when its node dies
// (kill -9) it reconnects by itself to another one sharing the store, keeps its id, receives what
// it missed once each, and what it had acknowledged is still there. `chat check` tries the
// addresses in turn too, and a bad list is a usage error.
//
// "While it was away" is made certain, as in reconnect_test.ts: the missed traffic goes to the
// same dir served on a third port the away client does not know about.
//
// Run: deno test -A tests/e2e/failover_client_test.ts

import assert from "node:assert/strict";
import * as h from "./harness.ts";
import type { ServerHandle } from "./harness.ts";
import { freePort, startServerOn } from "./reliability_harness.ts";

/** How long joining through a refused address may take, process start included. */
const QUICK_JOIN_MS = 8_000;

const list = (...ports: number[]) => ports.map((port) => `127.0.0.1:${port}`).join(",");

Deno.test("failover: --server with a refused address first joins the live one at once; check does too", async () => {
  await using server = await h.startServer();
  const closed = freePort();
  const started = Date.now();
  await using alice = await h.joined(server, "alice", {
    extraArgs: ["--server", list(closed, server.port)],
  });
  const took = Date.now() - started;
  assert.ok(took < QUICK_JOIN_MS, `joined in ${took} ms`);
  // the line mode too, and the message goes through
  await using bob = await h.joined(server, "bob", {
    mode: "plain",
    extraArgs: ["--server", list(closed, server.port)],
  });
  await bob.send("hello over the second address");
  await alice.waitFor(h.messageWith("hello over the second address"));

  const check = await h.runChat(
    ["check", "--server", list(closed, server.port), "--ca", server.caFile],
    { timeoutMs: 15_000 },
  );
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, new RegExp(`^ok: chat .* at 127\\.0\\.0\\.1:${server.port},`));
  // none answering: one line naming each, exit 1
  const other = freePort();
  const down = await h.runChat(
    ["check", "--server", list(closed, other), "--ca", server.caFile],
    { timeoutMs: 15_000 },
  );
  assert.equal(down.code, 1, down.stderr);
  assert.equal(down.stderr.trim().split("\n").length, 1, down.stderr);
  assert.match(
    down.stderr,
    new RegExp(`127\\.0\\.0\\.1:${closed}: connection refused.*; .*${other}`),
  );
});

Deno.test("failover: a bad --server list is one sentence and exit 2, before anything is dialled", async () => {
  const cases: [string, RegExp][] = [
    ["127.0.0.1:1,,127.0.0.1:2", /--server has an empty address \(number 2 of 3\)/],
    ["127.0.0.1:1,127.0.0.1:99999", /--server must be a port number from 0 to 65535, not "99999"/],
    [
      Array.from({ length: 17 }, (_, i) => `127.0.0.1:${i + 1}`).join(","),
      /--server lists 17 addresses; at most 16 are allowed/,
    ],
  ];
  for (const [server, expected] of cases) {
    for (const command of [["join", "--plain", "--name", "tom"], ["check"]]) {
      const out = await h.runChat([...command, "--server", server], { timeoutMs: 15_000 });
      assert.equal(out.code, 2, `${command[0]} ${server}: ${out.stderr}`);
      assert.match(out.stderr, /^chat: .+\n$/, out.stderr);
      assert.match(out.stderr, expected);
    }
  }
});

Deno.test("failover: node A killed, node B started on the same store: the client moves to B by itself, keeps its id, and misses nothing", async () => {
  const dir = await h.makeTempDir("chat-e2e-failover-");
  const portA = freePort();
  const portB = freePort(); // nothing listens there until A is gone
  const servers: ServerHandle[] = [];
  try {
    const a = await startServerOn(dir, portA);
    servers.push(a);
    await using alice = await h.joined(a, "alice", { extraArgs: ["--server", list(portA, portB)] });
    const { raw: bob, welcome: bobWelcome, id: bobId } = await h.rawJoinedSeen(a, alice, "bob");
    const bobToken: string = bobWelcome.token;
    await h.rawSend(bob, "b1", "before the crash");
    await alice.waitFor(h.messageWith("before the crash"));
    // alice's own message, acknowledged by node A
    await alice.send("alice before the crash");
    const acked = await alice.waitFor((e) => e.type === "ack");
    await bob.frameWhere((f) => f.type === "message" && f.text === "alice before the crash");

    const mark = alice.events.length;
    await a.kill9();
    await bob.close();
    await alice.waitFor((e) => e.type === "status" && e.state === "reconnecting", 10_000);
    // typed while no node answers: shown as pending, sent once a node is back
    await alice.send("typed while away");
    await alice.waitFor((e) => e.type === "pending" && e.text === "typed while away");

    // while alice is away: bob, on the same store served on a port she does not know, talks
    const away = ["away 1", "away 2", "away 3"];
    {
      await using side = await h.startServer({ dir });
      const { raw, welcome } = await h.rawJoined(side, "bob", bobToken);
      await using _raw = raw;
      assert.equal(welcome.you.id, bobId);
      for (const [i, text] of away.entries()) await h.rawSend(raw, `a${i}`, text);
      await raw.close();
      assert.equal((await side.stop("SIGTERM")).code, 0);
    }

    const b = await startServerOn(dir, portB);
    servers.push(b);
    // back by itself, on B (A is still dead): a welcome, then connected, within the backoff
    const end = Date.now() + 40_000;
    while (h.indexFrom(alice, mark, (e) => e.type === "status" && e.state === "connected") < 0) {
      assert.ok(Date.now() < end, `no reconnect within 40 s: ${alice.lines.slice(-10).join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(
      "alice after the kill:",
      alice.events.slice(mark).filter((e) => e.type === "status").map((e) => e.state).join(" "),
    );
    const welcome = alice.events.slice(mark).find((e) => e.type === "welcome");
    assert.ok(welcome, "a welcome after the failover");
    assert.equal(welcome.you.id, alice.id, "alice keeps her id (her token works on node B)");

    // what she missed, once each, in order, as replay; nothing from before shown again
    await alice.waitFor(h.messageWith("away 3"), 10_000);
    const missed = alice.events.slice(mark).filter((e) => e.type === "message" && !e.own)
      .map((e) => e.text as string).filter((t) => t !== "typed while away");
    assert.deepEqual(missed, away, "missed messages once each, in order");
    for (const text of away) {
      assert.equal(alice.events.filter(h.messageWith(text)).length, 1, `${text} exactly once`);
      assert.equal(alice.events.find(h.messageWith(text))?.replay, true, `${text} came as replay`);
    }
    assert.equal(alice.events.filter(h.messageWith("before the crash")).length, 1);
    // what she typed while away went out once, through B
    const carolJoin = await h.rawJoined(b, "carol");
    await using carol = carolJoin.raw;
    const history = await h.ask(carol, { type: "history", limit: 50 });
    assert.equal(history.type, "results", JSON.stringify(history).slice(0, 300));
    const texts = history.messages.map((m: { text: string }) => m.text);
    const count = (text: string) => texts.filter((t: string) => t === text).length;
    // nothing acknowledged before the crash is lost; nothing is stored twice
    assert.equal(count("alice before the crash"), 1, JSON.stringify(texts));
    assert.ok(
      history.messages.some((m: { id: string }) => m.id === acked.id),
      "the id node A acknowledged",
    );
    await alice.waitFor((e) => e.type === "ack" && e.id !== acked.id, 10_000);
    const again = await h.ask(carol, { type: "history", limit: 50 });
    const final = again.messages.map((m: { text: string }) => m.text);
    assert.deepEqual(
      ["before the crash", "alice before the crash", ...away, "typed while away"].map((t) =>
        final.filter((f: string) => f === t).length
      ),
      [1, 1, 1, 1, 1, 1],
      JSON.stringify(final),
    );
    assert.equal((await alice.end()).code, 0);
  } finally {
    for (const server of servers) if (!server.exited) await server.kill9().catch(() => {});
    await h.removeDir(dir);
  }
});
