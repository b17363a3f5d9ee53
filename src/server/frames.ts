/** Stored data as server frames, and lists cut to fit one frame by construction. */
import { encodeFrame, MAX_FRAME_BYTES } from "../protocol/codec.ts";
import { ErrorCode, type Message, type ServerFrame } from "../protocol/schema.ts";
import type { Peer } from "./peer.ts";
import type { StoreHealth } from "./store/health.ts";
import type { StoredMessage } from "./store/store.ts";

/** Room kept in a list frame for its other fields (type, ref up to 64 characters, counts). */
const LIST_FRAME_OVERHEAD = 512;

/** A stored message as the `message` frame clients receive. */
export function toFrame(m: StoredMessage, replay = false): Message {
  const frame: Message = { type: "message", id: m.id, from: m.from, text: m.text, time: m.time };
  if (m.to) frame.to = m.to;
  else if (m.room) frame.room = m.room;
  if (m.replyTo) frame.replyTo = m.replyTo;
  if (m.quote) frame.quote = m.quote;
  if (m.expiresAt) frame.expiresAt = m.expiresAt;
  if (m.action) frame.action = true;
  if (replay) frame.replay = true;
  return frame;
}

/**
 * As many of `items` (in order) as fit, JSON-encoded, in one list frame under the frame cap: the
 * cap is a property of what is built, never an error found when encoding it.
 */
export function fitInFrame<T>(items: readonly T[]): T[] {
  const out: T[] = [];
  let bytes = LIST_FRAME_OVERHEAD;
  for (const item of items) {
    const size = utf8Length(JSON.stringify(item)) + 1; // and its comma
    if (bytes + size > MAX_FRAME_BYTES) break;
    bytes += size;
    out.push(item);
  }
  return out;
}

/** Stored messages as replayed `message` frames, as many as fit in one list frame. */
export function messagesInFrame(messages: readonly StoredMessage[]): Message[] {
  return fitInFrame(messages.map((m) => toFrame(m, true)));
}

/** The UTF-8 length of a string, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      bytes += 4; // a surrogate pair: one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Encodes one frame for one peer. */
export function reply(peer: Peer, frame: ServerFrame): void {
  peer.send(encodeFrame(frame));
}

/**
 * Runs a store write for a request; false (and the peer told that nothing changed) when the
 * store failed, which `health` hears of either way.
 */
export function writeOrRefuse(
  health: StoreHealth,
  peer: Peer,
  ref: string,
  what: string,
  write: () => void,
): boolean {
  try {
    write();
    health.ok();
    return true;
  } catch (error) {
    health.failed(`trying to ${what}`, error);
    reply(peer, {
      type: "error",
      ref,
      code: ErrorCode.unavailable,
      message: `the server could not ${what} (it cannot write to its database); nothing changed`,
    });
    return false;
  }
}
