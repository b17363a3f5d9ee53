/**
 * Length-prefixed frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
 *
 * The decoder refuses a frame from its length prefix alone, before buffering any of it, so a
 * hostile "4 GiB" prefix costs nothing. Frames are validated later (schema.ts); this layer only
 * cuts bytes into payloads and turns payloads into JSON values.
 *
 * @example
 * ```ts
 * const bytes = encodeFrame({ type: "ping" });
 * const frames = readable.pipeThrough(frameDecoder(MAX_FRAME_BYTES)).pipeThrough(jsonDecoder());
 * ```
 */

/** Largest frame payload we accept or send, in bytes. */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Size of the big-endian length prefix. */
export const HEADER_BYTES = 4;

/** Raised (as a stream error) when a length prefix announces more than the cap. */
export class FrameTooLargeError extends Error {
  constructor(readonly length: number, readonly max: number) {
    super(`frame of ${length} bytes is over the limit of ${max} bytes`);
    this.name = "FrameTooLargeError";
  }
}

const encoder = new TextEncoder();
/** Where frames are encoded before being copied out at their exact size (one allocation each). */
let scratch = new Uint8Array(HEADER_BYTES + 16 * 1024);

/** Encodes one value as a complete frame (prefix + JSON). Encode once, send to many. */
export function encodeFrame(value: unknown, max = MAX_FRAME_BYTES): Uint8Array {
  const json = JSON.stringify(value);
  // UTF-8 takes at most 3 bytes per UTF-16 unit; beyond what the cap allows, no room is made
  const room = Math.min(json.length * 3, max + 1);
  if (scratch.length < HEADER_BYTES + room) scratch = new Uint8Array(HEADER_BYTES + room);
  const { read, written } = encoder.encodeInto(
    json,
    scratch.subarray(HEADER_BYTES, HEADER_BYTES + room),
  );
  if (read < json.length || written > max) {
    throw new FrameTooLargeError(encoder.encode(json).length, max);
  }
  const frame = scratch.slice(0, HEADER_BYTES + written);
  frame[0] = written >>> 24;
  frame[1] = (written >>> 16) & 0xff;
  frame[2] = (written >>> 8) & 0xff;
  frame[3] = written & 0xff;
  return frame;
}

/**
 * Joins encoded frames into one buffer, for one write. `total` saves a pass when the caller
 * already counted the bytes.
 */
export function concatFrames(frames: readonly Uint8Array[], total?: number): Uint8Array {
  if (total === undefined) {
    total = 0;
    for (const frame of frames) total += frame.length;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const frame of frames) {
    out.set(frame, offset);
    offset += frame.length;
  }
  return out;
}

/**
 * Splits a byte stream into frame payloads. Chunks may hold part of a frame or many frames.
 * A prefix over `max` errors the stream with {@link FrameTooLargeError}: there is no way to
 * resynchronise after it, so the connection has to go.
 */
export function frameDecoder(max = MAX_FRAME_BYTES): TransformStream<Uint8Array, Uint8Array> {
  const cutter = new FrameCutter(max);
  return new TransformStream({
    transform(chunk, controller) {
      for (const payload of cutter.push(chunk)) controller.enqueue(payload);
    },
    flush(controller) {
      if (cutter.pending > 0) {
        controller.error(
          new Error(`connection closed inside a frame (${cutter.pending} bytes left over)`),
        );
      }
    },
  });
}

/** The incremental state machine behind {@link frameDecoder}, usable without streams. */
export class FrameCutter {
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;

  constructor(readonly max = MAX_FRAME_BYTES) {}

  /** Bytes held that do not yet make a whole frame. */
  get pending(): number {
    return this.#end - this.#start;
  }

  /** Feeds bytes; returns every payload completed by them. Throws FrameTooLargeError. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let input = chunk;
    if (this.pending > 0) {
      this.#append(chunk);
      input = this.#buf.subarray(this.#start, this.#end);
    }
    // find the whole frames first, then copy them out in one piece: the payloads are views of
    // that copy, so none of them pins a large shared read buffer, at one allocation per chunk
    const ends: number[] = [];
    let offset = 0;
    while (input.length - offset >= HEADER_BYTES) {
      const length = ((input[offset] << 24) | (input[offset + 1] << 16) |
        (input[offset + 2] << 8) | input[offset + 3]) >>> 0;
      if (length > this.max) throw new FrameTooLargeError(length, this.max);
      if (input.length - offset - HEADER_BYTES < length) break;
      offset += HEADER_BYTES + length;
      ends.push(offset);
    }
    if (ends.length > 0) {
      const whole = input.slice(0, offset);
      let at = 0;
      for (const end of ends) {
        out.push(whole.subarray(at + HEADER_BYTES, end));
        at = end;
      }
    }
    const rest = input.subarray(offset);
    if (this.pending > 0) {
      this.#start += offset;
      if (this.#start === this.#end) this.#start = this.#end = 0;
    } else if (rest.length > 0) {
      this.#append(rest);
    }
    return out;
  }

  #append(bytes: Uint8Array): void {
    const held = this.#end - this.#start;
    if (this.#buf.length - this.#end < bytes.length) {
      const next = new Uint8Array(Math.max(held + bytes.length, this.#buf.length * 2, 1024));
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = next;
      this.#start = 0;
      this.#end = held;
    }
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.length;
  }
}

/** One decoded payload: a JSON value, or the reason it is not one. The stream goes on either way. */
export type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes one payload: strict UTF-8, then JSON. */
export function decodePayload(payload: Uint8Array): Decoded {
  let text: string;
  try {
    text = strictUtf8.decode(payload);
  } catch {
    return { ok: false, reason: "frame is not valid UTF-8" };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: "frame is not valid JSON" };
  }
}

/** Payloads → {@link Decoded} values; bad payloads do not end the stream (the frame boundary is intact). */
export function jsonDecoder(): TransformStream<Uint8Array, Decoded> {
  return new TransformStream({
    transform(payload, controller) {
      controller.enqueue(decodePayload(payload));
    },
  });
}

/** Values → frames, for a sender that writes one value at a time (the client). */
export function frameEncoder(max = MAX_FRAME_BYTES): TransformStream<unknown, Uint8Array> {
  return new TransformStream({
    transform(value, controller) {
      controller.enqueue(encodeFrame(value, max));
    },
  });
}
