// Hostile and broken input against the real server over TLS on 127.0.0.1: each test sends the
// bad thing, checks the clear error frame or the closed connection, and then checks that the
// server goes on serving everyone else (two fresh clients join and exchange messages).
//
// Run: deno test -A --parallel tests/e2e/

import assert from "node:assert/strict";
import { MAX_FRAME_BYTES } from "../../src/protocol/codec.ts";
import { MAX_RECIPIENTS, MAX_TEXT_LENGTH } from "../../src/protocol/schema.ts";
import { SWEEP_INTERVAL_MS } from "../../src/server/server.ts";
import {
  HANDSHAKE_TIMEOUT_MS,
  HELLO_TIMEOUT_MS,
  MAX_BAD_FRAMES,
} from "../../src/server/session.ts";
import * as h from "./harness.ts";
import type { RawClient } from "./harness.ts";

import { prefixOnly, rawFrame, utf8 } from "../fixtures.ts";

/** Sends a ping and expects the pong: the connection is still usable. */
async function assertUsable(raw: RawClient): Promise<void> {
  await raw.sendFrame({ type: "ping" });
  const pong = await raw.frameWhere((f) => f.type === "pong" || f.type === "goodbye");
  assert.equal(pong?.type, "pong", `expected a pong, got ${JSON.stringify(raw.received)}`);
}

/** The next error frame (skipping presence and messages). */
async function nextError(raw: RawClient) {
  const frame = await raw.frameWhere((f) => f.type === "error" || f.type === "goodbye");
  assert.equal(frame?.type, "error", `expected an error, got ${JSON.stringify(raw.received)}`);
  return frame;
}

