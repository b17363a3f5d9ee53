// End-to-end: /history over real TLS, the real `chat serve` and `chat join --plain` processes.
// A room with more messages than the login backlog (the 50 newest across all rooms): /history
// brings the ones before what was shown, oldest first, and again pages further back, room by
// room. (The server's refusal of a room one is not in: tests/e2e/rooms_test.ts, frame by frame;
// a line-mode client always asks about a room it is in, as /join and /part wait for their answer.)
// In a real terminal (tmux.ts), the full-screen client looking at a room whose messages the
// backlog left out asks for them by itself.
//
// Run: deno test -A tests/e2e/backfill_test.ts

import assert from "node:assert/strict";
import { GENERAL_ROOM } from "../../src/protocol/schema.ts";
import * as h from "./harness.ts";
import type { ChatEvent, ClientHandle, RawClient } from "./harness.ts";
import { SHOW_TIMEOUT_MS, Tmux, tmuxAvailable } from "./tmux.ts";

async function post(raw: RawClient, frame: Record<string, unknown>): Promise<string> {
  const ack = await h.ask(raw, { type: "send", ...frame });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  return ack.id;
}

const isJoined = (name: string) => (e: ChatEvent) =>
  e.type === "room" && e.event === "joined" && e.room.name === name;

/** The texts of `writer`'s message lines in `lines` (`#ref 12:01:02 writer_1234: text`). */
function texts(lines: string[], writer: string): string[] {
  const said = new RegExp(`^#\\S+ \\d\\d:\\d\\d:\\d\\d ${writer}(?: in #\\S+)?: (.*)$`);
  return lines.flatMap((l) => {
    const match = said.exec(l);
    return match ? [match[1]] : [];
  });
}

/** The `count` lines after the first one from line `from` on that matches `heading` (waited for). */
async function page(
  client: ClientHandle,
  heading: RegExp,
  from: number,
  count: number,
): Promise<string[]> {
  let lines: string[] = [];
  await h.waitUntil(
    () => {
      const at = client.lines.findIndex((l, i) => i >= from && heading.test(l));
      lines = at < 0 ? [] : client.lines.slice(at + 1, at + 1 + count);
      return lines.length === count;
    },
    h.WAIT_TIMEOUT_MS,
    () => `${heading} and ${count} lines after it:\n${client.lines.slice(from).join("\n")}`,
  );
  return lines;
}

const numbered = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `b${String(from + i).padStart(2, "0")}`);

Deno.test("history: /history in --plain brings a room's earlier messages in order, pages further back, room by room", async () => {
  await using server = await h.startServer({ args: ["--max-rate", "0"] });
  await using stateDir = await h.tempDir("chat-e2e-state-");
  // reader joins #builds once, then leaves
  {
    await using first = await h.joined(server, "reader", { stateDir: stateDir.path });
    await first.send("/join #builds");
    await first.waitFor(isJoined("#builds"));
    await first.end();
  }
  const { raw: writer, welcome } = await h.rawJoined(server, "writer");
  const writerId: string = welcome.you.id;
  try {
    assert.equal((await h.ask(writer, { type: "join", room: "#builds" })).type, "room");
    for (const text of numbered(1, 80)) await post(writer, { text, room: "#builds" });
    for (let i = 1; i <= 20; i++) await post(writer, { text: `g${i}`, room: GENERAL_ROOM });
    assert.equal((await h.ask(writer, { type: "join", room: "#vault" })).type, "room");
    await post(writer, { text: "vault business", room: "#vault" });
  } finally {
    await writer.close();
  }

  // the backlog: the 50 newest of all, so #builds from b51
  await using reader = await h.joined(server, "reader", {
    stateDir: stateDir.path,
    mode: "plain",
    extraArgs: ["--room", "#builds"],
  });
  await reader.waitForLine((l) => l.endsWith(`${writerId} in #general: g20`));
  assert.deepEqual(texts(reader.lines, writerId).filter((t) => t.startsWith("b")), [
    ...numbered(51, 80),
  ]);

  let from = reader.lines.length;
  await reader.send("/history 20");
  const first = await page(reader, /^\* 20 earlier messages of #builds:$/, from, 20);
  assert.deepEqual(texts(first, writerId), numbered(31, 50));

  from = reader.lines.length;
  await reader.send("/history 20");
  const second = await page(reader, /^\* 20 earlier messages of #builds:$/, from, 20);
  assert.deepEqual(texts(second, writerId), numbered(11, 30));

  from = reader.lines.length;
  await reader.send("/history");
  const last = await page(reader, /^\* 10 earlier messages of #builds:$/, from, 10);
  assert.deepEqual(texts(last, writerId), numbered(1, 10));
  await reader.send("/history");
  await reader.waitForLine((l) => l === "* no earlier messages in #builds");
  await reader.end();

  // the oldest shown of each room is its own: #general's page goes before g1, where there is
  // nothing; #vault's message is never in it
  await using again = await h.joined(server, "reader", { stateDir: stateDir.path, mode: "plain" });
  await again.waitForLine((l) => l.endsWith(`${writerId} in #builds: b80`));
  from = again.lines.length;
  await again.send("/history");
  await again.waitForLine((l) => l === "* no earlier messages in #general");
  assert.ok(!again.lines.some((l) => l.includes("vault business")));
});

Deno.test("history: in the full-screen client, looking at a quiet room shows what was said there before", async () => {
  await tmuxAvailable();
  await using server = await h.startServer({ args: ["--max-rate", "0"] });
  await using tmux = new Tmux(server);
  const state = await tmux.stateDir();
  // alice is in #quiet, and away while it is spoken in, then buried under #general's backlog
  {
    await using first = await h.joined(server, "alice", { stateDir: state });
    await first.send("/join #quiet");
    await first.waitFor(isJoined("#quiet"));
    await first.end();
  }
  const { raw: bob } = await h.rawJoined(server, "bob");
  try {
    assert.equal((await h.ask(bob, { type: "join", room: "#quiet" })).type, "room");
    await post(bob, { text: "quiet one", room: "#quiet" });
    await post(bob, { text: "quiet two", room: "#quiet" });
    for (let i = 1; i <= 60; i++) await post(bob, { text: `busy ${i}`, room: GENERAL_ROOM });
  } finally {
    await bob.close();
  }
  const alice = await tmux.join("alice", "alice", 100, 30, [], state);
  await alice.shows("busy 60", "#general's backlog");
  assert.ok(!(await alice.text()).includes("quiet one"));
  await alice.keys("M-2");
  const quiet = await alice.waitFor(
    (t) => t.includes("quiet one") && t.includes("quiet two"),
    SHOW_TIMEOUT_MS,
    "#quiet's earlier messages",
  );
  const lines = quiet.split("\n");
  const at = (text: string) => lines.findIndex((l) => l.includes(text));
  assert.ok(at("quiet one") < at("quiet two"), quiet);
  assert.ok(!quiet.includes("busy 60"), quiet);
  assert.match(quiet, /\[2:#quiet\]/);
});
