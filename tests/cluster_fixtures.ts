/**
 * Nodes of a cluster in one test process: hubs sharing one store, talking over a bus in memory
 * that the test pumps (`network.pump()`), so every interleaving is the test's to choose. The
 * real engines (PostgreSQL, NATS) are in tests/e2e/cluster_test.ts; these test the logic.
 */
import type { Bus } from "../src/server/cluster/bus.ts";
import type { CommitLog } from "../src/server/cluster/cluster.ts";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import type { Store, Write, Written } from "../src/server/store/store.ts";
import { T0, world } from "./fixtures.ts";

/** Bus messages in flight, delivered when the test says. */
export class MemoryNetwork {
  readonly #queue: { subject: string; data: Uint8Array; from: MemoryBus }[] = [];
  readonly buses: MemoryBus[] = [];
  /** Messages published so far, by subject. */
  readonly published = new Map<string, number>();
  /** The largest message the bus carries (NATS: max_payload); a larger one is refused. */
  maxPayload = Infinity;

  bus(): MemoryBus {
    const bus = new MemoryBus(this);
    this.buses.push(bus);
    return bus;
  }

  send(subject: string, data: Uint8Array, from: MemoryBus): void {
    this.published.set(subject, (this.published.get(subject) ?? 0) + 1);
    this.#queue.push({ subject, data, from });
  }

  /** Delivers what is in flight (and what that sends), in order; how many were delivered. */
  pump(max = 10_000): number {
    let count = 0;
    while (this.#queue.length > 0 && count < max) {
      const { subject, data } = this.#queue.shift()!;
      for (const bus of this.buses) bus.receive(subject, data);
      count++;
    }
    return count;
  }

  /** Drops what is in flight (a bus that lost it); how many. */
  lose(): number {
    return this.#queue.splice(0).length;
  }
}

export class MemoryBus implements Bus {
  readonly #network: MemoryNetwork;
  readonly #handlers = new Map<string, ((data: Uint8Array) => void)[]>();
  #down = false;
  #reconnects = 0;

  constructor(network: MemoryNetwork) {
    this.#network = network;
  }

  /** A node cut off: it neither sends nor hears; up again, it has reconnected (as NATS says). */
  get down(): boolean {
    return this.#down;
  }

  set down(down: boolean) {
    if (this.#down && !down) this.#reconnects++;
    this.#down = down;
  }

  get connected(): boolean {
    return !this.down;
  }

  get reconnects(): number {
    return this.#reconnects;
  }

  get maxPayload(): number {
    return this.#network.maxPayload;
  }

  publish(subject: string, data: Uint8Array): void {
    // as NatsBus: what NATS refuses (too large) is not sent, and nobody is told
    if (this.down || data.length > this.#network.maxPayload) return;
    this.#network.send(subject, data, this);
  }

  subscribe(subject: string, onMessage: (data: Uint8Array) => void): void {
    const list = this.#handlers.get(subject) ?? [];
    list.push(onMessage);
    this.#handlers.set(subject, list);
  }

  receive(subject: string, data: Uint8Array): void {
    if (this.down) return;
    for (const handler of this.#handlers.get(subject) ?? []) handler(data);
  }

  close(): Promise<void> {
    this.down = true;
    return Promise.resolve();
  }
}

/**
 * A SQLite store with commit numbers, as PostgreSQL gives them, for nodes in one process: each
 * node's view counts its own last commit; the commits are kept in memory for `commitsAfter`.
 */
export class NumberedStore {
  readonly store = new SqliteStore(":memory:");
  readonly commits: {
    commitNo: number;
    messages: ReturnType<CommitLog["commitsAfter"]>[number]["messages"];
    purges: ReturnType<CommitLog["commitsAfter"]>[number]["purges"];
  }[] = [];

  /** One node's view of the shared store: the Store, and the commit log. */
  view(): Store & CommitLog {
    const commits = this.commits;
    const base = this.store;
    let lastCommitNo = 0;
    return new Proxy(base, {
      get(target, key, receiver) {
        if (key === "lastCommitNo") return lastCommitNo;
        if (key === "latestCommitNo") return () => commits.length;
        if (key === "commitsAfter") {
          return (after: number, limit: number) => commits.slice(after, after + limit);
        }
        if (key === "commit") {
          return (writes: readonly Write[]): Written[] => {
            const written = target.commit(writes);
            const messages = written.filter((w) => "seq" in w) as never[];
            const purges = writes.flatMap((w, i) => {
              const result = written[i] as { purged?: { id: string } | null };
              if (w.kind !== "purge" || !result.purged) return [];
              const seq = target.seqOf(w.id) ?? 0;
              return [{ id: w.id, seq, reason: w.reason, after: target.latestSeq() }];
            });
            commits.push({ commitNo: commits.length + 1, messages, purges });
            lastCommitNo = commits.length;
            return written;
          };
        }
        const value = Reflect.get(target, key, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as unknown as Store & CommitLog;
  }
}

/**
 * `count` nodes (worlds, see fixtures.ts) on one store and one bus, on one clock; `skews` (ms)
 * sets each node's clock that far off the shared one (no two machines agree exactly).
 */
export function cluster(count: number, skews: readonly number[] = []) {
  const network = new MemoryNetwork();
  const shared = new NumberedStore();
  const clock = { t: T0 };
  const nodes = Array.from({ length: count }, (_, i) => {
    const bus = network.bus();
    const view = shared.view();
    const skew = skews[i] ?? 0;
    const node = world({
      store: view as unknown as SqliteStore,
      clock: skew === 0 ? clock : {
        get t() {
          return clock.t + skew;
        },
      },
      cluster: { bus, store: view, node: `node${i + 1}` },
    });
    return { ...node, bus };
  });
  /**
   * Lets `ms` go by a second at a time: the clock moves, each of `ticking` (every node unless
   * given) ticks, and the bus delivers what that sent.
   */
  const elapse = (ms: number, ticking: readonly { hub: { tick(): void } }[] = nodes) => {
    for (let t = 0; t < ms; t += 1_000) {
      clock.t += 1_000;
      for (const node of ticking) node.hub.tick();
      network.pump();
    }
  };
  return { network, shared, clock, nodes, elapse };
}
