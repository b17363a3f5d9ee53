// Micro-benchmarks of the codec's hot paths: encoding a message frame once per fan-out, cutting
// a batched read into payloads, and decoding a payload (strict UTF-8 + JSON).
//
// Run: deno bench -A tests/bench/codec_bench.ts

import { decodePayload, encodeFrame, FrameCutter } from "../../src/protocol/codec.ts";
import { FrameScanner } from "../../src/bench/scanner.ts";

const message = {
  type: "message",
  id: "01JD0000000000000000000000",
  from: "bench-s0_1234",
  text: "1795000000000.000 " + "x".repeat(82),
  time: 1795000000000,
};
const frame = encodeFrame(message);
const payload = frame.subarray(4);

/** 100 frames in one buffer: one batched write as a client reads it. */
const batch = new Uint8Array(frame.length * 100);
for (let i = 0; i < 100; i++) batch.set(frame, i * frame.length);

Deno.bench("encodeFrame: a 100-character message", { group: "encode" }, () => {
  encodeFrame(message);
});

Deno.bench("encodeFrame: a 4000-character message", { group: "encode" }, () => {
  encodeFrame({ ...message, text: "y".repeat(4000) });
});

const cutter = new FrameCutter();
Deno.bench("FrameCutter.push: 100 frames in one chunk", { group: "cut" }, () => {
  cutter.push(batch);
});

Deno.bench("FrameCutter.push: 100 frames in 1400-byte chunks", { group: "cut" }, () => {
  const fresh = new FrameCutter();
  for (let at = 0; at < batch.length; at += 1400) fresh.push(batch.subarray(at, at + 1400));
});

// what `chat bench` receivers do instead: count frames in place, no copy, no parse
const scanner = new FrameScanner();
Deno.bench("FrameScanner.push (chat bench): 100 frames in one chunk", { group: "cut" }, () => {
  scanner.push(batch, batch.length);
});

Deno.bench("decodePayload: one message", { group: "decode" }, () => {
  decodePayload(payload);
});
