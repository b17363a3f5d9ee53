// Unit tests for src/client/chat.ts — what a person's or a script's lines do and how they leave —
// on a ChatClient talking to a fake connection, with the outbox writer saving into memory and the
// fake clock: the drain on leaving (bounded, skipped while a person is disconnected, with
// reconnects for a script), the last words and exit codes, a full outbox, a DM that waits.
//
// Run: deno test -A tests/client_chat_test.ts

import assert from "node:assert/strict";
import {
  Chat,
  type ChatUi,
  DRAIN_TIMEOUT_MS,
  EXIT_DRAIN_MS,
  OUTBOX_WAIT_MS,
} from "../src/client/chat.ts";
import { ChatClient, type SendFrame } from "../src/client/client.ts";
import { ConnectError, type Connection } from "../src/client/connection.ts";
import { MAX_OUTBOX_MESSAGES, outboxWriter } from "../src/client/outbox.ts";
import { ClientState } from "../src/client/state.ts";
import type { ClientFrame } from "../src/protocol/schema.ts";
import { FakeClock } from "./fake_clock.ts";
import { FakeConnection, welcome } from "./fake_connection.ts";

/** A server that welcomes, and acknowledges a send only when `acks` says so. */
function server(acks: (frame: ClientFrame) => boolean = () => false) {
  let n = 0;
  return new FakeConnection((frame, conn) => {
    if (frame.type === "hello") conn.push(welcome(`t${++n}`));
    if (frame.type === "send" && acks(frame)) {
      const id = `01JABCDEFGHJKMNPQRST${String(++n).padStart(6, "0")}`;
      conn.push({ type: "ack", ref: frame.ref, id, time: 1 });
    }
  });
}
const down = () => new ConnectError("cannot connect to h:1: connection refused");

/** A chat for tom_0001 on h:1 whose connects are answered by `opens` in turn. */
async function joined(
  opens: (FakeConnection | ConnectError)[],
  /** `dropped`: the first connection is lost right after the welcome. */
  options: { interactive?: boolean; diskFails?: boolean; dropped?: boolean } = {},
) {
  const clock = new FakeClock();
  const said: string[] = [];
  const kept: SendFrame[][] = [];
  let connects = 0;
  const state = new ClientState();
  const client: ChatClient = new ChatClient({
    name: "tom",
    state,
    connect: () => {
      const next = opens[connects++] ?? down();
      return next instanceof ConnectError
        ? Promise.reject(next)
        : Promise.resolve(next as unknown as Connection);
    },
    onEvents: () => {},
    onStatus: () => {},
    onWelcome: () => {},
    onUnsent: () => keepUnsent(),
    random: () => 0,
    clock,
  });
  const outbox = outboxWriter(
    (frames) =>
      options.diskFails
        ? Promise.reject(new Deno.errors.PermissionDenied("read-only"))
        : Promise.resolve(void kept.push(frames)),
    (text) => void said.push(`notice ${text}`),
  );
  const keepUnsent = () => {
    const unsent = client.unsent();
    outbox.save(unsent);
    client.unsentKept = unsent.length > 0;
  };
  const ui: ChatUi = {
    notice: (text) => void said.push(`notice ${text}`),
    localError: (text) => void said.push(`error ${text}`),
    help: (topic) => void said.push(topic ? `help ${topic}` : "help"),
    leaving: () => void said.push("leaving"),
  };
  const chat = new Chat({
    client,
    state,
    ui,
    interactive: options.interactive ?? true,
    outbox,
    keepUnsent,
    id: "tom_0001",
    where: "h:1",
    clock,
  });
  await client.start();
  if (options.dropped) {
    (opens[0] as FakeConnection).end();
    await clock.advance(0);
  }
  /** Leaves, and tells when the leaving is done. */
  const leave = (drainMs: number) => {
    const left = { done: false };
    void chat.leave(drainMs).then(() => (left.done = true));
    return left;
  };
  return {
    chat,
    client,
    clock,
    said,
    kept,
    leave,
    farewell: async () => chat.farewell(await client.ended),
  };
}

const LATER = "1 message not sent yet: it goes out the next time you join as tom_0001 on h:1";

Deno.test("leaving, connected: waits at most EXIT_DRAIN_MS for the answers; what is left is kept and said", async () => {
  const t = await joined([server()]);
  t.chat.line("hello");
  const left = t.leave(EXIT_DRAIN_MS);
  await t.clock.advance(EXIT_DRAIN_MS - 1);
  assert.equal(left.done, false, "still waiting for the answer");
  await t.clock.advance(1);
  assert.equal(left.done, true);
  assert.deepEqual(await t.farewell(), { words: [LATER], code: 0 });
  assert.deepEqual(t.kept.at(-1)?.map((f) => f.text), ["hello"]);
  assert.deepEqual(t.said, ["leaving"]);
});

Deno.test("leaving, connected: done as soon as the server has answered, and nothing is said", async () => {
  let answering = false;
  const conn = server(() => answering);
  const t = await joined([conn]);
  answering = true;
  t.chat.line("hello");
  const left = t.leave(EXIT_DRAIN_MS);
  await t.clock.advance(0);
  assert.equal(left.done, true);
  assert.deepEqual(await t.farewell(), { words: [], code: 0 });
  assert.deepEqual(t.kept.at(-1) ?? [], [], "nothing kept on disk");
});

