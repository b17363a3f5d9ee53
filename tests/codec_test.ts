// Unit tests for src/protocol/codec.ts: framing (u32 big-endian length + UTF-8 JSON).
//
// Run: deno test -A tests/codec_test.ts

import assert from "node:assert/strict";
import {
  concatFrames,
  type Decoded,
  decodePayload,
  encodeFrame,
  FrameCutter,
  frameDecoder,
  frameEncoder,
  FrameTooLargeError,
  HEADER_BYTES,
  jsonDecoder,
  MAX_FRAME_BYTES,
} from "../src/protocol/codec.ts";
import { prefixOnly, rawFrame } from "./fixtures.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const concat = (...parts: Uint8Array[]) => concatFrames(parts);

/** A readable stream of these chunks. */
function chunks(list: Uint8Array[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(list);
}

/** Pipes chunks through frameDecoder + jsonDecoder and collects everything. */
async function decodeAll(list: Uint8Array[], max = MAX_FRAME_BYTES): Promise<Decoded[]> {
  return await Array.fromAsync(
    chunks(list).pipeThrough(frameDecoder(max)).pipeThrough(jsonDecoder()),
  );
}

// ---- encodeFrame ------------------------------------------------------------------------------

Deno.test("encodeFrame: 4-byte big-endian length then UTF-8 JSON", () => {
  const value = { type: "message", text: "héllo ✓ 🎉" };
  const frame = encodeFrame(value);
  const json = enc.encode(JSON.stringify(value));
  assert.equal(frame.length, HEADER_BYTES + json.length);
  assert.equal(new DataView(frame.buffer).getUint32(0, false), json.length);
  assert.deepEqual(frame.subarray(HEADER_BYTES), json);
  assert.deepEqual(JSON.parse(dec.decode(frame.subarray(HEADER_BYTES))), value);
});

Deno.test("encodeFrame: big-endian byte order of the prefix", () => {
  const text = "x".repeat(300 - 2); // JSON string "xxx…" is 300 bytes: 0x0000012c
  const frame = encodeFrame(text);
  assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 1, 0x2c]);
});

Deno.test("encodeFrame: refuses a value whose JSON is over the cap", () => {
  assert.throws(() => encodeFrame("a".repeat(100), 50), FrameTooLargeError);
  // exactly at the cap is fine: a JSON string of n chars is n + 2 bytes
  assert.equal(encodeFrame("a".repeat(48), 50).length, HEADER_BYTES + 50);
  assert.throws(() => encodeFrame("a".repeat(49), 50), (e: unknown) => {
    assert.ok(e instanceof FrameTooLargeError);
    assert.equal(e.length, 51);
    assert.equal(e.max, 50);
    return true;
  });
});

Deno.test("encodeFrame: the cap counts UTF-8 bytes, not characters", () => {
  // "é" is 2 bytes and "🎉" 4 (two UTF-16 units): the JSON strings are 2n + 2 and 4n + 2 bytes
  assert.equal(encodeFrame("é".repeat(24), 50).length, HEADER_BYTES + 50);
  assert.throws(() => encodeFrame("é".repeat(25), 50), (e: unknown) => {
    assert.ok(e instanceof FrameTooLargeError);
    assert.equal(e.length, 52);
    return true;
  });
  assert.equal(encodeFrame("🎉".repeat(12), 50).length, HEADER_BYTES + 50);
  assert.throws(() => encodeFrame("🎉".repeat(13), 50), FrameTooLargeError);
  // a 3-byte character over the default cap, by far
  assert.throws(() => encodeFrame("✓".repeat(30_000)), FrameTooLargeError);
});

Deno.test("encodeFrame: each frame is its own buffer, whatever is encoded after it", () => {
  const big = encodeFrame({ text: "b".repeat(20_000) });
  const small = encodeFrame({ text: "s" });
  const again = encodeFrame({ text: "t".repeat(20_000) });
  assert.deepEqual(JSON.parse(dec.decode(big.subarray(HEADER_BYTES))), {
    text: "b".repeat(20_000),
  });
  assert.deepEqual(JSON.parse(dec.decode(small.subarray(HEADER_BYTES))), { text: "s" });
  assert.equal(again.length, big.length);
  assert.notEqual(big.buffer, again.buffer);
});

// ---- FrameCutter ------------------------------------------------------------------------------

