/**
 * The message features over real TLS (issue 3): reply, delete, temporary messages, search —
 * each enforced by the server, persisted, and refused where it must be.
 */
import assert from "node:assert/strict";
import * as h from "./harness.ts";
import type { ChatEvent } from "./harness.ts";

const isDeleted = (id: string, reason: string) => (e: ChatEvent) =>
  e.type === "deleted" && e.id === id && e.reason === reason;

Deno.test("reply: quotes the right author and first line; a reply to a DM stays in it", async () => {
  await using server = await h.startServer();
  await using people = await h.joinedAll(server, "ann", "ben", "cat");
  const [a, b, c] = people;

  // a two-line original (line modes send one line per message, so it comes from a raw client)
  const { raw: dan } = await h.rawJoined(server, "dan");
  await dan.sendFrame({ type: "send", ref: "o", text: "lunch at noon?\nsecond line" });
  await dan.frameWhere((f) => f.type === "ack");
  await dan.close();
  const original = await b.waitFor(h.messageWith("lunch at noon?\nsecond line"));
  await b.send(`/reply ${original.ref} yes please`);
  for (const client of [a, b, c]) {
    const reply = await client.waitFor(h.messageWith("yes please"));
    assert.equal(reply.from, b.id);
    assert.equal(reply.replyTo, original.id);
    assert.deepEqual(reply.to, []);
    assert.deepEqual(reply.quote, { from: original.from, text: "lunch at noon?" });
    assert.match(original.from, /^dan_\d{4}$/);
  }

  // a DM between ann and ben; ben's reply goes to ann only
  await a.send(`@${b.id} just between us`);
  const dm = await b.waitFor(h.messageWith("just between us"));
  await b.send(`.reply ${dm.ref} agreed`);
  const dmReply = await a.waitFor(h.messageWith("agreed"));
  assert.deepEqual(dmReply.to, [a.id]);
  assert.deepEqual(dmReply.quote, { from: a.id, text: "just between us" });
  await a.send("marker after the dm reply");
  await c.waitFor(h.messageWith("marker after the dm reply"));
  assert.ok(!c.events.some((e) => e.text === "agreed" || e.text === "just between us"));
});

Deno.test("reply: to a DM you were not part of, or to nothing, is one and the same refusal", async () => {
  await using server = await h.startServer();
  await using a = await h.joined(server, "ann");
  await using b = await h.joined(server, "ben");
  await a.send(`@${b.id} private`);
  const dm = await b.waitFor(h.messageWith("private"));
  const { raw } = await h.rawJoined(server, "eve");
  try {
    await raw.sendFrame({ type: "send", ref: "r1", text: "gotcha", replyTo: dm.id });
    const refused = await raw.frameWhere((f) => f.type === "error" && f.ref === "r1");
    await raw.sendFrame({
      type: "send",
      ref: "r2",
      text: "gotcha",
      replyTo: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    });
    const missing = await raw.frameWhere((f) => f.type === "error" && f.ref === "r2");
    assert.equal(refused.code, "not_found");
    // the answer does not reveal that the DM exists
    assert.equal(refused.message, missing.message);
    assert.equal(refused.code, missing.code);
  } finally {
    await raw.close();
  }
  await a.send("after eve");
  await b.waitFor(h.messageWith("after eve"));
  assert.ok(!b.events.some((e) => e.text === "gotcha"));
});

Deno.test("delete: only the author; purged everywhere, from history, search and the db files", async () => {
  await using dir = await h.tempDir();
  const secret = `regrettable ${crypto.randomUUID()}`;
  {
    await using server = await h.startServer({ dir: dir.path });
    await using a = await h.joined(server, "ann");
    await using b = await h.joined(server, "ben");
    await a.send(secret);
    const shown = await b.waitFor(h.messageWith(secret));

    await b.send(`/delete ${shown.ref}`);
    const refusal = await b.waitFor((e) => e.type === "error" && e.code === "forbidden");
    assert.match(refusal.message, /only its author/);

    await a.send(`/delete ${shown.ref}`);
    await a.waitFor(isDeleted(shown.id, "deleted"));
    await b.waitFor(isDeleted(shown.id, "deleted"));
    await b.send(`/search regrettable`);
    const results = await b.waitFor((e) => e.type === "results");
    assert.equal(results.total, 0);
    assert.equal(await h.storeHolds(dir.path, secret), false, "the text is still in the db files");
    assert.equal((await server.stop("SIGTERM")).code, 0);
  }
  await using server = await h.startServer({ dir: dir.path });
  await using later = await h.joined(server, "late");
  await later.send("/search regrettable");
  const results = await later.waitFor((e) => e.type === "results");
  assert.equal(results.total, 0);
  assert.ok(!later.events.some((e) => e.type === "message" && e.text === secret));
});

