/**
 * `deno task bench:tui`: what the full-screen client costs in a busy room. A benchmark, not a
 * test: it starts a real `chat serve` on 127.0.0.1 and a real `chat join` in a pseudo-terminal
 * (util-linux `script`, sized with stty; TERM=xterm-256color, colours on), both with the
 * permissions the launchers grant, and a scripted sender that speaks the protocol over TLS.
 *
 * 1. start: the client joins; its RSS once it is quiet.
 * 2. fill: `--fill` messages (default 10,000, as many as the client keeps) at `--fill-rate`, so
 *    the flood meets a client holding a full history; then until the last one is on screen.
 * 3. flood: `--rate` messages a second (default 50) for `--seconds` (20), 100–180 characters of
 *    words each, while keys are typed (one every `--key-ms`, a line cleared with Ctrl+U every 30):
 *    the client's CPU from /proc (user + system, all threads, % of one core), the time from
 *    writing each key to the terminal until its echo is in the terminal's output (p50/p99/max),
 *    and what every other process on the machine used meanwhile (the noise).
 * 4. idle: the flood stops; the client's RSS once it has been quiet for `--idle-s` seconds.
 * Peak RSS is the client's VmHWM over the whole run.
 *
 * Needs Linux (/proc), `script` and -A (the task grants it). `--cpu-prof DIR` runs the client
 * with Deno's --cpu-prof into DIR (written when it leaves); `--v8-flags FLAGS` passes V8 flags to
 * the client (to try heap settings); `--program dist/chat/main.js` runs the client from the bundle, as
 * the npm package's launcher does (the server always runs from src). `--json` prints one JSON line.
 *
 * Usage: deno task bench:tui [--rate 50] [--seconds 20] [--fill 10000] [--fill-rate 1000]
 *          [--cols 120] [--rows 40] [--key-ms 120] [--layout bubbles|lines] [--cpu-prof DIR]
 *          [--v8-flags FLAGS] [--program BUNDLE] [--json]
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { decodePayload, encodeFrame, FrameCutter } from "../src/protocol/codec.ts";
import { ALPN } from "../src/protocol/schema.ts";
import { permissionFlags } from "../src/cli/permissions.ts";
import { loadTestServeArgs } from "../src/cli/options.ts";
import { cpuSecondsOf, machineBusySeconds, memoryOf } from "../src/bench/process.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const SRC = fileURLToPath(new URL("../src", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    rate: { type: "string", default: "50" },
    seconds: { type: "string", default: "20" },
    fill: { type: "string", default: "10000" },
    "fill-rate": { type: "string", default: "1000" },
    cols: { type: "string", default: "120" },
    rows: { type: "string", default: "40" },
    "key-ms": { type: "string", default: "120" },
    "idle-s": { type: "string", default: "5" },
    layout: { type: "string", default: "bubbles" },
    "cpu-prof": { type: "string" },
    "v8-flags": { type: "string" },
    program: { type: "string" },
    json: { type: "boolean", default: false },
  },
  strict: true,
});
const num = (name: keyof typeof opt) => {
  const n = Number(opt[name]);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} takes a number`);
  return n;
};
const RATE = num("rate");
const SECONDS = num("seconds");
const FILL = num("fill");
const FILL_RATE = num("fill-rate");
const COLS = num("cols");
const ROWS = num("rows");
const KEY_MS = num("key-ms");
const IDLE_S = num("idle-s");
/** The client's program: src/main.ts unless `--program` names a bundle (`deno task bundle`). */
const PROGRAM = opt.program;

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line: string) => {
  if (!opt.json) console.error(line);
};

// ---- random text ---------------------------------------------------------------------------------

let seed = 12345;
const random = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32;
};
const WORDS = ("the a of to and in is it that for on was with as at by this be from or have an " +
  "are not but we you they one all were when there can which their if has more will so about " +
  "would what out up into them some could other then than its time only new these two may " +
  "first any like now my such over our even most made after also did many before must through " +
  "years where much your way well down should because each just those people how too little " +
  "state good very make world still own see men work long get here between both life being " +
  "under never day same another know while last might us great old year off come since against " +
  "go came right used take three deploy build merge review ticket server client branch release")
  .split(" ");

