/**
 * The load generator: many real TLS clients in this one process, kept lean because they share
 * the machine with the server they measure.
 *
 * - Receivers say hello, then only walk frame boundaries and count `message` frames
 *   ({@link FrameScanner}); a few of them, the probes, also parse each message to take its
 *   latency from the send time written at the start of its text.
 * - Senders write `send` frames in batches, one write per batch. With no rate they keep a
 *   bounded window: unacknowledged sends per sender, and sends not yet delivered to the average
 *   receiver, so the server is always busy and no queue grows without bound. With a rate they
 *   follow a schedule, and the time written in each message is the time it was due (a stalled
 *   server shows up as latency, not as a slower schedule). With `flood` they write as fast as
 *   their sockets take, with no window: what the server does with more than it can pass on
 *   (queue, cut, push back) is then the measurement, so a connection it cuts is counted, and a
 *   run that stops moving ends (stalled) instead of failing.
 * - Every wait is bounded: a phase that makes no progress for STALL_MS fails with a sentence.
 */
import { decodePayload, encodeFrame } from "../protocol/codec.ts";
import { ALPN } from "../protocol/schema.ts";
import { isCertificateError } from "../tls/trust.ts";
import { cpuSecondsOf, machineBusySeconds, memoryOf } from "./process.ts";
import { captureOf, FrameScanner, Kind } from "./scanner.ts";

/** A phase that makes no progress for this long has failed (a flood run: has ended). */
export const STALL_MS = 10_000;
/** How often a flood run looks for a stall. */
const STALL_CHECK_MS = 250;
/** Connections handshaking and logging in at once. */
export const LOGIN_CONCURRENCY = 128;
/** Probe receivers (they parse every message for its latency). */
export const PROBES = 4;
/** Frames the senders may have in flight in all (sent, not yet read by every receiver). */
export const WINDOW_FRAMES = 256 * 1024;
/** Bounds on the delivery window, in messages. */
export const MIN_WINDOW = 8;
export const MAX_WINDOW = 4096;
/** Most `send` frames in one write. */
export const MAX_BATCH = 256;
/** How long a lost connection waits for news of the server's death before it is reported. */
const LOST_GRACE_MS = 300;
/** Every connection pings this often (the server cuts silent ones after 45 s by default). */
export const PING_INTERVAL_MS = 10_000;
/** Read buffer of an active client, and of an idle one while it logs in. */
const ACTIVE_BUFFER = 64 * 1024;
const IDLE_BUFFER = 4 * 1024;
/** Idle connections read into one shared buffer once logged in: what they get is not looked at. */
const DISCARD = new Uint8Array(64 * 1024);

const PING = encodeFrame({ type: "ping" });
const LOGIN_CAPTURE = captureOf([Kind.welcome, Kind.error, Kind.goodbye]);
const QUIET_CAPTURE = captureOf([Kind.error, Kind.goodbye]);
const PROBE_CAPTURE = captureOf([Kind.error, Kind.goodbye, Kind.message, Kind.send]);

export interface Target {
  host: string;
  port: number;
  caCerts?: string[];
}

/** Milliseconds on a clock every part of this process shares (and close to the wall clock). */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the progress line and the stall watchdog look at while a phase runs. */
export interface Stage {
  /** A number that moves while the phase makes progress. */
  progress(): number;
  /** Whether the phase is waiting on the other side (no progress then is a stall). */
  outstanding(): boolean;
  /** The progress line. */
  status(): string;
  /** The sentence for a stall. */
  stalled(): string;
}

/**
 * One `chat bench` invocation: the first failure (every wait races it), the clients to close,
 * the watchdog (stalls, a child that died) and the progress line on stderr.
 */
export class Run {
  failure: Error | null = null;
  readonly aborted: Promise<never>;
  readonly clients = new Set<Client>();
  /** The process being measured, checked by the watchdog. */
  child?: { exited: boolean; exitMessage(): string };
  #reject!: (error: Error) => void;
  #stage?: Stage;
  #last = -1;
  #lastChange = 0;
  #lastPrint = 0;
  #timer: ReturnType<typeof setInterval>;
  readonly #tty: boolean;
  #shown = false;

  constructor(readonly quiet = false) {
    this.aborted = new Promise<never>((_, reject) => (this.#reject = reject));
    this.aborted.catch(() => {});
    this.#tty = Deno.stderr.isTerminal();
    this.#timer = setInterval(() => this.#watch(), this.#tty ? 250 : 500);
  }

  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.#reject(error);
  }

  /**
   * A connection broke or was closed by the server: most often because the server died, which
   * the watchdog learns a moment later; say that rather than "connection reset" when it is so.
   */
  lost(message: string): void {
    if (this.failure) return;
    setTimeout(() => {
      this.fail(new Error(this.child?.exited ? this.child.exitMessage() : message));
    }, LOST_GRACE_MS);
  }

  /** `promise`, unless the run fails first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.aborted]);
  }

  /** Sets what the watchdog and the progress line follow (undefined: nothing). */
  stage(stage: Stage | undefined): void {
    this.#stage = stage;
    this.#last = -1;
    this.#lastChange = performance.now();
    this.#lastPrint = 0;
    if (stage) this.#print(stage.status(), true);
  }

  /** Writes a line of progress (kept on one updating line on a terminal). */
  note(line: string): void {
    this.#print(line, true);
  }

  #watch(): void {
    if (this.child?.exited) return this.fail(new Error(this.child.exitMessage()));
    const stage = this.#stage;
    if (!stage) return;
    const now = performance.now();
    const value = stage.progress();
    if (value !== this.#last) {
      this.#last = value;
      this.#lastChange = now;
    } else if (stage.outstanding() && now - this.#lastChange > STALL_MS) {
      return this.fail(new Error(stage.stalled()));
    }
    this.#print(stage.status(), false);
  }

