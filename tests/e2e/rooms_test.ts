/**
 * Rooms over real TLS (issue 14): `chat serve` on 127.0.0.1 and `chat join --json/--plain` or
 * raw TLS clients. Join, part, the list and topics through the client's commands; `--room` for a
 * script; an invite-only room unseen by an outsider in every path (the list, search, history,
 * replies, deletes, resume, and every request naming it); history, search and resume per room;
 * membership across a reconnect and a restart; and every bound, each sent the thing it refuses.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { encodeFrame, MAX_FRAME_BYTES } from "../../src/protocol/codec.ts";
import { GENERAL_ROOM, MAX_TOPIC_LENGTH } from "../../src/protocol/schema.ts";
import { loadTestServeArgs } from "../../src/cli/options.ts";
import { ROOM_CHANGE_BURST, ROOMS_CREATED_PER_HOUR } from "../../src/server/limiters.ts";
import { DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR } from "../../src/server/limits.ts";
import { hashToken } from "../../src/server/identity.ts";
import { MAX_ROOMS_PER_USER, MEMBERS_LIST_LIMIT, notInRoom } from "../../src/server/rooms.ts";
import * as h from "./harness.ts";
import type { ChatEvent, ClientHandle, RawClient } from "./harness.ts";

/** Raw frames a test reads back. */
// deno-lint-ignore no-explicit-any
type Frame = any;

/** The same, where the answer must be a room event. */
async function room(raw: RawClient, frame: Record<string, unknown>): Promise<Frame> {
  const answer = await h.ask(raw, frame);
  assert.equal(answer.type, "room", JSON.stringify(answer));
  return answer;
}

/** The same, where the answer must be a refusal. */
async function refused(raw: RawClient, frame: Record<string, unknown>): Promise<Frame> {
  const answer = await h.ask(raw, frame);
  assert.equal(answer.type, "error", JSON.stringify(answer));
  return answer;
}

/** A message sent from a raw client, acknowledged; its id. */
async function post(raw: RawClient, frame: Record<string, unknown>): Promise<string> {
  const ack = await h.ask(raw, { type: "send", ...frame });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  return ack.id;
}

const isRoom = (event: string, name: string) => (e: ChatEvent) =>
  e.type === "room" && e.event === event && e.room.name === name;

/** `client` says `/join ROOM FLAGS…` and waits until it is in `room` (a lower-case name). */
async function joinRoom(client: ClientHandle, room: string, ...flags: string[]): Promise<void> {
  await client.send(["/join", room, ...flags].join(" "));
  await client.waitFor(isRoom("joined", room));
}

Deno.test("rooms: join, part, the list and topics through chat join's commands; messages stay in their room", async () => {
  await using server = await h.startServer();
  await using people = await h.joinedAll(server, "alice", "bob", "carol");
  const [alice, bob, carol] = people;

  await alice.send("/join #Builds");
  const made = await alice.waitFor(isRoom("joined", "#builds"));
  assert.deepEqual([made.room.members, made.here], [1, "#builds"]);
  await bob.send("/join builds");
  await bob.waitFor(isRoom("joined", "#builds"));
  const came = await alice.waitFor((e) => e.type === "presence" && e.room === "#builds");
  assert.deepEqual([came.joined.id, came.online], [bob.id, 2]);

  await alice.send("/topic green since 1234");
  const topic = await bob.waitFor(isRoom("topic", "#builds"));
  assert.deepEqual([topic.by, topic.room.topic], [alice.id, "green since 1234"]);

  await carol.send("/rooms");
  const listed = await carol.waitFor((e) => e.type === "rooms");
  assert.deepEqual(
    listed.rooms.map((r: Frame) => [r.name, r.members, r.online, r.topic]),
    [["#builds", 2, 2, "green since 1234"], [GENERAL_ROOM, 3, 3, ""]],
  );

  // what alice types goes to #builds now; carol is not in it
  await alice.send("build 1 passed");
  const there = await bob.waitFor(h.messageWith("build 1 passed"));
  assert.equal(there.room, "#builds");
  await carol.send("hello everyone");
  const general = await alice.waitFor(h.messageWith("hello everyone"));
  assert.equal(general.room, GENERAL_ROOM);
  await bob.waitFor(h.messageWith("hello everyone"));
  assert.ok(!carol.events.some((e) => e.text === "build 1 passed"));

  await bob.send("/part");
  const parted = await bob.waitFor(isRoom("parted", "#builds"));
  assert.equal(parted.here, GENERAL_ROOM);
  const left = await alice.waitFor((e) => e.type === "presence" && e.room === "#builds" && e.left);
  assert.equal(left.left.id, bob.id);
  await alice.send("build 2 passed");
  await alice.waitFor(h.messageWith("build 2 passed"));
  await bob.send("/who #builds");
  const notIn = await bob.waitFor((e) => e.type === "error" && e.code === "not_found");
  assert.equal(notIn.message, notInRoom("#builds"));
  assert.ok(!bob.events.some((e) => e.text === "build 2 passed"));
});

