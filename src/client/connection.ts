/**
 * The client's TLS connection: connect and verify, then frames in (checked as the schema says,
 * by server_frames.ts) and frames out (encoded one at a time, written in order).
 */
import { decodePayload, encodeFrame, FrameCutter, MAX_FRAME_BYTES } from "../protocol/codec.ts";
import { ALPN } from "../protocol/rules.ts";
import type { ClientFrame, ServerFrame } from "../protocol/schema.ts";
import { parseServerFrame } from "../protocol/server_frames.ts";
import { lookup } from "node:dns/promises";
import { handshakeDropped, isCertificateError } from "../tls/trust.ts";
import { parseIp, unbracket } from "../tls/names.ts";

/** Time allowed for TCP connect plus the TLS handshake. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** A failure to reach or trust the server, worded for the person at the keyboard. */
export class ConnectError extends Error {
  constructor(
    message: string,
    /** The server's certificate was not trusted. */
    readonly certificate = false,
    /** The server answered, and said no (bad password, no id left). */
    readonly refused = false,
    /** The server's error code when it said no (e.g. `bad_password`). */
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface ConnectOptions {
  host: string;
  port: number;
  caCerts?: string[];
  /**
   * The addresses a host name stands for, in the order to try them (default: the system's
   * resolver, {@link systemAddresses}).
   */
  addresses?: (host: string, port: number) => Promise<string[]>;
}

/**
 * What to dial for `host`: an address literal as it is; a name that stands for several
 * addresses, each (in the resolver's order) when this process may connect to all of them;
 * otherwise the name itself, which Deno resolves and dials at its first address. A sandbox that
 * grants `host:port` only (the launchers' flags) keeps the second way.
 */
export async function systemAddresses(host: string, port: number): Promise<string[]> {
  const bare = unbracket(host);
  if (parseIp(bare)) return [bare];
  try {
    if (Deno.permissions.querySync({ name: "net", host: bare }).state !== "granted") return [host];
    const found = await lookup(bare, { all: true, verbatim: true });
    const addresses = [...new Set(found.map((a) => a.address))];
    if (addresses.length < 2) return [host];
    const allowed = addresses.every((address) =>
      Deno.permissions.querySync({
        name: "net",
        host: `${address.includes(":") ? `[${address}]` : address}:${port}`,
      }).state === "granted"
    );
    return allowed ? addresses : [host];
  } catch {
    // cannot resolve: dialling the name says why, as it always did
    return [host];
  }
}

/**
 * A TCP connection to the first of `targets` that takes one: refused or unreachable moves on
 * at once to the next; the caller's timeout bounds the whole.
 */
async function dial(targets: string[], port: number): Promise<Deno.TcpConn> {
  let failure: unknown;
  for (const hostname of targets) {
    try {
      return await Deno.connect({ hostname, port });
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

/** What arrives: a valid server frame, or why a frame was not one. */
export type Incoming = { frame: ServerFrame } | { bad: string };

export class Connection {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #closed = false;

  /**
   * Frames are cut straight from reads of the connection, not through a chain of streams: in a
   * busy room the streams' promises and queues cost more than cutting and checking the frames.
   */
  #cutter = new FrameCutter(MAX_FRAME_BYTES);
  #buffer = new Uint8Array(64 * 1024);
  /** Payloads cut from the last read, not yet read; `#next` is the first of them. */
  #payloads: Uint8Array[] = [];
  #next = 0;
  #ended = false;

  private constructor(readonly conn: Deno.TlsConn) {
    this.#writer = conn.writable.getWriter();
  }

  /** Connects and completes the TLS handshake (hostname verified), or throws ConnectError. */
  static async open(options: ConnectOptions): Promise<Connection> {
    const where = `${options.host}:${options.port}`;
    let conn: Deno.TlsConn | undefined;
    let tcpConnected = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const attempt = (async () => {
        // TCP first, with Nagle off, then TLS over it: Deno.connectTls leaves Nagle on, which
        // holds the first frame after the handshake for the server's delayed ACK (~40 ms)
        // every address of the name is checked against the name: TLS verifies options.host
        const targets = await (options.addresses ?? systemAddresses)(options.host, options.port);
        const tcp = await dial(targets, options.port);
        tcpConnected = true;
        tcp.setNoDelay(true);
        conn = await Deno.startTls(tcp, {
          hostname: options.host,
          caCerts: options.caCerts,
          alpnProtocols: [ALPN],
        });
        await conn.handshake();
        return conn;
      })();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new ConnectError(`${where} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`),
            ),
          CONNECT_TIMEOUT_MS,
        );
      });
      return new Connection(await Promise.race([attempt, timeout]));
    } catch (error) {
      try {
        conn?.close();
      } catch { /* already closed */ }
      throw toConnectError(error, where, tcpConnected);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends one frame; a broken connection shows up on the reading side. */
  send(frame: ClientFrame): void {
    if (this.#closed) return;
    this.#writer.write(encodeFrame(frame)).catch(() => {});
  }

  /** The next frame from the server, or null once the connection has ended. */
  async read(): Promise<Incoming | null> {
    try {
      while (this.#next === this.#payloads.length) {
        if (this.#ended) return null;
        // the end, even inside a frame, ends the connection
        const n = await this.conn.read(this.#buffer);
        if (n === null) {
          this.#ended = true;
          return null;
        }
        // the payloads are copies: the buffer is read into again
        this.#payloads = this.#cutter.push(this.#buffer.subarray(0, n));
        this.#next = 0;
      }
      const decoded = decodePayload(this.#payloads[this.#next++]);
      if (!decoded.ok) return { bad: decoded.reason };
      const frame = parseServerFrame(decoded.value);
      return frame ? { frame } : { bad: "the server sent a frame this client does not understand" };
    } catch {
      // a reset or a frame over the limit ends the connection like a close does
      this.#ended = true;
      return null;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** How a hang-up shows in Deno (an EOF where the server's TLS hello should be, or a reset). */
const HANG_UPS = [
  Deno.errors.UnexpectedEof,
  Deno.errors.ConnectionReset,
  Deno.errors.ConnectionAborted,
  Deno.errors.BrokenPipe,
];

function toConnectError(error: unknown, where: string, tcpConnected: boolean): ConnectError {
  if (error instanceof ConnectError) return error;
  if (tcpConnected && HANG_UPS.some((kind) => error instanceof kind)) {
    return new ConnectError(handshakeDropped(where));
  }
  if (isCertificateError(error)) {
    return new ConnectError(
      `the certificate of ${where} is not trusted (${
        (error as Error).message.replace(/^.*?: /, "")
      }); ` +
        "pass --fingerprint with the value chat serve printed, or --ca with its ca.pem",
      true,
    );
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new ConnectError(
      `cannot connect to ${where}: connection refused (is the server running?)`,
    );
  }
  if (error instanceof Deno.errors.NotFound || /dns|lookup|resolve/i.test(String(error))) {
    return new ConnectError(`cannot connect to ${where}: the host name could not be resolved`);
  }
  return new ConnectError(
    `cannot connect to ${where}: ${(error as Error)?.message ?? String(error)}`,
  );
}
