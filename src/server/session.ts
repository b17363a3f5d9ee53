/**
 * One client connection after its TLS handshake: the read loop (bytes → frames → schema → hub)
 * and a write queue that coalesces everything queued in one turn of the event loop into one
 * write, and keeps coalescing while the socket drains. Deadlines (hello, idle, drain) are checked
 * by the server's single sweeper, not by a timer per connection.
 */
import type { TLSSocket } from "node:tls";
import { StoreUnavailableError } from "./store/store.ts";
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
import type { BacklogSource } from "./backlog.ts";
import type { BudgetMember, OutputBudget } from "./budget.ts";
import { FANS_OUT } from "./handlers.ts";
import type { Hub } from "./hub.ts";
import type { Peer } from "./peer.ts";
import { type Log, silentLog } from "./log.ts";
import * as metrics from "./metrics.ts";
import { MAX_PASSWORD_DELAY_MS } from "./password.ts";

export { HANDSHAKE_TIMEOUT_MS, HELLO_TIMEOUT_MS } from "./limits.ts";
/** Bytes a connection may have waiting to be written before it is cut as a slow reader. */
export const MAX_QUEUE_BYTES = 8 * 1024 * 1024;
/** Malformed frames tolerated on one connection before it is closed. */
export const MAX_BAD_FRAMES = 5;
/** Time a closing connection gets to drain its goodbye before it is cut. */
export const CLOSE_DRAIN_MS = 5_000;
/** How much of a backlog is queued at a time: the next piece goes when the socket has drained. */
export const REPLAY_CHUNK_BYTES = 256 * 1024;
/**
 * Most bytes handed to the socket in one write; the rest waits for its drain. One write of a
 * connection's whole backlog (megabytes, copied into fresh memory by TLS) held the event loop
 * for everyone: measured 16 s for 1,000 such writes of 3 MB here.
 */
export const MAX_WRITE_BYTES = 256 * 1024;
/**
 * A connection that sends while it holds this much unread output of its own is not read until
 * it has taken half of it: a sender that floods faster than it reads the echoes and acks of what
 * it sent is slowed down, not cut at the queue cap.
 */
export const SENDER_PAUSE_BYTES = 1024 * 1024;

export interface SessionLimits {
  handshakeTimeoutMs: number;
  helloTimeoutMs: number;
  idleTimeoutMs: number;
  maxQueueBytes: number;
  maxBadFrames: number;
}

type Phase = "hello" | "ready" | "closing" | "closed";