Deno.test("FrameCutter: one frame split byte by byte across many chunks", () => {
  const value = { type: "send", ref: "r1", text: "split me ✂ into pieces" };
  const frame = encodeFrame(value);
  const cutter = new FrameCutter();
  const out: Uint8Array[] = [];
  for (let i = 0; i < frame.length; i++) {
    const got = cutter.push(frame.subarray(i, i + 1));
    if (i < frame.length - 1) {
      assert.equal(got.length, 0, `no frame before the last byte (byte ${i})`);
      assert.equal(cutter.pending, i + 1);
    }
    out.push(...got);
  }
  assert.equal(out.length, 1);
  assert.deepEqual(JSON.parse(dec.decode(out[0])), value);
  assert.equal(cutter.pending, 0);
});

Deno.test("FrameCutter: many frames in one chunk", () => {
  const values = Array.from({ length: 100 }, (_, i) => ({ type: "ping", n: i }));
  const cutter = new FrameCutter();
  const out = cutter.push(concat(...values.map((v) => encodeFrame(v))));
  assert.equal(out.length, 100);
  assert.deepEqual(out.map((p) => JSON.parse(dec.decode(p))), values);
  assert.equal(cutter.pending, 0);
});

Deno.test("FrameCutter: a chunk ending mid-header, then the rest", () => {
  const a = encodeFrame({ type: "a" });
  const b = encodeFrame({ type: "b", text: "second" });
  const all = concat(a, b);
  const cut = a.length + 2; // two bytes into b's header
  const cutter = new FrameCutter();
  const first = cutter.push(all.subarray(0, cut));
  assert.equal(first.length, 1);
  assert.deepEqual(JSON.parse(dec.decode(first[0])), { type: "a" });
  assert.equal(cutter.pending, 2);
  const second = cutter.push(all.subarray(cut));
  assert.equal(second.length, 1);
  assert.deepEqual(JSON.parse(dec.decode(second[0])), { type: "b", text: "second" });
  assert.equal(cutter.pending, 0);
});

Deno.test("FrameCutter: frames spread over chunks of every size give the same payloads", () => {
  const values = Array.from({ length: 20 }, (_, i) => ({ i, text: "z".repeat(i * 37) }));
  const stream = concat(...values.map((v) => encodeFrame(v)));
  for (const size of [1, 2, 3, 4, 5, 7, 13, 64, 1000, stream.length]) {
    const cutter = new FrameCutter();
    const out: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += size) {
      out.push(...cutter.push(stream.subarray(at, at + size)));
    }
    assert.deepEqual(out.map((p) => JSON.parse(dec.decode(p))), values, `chunk size ${size}`);
    assert.equal(cutter.pending, 0, `chunk size ${size}`);
  }
});

Deno.test("FrameCutter: payloads are copies, not views of the caller's buffer", () => {
  const frame = encodeFrame({ type: "x" });
  const cutter = new FrameCutter();
  const [payload] = cutter.push(frame);
  frame.fill(0);
  assert.deepEqual(JSON.parse(dec.decode(payload)), { type: "x" });
});

Deno.test("FrameCutter: payloads survive the reuse of the read buffer and of held bytes", () => {
  const values = Array.from(
    { length: 9 },
    (_, i) => ({ type: "send", i, text: "p".repeat(i * 50) }),
  );
  const stream = concat(...values.map((v) => encodeFrame(v)));
  const cutter = new FrameCutter();
  const read = new Uint8Array(333); // one read buffer, refilled like a socket's
  const out: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += read.length) {
    const n = Math.min(read.length, stream.length - at);
    read.set(stream.subarray(at, at + n));
    out.push(...cutter.push(read.subarray(0, n)));
    read.fill(0xff); // the next read overwrites it
  }
  assert.deepEqual(out.map((p) => JSON.parse(dec.decode(p))), values);
  assert.equal(cutter.pending, 0);
});

Deno.test("FrameCutter: zero-length payload is a frame of zero bytes", () => {
  const cutter = new FrameCutter();
  const out = cutter.push(concat(prefixOnly(0), encodeFrame({ type: "ping" })));
  assert.equal(out.length, 2);
  assert.equal(out[0].length, 0);
  assert.deepEqual(JSON.parse(dec.decode(out[1])), { type: "ping" });
});

