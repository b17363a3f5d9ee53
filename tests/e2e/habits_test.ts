/**
 * The habits of people who live in a chat all day (issue 14), over real TLS: `chat serve` on
 * 127.0.0.1 and real `chat join --json/--plain` clients, or raw TLS clients for what the client
 * itself would refuse. /me seen by others in plain and JSON (in a room and a DM, and replied
 * to); /msg delivering a DM; /away in /who and told once to a DM's sender, then cleared;
 * /ignore kept in the state dir across a restart of the client, hiding that person's messages
 * and mentions; and the bad things (a long or multi-line away reason, away changes too fast,
 * too many ignored) refused with a clear sentence.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_AWAY_LENGTH } from "../../src/protocol/schema.ts";
import { AWAY_CHANGE_BURST } from "../../src/server/limits.ts";
import { IGNORES_FILE_NAME, MAX_IGNORED } from "../../src/client/ignore.ts";
import * as h from "./harness.ts";
import type { ChatEvent, ClientHandle } from "./harness.ts";

/** Raw frames a test reads back. */
// deno-lint-ignore no-explicit-any
type Frame = any;

/** Asks `/who` and returns its answer: every frame before it has arrived by then. */
async function who(client: ClientHandle): Promise<ChatEvent> {
  const before = client.events.length;
  await client.send("/who");
  return await client.waitFor((e) => e.type === "users" && client.events.indexOf(e) >= before);
}

const awayOf = (id: string) => (e: ChatEvent) => e.type === "away" && e.user === id && !e.mine;

Deno.test("habits: /me is an action, seen as `* alice waves` in plain and marked in JSON, in a room and a DM; a reply to it works", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice");
  await using bob = await h.joined(server, "bob");
  await using carol = await h.joined(server, "carol", { mode: "plain" });
  await alice.waitFor((e) => e.type === "presence" && e.joined?.id === carol.id);

  await alice.send("/me waves");
  const seen = await bob.waitFor(h.messageWith("waves"));
  assert.deepEqual([seen.action, seen.from, seen.room], [true, alice.id, "#general"]);
  await carol.waitForLine((l) => new RegExp(`^#\\w+ \\S+ \\* ${alice.id} waves$`).test(l));

  await alice.send(`/me @${bob.id} hugs you`);
  const direct = await bob.waitFor(h.messageWith("hugs you"));
  assert.deepEqual([direct.action, direct.to], [true, [bob.id]]);
  assert.ok(!carol.lines.some((l) => l.includes("hugs you")), "a direct action is not public");

  await bob.send(`/reply ${seen.ref} hi alice`);
  const reply = await alice.waitFor(h.messageWith("hi alice"));
  assert.deepEqual([reply.replyTo, reply.quote, reply.action], [seen.id, {
    from: alice.id,
    text: "waves",
  }, undefined]);
  // an action stays one in history: a newcomer's backlog has it marked
  await using dave = await h.joined(server, "dave");
  const replayed = await dave.waitFor(h.messageWith("waves"));
  assert.deepEqual([replayed.action, replayed.replay], [true, true]);
});

Deno.test("habits: /msg @id text (and /msg id text) is a direct message, as @id text is", async () => {
  await using server = await h.startServer();
  await using people = await h.joinedAll(server, "alice", "bob", "carol");
  const [alice, bob, carol] = people;
  await alice.send(`/msg @${bob.id} just between us`);
  const got = await bob.waitFor(h.messageWith("just between us"));
  assert.deepEqual([got.from, got.to, got.room], [alice.id, [bob.id], null]);
  await alice.send(`/msg ${bob.id} without the at`);
  await bob.waitFor(h.messageWith("without the at"));
  await alice.send("/msg nobody_but_text");
  const usage = await alice.waitFor((e) => e.type === "error" && e.code === "usage");
  assert.match(usage.message, /after the recipients|usage: \/msg/);
  await who(carol);
  assert.ok(!carol.events.some((e) => e.type === "message" && e.text.includes("between")));
});

