// Unit tests for src/bench/scanner.ts: the load generator's allocation-free frame counter.
//
// Run: deno test -A tests/bench/scanner_test.ts

import assert from "node:assert/strict";
import { fc } from "../deps.ts";
import { concatFrames, encodeFrame, HEADER_BYTES } from "../../src/protocol/codec.ts";
import { captureOf, FrameScanner, Kind, kindAt } from "../../src/bench/scanner.ts";
import { rawFrame } from "../fixtures.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("kindAt reads the first letter of the type, 0 for anything else", () => {
  const kind = (value: unknown) => {
    const payload = encodeFrame(value).subarray(HEADER_BYTES);
    return kindAt(payload, 0, payload.length);
  };
  assert.equal(kind({ type: "message", text: "hi" }), Kind.message);
  assert.equal(kind({ type: "ack", ref: "1" }), Kind.ack);
  assert.equal(kind({ type: "send" }), Kind.send);
  assert.equal(kind({ type: "welcome" }), Kind.welcome);
  assert.equal(kind({ text: "hi", type: "message" }), 0);
  assert.equal(kindAt(enc.encode('{"type":"'), 0, 9), 0);
});

Deno.test("the scanner counts messages and acks, and captures only what it is asked to", () => {
  const captured: string[] = [];
  const scanner = new FrameScanner(captureOf([Kind.welcome]), (kind, payload) => {
    assert.equal(kind, Kind.welcome);
    captured.push(dec.decode(payload));
  });
  const bytes = concatFrames([
    encodeFrame({ type: "welcome", you: { id: "a_0001" } }),
    encodeFrame({ type: "message", text: "one" }),
    encodeFrame({ type: "presence", online: 2 }),
    encodeFrame({ type: "ack", ref: "1" }),
    rawFrame(new Uint8Array(0)),
    rawFrame(enc.encode("[]")),
    encodeFrame({ type: "send", text: "two" }),
  ]);
  scanner.push(bytes, bytes.length);
  assert.equal(scanner.frames, 7);
  assert.equal(scanner.delivered, 2);
  assert.equal(scanner.acks, 1);
  assert.deepEqual(captured, ['{"type":"welcome","you":{"id":"a_0001"}}']);
  assert.equal(scanner.inFrame, false);
});

Deno.test("the scanner reads only up to the end it is given", () => {
  const scanner = new FrameScanner();
  const frame = encodeFrame({ type: "message", text: "x" });
  const buf = new Uint8Array(1024);
  buf.set(frame);
  buf.set(frame, frame.length); // stale bytes past the end must not count
  scanner.push(buf, frame.length);
  assert.equal(scanner.delivered, 1);
  assert.equal(scanner.inFrame, false);
});

Deno.test("however the stream is cut, the counts and captured payloads are the same", () => {
  const frameArb = fc.oneof(
    fc.record({ type: fc.constantFrom("message", "ack", "presence", "welcome", "send", "pong") })
      .chain((head) => fc.string({ maxLength: 300 }).map((text) => encodeFrame({ ...head, text }))),
    fc.uint8Array({ maxLength: 40 }).map(rawFrame),
  );
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 30 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
      (frames, cuts) => {
        const bytes = concatFrames(frames);
        // what each frame is, judged one whole frame at a time
        let delivered = 0;
        let acks = 0;
        const whole: string[] = [];
        for (const frame of frames) {
          const payload = frame.subarray(HEADER_BYTES);
          const kind = kindAt(payload, 0, payload.length);
          if (kind === Kind.message || kind === Kind.send) delivered++;
          if (kind === Kind.ack) acks++;
          if (kind === Kind.message || kind === Kind.welcome) {
            whole.push(`${kind}:${dec.decode(payload)}`);
          }
        }

        const pieces: string[] = [];
        const scanner = new FrameScanner(
          captureOf([Kind.message, Kind.welcome]),
          (kind, p) => pieces.push(`${kind}:${dec.decode(p)}`),
        );
        // feed through a reused buffer, as a read loop does
        const buf = new Uint8Array(64);
        let at = 0;
        for (let i = 0; at < bytes.length; i++) {
          const n = Math.min(cuts[i % cuts.length], bytes.length - at);
          buf.set(bytes.subarray(at, at + n));
          buf.fill(0x7b, n); // garbage past the end
          scanner.push(buf, n);
          at += n;
        }
        assert.equal(scanner.frames, frames.length);
        assert.equal(scanner.delivered, delivered);
        assert.equal(scanner.acks, acks);
        assert.deepEqual(pieces, whole);
        assert.equal(scanner.inFrame, false);
      },
    ),
    { numRuns: 300 },
  );
});