Deno.test("FrameCutter: a payload of exactly the cap is accepted", () => {
  const payload = new Uint8Array(MAX_FRAME_BYTES).fill(0x61);
  const cutter = new FrameCutter();
  const out = cutter.push(rawFrame(payload));
  assert.equal(out.length, 1);
  assert.equal(out[0].length, MAX_FRAME_BYTES);
});

Deno.test("FrameCutter: an exact-cap payload fed in 1000-byte chunks after a small frame", () => {
  const payload = new Uint8Array(MAX_FRAME_BYTES);
  for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
  const stream = concat(encodeFrame({ type: "ping" }), rawFrame(payload), encodeFrame("tail"));
  const cutter = new FrameCutter();
  const out: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += 1000) {
    out.push(...cutter.push(stream.subarray(at, at + 1000)));
  }
  assert.equal(out.length, 3);
  assert.deepEqual(out[1], payload);
  assert.equal(dec.decode(out[2]), '"tail"');
  assert.equal(cutter.pending, 0);
});

Deno.test("FrameCutter: exact cap with a small custom max, split across chunks", () => {
  const cutter = new FrameCutter(10);
  const frame = rawFrame(enc.encode("0123456789"));
  assert.deepEqual(cutter.push(frame.subarray(0, 6)), []);
  const out = cutter.push(frame.subarray(6));
  assert.equal(out.length, 1);
  assert.equal(dec.decode(out[0]), "0123456789");
});

Deno.test("FrameCutter: cap + 1 is refused from the header alone", () => {
  const cutter = new FrameCutter();
  assert.throws(() => cutter.push(prefixOnly(MAX_FRAME_BYTES + 1)), (e: unknown) => {
    assert.ok(e instanceof FrameTooLargeError);
    assert.equal(e.length, MAX_FRAME_BYTES + 1);
    assert.equal(e.max, MAX_FRAME_BYTES);
    return true;
  });
});

Deno.test("FrameCutter: a 4 GiB prefix is refused from its 4 header bytes", () => {
  const cutter = new FrameCutter();
  assert.throws(() => cutter.push(new Uint8Array([0xff, 0xff, 0xff, 0xff])), (e: unknown) => {
    assert.ok(e instanceof FrameTooLargeError);
    assert.equal(e.length, 0xffffffff);
    return true;
  });
});

Deno.test("FrameCutter: an over-cap header split across chunks is refused when complete", () => {
  const cutter = new FrameCutter();
  assert.deepEqual(cutter.push(new Uint8Array([0xff, 0xff])), []);
  assert.deepEqual(cutter.push(new Uint8Array([0xff])), []);
  assert.throws(() => cutter.push(new Uint8Array([0xff])), FrameTooLargeError);
});

Deno.test("FrameCutter: an over-cap header after a held partial frame is refused", () => {
  const cutter = new FrameCutter(100);
  const good = encodeFrame({ type: "ok" });
  assert.deepEqual(cutter.push(good.subarray(0, 3)), []);
  // finishes the good frame and starts a 4 GiB one in the same chunk
  assert.throws(
    () => cutter.push(concat(good.subarray(3), new Uint8Array([0xff, 0xff, 0xff, 0xff]))),
    FrameTooLargeError,
  );
});

// ---- streams ----------------------------------------------------------------------------------

Deno.test("frameDecoder + jsonDecoder: byte-by-byte chunks decode to the values", async () => {
  const values = [{ type: "hello", name: "tom" }, { type: "ping" }, { type: "bye" }];
  const bytes = concat(...values.map((v) => encodeFrame(v)));
  const list = [...bytes].map((b) => new Uint8Array([b]));
  const out = await decodeAll(list);
  assert.deepEqual(out, values.map((value) => ({ ok: true, value })));
});

Deno.test("frameDecoder + jsonDecoder: many frames in one chunk", async () => {
  const values = Array.from({ length: 50 }, (_, i) => ({ type: "send", ref: `r${i}`, text: "x" }));
  const out = await decodeAll([concat(...values.map((v) => encodeFrame(v)))]);
  assert.deepEqual(out, values.map((value) => ({ ok: true, value })));
});

Deno.test("frameDecoder: a 4 GiB prefix errors the stream without waiting for a body", async () => {
  // The readable never closes after the header: if the decoder waited for the body, this hangs.
  let source!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      source = c;
    },
  });
  const reader = readable.pipeThrough(frameDecoder()).getReader();
  source.enqueue(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  await assert.rejects(reader.read(), FrameTooLargeError);
});