  #print(line: string, now: boolean): void {
    if (this.quiet) return;
    const at = performance.now();
    if (!this.#tty && !now && at - this.#lastPrint < 1000) return;
    this.#lastPrint = at;
    const text = this.#tty ? `\r\x1b[2K${line.slice(0, 200)}` : `${line}\n`;
    this.#shown = this.#tty;
    try {
      Deno.stderr.writeSync(new TextEncoder().encode(text));
    } catch { /* stderr gone */ }
  }

  /** Stops the watchdog, clears the progress line, closes every client left. */
  close(): void {
    clearInterval(this.#timer);
    this.#stage = undefined;
    if (this.#shown) {
      try {
        Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
      } catch { /* stderr gone */ }
    }
    for (const client of this.clients) client.close();
  }
}

type Role = "receiver" | "probe" | "sender" | "idle";

/** How the server cut a connection: it said goodbye, or the connection broke or ended. */
export type Cut = "goodbye" | "lost";

/** One TLS connection that said hello: its read loop runs until it is closed. */
export class Client {
  readonly scanner: FrameScanner;
  /** Called after each chunk read (receivers: delivery progress; senders: acks). */
  onChunk?: () => void;
  /** Probes: latency of each message, milliseconds. */
  latencies?: Samples;
  /** Bytes received so far. */
  bytes = 0;
  /**
   * Set by a flood run: the server cutting this connection is then a figure, not a failure.
   * Called once; the connection is closed first.
   */
  onCut?: (how: Cut) => void;
  /** How the server cut this connection, once it has (with onCut set). */
  cut: Cut | null = null;
  /**
   * Set by a flood run: an `error` from the server (a refused send, the reason before a goodbye)
   * is counted, not a failure; a rate limit still is one (the server is not set up to measure).
   */
  onError?: (said: string) => void;
  /** The node it is connected to (0: the senders' node, or the only server). */
  node = 0;
  #closing = false;
  #buf: Uint8Array;
  #discard = false;
  #writing: Promise<unknown> = Promise.resolve();
  #welcome: Promise<void>;
  #welcomed!: () => void;
  #now = 0;
  #pinger?: ReturnType<typeof setInterval>;

  constructor(
    readonly conn: Deno.TlsConn,
    readonly label: string,
    readonly role: Role,
    readonly run: Run,
  ) {
    this.#buf = new Uint8Array(role === "idle" ? IDLE_BUFFER : ACTIVE_BUFFER);
    this.#welcome = new Promise((resolve) => (this.#welcomed = resolve));
    this.scanner = new FrameScanner(LOGIN_CAPTURE, (kind, payload) => this.#frame(kind, payload));
    run.clients.add(this);
    void this.#loop();
  }

  /** Connects, says hello as `name`, resolves once welcomed. */
  static async login(
    target: Target,
    name: string,
    label: string,
    role: Role,
    run: Run,
  ): Promise<Client> {
    let conn: Deno.TlsConn | undefined;
    try {
      conn = await run.race(Deno.connectTls({
        hostname: target.host,
        port: target.port,
        caCerts: target.caCerts,
        alpnProtocols: [ALPN],
      }));
      await run.race(conn.handshake());
    } catch (error) {
      try {
        conn?.close();
      } catch { /* closed */ }
      if (error === run.failure) throw error;
      throw connectError(error, `${target.host}:${target.port}`);
    }
    const client = new Client(conn, label, role, run);
    client.write(encodeFrame({ type: "hello", name }));
    await run.race(client.#welcome);
    return client;
  }

  /** Queues `bytes` after every earlier write; resolves once written. */
  write(bytes: Uint8Array): Promise<unknown> {
    this.#writing = this.#writing.then(() => writeAll(this.conn, bytes)).catch((error) => {
      if (!this.#closing && !this.#cutBy("lost")) {
        this.run.fail(new Error(`cannot write to ${this.label}: ${(error as Error).message}`));
      }
    });
    return this.#writing;
  }

  /** Counts a cut when a flood run asked for it (true), else leaves it to be a failure. */
  #cutBy(how: Cut): boolean {
    if (!this.onCut) return false;
    if (this.cut === null && !this.#closing) {
      this.cut = how;
      this.close();
      this.onCut(how);
    }
    return true;
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#pinger);
    this.run.clients.delete(this);
    try {
      this.conn.close();
    } catch { /* closed */ }
  }

