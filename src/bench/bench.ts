/**
 * `chat bench`: measures the server on this machine (issue 6, docs/BENCHMARKS.md).
 *
 * 1. Starts this program as `chat serve` on 127.0.0.1 with a temp db and certs (or uses
 *    `--server`), with the rate limits off (per user and per address) and room for every
 *    connection and new id from one address. With `--store`, the server keeps everything in that
 *    PostgreSQL instead; with `--cluster N`, N such servers share it and `--bus` (one certs dir,
 *    so one CA: the first node makes it, then the others start), receivers spread over them and
 *    every sender on the first.
 * 2. Logs in the receivers and senders over real TLS, runs the load to the last delivery
 *    (load.ts; with `--flood`, to the last delivery to a receiver not cut, or a stall), reads
 *    the server's peak RSS, stops it.
 * 3. With `--raw`, the same load against the bare forwarder (forwarder.ts); ours as a ratio.
 * 4. With `--idle N`, N idle connections to a fresh server, and its RSS per connection.
 * 5. A table on stdout, or one JSON line with `--json`. The temp dir is removed in every case.
 */
import { join } from "node:path";
import Table from "cli-table3";
import { BENCH_HELP, type BenchArgs, parseBenchArgs, type RawTls } from "../cli/args.ts";
import { loadTestServeArgs, localServeArgv } from "../cli/options.ts";
import { runForwarder } from "./forwarder.ts";
import {
  type IdleResult,
  type LoadResult,
  Run,
  runIdle,
  runLoad,
  STALL_MS,
  type Target,
} from "./load.ts";
import { type Child, memoryOf, openFileLimit, startChild } from "./process.ts";
import { sanitizeLine } from "../ui/sanitize.ts";

/** Connections one server may get from the bench's single address. */
const CONNECTIONS_PER_ADDRESS = 1_000_000;
/** CPU other processes may take during the load (% of a core) before the figures are called noisy. */
const NOISY_OTHERS_PCT = 25;
/** Shortest load whose CPU share is reported. */
const MIN_CPU_SECONDS = 1;
/** Files the bench and the server need besides their connections. */
const SPARE_FILES = 64;

