/**
 * Helpers for the reliability tests (crash, reconnect, limits, fuzz, regressions) that the shared
 * harness does not have: a free fixed port and a server restarted on it, the server's pid and
 * RSS, an incremental cursor over a client's events, a TLS connection that stops reading when
 * told (a slow reader), a light frame connection for fuzzing, and a read-only look at the db.
 *
 * Everything here is bounded in time and count, and talks to 127.0.0.1 only.
 *
 * @example
 * ```ts
 * const port = await freePort();
 * await using server = await startServerOn(dir, port, ["--max-rate", "0"]);
 * const pid = serverPid(server);
 * console.log(rssKiB(pid));
 * ```
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { concatFrames, encodeFrame, FrameCutter } from "../../src/protocol/codec.ts";
import {
  type ChatEvent,
  type ClientHandle,
  connectTls,
  delay,
  FrameWalker,
  makeTempDir,
  ReadConn,
  removeDir,
  type ServerHandle,
  startServer,
  WAIT_TIMEOUT_MS,
  withTimeout,
  writeAll,
} from "./harness.ts";

/** A port that was free a moment ago on 127.0.0.1 (bind port 0, read it, close). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Starts `chat serve` on `dir` (db and certs inside it) and on a fixed `port`. The port may still
 * be held for a moment by a process that was just killed: retried a bounded number of times.
 */
export async function startServerOn(
  dir: string,
  port: number,
  args: string[] = [],
  env?: Record<string, string>,
): Promise<ServerHandle> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const server = await startServer({ dir, args: ["--port", String(port), ...args], env });
      if (server.port !== port) {
        await server.kill9();
        throw new Error(`the server listened on ${server.port}, not ${port}`);
      }
      return server;
    } catch (error) {
      lastError = error;
      if (!/already in use/.test(String(error))) throw error;
      await delay(100);
    }
  }
  throw lastError;
}

/**
 * A server the test may stop or kill and start again on the same port and database (its dir
 * named `prefix`…); whichever runs at the end is killed, and its directory removed.
 */
export async function restartableServer(prefix: string) {
  const dir = await makeTempDir(prefix);
  const port = freePort();
  let current: ServerHandle | undefined;
  return {
    dir,
    port,
    async start(): Promise<ServerHandle> {
      return current = await startServerOn(dir, port);
    },
    async [Symbol.asyncDispose]() {
      if (current && !current.exited) await current.kill9().catch(() => {});
      await removeDir(dir);
    },
  };
}

/**
 * The pid of the `chat serve` process whose command line names `server.dir`'s database (the
 * harness's handle does not expose it). Scans /proc once; undefined when not found.
 */
export function serverPid(server: Pick<ServerHandle, "dir">): number | undefined {
  const db = join(server.dir, "chat.db");
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry.name)) continue;
    let cmdline: string;
    try {
      cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
    } catch {
      continue; // gone meanwhile, or not ours
    }
    const argv = cmdline.split("\0");
    if (argv.includes("serve") && argv.includes(db)) return Number(entry.name);
  }
  return undefined;
}