  async #loop(): Promise<void> {
    const scanner = this.scanner;
    const probe = this.role === "probe";
    try {
      for (;;) {
        const buf = this.#discard ? DISCARD : this.#buf;
        const n = await this.conn.read(buf);
        if (n === null) break;
        this.bytes += n;
        if (this.#discard) continue;
        if (probe) this.#now = clockMs();
        scanner.push(buf, n);
        this.onChunk?.();
      }
    } catch (error) {
      if (!this.#closing && !this.#cutBy("lost")) {
        this.run.lost(`the connection of ${this.label} broke: ${(error as Error).message}`);
      }
      return;
    }
    if (!this.#closing && !this.#cutBy("lost")) {
      this.run.lost(`the server closed the connection of ${this.label}`);
    }
  }

  #frame(kind: number, payload: Uint8Array): void {
    if (kind === Kind.message || kind === Kind.send) {
      const decoded = decodePayload(payload);
      const text = decoded.ok ? (decoded.value as { text?: unknown }).text : undefined;
      const sent = typeof text === "string" ? Number.parseFloat(text) : NaN;
      if (Number.isFinite(sent)) this.latencies?.add(this.#now - sent);
      return;
    }
    if (kind === Kind.welcome) {
      this.scanner.capture = this.role === "probe" ? PROBE_CAPTURE : QUIET_CAPTURE;
      if (this.role === "idle") this.#discard = true;
      this.#pinger = setInterval(() => this.write(PING), PING_INTERVAL_MS);
      this.#welcomed();
      return;
    }
    const decoded = decodePayload(payload);
    const frame = (decoded.ok ? decoded.value : {}) as { code?: string; message?: string };
    const said = frame.message ?? "no reason given";
    if (kind === Kind.goodbye) {
      if (this.#cutBy("goodbye")) return;
      this.run.fail(new Error(`the server said goodbye to ${this.label}: ${said}`));
    } else if (frame.code === "rate_limited") {
      this.run.fail(
        new Error(
          `the server limits the rate of ${this.label} (${said}); start it with --max-rate 0 ` +
            "--max-rate-per-address 0 --max-new-ids-per-address 0",
        ),
      );
    } else if (this.onError) {
      this.onError(`${frame.code ?? "error"}: ${said}`);
    } else {
      this.run.fail(new Error(`the server refused a request of ${this.label}: ${said}`));
    }
  }
}

async function writeAll(conn: Deno.TlsConn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

function connectError(error: unknown, where: string): Error {
  if (isCertificateError(error)) {
    return new Error(
      `the certificate of ${where} is not trusted (${
        (error as Error).message.replace(/^.*?: /, "")
      }); pass --ca with its CA certificate`,
    );
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new Error(`cannot connect to ${where}: connection refused (is the server running?)`);
  }
  return new Error(`cannot connect to ${where}: ${(error as Error)?.message ?? String(error)}`);
}

/** Latency samples, milliseconds, in a growing Float64Array. */
export class Samples {
  #data = new Float64Array(1024);
  #count = 0;

  add(value: number): void {
    if (this.#count === this.#data.length) {
      const next = new Float64Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#count++] = value;
  }

  get count(): number {
    return this.#count;
  }

  /** The samples so far (a view, not a copy). */
  data(): Float64Array {
    return this.#data.subarray(0, this.#count);
  }

  /** p50, p99 and max (nearest rank); null with no samples. */
  summary(): { p50: number; p99: number; max: number } | null {
    return summarize([this.data()]);
  }
}

/** Percentiles over several sample sets together. */
export function summarize(sets: Float64Array[]): { p50: number; p99: number; max: number } | null {
  const total = sets.reduce((n, s) => n + s.length, 0);
  if (total === 0) return null;
  const all = new Float64Array(total);
  let at = 0;
  for (const set of sets) {
    all.set(set, at);
    at += set.length;
  }
  all.sort();
  const rank = (p: number) => all[Math.min(total - 1, Math.max(0, Math.ceil(p * total) - 1))];
  return { p50: rank(0.5), p99: rank(0.99), max: all[total - 1] };
}

/**
 * Logs in `count` clients, LOGIN_CONCURRENCY at a time; resolves with all of them, or rejects
 * with the first failure (a stall included).
 */
export async function loginMany(
  target: Target,
  count: number,
  run: Run,
  make: (i: number) => { name: string; label: string; role: Role; node?: number },
  what: string,
  /** The nodes of a cluster, which `make` picks from (`target` is then unused). */
  nodes: Target[] = [target],
): Promise<{ clients: Client[]; ms: number }> {
  const clients: Client[] = new Array(count);
  let next = 0;
  let done = 0;
  const start = performance.now();
  run.stage({
    progress: () => done,
    outstanding: () => done < count,
    status: () => `${what}: ${done} of ${count} logged in`,
    stalled: () =>
      `logging in ${what} stalled: ${done} of ${count} logged in, none for ${STALL_MS / 1000} s`,
  });
  const worker = async () => {
    while (next < count && !run.failure) {
      const i = next++;
      const { name, label, role, node = 0 } = make(i);
      try {
        clients[i] = await Client.login(nodes[node], name, label, role, run);
        clients[i].node = node;
      } catch (error) {
        // a refused or reset connection is most often a server that just died: say so if it did
        if (error !== run.failure) await sleep(LOST_GRACE_MS);
        throw run.child?.exited ? new Error(run.child.exitMessage()) : error;
      }
      done++;
    }
  };
  await run.race(
    Promise.all(Array.from({ length: Math.min(LOGIN_CONCURRENCY, count) }, worker)),
  );
  return { clients, ms: performance.now() - start };
}

/** Waits until no frame has arrived for `quietMs` (at most `maxMs`): the presence storm is over. */
export async function settle(clients: Client[], run: Run, quietMs = 300, maxMs = 10_000) {
  const frames = () => clients.reduce((n, c) => n + c.scanner.frames, 0);
  const end = performance.now() + maxMs;
  let last = frames();
  let since = performance.now();
  while (performance.now() < end) {
    await run.race(sleep(50));
    const now = frames();
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) {
      return;
    }
  }
}

export interface LoadOptions {
  clients: number;
  senders: number;
  messages: number;
  /** Messages per second in all; 0 = as fast as the server takes them. */
  rate: number;
  size: number;
  /**
   * Senders write as fast as their sockets take, with no window; a receiver or sender the server
   * cuts is counted, not a failure; no progress for STALL_MS ends the run (stalled), not fails it.
   */
  flood?: boolean;
  /** What is measured, for the progress line ("chat", "raw"). */
  label: string;
  /**
   * The measured servers' process ids, for their CPU time and memory (none for --server): one, or
   * one per node of a cluster, in the order of the nodes.
   */
  pids?: number[];
}

/** What a flood run adds to the figures. */
export interface FloodResult {
  /** Send frames the senders wrote. */
  sent: number;
  /** Receivers the server cut (goodbye or a lost connection), and of them those told goodbye. */
  receiversCut: number;
  receiversCutWithGoodbye: number;
  /** Seconds from the first send to the first receiver cut; null when none was. */
  firstCutS: number | null;
  sendersCut: number;
  /** `error` frames the server sent to receivers and senders, and the first of them. */
  errors: number;
  firstError: string | null;
  /**
   * Some receiver was not cut, every one not cut got every message, and every sender not cut
   * every ack (false when the server cut every receiver: nobody got everything).
   */
  complete: boolean;
  /** The run ended because nothing moved for STALL_MS. */
  stalled: boolean;
}

export interface LoadResult {
  loginMs: number;
  /** Bytes the receivers and senders got while they all joined (welcomes, presence). */
  joinBytes: number;
  delivered: number;
  /**
   * Bytes the receivers read per message delivered (frames, pongs, TLS records' plaintext): what
   * the load generator decrypts and walks, its main cost.
   */
  bytesPerDelivery: number;
  acks: number;
  /** Seconds from the first send to the last delivery. */
  seconds: number;
  /** Seconds over which the CPU times were taken (a stalled flood: to its last movement). */
  cpuWindowS: number;
  deliveredPerS: number;
  persistedPerS: number;
  latency: Latency | null;
  /**
   * A cluster's probes apart: on the senders' node (same) and on the others (cross), whose
   * messages crossed the bus.
   */
  nodeLatency?: { same: Latency | null; cross: Latency | null };
  /** Per server (node), in the order of `pids`: CPU seconds during the load, peak RSS in bytes. */
  servers: { cpuS: number | null; peak: number | null }[];
  /** Messages per second the senders actually sent (with --rate: did the schedule hold). */
  sentPerS: number;
  /** CPU seconds used by this process (the load generator) during the load. */
  loadCpuS: number | null;
  /** CPU seconds used by the server (summed over a cluster's nodes) during the load. */
  serverCpuS: number | null;
  /** CPU seconds other processes used during the load: they take it from the two measured. */
  otherCpuS: number | null;
  /** The server's peak RSS (VmHWM) as last read during or right after the load, bytes (a cluster: summed over the nodes). */
  serverPeak: number | null;
  /** The server's RSS (VmRSS) when the load ended, before the clients left, bytes (a cluster: summed). */
  serverRssEnd: number | null;
  flood?: FloodResult;
}

/** How often the server's memory is read during the load. */
export const MEMORY_SAMPLE_MS = 250;

/**
 * Reads a process's memory every MEMORY_SAMPLE_MS while a load runs, so a peak is known even
 * when the process dies before the end (the kernel's VmHWM dies with it).
 */
class MemorySampler {
  peak: number | null = null;
  rss: number | null = null;
  #reading = false;
  #timer: ReturnType<typeof setInterval>;

  constructor(readonly pid: number) {
    this.#timer = setInterval(() => {
      if (this.#reading) return;
      this.#reading = true;
      void this.#read().finally(() => (this.#reading = false));
    }, MEMORY_SAMPLE_MS);
  }

  async #read(): Promise<void> {
    const memory = await memoryOf(this.pid);
    if (!memory) return;
    this.peak = Math.max(this.peak ?? 0, memory.peak);
    this.rss = memory.rss;
  }

