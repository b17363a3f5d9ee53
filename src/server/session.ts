/**
 * One client connection after its TLS handshake: the read loop (bytes → frames → schema → hub)
 * and a write queue that coalesces everything queued in one turn of the event loop into one
 * write, and keeps coalescing while the socket drains. Deadlines (hello, idle, drain) are checked
 * by the server's single sweeper, not by a timer per connection.
 */
import type { TLSSocket } from "node:tls";
import {
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
  type ServerFrame,
  type User,
} from "../protocol/schema.ts";
import type { Hub, Peer } from "./hub.ts";

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
    socket.on("drain", () => this.#flush());
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
    this.hub.handle(this, parsed.data);
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
        return this.close("timeout", "no hello in time; closing the connection");
      case "ready":
        return this.close("timeout", "no heartbeat in time; closing the connection");
    }
  }

  send(frame: Uint8Array): void {
    if (!this.#open) return;
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

  /** Writes everything queued as one buffer, unless the socket is still draining the last one. */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#queue.length === 0 || this.#phase === "closed") return;
    if (this.socket.writableNeedDrain) return; // "drain" calls again, with more coalesced
    const batch = this.#queue.length === 1
      ? this.#queue[0]
      : concat(this.#queue, this.#queuedBytes);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.socket.write(batch);
    if (this.#phase === "closing" && this.#queue.length === 0) this.socket.end();
  }

  /**
   * Tells the peer why (an `error` with `code` when given, then `goodbye`), lets the queue drain
   * for at most CLOSE_DRAIN_MS, then closes. Presence is left at once.
   */
  close(reason: string, message: string, code?: string): void {
    if (!this.#open) return;
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
    this.socket.destroy();
    this.hub.disconnect(this);
    this.#resolveClosed();
  }
}

function refOf(value: unknown): string | undefined {
  const ref = (value as { ref?: unknown } | null)?.ref;
  return typeof ref === "string" && ref.length > 0 && ref.length <= 64 ? ref : undefined;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
