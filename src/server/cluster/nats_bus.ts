/**
 * The bus on NATS (core publish/subscribe). Loaded only by `chat serve --bus`, so a single
 * server never loads the client. It reconnects forever, with a pause between tries; while it is
 * away nothing is lost that matters: commits are read from the store, presence is repeated.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Log } from "../log.ts";
import type { Bus } from "./bus.ts";

/** Pause between reconnect attempts to NATS. */
export const BUS_RECONNECT_WAIT_MS = 500;
/** NATS's max_payload unless its server is told otherwise. */
export const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** How long the first connection may take before `chat serve` gives up. */
export const BUS_CONNECT_TIMEOUT_MS = 5_000;

export class NatsBus implements Bus {
  readonly #nc: NatsConnection;
  #connected = true;
  #reconnects = 0;

  private constructor(nc: NatsConnection, log: Log) {
    this.#nc = nc;
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          this.#connected = false;
          log.warn("lost the bus (NATS); reconnecting", { server: String(status.server ?? "") });
        } else if (status.type === "reconnect") {
          this.#connected = true;
          this.#reconnects++;
          log.info("the bus (NATS) is back", { server: String(status.server ?? "") });
        }
      }
    })().catch(() => {});
  }

  /** Connects to `url` (nats://host:port, or several, comma-separated). */
  static async open(url: string, name: string, log: Log): Promise<NatsBus> {
    const servers = url.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
    const nc = await connect({
      servers,
      name,
      timeout: BUS_CONNECT_TIMEOUT_MS,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: BUS_RECONNECT_WAIT_MS,
      pingInterval: 2_000,
      maxPingOut: 2,
    });
    return new NatsBus(nc, log);
  }

  get maxPayload(): number {
    return this.#nc.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get reconnects(): number {
    return this.#reconnects;
  }

  publish(subject: string, data: Uint8Array): void {
    try {
      this.#nc.publish(subject, data);
    } catch {
      // closed or draining: what it carried is read from the store or repeated by a heartbeat
    }
  }

  subscribe(subject: string, onMessage: (data: Uint8Array) => void): void {
    this.#nc.subscribe(subject, {
      callback: (error, msg) => {
        if (!error) onMessage(msg.data);
      },
    });
  }

  async close(): Promise<void> {
    try {
      await this.#nc.drain();
    } catch {
      await this.#nc.close();
    }
  }
}