Deno.test("plain TCP bytes instead of a TLS handshake: closed, and the server goes on", async () => {
  await using server = await h.startServer();

  await using http = await h.tcpClient(server.port);
  await http.write(utf8("GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
  assert.equal(await http.closed(5_000), true, "an HTTP request on the TLS port is cut");

  await using noise = await h.tcpClient(server.port);
  await noise.write(crypto.getRandomValues(new Uint8Array(4096)));
  assert.equal(await noise.closed(5_000), true, "random bytes are cut");

  // a TLS record header announcing a huge record, then silence
  await using record = await h.tcpClient(server.port);
  await record.write(new Uint8Array([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00]));
  await record.close();

  assert.equal(server.exited, false, server.output());
  await h.assertServerServes(server);
});

Deno.test("a TCP connection that never speaks is closed at --handshake-timeout", async () => {
  await using server = await h.startServer({ args: ["--handshake-timeout", "1.5"] });
  const opened = Date.now();
  await using silent = await h.tcpClient(server.port);
  const closed = await silent.closed(1_500 + SWEEP_INTERVAL_MS + 3_000);
  const elapsed = Date.now() - opened;
  assert.equal(closed, true, `the silent TCP connection was still open after ${elapsed} ms`);
  assert.ok(elapsed >= 1_000, `closed after ${elapsed} ms, well before the deadline`);
  await h.assertServerServes(server);
});

Deno.test("a TLS connection that never says hello gets a goodbye and a close at --hello-timeout", async () => {
  await using server = await h.startServer({ args: ["--hello-timeout", "1.5"] });
  const opened = Date.now();
  await using silent = await h.rawClient(server.port, server.caFile);
  const goodbye = await silent.frameWhere(
    (f) => f.type === "goodbye",
    1_500 + SWEEP_INTERVAL_MS + 3_000,
  );
  const elapsed = Date.now() - opened;
  assert.ok(goodbye, `no goodbye within ${elapsed} ms; got ${JSON.stringify(silent.received)}`);
  assert.equal(goodbye.reason, "timeout");
  assert.ok(elapsed >= 1_000, `goodbye after ${elapsed} ms, well before the deadline`);
  assert.equal(await silent.closed(3_000), true, "closed after the goodbye");
  await h.assertServerServes(server);
});

Deno.test("by default silent connections are cut at HANDSHAKE_TIMEOUT_MS / HELLO_TIMEOUT_MS and block nobody", async () => {
  // the real constants (10 s each): this test takes about that long, in parallel with others
  const limit = Math.max(HANDSHAKE_TIMEOUT_MS, HELLO_TIMEOUT_MS) + SWEEP_INTERVAL_MS + 3_000;
  assert.ok(limit <= 14_000, "the default deadlines grew: shorten this test");
  await using server = await h.startServer();
  const opened = Date.now();
  await using silentTcp = await h.tcpClient(server.port);
  await using silentTls = await h.rawClient(server.port, server.caFile);
  // neither holds up anybody: the accept loop and the hub do not wait for them
  await h.assertServerServes(server);
  assert.ok(Date.now() - opened < HANDSHAKE_TIMEOUT_MS - 1_000, "served before the deadlines");

  const left = () => Math.max(0, limit - (Date.now() - opened));
  const [tcpClosed, goodbye] = await Promise.all([
    silentTcp.closed(left()),
    silentTls.frameWhere((f) => f.type === "goodbye", left()),
  ]);
  const elapsed = Date.now() - opened;
  assert.equal(tcpClosed, true, `the silent TCP connection was still open after ${elapsed} ms`);
  assert.ok(goodbye, `no goodbye after ${elapsed} ms; got ${JSON.stringify(silentTls.received)}`);
  assert.equal(goodbye.reason, "timeout");
  assert.equal(await silentTls.closed(3_000), true, "closed after the goodbye");
  assert.ok(
    elapsed >= Math.min(HANDSHAKE_TIMEOUT_MS, HELLO_TIMEOUT_MS) - 500,
    `cut after ${elapsed} ms, before the default deadlines`,
  );
  await h.assertServerServes(server);
});

/** Sends a 4-byte length prefix of `length` (and nothing after it) on a fresh raw connection. */
async function sendPrefix(raw: RawClient, length: number): Promise<void> {
  await raw.sendBytes(prefixOnly(length));
}

Deno.test("a length prefix of 0xFFFFFFFF closes the connection at once; the server goes on", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");
  const { raw, id } = await h.rawJoinedSeen(server, observer, "huge");
  await using _raw = raw;

  // only the 4-byte prefix: the server must decide from it alone, without waiting for 4 GiB
  await sendPrefix(raw, 0xffffffff);
  assert.equal(await raw.closed(3_000), true, "closed without waiting for the payload");
  await observer.waitFor((e) => e.type === "presence" && e.left?.id === id);

  // one byte over the cap, before hello
  await using over = await h.rawClient(server.port, server.caFile);
  await sendPrefix(over, MAX_FRAME_BYTES + 1);
  assert.equal(await over.closed(3_000), true);

  // exactly the cap is fine: a ping padded with spaces to MAX_FRAME_BYTES
  await using exact = await h.rawClient(server.port, server.caFile);
  const ping = '{"type":"ping"}';
  await exact.sendBytes(rawFrame(utf8(ping + " ".repeat(MAX_FRAME_BYTES - ping.length))));
  assert.equal((await exact.nextFrame())?.type, "pong");

  await h.assertServerServes(server);
});

Deno.test("a length prefix over the cap is answered with a frame_too_large error before the close", async () => {
  await using server = await h.startServer();
  const { raw } = await h.rawJoined(server, "huge");
  await using _raw = raw;
  await sendPrefix(raw, 0xffffffff);
  await raw.closed(3_000);
  const errors = raw.received.filter((f) => f.type === "error");
  assert.equal(
    errors[0]?.code,
    "frame_too_large",
    `expected an error frame frame_too_large, got ${JSON.stringify(raw.received.slice(1))}`,
  );
  assert.ok(raw.received.some((f) => f.type === "goodbye"), "and a goodbye");

  await using early = await h.rawClient(server.port, server.caFile);
  await sendPrefix(early, MAX_FRAME_BYTES + 1);
  await early.closed(3_000);
  assert.equal(early.received[0]?.code, "frame_too_large", JSON.stringify(early.received));
});

Deno.test("invalid UTF-8, invalid JSON and wrong shapes get bad_frame; the connection stays usable", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");

  const { raw: first } = await h.rawJoined(server, "first");
  await using _first = first;
  await first.sendBytes(rawFrame(new Uint8Array([0x7b, 0xff, 0xfe, 0x80, 0x7d])));
  const e1 = await nextError(first);
  assert.equal(e1.code, "bad_frame");
  assert.match(e1.message, /UTF-8/);
  await assertUsable(first);

  await first.sendBytes(rawFrame(utf8('{"type":"send",')));
  const e2 = await nextError(first);
  assert.equal(e2.code, "bad_frame");
  assert.match(e2.message, /JSON/);
  await assertUsable(first);

  await first.sendFrame({ type: "send", ref: "no-text" });
  const e3 = await nextError(first);
  assert.equal(e3.code, "bad_frame");
  assert.match(e3.message, /text/);
  await first.sendFrame({ type: "send", ref: "ok1", text: "first is still usable" });
  await observer.waitFor(h.messageWith("first is still usable"));

  // a second connection for the other shapes (each connection tolerates MAX_BAD_FRAMES - 1)
  const { raw: second } = await h.rawJoined(server, "second");
  await using _second = second;
  for (const bad of [{ type: "nope" }, [1, 2, 3], 42]) {
    await second.sendFrame(bad);
    const e = await nextError(second);
    assert.equal(e.code, "bad_frame", `for ${JSON.stringify(bad)}`);
    await assertUsable(second);
  }
  await second.sendFrame({ type: "send", ref: "ok2", text: "second is still usable" });
  await observer.waitFor(h.messageWith("second is still usable"));

  assert.equal(server.exited, false);
  await h.assertServerServes(server);
});

