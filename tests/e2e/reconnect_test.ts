// Reconnect and resume: a json client whose server goes away (SIGTERM or SIGKILL) and comes back
// on the same port reconnects by itself, keeps its id, and receives what it missed — messages and
// deletions — once each, in order; what it typed meanwhile is shown as pending and sent once.
//
// "While it was away" is made certain, not left to the backoff's jitter: the missed traffic is
// sent to the same dir served on another port, which the away client does not know about.
//
// Run: deno test -A --parallel tests/e2e/reconnect_test.ts

import assert from "node:assert/strict";
import * as h from "./harness.ts";
import type { ChatEvent, ClientHandle, ServerHandle } from "./harness.ts";
import { restartableServer } from "./reliability_harness.ts";

/** Waits for a "reconnecting" status and then "connected"; returns ms from `since` to connected. */
async function reconnected(client: ClientHandle, since: number, from: number): Promise<number> {
  await client.waitFor((e) => e.type === "status" && e.state === "reconnecting", 10_000);
  const at = h.indexFrom(client, from, (e) => e.type === "status" && e.state === "reconnecting");
  assert.ok(at >= 0, "a reconnecting status after the drop");
  const end = Date.now() + 35_000;
  for (;;) {
    if (h.indexFrom(client, at, (e) => e.type === "status" && e.state === "connected") >= 0) break;
    assert.ok(Date.now() < end, `no reconnect within 35 s: ${client.lines.slice(-10).join("\n")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - since;
}

/** Texts of the message events after index `from`, in order. */
const textsAfter = (client: ClientHandle, from: number) =>
  client.events.slice(from).filter((e) => e.type === "message").map((e) => e.text as string);

Deno.test("reconnect: after a SIGTERM restart on the same port the client resumes what it missed, deletions included", async () => {
  await using node = await restartableServer("chat-e2e-reconnect-");
  let server = await node.start();
  await using a = await h.joined(server, "alice");
  const { raw: bob, welcome: bobWelcome, id: bobId } = await h.rawJoinedSeen(server, a, "bob");
  const bobToken: string = bobWelcome.token;
  await h.rawSend(bob, "b1", "before one");
  const doomed = await h.rawSend(bob, "b2", "before two");
  await a.waitFor(h.messageWith("before two"));

  const stoppedAt = Date.now();
  const mark = a.events.length;
  const status = await server.stop("SIGTERM");
  assert.equal(status.code, 0, server.output());
  assert.equal(status.signal, null);
  const goodbye = await a.waitFor((e) => e.type === "goodbye", 5_000);
  assert.equal(goodbye.reason, "shutdown");
  await a.waitFor((e) => e.type === "status" && e.state === "reconnecting", 5_000);
  assert.equal(await bob.closed(5_000), true, "raw connections are closed too");
  await bob.close();

  // while alice is away: bob, on the same dir served elsewhere, talks and deletes
  const away = ["away 1", "away 2", "away 3", "away 4", "away 5"];
  {
    await using side = await h.startServer({ dir: node.dir });
    const { raw, welcome } = await h.rawJoined(side, "bob", bobToken);
    await using _raw = raw;
    assert.equal(welcome.you.id, bobId, "bob's token gives bob's id back");
    for (const [i, text] of away.entries()) await h.rawSend(raw, `a${i}`, text);
    await raw.sendFrame({ type: "delete", ref: "del", id: doomed });
    const ack = await raw.frameWhere((f) => f.ref === "del");
    assert.equal(ack?.type, "ack", JSON.stringify(ack));
    await h.rawSend(raw, "a9", "away last");
    await raw.close();
    assert.equal((await side.stop("SIGTERM")).code, 0);
  }

  server = await node.start();
  const reconnectMs = await reconnected(a, stoppedAt, mark);
  console.log(`SIGTERM restart: alice reconnected ${reconnectMs} ms after the stop`);
  const welcome = a.events.slice(mark).find((e) => e.type === "welcome");
  assert.ok(welcome, "a welcome after the reconnect");
  assert.equal(welcome.you.id, a.id, "alice keeps her id");

  await a.waitFor(h.messageWith("away last"));
  const deleted = await a.waitFor((e) => e.type === "deleted" && e.id === doomed);
  assert.equal(deleted.reason, "deleted");
  const missed = textsAfter(a, mark);
  assert.deepEqual(missed, [...away, "away last"], "missed messages once each, in order");
  for (const text of away) {
    assert.equal(a.events.filter(h.messageWith(text)).length, 1, `${text} exactly once`);
    assert.equal(a.events.find(h.messageWith(text))?.replay, true, `${text} came as replay`);
  }
  assert.equal(a.events.filter(h.messageWith("before one")).length, 1, "nothing shown twice");
  // the deletion sits where it happened: after "away 5", before "away last"
  const at = (pred: (e: ChatEvent) => boolean) => h.indexFrom(a, mark, pred);
  assert.ok(at(h.messageWith("away 5")) < at((e) => e.type === "deleted" && e.id === doomed));
  assert.ok(at((e) => e.type === "deleted" && e.id === doomed) < at(h.messageWith("away last")));

  // and live traffic flows again, once
  const { raw: bob2 } = await h.rawJoined(server, "bob", bobToken);
  await using _bob2 = bob2;
  await h.rawSend(bob2, "live", "back live");
  await a.waitFor(h.messageWith("back live"));
  await a.send("alice is back");
  await bob2.frameWhere((f) => f.type === "message" && f.text === "alice is back");
  const result = await a.end();
  assert.equal(result.code, 0, result.stderr);
  assert.equal(a.events.filter(h.messageWith("back live")).length, 1);
});

Deno.test("reconnect: lines typed while disconnected are shown as pending and delivered once", async () => {
  await using node = await restartableServer("chat-e2e-reconnect-");
  let server: ServerHandle | undefined = await node.start();
  await using people = await h.joinedAll(server, "alice", "bob");
  const [a, b] = people;

  const killedAt = Date.now();
  const markA = a.events.length;
  const markB = b.events.length;
  await server.kill9();
  server = undefined;
  await a.waitFor((e) => e.type === "status" && e.state === "reconnecting", 10_000);
  const lines = ["offline one", "offline two", `@${b.id} offline direct`];
  for (const line of lines) await a.send(line);
  for (const text of ["offline one", "offline two", "offline direct"]) {
    const pending = await a.waitFor((e) => e.type === "pending" && e.text === text, 5_000);
    assert.ok(pending);
  }
  const direct = a.events.find((e) => e.type === "pending" && e.text === "offline direct");
  assert.deepEqual(direct?.to, [b.id]);

  server = await node.start();
  const [ra, rb] = await Promise.all([
    reconnected(a, killedAt, markA),
    reconnected(b, killedAt, markB),
  ]);
  console.log(`kill -9 restart: alice reconnected after ${ra} ms, bob after ${rb} ms`);
  for (const text of ["offline one", "offline two", "offline direct"]) {
    await b.waitFor(h.messageWith(text), 15_000);
  }
  // at EOF alice waits for the acks of everything she sent: all three were answered
  const result = await a.end();
  assert.equal(result.code, 0, result.stderr);
  const acks = a.events.slice(markA).filter((e) => e.type === "ack");
  assert.equal(acks.length, 3, JSON.stringify(acks));
  await b.send("/search ^offline");
  const results = await b.waitFor((e) => e.type === "results");
  assert.equal(results.total, 3, `stored once each: ${JSON.stringify(results)}`);
  for (const text of ["offline one", "offline two", "offline direct"]) {
    assert.equal(b.events.filter(h.messageWith(text)).length, 1, `${text} delivered once`);
    assert.equal(a.events.filter(h.messageWith(text)).length, 1, `${text} shown once to alice`);
  }
  assert.deepEqual(
    textsAfter(b, markB).filter((t) => t.startsWith("offline")),
    ["offline one", "offline two", "offline direct"],
    "in the order typed",
  );
});

Deno.test("reconnect: a client cut by a kill -9 of the server resumes after the restart", async () => {
  await using node = await restartableServer("chat-e2e-reconnect-");
  let server: ServerHandle | undefined = await node.start();
  await using a = await h.joined(server, "alice");
  const { raw: bob, welcome: bobWelcome } = await h.rawJoined(server, "bob");
  const bobToken: string = bobWelcome.token;
  await h.rawSend(bob, "k0", "before the crash");
  await a.waitFor(h.messageWith("before the crash"));

  const killedAt = Date.now();
  const mark = a.events.length;
  assert.equal((await server.kill9()).signal, "SIGKILL");
  server = undefined;
  await bob.close();
  await a.waitFor((e) => e.type === "status" && e.state === "reconnecting", 10_000);
  // no goodbye: the server died
  assert.equal(a.events.slice(mark).filter((e) => e.type === "goodbye").length, 0);

  // bob talks while alice is away, and that server crashes too
  const away = ["crash away 1", "crash away 2", "crash away 3"];
  {
    await using side = await h.startServer({ dir: node.dir });
    const { raw } = await h.rawJoined(side, "bob", bobToken);
    await using _raw = raw;
    for (const [i, text] of away.entries()) await h.rawSend(raw, `c${i}`, text);
    assert.equal((await side.kill9()).signal, "SIGKILL");
  }

  server = await node.start();
  const ms = await reconnected(a, killedAt, mark);
  console.log(`kill -9 (no goodbye): alice reconnected ${ms} ms after the kill`);
  await a.waitFor(h.messageWith("crash away 3"), 15_000);
  assert.deepEqual(textsAfter(a, mark), away, "resumed: each missed message once, in order");
  const welcome = a.events.slice(mark).find((e) => e.type === "welcome");
  assert.equal(welcome?.you.id, a.id, "same id after the crash");

  // the server lists alice once, and not the departed bob
  await a.send("/who");
  const who = await a.waitFor((e) => e.type === "users");
  assert.deepEqual(who.users.map((u: { id: string }) => u.id), [a.id]);
  const result = await a.end();
  assert.equal(result.code, 0, result.stderr);
});
