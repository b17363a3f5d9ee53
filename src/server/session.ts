/**
 * One TLS connection: the handshake under a deadline, the read loop (frames → schema → hub),
 * and a write queue that sends everything queued as one write while the previous write is in
 * flight. Deadlines are checked by the server's single sweeper, not by a timer per connection.
 */
import {
  type Decoded,
  encodeFrame,
  frameDecoder,
  FrameTooLargeError,
  jsonDecoder,
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

export interface SessionLimits {
  handshakeTimeoutMs: number;
  helloTimeoutMs: number;
  idleTimeoutMs: number;
  maxQueueBytes: number;
  maxBadFrames: number;
}

/** Time a closing connection gets to drain its goodbye before it is cut. */
export const CLOSE_DRAIN_MS = 5_000;

type Phase = "handshake" | "hello" | "ready" | "closing" | "closed";

export class Session implements Peer {
  user?: User;
  readonly remote: string;
  #phase: Phase = "handshake";
  /** When the current phase's deadline passes: handshake, hello, idleness or drain. */
  #deadline: number;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #writer?: WritableStreamDefaultWriter<Uint8Array>;
  #badFrames = 0;
  #closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(
    readonly conn: Deno.TlsConn,
    readonly hub: Hub,
    readonly limits: SessionLimits,
    readonly now: () => number,
  ) {
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remote = `${addr.hostname}:${addr.port}`;
    this.#deadline = now() + limits.handshakeTimeoutMs;
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** Resolves when the connection is gone. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  get #open(): boolean {
    return this.#phase !== "closing" && this.#phase !== "closed";
  }

  /** Runs the connection to its end. Never throws. */
  async run(): Promise<void> {
    try {
      await this.conn.handshake();
    } catch {
      // not TLS, a certificate the peer refused, or the deadline cut it: nothing to say to it
      return this.#abort();
    }
    if (!this.#open) return this.#abort();
    this.#phase = "hello";
    this.#deadline = this.now() + this.limits.helloTimeoutMs;
    this.#writer = this.conn.writable.getWriter();
    try {
      const frames = this.conn.readable
        .pipeThrough(frameDecoder(MAX_FRAME_BYTES))
        .pipeThrough(jsonDecoder());
      for await (const decoded of frames) {
        if (!this.#open) break;
        this.#receive(decoded);
      }
    } catch (error) {
      if (error instanceof FrameTooLargeError) {
        this.close(
          "frame_too_large",
          `${error.message}; closing the connection`,
          ErrorCode.frameTooLarge,
        );
        return this.#closed;
      }
    }
    // the peer hung up (or broke): leave presence now, without waiting for a drain
    this.#abort();
  }

  #receive(decoded: Decoded): void {
    if (this.#phase === "ready") this.#deadline = this.now() + this.limits.idleTimeoutMs;
    if (!decoded.ok) return this.#bad(decoded.reason);
    const parsed = ClientFrame.safeParse(decoded.value);
    if (!parsed.success) return this.#bad(describeIssue(parsed.error));
    this.hub.handle(this, parsed.data);
    if (this.#phase === "hello" && this.user) {
      this.#phase = "ready";
      this.#deadline = this.now() + this.limits.idleTimeoutMs;
    }
  }

  #bad(reason: string): void {
    this.#badFrames++;
    if (this.#badFrames >= this.limits.maxBadFrames) {
      return this.close(
        "bad_frames",
        `${reason}; too many bad frames, closing the connection`,
        ErrorCode.badFrame,
      );
    }
    this.send(
      encodeFrame(
        { type: "error", code: ErrorCode.badFrame, message: reason } satisfies ServerFrame,
      ),
    );
  }

  /** Called by the server's sweeper: cuts the connection when its current deadline has passed. */
  checkDeadline(now: number): void {
    if (this.#phase === "closed" || now < this.#deadline) return;
    switch (this.#phase) {
      case "handshake":
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
    if (this.#queuedBytes > this.limits.maxQueueBytes) {
      // a reader this slow would hold memory and everyone's latency hostage
      return this.#abort();
    }
    this.#flush();
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
    if (!this.#writing) this.#abort();
  }

  async #flush(): Promise<void> {
    if (this.#writing || !this.#writer) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.length === 1
          ? this.#queue[0]
          : concat(this.#queue, this.#queuedBytes);
        this.#queue = [];
        this.#queuedBytes = 0;
        await this.#writer.write(batch);
      }
    } catch {
      return this.#abort();
    } finally {
      this.#writing = false;
    }
    if (this.#phase === "closing") this.#abort();
  }

  #abort(): void {
    if (this.#phase !== "closed") {
      this.#phase = "closed";
      this.#queue = [];
      this.#queuedBytes = 0;
      try {
        this.conn.close();
      } catch {
        // already closed
      }
      this.hub.disconnect(this);
      this.#resolveClosed();
    }
  }
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
