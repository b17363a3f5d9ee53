/**
 * Moderation over real TLS (issue 14): `chat serve` on 127.0.0.1, `chat join --json/--plain`
 * clients typing the commands, raw TLS clients for the rest, and `chat admin` on the server's
 * database while it runs. Every command both allowed (to a room's creator, to a server operator)
 * and forbidden (to anyone else: `error forbidden`, nothing changed); the kick line as the room's
 * members, the target and the operator see it; a mute refusing send; an operator's delete; a
 * timed ban ending; bans and mutes holding across a reconnect (same id, new connection) and a
 * restart; a ban on an address; the lists.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as h from "./harness.ts";
import type { ChatEvent, RawClient, ServerHandle } from "./harness.ts";

// deno-lint-ignore no-explicit-any
type Frame = any;

const joinedOps = (e: ChatEvent) =>
  e.type === "room" && e.event === "joined" && e.room.name === "#ops";

/** Waits until `client` has seen `count` events matching `pred` (earlier ones count). */
function seen(client: { events: ChatEvent[] }, pred: (e: ChatEvent) => boolean, count: number) {
  return h.waitUntil(() => client.events.filter(pred).length >= count, 10_000, "the event");
}

const isModeration = (action: string, user?: string) => (e: ChatEvent) =>
  e.type === "moderation" && e.action === action && (user === undefined || e.user === user);

/** What a hello with `token` (none: a new id) gets first: a welcome, or an error. */
async function hello(server: ServerHandle, name: string, token?: string): Promise<Frame> {
  const raw = await h.rawClient(server.port, server.caFile);
  try {
    await raw.sendFrame({ type: "hello", name, ...(token ? { token } : {}) });
    return await raw.frameWhere((f) => f.type === "welcome" || f.type === "error");
  } finally {
    await raw.close();
  }
}