  /** Stops sampling after one last reading. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#read();
  }
}

/** Picks the probes among `n` receivers on `nodes` nodes (receiver i on node i % nodes). */
export function probesOf(n: number, nodes: number): Set<number> {
  const probes = new Set<number>();
  if (nodes <= 1) {
    const every = Math.max(1, Math.floor(n / Math.min(PROBES, n)));
    for (let i = 0; i < n && probes.size < PROBES; i += every) probes.add(i);
    return probes;
  }
  // spread over the login order as on one server, each nudged onto the next node in turn, so
  // every node has one (and the senders' node, the first, at least one)
  const count = Math.min(n, Math.max(PROBES, nodes));
  for (let k = 0; k < count; k++) {
    const base = Math.floor((k * n) / count);
    let i = base - (base % nodes) + (k % nodes);
    if (i >= n) i -= nodes;
    if (i >= 0) probes.add(i);
  }
  return probes;
}

/**
 * Logs in the receivers and senders, runs the load to the last delivery, closes them all. With
 * several targets (the nodes of a cluster), receiver i goes to node i % N and every sender to
 * the first.
 */
export async function runLoad(
  targets: Target | Target[],
  options: LoadOptions,
  run: Run,
): Promise<LoadResult> {
  const nodes = Array.isArray(targets) ? targets : [targets];
  const { clients: n, senders: s } = options;
  const probes = probesOf(n, nodes.length);
  const receivers = await loginMany(
    nodes[0],
    n,
    run,
    (i) => ({
      name: `bench-r${i}`,
      label: nodes.length > 1
        ? `receiver ${i + 1} (node ${(i % nodes.length) + 1})`
        : `receiver ${i + 1}`,
      role: probes.has(i) ? "probe" : "receiver",
      node: i % nodes.length,
    }),
    `${options.label}: receivers`,
    nodes,
  );
  const senders = await loginMany(
    nodes[0],
    s,
    run,
    (i) => ({ name: `bench-s${i}`, label: `sender ${i + 1}`, role: "sender" }),
    `${options.label}: senders`,
  );
  const all = [...receivers.clients, ...senders.clients];
  run.stage({
    progress: () => 0,
    outstanding: () => false,
    status: () => `${options.label}: waiting for the joins to settle`,
    stalled: () => "",
  });
  await settle(all, run);
  const joinBytes = all.reduce((sum, client) => sum + client.bytes, 0);
  const receivedBefore = receivers.clients.reduce((sum, client) => sum + client.bytes, 0);

  const driver = new Driver(receivers.clients, senders.clients, options, run);
  const pids = options.pids ?? [];
  const memory = pids.map((pid) => new MemorySampler(pid));
  const before = await cpuTimes(pids);
  // a stalled flood's CPU is counted to its last movement, not through the wait for the stall
  let moved: CpuTimes | undefined;
  let reading = false;
  driver.onMoved = () => {
    if (reading) return;
    reading = true;
    void cpuTimes(pids).then((times) => (moved = times)).finally(() => (reading = false));
  };
  try {
    await driver.start();
  } finally {
    await Promise.all(memory.map((sampler) => sampler.stop()));
  }
  const after = driver.stalled && moved ? moved : await cpuTimes(pids);
  const cpuWindowS = (after.at - before.at) / 1000;
  const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
  const loadCpuS = minus(after.load, before.load);
  const serverCpuS = minus(after.server, before.server);
  const machineCpuS = minus(after.machine, before.machine);
  const received = receivers.clients.reduce((sum, client) => sum + client.bytes, 0) -
    receivedBefore;
  for (const client of all) client.close();
  if (driver.receiversCut + driver.sendersCut > 0 && run.child) {
    // everyone cut at once is most often a server that died: say that, not "all cut"
    await run.race(sleep(LOST_GRACE_MS));
    if (run.child.exited) throw new Error(run.child.exitMessage());
  }

  const seconds = (driver.doneAt - driver.startedAt) / 1000;
  const ackSeconds = (driver.ackedAt - driver.startedAt) / 1000;
  const sendSeconds = (driver.lastSendAt - driver.startedAt) / 1000;
  const probed = receivers.clients.filter((c) => c.latencies);
  const servers = pids.map((_, i) => ({
    cpuS: minus(after.servers[i], before.servers[i]),
    peak: memory[i].peak,
  }));
  const total = (values: (number | null)[]) =>
    values.length === 0 || values.some((v) => v === null)
      ? null
      : values.reduce((a, b) => a! + b!, 0);
  return {
    loginMs: receivers.ms,
    joinBytes,
    delivered: driver.delivered,
    bytesPerDelivery: driver.delivered > 0 ? received / driver.delivered : 0,
    acks: driver.acked,
    seconds,
    cpuWindowS,
    deliveredPerS: perSecond(driver.delivered, seconds),
    persistedPerS: perSecond(driver.acked, ackSeconds),
    latency: probed.length ? summarizeClients(probed) : null,
    nodeLatency: nodes.length > 1
      ? {
        same: summarizeClients(probed.filter((c) => c.node === 0)),
        cross: summarizeClients(probed.filter((c) => c.node !== 0)),
      }
      : undefined,
    servers,
    sentPerS: perSecond(driver.sent, sendSeconds || seconds),
    loadCpuS,
    serverCpuS,
    // what neither we nor the server used: other processes (the kernel's own work is small)
    otherCpuS: machineCpuS === null || loadCpuS === null || serverCpuS === null
      ? null
      : Math.max(0, machineCpuS - loadCpuS - serverCpuS),
    serverPeak: total(memory.map((m) => m.peak)),
    serverRssEnd: total(memory.map((m) => m.rss)),
    flood: options.flood
      ? {
        sent: driver.sent,
        receiversCut: driver.receiversCut,
        receiversCutWithGoodbye: driver.receiversCutWithGoodbye,
        firstCutS: driver.firstCutAt > 0 ? (driver.firstCutAt - driver.startedAt) / 1000 : null,
        sendersCut: driver.sendersCut,
        errors: driver.errors,
        firstError: driver.firstError,
        complete: driver.complete,
        stalled: driver.stalled,
      }
      : undefined,
  };
}

/** CPU seconds used so far by this process, the servers (when known) and the whole machine. */
interface CpuTimes {
  /** performance.now() when they were read. */
  at: number;
  load: number | null;
  /** Summed over `servers` (null when there are none, or one is unknown). */
  server: number | null;
  servers: (number | null)[];
  machine: number | null;
}

async function cpuTimes(pids: number[]): Promise<CpuTimes> {
  const at = performance.now();
  const [load, machine, ...servers] = await Promise.all([
    cpuSecondsOf(Deno.pid),
    machineBusySeconds(),
    ...pids.map((pid) => cpuSecondsOf(pid)),
  ]);
  const server = servers.length === 0 || servers.some((s) => s === null)
    ? null
    : servers.reduce((a, b) => a! + b!, 0);
  return { at, load, server, servers, machine };
}

/** `count` per second over `seconds`; 0 when no time passed (nothing arrived in a flood). */
function perSecond(count: number, seconds: number): number {
  return seconds > 0 ? count / seconds : 0;
}

type Latency = { p50: number; p99: number; max: number };

function summarizeClients(probes: Client[]): Latency | null {
  return summarize(probes.map((p) => p.latencies!.data()));
}

/**
 * Drives the senders and follows the receivers until every message reached every receiver (in a
 * flood: every receiver the server did not cut, or until nothing moves for STALL_MS).
 */
class Driver {
  delivered = 0;
  acked = 0;
  sent = 0;
  startedAt = 0;
  /** The last delivery (paced runs: the one that completed the target). */
  doneAt = 0;
  /** The last acknowledgement (paced runs: the one that completed them). */
  ackedAt = 0;
  lastSendAt = 0;
  /** Set while some sender waits for deliveries to make room. */
  blocked = false;
  /** Flood runs: connections the server cut, and when the first receiver was (0: none). */
  receiversCut = 0;
  receiversCutWithGoodbye = 0;
  sendersCut = 0;
  firstCutAt = 0;
  /** Flood runs: `error` frames the server sent, and the first of them. */
  errors = 0;
  firstError: string | null = null;
  /** Flood runs: how the run ended. */
  complete = false;
  stalled = false;
  /** Flood runs: called (at most every STALL_CHECK_MS) when something moved since last time. */
  onMoved?: () => void;
  readonly window: number;
  readonly #target: number;
  readonly #senders: SenderState[];
  /** Flood runs: receivers not cut that have every message. */
  #filled = 0;
  #done!: () => void;
  #ticker?: ReturnType<typeof setInterval>;
  #stallTimer?: ReturnType<typeof setInterval>;