export class Session implements Peer, BudgetMember {
  user?: User;
  sessionId?: string;
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
  #replay?: BacklogSource;
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  /** Bytes handed to the socket that it has not flushed yet. */
  #inFlight = 0;
  /**
   * Of what it holds, the bytes counted in the server's budget: all but its own backlog's pages,
   * which are read from the store only as it drains (a reader that never reads holds one page)
   * and so must not pause anyone else's sending.
   */
  #counted = 0;
  /** Backlog frames: not counted. */
  readonly #selfPaced = new WeakSet<Uint8Array>();
  /** Since when it has held counted bytes without the socket flushing any (null: holds none). */
  #waitingSince: number | null = null;
  #badFrames = 0;
  /** Frames of a read not handled yet: reading was paused in the middle of it. */
  #unread: Uint8Array[] = [];
  /** Not read until its own output drains (SENDER_PAUSE_BYTES). */
  #behind = false;
  readonly #cutter = new FrameCutter(MAX_FRAME_BYTES);
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(
    readonly socket: TLSSocket,
    readonly hub: Hub,
    readonly limits: SessionLimits,
    readonly now: () => number,
    readonly budget: OutputBudget,
    /** Called once when `hello` has succeeded. */
    readonly onReady: () => void = () => {},
    readonly log: Log = silentLog,
  ) {
    this.address = socket.remoteAddress;
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#deadline = now() + limits.helloTimeoutMs;
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    // the peer went away (cleanly or not): leave presence now, without waiting for anything
    socket.on("close", () => this.#abort("closed"));
    socket.on("end", () => this.#abort("closed"));
    socket.on("error", () => this.#abort("connection error"));
    socket.on("drain", () => this.#replay ? this.#pumpReplay() : this.#flush());
  }

  /** Resolves when the connection is gone. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Output this connection holds: queued, held behind a replay, or not yet flushed. */
  get #pending(): number {
    return this.#queuedBytes + this.#heldBytes + this.#inFlight;
  }

  /** What it holds that counts in the server's budget. */
  get heldBytes(): number {
    return this.#counted;
  }

  /** How long it has held counted output without the socket taking any (0: it is not). */
  stalledFor(now: number): number {
    return this.#waitingSince === null ? 0 : now - this.#waitingSince;
  }

  /** Counts `delta` bytes in (or out of) the server's budget. */
  #count(delta: number): void {
    if (delta === 0) return;
    if (this.#counted === 0 && delta > 0) this.#waitingSince = this.now();
    this.#counted += delta;
    if (this.#counted === 0) this.#waitingSince = null;
    this.budget.change(delta);
  }

  /** Whether it has said hello and is not closing. */
  get ready(): boolean {
    return this.#phase === "ready";
  }

  pauseReading(): void {
    this.socket.pause();
  }

  /** Not read for now: by the budget, or while its own output is behind. */
  get #paused(): boolean {
    return this.#behind || this.budget.isPaused(this);
  }

  resumeReading(): void {
    if (!this.#open || this.#paused) return;
    // its silence while it was not read was ours, not its own
    if (this.#phase === "ready") this.#deadline = this.now() + this.limits.idleTimeoutMs;
    const unread = this.#unread;
    this.#unread = [];
    this.#receiveAll(unread);
    // the frames left over may have paused it again
    if (this.#open && !this.#paused) this.socket.resume();
  }

  cut(): void {
    this.#refused("over_budget");
    this.#abort("over_budget");
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
      this.#refused("frame_too_large");
      return this.close(
        "frame_too_large",
        `${error.message}; closing the connection`,
        ErrorCode.frameTooLarge,
      );
    }
    this.#receiveAll(payloads);
  }

  /**
   * Handles frames in order until the budget pauses this connection; the rest of a read wait
   * (with the socket paused) until it is resumed, so no read overfills the budget however many
   * frames it carries.
   */
  #receiveAll(payloads: Uint8Array[]): void {
    for (let i = 0; i < payloads.length; i++) {
      if (!this.#open) return;
      if (this.#paused) {
        this.#unread = payloads.slice(i);
        return;
      }
      this.#receive(payloads[i]);
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
      // it makes output for others while the server is over its budget: read it no further
      // until the backlog drains (TCP then slows the sender; nobody is cut for it)
      if (FANS_OUT.has(parsed.data.type)) {
        if (this.budget.over) this.budget.pause(this);
        if (this.#pending > SENDER_PAUSE_BYTES && !this.#behind) {
          this.#behind = true;
          this.socket.pause();
        }
      }
    } catch (error) {
      // the database out of reach costs the request, said as such (and logged by kind, once)
      const unreachable = error instanceof StoreUnavailableError;
      if (unreachable) this.log.count("store_unavailable", this.address);
      else {
        // a bug in serving one request must cost that request, never the server
        this.log.error("internal error serving a request", {
          address: this.address,
          id: this.user?.id,
          cause: (error as Error)?.message,
        });
      }
      const frame: ServerFrame = unreachable
        ? {
          type: "error",
          code: ErrorCode.unavailable,
          message: "the server cannot reach its database just now; that was not done, try again",
        }
        : {
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
      this.onReady();
    }
  }

  /** A frame that is not one: an error (with the request's ref when it had one), and a strike. */
  #bad(reason: string, ref?: string): void {
    this.#badFrames++;
    if (this.#badFrames >= this.limits.maxBadFrames) {
      this.#refused("bad_frames");
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
        return this.#abort("closed");
      case "hello":
        // a delayed password refusal is on its way: the hub closes it, within its longest delay
        if (this.refused && now < this.#deadline + MAX_PASSWORD_DELAY_MS) return;
        this.#refused("hello_timeout");
        return this.close("timeout", "no hello in time; closing the connection");
      case "ready":
        if (this.#paused) return; // not read, so its pings are not seen yet
        return this.close("timeout", "no heartbeat in time; closing the connection");
    }
  }

  send(frame: Uint8Array): void {
    if (!this.#open) return;
    if (this.#replay) {
      // newer than the backlog still going out: it waits its turn
      this.#held.push(frame);
      this.#heldBytes += frame.length;
      this.#count(frame.length);
      if (this.#pending > this.limits.maxQueueBytes) this.#cutSlowReader();
      return;
    }
    this.#enqueue(frame);
    if (this.#queuedBytes + this.#inFlight > this.limits.maxQueueBytes) {
      // a reader this slow would hold memory and everyone's latency hostage; it can resume
      return this.#cutSlowReader();
    }
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => this.#flush());
  }

  replay(source: BacklogSource): void {
    if (!this.#open) return;
    this.#replay = source;
    this.#pumpReplay();
  }

  /**
   * Queues the next pages of the backlog when the socket has room and less than a chunk is still
   * queued, reading them from the store only then; at the end, the frames held meanwhile. A page
   * can be more than one write (64 messages of 4,000 three-byte characters: 768 KiB), so reading
   * one on every drain whatever was left queued piled the difference up: 8 MiB a resumer that
   * never reads, until its kernel buffer was full.
   */
  #pumpReplay(): void {
    const replay = this.#replay;
    if (!replay || !this.#open) return;
    if (this.socket.writableNeedDrain) return; // "drain" calls again
    while (this.#queuedBytes < REPLAY_CHUNK_BYTES) {
      let frames: ServerFrame[] | null;
      try {
        frames = replay.next();
      } catch (error) {
        this.log.error("could not read a backlog", {
          id: this.user?.id,
          cause: (error as Error)?.message,
        });
        return this.close(
          "unavailable",
          "the server could not read your history; join again later",
          ErrorCode.unavailable,
        );
      }
      if (frames === null) {
        this.#replay = undefined;
        const held = this.#held;
        this.#count(-this.#heldBytes);
        this.#held = [];
        this.#heldBytes = 0;
        for (const frame of held) this.#enqueue(frame);
        break;
      }
      for (const frame of frames) this.#enqueue(encodeFrame(frame), false);
    }
    this.#flush();
  }

  /** Queues a frame; `counted`: in the server's budget (all but backlog pages). */
  #enqueue(frame: Uint8Array, counted = true): void {
    this.#queue.push(frame);
    this.#queuedBytes += frame.length;
    if (counted) this.#count(frame.length);
    else this.#selfPaced.add(frame);
  }

  /** Writes everything queued as one buffer, unless the socket is still draining the last one. */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#queue.length === 0 || this.#phase === "closed") return;
    if (this.socket.writableNeedDrain) return; // "drain" calls again, with more coalesced
    // whole frames up to MAX_WRITE_BYTES (at least one), the rest after the drain
    let count = 0;
    let bytes = 0;
    let counted = 0;
    while (
      count < this.#queue.length &&
      (count === 0 || bytes + this.#queue[count].length <= MAX_WRITE_BYTES)
    ) {
      const frame = this.#queue[count++];
      bytes += frame.length;
      if (!this.#selfPaced.has(frame)) counted += frame.length;
    }
    const batch = count === 1 ? this.#queue[0] : concatFrames(this.#queue.slice(0, count), bytes);
    this.#queue = count === this.#queue.length ? [] : this.#queue.slice(count);
    // from queued to in flight until the socket has flushed it
    this.#queuedBytes -= bytes;
    this.#inFlight += batch.length;
    this.socket.write(batch, () => this.#flushed(bytes, counted));
    metrics.bytesOut.add(bytes);
    if (this.#queue.length > 0) {
      // more is queued: "drain" calls again, or, if the socket still has room, the next turn
      if (!this.socket.writableNeedDrain) this.#scheduleFlush();
    } else if (this.#phase === "closing") this.socket.end(); // the goodbye was in that last write
  }

  /**
   * Tells the peer why (an `error` with `code` when given, then `goodbye`), lets the queue drain
   * for at most CLOSE_DRAIN_MS, then closes. Presence is left at once.
   */
  close(reason: string, message: string, code?: string): void {
    if (!this.#open) return;
    // what is already queued goes first; the rest of a backlog and held frames are dropped
    this.#replay = undefined;
    this.#count(-this.#heldBytes);
    this.#held = [];
    this.#heldBytes = 0;
    if (code) this.send(encodeFrame({ type: "error", code, message } satisfies ServerFrame));
    this.send(encodeFrame({ type: "goodbye", reason, message } satisfies ServerFrame));
    this.hub.disconnect(this, reason);
    if (!this.#open) return;
    this.#phase = "closing";
    this.#deadline = this.now() + CLOSE_DRAIN_MS;
    this.#flush();
  }

  /** The socket flushed a write of `bytes`, `counted` of them in the budget. */
  #flushed(bytes: number, counted: number): void {
    if (this.#phase === "closed") return; // #abort took everything out already
    this.#inFlight -= bytes;
    this.#count(-counted);
    if (this.#counted > 0) this.#waitingSince = this.now(); // it moves
    if (this.#behind && this.#pending <= SENDER_PAUSE_BYTES / 2) {
      this.#behind = false;
      this.resumeReading();
    }
  }

  /** Its queue passed its cap: cut (it can resume), and counted. */
  #cutSlowReader(): void {
    this.#refused("slow_reader");
    this.#abort("slow_reader");
  }

  /** A refusal or cut a client can cause at will: a metric and a count in the log's summary. */
  #refused(reason: string): void {
    metrics.refused(reason);
    this.log.count(reason, this.address);
  }

  #abort(reason: string): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#count(-this.#counted);
    this.budget.forget(this);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#inFlight = 0;
    this.#replay = undefined;
    this.#held = [];
    this.#heldBytes = 0;
    this.socket.destroy();
    this.hub.disconnect(this, reason);
    this.#resolveClosed();
  }
}

function refOf(value: unknown): string | undefined {
  const ref = (value as { ref?: unknown } | null)?.ref;
  return typeof ref === "string" && ref.length > 0 && ref.length <= MAX_REF_LENGTH
    ? ref
    : undefined;
}