Deno.test("MAX_BAD_FRAMES bad frames close the connection", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");
  const { raw, welcome } = await h.rawJoined(server, "noisy");
  await using _raw = raw;
  for (let i = 1; i < MAX_BAD_FRAMES; i++) {
    await raw.sendFrame({ type: "nope", i });
    assert.equal((await nextError(raw)).code, "bad_frame");
  }
  await assertUsable(raw);
  await raw.sendFrame({ type: "nope", i: MAX_BAD_FRAMES });
  const last = await raw.frameWhere((f) => f.type === "goodbye");
  assert.ok(last, `expected a goodbye, got ${JSON.stringify(raw.received)}`);
  assert.equal(await raw.closed(3_000), true);
  await observer.waitFor((e) => e.type === "presence" && e.left?.id === welcome.you.id);
  await h.assertServerServes(server);
});

Deno.test("send before hello gets not_ready; hello afterwards still works", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");
  await using raw = await h.rawClient(server.port, server.caFile);
  await raw.sendFrame({ type: "send", ref: "early", text: "too early" });
  const error = await nextError(raw);
  assert.equal(error.code, "not_ready");
  assert.equal(error.ref, "early");
  await raw.sendFrame({ type: "who", ref: "who1" });
  assert.equal((await nextError(raw)).code, "not_ready");

  await raw.sendFrame({ type: "hello", name: "late" });
  const welcome = await raw.frameWhere((f) => f.type === "welcome");
  assert.ok(welcome, JSON.stringify(raw.received));
  await raw.sendFrame({ type: "send", ref: "now", text: "now it counts" });
  await observer.waitFor(h.messageWith("now it counts"));
  assert.equal(observer.events.filter((e) => e.text === "too early").length, 0);

  // a second hello on the same connection is refused too
  await raw.sendFrame({ type: "hello", name: "again" });
  assert.equal((await nextError(raw)).code, "already_hello");
  await h.assertServerServes(server);
});

Deno.test("a text over MAX_TEXT_LENGTH is refused and not delivered; 3 KiB and the cap are fine", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");
  const { raw } = await h.rawJoined(server, "long");
  await using _raw = raw;

  await raw.sendFrame({ type: "send", ref: "over", text: "o".repeat(MAX_TEXT_LENGTH + 1) });
  const error = await nextError(raw);
  assert.equal(error.code, "bad_frame");

  const atCap = "c".repeat(MAX_TEXT_LENGTH);
  await raw.sendFrame({ type: "send", ref: "cap", text: atCap });
  const ack = await raw.frameWhere((f) => f.type === "ack" || f.type === "error");
  assert.equal(ack?.type, "ack", JSON.stringify(ack));
  await observer.waitFor(h.messageWith(atCap));
  assert.equal(
    observer.events.filter((e) => e.type === "message" && e.text.startsWith("oooo")).length,
    0,
  );

  // through the real client: 3 KiB (the original died over 2 KiB), multi-byte characters included
  await using writer = await h.joined(server, "writer");
  const big = ("3KiB ü€ " + "x".repeat(100) + "\t").repeat(40).slice(0, 3071) + "!";
  assert.equal(big.length, 3072);
  assert.ok(utf8(big).length > 3072);
  await writer.send(big);
  const got = await observer.waitFor(h.messageWith(big));
  assert.equal(got.from, writer.id);
  await h.assertServerServes(server);
});