  constructor(
    readonly receivers: Client[],
    senders: Client[],
    readonly options: LoadOptions,
    readonly run: Run,
  ) {
    const n = receivers.length;
    const m = options.messages;
    this.window = Math.max(MIN_WINDOW, Math.min(MAX_WINDOW, Math.floor(WINDOW_FRAMES / n)));
    this.#target = n * m;
    const perSenderWindow = Math.max(1, Math.ceil(this.window / senders.length));
    this.#senders = senders.map((client, i) =>
      new SenderState(
        client,
        i,
        Math.floor(m / senders.length) + (i < m % senders.length ? 1 : 0),
        perSenderWindow,
        this,
      )
    );
    for (const receiver of receivers) {
      receiver.scanner.delivered = 0;
      if (receiver.role === "probe") receiver.latencies = new Samples();
      let seen = 0;
      receiver.onChunk = () => {
        const now = receiver.scanner.delivered;
        if (now === seen) return;
        this.delivered += now - seen;
        if (options.flood) {
          this.doneAt = performance.now();
          if (seen < m && now >= m && receiver.cut === null) {
            this.#filled++;
            this.#check();
          }
        } else if (this.delivered >= this.#target && this.doneAt === 0) {
          this.doneAt = performance.now();
          this.#check();
        }
        seen = now;
        if (this.blocked) this.unblock();
      };
      if (options.flood) {
        receiver.onError = (said) => this.error(receiver, said);
        receiver.onCut = (how) => {
          this.receiversCut++;
          if (how === "goodbye") this.receiversCutWithGoodbye++;
          if (this.firstCutAt === 0) this.firstCutAt = performance.now();
          if (seen >= m) this.#filled--; // it had everything, but it is no longer waited for
          this.#check();
        };
      }
    }
  }

