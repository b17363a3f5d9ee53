/**
 * The yardstick of `chat bench --raw`: a bare TLS forwarder (the same certificates, ALPN chat/1)
 * that does the least a chat server could. It cuts frames and looks at the first letter of their
 * type, nothing more: no JSON, no schema, no store.
 *
 * - `hello` is answered with a minimal `{"type":"welcome"}`;
 * - every `send` frame's bytes go, unchanged, to every connection that said hello: the frames
 *   that arrive in one turn of the event loop are joined into one buffer, written once per
 *   connection; each sender gets a constant `{"type":"ack"}` per frame in the same write;
 * - anything else (ping) is ignored. A connection whose unwritten bytes pass MAX_QUEUE_BYTES is
 *   cut, as the server cuts a slow reader.
 *
 * Two TLS stacks: `node` (node:tls, the server's own, so the comparison is like for like; the
 * default) and `deno` (Deno.listenTls: cheaper per write, but in Deno 2.9 it cannot close a
 * connection whose handshake has not finished, so a server on it could not enforce a handshake
 * timeout). The second shows what the transport costs, not what the server could ship.
 *
 * Started by `chat bench` as the hidden `chat bench --forwarder --port 0 --certs DIR
 * [--raw-tls deno]`; prints `listening on 127.0.0.1:PORT` like `chat serve`, stops on SIGTERM
 * or SIGINT.
 */
import { createServer, type TLSSocket } from "node:tls";
import { setImmediate } from "node:timers";
import type { RawTls } from "../cli/args.ts";
import {
  concatFrames,
  encodeFrame,
  FrameCutter,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
} from "../protocol/codec.ts";
import { ALPN } from "../protocol/schema.ts";
import { MAX_QUEUE_BYTES } from "../server/session.ts";
import { ensureServerCerts } from "../tls/certs.ts";
import { Kind, kindAt } from "./scanner.ts";

const WELCOME = encodeFrame({ type: "welcome" });
const ACK = encodeFrame({ type: "ack" });
const READ_BUFFER = 64 * 1024;

/** One connection, whatever the TLS stack. */
interface Link {
  write(bytes: Uint8Array): void;
  /** Bytes written but not yet taken by the socket. */
  queued(): number;
  close(): void;
}

interface Peer {
  link: Link;
  /** Sends from this peer in the current turn: it gets as many acks. */
  acks: number;
}

/** The forwarding itself: frames in, one joined buffer per turn out to everyone. */
class Forwarder {
  readonly online = new Set<Peer>();
  #frames: Uint8Array[] = [];
  #bytes = 0;
  #scheduled = false;

