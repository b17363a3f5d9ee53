/**
 * The yardstick of `chat bench --raw`: a bare TLS forwarder on the same TLS stack as the server
 * (node:tls, the same certificates, ALPN chat/1) that does the least a chat server could. It cuts
 * frames and looks at the first letter of their type, nothing more: no JSON, no schema, no store.
 *
 * - `hello` is answered with a minimal `{"type":"welcome"}`;
 * - every `send` frame's bytes go, unchanged, to every connection that said hello: the frames
 *   that arrive in one turn of the event loop are joined into one buffer, written once per
 *   connection; each sender gets a constant `{"type":"ack"}` per frame in the same write;
 * - anything else (ping) is ignored. A connection whose unwritten bytes pass MAX_QUEUE_BYTES is
 *   cut, as the server cuts a slow reader.
 *
 * Started by `chat bench` as the hidden `chat bench --forwarder --port 0 --certs DIR`; prints
 * `listening on 127.0.0.1:PORT` like `chat serve`, stops on SIGTERM or SIGINT.
 */
import { createServer, type TLSSocket } from "node:tls";
import { setImmediate } from "node:timers";
import { encodeFrame, FrameCutter, HEADER_BYTES, MAX_FRAME_BYTES } from "../protocol/codec.ts";
import { ALPN } from "../protocol/schema.ts";
import { MAX_QUEUE_BYTES } from "../server/session.ts";
import { ensureServerCerts } from "../tls/certs.ts";
import { Kind, kindAt } from "./scanner.ts";

const WELCOME = encodeFrame({ type: "welcome" });
const ACK = encodeFrame({ type: "ack" });

interface Peer {
  socket: TLSSocket;
  /** Sends from this peer in the current turn: it gets as many acks. */
  acks: number;
}

export async function runForwarder(port: number, certsDir: string): Promise<number> {
  const certs = await ensureServerCerts(certsDir, ["127.0.0.1"]);
  const online = new Set<Peer>();
  const sockets = new Set<TLSSocket>();
  let frames: Uint8Array[] = [];
  let bytes = 0;
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const batch = new Uint8Array(bytes);
    let at = 0;
    for (const payload of frames) {
      new DataView(batch.buffer, at, HEADER_BYTES).setUint32(0, payload.length, false);
      batch.set(payload, at + HEADER_BYTES);
      at += HEADER_BYTES + payload.length;
    }
    frames = [];
    bytes = 0;
    for (const peer of online) {
      let out = batch;
      if (peer.acks > 0) {
        out = new Uint8Array(batch.length + peer.acks * ACK.length);
        out.set(batch);
        for (let i = 0; i < peer.acks; i++) out.set(ACK, batch.length + i * ACK.length);
        peer.acks = 0;
      }
      if (peer.socket.writableLength + out.length > MAX_QUEUE_BYTES) {
        online.delete(peer);
        peer.socket.destroy();
        continue;
      }
      peer.socket.write(out);
    }
  };

  const server = createServer({
    cert: certs.certChainPem,
    key: certs.keyPem,
    ALPNProtocols: [ALPN],
    minVersion: "TLSv1.2",
  }, (socket: TLSSocket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    const peer: Peer = { socket, acks: 0 };
    const cutter = new FrameCutter(MAX_FRAME_BYTES);
    const gone = () => {
      online.delete(peer);
      sockets.delete(socket);
      socket.destroy();
    };
    socket.on("data", (chunk: Uint8Array) => {
      let payloads: Uint8Array[];
      try {
        payloads = cutter.push(chunk);
      } catch {
        return gone();
      }
      for (const payload of payloads) {
        const kind = kindAt(payload, 0, payload.length);
        if (kind === Kind.send && online.has(peer)) {
          frames.push(payload);
          bytes += HEADER_BYTES + payload.length;
          peer.acks++;
          if (!scheduled) {
            scheduled = true;
            setImmediate(flush);
          }
        } else if (kind === Kind.hello && !online.has(peer)) {
          online.add(peer);
          socket.write(WELCOME);
        }
      }
    });
    socket.on("close", gone);
    socket.on("error", gone);
  });
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

  await new Promise<void>((resolve) => {
    const stop = () => {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
      server.close();
      for (const socket of sockets) socket.destroy();
      resolve();
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  return 0;
}
