/**
 * The load generator's frame reader: walks a byte stream of length-prefixed frames and tells
 * them apart by the first letter of their `type`, without copying or parsing them. Only the
 * kinds a caller asks for are captured whole (a welcome, an error, the messages of a latency
 * probe); everything else is counted and skipped in place.
 *
 * It relies on frames starting with `{"type":"`, which is how the server and the forwarder
 * write them (JSON.stringify of an object whose first key is `type`); a frame that does not is
 * counted with kind 0.
 *
 * @example
 * ```ts
 * const scanner = new FrameScanner();
 * scanner.push(bytes, bytes.length);
 * console.log(scanner.delivered, scanner.acks);
 * ```
 */
import { HEADER_BYTES } from "../protocol/codec.ts";

const PREFIX = new TextEncoder().encode('{"type":"');
/** Payload bytes needed to know a frame's kind: the prefix and one letter. */
const HEAD = PREFIX.length + 1;

/** Kinds, as the char code of the type's first letter. */
export const Kind = {
  ack: 0x61, // a
  error: 0x65, // e
  goodbye: 0x67, // g
  hello: 0x68, // h
  message: 0x6d, // m
  ping: 0x70, // p (also pong and presence)
  send: 0x73, // s: the raw forwarder delivers the senders' own frames
  welcome: 0x77, // w
} as const;

/** The kind of a payload from its first bytes (0 when it does not start like our frames). */
export function kindAt(bytes: Uint8Array, at: number, length: number): number {
  if (length < HEAD) return 0;
  for (let i = 0; i < PREFIX.length; i++) if (bytes[at + i] !== PREFIX[i]) return 0;
  return bytes[at + PREFIX.length];
}

const HEADER = 0;
const HEADING = 1;
const BODY = 2;

export class FrameScanner {
  /** `message` frames (and the forwarder's `send` frames): what a receiver counts. */
  delivered = 0;
  acks = 0;
  frames = 0;
  /** Kinds to capture whole, indexed by kind; switch it any time (it applies to the next frame). */
  capture: Uint8Array;
  /** Called with each captured payload. */
  onFrame: (kind: number, payload: Uint8Array) => void;

  #phase: number = HEADER;
  #headerGot = 0;
  #length = 0;
  #head = new Uint8Array(HEAD);
  #headGot = 0;
  #headNeed = 0;
  #kind = 0;
  #remaining = 0;
  #payload: Uint8Array | null = null;
  #payloadGot = 0;

  constructor(
    capture: Uint8Array = captureOf([]),
    onFrame: (kind: number, payload: Uint8Array) => void = () => {},
  ) {
    this.capture = capture;
    this.onFrame = onFrame;
  }

  /** Whether a frame is partly read (a clean end of stream has none). */
  get inFrame(): boolean {
    return this.#phase !== HEADER || this.#headerGot > 0;
  }

  /** Feeds `buf[0, end)`. Never keeps a reference to `buf`. */
  push(buf: Uint8Array, end: number): void {
    let i = 0;
    while (i < end) {
      switch (this.#phase) {
        case HEADER: {
          if (this.#headerGot === 0) {
            i = this.#wholeFrames(buf, i, end);
            if (i === end) break;
          }
          if (this.#headerGot === 0 && end - i >= HEADER_BYTES) {
            this.#length =
              ((buf[i] << 24) | (buf[i + 1] << 16) | (buf[i + 2] << 8) | buf[i + 3]) >>>
              0;
            i += HEADER_BYTES;
          } else {
            this.#length = this.#length * 256 + buf[i++];
            if (++this.#headerGot < HEADER_BYTES) continue;
            this.#headerGot = 0;
          }
          this.#headNeed = Math.min(this.#length, HEAD);
          this.#headGot = 0;
          this.#phase = HEADING;
          if (this.#headNeed === 0) this.#classify(buf, i, true);
          break;
        }
        case HEADING: {
          if (this.#headGot === 0 && end - i >= this.#headNeed) {
            this.#classify(buf, i, false);
            i += this.#headNeed;
          } else {
            const take = Math.min(this.#headNeed - this.#headGot, end - i);
            this.#head.set(buf.subarray(i, i + take), this.#headGot);
            this.#headGot += take;
            i += take;
            if (this.#headGot < this.#headNeed) break;
            this.#classify(this.#head, 0, false);
          }
          if (this.#remaining === 0) this.#finish();
          break;
        }
        case BODY: {
          const take = Math.min(this.#remaining, end - i);
          if (this.#payload !== null) {
            this.#payload.set(buf.subarray(i, i + take), this.#payloadGot);
            this.#payloadGot += take;
          }
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) this.#finish();
          break;
        }
      }
    }
    // a zero-length frame can end exactly at the end of the buffer
    if (this.#phase === BODY && this.#remaining === 0) this.#finish();
  }

  /**
   * Counts the whole frames lying in `buf` from `i`, in place (the common case by far); stops at
   * a partial frame or one to capture, which the general path takes. Returns where it stopped.
   */
  #wholeFrames(buf: Uint8Array, i: number, end: number): number {
    const capture = this.capture;
    while (end - i >= HEADER_BYTES) {
      const length = ((buf[i] << 24) | (buf[i + 1] << 16) | (buf[i + 2] << 8) | buf[i + 3]) >>> 0;
      const at = i + HEADER_BYTES;
      if (end - at < length) break;
      const kind = kindAt(buf, at, length);
      if (capture[kind] === 1) break;
      this.frames++;
      if (kind === Kind.message || kind === Kind.send) this.delivered++;
      else if (kind === Kind.ack) this.acks++;
      i = at + length;
    }
    return i;
  }

  /** Knows the kind from the head bytes at `bytes[at]`; sets up skipping or capturing the rest. */
  #classify(bytes: Uint8Array, at: number, empty: boolean): void {
    this.#kind = empty ? 0 : kindAt(bytes, at, this.#headNeed);
    this.#remaining = this.#length - this.#headNeed;
    if (this.capture[this.#kind] === 1) {
      this.#payload = new Uint8Array(this.#length);
      this.#payload.set(bytes.subarray(at, at + this.#headNeed));
      this.#payloadGot = this.#headNeed;
    }
    this.#phase = BODY;
  }

  #finish(): void {
    const kind = this.#kind;
    this.frames++;
    if (kind === Kind.message || kind === Kind.send) this.delivered++;
    else if (kind === Kind.ack) this.acks++;
    this.#phase = HEADER;
    this.#length = 0;
    const payload = this.#payload;
    if (payload !== null) {
      this.#payload = null;
      this.onFrame(kind, payload);
    }
  }
}

/** A capture table for {@link FrameScanner.capture}: these kinds are handed over whole. */
export function captureOf(kinds: readonly number[]): Uint8Array {
  const table = new Uint8Array(256);
  for (const kind of kinds) table[kind] = 1;
  return table;
}
