/**
 * A server on the other end of a ChatClient, without a socket: a Connection stand-in whose
 * frames the test pushes, and the welcome a server would send.
 */
import type { Incoming } from "../src/client/connection.ts";
import type { ClientFrame, ServerFrame, Welcome } from "../src/protocol/schema.ts";
import { welcomeFrame } from "./fixtures.ts";

/** The welcome to `tom_0001`, with `token`; the server asks for a ping a minute. */
export const welcome = (token: string): Welcome =>
  welcomeFrame({
    token,
    online: 1,
    limits: { heartbeatMs: 60_000, idleTimeoutMs: 180_000 },
    server: { version: "fake" },
  });

/** Stands in for a Connection: frames the test pushes are read; what the client sends is kept. */
export class FakeConnection {
  readonly sent: ClientFrame[] = [];
  #queue: Incoming[] = [];
  #ended = false;
  #wake?: () => void;

  constructor(readonly answer: (frame: ClientFrame, conn: FakeConnection) => void) {}

  push(frame: ServerFrame): void {
    this.#queue.push({ frame });
    this.#wake?.();
  }

  /** The server hangs up. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  send(frame: ClientFrame): void {
    this.sent.push(frame);
    this.answer(frame, this);
  }

  async read(): Promise<Incoming | null> {
    while (this.#queue.length === 0 && !this.#ended) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return this.#queue.shift() ?? null;
  }

  close(): void {
    this.end();
  }
}

/** A connection that welcomes a hello with `token`. */
export const welcoming = (token: string) =>
  new FakeConnection((frame, conn) => {
    if (frame.type === "hello") conn.push(welcome(token));
  });