Deno.test("the real client: an over-long text gets an error and the client still exits promptly", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");
  await using writer = await h.joined(server, "writer");
  await writer.send("z".repeat(MAX_TEXT_LENGTH + 1));
  const error = await writer.waitFor((e) => e.type === "error");
  assert.ok(["bad_frame", "too_long", "usage"].includes(error.code), JSON.stringify(error));
  await writer.send("after the long one");
  await observer.waitFor(h.messageWith("after the long one"));
  // at EOF the client waits for answers to what it sent; the refusal is an answer
  const started = Date.now();
  const result = await writer.end(8_000);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(Date.now() - started < 5_000, `the client took ${Date.now() - started} ms to exit`);
  assert.equal(
    observer.events.filter((e) => e.type === "message" && e.text.startsWith("zzzz")).length,
    0,
  );
});

Deno.test("too many recipients are refused and nothing is delivered", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");
  const { raw } = await h.rawJoined(server, "spammer");
  await using _raw = raw;

  const tooMany = Array.from({ length: MAX_RECIPIENTS + 1 }, () => observer.id);
  await raw.sendFrame({ type: "send", ref: "many", to: tooMany, text: "to 33" });
  const error = await nextError(raw);
  assert.equal(error.code, "bad_frame", JSON.stringify(error));

  const distinct = Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => `someone${i}_1234`);
  await raw.sendFrame({ type: "send", ref: "many2", to: distinct, text: "to 33 distinct" });
  const error2 = await nextError(raw);
  assert.equal(error2.code, "bad_frame", JSON.stringify(error2));

  // the cap itself is allowed (duplicates collapse to one recipient)
  const atCap = Array.from({ length: MAX_RECIPIENTS }, () => observer.id);
  await raw.sendFrame({ type: "send", ref: "cap", to: atCap, text: "to 32" });
  const dm = await observer.waitFor(h.messageWith("to 32"));
  assert.deepEqual(dm.to, [observer.id]);
  assert.equal(
    observer.events.filter((e) => e.type === "message" && e.text.startsWith("to 33")).length,
    0,
  );
  await h.assertServerServes(server);
});

Deno.test("a connection that hangs up inside a frame leaves presence; the server goes on", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");
  const { raw, welcome } = await h.rawJoined(server, "cutoff");
  const frame = rawFrame(utf8(JSON.stringify({ type: "send", ref: "half", text: "half a frame" })));
  await raw.sendBytes(frame.subarray(0, frame.length - 5));
  await raw.close();
  await observer.waitFor((e) => e.type === "presence" && e.left?.id === welcome.you.id, 5_000);
  assert.equal(observer.events.filter((e) => e.text === "half a frame").length, 0);
  await h.assertServerServes(server);
});

Deno.test("the real client: 33 recipients get an error and the client still exits promptly", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");
  await using writer = await h.joined(server, "writer");
  const at = Array.from({ length: MAX_RECIPIENTS + 1 }, () => `@${observer.id}`).join(" ");
  await writer.send(`${at} to 33 via the client`);
  const error = await writer.waitFor((e) => e.type === "error");
  assert.ok(
    ["bad_frame", "too_many_recipients", "usage"].includes(error.code),
    JSON.stringify(error),
  );
  await writer.send("after the 33");
  await observer.waitFor(h.messageWith("after the 33"));
  assert.equal(observer.events.filter((e) => e.text === "to 33 via the client").length, 0);
  const started = Date.now();
  const result = await writer.end(8_000);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(Date.now() - started < 5_000, `the client took ${Date.now() - started} ms to exit`);
});