Deno.test("frameDecoder: cap + 1 errors the stream; exact cap passes", async () => {
  const max = 16;
  const exact = rawFrame(enc.encode(JSON.stringify("a".repeat(max - 2))));
  const out = await decodeAll([exact], max);
  assert.deepEqual(out, [{ ok: true, value: "a".repeat(max - 2) }]);
  await assert.rejects(decodeAll([prefixOnly(max + 1)], max), FrameTooLargeError);
});

Deno.test("jsonDecoder: invalid UTF-8 is {ok:false} and the next frame still decodes", async () => {
  const bad = rawFrame(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])); // "{", invalid, invalid, "}"
  const overlong = rawFrame(new Uint8Array([0x22, 0xc0, 0xaf, 0x22])); // overlong "/" in a string
  const lone = rawFrame(new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22])); // UTF-8 encoded surrogate
  const good = encodeFrame({ type: "ping" });
  const out = await decodeAll([concat(bad, overlong, lone, good)]);
  assert.equal(out.length, 4);
  for (const d of out.slice(0, 3)) {
    assert.equal(d.ok, false);
    if (!d.ok) assert.match(d.reason, /UTF-8/);
  }
  assert.deepEqual(out[3], { ok: true, value: { type: "ping" } });
});

Deno.test("jsonDecoder: invalid JSON is {ok:false} and the stream goes on", async () => {
  const out = await decodeAll([
    rawFrame(enc.encode("{not json")),
    rawFrame(new Uint8Array(0)),
    encodeFrame({ type: "bye" }),
  ]);
  assert.equal(out.length, 3);
  assert.equal(out[0].ok, false);
  if (!out[0].ok) assert.match(out[0].reason, /JSON/);
  assert.equal(out[1].ok, false, "an empty payload is not JSON");
  assert.deepEqual(out[2], { ok: true, value: { type: "bye" } });
});

Deno.test("decodePayload: multi-byte UTF-8 decodes", () => {
  const d = decodePayload(enc.encode(JSON.stringify({ text: "日本語 🎉" })));
  assert.deepEqual(d, { ok: true, value: { text: "日本語 🎉" } });
});

Deno.test("frameDecoder: a stream that ends inside a frame errors", async () => {
  const frame = encodeFrame({ type: "hello", name: "tom" });
  await assert.rejects(decodeAll([frame.subarray(0, frame.length - 1)]), /inside a frame/);
});

Deno.test("frameDecoder: a stream that ends inside a header errors", async () => {
  const frame = encodeFrame({ type: "ping" });
  await assert.rejects(decodeAll([concat(frame, frame.subarray(0, 2))]), /inside a frame/);
});

Deno.test("frameDecoder: a stream that ends on a frame boundary closes cleanly", async () => {
  const out = await decodeAll([encodeFrame({ type: "ping" })]);
  assert.deepEqual(out, [{ ok: true, value: { type: "ping" } }]);
  assert.deepEqual(await decodeAll([]), []);
});

Deno.test("frameEncoder: values through frameEncoder and back through the decoders", async () => {
  const values = [{ type: "ping" }, { type: "send", ref: "1", text: "é" }];
  const out = await Array.fromAsync(
    ReadableStream.from(values)
      .pipeThrough(frameEncoder())
      .pipeThrough(frameDecoder())
      .pipeThrough(jsonDecoder()),
  );
  assert.deepEqual(out, values.map((value) => ({ ok: true, value })));
});

Deno.test("concatFrames: one buffer that cuts back into the same frames", () => {
  const frames = [{ type: "ping" }, { type: "pong" }, { type: "bye" }].map((f) => encodeFrame(f));
  const joined = concatFrames(frames);
  assert.equal(joined.length, frames.reduce((n, f) => n + f.length, 0));
  assert.deepEqual(concatFrames(frames, joined.length), joined);
  const payloads = new FrameCutter().push(joined).map((p) =>
    JSON.parse(new TextDecoder().decode(p))
  );
  assert.deepEqual(payloads, [{ type: "ping" }, { type: "pong" }, { type: "bye" }]);
  assert.equal(concatFrames([]).length, 0);
});