Deno.test("habits: /away shows in /who and is told once to whoever writes a DM; /away alone is back; a new away tells again", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice");
  await using bob = await h.joined(server, "bob", { mode: "plain" });
  await using carol = await h.joined(server, "carol");
  await alice.waitFor((e) => e.type === "presence" && e.joined?.id === carol.id);

  await bob.send("/away gone to lunch");
  await bob.waitForLine((l) => l.startsWith("* you are away: gone to lunch"));
  const listed = await who(alice);
  assert.deepEqual(
    listed.users.find((u: Frame) => u.id === bob.id),
    { id: bob.id, name: "bob", away: "gone to lunch" },
  );

  await alice.send(`@${bob.id} are you there?`);
  const told = await alice.waitFor(awayOf(bob.id));
  assert.equal(told.reason, "gone to lunch");
  assert.equal(typeof told.since, "number");
  await alice.send(`@${bob.id} hello?`);
  await alice.waitFor(h.messageWith("hello?"));
  await who(alice); // everything the second DM brought has arrived
  assert.equal(alice.events.filter(awayOf(bob.id)).length, 1, "told once, not twice");
  // someone else writing is told too, once
  await carol.send(`/msg ${bob.id} me too`);
  await carol.waitFor(awayOf(bob.id));
  // public messages tell nobody
  await carol.send(`${bob.id}: lunch?`);
  await carol.waitFor(h.messageWith(`${bob.id}: lunch?`));
  await who(carol);
  assert.equal(carol.events.filter(awayOf(bob.id)).length, 1);

  await bob.send("/away");
  await bob.waitForLine((l) => l === "* you are back");
  const back = await who(alice);
  assert.deepEqual(back.users.find((u: Frame) => u.id === bob.id), { id: bob.id, name: "bob" });
  await alice.send(`@${bob.id} welcome back`);
  await alice.waitFor(h.messageWith("welcome back"));
  await who(alice);
  assert.equal(alice.events.filter(awayOf(bob.id)).length, 1, "back: nobody is told");

  await bob.send("/away meeting");
  await bob.waitForLine((l) => l.startsWith("* you are away: meeting"));
  await alice.send(`@${bob.id} one more`);
  const again = await alice.waitFor((e) => awayOf(bob.id)(e) && e.reason === "meeting");
  assert.ok(again);
  await bob.send("/back");
  const backs = () => bob.lines.filter((l) => l === "* you are back").length;
  await h.waitUntil(() => backs() === 2, h.WAIT_TIMEOUT_MS, "bob back a second time");
});

Deno.test("habits: the server refuses an away reason too long, on several lines or with controls, and away changes too fast, each with a sentence", async () => {
  await using server = await h.startServer();
  const { raw } = await h.rawJoined(server, "raw");
  try {
    const long = await h.ask(raw, { type: "away", reason: "x".repeat(MAX_AWAY_LENGTH + 1) });
    assert.equal(long.code, "bad_frame");
    assert.match(long.message, new RegExp(`an away reason is at most ${MAX_AWAY_LENGTH}`));
    const fits = await h.ask(raw, { type: "away", reason: "x".repeat(MAX_AWAY_LENGTH) });
    assert.deepEqual([fits.type, fits.reason.length], ["away", MAX_AWAY_LENGTH]);
    for (const bad of ["two\nlines", "bell\u0007", "csi\u009b"]) {
      const refused = await h.ask(raw, { type: "away", reason: bad });
      assert.equal(refused.code, "bad_frame", JSON.stringify(bad));
      assert.match(refused.message, /an away reason is one line, without control characters/);
    }
    // one away is spent already; the burst allows AWAY_CHANGE_BURST in all
    const answers: Frame[] = [];
    for (let i = 1; i <= AWAY_CHANGE_BURST; i++) {
      answers.push(await h.ask(raw, { type: "away", reason: `away ${i}` }));
    }
    assert.deepEqual(
      answers.map((a) => a.type),
      [...Array(AWAY_CHANGE_BURST - 1).fill("away"), "error"],
    );
    assert.equal(answers.at(-1).code, "rate_limited");
    assert.match(answers.at(-1).message, /slow down: at most \d+ away changes a minute/);
  } finally {
    await raw.close();
  }
  // the client says so before sending
  await using tom = await h.joined(server, "tom");
  await tom.send(`/away ${"y".repeat(MAX_AWAY_LENGTH + 1)}`);
  const local = await tom.waitFor((e) => e.type === "error" && e.code === "usage");
  assert.match(local.message, new RegExp(`an away reason is at most ${MAX_AWAY_LENGTH}`));
});

