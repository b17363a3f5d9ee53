/**
 * The outbox end to end (src/client/outbox.ts): a message kept on disk that the server had in
 * fact stored already (its ack lost when the client went) goes out again on the next join with
 * the same ref and `retry: true`, is acknowledged with the first id, and is stored once.
 *
 * Run: deno test -A tests/e2e/outbox_test.ts
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadOutbox, OUTBOX_FILE_NAME } from "../../src/client/outbox.ts";
import * as h from "./harness.ts";

Deno.test("outbox: a kept message the server had stored already is acknowledged, not stored twice", async () => {
  await using server = await h.startServer();
  await using state = await h.tempDir("chat-outbox-e2e-");
  // alice joins once: her id and token are saved in the state dir
  const first = await h.joinClient(server, "alice", { stateDir: state.path });
  const me = await first.me();
  assert.equal((await first.end()).code, 0);
  const dir = join(state.path, "chat");
  const tokens = JSON.parse(await Deno.readTextFile(join(dir, "tokens.json")));
  const [serverKey] = Object.keys(tokens);
  // the same id sends with ref kept-1; the server stores it and acknowledges it...
  const { raw, welcome } = await h.rawJoined(server, "alice", tokens[serverKey].alice.token);
  assert.equal(welcome.you.id, me.id);
  await raw.sendFrame({ type: "send", ref: "kept-1", text: "stored once" });
  const ack = await raw.frameWhere((f) => f.type === "ack" && f.ref === "kept-1");
  assert.ok(ack, JSON.stringify(raw.received));
  await raw.close();
  // ...but the client had gone before the ack: the message is still in its outbox
  const kept = { type: "send", ref: "kept-1", text: "stored once" };
  await Deno.writeTextFile(
    join(dir, OUTBOX_FILE_NAME),
    JSON.stringify({ [serverKey]: { [me.id]: [kept] } }),
    { mode: 0o600 },
  );

  await using bob = await h.joinClient(server, "bob");
  await bob.me();
  await using again = await h.joinClient(server, "alice", { stateDir: state.path });
  assert.equal((await again.me()).id, me.id);
  await again.waitFor((e) => e.type === "notice" && /sending 1 message/.test(e.message));
  const acked = await again.waitFor((e) => e.type === "ack");
  assert.equal(acked.id, ack.id, "acknowledged with the first id: not stored again");
  await h.waitUntil(
    async () => (await loadOutbox(dir, serverKey, me.id)).length === 0,
    5_000,
    "the outbox emptied once answered",
  );
  // stored once: a newcomer's history has it once, and bob was not sent it again
  await using carol = await h.joinClient(server, "carol");
  await carol.waitFor(h.messageWith("stored once"));
  await h.delay(500);
  const count = (events: { type: string; text?: string }[]) =>
    events.filter((e) => e.type === "message" && e.text === "stored once").length;
  assert.equal(count(carol.events), 1);
  assert.equal(count(bob.events.filter((e) => !e.replay)), 0);
});