/** Lowercase words, 100–180 characters (starting with `head`). */
function message(head: string): string {
  const length = 100 + Math.floor(random() * 81);
  let text = head;
  while (text.length < length) text += ` ${WORDS[Math.floor(random() * WORDS.length)]}`;
  return text.slice(0, length).trimEnd();
}

// ---- processes -----------------------------------------------------------------------------------

function permissions(argv: string[], program?: string): string[] {
  return permissionFlags(argv, {
    cwd: Deno.cwd(),
    env: (name) => Deno.env.get(name),
    program: [program ?? SRC],
    deno: Deno.execPath(),
    tmpDir: tmpdir(),
    windows: false,
  });
}

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function environment(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.RUST_BACKTRACE;
  delete env.NO_COLOR;
  delete env.TMUX;
  return { ...env, ...extra };
}

interface Server {
  child: Deno.ChildProcess;
  port: number;
  ca: string;
  /** What it printed last (to explain a failure). */
  log: string[];
}

async function startServer(dir: string): Promise<Server> {
  const argv = [
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--db",
    join(dir, "chat.db"),
    "--certs",
    join(dir, "certs"),
    // the reader, the sender and their reconnects, all from 127.0.0.1
    ...loadTestServeArgs(10),
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions(argv), "--config", CONFIG, MAIN, ...argv],
    env: environment({ NO_COLOR: "1" }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const keep = (text: string) => {
    log.push(...text.split("\n").filter((l) => l !== ""));
    log.splice(0, Math.max(0, log.length - 20));
  };
  child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write: keep }))
    .catch(() => {});
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    keep(value);
    const match = /listening on 127\.0\.0\.1:([0-9]+)/.exec(text);
    if (match) {
      // keep draining: a full pipe would stall the server
      (async () => {
        for (;;) {
          const next = await reader.read().catch(() => ({ done: true, value: "" }));
          if (next.done) break;
          keep(next.value ?? "");
        }
      })();
      return { child, port: Number(match[1]), ca: join(dir, "certs", "ca.pem"), log };
    }
  }
  child.kill("SIGKILL");
  throw new Error(`the server did not start:\n${text}`);
}

/** The client in a pseudo-terminal: its output, its pid, keys typed at it. */
class PtyClient {
  readonly child: Deno.ChildProcess;
  readonly stdin: WritableStreamDefaultWriter<Uint8Array>;
  pid = 0;
  bytes = 0;
  /** The last characters written, to find a word that a chunk boundary may have cut. */
  tail = "";
  #watchers = new Set<(chunk: string) => void>();