  /** Gives the frames of one connection's chunk; returns false when the connection must go. */
  receive(peer: Peer, cutter: FrameCutter, chunk: Uint8Array): boolean {
    let payloads: Uint8Array[];
    try {
      payloads = cutter.push(chunk);
    } catch {
      return false;
    }
    for (const payload of payloads) {
      const kind = kindAt(payload, 0, payload.length);
      if (kind === Kind.send && this.online.has(peer)) {
        this.#frames.push(payload);
        this.#bytes += HEADER_BYTES + payload.length;
        peer.acks++;
        if (!this.#scheduled) {
          this.#scheduled = true;
          setImmediate(() => this.#flush());
        }
      } else if (kind === Kind.hello && !this.online.has(peer)) {
        this.online.add(peer);
        peer.link.write(WELCOME);
      }
    }
    return true;
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = new Uint8Array(this.#bytes);
    let at = 0;
    for (const payload of this.#frames) {
      new DataView(batch.buffer, at, HEADER_BYTES).setUint32(0, payload.length, false);
      batch.set(payload, at + HEADER_BYTES);
      at += HEADER_BYTES + payload.length;
    }
    this.#frames = [];
    this.#bytes = 0;
    for (const peer of this.online) {
      let out = batch;
      if (peer.acks > 0) {
        out = new Uint8Array(batch.length + peer.acks * ACK.length);
        out.set(batch);
        for (let i = 0; i < peer.acks; i++) out.set(ACK, batch.length + i * ACK.length);
        peer.acks = 0;
      }
      if (peer.link.queued() + out.length > MAX_QUEUE_BYTES) {
        this.online.delete(peer);
        peer.link.close();
        continue;
      }
      peer.link.write(out);
    }
  }
}

export async function runForwarder(
  port: number,
  certsDir: string,
  tls: RawTls = "node",
): Promise<number> {
  const certs = await ensureServerCerts(certsDir, ["127.0.0.1"]);
  const options = { cert: certs.certChainPem, key: certs.keyPem };
  const forwarder = new Forwarder();
  const stop = tls === "deno"
    ? listenDeno(port, options, forwarder)
    : await listenNode(port, options, forwarder);
  await new Promise<void>((resolve) => {
    const done = () => {
      Deno.removeSignalListener("SIGINT", done);
      Deno.removeSignalListener("SIGTERM", done);
      stop();
      resolve();
    };
    Deno.addSignalListener("SIGINT", done);
    Deno.addSignalListener("SIGTERM", done);
  });
  return 0;
}

interface KeyPair {
  cert: string;
  key: string;
}

/** node:tls, as the server listens. Returns what stops it. */
async function listenNode(port: number, pair: KeyPair, forwarder: Forwarder) {
  const sockets = new Set<TLSSocket>();
  const server = createServer(
    { ...pair, ALPNProtocols: [ALPN], minVersion: "TLSv1.2" },
    (socket: TLSSocket) => {
      socket.setNoDelay(true);
      sockets.add(socket);
      const peer: Peer = {
        link: {
          write: (bytes) => void socket.write(bytes),
          queued: () => socket.writableLength,
          close: () => socket.destroy(),
        },
        acks: 0,
      };
      const cutter = new FrameCutter(MAX_FRAME_BYTES);
      const gone = () => {
        forwarder.online.delete(peer);
        sockets.delete(socket);
        socket.destroy();
      };
      socket.on("data", (chunk: Uint8Array) => {
        if (!forwarder.receive(peer, cutter, chunk)) gone();
      });
      socket.on("close", gone);
      socket.on("error", gone);
    },
  );
  server.on("tlsClientError", (_error: Error, socket: TLSSocket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as { address: string; port: number };
  console.log(`listening on ${bound.address}:${bound.port}`);
  return () => {
    server.close();
    for (const socket of sockets) socket.destroy();
  };
}

/**
 * Deno.listenTls: a read loop per connection; one write in flight per connection, and whatever
 * is asked for meanwhile joined into the next one.
 */
function listenDeno(port: number, pair: KeyPair, forwarder: Forwarder) {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port,
    ...pair,
    alpnProtocols: [ALPN],
  });
  const conns = new Set<Deno.TlsConn>();
  const serve = async (conn: Deno.TlsConn) => {
    let waiting: Uint8Array[] = [];
    let queued = 0;
    let writing = false;
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      forwarder.online.delete(peer);
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed already */ }
    };
    const pump = async () => {
      writing = true;
      try {
        while (open && waiting.length > 0) {
          const out = waiting.length === 1 ? waiting[0] : concatFrames(waiting);
          waiting = [];
          for (let at = 0; at < out.length;) at += await conn.write(out.subarray(at));
          queued -= out.length;
        }
      } catch {
        close();
      }
      writing = false;
    };
    const peer: Peer = {
      link: {
        write: (bytes) => {
          if (!open) return;
          waiting.push(bytes);
          queued += bytes.length;
          if (!writing) void pump();
        },
        queued: () => queued,
        close,
      },
      acks: 0,
    };
    const cutter = new FrameCutter(MAX_FRAME_BYTES);
    const buffer = new Uint8Array(READ_BUFFER);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null || !forwarder.receive(peer, cutter, buffer.subarray(0, n))) break;
      }
    } catch { /* the peer went away */ }
    close();
  };
  (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        void serve(conn);
      }
    } catch { /* the listener was closed */ }
  })();
  console.log(`listening on 127.0.0.1:${listener.addr.port}`);
  return () => {
    listener.close();
    for (const conn of [...conns]) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
  };
}