Deno.test("moderation: every room command, allowed to the room's operator and forbidden to anyone else, through chat join's commands", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice");
  await using bob = await h.joined(server, "bob", { mode: "plain" });
  await using carol = await h.joined(server, "carol");
  for (const client of [alice, carol]) {
    await client.send("/join #ops");
    await client.waitFor((e) => e.type === "room" && e.event === "joined");
  }
  await bob.send("/join #ops");
  await bob.waitForLine((l) => l.startsWith("* you joined #ops"));
  await carol.send("carol was here");
  const carolsMessage = await alice.waitFor(h.messageWith("carol was here"));

  // bob, no operator: each command refused with the same sentence, and nothing changes
  const forbidden = [
    `/op @${carol.id}`,
    `/deop @${alice.id}`,
    `/kick @${carol.id} spam`,
    `/ban @${carol.id} 1h`,
    `/ban @${carol.id} --server`,
    "/ban --address 10.9.8.7",
    `/unban @${carol.id}`,
    `/mute @${carol.id}`,
    `/mute @${carol.id} --server`,
    `/unmute @${carol.id}`,
    "/bans",
    "/bans --server",
    "/modlog",
    "/modlog --server",
    `/delete ${carolsMessage.ref}`,
  ];
  // bob's plain lines have refs of their own: carol's message by its ref in bob's output
  const line = await bob.waitForLine((l) =>
    / carol_\d+ in #ops: carol was here|carol_\d+: carol was here/.test(l)
  );
  const bobsRef = /^#(\S+) /.exec(line)![1];
  forbidden[forbidden.length - 1] = `/delete ${bobsRef}`;
  for (const command of forbidden) await bob.send(command);
  await h.waitUntil(
    () =>
      bob.lines.filter((l) => /^! only (an operator of #ops|a server operator|its author)/.test(l))
        .length === forbidden.length,
    15_000,
    () => `every command refused:\n${bob.lines.join("\n")}`,
  );
  await carol.send("/rooms");
  const rooms = await carol.waitFor((e) => e.type === "rooms");
  assert.ok(
    rooms.rooms.some((r: Frame) => r.name === "#ops" && r.members === 3),
    "still three in #ops",
  );
  assert.ok(!carol.events.some((e) => e.type === "moderation" || e.type === "deleted"));
  // dave, one more member (--json), to see the room's counts change with the kick line
  await using dave = await h.joined(server, "dave");
  await dave.send("/join #ops");
  await dave.waitFor(joinedOps);
  await alice.waitFor((e) => e.type === "presence" && e.room === "#ops" && e.online === 4);

  // alice made #ops: she may. The kick line, as the target, a member and the operator see it
  await alice.send(`/kick @${carol.id} spam`);
  const toCarol = await carol.waitFor(isModeration("kicked"));
  assert.deepEqual([toCarol.toMe, toCarol.room, toCarol.by, toCarol.reason, toCarol.here], [
    true,
    "#ops",
    alice.id,
    "spam",
    "#general",
  ]);
  const toAlice = await alice.waitFor(isModeration("kicked", carol.id));
  assert.equal(toAlice.room, "#ops");
  await bob.waitForLine((l) => l === `* ${carol.id} was kicked from #ops by ${alice.id}: spam`);
  // a member's client takes the room's counts from the one line (alice, bob, dave), no presence
  const toDave = await dave.waitFor(isModeration("kicked", carol.id));
  assert.deepEqual([toDave.members, toDave.online], [3, 3]);
  await dave.send("/rooms");
  const after = await dave.waitFor((e) => e.type === "rooms");
  const opsRoom = after.rooms.find((r: Frame) => r.name === "#ops");
  assert.deepEqual([opsRoom?.members, opsRoom?.online], [3, 3], "as the server counts them");
  assert.ok(!dave.events.some((e) => e.type === "presence" && e.left?.id === carol.id));
  assert.ok(!bob.lines.some((l) => l.startsWith(`* ${carol.id} left #ops`)));
  // a kick is not a ban
  await carol.send("/join #ops");
  await seen(carol, joinedOps, 2);

  // op, and deop; /ops
  await alice.send(`/op @${carol.id}`);
  await carol.waitFor(isModeration("opped", carol.id));
  await carol.send("/ops");
  const ops = await carol.waitFor((e) => e.type === "ops");
  assert.deepEqual([ops.server, ops.creator, ops.operators.length], [[], alice.id, 2]);
  await alice.send(`/deop @${carol.id}`);
  await carol.waitFor(isModeration("deopped", carol.id));
  await carol.send(`/deop @${alice.id}`);
  await carol.waitFor((e) => e.type === "error" && e.code === "forbidden");

  // a mute: carol reads, cannot send there; lifted, she can
  await alice.send(`/mute @${carol.id} 1h too loud`);
  const muted = await carol.waitFor(isModeration("muted"));
  assert.ok(muted.until > Date.now());
  await carol.send("/join #ops");
  await carol.send("can you hear me");
  const refusal = await carol.waitFor((e) => e.type === "error" && /muted in #ops/.test(e.message));
  assert.equal(refusal.code, "forbidden");
  await alice.send(`/unmute @${carol.id}`);
  await carol.waitFor(isModeration("unmuted"));
  await carol.send("back again");
  const again = await alice.waitFor(h.messageWith("back again"));

  // an operator deletes anyone's message in their room: everyone sees by whom
  await alice.send(`/delete ${again.ref}`);
  const gone = await carol.waitFor((e) => e.type === "deleted" && e.by === alice.id);
  assert.equal(gone.reason, "deleted");
  await bob.waitForLine((l) => /^\* message #\S+ was deleted by alice_\d+$/.test(l));

  // a timed ban: out, refused, and back once it has ended (every wait bounded)
  await alice.send(`/ban @${carol.id} 2s flooding`);
  await carol.waitFor(isModeration("banned"));
  await carol.send("/join #ops");
  const banned = await carol.waitFor((e) =>
    e.type === "error" && /banned from #ops/.test(e.message)
  );
  assert.equal(banned.code, "forbidden");
  await alice.send("/bans");
  const bans = await alice.waitFor((e) => e.type === "bans");
  assert.deepEqual(bans.bans.map((b: Frame) => [b.kind, b.user, b.reason]), [[
    "ban",
    carol.id,
    "flooding",
  ]]);
  const joins = carol.events.filter(joinedOps).length;
  await h.waitUntil(
    async () => {
      await carol.send("/join #ops");
      await h.delay(300);
      return carol.events.filter(joinedOps).length > joins;
    },
    10_000,
    "carol back in #ops once her ban ended",
  );

  // unban of one not banned, by the operator: said
  await alice.send(`/unban @${carol.id}`);
  await alice.waitFor((e) => e.type === "error" && e.code === "not_found");
  await alice.send("/modlog");
  const log = await alice.waitFor((e) => e.type === "modlog");
  assert.deepEqual(log.entries.map((e: Frame) => e.action), [
    "banned",
    "deleted",
    "unmuted",
    "muted",
    "deopped",
    "opped",
    "kicked",
  ]);
});

Deno.test("moderation: chat admin ops a user while the server runs; server bans (by id and by address) and mutes hold across a reconnect and a restart", async () => {
  const server = await h.startServer();
  const dir = server.dir;
  let restarted: ServerHandle | undefined;
  const clients: RawClient[] = [];
  try {
    const { raw: sam, welcome: samWelcome } = await h.rawJoined(server, "sam");
    const { raw: bob, welcome: bobWelcome } = await h.rawJoined(server, "bob");
    const { raw: carol, welcome: carolWelcome } = await h.rawJoined(server, "carol");
    clients.push(sam, bob, carol);
    const samId = samWelcome.you.id;
    // not yet an operator
    assert.equal((await h.ask(sam, { type: "ban", user: bobWelcome.you.id })).code, "forbidden");
    assert.match(await h.admin(server, "op", samId), /is a server operator now/);
    assert.equal((await h.admin(server, "ops")).trim(), samId);
    const ops = await h.ask(sam, { type: "ops" });
    assert.deepEqual(ops.server, [samId]);

    // a server-wide mute: carol may read, not send, anywhere
    const mute = await h.ask(sam, { type: "mute", user: carolWelcome.you.id, reason: "calm down" });
    assert.equal(mute.type, "moderation");
    const refused = await h.ask(carol, { type: "send", text: "hello?" });
    assert.deepEqual([refused.code, /muted on this server/.test(refused.message)], [
      "forbidden",
      true,
    ]);

    // a server-wide ban: bob is told, cut, and refused with his token on a new connection
    const ban = await h.ask(sam, { type: "ban", user: bobWelcome.you.id, reason: "spam" });
    assert.deepEqual([ban.type, ban.action, ban.user], ["moderation", "banned", bobWelcome.you.id]);
    const told = await bob.frameWhere((f) => f.type === "goodbye");
    assert.equal(told.reason, "banned");
    assert.ok(bob.received.some((f: Frame) => f.type === "moderation" && f.action === "banned"));
    const reconnect = await hello(server, "bob", bobWelcome.token);
    assert.deepEqual([reconnect.type, reconnect.code], ["error", "banned"]);
    assert.match(reconnect.message, /^you are banned from this server: spam$/);

    // a ban on an address: every client here is 127.0.0.1; the operator is exempt
    const address = await h.ask(sam, { type: "ban", address: "127.0.0.1", duration: 3600 });
    assert.equal(address.address, "127.0.0.1");
    assert.equal((await carol.frameWhere((f) => f.type === "goodbye"))?.reason, "banned");
    assert.equal((await hello(server, "newcomer")).code, "banned");
    // bans and mutes: bob's ban, the address's, carol's mute
    assert.equal((await h.ask(sam, { type: "bans" })).total, 3);
    await sam.close();

    // a restart: everything holds
    assert.equal((await server.stop("SIGTERM")).code, 0);
    restarted = await h.startServer({ dir });
    assert.equal((await hello(restarted, "bob", bobWelcome.token)).code, "banned");
    assert.equal((await hello(restarted, "newcomer")).code, "banned");
    const { raw: samAgain } = await h.rawJoined(restarted, "sam", samWelcome.token);
    clients.push(samAgain);
    assert.equal(
      (await h.ask(samAgain, { type: "unban", address: "127.0.0.1" })).action,
      "unbanned",
    );
    const { raw: carolAgain } = await h.rawJoined(restarted, "carol", carolWelcome.token);
    clients.push(carolAgain);
    assert.equal((await h.ask(carolAgain, { type: "send", text: "still?" })).code, "forbidden");
    // a timed server ban ends by itself
    const { raw: dave, welcome: daveWelcome } = await h.rawJoined(restarted, "dave");
    clients.push(dave);
    await h.ask(samAgain, { type: "ban", user: daveWelcome.you.id, duration: 1 });
    assert.equal((await hello(restarted, "dave", daveWelcome.token)).code, "banned");
    let back: Frame;
    await h.waitUntil(
      async () => {
        back = await hello(restarted!, "dave", daveWelcome.token);
        return back?.type === "welcome";
      },
      10_000,
      "dave let in once his ban ended",
    );
    // revoked offline: refused at once
    assert.match(await h.admin(restarted, "deop", samId), /no longer a server operator/);
    assert.equal((await h.ask(samAgain, { type: "modlog" })).code, "forbidden");
    // the server log has every action and never a message's text
    const output = restarted.output() + server.output();
    assert.match(output, /moderation action=banned by=sam_\d+ user=bob_\d+ reason=spam/);
    assert.doesNotMatch(output, /hello\?|still\?/);
  } finally {
    for (const client of clients) await client.close();
    await server.stop().catch(() => {});
    await restarted?.[Symbol.asyncDispose]();
    await server[Symbol.asyncDispose]();
  }
});

Deno.test("moderation: chat admin refuses an id never issued and a database that is not there", async () => {
  await using server = await h.startServer();
  const db = join(server.dir, "chat.db");
  const unknown = await h.runChat(["admin", "op", "nobody_1234", "--db", db]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no id nobody_1234 was ever issued/);
  const missing = await h.runChat(["admin", "ops", "--db", join(server.dir, "none.db")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /there is no database at/);
  const usage = await h.runChat(["admin", "op"]);
  assert.equal(usage.code, 2);
});
