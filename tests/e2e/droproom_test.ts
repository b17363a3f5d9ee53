/**
 * Removing a room over real TLS (`droproom`): a server with room for three (#general and two
 * more) fills up and refuses a new room; a room's own operator and a member who is none are
 * refused (`error forbidden`, nothing changed), #general cannot be removed; a server operator
 * (granted with `chat admin op` while the server runs) removes one. Its members online see one
 * line and lose it (`--plain` and `--json`); its messages leave the database files; a new room
 * can be made again; a member away at the time finds it gone on their resume, its messages not
 * replayed, and its old ids behave as ids that never were (reply, delete, search, resume).
 */
import assert from "node:assert/strict";
import * as h from "./harness.ts";

// deno-lint-ignore no-explicit-any
type Frame = any;

Deno.test("droproom: a full server frees a room; only a server operator may, never #general; its members lose it, its messages leave the files, a resume does not bring them back", async () => {
  await using server = await h.startServer({ args: ["--max-rooms", "3"] });
  const { raw: sam, welcome: samWelcome } = await h.rawJoined(server, "sam");
  const { raw: carol, welcome: carolWelcome } = await h.rawJoined(server, "carol");
  const clients = [sam, carol];
  try {
    const samId = samWelcome.you.id;
    await using alice = await h.joined(server, "alice");
    await using bob = await h.joined(server, "bob", { mode: "plain" });
    // alice makes two rooms: the server has all three it keeps
    for (const name of ["#spam", "#keep"]) {
      await alice.send(`/join ${name}`);
      await alice.waitFor((e) => e.type === "room" && e.event === "joined" && e.room.name === name);
    }
    await bob.send("/join #spam");
    await bob.waitForLine((l) => l.startsWith("* you joined #spam"));
    assert.equal((await h.ask(carol, { type: "join", room: "#spam" })).type, "room");
    const full = await h.ask(carol, { type: "join", room: "#fresh" });
    assert.deepEqual([full.type, full.code], ["error", "full"]);

    // what is said in #spam, and where carol last was before she goes
    const seen = await h.ask(carol, { type: "send", text: "carol in general" });
    const secret = `spam text ${crypto.randomUUID()}`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const ack = await h.ask(carol, {
        type: "send",
        room: "#spam",
        text: `${secret} ${i}`,
      });
      ids.push(ack.id);
    }
    await alice.waitFor(h.messageWith(`${secret} 2`));
    await carol.close();
    assert.ok(await h.storeHolds(server.dir, secret), "the text is stored to begin with");

    // refused: a member who is no operator, the room's own operator (not a server operator)
    await bob.send("/droproom #spam spam");
    await bob.waitForLine((l) => l === "! only a server operator may remove a room");
    await alice.send("/droproom #spam spam");
    const refused = await alice.waitFor((e) => e.type === "error");
    assert.match(refused.message, /only a server operator may remove a room/);
    const notYet = await h.ask(sam, { type: "droproom", room: "#spam" });
    assert.deepEqual([notYet.type, notYet.code], ["error", "forbidden"]);
    const rooms = await h.ask(sam, { type: "rooms" });
    assert.ok(rooms.rooms.some((r: Frame) => r.name === "#spam" && r.members === 3));
    assert.ok(!alice.events.some((e) => e.type === "moderation"));

    assert.match(await h.admin(server, "op", samId), /is a server operator now/);
    const general = await h.ask(sam, { type: "droproom", room: "#general" });
    assert.deepEqual([general.type, general.code], ["error", "forbidden"]);
    const none = await h.ask(sam, { type: "droproom", room: "#nothing" });
    assert.deepEqual([none.type, none.code], ["error", "not_found"]);

    // a server operator removes it: one line to its members, who lose it
    const dropped = await h.ask(sam, { type: "droproom", room: "#spam", reason: "spam" });
    assert.deepEqual([dropped.type, dropped.action, dropped.room, dropped.by, dropped.reason], [
      "moderation",
      "dropped",
      "#spam",
      samId,
      "spam",
    ]);
    await bob.waitForLine((l) => l.startsWith(`* #spam was removed by ${samId}: spam`));
    const told = await alice.waitFor((e) => e.type === "moderation" && e.action === "dropped");
    assert.deepEqual([told.room, told.by, told.reason], ["#spam", samId, "spam"]);
    await h.waitUntil(
      async () => !(await h.storeHolds(server.dir, secret)),
      10_000,
      "the removed room's text leaving chat.db and its WAL",
    );
    assert.equal(
      bob.lines.filter((l) => l.startsWith("* #spam was removed")).length,
      1,
      "told once",
    );

    // a new room can be made again; #spam is gone from the list, and free as a name
    const fresh = await h.ask(sam, { type: "join", room: "#fresh" });
    assert.deepEqual([fresh.type, fresh.event], ["room", "joined"]);
    const after = await h.ask(sam, { type: "rooms" });
    assert.deepEqual(after.rooms.map((r: Frame) => r.name).sort(), ["#fresh", "#general", "#keep"]);
    const log = await h.ask(sam, { type: "modlog" });
    assert.ok(log.entries.some((e: Frame) => e.action === "dropped" && e.room === "#spam"));

    // carol, away at the time, resumes from before: #spam is not hers, nothing of it replayed
    const back = await h.rawClient(server.port, server.caFile);
    clients.push(back);
    await back.sendFrame({
      type: "hello",
      name: "carol",
      token: carolWelcome.token,
      resume: seen.id,
    });
    const welcome = await back.frameWhere((f) => f.type === "welcome");
    assert.deepEqual(welcome.rooms.map((r: Frame) => r.name), ["#general"]);
    const marker = `after the removal ${crypto.randomUUID()}`;
    await h.ask(sam, { type: "send", text: marker });
    await back.frameWhere((f) => f.type === "message" && f.text === marker);
    assert.ok(
      !back.received.some((f: Frame) => f.room === "#spam" || ids.includes(f.id)),
      JSON.stringify(back.received),
    );
    // its old ids are ids that never were
    const reply = await h.ask(back, { type: "send", text: "re", replyTo: ids[0] });
    assert.deepEqual([reply.type, reply.code], ["error", "not_found"]);
    const del = await h.ask(back, { type: "delete", id: ids[1] });
    assert.deepEqual([del.type, del.code], ["error", "not_found"]);
    const search = await h.ask(back, { type: "search", pattern: "spam text" });
    assert.equal(search.total, 0);
    const resumed = await h.rawClient(server.port, server.caFile);
    clients.push(resumed);
    await resumed.sendFrame({ type: "hello", name: "carol", token: welcome.token, resume: ids[0] });
    assert.equal((await resumed.frameWhere((f) => f.type === "welcome")).type, "welcome");
    const marker2 = `once more ${crypto.randomUUID()}`;
    await h.ask(sam, { type: "send", text: marker2 });
    await resumed.frameWhere((f) => f.type === "message" && f.text === marker2);
    assert.ok(!resumed.received.some((f: Frame) => f.room === "#spam" || ids.includes(f.id)));
    // the name is free: whoever joins it makes a new, empty room (once there is room for one)
    assert.equal((await h.ask(sam, { type: "droproom", room: "#keep" })).action, "dropped");
    await alice.waitFor((e) => e.type === "moderation" && e.room === "#keep");
    const again = await h.ask(sam, { type: "join", room: "#spam" });
    assert.deepEqual([again.type, again.room.members], ["room", 1]);
    const history = await h.ask(sam, { type: "history", limit: 10, room: "#spam" });
    assert.deepEqual(history.messages, []);
  } finally {
    for (const client of clients) await client.close();
  }
});