Deno.test("rooms: `chat join --room #builds --plain` posts what stdin says in #builds, joining it first", async () => {
  await using server = await h.startServer();
  await using watcher = await h.joined(server, "watcher");
  await joinRoom(watcher, "#builds");
  await using ci = await h.joined(server, "ci", {
    mode: "plain",
    extraArgs: ["--room", "#Builds"],
  });
  await ci.send("build 1234 passed");
  const result = await ci.end();
  assert.equal(result.code, 0, result.stderr);
  const posted = await watcher.waitFor(h.messageWith("build 1234 passed"));
  assert.deepEqual([posted.room, posted.from], ["#builds", ci.id]);
  assert.match(result.stdout, /\* you joined #builds \(2 members, 2 online\)/);
  assert.match(result.stdout, / ci_\d{4}: build 1234 passed/, "its own room is not named");
  // a room it may not join: one sentence, exit 1, nothing sent
  await using owner = await h.joined(server, "owner");
  await joinRoom(owner, "#vault", "--private");
  await using intruder = await h.joinClient(server, "intruder", {
    mode: "plain",
    extraArgs: ["--room", "#vault"],
  });
  assert.equal(await intruder.exitedWithin(15_000), 1);
  assert.match(intruder.stderr(), /could not join #vault: the name #vault is taken/);
});

Deno.test("rooms: a script's lines after /join go to the room joined and after /part back, however fast they come", async () => {
  await using server = await h.startServer();
  await using watcher = await h.joined(server, "watcher");
  await joinRoom(watcher, "#deploys");
  await using ci = await h.joined(server, "ci", { mode: "plain" });
  // one write: the lines are read before the server has answered the /join
  await ci.send("/join #deploys\ndeploy 7 done\n/part\nall deploys done");
  const result = await ci.end();
  assert.equal(result.code, 0, result.stderr);
  const deployed = await watcher.waitFor(h.messageWith("deploy 7 done"));
  const done = await watcher.waitFor(h.messageWith("all deploys done"));
  assert.deepEqual([deployed.room, done.room], ["#deploys", GENERAL_ROOM]);
});

Deno.test("rooms: an invite-only room is unseen by an outsider in every path, in the words for no room at all", async () => {
  await using server = await h.startServer();
  const { raw: owner, welcome: ownerWelcome } = await h.rawJoined(server, "owner");
  const { raw: eve, welcome: eveWelcome } = await h.rawJoined(server, "eve");
  try {
    const early = await post(eve, { text: "before the secret" });
    await room(owner, { type: "join", room: "#vault", private: true });
    const secret = await post(owner, { text: "the vault code is 4242", room: "#vault" });
    await room(owner, { type: "topic", room: "#vault", topic: "vault business" });
    await post(owner, { text: "public 4242 chatter" });

    // the list neither shows nor counts it
    const listed = await h.ask(eve, { type: "rooms" });
    assert.deepEqual(listed.rooms.map((r: Frame) => r.name), [GENERAL_ROOM]);
    assert.equal(listed.total, 1);
    // history, search: not there, and asked by name, the answer for no room at all
    const history = await h.ask(eve, { type: "history", limit: 100 });
    assert.ok(!history.messages.some((m: Frame) => m.id === secret));
    const search = await h.ask(eve, { type: "search", pattern: "4242" });
    assert.deepEqual(search.messages.map((m: Frame) => m.text), ["public 4242 chatter"]);
    const requests = (name: string) => [
      { type: "history", limit: 10, room: name },
      { type: "search", pattern: "4242", room: name },
      { type: "who", room: name },
      { type: "part", room: name },
      { type: "topic", room: name, topic: "mine now" },
      { type: "private", room: name, private: false },
      { type: "invite", room: name, user: eveWelcome.you.id },
      { type: "send", text: "let me in", room: name },
    ];
    const vault = await Promise.all(requests("#vault").map((f) => refused(eve, f)));
    const none = await Promise.all(requests("#nothing").map((f) => refused(eve, f)));
    assert.deepEqual(
      vault.map((e) => [e.code, e.message.replace("#vault", "#X")]),
      none.map((e) => [e.code, e.message.replace("#nothing", "#X")]),
    );
    assert.ok(vault.every((e) => e.code === "not_found" && e.message === notInRoom("#vault")));
    // a reply to it and a delete of it: the words for no such message
    const ghost = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    const reply = await refused(eve, { type: "send", text: "me too", replyTo: secret });
    const replyNone = await refused(eve, { type: "send", text: "me too", replyTo: ghost });
    assert.deepEqual([reply.code, reply.message], [replyNone.code, replyNone.message]);
    const del = await refused(eve, { type: "delete", id: secret });
    const delNone = await refused(eve, { type: "delete", id: ghost });
    assert.deepEqual([del.code, del.message], [delNone.code, delNone.message]);
    // joining says only that the name is taken
    const join = await refused(eve, { type: "join", room: "#vault" });
    assert.equal(join.code, "forbidden");
    assert.doesNotMatch(join.message, /invite-only|owner|private/);
    // a resume from before it: never its messages
    await eve.close();
    const again = await rawJoinedToken(server, "eve", eveWelcome.token, { resume: early });
    try {
      const replay = await again.raw.frameWhere((f) =>
        f.type === "message" && f.text === "public 4242 chatter"
      );
      assert.ok(replay?.replay);
      assert.ok(!again.raw.received.some((f: Frame) => f.id === secret || f.room === "#vault"));
      // invited, it is in: the room's history is there
      await room(owner, { type: "invite", room: "#vault", user: eveWelcome.you.id });
      const told = await again.raw.frameWhere((f) => f.type === "room" && f.event === "invited");
      assert.equal(told.by, ownerWelcome.you.id);
      await room(again.raw, { type: "join", room: "#vault" });
      const inside = await h.ask(again.raw, { type: "history", limit: 10, room: "#vault" });
      assert.deepEqual(inside.messages.map((m: Frame) => m.id), [secret]);
    } finally {
      await again.raw.close();
    }
  } finally {
    await owner.close();
    await eve.close();
  }
});

Deno.test("rooms: history, search and resume per room; membership survives a reconnect and a restart", async () => {
  const server = await h.startServer();
  const dir = server.dir;
  let restarted: Awaited<ReturnType<typeof h.startServer>> | undefined;
  try {
    const { raw: tom, welcome } = await h.rawJoined(server, "tom");
    const { raw: ann } = await h.rawJoined(server, "ann");
    let token: string = welcome.token;
    try {
      for (const name of ["#a", "#b"]) {
        await room(tom, { type: "join", room: name });
        await room(ann, { type: "join", room: name });
      }
      const seen = await post(ann, { text: "a0 kiwi", room: "#a" });
      await tom.frameWhere((f) => f.id === seen);
      await tom.close();
      // while tom is away: both rooms and #general, interleaved
      const order = [["#a", "a1"], ["#b", "b1"], [GENERAL_ROOM, "g1"], ["#b", "b2 kiwi"]];
      for (const [name, text] of order) await post(ann, { text, room: name });
      const back = await rawJoinedToken(server, "tom", token, { resume: seen });
      token = back.welcome.token;
      const replayed = await collectMessages(back.raw, order.length);
      assert.deepEqual(replayed.map((m) => [m.room, m.text]), order);
      assert.deepEqual(back.welcome.rooms.map((r: Frame) => r.name).sort(), [
        "#a",
        "#b",
        GENERAL_ROOM,
      ]);
      const historyB = await h.ask(back.raw, { type: "history", limit: 10, room: "#b" });
      assert.deepEqual(historyB.messages.map((m: Frame) => m.text), ["b1", "b2 kiwi"]);
      const searchA = await h.ask(back.raw, { type: "search", pattern: "kiwi", room: "#a" });
      assert.deepEqual(searchA.messages.map((m: Frame) => m.text), ["a0 kiwi"]);
      await room(back.raw, { type: "part", room: "#b" });
      const searchAll = await h.ask(back.raw, { type: "search", pattern: "kiwi" });
      assert.deepEqual(searchAll.messages.map((m: Frame) => m.text), ["a0 kiwi"]);
      await back.raw.close();
    } finally {
      await tom.close();
      await ann.close();
    }
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0);
    restarted = await h.startServer({ dir });
    const after = await rawJoinedToken(restarted, "tom", token, {});
    try {
      assert.deepEqual(after.welcome.rooms.map((r: Frame) => r.name).sort(), [
        "#a",
        GENERAL_ROOM,
      ]);
      const history = await h.ask(after.raw, { type: "history", limit: 10, room: "#a" });
      assert.deepEqual(history.messages.map((m: Frame) => m.text), ["a0 kiwi", "a1"]);
    } finally {
      await after.raw.close();
    }
  } finally {
    await restarted?.[Symbol.asyncDispose]();
    await server.stop("SIGKILL").catch(() => {});
    await h.removeDir(dir);
  }
});

/** A raw hello with a token and more fields. */
async function rawJoinedToken(
  server: { port: number; caFile: string },
  name: string,
  token: string,
  extra: Record<string, unknown>,
): Promise<{ raw: RawClient; welcome: Frame }> {
  const raw = await h.rawClient(server.port, server.caFile);
  await raw.sendFrame({ type: "hello", name, token, ...extra });
  const welcome = await raw.frameWhere((f) => f.type === "welcome" || f.type === "error");
  assert.equal(welcome?.type, "welcome", JSON.stringify(welcome));
  return { raw, welcome };
}

/** The next `count` message frames. */
async function collectMessages(raw: RawClient, count: number): Promise<Frame[]> {
  const messages: Frame[] = [];
  while (messages.length < count) {
    const frame = await raw.frameWhere((f) => f.type === "message");
    assert.ok(frame, "the connection closed");
    messages.push(frame);
  }
  return messages;
}

// ---- bounds -----------------------------------------------------------------------------------

Deno.test("rooms: bounds — rooms per user, rooms on the server, the topic's length", async () => {
  await using server = await h.startServer({
    args: ["--max-new-rooms-per-address", "0", "--max-rooms", String(MAX_ROOMS_PER_USER + 1)],
  });
  const makers: RawClient[] = [];
  const { raw: tom } = await h.rawJoined(server, "tom");
  try {
    // rooms made by others (each user makes ROOMS_CREATED_PER_HOUR at most), joined by tom
    let made = 0;
    for (let m = 0; made < MAX_ROOMS_PER_USER; m++) {
      const { raw } = await h.rawJoined(server, `maker${m}`);
      makers.push(raw);
      for (let i = 0; i < ROOMS_CREATED_PER_HOUR && made < MAX_ROOMS_PER_USER; i++) {
        await room(raw, { type: "join", room: `#r${made++}` });
      }
    }
    for (let i = 0; i < MAX_ROOMS_PER_USER - 1; i++) {
      await room(tom, { type: "join", room: `#r${i}` });
    }
    const full = await refused(tom, { type: "join", room: `#r${MAX_ROOMS_PER_USER - 1}` });
    assert.equal(full.code, "full");
    assert.match(full.message, new RegExp(`in ${MAX_ROOMS_PER_USER} rooms`));
    // the server keeps MAX_ROOMS_PER_USER + 1 rooms (with #general): it has them all
    const { raw: ann } = await h.rawJoined(server, "ann");
    makers.push(ann);
    const serverFull = await refused(ann, { type: "join", room: "#one-too-many" });
    assert.equal(serverFull.code, "full");
    assert.match(serverFull.message, /keeps at most 51 rooms/);
    await room(ann, { type: "join", room: "#r7" });
    // a topic: MAX_TOPIC_LENGTH, not one more; one line
    await room(ann, { type: "topic", room: "#r7", topic: "t".repeat(MAX_TOPIC_LENGTH) });
    for (const topic of ["t".repeat(MAX_TOPIC_LENGTH + 1), "two\nlines"]) {
      const bad = await refused(ann, { type: "topic", room: "#r7", topic });
      assert.equal(bad.code, "bad_frame");
    }
    const list = await h.ask(ann, { type: "rooms" });
    assert.equal(list.total, MAX_ROOMS_PER_USER + 1);
  } finally {
    for (const raw of makers) await raw.close();
    await tom.close();
  }
});

Deno.test("rooms: bounds — room changes per user, new rooms per user and per address", async () => {
  await using server = await h.startServer();
  const { raw: tom } = await h.rawJoined(server, "tom");
  const others: RawClient[] = [];
  try {
    await room(tom, { type: "join", room: "#flip" });
    for (let i = 1; i < ROOM_CHANGE_BURST; i++) {
      await room(tom, { type: i % 2 ? "part" : "join", room: "#flip" });
    }
    const limited = await refused(tom, { type: "join", room: "#flip" });
    assert.equal(limited.code, "rate_limited");
    assert.match(limited.message, /changes to rooms a minute/);
    // new rooms: ROOMS_CREATED_PER_HOUR for one user, then the address's allowance across ids
    let created = 0;
    let refusal: Frame;
    for (let u = 0; !refusal && u < 10; u++) {
      const { raw } = await h.rawJoined(server, `maker${u}`);
      others.push(raw);
      for (let i = 0; i <= ROOMS_CREATED_PER_HOUR; i++) {
        const answer = await h.ask(raw, { type: "join", room: `#m${u}-${i}` });
        if (answer.type === "room") {
          created++;
          continue;
        }
        assert.equal(answer.code, "rate_limited");
        if (/from one address/.test(answer.message)) refusal = answer;
        else assert.equal(i, ROOMS_CREATED_PER_HOUR, "a user's own allowance");
        break;
      }
    }
    // #flip was the address's first
    assert.equal(created + 1, DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR);
    assert.match(refusal.message, /30 new rooms an hour from one address/);
  } finally {
    for (const raw of others) await raw.close();
    await tom.close();
  }
});

Deno.test("rooms: bound — who for a room lists at most MEMBERS_LIST_LIMIT members, cut to one frame, with the count", async () => {
  // one address makes every id here: the limits a load test lifts
  await using server = await h.startServer({ args: loadTestServeArgs(2_000) });
  const count = MEMBERS_LIST_LIMIT + 5;
  const peers: RawClient[] = [];
  try {
    // 24-character names: a frame holds fewer than MEMBERS_LIST_LIMIT of them; joined a batch
    // at a time (raw clients do not ping: the first must not reach its idle limit meanwhile)
    for (let i = 0; i < count; i += 25) {
      const batch = Array.from({ length: Math.min(25, count - i) }, (_, k) => `m${i + k}`);
      const joinedNow = await Promise.all(
        batch.map((name) => h.rawJoined(server, name.padEnd(24, "x"))),
      );
      peers.push(...joinedNow.map((j) => j.raw));
    }
    const users = await h.ask(peers.at(-1)!, { type: "who", room: GENERAL_ROOM });
    assert.equal(users.room, GENERAL_ROOM);
    assert.equal(users.online, count);
    assert.ok(users.users.length > 500 && users.users.length <= MEMBERS_LIST_LIMIT);
    assert.ok(encodeFrame(users).length <= MAX_FRAME_BYTES);
  } finally {
    await Promise.all(peers.map((raw) => raw.close()));
  }
});

Deno.test("rooms: a database from before rooms is served with its public messages in #general and everyone in it", async () => {
  await using dir = await h.tempDir("chat-e2e-old-db-");
  const token = "an-old-token-of-tom";
  const db = new DatabaseSync(join(dir.path, "chat.db"));
  db.exec(`
    CREATE TABLE identities (id TEXT PRIMARY KEY COLLATE NOCASE, name TEXT NOT NULL,
      token_hash TEXT NOT NULL, created_at INTEGER NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
      sender TEXT NOT NULL, recipients TEXT, text TEXT NOT NULL, time INTEGER NOT NULL,
      reply_to TEXT, expires_at INTEGER, purged TEXT, purged_after INTEGER);
    CREATE TABLE audience (user_id TEXT NOT NULL, seq INTEGER NOT NULL,
      PRIMARY KEY (user_id, seq)) WITHOUT ROWID;`);
  db.prepare("INSERT INTO identities (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)")
    .run("tom_0001", "tom", hashToken(token), 1);
  db.prepare("INSERT INTO messages (id, sender, text, time) VALUES (?, ?, ?, ?)")
    .run("01ARZ3NDEKTSV4RRFFQ69G5FAV", "tom_0001", "from the old days", 1);
  db.close();
  await using server = await h.startServer({ dir: dir.path });
  const { raw, welcome } = await rawJoinedToken(server, "tom", token, {});
  try {
    assert.equal(welcome.you.id, "tom_0001");
    assert.deepEqual(welcome.rooms.map((r: Frame) => [r.name, r.members]), [[GENERAL_ROOM, 1]]);
    const old = await raw.frameWhere((f) => f.type === "message");
    assert.deepEqual([old.text, old.room], ["from the old days", GENERAL_ROOM]);
    await post(raw, { text: "and the new" });
  } finally {
    await raw.close();
  }
});

Deno.test("rooms: temporary messages and deletes work per room: their members are told, a resume replays the purge, nobody else hears of it", async () => {
  await using server = await h.startServer();
  const { raw: ann } = await h.rawJoined(server, "ann");
  const { raw: tom, welcome: tomWelcome } = await h.rawJoined(server, "tom");
  const { raw: eve } = await h.rawJoined(server, "eve");
  try {
    await room(ann, { type: "join", room: "#team" });
    await room(tom, { type: "join", room: "#team" });
    const temp = await post(ann, { text: "soon gone", room: "#team", ttl: 1 });
    const expired = await tom.frameWhere((f) => f.type === "deleted" && f.id === temp, 5_000);
    assert.equal(expired.reason, "expired");
    const seen = await post(ann, { text: "seen by tom", room: "#team" });
    const doomed = await post(ann, { text: "oops", room: "#team" });
    await tom.frameWhere((f) => f.id === doomed);
    await tom.close();
    // deleted while tom is away: his resume (from the last he saw) replays the deletion
    const del = await h.ask(ann, { type: "delete", id: doomed });
    assert.equal(del.type, "ack");
    const back = await rawJoinedToken(server, "tom", tomWelcome.token, { resume: doomed });
    try {
      const purge = await back.raw.frameWhere((f) => f.type === "deleted");
      assert.deepEqual([purge.id, purge.reason], [doomed, "deleted"]);
      const history = await h.ask(back.raw, { type: "history", limit: 10, room: "#team" });
      assert.deepEqual(history.messages.map((m: Frame) => m.id), [seen]);
    } finally {
      await back.raw.close();
    }
    // eve, in #general only, heard none of it
    await post(ann, { text: "marker for eve" });
    await eve.frameWhere((f) => f.type === "message" && f.text === "marker for eve");
    assert.ok(!eve.received.some((f: Frame) => f.type === "deleted" || f.room === "#team"));
  } finally {
    await ann.close();
    await tom.close();
    await eve.close();
  }
});