Deno.test("leaving, a person disconnected: no wait at all; the message goes out next time", async () => {
  const t = await joined([server()], { dropped: true });
  t.chat.line("typed offline");
  const left = t.leave(EXIT_DRAIN_MS);
  await t.clock.advance(0);
  assert.equal(left.done, true, "left with no time passing");
  assert.deepEqual(await t.farewell(), { words: [LATER], code: 0 });
  assert.deepEqual(t.kept.at(-1)?.map((f) => f.text), ["typed offline"]);
});

Deno.test("leaving, a script: waits through reconnects for the answers, up to DRAIN_TIMEOUT_MS", async () => {
  const t = await joined([server(), down(), server(() => true)], {
    interactive: false,
    dropped: true,
  });
  t.chat.line("a line from stdin");
  const left = t.leave(DRAIN_TIMEOUT_MS);
  await t.clock.advance(250); // the first attempt fails
  assert.equal(left.done, false);
  await t.clock.advance(500); // the second connects, the retry is acknowledged
  assert.equal(left.done, true);
  assert.deepEqual(await t.farewell(), { words: [], code: 0 });
});

Deno.test("leaving, a script: what is still unsent at DRAIN_TIMEOUT_MS is kept, said, and exits 1", async () => {
  const t = await joined([server()], { interactive: false, dropped: true });
  t.chat.line("into the void");
  const left = t.leave(DRAIN_TIMEOUT_MS);
  await t.clock.advance(DRAIN_TIMEOUT_MS - 1);
  assert.equal(left.done, false);
  await t.clock.advance(1);
  assert.equal(left.done, true);
  assert.deepEqual(await t.farewell(), { words: [LATER], code: 1 });
});

Deno.test("leaving, a script: a request the server never answered is said, and exits 1", async () => {
  const t = await joined([server()], { interactive: false });
  t.chat.line("/who");
  t.leave(DRAIN_TIMEOUT_MS);
  await t.clock.advance(DRAIN_TIMEOUT_MS);
  assert.deepEqual(await t.farewell(), {
    words: ["1 request(s) were not acknowledged by the server before leaving"],
    code: 1,
  });
});

Deno.test("leaving: an outbox that cannot be written is said once, and exits 1 even for a person", async () => {
  const t = await joined([server()], { diskFails: true, dropped: true });
  t.chat.line("nowhere to go");
  t.leave(EXIT_DRAIN_MS);
  const { words, code } = await t.farewell();
  assert.deepEqual(words, ["1 message could not be sent, nor kept on disk"]);
  assert.equal(code, 1);
  assert.equal(t.said.filter((s) => s.startsWith("notice could not keep")).length, 1);
});

Deno.test("stopped by the server (signed out) with a message unsent: kept for the next join", async () => {
  const conn = server();
  const t = await joined([conn]);
  t.chat.line("never answered");
  conn.push({ type: "goodbye", reason: "revoked", message: "signed out" });
  conn.end();
  const farewell = await t.farewell();
  assert.deepEqual(farewell.words, ["1 message not sent yet: kept for the next join as tom_0001"]);
  assert.equal(farewell.code, 1);
});

const FULL = `error not sent: you are not connected, and ${MAX_OUTBOX_MESSAGES} messages ` +
  "(the most kept) are waiting to be sent already";

Deno.test("a full outbox while disconnected: a person is told the message was not sent", async () => {
  const t = await joined([server()], { dropped: true });
  for (let i = 0; i < MAX_OUTBOX_MESSAGES; i++) t.chat.line(`m${i}`);
  assert.equal(t.said.length, 0);
  t.chat.line("one too many");
  assert.deepEqual(t.said, [FULL]);
  assert.equal(t.client.unsent().length, MAX_OUTBOX_MESSAGES);
  t.client.close();
});

Deno.test("a full outbox while disconnected: a script's next line waits for room, then goes", async () => {
  const t = await joined([server(), server(() => true)], { interactive: false, dropped: true });
  for (let i = 0; i < MAX_OUTBOX_MESSAGES; i++) t.chat.line(`m${i}`);
  let read = false;
  void Promise.resolve(t.chat.line("one more")).then(() => (read = true));
  await t.clock.advance(2 * OUTBOX_WAIT_MS);
  assert.equal(read, false, "the next line is not read while there is no room");
  await t.clock.advance(250 + OUTBOX_WAIT_MS); // reconnected: the kept ones are acknowledged
  assert.equal(read, true);
  assert.deepEqual(t.said, [], "nothing refused");
  await t.clock.advance(0);
  assert.equal(t.client.unanswered, 0, "and it was sent");
  t.client.close();
});

Deno.test("a DM to the exact id of someone not online says it waits for them, once acknowledged", async () => {
  const t = await joined([server(() => true)]);
  t.chat.line("@ann_0002 see you tomorrow");
  t.chat.line("@ann hi"); // a name, not an id: the server finds the person or refuses
  t.chat.line("@tom_0001 note to self");
  await t.clock.advance(0);
  assert.deepEqual(t.said, [
    "notice ann_0002 is not online: the message waits on the server and reaches them when they join",
  ]);
  t.client.close();
});

Deno.test("lines are done by their rows: /help and /exit reach the UI and the leaving", async () => {
  const t = await joined([server()]);
  t.chat.line("/help");
  t.chat.line("/help ops");
  t.chat.line("/nope");
  t.chat.line("/exit");
  await t.clock.advance(0);
  assert.deepEqual(t.said, [
    "help",
    "help operators",
    "error unknown command /nope; /help lists the commands",
    "leaving",
  ]);
  assert.deepEqual(await t.farewell(), { words: [], code: 0 });
});