export async function runBench(argv: string[]): Promise<number> {
  const args = parseBenchArgs(argv);
  if (args.help) {
    console.log(BENCH_HELP.trimEnd());
    return 0;
  }
  if (args.forwarder) {
    if (!args.certs) throw new Error("the forwarder needs --certs DIR");
    return await runForwarder(args.port, args.certs, args.rawTls);
  }
  await checkFileLimit(args);

  const run = new Run();
  const interrupt = () => run.fail(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", interrupt);
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-" });
  const certs = join(dir, "certs");
  const children = new Set<Child>();
  const start = async (what: string, args: string[]) => {
    run.note(`starting the ${what}`);
    const child = await run.race(startChild(what, args, (child) => children.add(child)));
    run.child = child;
    return child;
  };
  const stop = async (child: Child) => {
    run.child = undefined;
    await child.stop();
    children.delete(child);
  };
  const engines = [
    ...(args.store ? ["--store", args.store] : []),
    ...(args.bus ? ["--bus", args.bus.join(",")] : []),
  ];
  const serveArgv = (db: string) =>
    localServeArgv(join(dir, db), certs, [
      ...loadTestServeArgs(CONNECTIONS_PER_ADDRESS),
      ...engines,
    ]);
  const serve = (db: string) => start("server", serveArgv(db));
  /** The nodes of --cluster: the first makes the CA and certificate, the rest start together. */
  const cluster = async (): Promise<Child[]> => {
    const first = await serve("node1.db");
    run.note(args.nodes === 2 ? "starting node 2" : `starting nodes 2 to ${args.nodes}`);
    const rest = await run.race(Promise.all(
      Array.from(
        { length: args.nodes - 1 },
        (_, i) =>
          startChild(`server node ${i + 2}`, serveArgv(`node${i + 2}.db`), (c) => children.add(c)),
      ),
    ));
    const nodes = [first, ...rest];
    // the watchdog and a lost connection look at whichever node died first
    run.child = {
      get exited() {
        return nodes.some((node) => node.exited);
      },
      exitMessage: () => nodes.find((node) => node.exited)?.exitMessage() ?? "",
    };
    return nodes;
  };
  const local = async (port: number): Promise<Target> => ({
    host: "127.0.0.1",
    port,
    caCerts: [await Deno.readTextFile(join(certs, "ca.pem"))],
  });
  const load = {
    clients: args.clients,
    senders: args.senders,
    messages: args.messages,
    rate: args.rate,
    size: args.size,
    flood: args.flood,
  };

  try {
    let ours: LoadResult;
    let peak: number | null = null;
    let nodePeaks: (number | null)[] | undefined;
    if (args.server) {
      const target = { ...args.server, caCerts: await caFor(args) };
      ours = await runLoad(target, { ...load, label: "chat" }, run);
    } else if (args.nodes > 1) {
      const nodes = await cluster();
      const targets = await Promise.all(nodes.map((node) => local(node.port)));
      ours = await runLoad(targets, { ...load, label: "chat", pids: nodes.map((n) => n.pid) }, run);
      nodePeaks = await Promise.all(
        nodes.map(async (node, i) => (await memoryOf(node.pid))?.peak ?? ours.servers[i].peak),
      );
      peak = nodePeaks.some((p) => p === null) ? null : nodePeaks.reduce((a, b) => a! + b!, 0);
      run.child = undefined;
      await Promise.all(nodes.map(stop));
    } else {
      const server = await serve("chat.db");
      ours = await runLoad(
        await local(server.port),
        { ...load, label: "chat", pids: [server.pid] },
        run,
      );
      // VmHWM is the kernel's own peak; the samples taken during the load stand in for it
      // only if the server died before this reading
      peak = (await memoryOf(server.pid))?.peak ?? ours.serverPeak;
      await stop(server);
    }

    let raw: { result: LoadResult; peak: number | null } | undefined;
    if (args.raw) {
      const forwarder = await start("raw forwarder", [
        "bench",
        "--forwarder",
        "--port",
        "0",
        "--certs",
        certs,
        "--raw-tls",
        args.rawTls,
      ]);
      const result = await runLoad(
        await local(forwarder.port),
        { ...load, label: "raw", pids: [forwarder.pid] },
        run,
      );
      raw = { result, peak: (await memoryOf(forwarder.pid))?.peak ?? null };
      await stop(forwarder);
    }

    let idle: IdleResult | undefined;
    if (args.idle > 0) {
      if (args.server) {
        idle = await runIdle({ ...args.server, caCerts: await caFor(args) }, args.idle, run);
      } else {
        const server = await serve("idle.db");
        idle = await runIdle(await local(server.port), args.idle, run, server.pid);
        await stop(server);
      }
    }
    run.close();

    const report = figures(args, ours, peak, raw, idle, nodePeaks);
    const others = Math.max(report.other_cpu_pct ?? 0, report.raw_other_cpu_pct ?? 0);
    if (ours.flood?.firstError) {
      console.error(
        `chat bench: the server sent ${report.errors} error(s) during the flood; the first: ` +
          sanitizeLine(ours.flood.firstError),
      );
    }
    if (report.stalled) {
      const why = report.senders_cut === args.senders ? " (the server had cut every sender)" : "";
      console.error(
        `chat bench: the flood stalled: nothing moved for ${STALL_MS / 1000} s${why}; ` +
          `${report.delivered} of ${report.expected} deliveries arrived`,
      );
    }
    if (others >= NOISY_OTHERS_PCT && args.store) {
      // PostgreSQL and NATS are other processes too: their share is part of the cost, not noise
      console.error(
        `chat bench: other processes, PostgreSQL${args.bus ? " and NATS" : ""} among them, ` +
          `took ${others} % of a core during the load`,
      );
    } else if (others >= NOISY_OTHERS_PCT) {
      console.error(
        `chat bench: other processes took ${others} % of a core during the load; ` +
          "the figures are lower than this machine can do",
      );
    }
    console.log(args.json ? JSON.stringify(report) : table(args, report));
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
    run.close();
    await Promise.all([...children].map((child) => child.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The CA for --server: --ca FILE, else ./certs/ca.pem when present, else the system's roots. */
async function caFor(args: BenchArgs): Promise<string[] | undefined> {
  const file = args.ca ?? "certs/ca.pem";
  try {
    return [await Deno.readTextFile(file)];
  } catch {
    if (args.ca) throw new Error(`cannot read the CA certificate ${args.ca}`);
    return undefined;
  }
}

/** Refuses to start a run the open-file limit would break halfway. */
async function checkFileLimit(args: BenchArgs): Promise<void> {
  const limit = await openFileLimit();
  const needed = Math.max(args.clients + args.senders, args.idle) + SPARE_FILES;
  if (!limit || limit.soft >= needed) return;
  const raise = limit.hard >= needed
    ? `raise it with "ulimit -n ${needed}" and run it again`
    : `the hard limit is ${limit.hard}, so ask for fewer connections or raise the hard limit`;
  throw new Error(
    `this run needs about ${needed} open files per process but the limit is ${limit.soft}; ${raise}`,
  );
}

/** The final figures, named as the JSON line names them. */
export interface Figures {
  clients: number;
  senders: number;
  messages: number;
  size: number;
  rate: number;
  delivered: number;
  delivered_per_s: number;
  /** Bytes the receivers read per delivered message. */
  bytes_per_message: number;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  server_rss_mb: number | null;
  persisted_per_s: number;
  login_ms: number;
  /** Bytes each client received while all of them joined: flat when presence is linear. */
  join_bytes_per_client: number;
  seconds: number;
  sent_per_s: number;
  server_cpu_pct: number | null;
  /**
   * Server CPU time per delivered message, ns: what a delivery costs the server, a yardstick that
   * holds when the load generator, not the server, sets the pace.
   */
  server_ns_per_delivery: number | null;
  load_cpu_pct: number | null;
  /** CPU other processes took during the load, % of one core: above a few %, figures are noisy. */
  other_cpu_pct: number | null;
  /** Servers measured: 1, or the nodes of --cluster (then CPU and RSS above are their sums). */
  nodes: number;
  /** What the bench's own server kept its data in (null for --server: not known). */
  store: "sqlite" | "postgres" | null;
  /**
   * --cluster: latency of the probes on the senders' node (node 1) and on the other nodes, whose
   * messages crossed the bus.
   */
  same_node_p50_ms?: number | null;
  same_node_p99_ms?: number | null;
  same_node_max_ms?: number | null;
  cross_node_p50_ms?: number | null;
  cross_node_p99_ms?: number | null;
  cross_node_max_ms?: number | null;
  /** --cluster: each node's CPU during the load (% of a core) and peak RSS (MiB), node 1 first. */
  node_cpu_pct?: (number | null)[];
  node_rss_mb?: (number | null)[];
  /** The TLS stack of the raw forwarder: node (the server's) or deno (Deno.listenTls). */
  raw_tls?: RawTls;
  raw_delivered_per_s?: number;
  raw_bytes_per_message?: number;
  raw_p50_ms?: number | null;
  raw_p99_ms?: number | null;
  raw_max_ms?: number | null;
  raw_rss_mb?: number | null;
  raw_login_ms?: number;
  raw_cpu_pct?: number | null;
  raw_ns_per_delivery?: number | null;
  raw_load_cpu_pct?: number | null;
  raw_other_cpu_pct?: number | null;
  ratio?: number;
  /** --flood: senders wrote without waiting; what arrived, and whom the server cut. */
  flood?: true;
  /** Deliveries a flood should make: clients × messages. */
  expected?: number;
  /** Send frames written, and acks the senders received. */
  sent?: number;
  acks?: number;
  /** Receivers the server cut (goodbye or a lost connection), and of them those told goodbye. */
  receivers_cut?: number;
  receivers_cut_goodbye?: number;
  /** Seconds from the first send to the first receiver cut. */
  first_cut_s?: number | null;
  senders_cut?: number;
  /** `error` frames the server sent to the flood's clients (refused sends, reasons for a cut). */
  errors?: number;
  /** Some receiver was not cut, and every one not cut got every message (senders: every ack). */
  complete?: boolean;
  /** The flood ended because nothing moved for STALL_MS. */
  stalled?: boolean;
  /** Server RSS (VmRSS) when the load ended, before the clients left. */
  server_rss_end_mb?: number | null;
  idle?: number;
  idle_login_ms?: number;
  idle_join_bytes_per_connection?: number;
  idle_rss_before_mb?: number | null;
  idle_rss_after_mb?: number | null;
  rss_per_idle_bytes?: number | null;
}

function figures(
  args: BenchArgs,
  ours: LoadResult,
  peak: number | null,
  raw: { result: LoadResult; peak: number | null } | undefined,
  idle: IdleResult | undefined,
  nodePeaks?: (number | null)[],
): Figures {
  const out: Figures = {
    clients: args.clients,
    senders: args.senders,
    messages: args.messages,
    size: args.size,
    rate: args.rate,
    delivered: ours.delivered,
    delivered_per_s: Math.round(ours.deliveredPerS),
    bytes_per_message: Math.round(ours.bytesPerDelivery),
    p50_ms: round(ours.latency?.p50, 2),
    p99_ms: round(ours.latency?.p99, 2),
    max_ms: round(ours.latency?.max, 2),
    server_rss_mb: mb(peak),
    persisted_per_s: Math.round(ours.persistedPerS),
    login_ms: Math.round(ours.loginMs),
    join_bytes_per_client: Math.round(ours.joinBytes / (args.clients + args.senders)),
    seconds: round(ours.seconds, 3)!,
    sent_per_s: Math.round(ours.sentPerS),
    server_cpu_pct: pct(ours.serverCpuS, ours.cpuWindowS),
    server_ns_per_delivery: perDelivery(ours),
    load_cpu_pct: pct(ours.loadCpuS, ours.cpuWindowS),
    other_cpu_pct: pct(ours.otherCpuS, ours.cpuWindowS),
    nodes: args.nodes,
    store: args.server ? null : args.store ? "postgres" : "sqlite",
  };
  if (ours.nodeLatency) {
    const { same, cross } = ours.nodeLatency;
    out.same_node_p50_ms = round(same?.p50, 2);
    out.same_node_p99_ms = round(same?.p99, 2);
    out.same_node_max_ms = round(same?.max, 2);
    out.cross_node_p50_ms = round(cross?.p50, 2);
    out.cross_node_p99_ms = round(cross?.p99, 2);
    out.cross_node_max_ms = round(cross?.max, 2);
  }
  if (nodePeaks) {
    out.node_cpu_pct = ours.servers.map((s) => pct(s.cpuS, ours.cpuWindowS));
    out.node_rss_mb = nodePeaks.map(mb);
  }
  if (ours.flood) {
    const f = ours.flood;
    out.flood = true;
    out.expected = args.clients * args.messages;
    out.sent = f.sent;
    out.acks = ours.acks;
    out.receivers_cut = f.receiversCut;
    out.receivers_cut_goodbye = f.receiversCutWithGoodbye;
    out.first_cut_s = round(f.firstCutS, 3);
    out.senders_cut = f.sendersCut;
    out.errors = f.errors;
    out.complete = f.complete;
    out.stalled = f.stalled;
    out.server_rss_end_mb = mb(ours.serverRssEnd);
  }
  if (raw) {
    const r = raw.result;
    out.raw_tls = args.rawTls;
    out.raw_delivered_per_s = Math.round(r.deliveredPerS);
    out.raw_bytes_per_message = Math.round(r.bytesPerDelivery);
    out.raw_p50_ms = round(r.latency?.p50, 2);
    out.raw_p99_ms = round(r.latency?.p99, 2);
    out.raw_max_ms = round(r.latency?.max, 2);
    out.raw_rss_mb = mb(raw.peak);
    out.raw_login_ms = Math.round(r.loginMs);
    out.raw_cpu_pct = pct(r.serverCpuS, r.cpuWindowS);
    out.raw_ns_per_delivery = perDelivery(r);
    out.raw_load_cpu_pct = pct(r.loadCpuS, r.cpuWindowS);
    out.raw_other_cpu_pct = pct(r.otherCpuS, r.cpuWindowS);
    out.ratio = round(ours.deliveredPerS / r.deliveredPerS, 3)!;
  }
  if (idle) {
    out.idle = idle.idle;
    out.idle_login_ms = Math.round(idle.loginMs);
    out.idle_join_bytes_per_connection = Math.round(idle.joinBytes / idle.idle);
    out.idle_rss_before_mb = mb(idle.rssBefore);
    out.idle_rss_after_mb = mb(idle.rssAfter);
    out.rss_per_idle_bytes = idle.perConnection === null ? null : Math.round(idle.perConnection);
  }
  return out;
}

function round(value: number | undefined | null, digits: number): number | null {
  if (value === undefined || value === null || !Number.isFinite(value)) return null;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function mb(bytes: number | null): number | null {
  return bytes === null ? null : round(bytes / (1024 * 1024), 1);
}

/** Server CPU per delivered message, ns; null when the CPU time is unknown or too coarse. */
function perDelivery(r: LoadResult): number | null {
  if (r.serverCpuS === null || r.seconds < MIN_CPU_SECONDS || r.delivered === 0) return null;
  return Math.round((r.serverCpuS * 1e9) / r.delivered);
}

/** CPU time as a share of a core; null for a load too short for /proc's 10 ms ticks. */
function pct(cpu: number | null, seconds: number): number | null {
  return cpu === null || seconds < MIN_CPU_SECONDS ? null : Math.round((100 * cpu) / seconds);
}

function table(args: BenchArgs, f: Figures): string {
  const withRaw = f.ratio !== undefined;
  const t = new Table({
    head: withRaw
      ? ["", "chat", f.raw_tls === "deno" ? "raw forwarder (Deno TLS)" : "raw forwarder"]
      : ["", "chat"],
    style: { head: [], border: [] },
  });
  const row = (name: string, ours: string, raw = "") =>
    t.push(withRaw ? [name, ours, raw] : [name, ours]);
  const num = (n: number | null | undefined) => (n == null ? "n/a" : n.toLocaleString("en-US"));
  const ms = (n: number | null | undefined) => (n == null ? "n/a" : `${n.toFixed(2)} ms`);
  const mib = (n: number | null | undefined) => (n == null ? "n/a" : `${n} MiB`);
  const cpu = (n: number | null | undefined) => (n == null ? "n/a" : `${n} % of a core`);
  const ns = (n: number | null | undefined) => (n == null ? "n/a" : `${num(n)} ns`);

  const rate = f.flood
    ? "flooded (no wait for acks)"
    : f.rate > 0
    ? `${num(f.rate)} messages/s`
    : "as fast as the server takes them";
  const where = f.nodes > 1
    ? `; ${f.nodes} nodes on PostgreSQL and NATS, receivers spread over them, senders on node 1`
    : f.store === "postgres"
    ? "; the server on PostgreSQL"
    : "";
  const title = `${num(f.clients)} receivers, ${num(f.senders)} sender${
    f.senders === 1 ? "" : "s"
  }, ${num(f.messages)} messages of ${f.size} B, ${rate}${where}`;
  row(`login of ${num(f.clients)} clients`, `${num(f.login_ms)} ms`, `${num(f.raw_login_ms)} ms`);
  row("bytes per client while all joined", num(f.join_bytes_per_client));
  if (f.flood) {
    row("deliveries arrived of expected", `${num(f.delivered)} of ${num(f.expected)}`);
    row(
      "receivers cut (of them told goodbye)",
      `${num(f.receivers_cut)} (${num(f.receivers_cut_goodbye)})`,
    );
    if (f.first_cut_s != null) row("first receiver cut after", `${f.first_cut_s} s`);
    if (f.senders_cut) row("senders cut", num(f.senders_cut));
    if (f.errors) row("errors from the server", num(f.errors));
    row("sent, acknowledged", `${num(f.sent)}, ${num(f.acks)}`);
    row("sent per second", num(f.sent_per_s));
    const end = f.complete
      ? "every receiver not cut got everything"
      : f.stalled
      ? `stalled: nothing moved for ${STALL_MS / 1000} s`
      : "every receiver was cut";
    row("run ended", end);
  } else {
    row("delivered messages", num(f.delivered), num(f.delivered));
  }
  row("delivered per second", num(f.delivered_per_s), num(f.raw_delivered_per_s));
  row("bytes read per message", num(f.bytes_per_message), num(f.raw_bytes_per_message));
  if (withRaw) row("ratio to the raw forwarder", `${(f.ratio! * 100).toFixed(1)} %`, "100 %");
  row("latency p50", ms(f.p50_ms), ms(f.raw_p50_ms));
  row("latency p99", ms(f.p99_ms), ms(f.raw_p99_ms));
  row("latency max", ms(f.max_ms), ms(f.raw_max_ms));
  if (f.node_cpu_pct) {
    const pair = (same: number | null | undefined, cross: number | null | undefined) =>
      `${ms(same)} | ${ms(cross)}`;
    row("latency p50, senders' node | other nodes", pair(f.same_node_p50_ms, f.cross_node_p50_ms));
    row("latency p99, senders' node | other nodes", pair(f.same_node_p99_ms, f.cross_node_p99_ms));
    row("latency max, senders' node | other nodes", pair(f.same_node_max_ms, f.cross_node_max_ms));
  }
  row("persisted per second (acks)", num(f.persisted_per_s), "(stores nothing)");
  if (args.rate > 0) row("sent per second", num(f.sent_per_s));
  const nodes = f.nodes > 1 ? `, ${f.nodes} nodes summed` : "";
  row(`server peak RSS${nodes}`, mib(f.server_rss_mb), mib(f.raw_rss_mb));
  const each = (values: (number | null)[], unit: string) =>
    values.map((v) => (v == null ? "n/a" : num(v))).join(", ") + unit;
  if (f.node_rss_mb) row("peak RSS of node 1, 2, …", each(f.node_rss_mb, " MiB"));
  if (f.flood) row("server RSS when the load ended", mib(f.server_rss_end_mb));
  row(`server CPU during the load${nodes}`, cpu(f.server_cpu_pct), cpu(f.raw_cpu_pct));
  if (f.node_cpu_pct) row("CPU of node 1, 2, …", each(f.node_cpu_pct, " % of a core"));
  row("server CPU per delivered message", ns(f.server_ns_per_delivery), ns(f.raw_ns_per_delivery));
  row("load generator CPU", cpu(f.load_cpu_pct), cpu(f.raw_load_cpu_pct));
  row(
    f.store === "postgres" ? "other processes' CPU (PostgreSQL, NATS, …)" : "other processes' CPU",
    cpu(f.other_cpu_pct),
    cpu(f.raw_other_cpu_pct),
  );
  if (f.idle !== undefined) {
    row(`login of ${num(f.idle)} idle connections`, `${num(f.idle_login_ms)} ms`);
    row(
      "server RSS before → after them",
      f.idle_rss_before_mb == null ? "n/a" : `${f.idle_rss_before_mb} → ${f.idle_rss_after_mb} MiB`,
    );
    row(
      "RSS per idle connection",
      f.rss_per_idle_bytes == null ? "n/a" : `${num(f.rss_per_idle_bytes)} B`,
    );
    row("bytes per idle connection while all joined", num(f.idle_join_bytes_per_connection));
  }
  return `${title}\n${t.toString()}`;
}
