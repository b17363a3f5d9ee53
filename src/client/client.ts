/**
 * The client's side of a conversation that outlives connections: it connects, says hello, and
 * when the connection drops it reconnects by itself (exponential backoff with jitter, capped),
 * resumes from the last message it saw, and re-sends every request the server has not answered.
 * The server deduplicates sends by their ref, so a retry is never stored twice.
 */
import type { ClientFrame, ServerFrame, Welcome } from "../protocol/schema.ts";
import { type Clock, systemClock } from "./clock.ts";
import { CONNECT_TIMEOUT_MS, ConnectError, type Connection } from "./connection.ts";
import type { ClientEvent, ClientState } from "./state.ts";

/**
 * How long a "someone left" is held before it is shown: a server shutting down closes its
 * connections one by one, so each client would hear everyone leave just before its own goodbye.
 * Held, they are dropped when that goodbye (or the end of the connection) comes first.
 */
export const PRESENCE_LEFT_HOLD_MS = 500;

/** First reconnect delay, and the most it grows to. */
export const RECONNECT_BASE_MS = 500;
export const RECONNECT_CAP_MS = 30_000;
/**
 * Bounds on the ping interval the server asks for: a server saying 0 must not make the client
 * ping in a tight loop, nor one saying "a year" overflow the timer.
 */
export const MIN_HEARTBEAT_MS = 100;
export const MAX_HEARTBEAT_MS = 3_600_000;

/** How the connection stands, as the client reports it (a UI shows it on a status line). */
export type ConnectionStatus =
  | { state: "connected" }
  /** `reason`: why the last attempt failed (none on the first, right after the drop). */
  | { state: "reconnecting"; retryAt: number; attempt: number; reason?: string }
  /** A reconnect attempt is under way (the line modes say nothing of it). */
  | { state: "connecting"; attempt: number }
  | { state: "offline" };

/**
 * How long a server that took the connection has to answer the hello. One that never does (a
 * node wedged on its store, say) is left, so the client goes on to another instead of waiting
 * for ever.
 */
export const WELCOME_TIMEOUT_MS = CONNECT_TIMEOUT_MS;

/** Goodbyes after which reconnecting would be wrong: the server or the person said no. */
const FINAL_GOODBYES = new Set(["replaced", "bad_password", "full", "bye", "revoked", "banned"]);

/** Said when this device's token was revoked (by /logout-others on another one). */
export const REVOKED_MESSAGE =
  "this device was signed out from another of your devices (/logout-others), so its saved " +
  "token for this server is forgotten and joining again gives you a new id";

/** The delay before reconnect attempt `attempt` (0-based): exponential, capped, "equal jitter". */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** What a request looks like before the client gives it a ref. */
export type Request = ClientFrame extends infer F
  ? F extends { ref: string } ? Omit<F, "ref"> : never
  : never;

/** A message as sent (and as kept in the outbox on disk until the server answers it). */
export type SendFrame = Extract<ClientFrame, { type: "send" }>;

export interface ChatClientOptions {
  name: string;
  password?: string;
  /** The saved token, if any, for the first hello. */
  token?: string;
  state: ClientState;
  /**
   * Opens a verified TLS connection to server `index` of {@link servers} (throws ConnectError).
   */
  connect(index: number): Promise<Connection>;
  /**
   * How many addresses the server has (its nodes, in the order given); default 1. The first
   * connection goes to the first that answers; after a loss, each attempt goes to the next
   * address in turn, the one lost last, and the backoff waits only once a whole round failed.
   */
  servers?: number;
  /** Everything that happened, for the UI. */
  onEvents(events: ClientEvent[]): void;
  onStatus(status: ConnectionStatus): void;
  /** A welcome arrived (first or after a reconnect): remember its token, new each time. */
  onWelcome(welcome: Welcome): void | Promise<void>;
  /** The server revoked this client's token: forget the saved one. */
  onRevoked?(): void | Promise<void>;
  /**
   * The messages not answered yet changed while they matter: while disconnected, or while some
   * are kept on disk. The caller saves {@link ChatClient.unsent} (the outbox on disk).
   */
  onUnsent?(): void;
  random?: () => number;
  /** The time and timers for backoffs, pings, the drain and held "left" frames. */
  clock?: Clock;
}