  /** Messages that may still be sent before the average receiver catches up. */
  get room(): number {
    return this.window - (this.sent - Math.floor(this.delivered / this.receivers.length));
  }

  /** A sender received acks. */
  acknowledged(count: number): void {
    this.acked += count;
    if (this.options.flood) {
      this.ackedAt = performance.now();
      this.#check();
    } else if (this.acked >= this.options.messages && this.ackedAt === 0) {
      this.ackedAt = performance.now();
      this.#check();
    }
  }

  /** The server sent an `error` to a client during a flood. */
  error(client: Client, said: string): void {
    this.errors++;
    this.firstError ??= `${client.label}: ${said}`;
  }

  /** A flood sender was cut by the server. */
  senderCut(): void {
    this.sendersCut++;
    this.#check();
  }

  unblock(): void {
    if (this.room <= 0) return;
    this.blocked = false;
    for (const sender of this.#senders) sender.pump();
  }

  #check(): void {
    if (!this.options.flood) {
      if (this.doneAt > 0 && this.ackedAt > 0) this.#done();
      return;
    }
    const receiversDone = this.#filled + this.receiversCut === this.receivers.length;
    if (receiversDone && this.#senders.every((sender) => sender.finished)) {
      this.complete = this.#filled > 0;
      this.#done();
    }
  }