Deno.test("habits: /ignore hides a person's messages and mentions in plain, marks them in JSON, and holds across a restart of the client", async () => {
  await using server = await h.startServer();
  await using state = await h.tempDir("chat-e2e-ignore-");
  await using alice = await h.joined(server, "alice");
  await using mallory = await h.joined(server, "mallory");
  let bob = await h.joined(server, "bob", { mode: "plain", stateDir: state.path });
  try {
    await alice.waitFor((e) => e.type === "presence" && e.joined?.id === bob.id);
    await bob.send(`/ignore @${mallory.id.toUpperCase()}`);
    await bob.waitForLine((l) => l.startsWith(`* ignoring ${mallory.id.toUpperCase()}`));
    await mallory.send(`spam for ${bob.id}`);
    await mallory.send(`@${bob.id} direct spam`);
    await mallory.send(`/me spams ${bob.id}`);
    await alice.send("alice speaks");
    await bob.waitForLine((l) => l.endsWith("alice speaks"));
    await bob.send("/ignore");
    await bob.waitForLine((l) => l.startsWith("* you ignore (1):"));
    assert.ok(!bob.lines.some((l) => /spam/.test(l)), bob.lines.join("\n"));
    const result = await bob.end();
    assert.equal(result.code, 0, result.stderr);
  } finally {
    await bob[Symbol.asyncDispose]();
  }
  const file = join(state.path, "chat", IGNORES_FILE_NAME);
  assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);

  // the next run of the client on this state dir still ignores mallory
  bob = await h.joined(server, "bob", { mode: "plain", stateDir: state.path });
  try {
    await mallory.send(`@${bob.id} spam again`);
    await alice.send(`@${bob.id} alice again`);
    await bob.waitForLine((l) => l.endsWith("alice again"));
    assert.ok(!bob.lines.some((l) => /spam/.test(l)), bob.lines.join("\n"));
    await bob.send(`/unignore ${mallory.id}`);
    await bob.waitForLine((l) => l === `* no longer ignoring ${mallory.id}`);
    await mallory.send(`@${bob.id} heard now`);
    await bob.waitForLine((l) => l.endsWith("heard now"));
  } finally {
    await bob[Symbol.asyncDispose]();
  }

  // in JSON, a script sees everything: a message from someone ignored is only marked
  await using script = await h.joined(server, "bob", { stateDir: state.path });
  await script.send(`/ignore ${mallory.id}`);
  await script.waitFor((e) => e.type === "notice" && e.message.startsWith("ignoring"));
  await mallory.send("for the script");
  const marked = await script.waitFor(h.messageWith("for the script"));
  assert.equal(marked.ignored, true);
});

Deno.test("habits: /ignore of one more than the most kept, or of something not an id, is refused with a sentence", async () => {
  await using server = await h.startServer();
  await using state = await h.tempDir("chat-e2e-ignore-");
  // a list one short of full, as earlier runs would have left it
  const ids = Array.from({ length: MAX_IGNORED - 1 }, (_, i) => `p${i}_${1000 + i}`);
  await Deno.mkdir(join(state.path, "chat"), { recursive: true });
  await Deno.writeTextFile(
    join(state.path, "chat", IGNORES_FILE_NAME),
    JSON.stringify({ [server.fingerprint]: ids }),
  );
  await using bob = await h.joined(server, "bob", { mode: "plain", stateDir: state.path });
  await bob.send("/ignore @last_0001");
  await bob.waitForLine((l) => l.startsWith("* ignoring last_0001"));
  await bob.send("/ignore @over_0001");
  await bob.waitForLine((l) =>
    l === `! you ignore ${MAX_IGNORED} people already, the most kept; /unignore someone first`
  );
  await bob.send("/ignore bob");
  await bob.waitForLine((l) => l === "! ignoring is by id, as name_1234 (/who lists them)");
  const result = await bob.end();
  assert.equal(result.code, 0, result.stderr);
  const kept = JSON.parse(await Deno.readTextFile(join(state.path, "chat", IGNORES_FILE_NAME)));
  assert.equal(kept[server.fingerprint].length, MAX_IGNORED);
  assert.ok(!kept[server.fingerprint].includes("over_0001"));
});

Deno.test("habits: join and part lines in --plain are those of the room looked at; --json has them all", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice", { mode: "plain" });
  await using watcher = await h.joined(server, "watcher");
  await alice.send("/join #builds");
  await alice.waitForLine((l) => l.startsWith("* you joined #builds"));
  await watcher.send("/join #builds");
  await watcher.waitFor((e) => e.type === "room" && e.event === "joined");
  await alice.waitForLine((l) => l.startsWith(`* ${watcher.id} joined #builds`));
  // looking at #general now: #builds' comings and goings are not shown
  await alice.send("/join #general");
  await alice.waitForLine((l) => l.includes("what you type goes to #general"));
  await using bob = await h.joined(server, "bob");
  await bob.send("/join #builds");
  await watcher.waitFor((e) =>
    e.type === "presence" && e.room === "#builds" && e.joined?.id === bob.id
  );
  await alice.send("/who #builds");
  await alice.waitForLine((l) => l.startsWith("* online in #builds (3)"));
  assert.ok(
    !alice.lines.some((l) => l.startsWith(`* ${bob.id} joined #builds`)),
    alice.lines.join("\n"),
  );
  // back in #builds, its parts are shown again
  const before = alice.lines.length; // the first join said the same words
  await alice.send("/join #builds");
  await h.waitUntil(
    () => alice.lines.slice(before).some((l) => l.includes("what you type goes to #builds")),
    h.WAIT_TIMEOUT_MS,
    "alice to look at #builds again",
  );
  await bob.send("/part #builds");
  await alice.waitForLine((l) => l.startsWith(`* ${bob.id} left #builds`));
});