  constructor(argv: string[], state: string, pidFile: string, cpuProf?: string, v8?: string) {
    const prof = cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${cpuProf}`] : [];
    if (v8) prof.push(`--v8-flags=${v8}`);
    // the bundle runs as the npm package's launcher runs it (src/launch/npm.ts)
    const load = PROGRAM === undefined
      ? ["--config", CONFIG, MAIN]
      : ["--no-config", "--no-lock", "--cached-only", "--no-remote", PROGRAM];
    const command = [
      Deno.execPath(),
      "run",
      ...permissions(argv, PROGRAM),
      ...prof,
      ...load,
      ...argv,
    ]
      .map(q).join(" ");
    const child = new Deno.Command("script", {
      args: [
        "-qfec",
        `stty cols ${COLS} rows ${ROWS}; echo $$ > ${q(pidFile)}; exec ${command}`,
        "/dev/null",
      ],
      env: environment({ TERM: "xterm-256color", XDG_STATE_HOME: state, SHELL: "/bin/sh" }),
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.child = child;
    this.stdin = child.stdin.getWriter();
    const decoder = new TextDecoder();
    (async () => {
      try {
        for await (const bytes of child.stdout) {
          this.bytes += bytes.length;
          const chunk = decoder.decode(bytes, { stream: true });
          const text = this.tail + chunk;
          this.tail = text.slice(-256);
          for (const watch of [...this.#watchers]) watch(text);
        }
      } catch {
        // killed
      }
    })();
  }

  /** Calls `watch` with each chunk of output (with the end of the one before) until it says true. */
  watch(watch: (text: string) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const w = (text: string) => {
        if (watch(text)) {
          this.#watchers.delete(w);
          resolve();
        }
      };
      this.#watchers.add(w);
    });
  }

  /** Resolves when `word` has been written to the terminal (after this call), or after `ms`. */
  async waitFor(word: string, ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let found = false;
    await Promise.race([
      this.watch((text) => (found = text.includes(word))),
      new Promise((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
    return found;
  }

  /** Types at the client (nothing once it has gone). */
  type(text: string): Promise<void> {
    return this.stdin.write(encoder.encode(text)).catch(() => {});
  }
}

/** The scripted sender: a raw protocol connection. */
class Sender {
  #conn: Deno.TlsConn;
  #writing: Promise<unknown> = Promise.resolve();
  #ref = 0;
  acks = 0;
  errors: string[] = [];
  #welcomed!: () => void;
  #pinger?: ReturnType<typeof setInterval>;
  readonly welcome = new Promise<void>((resolve) => (this.#welcomed = resolve));

  constructor(conn: Deno.TlsConn) {
    this.#conn = conn;
    (async () => {
      const cutter = new FrameCutter();
      const buf = new Uint8Array(256 * 1024);
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          for (const payload of cutter.push(buf.subarray(0, n))) {
            const decoded = decodePayload(payload);
            const frame = (decoded.ok ? decoded.value : {}) as { type?: string };
            if (frame.type === "ack") this.acks++;
            else if (frame.type === "welcome") this.#welcomed();
            else if (frame.type === "error" || frame.type === "goodbye") {
              this.errors.push(JSON.stringify(frame));
            }
          }
        }
      } catch {
        // closed
      }
    })();
  }

  static async connect(port: number, ca: string): Promise<Sender> {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [await Deno.readTextFile(ca)],
      alpnProtocols: [ALPN],
    });
    const sender = new Sender(conn);
    sender.#write(encodeFrame({ type: "hello", name: "flood" }));
    // the server cuts a connection that says nothing for a while
    sender.#pinger = setInterval(() => sender.#write(encodeFrame({ type: "ping" })), 10_000);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      sender.welcome,
      new Promise((_, reject) =>
        timer = setTimeout(() => reject(new Error("the sender got no welcome in 30 s")), 30_000)
      ),
    ]).finally(() => clearTimeout(timer));
    return sender;
  }

  send(texts: string[]): Promise<unknown> {
    const frames = texts.map((text) => encodeFrame({ type: "send", ref: `r${++this.#ref}`, text }));
    const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      all.set(f, at);
      at += f.length;
    }
    return this.#write(all);
  }