  async start(): Promise<void> {
    const { messages: m, rate, label, flood } = this.options;
    const target = this.#target;
    const finished = new Promise<void>((resolve) => (this.#done = resolve));
    const progress = () =>
      this.delivered + this.acked + this.sent + this.receiversCut + this.sendersCut;
    this.run.stage({
      progress,
      // a flood watches for stalls itself: one ends the run, it does not fail it
      outstanding: () =>
        !flood &&
        (this.delivered < this.sent * this.receivers.length || this.acked < this.sent),
      status: () => {
        const seconds = (performance.now() - this.startedAt) / 1000;
        const pct = Math.floor((100 * this.delivered) / target);
        const cut = flood ? `, ${this.receiversCut} receivers cut` : "";
        return `${label}: ${pct}% delivered (${this.delivered} of ${target}), ` +
          `${this.acked} of ${m} acknowledged${cut}, ${rateText(this.delivered / seconds)}/s`;
      },
      stalled: () =>
        `the run stalled: nothing was sent, delivered or acknowledged for ${
          STALL_MS / 1000
        } s (${this.delivered} of ${target} deliveries, ${this.acked} of ${m} acknowledgements)`,
    });
    this.startedAt = performance.now();
    if (flood) {
      let last = -1;
      let lastChange = this.startedAt;
      this.#stallTimer = setInterval(() => {
        const now = performance.now();
        if (progress() !== last) {
          last = progress();
          lastChange = now;
          this.onMoved?.();
        } else if (now - lastChange > STALL_MS) {
          this.stalled = true;
          this.#done();
        }
      }, STALL_CHECK_MS);
    }
    if (rate > 0) {
      this.#ticker = setInterval(() => {
        const due = Math.min(
          m,
          Math.floor(((performance.now() - this.startedAt) * rate) / 1000) + 1,
        );
        for (const sender of this.#senders) sender.due(due);
      }, 1);
    }
    for (const sender of this.#senders) sender.due(rate > 0 ? 1 : m);
    try {
      await this.run.race(finished);
    } finally {
      clearInterval(this.#ticker);
      clearInterval(this.#stallTimer);
      this.run.stage(undefined);
    }
  }

  /** The time written into a sender's message number `k` (counted over all senders). */
  stamp(k: number): number {
    return this.options.rate > 0 ? this.#origin + (k * 1000) / this.options.rate : clockMs();
  }

  get #origin(): number {
    return performance.timeOrigin + this.startedAt;
  }
}

const ENCODER = new TextEncoder();

/** One sender's schedule, window and batch buffer. */
class SenderState {
  #sent = 0;
  #acked = 0;
  #due = 0;
  #busy = false;
  readonly #batch: Uint8Array;
  readonly #pad: string;