interface Outgoing {
  frame: ClientFrame & { ref: string };
  /** Called with the frame that answered (ack, error, results, ...). */
  settle: (answer: ServerFrame) => void;
}

/** Why the client stopped for good. */
export interface Ending {
  code: number;
  message?: string;
}

export class ChatClient {
  #conn?: Connection;
  #closing = false;
  /** Requests the server has not answered yet, in the order they were made. */
  readonly #outbox = new Map<string, Outgoing>();
  /** Refs are unique per user across runs: a random prefix per process, then a counter. */
  readonly #prefix = crypto.randomUUID().slice(0, 8);
  #counter = 0;
  #token?: string;
  #lastHeard = 0;
  /** Stops the pings of the current connection. */
  #stopHeartbeat?: () => void;
  readonly #clock: Clock;
  /** Set while waiting out a reconnect delay: ends the wait (to retry now, or to stop). */
  #wake?: () => void;
  /** Whether the outbox on disk may hold messages (then every change is reported). */
  #unsentKept = false;
  /** The address (an index into the caller's list) connected to, or tried last. */
  #server = 0;
  #end!: (ending: Ending) => void;
  /** Resolves when the client has stopped for good. */
  readonly ended: Promise<Ending>;

  constructor(readonly options: ChatClientOptions) {
    this.#token = options.token;
    this.#clock = options.clock ?? systemClock;
    this.ended = new Promise((resolve) => (this.#end = resolve));
  }

  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /** Requests not yet answered. */
  get unanswered(): number {
    return this.#outbox.size;
  }

  /**
   * Connects the first time, to the first address that answers (one that cannot be reached
   * costs no wait before the next). Throws ConnectError when none can be reached, or at once
   * when one is not trusted or says no.
   */
  async start(): Promise<Welcome> {
    const failures: string[] = [];
    for (let index = 0; index < this.#servers; index++) {
      try {
        const conn = await this.options.connect(index);
        const welcome = await this.#hello(conn, false);
        this.#server = index;
        this.#attach(conn, welcome);
        return welcome;
      } catch (error) {
        if (this.#servers === 1 || stops(error)) throw error;
        failures.push(describe(error));
      }
    }
    throw new ConnectError(failures.join("; "));
  }

  /** Which address (an index into the caller's list) the client is on, or tried last. */
  get server(): number {
    return this.#server;
  }

  get #servers(): number {
    return Math.max(1, this.options.servers ?? 1);
  }

  /**
   * Sends a request now, or as soon as the connection is back; resolves with the frame that
   * answered it (an ack, an error, results, ...).
   */
  request(request: Request): Promise<ServerFrame> {
    const ref = `${this.#prefix}-${++this.#counter}`;
    return this.#queue({ ...request, ref } as ClientFrame & { ref: string }, true);
  }

  /**
   * Sends messages kept from an earlier run (the outbox on disk) with their own refs, marked as
   * retries: the server acknowledges one it stored already instead of storing it twice.
   */
  resend(frames: SendFrame[]): Promise<ServerFrame>[] {
    this.#unsentKept ||= frames.length > 0;
    return frames.map((frame) => this.#queue({ ...frame, retry: true }, false));
  }

  /** Messages not answered yet, oldest first, as they would be kept on disk. */
  unsent(): SendFrame[] {
    return [...this.#outbox.values()].flatMap(({ frame }) => frame.type === "send" ? [frame] : []);
  }

  /** Whether the outbox on disk may hold messages (the caller has saved {@link unsent}). */
  set unsentKept(kept: boolean) {
    this.#unsentKept = kept;
  }

  #queue(frame: ClientFrame & { ref: string }, fresh: boolean): Promise<ServerFrame> {
    return new Promise<ServerFrame>((settle) => {
      this.#outbox.set(frame.ref, { frame, settle });
      if (this.#conn) this.#conn.send(frame);
      else if (frame.type === "send" && fresh) {
        this.options.onEvents([{ type: "pending", text: frame.text, to: frame.to }]);
      }
      if (frame.type === "send" && (!this.#conn || this.#unsentKept)) this.options.onUnsent?.();
    });
  }

  /**
   * Ends the wait before the next reconnect attempt, so it starts now. `connected`: nothing to
   * do; `busy`: an attempt is under way already.
   */
  reconnectNow(): "retrying" | "connected" | "busy" {
    if (this.#conn) return "connected";
    if (!this.#wake) return "busy";
    this.#wake();
    return "retrying";
  }

  /** Waits until every request was answered (true) or `timeoutMs` passed / the client ended (false). */
  async drain(timeoutMs: number): Promise<boolean> {
    let cancel = () => {};
    const answered = Promise.all(
      [...this.#outbox.values()].map((o) =>
        new Promise<void>((resolve) => {
          const settle = o.settle;
          o.settle = (answer) => {
            settle(answer);
            resolve();
          };
        })
      ),
    );
    const result = await Promise.race([
      answered.then(() => true),
      this.ended.then(() => false),
      new Promise<boolean>((
        resolve,
      ) => (cancel = this.#clock.after(timeoutMs, () => resolve(false)))),
    ]);
    cancel();
    return result && this.#outbox.size === 0;
  }

  /** Says goodbye and stops reconnecting. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#wake?.();
    this.#wake = undefined;
    this.#conn?.send({ type: "bye" });
    this.#detach();
    this.#end({ code: 0 });
  }

  async #hello(conn: Connection, resume: boolean): Promise<Welcome> {
    const { name, password, state } = this.options;
    conn.send({
      type: "hello",
      name,
      token: this.#token,
      password,
      resume: resume ? state.lastId : undefined,
    });
    let silent = false;
    const stop = this.#clock.after(WELCOME_TIMEOUT_MS, () => {
      silent = true;
      conn.close(); // the read below ends
    });
    try {
      return await this.#welcome(conn, stop);
    } catch (error) {
      if (!silent) throw error;
      throw new ConnectError(
        `the server did not answer within ${WELCOME_TIMEOUT_MS / 1000} s of the hello`,
      );
    } finally {
      stop();
    }
  }

  /**
   * The welcome that answers the hello, or a ConnectError saying why there is none; `answered`
   * is called as soon as the server has.
   */
  async #welcome(conn: Connection, answered: () => void): Promise<Welcome> {
    for (let incoming = await conn.read(); incoming; incoming = await conn.read()) {
      if (!("frame" in incoming)) continue;
      const frame = incoming.frame;
      if (frame.type === "welcome") {
        answered();
        this.#token = frame.token;
        await this.options.onWelcome(frame);
        return frame;
      }
      if (frame.type === "error" || frame.type === "goodbye") {
        conn.close();
        const code = frame.type === "error" ? frame.code : frame.reason;
        if (code === "revoked") {
          await this.options.onRevoked?.();
          throw new ConnectError(REVOKED_MESSAGE, false, true, code);
        }
        throw new ConnectError(
          `the server refused to let you in: ${frame.message}`,
          false,
          true,
          code,
        );
      }
    }
    conn.close();
    throw new ConnectError("the server closed the connection before saying welcome");
  }

  #attach(conn: Connection, welcome: Welcome): void {
    this.#conn = conn;
    this.options.onEvents(this.options.state.apply(welcome));
    this.options.onStatus({ state: "connected" });
    this.#lastHeard = this.#clock.now();
    const { heartbeatMs, idleTimeoutMs } = welcome.limits;
    const interval = Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, heartbeatMs));
    this.#stopHeartbeat = this.#clock.every(interval, () => {
      // a server silent for longer than its own idle limit is gone, even if TCP has not noticed
      if (this.#clock.now() - this.#lastHeard > idleTimeoutMs) conn.close();
      else conn.send({ type: "ping" });
    });
    // what had no answer goes again, marked as a retry: the server acknowledges what it stored
    for (const { frame } of this.#outbox.values()) {
      conn.send(frame.type === "send" ? { ...frame, retry: true } : frame);
    }
    this.#pump(conn);
  }

  #detach(): void {
    this.#stopHeartbeat?.();
    this.#stopHeartbeat = undefined;
    this.#conn?.close();
    const lost = this.#conn !== undefined && !this.#closing;
    this.#conn = undefined;
    // messages in flight when the connection went are now waiting: the outbox on disk gets them
    if (lost && this.unsent().length > 0) this.options.onUnsent?.();
  }

  async #pump(conn: Connection): Promise<void> {
    let goodbye: string | undefined;
    // "left" frames held back (PRESENCE_LEFT_HOLD_MS), in order; any other frame releases them
    const held: ServerFrame[] = [];
    /** Cancels the release of what is held; set while something is. */
    let holding: (() => void) | undefined;
    const drop = () => {
      holding?.();
      holding = undefined;
      held.length = 0;
    };
    const release = () => {
      const frames = held.splice(0);
      drop();
      for (const frame of frames) this.#deliver(frame);
    };
    for (let incoming = await conn.read(); incoming; incoming = await conn.read()) {
      this.#lastHeard = this.#clock.now();
      if (!("frame" in incoming)) {
        release();
        this.options.onEvents([{ type: "error", code: "bad_frame", message: incoming.bad }]);
        continue;
      }
      const frame = incoming.frame;
      if (frame.type === "presence" && frame.left && !frame.joined) {
        held.push(frame);
        holding ??= this.#clock.after(PRESENCE_LEFT_HOLD_MS, release);
        continue;
      }
      if (frame.type === "goodbye") {
        goodbye = frame.reason;
        drop(); // everyone "leaving" just before a shutdown is the shutdown, not news
      } else release();
      this.#deliver(frame);
    }
    // the welcome after a reconnect brings who is online; what was held is moot
    drop();
    if (this.#conn !== conn) return; // closed on purpose
    this.#detach();
    if (this.#closing) return;
    if (goodbye && FINAL_GOODBYES.has(goodbye)) {
      this.options.onStatus({ state: "offline" });
      if (goodbye === "revoked") {
        await this.options.onRevoked?.();
        return this.#end({ code: 1, message: REVOKED_MESSAGE });
      }
      // the goodbye itself was shown as an event
      return this.#end({ code: goodbye === "bye" ? 0 : 1 });
    }
    this.#reconnect();
  }

  /** Applies one frame and shows what it changed; settles the request it answers. */
  #deliver(frame: ServerFrame): void {
    // what the frame answers: a list of sessions says it follows a /logout-others, results
    // what was searched for
    const asked = "ref" in frame && frame.ref !== undefined
      ? this.#outbox.get(frame.ref)?.frame
      : undefined;
    this.options.onEvents(this.options.state.apply(frame, asked));
    this.#settle(frame);
  }

  #settle(frame: ServerFrame): void {
    if (!("ref" in frame) || frame.ref === undefined) return;
    const outgoing = this.#outbox.get(frame.ref);
    if (!outgoing) return;
    this.#outbox.delete(frame.ref);
    outgoing.settle(frame);
    if (outgoing.frame.type === "send" && this.#unsentKept) this.options.onUnsent?.();
  }

  /**
   * Reconnects: each attempt goes to the next address (the one just lost is tried last), and
   * the backoff waits before each round of them; with one address, before every attempt.
   */
  async #reconnect(): Promise<void> {
    const random = this.options.random ?? Math.random;
    const count = this.#servers;
    /** Why the attempts of the last round failed, for the next notice. */
    let failures: string[] = [];
    for (let attempt = 0; !this.#closing; attempt++) {
      this.#server = (this.#server + 1) % count;
      if (attempt % count === 0) {
        const delay = backoffDelay(attempt / count, random);
        const reason = failures.join("; ");
        failures = [];
        this.options.onStatus({
          state: "reconnecting",
          retryAt: this.#clock.now() + delay,
          attempt: attempt + 1,
          ...(reason ? { reason } : {}),
        });
        await new Promise<void>((resolve) => {
          const cancel = this.#clock.after(delay, resolve);
          this.#wake = () => {
            cancel();
            resolve();
          };
        });
        this.#wake = undefined;
        if (this.#closing) return;
      }
      this.options.onStatus({ state: "connecting", attempt: attempt + 1 });
      let conn: Connection | undefined;
      try {
        conn = await this.options.connect(this.#server);
        const welcome = await this.#hello(conn, true);
        if (this.#closing) return conn.close();
        this.#attach(conn, welcome);
        return;
      } catch (error) {
        conn?.close();
        // a changed certificate or a refusal will not mend by retrying
        if (stops(error)) {
          this.options.onStatus({ state: "offline" });
          return this.#end({ code: 1, message: (error as Error).message });
        }
        failures.push(describe(error));
      }
    }
  }
}

/** A failure that trying again, or another address, will not mend: not trusted, or told no. */
function stops(error: unknown): boolean {
  return error instanceof ConnectError && (error.certificate || error.refused);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
