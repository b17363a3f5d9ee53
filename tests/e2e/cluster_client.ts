/**
 * A light client for the cluster's failover tests: hundreds of them in one test process. It
 * speaks the protocol over real TLS, and does what `chat join` does when its node goes: moves to
 * the next address with a backoff, says hello with its token and the last message it saw
 * (resume), and re-sends every request not acknowledged (retry). What it receives is kept as
 * numbers in a table shared by all (an id is 26 characters; 300 clients × 10,000 messages).
 */
import { encodeFrame, FrameCutter } from "../../src/protocol/codec.ts";
import { withTimeout, writeAll } from "./harness.ts";

/** Message ids seen by any client, numbered in the order first seen. */
export class IdTable {
  readonly #index = new Map<string, number>();
  readonly ids: string[] = [];
  number(id: string): number {
    let n = this.#index.get(id);
    if (n === undefined) {
      n = this.ids.length;
      this.#index.set(id, n);
      this.ids.push(id);
    }
    return n;
  }
  numberOf(id: string): number | undefined {
    return this.#index.get(id);
  }
}

const decoder = new TextDecoder();
/** How a live or replayed message frame begins (the server writes `type`, then `id`). */
const MESSAGE_PREFIX = '{"type":"message","id":"';

export interface ClusterClientOptions {
  name: string;
  /** The nodes' ports on 127.0.0.1, tried in turn starting at `first`. */
  ports: number[];
  first: number;
  ca: string;
  table: IdTable;
}

export class ClusterClient {
  readonly name: string;
  id = "";
  #token?: string;
  /** Numbers (IdTable) of the messages received, in order; and how many came twice. */
  readonly received: number[] = [];
  readonly #seen = new Set<number>();
  duplicates = 0;
  #lastId?: string;
  /** The port of each welcome, and when it came. */
  readonly welcomes: { port: number; at: number }[] = [];
  /** When each connection ended (not by stop()). */
  readonly drops: number[] = [];
  /** Sends not acknowledged yet, by ref. */
  readonly #pending = new Map<string, { text: string; resolve: (id: string) => void }>();
  /** Refs and the ids their acks named. */
  readonly acked = new Map<string, string>();
  /** Errors the server answered with, by code. */
  readonly errors = new Map<string, number>();
  #conn?: Deno.TlsConn;
  #writeFrame?: (frame: unknown) => Promise<void>;
  #ready = false;
  #portIndex: number;
  #stopped = false;
  #refs = 0;
  #connected!: Promise<void>;
  #onWelcome?: () => void;
  readonly #opts: ClusterClientOptions;

  constructor(opts: ClusterClientOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.#portIndex = opts.first % opts.ports.length;
  }

  /** Welcomed on the connection it has now. */
  get connected(): boolean {
    return this.#ready;
  }

  /** Connects (bounded) and keeps connecting whenever the connection ends, until stop(). */
  async start(timeoutMs = 30_000): Promise<void> {
    this.#connected = new Promise((resolve) => (this.#onWelcome = resolve));
    void this.#run();
    await withTimeout(this.#connected, timeoutMs, `${this.name} welcomed`);
  }

  /** Sends a message to #general; resolves with its id once acknowledged (through reconnects). */
  send(text: string): Promise<string> {
    const ref = `${this.name}-${++this.#refs}`;
    return new Promise((resolve) => {
      this.#pending.set(ref, { text, resolve });
      this.#write({ type: "send", ref, text });
    });
  }

  get unacknowledged(): number {
    return this.#pending.size;
  }

  stop(): Promise<void> {
    this.#stopped = true;
    try {
      this.#conn?.close();
    } catch { /* closed */ }
    return Promise.resolve();
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#stopped) {
      const port = this.#opts.ports[this.#portIndex];
      try {
        await this.#session(port);
        attempt = 0;
      } catch {
        attempt++;
      }
      if (this.#stopped) return;
      this.drops.push(Date.now());
      // the next node; a pause that grows when a whole round failed (as chat join's backoff)
      this.#portIndex = (this.#portIndex + 1) % this.#opts.ports.length;
      const round = Math.floor(attempt / this.#opts.ports.length);
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** round) * Math.random()));
    }
  }

  /** One connection, to its end. */
  async #session(port: number): Promise<void> {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [this.#opts.ca],
      alpnProtocols: ["chat/1"],
    });
    try {
      await withTimeout(conn.handshake(), 10_000, "TLS handshake");
    } catch (error) {
      conn.close();
      throw error;
    }
    this.#conn = conn;
    // one write at a time, each whole: frames must not interleave
    let writing = Promise.resolve();
    const write = (value: unknown) =>
      writing = writing.then(() => writeAll(conn, encodeFrame(value))).catch(() => {});
    this.#writeFrame = write;
    const hello: Record<string, unknown> = { type: "hello", name: this.name };
    if (this.#token) hello.token = this.#token;
    if (this.#lastId) hello.resume = this.#lastId;
    await write(hello);
    const cutter = new FrameCutter();
    const buffer = new Uint8Array(64 * 1024);
    let ping: ReturnType<typeof setInterval> | undefined;
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) return;
        for (const payload of cutter.push(buffer.subarray(0, n))) {
          const text = decoder.decode(payload);
          if (text.startsWith(MESSAGE_PREFIX)) {
            this.#message(text.slice(MESSAGE_PREFIX.length, MESSAGE_PREFIX.length + 26));
            continue;
          }
          const frame = JSON.parse(text);
          if (frame.type === "welcome") {
            this.id = frame.you.id;
            this.#token = frame.token;
            this.welcomes.push({ port, at: Date.now() });
            ping = setInterval(() => void write({ type: "ping" }), frame.limits.heartbeatMs);
            // what was sent and not answered goes again; the server knows it by its ref
            for (const [ref, { text }] of this.#pending) {
              await write({ type: "send", ref, text, retry: true });
            }
            this.#ready = true;
            this.#onWelcome?.();
            this.#onWelcome = undefined;
          } else if (frame.type === "ack") {
            const pending = this.#pending.get(frame.ref);
            if (pending) {
              this.#pending.delete(frame.ref);
              this.acked.set(frame.ref, frame.id);
              pending.resolve(frame.id);
            }
          } else if (frame.type === "error") {
            this.errors.set(frame.code, (this.errors.get(frame.code) ?? 0) + 1);
            // refused (the store was down): tried again after a pause, as a person would
            const pending = frame.ref ? this.#pending.get(frame.ref) : undefined;
            if (pending) {
              setTimeout(
                () =>
                  this.#write({ type: "send", ref: frame.ref, text: pending.text, retry: true }),
                500,
              );
            }
          }
        }
      }
    } catch {
      return;
    } finally {
      clearInterval(ping);
      this.#ready = false;
      this.#conn = undefined;
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  #message(id: string): void {
    const n = this.#opts.table.number(id);
    this.#lastId = id;
    if (this.#seen.has(n)) {
      this.duplicates++;
      return;
    }
    this.#seen.add(n);
    this.received.push(n);
  }

  #write(frame: Record<string, unknown>): void {
    if (!this.#ready) return; // sent on the next welcome
    void this.#writeFrame?.(frame);
  }
}
