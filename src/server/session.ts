/**
 * One client connection after its TLS handshake: the read loop (bytes → frames → schema → hub)
 * and a write queue that coalesces everything queued in one turn of the event loop into one
 * write, and keeps coalescing while the socket drains. Deadlines (hello, idle, drain) are checked
 * by the server's single sweeper, not by a timer per connection.
 */
import type { TLSSocket } from "node:tls";
import {
  concatFrames,
  decodePayload,
  encodeFrame,
  FrameCutter,
  FrameTooLargeError,
  MAX_FRAME_BYTES,
} from "../protocol/codec.ts";
import {
  ClientFrame,
  describeIssue,
  ErrorCode,
  MAX_REF_LENGTH,
  type ServerFrame,
  type User,
} from "../protocol/schema.ts";
import { type Hub, MAX_PASSWORD_DELAY_MS, type Peer } from "./hub.ts";

/** Time allowed for the TLS handshake. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Time allowed between the handshake and a successful `hello`. */
export const HELLO_TIMEOUT_MS = 10_000;
/** Bytes a connection may have waiting to be written before it is cut as a slow reader. */
export const MAX_QUEUE_BYTES = 8 * 1024 * 1024;
/** Malformed frames tolerated on one connection before it is closed. */
export const MAX_BAD_FRAMES = 5;
/** Time a closing connection gets to drain its goodbye before it is cut. */
export const CLOSE_DRAIN_MS = 5_000;
/** How much of a backlog is queued at a time: the next piece goes when the socket has drained. */
export const REPLAY_CHUNK_BYTES = 256 * 1024;

export interface SessionLimits {
  handshakeTimeoutMs: number;
  helloTimeoutMs: number;
  idleTimeoutMs: number;
  maxQueueBytes: number;
  maxBadFrames: number;
}

type Phase = "hello" | "ready" | "closing" | "closed";

