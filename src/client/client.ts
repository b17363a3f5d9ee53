/**
 * The client's side of a conversation that outlives connections: it connects, says hello, and
 * when the connection drops it reconnects by itself (exponential backoff with jitter, capped),
 * resumes from the last message it saw, and re-sends every request the server has not answered.
 * The server deduplicates sends by their ref, so a retry is never stored twice.
 */
import type { ClientFrame, ServerFrame, Welcome } from "../protocol/schema.ts";
import type { ConnectionStatus } from "../ui/ui.ts";
import { ConnectError, type Connection } from "./connection.ts";
import type { ClientEvent, ClientState } from "./state.ts";

/** First reconnect delay, and the most it grows to. */
export const RECONNECT_BASE_MS = 500;
export const RECONNECT_CAP_MS = 30_000;
/**
 * Bounds on the ping interval the server asks for: a server saying 0 must not make the client
 * ping in a tight loop, nor one saying "a year" overflow the timer.
 */
export const MIN_HEARTBEAT_MS = 100;
export const MAX_HEARTBEAT_MS = 3_600_000;

/** Goodbyes after which reconnecting would be wrong: the server or the person said no. */
const FINAL_GOODBYES = new Set(["replaced", "bad_password", "full", "bye", "revoked"]);

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

export interface ChatClientOptions {
  name: string;
  password?: string;
  /** The saved token, if any, for the first hello. */
  token?: string;
  state: ClientState;
  /** Opens a verified TLS connection (throws ConnectError). */
  connect(): Promise<Connection>;
  /** Everything that happened, for the UI. */
  onEvents(events: ClientEvent[]): void;
  onStatus(status: ConnectionStatus): void;
  /** A welcome arrived (first or after a reconnect): remember its token, new each time. */
  onWelcome(welcome: Welcome): void | Promise<void>;
  /** The server revoked this client's token: forget the saved one. */
  onRevoked?(): void | Promise<void>;
  random?: () => number;
}

interface Outgoing {
  frame: ClientFrame & { ref: string };
  settle: () => void;
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
  #heartbeat?: ReturnType<typeof setInterval>;
  #wake?: () => void;
  #end!: (ending: Ending) => void;
  /** Resolves when the client has stopped for good. */
  readonly ended: Promise<Ending>;

  constructor(readonly options: ChatClientOptions) {
    this.#token = options.token;
    this.ended = new Promise((resolve) => (this.#end = resolve));
  }

  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /** Requests not yet answered. */
  get unanswered(): number {
    return this.#outbox.size;
  }

  /** Connects the first time. Throws ConnectError when the server cannot be reached or says no. */
  async start(): Promise<Welcome> {
    const conn = await this.options.connect();
    const welcome = await this.#hello(conn, false);
    this.#attach(conn, welcome);
    return welcome;
  }

  /** Sends a request now, or as soon as the connection is back; answered once. */
  request(request: Request): Promise<void> {
    const ref = `${this.#prefix}-${++this.#counter}`;
    const frame = { ...request, ref } as ClientFrame & { ref: string };
    return new Promise<void>((settle) => {
      this.#outbox.set(ref, { frame, settle });
      if (this.#conn) this.#conn.send(frame);
      else if (frame.type === "send") {
        this.options.onEvents([{ type: "pending", text: frame.text, to: frame.to }]);
      }
    });
  }

  /** Waits until every request was answered (true) or `timeoutMs` passed / the client ended (false). */
  async drain(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = Promise.all(
      [...this.#outbox.values()].map((o) =>
        new Promise<void>((resolve) => {
          const settle = o.settle;
          o.settle = () => {
            settle();
            resolve();
          };
        })
      ),
    );
    const result = await Promise.race([
      answered.then(() => true),
      this.ended.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return result && this.#outbox.size === 0;
  }

  /** Says goodbye and stops reconnecting. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#wake?.();
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
    for (let incoming = await conn.read(); incoming; incoming = await conn.read()) {
      if (!("frame" in incoming)) continue;
      const frame = incoming.frame;
      if (frame.type === "welcome") {
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
    this.#lastHeard = Date.now();
    const { heartbeatMs, idleTimeoutMs } = welcome.limits;
    this.#heartbeat = setInterval(() => {
      // a server silent for longer than its own idle limit is gone, even if TCP has not noticed
      if (Date.now() - this.#lastHeard > idleTimeoutMs) conn.close();
      else conn.send({ type: "ping" });
    }, Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, heartbeatMs)));
    // what had no answer goes again, marked as a retry: the server acknowledges what it stored
    for (const { frame } of this.#outbox.values()) {
      conn.send(frame.type === "send" ? { ...frame, retry: true } : frame);
    }
    this.#pump(conn);
  }

  #detach(): void {
    clearInterval(this.#heartbeat);
    this.#conn?.close();
    this.#conn = undefined;
  }

  async #pump(conn: Connection): Promise<void> {
    let goodbye: string | undefined;
    for (let incoming = await conn.read(); incoming; incoming = await conn.read()) {
      this.#lastHeard = Date.now();
      if (!("frame" in incoming)) {
        this.options.onEvents([{ type: "error", code: "bad_frame", message: incoming.bad }]);
        continue;
      }
      const frame = incoming.frame;
      if (frame.type === "goodbye") {
        goodbye = frame.reason;
      }
      // what the frame answers, so a list of sessions can say it follows a /logout-others
      const asked = "ref" in frame && frame.ref !== undefined
        ? this.#outbox.get(frame.ref)?.frame.type
        : undefined;
      this.options.onEvents(this.options.state.apply(frame, asked));
      this.#settle(frame);
    }
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

  #settle(frame: ServerFrame): void {
    if (!("ref" in frame) || frame.ref === undefined) return;
    const outgoing = this.#outbox.get(frame.ref);
    if (!outgoing) return;
    this.#outbox.delete(frame.ref);
    outgoing.settle();
  }

  async #reconnect(): Promise<void> {
    const random = this.options.random ?? Math.random;
    /** Why the last attempt failed, for the next notice. */
    let reason: string | undefined;
    for (let attempt = 0; !this.#closing; attempt++) {
      const delay = backoffDelay(attempt, random);
      this.options.onStatus({
        state: "reconnecting",
        retryAt: Date.now() + delay,
        attempt: attempt + 1,
        ...(reason ? { reason } : {}),
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (this.#closing) return;
      let conn: Connection | undefined;
      try {
        conn = await this.options.connect();
        const welcome = await this.#hello(conn, true);
        if (this.#closing) return conn.close();
        this.#attach(conn, welcome);
        return;
      } catch (error) {
        conn?.close();
        // a changed certificate or a refusal will not mend by retrying
        if (error instanceof ConnectError && (error.certificate || error.refused)) {
          this.options.onStatus({ state: "offline" });
          return this.#end({ code: 1, message: error.message });
        }
        reason = error instanceof Error ? error.message : String(error);
      }
    }
  }
}