/** VmRSS of a process, in KiB (from /proc/PID/status). */
export function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+([0-9]+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** `n` KiB as MiB with one decimal, for reports. */
export const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/**
 * Walks a client's events from where it left off: new events only, so counting thousands of
 * acks is linear, not quadratic.
 */
export class EventCursor {
  #next = 0;
  constructor(readonly client: Pick<ClientHandle, "events">) {}

  /** Events that arrived since the last call. */
  take(): ChatEvent[] {
    const events = this.client.events.slice(this.#next);
    this.#next += events.length;
    return events;
  }
}

/**
 * A TLS connection that reads only when asked: `readFrame` pulls bytes until one frame is whole.
 * Once the test stops calling it, nothing drains the socket: a slow reader.
 */
export class ManualConn implements AsyncDisposable {
  #cutter = new FrameCutter();
  #ready: Uint8Array[] = [];
  #buf = new Uint8Array(64 * 1024);
  #closed = false;

  private constructor(readonly conn: Deno.TlsConn) {}

  static async open(port: number, caFile: string): Promise<ManualConn> {
    return new ManualConn(await connectTls(port, caFile));
  }

  async sendFrame(value: unknown): Promise<void> {
    await writeAll(this.conn, encodeFrame(value));
  }

  /** The next frame as JSON, or null at the end of the connection (or on a reset). */
  // deno-lint-ignore no-explicit-any
  async readFrame(timeoutMs = WAIT_TIMEOUT_MS): Promise<any | null> {
    const end = Date.now() + timeoutMs;
    while (this.#ready.length === 0) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      let n: number | null;
      try {
        n = await withTimeout(this.conn.read(this.#buf), left, "a frame");
      } catch (error) {
        if (String(error).includes("timed out")) throw error;
        return null; // reset
      }
      if (n === null) return null;
      this.#ready.push(...this.#cutter.push(this.#buf.subarray(0, n)));
    }
    return JSON.parse(new TextDecoder().decode(this.#ready.shift()!));
  }

  // deno-lint-ignore no-explicit-any
  async frameWhere(pred: (f: any) => boolean, timeoutMs = WAIT_TIMEOUT_MS): Promise<any | null> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.readFrame(Math.max(1, end - Date.now()));
      if (frame === null || pred(frame)) return frame;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** What a {@link FuzzConn} has heard, kept small: counts, a few parsed frames, the goodbye. */
export interface Heard {
  frames: number;
  pongs: number;
  errors: Map<string, number>;
  // deno-lint-ignore no-explicit-any
  goodbye?: any;
  /** The welcome's user, once there was one. */
  you?: { id: string; name: string };
  /** Ids the server acknowledged on this connection. */
  acked: string[];
}

/**
 * A TLS connection for throwing frames: writes whole buffers, reads everything the server says
 * without keeping it (only counts, acks, the welcome and the goodbye are parsed).
 */
export class FuzzConn extends ReadConn {
  readonly heard: Heard = { frames: 0, pongs: 0, errors: new Map(), acked: [] };

  private constructor(conn: Deno.TlsConn) {
    super(conn);
    const decoder = new TextDecoder();
    const parsed = ["ack", "welcome", "goodbye", "error"];
    const walker = new FrameWalker((type) => parsed.includes(type), (type, payload) => {
      this.heard.frames++;
      if (type === "pong") this.heard.pongs++;
      if (!payload) return;
      const frame = JSON.parse(decoder.decode(payload));
      if (type === "ack") this.heard.acked.push(frame.id);
      else if (type === "welcome") this.heard.you = frame.you;
      else if (type === "goodbye") this.heard.goodbye = frame;
      else this.heard.errors.set(frame.code, (this.heard.errors.get(frame.code) ?? 0) + 1);
    });
    this.read((bytes) => walker.push(bytes), 256 * 1024);
  }

  static async open(port: number, caFile: string): Promise<FuzzConn> {
    return new FuzzConn(await connectTls(port, caFile));
  }

  /** Writes bytes; false when the connection is already broken. */
  async write(bytes: Uint8Array): Promise<boolean> {
    try {
      await writeAll(this.conn, bytes);
      return true;
    } catch {
      return false;
    }
  }

  /** Pongs owed by the server: pings written by the caller inside its own bytes count too. */
  pings = 0;

  /**
   * Sends `before` (if given) and a ping, and waits until every ping sent so far is answered
   * (frames are answered in order, so everything before it was read); false if the connection
   * ended or it took too long.
   */
  async sync(timeoutMs: number, before?: Uint8Array): Promise<boolean> {
    const want = ++this.pings;
    const ping = encodeFrame({ type: "ping" });
    // one write: a small second write would wait for the peer's delayed ACK (Nagle)
    if (!(await this.write(before ? concatFrames([before, ping]) : ping))) return false;
    return await this.wait(() => this.heard.pongs >= want || this.eof, timeoutMs) &&
      this.heard.pongs >= want;
  }
}

/** One row of the messages table. */
export interface DbMessage {
  seq: number;
  id: string;
  sender: string;
  text: string;
  /** Server time when it was accepted (ms since epoch). */
  time: number;
  purged: string | null;
}

/** Every message in DIR/chat.db in seq order, read with a read-only connection. */
export function readMessages(dir: string): DbMessage[] {
  const db = new DatabaseSync(join(dir, "chat.db"), { readOnly: true });
  try {
    return db.prepare("SELECT seq, id, sender, text, time, purged FROM messages ORDER BY seq").all()
      .map((row) => ({ ...row }) as unknown as DbMessage);
  } finally {
    db.close();
  }
}

/** Every file under `dir`, as paths relative to it (bounded walk). */
export function listFiles(dir: string, limit = 1_000): string[] {
  const out: string[] = [];
  const walk = (sub: string) => {
    for (const entry of Deno.readDirSync(join(dir, sub))) {
      if (out.length >= limit) return;
      const path = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory) walk(path);
      else out.push(path);
    }
  };
  walk("");
  return out;
}

/** Median and max of a list of numbers (ms), for reports. */
export function summary(values: number[]): string {
  if (values.length === 0) return "n/a";
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return `median ${median} ms, max ${sorted[sorted.length - 1]} ms (n=${values.length})`;
}
