/**
 * `chat bench` with tiny numbers, from source and from the bundle: it starts its own server (and
 * forwarder), every receiver gets every message, and the one JSON line carries every figure.
 * No timing is asserted: the figures only have to be there and be numbers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeFrame, FrameCutter } from "../../src/protocol/codec.ts";
import { psql, startNats, startPostgres } from "../engines.ts";
import { bundleProgram } from "../../scripts/bundle.ts";
import * as h from "./harness.ts";

/** A bench run (or build) still going after this is killed: no test waits for ever. */
const PROCESS_LIMIT_MS = 120_000;

async function bench(
  args: string[],
  how: { command?: string[]; cwd?: string; tmpDir?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...rest] = how.command ?? h.CHAT_ALL_PERMISSIONS;
  const out = await new Deno.Command(command, {
    args: [...rest, "bench", ...args],
    cwd: how.cwd,
    env: h.childEnv(how.tmpDir === undefined ? {} : { TMPDIR: how.tmpDir }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(PROCESS_LIMIT_MS),
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** A `chat bench … --json` run that succeeds: its report (the one line it prints), its stderr. */
async function benchJson(
  args: string[],
  how: { command?: string[]; cwd?: string; tmpDir?: string } = {},
  // deno-lint-ignore no-explicit-any
): Promise<{ report: Record<string, any>; stderr: string }> {
  const out = await bench([...args, "--json"], how);
  assert.equal(out.code, 0, out.stderr);
  const lines = out.stdout.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line on stdout, got: ${out.stdout}`);
  return { report: JSON.parse(lines[0]), stderr: out.stderr };
}

function assertFigures(report: Record<string, unknown>, keys: string[]): void {
  for (const key of keys) {
    assert.equal(
      typeof report[key],
      "number",
      `${key} should be a number in ${JSON.stringify(report)}`,
    );
    assert.ok((report[key] as number) >= 0, `${key} should not be negative`);
  }
  // a run delivers, stores and takes time: its rates cannot be 0
  for (const key of ["delivered_per_s", "persisted_per_s"]) {
    if (key in report) assert.ok((report[key] as number) > 0, `${key} is ${report[key]}`);
  }
}

const FIGURES = [
  "clients",
  "messages",
  "delivered",
  "delivered_per_s",
  "p50_ms",
  "p99_ms",
  "max_ms",
  "server_rss_mb",
  "persisted_per_s",
  "login_ms",
];

Deno.test("chat bench delivers every message to every receiver and reports it as JSON", async () => {
  const { report } = await benchJson(["--clients", "5", "--messages", "200"]);
  assertFigures(report, [...FIGURES, "bytes_per_message"]);
  assert.equal(report.clients, 5);
  assert.equal(report.messages, 200);
  assert.equal(report.delivered, 5 * 200);
  assert.ok(report.p50_ms <= report.p99_ms && report.p99_ms <= report.max_ms);
  assert.ok(report.server_rss_mb > 0);
  assert.equal(report.ratio, undefined);
});

Deno.test("chat bench --raw --idle also measures the forwarder and idle connections", async () => {
  // a temp dir of its own: others' runs on the machine come and go in the shared one
  await using tmp = await h.tempDir("chat-bench-tmp-");
  const watcher = Deno.watchFs(tmp.path, { recursive: false });
  const made: string[] = [];
  const watching = (async () => {
    for await (const event of watcher) {
      if (event.kind === "create") made.push(...event.paths);
    }
  })();
  const { report } = await benchJson([
    "--clients",
    "5",
    "--senders",
    "2",
    "--messages",
    "200",
    "--raw",
    "--idle",
    "5",
  ], { tmpDir: tmp.path });
  assertFigures(report, [
    ...FIGURES,
    "raw_delivered_per_s",
    "raw_bytes_per_message",
    "ratio",
    "idle",
  ]);
  assert.equal(report.delivered, 5 * 200);
  assert.ok(report.ratio > 0);
  assert.equal(report.raw_tls, "node");
  // server CPU per delivery needs a load of a second or more; a tiny one reports null
  for (const key of ["server_ns_per_delivery", "raw_ns_per_delivery"]) {
    assert.ok(key in report, `${key} missing from ${JSON.stringify(report)}`);
    assert.ok(report[key] === null || report[key] > 0, `${key}: ${report[key]}`);
  }
  // the forwarder passes the send frames on as they came; ours carry id, sender and time too
  assert.ok(
    report.raw_bytes_per_message > 100 && report.raw_bytes_per_message < report.bytes_per_message,
  );
  assert.equal(report.idle, 5);
  // memory can shrink while idle connections log in (a collection), so only its type is certain
  assert.equal(typeof report.rss_per_idle_bytes, "number");
  // its temp dir (db and certs) was made there, and is gone
  watcher.close();
  await watching;
  assert.ok(made.some((path) => /\/chat-bench-[^/]+$/.test(path)), `made: ${made.join(", ")}`);
  assert.deepEqual([...Deno.readDirSync(tmp.path)].map((entry) => entry.name), []);
});

Deno.test("chat bench --raw-tls deno measures a forwarder on Deno.listenTls", async () => {
  const { report } = await benchJson([
    "--clients",
    "4",
    "--senders",
    "2",
    "--messages",
    "300",
    "--raw",
    "--raw-tls",
    "deno",
  ]);
  assertFigures(report, [...FIGURES, "raw_delivered_per_s", "raw_bytes_per_message", "ratio"]);
  assert.equal(report.raw_tls, "deno");
  assert.equal(report.delivered, 4 * 300);
  assert.ok(report.raw_delivered_per_s > 0 && report.ratio > 0);
});

Deno.test("chat bench prints a table without --json and progress on stderr", async () => {
  const out = await bench(["--clients", "3", "--messages", "50", "--rate", "500"]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /delivered per second/);
  assert.match(out.stdout, /latency p99/);
  assert.match(out.stdout, /delivered messages\s*│\s*150\s/); // 3 receivers × 50 messages
  assert.match(out.stderr, /starting the server/);
});

Deno.test("chat bench refuses bad options with one sentence and exit code 2", async () => {
  for (
    const args of [
      ["--clients", "0"],
      ["--size", "3"],
      ["--rate", "fast"],
      ["--ca", "ca.pem"],
      ["--raw", "--raw-tls", "openssl"],
      ["--raw-tls", "deno"],
      ["--flood", "--rate", "100"],
      ["--flood", "--raw"],
      ["--cluster", "2"],
      ["--cluster", "9", "--store", "postgres://h/d", "--bus", "nats://h"],
      ["--cluster", "2", "--store", "postgres://h/d", "--bus", "nats://h", "--raw"],
      ["--store", "chat.db"],
      ["--bus", "nats://h"],
      ["--what"],
    ]
  ) {
    const out = await bench(args);
    assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
    const lines = out.stderr.trim().split("\n");
    assert.equal(lines.length, 1, out.stderr);
    assert.match(lines[0], /^chat: .*\(see chat bench --help\)$/);
  }
});

Deno.test("chat bench --cluster 2 spreads receivers over two nodes on PostgreSQL and NATS", async () => {
  const pg = await startPostgres();
  await using _pg = { [Symbol.asyncDispose]: () => pg.remove() };
  const nats = await startNats();
  await using _nats = { [Symbol.asyncDispose]: () => nats.remove() };
  // what was there before the bench stays: it empties nothing
  await psql(pg.url, "CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (42)");
  const [clients, senders, messages] = [20, 2, 200];
  const { report } = await benchJson([
    "--cluster",
    "2",
    "--store",
    pg.url,
    "--bus",
    nats.url,
    "--clients",
    String(clients),
    "--senders",
    String(senders),
    "--messages",
    String(messages),
  ]);
  assertFigures(report, [...FIGURES, "bytes_per_message"]);
  assert.equal(report.nodes, 2);
  assert.equal(report.store, "postgres");
  assert.equal(report.delivered, clients * messages);
  // both kinds of probe took samples, in order; a message that crossed the bus is not free
  for (const where of ["same_node", "cross_node"]) {
    const [p50, p99, max] = ["p50", "p99", "max"].map((p) => report[`${where}_${p}_ms`]);
    for (const v of [p50, p99, max]) {
      assert.ok(
        typeof v === "number" && v >= 0 && v < 60_000,
        `${where}: ${JSON.stringify(report)}`,
      );
    }
    assert.ok(p50 <= p99 && p99 <= max, `${where}: ${p50} ${p99} ${max}`);
  }
  assert.ok(report.max_ms === Math.max(report.same_node_max_ms, report.cross_node_max_ms));
  // one figure per node; CPU needs a load of a second or more (a tiny one reports null)
  assert.equal(report.node_rss_mb.length, 2);
  assert.equal(report.node_cpu_pct.length, 2);
  for (const rss of report.node_rss_mb) assert.ok(typeof rss === "number" && rss > 0, `${rss}`);
  for (const cpu of report.node_cpu_pct) assert.ok(cpu === null || cpu >= 0, `${cpu}`);
  assert.ok(
    Math.abs(report.server_rss_mb - report.node_rss_mb[0] - report.node_rss_mb[1]) < 0.2,
    "the servers' RSS is the nodes' summed",
  );
  // every message is in the store it was given, and nothing else was touched
  assert.equal(await psql(pg.url, "SELECT x FROM keep_me"), "42");
  assert.equal(Number(await psql(pg.url, "SELECT count(*) FROM messages")), messages);
});

/** The figures a flood adds; the counts among them are checked one by one. */
const FLOOD_FIGURES = [
  "expected",
  "errors",
  "sent",
  "acks",
  "receivers_cut",
  "receivers_cut_goodbye",
  "senders_cut",
  "sent_per_s",
];

Deno.test("chat bench --flood: every receiver gets every message, nobody is cut", async () => {
  const { report } = await benchJson(["--flood", "--clients", "20", "--messages", "2000"]);
  assertFigures(report, [...FIGURES, ...FLOOD_FIGURES, "server_rss_end_mb"]);
  assert.equal(report.flood, true);
  assert.equal(report.expected, 20 * 2000);
  assert.equal(report.delivered, 20 * 2000);
  assert.equal(report.sent, 2000);
  assert.equal(report.acks, 2000);
  assert.equal(report.receivers_cut, 0);
  assert.equal(report.receivers_cut_goodbye, 0);
  assert.equal(report.first_cut_s, null);
  assert.equal(report.senders_cut, 0);
  assert.equal(report.errors, 0);
  assert.equal(report.complete, true);
  assert.equal(report.stalled, false);
  // read during the load and after it: the peak holds the RSS at its end
  assert.ok(report.server_rss_end_mb > 0 && report.server_rss_end_mb <= report.server_rss_mb);
});

/**
 * A fake server on real TLS for a flood: welcomes everyone, acknowledges each send and passes it
 * on to every receiver; once `cutAfter` messages went out it says why (an error) and goodbye to
 * receiver bench-r1, and drops bench-r2 without a word. The bench must count both and still end without a stall.
 */
async function cuttingServer(cutAfter: number) {
  type Peer = { conn: Deno.TlsConn; writing: Promise<unknown>; gone: boolean };
  const receivers = new Map<string, Peer>();
  const write = (peer: Peer, frames: Uint8Array[]) => {
    if (peer.gone || frames.length === 0) return;
    const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const frame of frames) {
      bytes.set(frame, at);
      at += frame.length;
    }
    peer.writing = peer.writing.then(async () => {
      for (let done = 0; done < bytes.length;) done += await peer.conn.write(bytes.subarray(done));
    }).catch(() => (peer.gone = true));
  };
  const cut = (name: string, goodbye: boolean) => {
    const peer = receivers.get(name)!;
    if (goodbye) {
      // as the server's close does: the reason as an error, then goodbye
      write(peer, [
        encodeFrame({ type: "error", code: "test_cut", message: "you are too slow" }),
        encodeFrame({ type: "goodbye", reason: "test", message: "cut" }),
      ]);
    }
    peer.writing = peer.writing.then(() => peer.conn.close()).catch(() => {});
    peer.gone = true;
  };
  let forwarded = 0;
  return await h.fakeTlsServer(async (conn) => {
    const me: Peer = { conn, writing: Promise.resolve(), gone: false };
    const cutter = new FrameCutter();
    const buffer = new Uint8Array(64 * 1024);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      const acks: Uint8Array[] = [];
      const messages: Uint8Array[] = [];
      for (const payload of cutter.push(buffer.subarray(0, n))) {
        const frame = JSON.parse(new TextDecoder().decode(payload));
        if (frame.type === "hello") {
          if (frame.name.startsWith("bench-r")) receivers.set(frame.name, me);
          write(me, [encodeFrame({ type: "welcome" })]);
        } else if (frame.type === "send") {
          acks.push(encodeFrame({ type: "ack", ref: frame.ref }));
          messages.push(encodeFrame({ type: "message", text: frame.text }));
        }
      }
      for (const message of messages) {
        for (const peer of receivers.values()) write(peer, [message]);
        if (++forwarded === cutAfter) {
          cut("bench-r1", true);
          cut("bench-r2", false);
        }
      }
      write(me, acks);
    }
  }, "chat-e2e-bench-fake-");
}

Deno.test("chat bench --flood counts the receivers the server cuts, and still ends", async () => {
  const [clients, messages, cutAfter] = [6, 1000, 100];
  await using server = await cuttingServer(cutAfter);
  const { report, stderr } = await benchJson([
    "--flood",
    "--server",
    `127.0.0.1:${server.port}`,
    "--ca",
    server.caFile,
    "--clients",
    String(clients),
    "--messages",
    String(messages),
  ]);
  assertFigures(report, [...FIGURES.filter((f) => f !== "server_rss_mb"), ...FLOOD_FIGURES]);
  assert.equal(report.expected, clients * messages);
  assert.equal(report.receivers_cut, 2);
  assert.equal(report.receivers_cut_goodbye, 1);
  assert.equal(report.senders_cut, 0);
  assert.equal(report.errors, 1);
  assert.match(stderr, /1 error\(s\) during the flood; the first: receiver 2: test_cut: you/);
  assert.equal(typeof report.first_cut_s, "number");
  // the four left got everything; the two cut got at most what came before the cut
  const survivors = (clients - 2) * messages;
  assert.ok(
    report.delivered >= survivors && report.delivered <= survivors + 2 * cutAfter,
    `delivered ${report.delivered}`,
  );
  assert.equal(report.acks, messages);
  assert.equal(report.complete, true);
  assert.equal(report.stalled, false);
  // a server the bench did not start has no memory figures
  assert.equal(report.server_rss_mb, null);
});

Deno.test("chat bench fails in one sentence when the server cannot be reached", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens there now
  const out = await bench(["--server", `127.0.0.1:${port}`, "--clients", "1", "--messages", "1"]);
  assert.equal(out.code, 1);
  const last = out.stderr.trim().split("\n").at(-1)!;
  assert.match(last, /^chat: cannot connect to 127\.0\.0\.1:\d+: connection refused/);
});

Deno.test("the bundle runs chat bench from a directory without deno.json", async () => {
  await using work = await h.tempDir("chat-bundle-bench-");
  const bundle = await bundleProgram(join(work.path, "chat"));
  const { report } = await benchJson(["--clients", "2", "--messages", "20", "--raw"], {
    command: [Deno.execPath(), "run", "-A", bundle],
    cwd: work.path,
  });
  assert.equal(report.delivered, 2 * 20);
  assert.ok(report.raw_delivered_per_s > 0);
});