  constructor(
    readonly client: Client,
    readonly index: number,
    readonly quota: number,
    readonly window: number,
    readonly driver: Driver,
  ) {
    const size = driver.options.size;
    this.#pad = "x".repeat(size);
    this.#batch = new Uint8Array(MAX_BATCH * (size + 96));
    client.onChunk = () => {
      const acks = client.scanner.acks;
      if (acks === this.#acked) return;
      const count = acks - this.#acked;
      this.#acked = acks; // before the driver looks at whether this sender is finished
      driver.acknowledged(count);
      this.pump();
    };
    if (driver.options.flood) {
      client.onCut = () => driver.senderCut();
      client.onError = (said) => driver.error(client, said);
    }
  }

  /** Flood runs: cut, or every message written and acknowledged. */
  get finished(): boolean {
    return this.client.cut !== null || (this.#sent === this.quota && this.#acked >= this.#sent);
  }

  /** `total` messages (over all senders, in order) are due: this sender's share of them. */
  due(total: number): void {
    const senders = this.driver.options.senders;
    const mine = Math.min(this.quota, Math.floor((total - this.index + senders - 1) / senders));
    if (mine > this.#due) {
      this.#due = mine;
      this.pump();
    }
  }

  pump(): void {
    if (this.#busy || this.client.cut !== null) return;
    const driver = this.driver;
    const flood = driver.options.flood;
    // a flood has no window: the socket's own pace is the only limit
    const room = flood ? MAX_BATCH : driver.room;
    const count = Math.min(
      MAX_BATCH,
      this.#due - this.#sent,
      flood ? MAX_BATCH : this.window - (this.#sent - this.#acked),
      room,
    );
    if (count <= 0) {
      if (room <= 0 && this.#sent < this.#due) driver.blocked = true;
      return;
    }
    const size = driver.options.size;
    const senders = driver.options.senders;
    let at = 0;
    const now = driver.options.rate > 0 ? 0 : clockMs();
    for (let j = 0; j < count; j++) {
      const k = (this.#sent + j) * senders + this.index;
      const stamp = (driver.options.rate > 0 ? driver.stamp(k) : now).toFixed(3);
      const text = `${stamp} ${this.#pad.slice(0, size - stamp.length - 1)}`;
      const json = `{"type":"send","ref":"${(this.#sent + j).toString(36)}","text":"${text}"}`;
      const { written } = ENCODER.encodeInto(json, this.#batch.subarray(at + 4));
      const b = this.#batch;
      b[at] = written >>> 24;
      b[at + 1] = (written >>> 16) & 0xff;
      b[at + 2] = (written >>> 8) & 0xff;
      b[at + 3] = written & 0xff;
      at += 4 + written;
    }
    this.#sent += count;
    driver.sent += count;
    driver.lastSendAt = performance.now();
    this.#busy = true;
    this.client.write(this.#batch.subarray(0, at)).then(() => {
      this.#busy = false;
      // a flood's sends are over when the socket took the last of them
      if (flood) driver.lastSendAt = performance.now();
      this.pump();
    });
  }
}

function rateText(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return "0";
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond.toFixed(0);
}

export interface IdleResult {
  idle: number;
  loginMs: number;
  /** Bytes the idle connections got while they all joined (welcomes, presence). */
  joinBytes: number;
  /** Server RSS before and after the idle connections logged in, bytes (null without a pid). */
  rssBefore: number | null;
  rssAfter: number | null;
  /** (after − before) / idle, bytes. */
  perConnection: number | null;
}

/**
 * Logs in `count` connections that then only ping, waits for the server to go quiet, and
 * measures its RSS before and after. Closes them before returning.
 */
export async function runIdle(
  target: Target,
  count: number,
  run: Run,
  pid?: number,
): Promise<IdleResult> {
  if (pid) await quiet(pid, run);
  const before = pid ? (await memoryOf(pid))?.rss ?? null : null;
  const { clients, ms } = await loginMany(
    target,
    count,
    run,
    (i) => ({ name: `bench-i${i}`, label: `idle connection ${i + 1}`, role: "idle" }),
    "idle connections",
  );
  if (pid) {
    run.stage({
      progress: () => 0,
      outstanding: () => false,
      status: () => `idle connections: ${count} logged in, waiting for the server to go quiet`,
      stalled: () => "",
    });
    await quiet(pid, run);
  }
  const after = pid ? (await memoryOf(pid))?.rss ?? null : null;
  const joinBytes = clients.reduce((sum, client) => sum + client.bytes, 0);
  run.stage(undefined);
  for (const client of clients) client.close();
  return {
    idle: count,
    loginMs: ms,
    joinBytes,
    rssBefore: before,
    rssAfter: after,
    perConnection: before === null || after === null ? null : (after - before) / count,
  };
}

/** Waits (at most QUIET_MAX_MS) until the process used under 5 % of a core for half a second. */
async function quiet(pid: number, run: Run): Promise<void> {
  const end = performance.now() + QUIET_MAX_MS;
  let last = await cpuSecondsOf(pid);
  while (last !== null && performance.now() < end) {
    await run.race(sleep(500));
    const now = await cpuSecondsOf(pid);
    if (now === null || now - last < 0.025) return;
    last = now;
  }
}

/** Longest wait for the server to go quiet before measuring its memory. */
export const QUIET_MAX_MS = 60_000;