  #write(bytes: Uint8Array): Promise<unknown> {
    this.#writing = this.#writing.then(async () => {
      let at = 0;
      while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
    });
    return this.#writing;
  }

  close(): void {
    clearInterval(this.#pinger);
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

/** Sends `count` messages at `rate` a second (a 5 ms tick, by schedule); the last one holds `last`. */
async function flood(
  sender: Sender,
  count: number,
  rate: number,
  prefix: string,
  last: string,
): Promise<void> {
  const start = performance.now();
  let sent = 0;
  while (sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    const texts: string[] = [];
    for (; sent < due; sent++) {
      texts.push(message(sent === count - 1 ? `${prefix}${sent} ${last}` : `${prefix}${sent}`));
    }
    if (texts.length > 0) await sender.send(texts);
    await sleep(5);
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];

/** Waits until the process used under `share` of a core for `quietMs` (or `maxMs` passed). */
async function quiet(pid: number, share = 0.03, quietMs = 1000, maxMs = 20_000): Promise<number> {
  const start = Date.now();
  let calm = 0;
  let before = await cpuSecondsOf(pid) ?? 0;
  while (Date.now() - start < maxMs) {
    await sleep(250);
    const now = await cpuSecondsOf(pid) ?? 0;
    calm = (now - before) / 0.25 < share ? calm + 250 : 0;
    before = now;
    if (calm >= quietMs) break;
  }
  return Date.now() - start;
}

// ---- the run -------------------------------------------------------------------------------------

const MB = 1024 * 1024;
const dir = await Deno.makeTempDir({ prefix: "chat-bench-tui-" });
let server: Server | undefined;
let client: PtyClient | undefined;
let sender: Sender | undefined;
try {
  server = await startServer(dir);
  const pidFile = join(dir, "client.pid");
  const argv = [
    "join",
    "--name",
    "reader",
    "--server",
    `127.0.0.1:${server.port}`,
    "--ca",
    server.ca,
    "--layout",
    opt.layout!,
  ];
  await Deno.mkdir(join(dir, "state"));
  client = new PtyClient(argv, join(dir, "state"), pidFile, opt["cpu-prof"], opt["v8-flags"]);
  if (!(await client.waitFor("you are reader_", 60_000))) {
    throw new Error("the client did not join within 60 s");
  }
  client.pid = Number((await Deno.readTextFile(pidFile)).trim());
  const pid = client.pid;
  await quiet(pid);
  const atStart = await memoryOf(pid);
  say(`client pid ${pid} joined; RSS ${(atStart!.rss / MB).toFixed(0)} MB`);

  sender = await Sender.connect(server.port, server.ca);

  // fill
  let fillSeconds = 0;
  let fillCatchUp = 0;
  if (FILL > 0) {
    say(`fill: ${FILL} messages at ${FILL_RATE}/s`);
    const shown = client.waitFor("fillend", 600_000);
    const t0 = performance.now();
    await flood(sender, FILL, FILL_RATE, "f", "fillend");
    const sentAt = performance.now();
    if (!(await shown)) throw new Error("the last fill message did not show within 600 s");
    fillSeconds = (performance.now() - t0) / 1000;
    fillCatchUp = (performance.now() - sentAt) / 1000;
    await quiet(pid);
  }
  const afterFill = await memoryOf(pid);

  // flood, typing meanwhile
  say(`flood: ${RATE} msgs/s for ${SECONDS} s, a key every ${KEY_MS} ms`);
  const proc = async () => ({
    at: performance.now(),
    client: await cpuSecondsOf(pid) ?? NaN,
    server: await cpuSecondsOf(server!.child.pid) ?? NaN,
    bench: await cpuSecondsOf(Deno.pid) ?? NaN,
    script: await cpuSecondsOf(client!.child.pid) ?? NaN,
    machine: await machineBusySeconds() ?? NaN,
    bytes: client!.bytes,
  });
  const before = await proc();
  let flooding = true;
  let peakDuringFlood = 0;
  const sampler = (async () => {
    while (flooding) {
      const m = await memoryOf(pid);
      if (m) peakDuringFlood = Math.max(peakDuringFlood, m.rss);
      await sleep(250);
    }
  })();
  const echoes: number[] = [];
  let missed = 0;
  const typing = (async () => {
    const letters = "ABCDEFGHJKLMNPQRSTUVWXYZ";
    let typed = "";
    while (flooding) {
      const next = performance.now() + KEY_MS;
      if (typed.length >= 30) {
        typed = "";
        await client!.type("\x15"); // Ctrl+U
      } else {
        typed += letters[Math.floor(random() * letters.length)];
        const expect = typed;
        let timer: ReturnType<typeof setTimeout> | undefined;
        let seen = "";
        const echoed = client!.watch((text) => {
          // the input line repainted: the prompt, its colour, then exactly what was typed
          seen = (seen + text).slice(-65536);
          // deno-lint-ignore no-control-regex -- reading the terminal's output
          for (const m of seen.matchAll(/› (?:\x1b\[[0-9;]*m)*([A-Z]+)/g)) {
            if (m[1] === expect) return true;
          }
          return false;
        });
        const t = performance.now();
        await client!.type(expect.slice(-1));
        const ok = await Promise.race([
          echoed.then(() => true),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 5000))),
        ]);
        clearTimeout(timer);
        if (ok) echoes.push(performance.now() - t);
        else missed++;
      }
      await sleep(Math.max(0, next - performance.now()));
    }
  })();
  const floodShown = client.waitFor("floodend", 600_000);
  let after: Awaited<ReturnType<typeof proc>>;
  try {
    await flood(sender, Math.round(RATE * SECONDS), RATE, "m", "floodend");
    after = await proc();
  } finally {
    flooding = false;
  }
  await Promise.all([sampler, typing]);
  const lagStart = performance.now();
  const drawn = await floodShown;
  const lag = (performance.now() - lagStart) / 1000;

  // idle
  await quiet(pid);
  const idleStart = await cpuSecondsOf(pid) ?? NaN;
  await sleep(IDLE_S * 1000);
  const idleCpu = ((await cpuSecondsOf(pid) ?? NaN) - idleStart) / IDLE_S;
  const idle = await memoryOf(pid);

  const wall = (after.at - before.at) / 1000;
  const share = (k: keyof typeof before) => (after[k] - before[k]) / wall;
  const clientCpu = share("client");
  const others = share("machine") - clientCpu - share("server") - share("bench") - share("script");
  const sorted = [...echoes].sort((a, b) => a - b);
  const figures = {
    cols: COLS,
    rows: ROWS,
    layout: opt.layout,
    rate: RATE,
    seconds: SECONDS,
    fill: FILL,
    fill_seconds: +fillSeconds.toFixed(1),
    fill_catch_up_s: +fillCatchUp.toFixed(1),
    client_cpu_pct: +(clientCpu * 100).toFixed(1),
    client_out_kb_s: +(share("bytes") / 1024).toFixed(1),
    server_cpu_pct: +(share("server") * 100).toFixed(1),
    bench_cpu_pct: +((share("bench") + share("script")) * 100).toFixed(1),
    others_cpu_pct: +(others * 100).toFixed(1),
    flood_drawn_after_s: drawn ? +lag.toFixed(2) : null,
    echo_samples: echoes.length,
    echo_missed: missed,
    echo_p50_ms: +percentile(sorted, 0.5).toFixed(1),
    echo_p99_ms: +percentile(sorted, 0.99).toFixed(1),
    echo_max_ms: +(sorted.at(-1) ?? NaN).toFixed(1),
    rss_start_mb: +(atStart!.rss / MB).toFixed(1),
    rss_after_fill_mb: +(afterFill!.rss / MB).toFixed(1),
    rss_flood_peak_mb: +(peakDuringFlood / MB).toFixed(1),
    rss_peak_mb: +(idle!.peak / MB).toFixed(1),
    rss_idle_mb: +(idle!.rss / MB).toFixed(1),
    idle_cpu_pct: +(idleCpu * 100).toFixed(1),
    sender_errors: sender.errors.slice(0, 3),
  };
  if (opt.json) console.log(JSON.stringify(figures));
  else {
    const f = figures;
    console.log(
      [
        `client ${f.cols}x${f.rows} (${f.layout}), ${f.rate} msgs/s for ${f.seconds} s after ${f.fill} kept`,
        `  fill          ${f.fill} msgs in ${f.fill_seconds} s (${f.fill_catch_up_s} s after the last was sent)`,
        `  client CPU    ${f.client_cpu_pct} % of a core (writes ${f.client_out_kb_s} KB/s to the terminal)`,
        `  echo          p50 ${f.echo_p50_ms} ms, p99 ${f.echo_p99_ms} ms, max ${f.echo_max_ms} ms ` +
        `(${f.echo_samples} keys, ${f.echo_missed} not echoed within 5 s)`,
        `  last message  on screen ${f.flood_drawn_after_s ?? "never"} s after it was sent`,
        `  RSS           start ${f.rss_start_mb} MB, after fill ${f.rss_after_fill_mb} MB, ` +
        `flood peak ${f.rss_flood_peak_mb} MB, peak (VmHWM) ${f.rss_peak_mb} MB, idle ${f.rss_idle_mb} MB`,
        `  idle CPU      ${f.idle_cpu_pct} %`,
        `  noise         server ${f.server_cpu_pct} %, bench+script ${f.bench_cpu_pct} %, ` +
        `other processes ${f.others_cpu_pct} % of a core`,
        ...(f.sender_errors.length ? [`  sender errors ${f.sender_errors.join("; ")}`] : []),
      ].join("\n"),
    );
  }
} catch (error) {
  console.error(`bench:tui failed: ${(error as Error).message}`);
  if (sender?.errors.length) {
    console.error(`the server told the sender: ${sender.errors.join("; ")}`);
  }
  if (server) console.error(`the server's last lines:\n${server.log.join("\n")}`);
  Deno.exitCode = 1;
} finally {
  sender?.close();
  if (client) {
    // Ctrl+D on an empty line leaves (a --cpu-prof is written then); a kill after 5 s
    await client.type("\x15\x04").catch(() => {});
    const done = await Promise.race([client.child.status.then(() => true), sleep(5000)]);
    if (!done) {
      try {
        if (client.pid) Deno.kill(client.pid, "SIGKILL");
        client.child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await client.child.status;
    await client.stdin.close().catch(() => {});
  }
  if (server) {
    server.child.kill("SIGTERM");
    await server.child.status;
  }
  await Deno.remove(dir, { recursive: true });
}
// timers still waiting for words that never came must not hold the process
Deno.exit();