export class Session implements Peer {
  user?: User;
  strikes?: number;
  refused?: boolean;
  readonly address?: string;
  readonly remote: string;
  #phase: Phase = "hello";
  /** When the current phase's deadline passes: hello, idleness or drain. */
  #deadline: number;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #flushScheduled = false;
  /** A backlog being sent as the socket drains, and the live frames held until it is done. */
  #replay?: { frames: readonly ServerFrame[]; at: number };
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #badFrames = 0;
  readonly #cutter = new FrameCutter(MAX_FRAME_BYTES);
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(
    readonly socket: TLSSocket,
    readonly hub: Hub,
    readonly limits: SessionLimits,
    readonly now: () => number,
  ) {
    this.address = socket.remoteAddress;
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#deadline = now() + limits.helloTimeoutMs;
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    // the peer went away (cleanly or not): leave presence now, without waiting for anything
    socket.on("close", () => this.#abort());
    socket.on("end", () => this.#abort());
    socket.on("error", () => this.#abort());
    socket.on("drain", () => this.#replay ? this.#pumpReplay() : this.#flush());
  }

  /** Resolves when the connection is gone. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  get #open(): boolean {
    return this.#phase === "hello" || this.#phase === "ready";
  }

  #onData(chunk: Uint8Array): void {
    if (!this.#open) return;
    let payloads: Uint8Array[];
    try {
      payloads = this.#cutter.push(chunk);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      // after a bad length there is no next frame to find: say why, then go
      this.socket.pause();
      return this.close(
        "frame_too_large",
        `${error.message}; closing the connection`,
        ErrorCode.frameTooLarge,
      );
    }
    for (const payload of payloads) {
      if (!this.#open) return;
      this.#receive(payload);
    }
  }

  #receive(payload: Uint8Array): void {
    if (this.#phase === "ready") this.#deadline = this.now() + this.limits.idleTimeoutMs;
    const decoded = decodePayload(payload);
    if (!decoded.ok) return this.#bad(decoded.reason);
    const parsed = ClientFrame.safeParse(decoded.value);
    if (!parsed.success) return this.#bad(describeIssue(parsed.error), refOf(decoded.value));
    try {
      this.hub.handle(this, parsed.data);
    } catch (error) {
      // a bug in serving one request must cost that request, never the server
      console.error(`chat: internal error on ${this.remote}: ${(error as Error)?.message}`);
      const frame: ServerFrame = {
        type: "error",
        code: ErrorCode.internal,
        message: "the server failed on that request; it was not carried out",
      };
      const ref = refOf(decoded.value);
      if (ref !== undefined) frame.ref = ref;
      this.send(encodeFrame(frame));
    }
    if (this.#phase === "hello" && this.user) {
      this.#phase = "ready";
      this.#deadline = this.now() + this.limits.idleTimeoutMs;
    }
  }

  /** A frame that is not one: an error (with the request's ref when it had one), and a strike. */
  #bad(reason: string, ref?: string): void {
    this.#badFrames++;
    if (this.#badFrames >= this.limits.maxBadFrames) {
      return this.close(
        "bad_frames",
        `${reason}; too many bad frames, closing the connection`,
        ErrorCode.badFrame,
      );
    }
    const frame: ServerFrame = { type: "error", code: ErrorCode.badFrame, message: reason };
    if (ref !== undefined) frame.ref = ref;
    this.send(encodeFrame(frame));
  }

  /** Called by the server's sweeper: acts when the current deadline has passed. */
  checkDeadline(now: number): void {
    if (this.#phase === "closed" || now < this.#deadline) return;
    switch (this.#phase) {
      case "closing":
        return this.#abort();
      case "hello":
        // a delayed password refusal is on its way: the hub closes it, within its longest delay
        if (this.refused && now < this.#deadline + MAX_PASSWORD_DELAY_MS) return;
        return this.close("timeout", "no hello in time; closing the connection");
      case "ready":
        return this.close("timeout", "no heartbeat in time; closing the connection");
    }
  }

  send(frame: Uint8Array): void {
    if (!this.#open) return;
    if (this.#replay) {
      // newer than the backlog still going out: it waits its turn
      this.#held.push(frame);
      this.#heldBytes += frame.length;
      if (this.#heldBytes > this.limits.maxQueueBytes) this.#abort();
      return;
    }
    this.#queue.push(frame);
    this.#queuedBytes += frame.length;
    if (this.#queuedBytes + this.socket.writableLength > this.limits.maxQueueBytes) {
      // a reader this slow would hold memory and everyone's latency hostage; it can resume
      return this.#abort();
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  replay(frames: readonly ServerFrame[]): void {
    if (frames.length === 0 || !this.#open) return;
    this.#replay = { frames, at: 0 };
    this.#pumpReplay();
  }

  /** Queues the next piece of the backlog when the socket has room; at the end, the held frames. */
  #pumpReplay(): void {
    const replay = this.#replay;
    if (!replay || !this.#open) return;
    if (this.socket.writableNeedDrain) return; // "drain" calls again
    let bytes = 0;
    while (replay.at < replay.frames.length && bytes < REPLAY_CHUNK_BYTES) {
      const frame = encodeFrame(replay.frames[replay.at++]);
      this.#queue.push(frame);
      this.#queuedBytes += frame.length;
      bytes += frame.length;
    }
    if (replay.at >= replay.frames.length) {
      this.#replay = undefined;
      this.#queue.push(...this.#held);
      this.#queuedBytes += this.#heldBytes;
      this.#held = [];
      this.#heldBytes = 0;
    }
    this.#flush();
  }

  /** Writes everything queued as one buffer, unless the socket is still draining the last one. */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#queue.length === 0 || this.#phase === "closed") return;
    if (this.socket.writableNeedDrain) return; // "drain" calls again, with more coalesced
    const batch = this.#queue.length === 1
      ? this.#queue[0]
      : concatFrames(this.#queue, this.#queuedBytes);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.socket.write(batch);
    if (this.#phase === "closing") this.socket.end(); // the goodbye was in that last write
  }

  /**
   * Tells the peer why (an `error` with `code` when given, then `goodbye`), lets the queue drain
   * for at most CLOSE_DRAIN_MS, then closes. Presence is left at once.
   */
  close(reason: string, message: string, code?: string): void {
    if (!this.#open) return;
    // what is already queued goes first; the rest of a backlog and held frames are dropped
    this.#replay = undefined;
    this.#held = [];
    this.#heldBytes = 0;
    if (code) this.send(encodeFrame({ type: "error", code, message } satisfies ServerFrame));
    this.send(encodeFrame({ type: "goodbye", reason, message } satisfies ServerFrame));
    this.hub.disconnect(this);
    if (!this.#open) return;
    this.#phase = "closing";
    this.#deadline = this.now() + CLOSE_DRAIN_MS;
    this.#flush();
  }

  #abort(): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#replay = undefined;
    this.#held = [];
    this.socket.destroy();
    this.hub.disconnect(this);
    this.#resolveClosed();
  }
}

function refOf(value: unknown): string | undefined {
  const ref = (value as { ref?: unknown } | null)?.ref;
  return typeof ref === "string" && ref.length > 0 && ref.length <= MAX_REF_LENGTH
    ? ref
    : undefined;
}