Deno.test("temp: a 2 s message reaches everyone marked temporary and is gone within 3 s", async () => {
  await using server = await h.startServer();
  await using a = await h.joined(server, "ann");
  await using b = await h.joined(server, "ben");
  const text = `ephemeral ${crypto.randomUUID()}`;
  const sentAt = Date.now();
  await a.send(`/temp 2s ${text}`);
  const seen = await b.waitFor(h.messageWith(text));
  assert.ok(seen.expiresAt - seen.time === 2000, JSON.stringify(seen));
  await a.waitFor(isDeleted(seen.id, "expired"), 5_000);
  await b.waitFor(isDeleted(seen.id, "expired"), 5_000);
  assert.ok(Date.now() - sentAt < 3_500, "expiry took longer than 3 s (plus a process hop)");
  assert.equal(await h.storeHolds(server.dir, text), false);

  // bounds are the server's too
  const { raw } = await h.rawJoined(server, "raw");
  try {
    await raw.sendFrame({ type: "send", ref: "t", text: "x", ttl: 7 * 86400 + 1 });
    const error = await raw.frameWhere((f) => f.type === "error");
    assert.equal(error.code, "bad_frame");
  } finally {
    await raw.close();
  }
  await a.send("/temp 8d too long");
  const usage = await a.waitFor((e) => e.type === "error" && e.code === "usage");
  assert.match(usage.message, /1s to 7d/);
});

Deno.test("temp: a message whose deadline passed while the server was down is expired at start", async () => {
  await using dir = await h.tempDir();
  const text = `outlived ${crypto.randomUUID()}`;
  {
    await using server = await h.startServer({ dir: dir.path });
    await using a = await h.joined(server, "ann");
    await a.send(`/temp 2s ${text}`);
    await a.waitFor(h.messageWith(text));
    assert.equal((await server.stop("SIGTERM")).code, 0);
  }
  assert.equal(await h.storeHolds(dir.path, text), true, "the message should still be stored");
  await new Promise((r) => setTimeout(r, 2_500));
  await using server = await h.startServer({ dir: dir.path });
  await h.waitUntil(
    async () => !(await h.storeHolds(dir.path, text)),
    5_000,
    "not purged at start-up",
  );
  await using b = await h.joined(server, "ben");
  await b.send("/search outlived");
  assert.equal((await b.waitFor((e) => e.type === "results")).total, 0);
  assert.ok(!b.events.some((e) => e.type === "message" && e.text === text));
});

Deno.test("search: regex, case-insensitive, never others' DMs; catastrophic and invalid patterns", async () => {
  await using server = await h.startServer();
  await using a = await h.joined(server, "ann");
  await using b = await h.joined(server, "ben");
  await using c = await h.joined(server, "cat");
  await a.send("The Quick brown fox");
  await a.send(`@${b.id} fox secret between ann and ben`);
  await a.send("a".repeat(3000) + "!");
  await c.waitFor(h.messageWith("a".repeat(3000) + "!"));

  await c.send("/search qu?ick\\s+BROWN");
  const found = await c.waitFor((e) => e.type === "results");
  assert.equal(found.total, 1);
  assert.equal(found.messages[0].text, "The Quick brown fox");
  assert.equal(found.messages[0].from, a.id);
  assert.ok(found.messages[0].ref);

  await c.send("/search secret");
  const none = await c.waitFor((e) => e.type === "results" && e !== found);
  assert.equal(none.total, 0, "cat found a DM between ann and ben");
  await b.send("/search fox");
  const forBen = await b.waitFor((e) => e.type === "results");
  assert.equal(forBen.total, 2);
  // newest first
  assert.equal(forBen.messages[0].text, "fox secret between ann and ben");

  // the classic catastrophic case: a long run of a's that does not end the line (it ends in !)
  await c.send("/search (a+)+$");
  const catastrophic = await c.waitFor((e) => e.type === "results" && e !== found && e !== none);
  assert.equal(catastrophic.total, 0);
  await c.send("/search ^(a+)+!$");
  const matching = await c.waitFor((e) =>
    e.type === "results" && ![found, none, catastrophic].includes(e)
  );
  assert.equal(matching.total, 1);

  await c.send("/search (unclosed");
  const invalid = await c.waitFor((e) => e.type === "error" && e.code === "bad_pattern");
  assert.match(invalid.message, /missing closing \)/);
  assert.doesNotMatch(invalid.message, /\(\?i\)/);

  // a ref from results works for /reply
  await c.send(`/reply ${found.messages[0].ref} nice fox`);
  const reply = await a.waitFor(h.messageWith("nice fox"));
  assert.equal(reply.replyTo, found.messages[0].id);
});

Deno.test("search: plain mode shows results as a table", async () => {
  await using server = await h.startServer();
  await using a = await h.joined(server, "ann", { mode: "plain" });
  await a.waitForLine((l) => l.startsWith("* you are"));
  await a.send("table me");
  await a.waitForLine((l) => l.includes(": table me"));
  await a.send("/search table");
  await a.waitForLine((l) => l === "* 1 result");
  const row = await a.waitForLine((l) => l.includes("table me") && l.startsWith("│"));
  assert.match(row, /│ everyone /);
});
