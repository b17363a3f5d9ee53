// Issue 10, "No single client can stop the server": each attack reproduced against the real
// `chat serve` (real TLS, 127.0.0.1, --port 0). Each test checks the clear refusal or the closed
// connection, and that nothing else was lost or disturbed. Every wait is bounded.
//
// Run: deno test -A --parallel tests/e2e/attacks_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { concatFrames, encodeFrame } from "../../src/protocol/codec.ts";
import * as h from "./harness.ts";
import type { ServerHandle } from "./harness.ts";

// ---- bounds ------------------------------------------------------------------------------------
// Measured on the 2-core machine this was written on, shared with other work (load 2-3), against
// 7423a74 (issue 10's server fixes, before "Backpressure that holds under a flood") and 85906e9
// (that commit, and the same code while it was uncommitted).

/** The history the resumers ask for (the issue's: 10,000 × 4,000 characters; built in ~1 s). */
const REPLAY_HISTORY = 10_000;
const REPLAY_TEXT_LENGTH = 4_000;
/** Non-reading resumers (the issue's). */
const RESUMERS = 100;
/**
 * Bound on the server's RSS growth under them. Measured +128 to +178 MB on 7423a74, +74 to
 * +197 MB on 85906e9 (before the fix: +1,193 MB with 26 of them, when this test stopped adding
 * more), on a machine at load 2-3. Alone on an idle one: +157 to +347 MB, and no commit raised
 * it: 8beed38, where this test first passed, measures the same today (+260 to +326, twice past
 * 300 with 65 resumers). Each resumer is sent its backlog until its socket's kernel buffer is
 * full (tcp_wmem max 4 MiB here: ~3.7 MB each, outside RSS), which passes that much through JS
 * strings and buffers (garbage until a GC), and then holds a page of texts (256 KB), a write in
 * flight (256 KiB) and ~1 MB of native memory: ~1.6 MB each after a GC, ~3 MB at the peak. 400
 * keeps a tenth of the unbounded case's 46 MB a resumer in view.
 */
const REPLAY_RSS_GROWTH_MB = 400;
/**
 * Bound on a bystander's ping→pong and public message round trip meanwhile (the issue's).
 * Measured on 7423a74: 2-45 ms at worst, but 1,172-2,973 ms with 140 resumers; on 85906e9:
 * 2,990-3,885 ms with 100 (see the report).
 */
const BYSTANDER_MS = 100;
/**
 * No single one may take longer than this: the bug stalled every sender for 3 s; a busy machine
 * (the whole suite in parallel on two cores) delays single round trips by up to ~200 ms.
 */
const BYSTANDER_WORST_MS = 1_000;

/** The unthrottled sender's receivers and messages (the issue's 200 receivers). */
const FLOOD_RECEIVERS = 200;
/** 1,600,000 deliveries: the budget fills after ~300 messages, so this is well past it. */
const FLOOD_MESSAGES = 8_000;
const FLOOD_TEXT_LENGTH = 500;
/**
 * Bound on the server's peak RSS (VmHWM) during the flood. Measured on 85906e9, where the
 * test passes: 244-266 MB (120 MB before the flood with the 201 connections idle); 400 is that
 * with half again as margin. On 7423a74: 597-1,490 MB, with everyone cut or not.
 */
const FLOOD_PEAK_RSS_MB = 400;
/**
 * Time allowed for the deliveries. Measured 8.5-12.2 s for 4,000,000 alone on 85906e9; the whole
 * suite beside it made 20,000 messages miss 30 s.
 */
const FLOOD_DELIVERY_MS = 60_000;
/** The flood has ended when no delivery has moved for this long. */
const FLOOD_STALL_MS = 5_000;

/** The tmpfs the full-disk test mounts (root only), and its temporary messages' lifetime. */
const DISK_MB = 8;
const DISK_TTL_S = 2;
/** Sends tried on the full disk before one must have been refused (measured: the first is). */
const DISK_MAX_SENDS = 3_000;

/** --max-new-ids-per-address in the identity churn test (the default is 60). */
const NEW_IDS = 5;

/**
 * Hellos of one name (each a new TLS connection, 10 at a time), and the bound on each. Measured:
 * median 47-63 ms, max 69-209 ms; with all 10,000 four-digit ids taken, max 47-70 ms.
 */
const SAME_NAME_HELLOS = 300;
const SAME_NAME_CONCURRENCY = 10;
const SAME_NAME_HELLO_MS = 1_000;

/** Idle sockets the attacker keeps open from 127.0.0.1 (the default pending cap is 32). */
const IDLE_TCP = 48;
const IDLE_TLS = 16;
/** Most connections each kind of attacker opens in all (a bound on the churn). */
const IDLE_MAX_OPENS = 50_000;
/**
 * New users who log in while the attack goes on, the attempts each may take (a client retries),
 * and the bound on a login. Not measured on a passing run: on 7423a74 and 85906e9 0 of 15
 * attempts got in (see the report); a login takes ~50 ms when nobody attacks, 5 s is ample.
 */
const IDLE_NEWCOMERS = 5;
const IDLE_ATTEMPTS = 3;
/**
 * Attempts a newcomer may need when the idle sockets churn through a cap of 32 at ~5,000 a
 * second: one that has not yet sent its ClientHello when 31 more arrive (~6 ms) is pushed out.
 * Measured 2 – 8 failed attempts in 5 newcomers (up to ~60 % of attempts); a real client retries
 * with backoff. 20 makes a spurious failure about 1 in 25,000.
 */
const IDLE_CHURN_ATTEMPTS = 20;
const IDLE_LOGIN_MS = 5_000;

/** Online users for `who` (the issue's), logging in this many at a time. */
const BIG_ROOM = 1_002;
const BIG_ROOM_CONCURRENCY = 16;
/** Bound on logging them all in over TLS (the brief's). Measured: 3.9-5.5 s. */
const BIG_ROOM_LOGIN_MS = 20_000;

/** Sends in one write by the flooder at --max-rate 2: its burst of 20 and 50 refusals in a row. */
const FLOOD_CUT_SENDS = 70;

// ---- a light TLS client -------------------------------------------------------------------------

// deno-lint-ignore no-explicit-any
type Frame = any;

interface LightOptions {
  /** Parse `message` frames too (they are only counted by default). */
  messages?: boolean;
  /** Read buffer size. */
  buffer?: number;
}

/**
 * A TLS connection that reads everything as fast as it comes, counts `message` frames, and
 * keeps every other frame (parsed). `until` waits on it, bounded.
 */
class Light extends h.ReadConn {
  messages = 0;
  readonly frames: Frame[] = [];
  readonly kept: Frame[] = [];

  private constructor(conn: Deno.TlsConn, options: LightOptions) {
    super(conn);
    const decoder = new TextDecoder();
    const walker = new h.FrameWalker(
      (type) => (type !== "message" && type !== "presence") || (options.messages ?? false),
      (type, payload) => {
        if (type === "message") this.messages++;
        if (payload) this.frames.push(JSON.parse(decoder.decode(payload)));
      },
    );
    this.read((bytes) => walker.push(bytes), options.buffer);
  }

  static async open(server: ServerHandle, options: LightOptions = {}): Promise<Light> {
    return new Light(await h.connectTls(server.port, server.caFile), options);
  }

  /** Opens a connection, says hello and waits for the answer (welcome or error). */
  static async hello(
    server: ServerHandle,
    hello: Record<string, unknown>,
    options: LightOptions = {},
    timeoutMs = 10_000,
  ): Promise<Light> {
    const light = await Light.open(server, options);
    try {
      await light.send({ type: "hello", ...hello });
      await light.until(
        () => light.welcome !== undefined || light.first("error") !== undefined,
        timeoutMs,
        "the answer to hello",
      );
    } catch (error) {
      await light.close();
      throw error;
    }
    return light;
  }

  get welcome(): Frame | undefined {
    return this.first("welcome");
  }

  get goodbye(): Frame | undefined {
    return this.first("goodbye");
  }

  first(type: string, pred: (f: Frame) => boolean = () => true): Frame | undefined {
    return this.frames.find((f) => f.type === type && pred(f));
  }

  /** Resolves when `check` holds; throws after `timeoutMs` (or at the end of the stream). */
  async until(check: () => boolean, timeoutMs = 10_000, what = "a frame"): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      const left = end - Date.now();
      if (left <= 0 || this.eof) {
        throw new Error(
          `${this.eof ? "connection closed" : `timed out after ${timeoutMs} ms`} waiting for ` +
            `${what}; last frames: ${JSON.stringify(this.frames.slice(-3)).slice(0, 600)}`,
        );
      }
      await this.changed(left);
    }
  }

  /** The first frame of `type` (matching `pred`) that arrives, waiting at most `timeoutMs`. */
  async next(type: string, pred: (f: Frame) => boolean = () => true, timeoutMs = 10_000) {
    let found: Frame | undefined;
    await this.until(() => (found = this.first(type, pred)) !== undefined, timeoutMs, type);
    return found;
  }

  /** The answer (any frame type) carrying `ref`. */
  answer(ref: string, timeoutMs = 10_000): Promise<Frame> {
    return this.nextWhere((f) => f.ref === ref, timeoutMs, `the answer to ${ref}`);
  }

  async nextWhere(pred: (f: Frame) => boolean, timeoutMs = 10_000, what = "a frame") {
    let found: Frame | undefined;
    await this.until(() => (found = this.frames.find(pred)) !== undefined, timeoutMs, what);
    return found;
  }

  /** Waits until the server closes the connection; false after `timeoutMs`. */
  async closed(timeoutMs = 5_000): Promise<boolean> {
    try {
      await this.until(() => this.eof, timeoutMs, "the end of the connection");
    } catch {
      return this.eof;
    }
    return true;
  }

  async send(value: unknown): Promise<void> {
    await h.writeAll(this.conn, encodeFrame(value));
  }

  async sendBytes(bytes: Uint8Array): Promise<void> {
    await h.writeAll(this.conn, bytes);
  }

  /** Milliseconds from a ping to its pong. */
  async pingMs(timeoutMs = 10_000): Promise<number> {
    const before = this.frames.filter((f) => f.type === "pong").length;
    const started = performance.now();
    await this.send({ type: "ping" });
    await this.until(
      () => this.frames.filter((f) => f.type === "pong").length > before,
      timeoutMs,
      "a pong",
    );
    return performance.now() - started;
  }
}

/** Closes every connection, in parallel. */
async function closeAll(conns: Iterable<{ close(): Promise<void> | void }>): Promise<void> {
  await Promise.all([...conns].map((c) => c.close()));
}

// ---- the server's memory -----------------------------------------------------------------------

/** VmRSS and VmHWM (peak) of a process, in MB; null when it is gone. */
function memoryMB(pid: number): { rss: number; peak: number } | null {
  let status: string;
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return null;
  }
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+([0-9]+) kB`, "m").exec(status)?.[1]);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/** Samples a process's RSS every `everyMs` until stopped; the peak seen, in MB. */
function sampleRss(pid: number, everyMs = 100): { stop(): number; readonly peak: number } {
  let peak = memoryMB(pid)?.rss ?? 0;
  const timer = setInterval(() => {
    const m = memoryMB(pid);
    if (m) peak = Math.max(peak, m.rss);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const m = memoryMB(pid);
      if (m) peak = Math.max(peak, m.rss);
      return peak;
    },
    get peak() {
      return peak;
    },
  };
}

/** What became of the server, for assertion messages. */
function serverState(server: ServerHandle): string {
  if (!server.exited) return "the server is running";
  const last = server.output().split("\n").filter((l) => /Uncaught|Error|Fatal/.test(l));
  return `the server died: ${last.slice(0, 3).join(" | ") || server.output().slice(-500)}`;
}

/** `n` public `send` frames in one buffer. */
function sends(prefix: string, from: number, n: number, text: (i: number) => string): Uint8Array {
  return concatFrames(
    Array.from(
      { length: n },
      (_, k) => encodeFrame({ type: "send", ref: `${prefix}${from + k}`, text: text(from + k) }),
    ),
  );
}

/** A public message from `sender` seen by `receiver`: milliseconds until it arrived. */
/**
 * REPLAY_HISTORY messages h0, h1, … of `text(i)` from `writer`, as fast as the server acknowledges
 * them (a window of 400 sends: its own echoes must stay under the 8 MiB queue cap of its
 * connection); resolves once every one is acknowledged.
 */
async function writeHistory(writer: Light, text: (i: number) => string): Promise<void> {
  const acks = () => writer.frames.filter((f) => f.type === "ack").length;
  const BATCH = 100;
  for (let sent = 0; sent < REPLAY_HISTORY; sent += BATCH) {
    await writer.until(() => acks() >= sent - 400, 30_000, "acks for the history");
    await writer.sendBytes(sends("h", sent, BATCH, text));
  }
  await writer.until(() => acks() >= REPLAY_HISTORY, 30_000, "the last acks of the history");
}

async function roundTripMs(sender: Light, receiver: Light, label: string): Promise<number> {
  const text = `round trip ${label} ${crypto.randomUUID()}`;
  const started = performance.now();
  await sender.send({ type: "send", ref: `rt-${label}`, text });
  await receiver.next("message", (m) => m.text === text, 10_000);
  return performance.now() - started;
}

/**
 * The server for an attack from one address: no rate limit and no cap on new ids, `connections`
 * from that address; every other bound stays as it ships.
 */
const unthrottled = (connections: number) => [
  "--max-rate",
  "0",
  "--max-new-ids-per-address",
  "0",
  "--max-connections-per-address",
  String(connections),
];

// ---- 1. replay memory --------------------------------------------------------------------------

Deno.test(`attack 1: ${RESUMERS} resumers from the oldest of ${REPLAY_HISTORY} messages that never read: RSS grows < ${REPLAY_RSS_GROWTH_MB} MB, a bystander's ping and message take < ${BYSTANDER_MS} ms (median), none ${BYSTANDER_WORST_MS} ms`, () =>
  h.takingTurns(async () => {
    await using server = await h.startServer({ args: unthrottled(RESUMERS + 50) });
    // the history: one writer, as fast as the server acknowledges it
    const built = performance.now();
    await using writer = await Light.hello(server, { name: "historian" });
    const text = (i: number) => `history ${i} `.padEnd(REPLAY_TEXT_LENGTH, "x");
    await writeHistory(writer, text);
    const oldest = writer.frames.find((f) => f.type === "ack" && f.ref === "h0").id;
    const buildMs = performance.now() - built;

    await using bystander = await Light.hello(server, { name: "bystander" }, { messages: true });
    await using listener = await Light.hello(server, { name: "listener" }, { messages: true });
    for (let i = 0; i < 5; i++) await bystander.pingMs(); // warm up
    await h.delay(500);
    const before = memoryMB(server.pid)!;

    // the attack: hello with resume = the oldest id, then never read
    const resumers: Deno.TlsConn[] = [];
    const sampler = sampleRss(server.pid);
    const latencies: number[] = [];
    let growth: number;
    try {
      for (let i = 0; i < RESUMERS; i++) {
        const conn = await h.connectTls(server.port, server.caFile);
        resumers.push(conn);
        await h.writeAll(conn, encodeFrame({ type: "hello", name: `resumer${i}`, resume: oldest }));
        if (sampler.peak - before.rss > REPLAY_RSS_GROWTH_MB) break; // no need to wait for a crash
      }
      // they are in (counted online), then the bystander is timed while they sit there
      const who = async () => {
        const ref = `who-${crypto.randomUUID()}`;
        await bystander.send({ type: "who", ref });
        return await bystander.answer(ref);
      };
      const end = Date.now() + 15_000;
      while (Date.now() < end && sampler.peak - before.rss <= REPLAY_RSS_GROWTH_MB) {
        if ((await who()).online >= RESUMERS + 3) break;
        await h.delay(100);
      }
      const online = (await who()).online;
      assert.equal(online, RESUMERS + 3, `every resumer is online (${serverState(server)})`);
      for (let i = 0; i < 20 && sampler.peak - before.rss <= REPLAY_RSS_GROWTH_MB; i++) {
        latencies.push(await bystander.pingMs());
        latencies.push(await roundTripMs(bystander, listener, `during-${i}`));
        await h.delay(100);
      }
    } finally {
      const peak = sampler.stop();
      growth = peak - before.rss;
      console.log(
        `replay attack: history of ${REPLAY_HISTORY} × ${REPLAY_TEXT_LENGTH} chars built in ` +
          `${Math.round(buildMs)} ms; RSS ${before.rss.toFixed(0)} MB before, peak ` +
          `${peak.toFixed(0)} MB with ${resumers.length} resumers (+${growth.toFixed(0)} MB); ` +
          `bystander ping and round trip max ${Math.round(Math.max(0, ...latencies))} ms, ` +
          `n=${latencies.length} (${latencies.map(Math.round).join(" ")}); server log: ${
            server.output().split("\n").filter((l) => /budget|cut/.test(l)).join(" | ") || "-"
          }`,
      );
      for (const conn of resumers) {
        try {
          conn.close();
        } catch {
          // closed by the server
        }
      }
    }
    assert.ok(growth < REPLAY_RSS_GROWTH_MB, `RSS grew ${growth.toFixed(0)} MB`);
    assert.equal(server.exited, false, serverState(server));
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    assert.ok(median < BYSTANDER_MS, `the bystander waited ${Math.round(median)} ms (median)`);
    const slowest = sorted.at(-1)!;
    assert.ok(slowest < BYSTANDER_WORST_MS, `the bystander waited ${Math.round(slowest)} ms`);
    // nobody else was cut, and the server still serves after they are gone
    assert.equal(bystander.goodbye, undefined);
    assert.equal(listener.goodbye, undefined);
    assert.equal(writer.goodbye, undefined);
    assert.ok((await roundTripMs(listener, bystander, "after")) < 5_000);
  }));

// ---- 1b. worst-case searches over a big history ------------------------------------------------

/** `size` pseudo-random letters a–y and spaces (a fixed seed: the same every run). */
function randomLetters(size: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxy     ";
  let state = 12345;
  let out = "";
  for (let i = 0; i < size; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    out += alphabet[state % alphabet.length];
  }
  return out;
}

/** Patterns at the compiled-size cap with no literal to skip texts by (RE2 on every text). */
const WORST_SEARCHES = ["[a-m].{295}[0-9]", "\\b(\\w*\\s*){49}[0-9]", "[a-m].{295}[0-9]"];
/** A bystander's message p99 while they run (the issue's bound). */
const SEARCH_BYSTANDER_P99_MS = 200;

Deno.test(`attack 1b: ${WORST_SEARCHES.length} worst-case searches over ${REPLAY_HISTORY} messages of ${REPLAY_TEXT_LENGTH} characters: each ends (results, or search_timeout), and a bystander's messages arrive with p99 < ${SEARCH_BYSTANDER_P99_MS} ms`, async () => {
  await using server = await h.startServer({ args: ["--max-rate", "0"] });
  await using writer = await Light.hello(server, { name: "historian" });
  // letters and spaces in no pattern (what makes RE2 work hardest), no digit: nothing matches
  const pool = randomLetters(REPLAY_TEXT_LENGTH * 2);
  const text = (i: number) => pool.slice(i % REPLAY_TEXT_LENGTH).slice(0, REPLAY_TEXT_LENGTH);
  await writeHistory(writer, text);
  await using searcher = await Light.hello(server, { name: "searcher" });
  await using bystander = await Light.hello(server, { name: "bystander" }, { messages: true });
  await using listener = await Light.hello(server, { name: "listener" }, { messages: true });
  for (let i = 0; i < 3; i++) await roundTripMs(bystander, listener, `warm-${i}`);

  // three searches at once from one user (inside its burst), then the bystander is timed
  const refs = WORST_SEARCHES.map((_, i) => `worst-${i}`);
  await searcher.sendBytes(
    concatFrames(
      WORST_SEARCHES.map((pattern, i) => encodeFrame({ type: "search", ref: refs[i], pattern })),
    ),
  );
  const started = performance.now();
  const trips: number[] = [];
  const answered = () => refs.every((ref) => searcher.frames.some((f) => f.ref === ref));
  // each may run its whole time budget, one after another: bounded by 3 × (3 s + the watchdog)
  const deadline = Date.now() + 20_000;
  for (let i = 0; Date.now() < deadline && (!answered() || trips.length < 20); i++) {
    trips.push(await roundTripMs(bystander, listener, `during-${i}`));
    await h.delay(20);
  }
  const searchMs = performance.now() - started;
  const answers = refs.map((ref) => searcher.frames.find((f) => f.ref === ref));
  trips.sort((a, b) => a - b);
  const p99 = trips[Math.min(trips.length - 1, Math.floor(trips.length * 0.99))];
  console.log(
    `worst-case searches: answered in ${Math.round(searchMs)} ms as ${
      answers.map((a) => a?.type === "results" ? `results(${a.total})` : a?.code).join(", ")
    }; bystander round trips n=${trips.length}, p50 ${
      Math.round(trips[Math.floor(trips.length / 2)])
    } ms, p99 ${Math.round(p99)} ms, max ${Math.round(trips.at(-1)!)} ms`,
  );
  assert.ok(answered(), "every search was answered");
  for (const answer of answers) {
    assert.ok(
      answer.type === "results" || ["search_timeout", "busy"].includes(answer.code),
      JSON.stringify(answer).slice(0, 200),
    );
  }
  assert.ok(p99 < SEARCH_BYSTANDER_P99_MS, `bystander p99 ${Math.round(p99)} ms`);
  assert.equal(server.exited, false, serverState(server));
});

// ---- 2. a full disk ----------------------------------------------------------------------------

const isRoot = Deno.uid() === 0;
if (!isRoot) {
  console.log("attack 2 (full disk) is skipped: mounting a small tmpfs needs root");
}

/** Runs a command to its end (bounded); throws with its stderr when it fails. */
async function run(cmd: string, args: string[]): Promise<void> {
  const child = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    child.output(),
    new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 10_000))),
  ]);
  clearTimeout(timer);
  if (status === null) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`${cmd} ${args.join(" ")} did not finish within 10 s`);
  }
  if (!status.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(status.stderr)}`);
  }
}

/** Writes zeros to `path` until the file system is full (bounded); returns the bytes written. */
async function fillUp(path: string, limit: number): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024);
  let written = 0;
  try {
    while (written < limit) written += await file.write(chunk);
  } catch (error) {
    if (!/No space left|ENOSPC|StorageFull/i.test(String(error))) throw error;
  } finally {
    file.close();
  }
  return written;
}

Deno.test({
  name: `attack 2: a full disk (tmpfs of ${DISK_MB} MiB): sends refused with error unavailable, ` +
    "expiries and disconnects survive it, reads and logins with a token go on, the cause logged " +
    "once; space back: sends work again by themselves and the log says so",
  ignore: !isRoot,
  async fn() {
    const dir = await h.makeTempDir("chat-e2e-full-");
    let mounted = false;
    try {
      await run("mount", ["-t", "tmpfs", "-o", `size=${DISK_MB}m`, "tmpfs", dir]);
      mounted = true;
      await using server = await h.startServer({ dir, args: ["--max-rate", "0"] });
      await using alice = await Light.hello(server, { name: "alice" }, { messages: true });
      await using carol = await Light.hello(server, { name: "carol" }, { messages: true });
      await using bob1 = await Light.hello(server, { name: "bob" }, { messages: true });
      const bob = bob1.welcome.you;
      const bobToken: string = bob1.welcome.token;
      const ask = async (client: Light, frame: Record<string, unknown>) => {
        const ref = `${frame.type}-${crypto.randomUUID()}`;
        await client.send({ ...frame, ref });
        return await client.answer(ref);
      };

      // temporary messages that fall due while the disk is full
      const temporary = [];
      for (let i = 0; i < 3; i++) {
        const answer = await ask(alice, { type: "send", text: `temporary ${i}`, ttl: DISK_TTL_S });
        assert.equal(answer.type, "ack", JSON.stringify(answer));
        temporary.push(answer.id);
      }
      const stored = await ask(alice, { type: "send", text: "stored before the disk filled" });
      assert.equal(stored.type, "ack");

      // the disk fills up; sends go on until the database cannot take one more
      const filler = join(dir, "filler");
      const filled = await fillUp(filler, DISK_MB * 1024 * 1024);
      const fullSince = Date.now();
      let refusal: Frame | undefined;
      const accepted: string[] = [];
      for (let i = 0; i < DISK_MAX_SENDS && !refusal; i++) {
        const answer = await ask(alice, { type: "send", text: `filling ${i} `.padEnd(4_000, "z") });
        if (answer.type === "ack") accepted.push(answer.id);
        else refusal = answer;
      }
      assert.ok(refusal, `no refusal after ${DISK_MAX_SENDS} sends on a full disk`);
      assert.equal(refusal.code, "unavailable", JSON.stringify(refusal));
      assert.match(refusal.message, /could not store/);
      // more refusals, each the same clear error, none of them delivered
      for (let i = 0; i < 5; i++) {
        const again = await ask(alice, { type: "send", text: `refused ${i}` });
        assert.equal(again.code, "unavailable", JSON.stringify(again));
      }

      // the temporary messages fall due meanwhile; bob leaves and comes back with his token
      await h.delay(Math.max(0, DISK_TTL_S * 1000 + 1_000 - (Date.now() - fullSince)));
      await bob1.close();
      await alice.next("presence", (p) => p.left?.id === bob.id).catch((error) => {
        throw new Error(`${error.message}; ${serverState(server)}`);
      });
      await h.delay(500);
      assert.equal(server.exited, false, serverState(server));
      await using bob2 = await Light.hello(server, { name: "bob", token: bobToken }, {
        messages: true,
      });
      assert.equal(
        bob2.welcome?.you.id,
        bob.id,
        `bob is bob again: ${JSON.stringify(bob2.frames)}`,
      );
      // a newcomer is told why it cannot get an id now
      await using newcomer = await Light.hello(server, { name: "dave" });
      const newcomerError = newcomer.first("error");
      assert.equal(newcomerError?.code, "unavailable", JSON.stringify(newcomer.frames));
      // reads go on
      const who = await ask(carol, { type: "who" });
      assert.equal(who.type, "users");
      assert.deepEqual(
        who.users.map((u: { name: string }) => u.name).sort(),
        ["alice", "bob", "carol"],
      );
      const history = await ask(bob2, { type: "history", limit: 200 });
      assert.equal(history.type, "results", JSON.stringify(history).slice(0, 300));
      assert.ok(history.messages.some((m: Frame) => m.id === stored.id));
      assert.ok(await carol.pingMs() < 5_000);
      assert.equal(server.exited, false, serverState(server));
      const cause = (text: string) => text.split("\n").filter((l) => /disk is full/.test(l));
      assert.equal(
        cause(server.output()).length,
        1,
        `the cause is logged once:\n${cause(server.output()).slice(0, 5).join("\n")}`,
      );
      assert.doesNotMatch(server.output(), /Uncaught|no transaction is active/);

      // space comes back: sends work by themselves, the log says so, the expiries happen
      await Deno.remove(filler);
      const back = await ask(alice, { type: "send", text: "the disk has room again" });
      assert.equal(back.type, "ack", JSON.stringify(back));
      await carol.next("message", (m) => m.text === "the disk has room again");
      await h.waitUntil(
        () => /database works again/.test(server.output()),
        5_000,
        () => server.output(),
      );
      assert.match(server.output(), /the history database works again/);
      for (const id of temporary) {
        await carol.next("deleted", (d) => d.id === id && d.reason === "expired", 15_000);
      }
      // nothing refused was delivered; everything acknowledged was
      const seen = new Set(carol.frames.filter((f) => f.type === "message").map((m) => m.text));
      for (let i = 0; i < 5; i++) assert.ok(!seen.has(`refused ${i}`));
      const carolIds = new Set(carol.frames.filter((f) => f.type === "message").map((m) => m.id));
      for (const id of accepted) assert.ok(carolIds.has(id), "every acknowledged one arrived");
      assert.equal(cause(server.output()).length, 1, "still logged once");
      console.log(
        `full disk: ${(filled / 1048576).toFixed(1)} MiB of filler, ${accepted.length} sends ` +
          `accepted after it, then refused; the server's log:\n${
            server.output().split("\n").filter((l) => /history database/.test(l)).join("\n")
          }`,
      );
      for (const client of [alice, carol, bob2]) assert.equal(client.goodbye, undefined);
      await server.stop();
    } finally {
      if (mounted) await run("umount", ["-l", dir]);
      await h.removeDir(dir);
    }
  },
});
// ---- 3. an unthrottled sender ------------------------------------------------------------------

Deno.test(`attack 3: --max-rate 0, one sender writing ${FLOOD_MESSAGES} messages as fast as its socket takes to ${FLOOD_RECEIVERS} receivers: nobody is cut, everyone gets everything, peak RSS < ${FLOOD_PEAK_RSS_MB} MB`, () =>
  h.takingTurns(async () => {
    await using server = await h.startServer({ args: unthrottled(500) });
    const receivers: Light[] = [];
    try {
      // receivers, a few logging in at a time
      for (let i = 0; i < FLOOD_RECEIVERS; i += 20) {
        receivers.push(
          ...await Promise.all(
            Array.from(
              { length: Math.min(20, FLOOD_RECEIVERS - i) },
              (_, k) => Light.hello(server, { name: `receiver${i + k}` }, { buffer: 64 * 1024 }),
            ),
          ),
        );
      }
      for (const r of receivers) assert.ok(r.welcome, JSON.stringify(r.frames[0]));
      await using sender = await Light.hello(server, { name: "firehose" });
      const idle = memoryMB(server.pid)!.rss;
      const started = performance.now();
      const sampler = sampleRss(server.pid);
      const text = (i: number) => `flood ${i} `.padEnd(FLOOD_TEXT_LENGTH, "y");
      /** Who was cut, how far everyone got, and what the server said. */
      const cuts = () => {
        const counts = receivers.map((r) => r.messages).sort((a, b) => a - b);
        const cut = receivers.filter((r) => r.eof);
        const log = server.output().split("\n").filter((l) => /budget|cut|Error/.test(l));
        return `${cut.length} of ${receivers.length} receivers cut (${
          cut.filter((r) => r.goodbye).length
        } with a goodbye), the sender ${sender.eof ? "cut" : "not cut"}; receivers got ` +
          `${counts[0]} to ${counts.at(-1)} of ${FLOOD_MESSAGES}; server RSS ${idle.toFixed(0)} ` +
          `MB before, peak ${Math.max(sampler.peak, memoryMB(server.pid)?.peak ?? 0).toFixed(0)} ` +
          `MB; ${serverState(server)}; ` +
          `server log: ${log.join(" | ") || "nothing about it"}`;
      };
      const BATCH = 200;
      let peak: number;
      try {
        let writeError = "";
        for (let sent = 0; sent < FLOOD_MESSAGES && !writeError; sent += BATCH) {
          // no window: as fast as the socket takes it (the server may stop reading it)
          await sender.sendBytes(sends("f", sent, Math.min(BATCH, FLOOD_MESSAGES - sent), text))
            .catch((error) => (writeError = `after ${sent} sends: ${error}`));
        }
        const wrote = performance.now() - started;
        // every receiver has everything, or is cut; or nothing moves any more
        const progress = () => receivers.reduce((n, r) => n + r.messages, sender.messages);
        const done = () =>
          receivers.every((r) => r.messages >= FLOOD_MESSAGES || r.eof) &&
          (sender.messages >= FLOOD_MESSAGES || sender.eof);
        const end = Date.now() + FLOOD_DELIVERY_MS;
        let last = -1;
        let lastMoved = Date.now();
        while (!done() && Date.now() < end && Date.now() - lastMoved < FLOOD_STALL_MS) {
          if (progress() !== last) [last, lastMoved] = [progress(), Date.now()];
          await h.delay(100);
        }
        assert.ok(done(), `the flood did not finish: ${cuts()}`);
        assert.ok(!sender.eof && receivers.every((r) => !r.eof), `some were cut: ${cuts()}`);
        assert.equal(writeError, "", `the sender's connection broke ${writeError}; ${cuts()}`);
        const deliveredMs = performance.now() - started;
        peak = Math.max(sampler.stop(), memoryMB(server.pid)?.peak ?? 0);
        console.log(
          `unthrottled sender: ${FLOOD_MESSAGES} × ${FLOOD_TEXT_LENGTH} chars to ` +
            `${FLOOD_RECEIVERS} receivers: written in ${Math.round(wrote)} ms, all delivered in ` +
            `${Math.round(deliveredMs)} ms (${
              Math.round(FLOOD_MESSAGES * FLOOD_RECEIVERS / (deliveredMs / 1000))
            } deliveries/s); server RSS ${idle.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB`,
        );
      } finally {
        // the sampled peak, and the kernel's high-water mark (which no sampling can miss)
        peak = Math.max(sampler.stop(), memoryMB(server.pid)?.peak ?? 0);
      }
      const cut = receivers.filter((r) => r.eof || r.goodbye);
      assert.equal(
        cut.length,
        0,
        `${cut.length} receivers were cut: ${JSON.stringify(cut[0]?.goodbye)}`,
      );
      const short = receivers.filter((r) => r.messages !== FLOOD_MESSAGES);
      assert.equal(short.length, 0, `${short.length} receivers missed messages`);
      assert.equal(sender.goodbye, undefined, "the sender was not cut either");
      const acks = sender.frames.filter((f) => f.type === "ack").length;
      assert.equal(acks, FLOOD_MESSAGES, "every send acknowledged");
      assert.ok(peak < FLOOD_PEAK_RSS_MB, `server peak RSS ${peak.toFixed(0)} MB`);
      assert.equal(server.exited, false, serverState(server));
      assert.ok((await receivers[0].pingMs()) < 5_000);
    } finally {
      await closeAll(receivers);
    }
  }));

// ---- 4. identity churn -------------------------------------------------------------------------

Deno.test(`attack 4: --max-new-ids-per-address ${NEW_IDS}: ${NEW_IDS} hellos without a token get ids, the next gets rate_limited and goodbye too_many_ids; a returning user still logs in and messages flow`, async () => {
  await using server = await h.startServer({
    args: ["--max-new-ids-per-address", String(NEW_IDS)],
  });
  const issued: Frame[] = [];
  for (let i = 0; i < NEW_IDS; i++) {
    await using churn = await Light.hello(server, { name: `churn${i}` });
    assert.ok(churn.welcome, `hello ${i + 1} of ${NEW_IDS}: ${JSON.stringify(churn.frames)}`);
    issued.push(churn.welcome);
  }
  // one more, under any name: a clear refusal, then goodbye
  for (const name of ["churn", "somebody"]) {
    await using refused = await Light.hello(server, { name });
    const error = refused.first("error");
    assert.equal(refused.welcome, undefined, `no id for ${name}`);
    assert.equal(error?.code, "rate_limited", JSON.stringify(refused.frames));
    const goodbye = await refused.next("goodbye");
    assert.equal(goodbye.reason, "too_many_ids");
    assert.match(goodbye.message, /^[a-z].{20,}$/, "one readable sentence");
    assert.doesNotMatch(goodbye.message, /\n/);
    assert.equal(await refused.closed(), true, "the connection is closed");
  }
  // the people who have ids are not affected: back with their tokens, they chat
  await using first = await Light.hello(server, {
    name: issued[0].you.name,
    token: issued[0].token,
  }, { messages: true });
  await using second = await Light.hello(server, {
    name: issued[1].you.name,
    token: issued[1].token,
  }, { messages: true });
  assert.equal(first.welcome?.you.id, issued[0].you.id, JSON.stringify(first.frames));
  assert.equal(second.welcome?.you.id, issued[1].you.id, JSON.stringify(second.frames));
  assert.ok(await roundTripMs(first, second, "returning") < 5_000);
  assert.ok(await roundTripMs(second, first, "returning-back") < 5_000);
});

// ---- 5. name exhaustion ------------------------------------------------------------------------

Deno.test(`attack 5: the ids of a name cannot be used up: ${SAME_NAME_HELLOS} hellos of "victim" all get distinct ids, each < ${SAME_NAME_HELLO_MS} ms; with all 10,000 four-digit ids taken, victim still gets one`, async () => {
  await using dir = await h.tempDir("chat-e2e-victim-");
  await using server = await h.startServer({
    dir: dir.path,
    args: ["--max-new-ids-per-address", "0"],
  });
  const ids = new Set<string>();
  const times: number[] = [];
  const hello = async (i: number) => {
    const started = performance.now();
    await using victim = await Light.hello(server, { name: "victim" });
    times.push(performance.now() - started);
    assert.ok(victim.welcome, `hello ${i + 1}: ${JSON.stringify(victim.frames)}`);
    ids.add(victim.welcome.you.id.toLowerCase());
  };
  for (let i = 0; i < SAME_NAME_HELLOS; i += SAME_NAME_CONCURRENCY) {
    await Promise.all(
      Array.from(
        { length: Math.min(SAME_NAME_CONCURRENCY, SAME_NAME_HELLOS - i) },
        (_, k) => hello(i + k),
      ),
    );
  }
  assert.equal(ids.size, SAME_NAME_HELLOS, "every id is new");

  // every 4-digit id of the name taken (written into the database, as if issued over the wire)
  const db = new DatabaseSync(join(dir.path, "chat.db"));
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("BEGIN IMMEDIATE");
    const insert = db.prepare(
      "INSERT OR IGNORE INTO identities (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
    );
    for (let n = 0; n < 10_000; n++) {
      insert.run(`victim_${String(n).padStart(4, "0")}`, "victim", "x".repeat(64), Date.now());
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
  const crowded: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await using victim = await Light.hello(server, { name: "victim" });
    crowded.push(performance.now() - started);
    assert.ok(victim.welcome, `crowded hello ${i + 1}: ${JSON.stringify(victim.frames)}`);
    assert.match(victim.welcome.you.id, /^victim_[0-9]{5,8}$/);
    assert.ok(!ids.has(victim.welcome.you.id.toLowerCase()));
    ids.add(victim.welcome.you.id.toLowerCase());
  }
  const slowest = Math.max(...times, ...crowded);
  console.log(
    `name exhaustion: ${SAME_NAME_HELLOS} hellos of victim, each a new connection, ` +
      `${SAME_NAME_CONCURRENCY} at a time: median ${
        times.sort((a, b) => a - b)[times.length >> 1].toFixed(0)
      } ms, max ${Math.max(...times).toFixed(0)} ms; with every 4-digit id taken: max ${
        Math.max(...crowded).toFixed(0)
      } ms`,
  );
  assert.ok(slowest < SAME_NAME_HELLO_MS, `a hello took ${slowest.toFixed(0)} ms`);
});

// ---- 6. idle sockets ---------------------------------------------------------------------------

/** A connection the attacker holds open and opens again as soon as the server drops it. */
interface Held {
  closed(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Keeps `slots` connections open, re-opening each as soon as it is dropped, until `stop.done`.
 * Counts how many were opened and dropped.
 */
function holdOpen(
  slots: number,
  open: () => Promise<Held>,
  stop: { done: boolean },
  stats: { opened: number; dropped: number; failed: number },
): Promise<void> {
  return Promise.all(Array.from({ length: slots }, async () => {
    while (!stop.done && stats.opened < IDLE_MAX_OPENS) {
      let held: Held;
      try {
        held = await open();
      } catch {
        stats.failed++; // dropped during its handshake
        await h.delay(5);
        continue;
      }
      stats.opened++;
      while (!stop.done && !(await held.closed(100)));
      if (!stop.done) stats.dropped++;
      await held.close();
    }
  })).then(() => {});
}

async function idleSocketsAttack(cap: number | undefined, attempts: number): Promise<void> {
  await using server = await h.startServer({
    args: cap === undefined ? [] : ["--max-connections-per-address", String(cap)],
  });
  await using resident = await Light.hello(server, { name: "resident" }, { messages: true });
  await using friend = await Light.hello(server, { name: "friend" }, { messages: true });
  const stop = { done: false };
  const tcp = { opened: 0, dropped: 0, failed: 0 };
  const tls = { opened: 0, dropped: 0, failed: 0 };
  const attackStarted = performance.now();
  const attack = Promise.all([
    holdOpen(IDLE_TCP, () => h.tcpClient(server.port), stop, tcp),
    holdOpen(IDLE_TLS, () => h.rawClient(server.port, server.caFile), stop, tls),
  ]);
  const logins: number[] = [];
  const trips: number[] = [];
  const failures: string[] = [];
  try {
    await h.delay(1_000); // the attack is in full swing
    // the people already in chat on
    for (let i = 0; i < 5; i++) trips.push(await roundTripMs(resident, friend, `during-${i}`));
    for (let i = 0; i < IDLE_NEWCOMERS; i++) {
      for (let attempt = 1;; attempt++) {
        const started = performance.now();
        let newcomer: Light;
        try {
          newcomer = await Light.hello(server, { name: `newcomer${i}` }, { messages: true });
        } catch (error) {
          failures.push(`newcomer ${i}, attempt ${attempt}: ${String(error).slice(0, 80)}`);
          if (attempt >= attempts) break;
          await h.delay(100);
          continue;
        }
        await using _newcomer = newcomer;
        logins.push(performance.now() - started);
        assert.ok(newcomer.welcome, `newcomer ${i}: ${JSON.stringify(newcomer.frames)}`);
        trips.push(await roundTripMs(newcomer, resident, `newcomer-${i}`));
        trips.push(await roundTripMs(resident, friend, `resident-${i}`));
        break;
      }
      await h.delay(200);
    }
  } finally {
    stop.done = true;
    await attack;
  }
  const seconds = (performance.now() - attackStarted) / 1000;
  console.log(
    `idle sockets, for ${
      seconds.toFixed(1)
    } s: attacker opened ${tcp.opened} TCP (${tcp.dropped} dropped by the server) and ` +
      `${tls.opened} TLS (${tls.dropped} dropped, ${tls.failed} failed in the handshake), ` +
      `${Math.round((tcp.opened + tls.opened) / seconds)} a second; ` +
      `${logins.length} of ${IDLE_NEWCOMERS} newcomers logged in, slowest ${
        Math.max(...logins).toFixed(0)
      } ms; ` +
      `messages meanwhile: slowest ${Math.max(...trips).toFixed(0)} ms; ${failures.length} ` +
      `failed attempts${failures.length ? `, e.g. ${failures[0]}` : ""}`,
  );
  if (cap !== undefined) {
    assert.ok(tcp.dropped + tls.dropped > 0, "the server did push idle sockets out");
  }
  assert.equal(resident.goodbye, undefined);
  assert.equal(resident.eof, false, "the resident was never cut");
  assert.ok(Math.max(...trips) < 5_000, "the resident's messages went through");
  assert.equal(
    logins.length,
    IDLE_NEWCOMERS,
    `only ${logins.length} of ${IDLE_NEWCOMERS} new users got in, in ${
      logins.length + failures.length
    } attempts (at most ${attempts} each); the others were closed before their welcome`,
  );
  assert.ok(Math.max(...logins) < IDLE_LOGIN_MS, `a newcomer took ${Math.max(...logins)} ms`);
}

Deno.test(`attack 6: ${IDLE_TCP} idle TCP and ${IDLE_TLS} idle TLS sockets from 127.0.0.1, re-opened as they are dropped, lock nobody out: a user logged in before keeps chatting, new users log in`, async () => {
  await idleSocketsAttack(undefined, IDLE_ATTEMPTS);
});

Deno.test(`attack 6c: the same with --max-connections-per-address 32, so that the idle sockets are pushed out thousands of times a second: newcomers still get in within ${IDLE_CHURN_ATTEMPTS} attempts`, async () => {
  await idleSocketsAttack(32, IDLE_CHURN_ATTEMPTS);
});

Deno.test("attack 6b: --max-connections-per-address 3: a 4th pending connection closes the oldest pending one, never a logged-in one", async () => {
  await using server = await h.startServer({ args: ["--max-connections-per-address", "3"] });
  await using one = await Light.hello(server, { name: "one" }, { messages: true });
  await using two = await Light.hello(server, { name: "two" }, { messages: true });
  await using three = await Light.hello(server, { name: "three" }, { messages: true });
  await using four = await Light.hello(server, { name: "four" }, { messages: true });
  const pending = [];
  try {
    for (let i = 0; i < 3; i++) {
      pending.push(await h.tcpClient(server.port));
      await h.delay(200); // accepted in this order
    }
    for (const p of pending) assert.equal(await p.closed(300), false, "3 pending are allowed");
    pending.push(await h.tcpClient(server.port));
    assert.equal(await pending[0].closed(3_000), true, "the oldest pending one was closed");
    for (const p of pending.slice(1)) assert.equal(await p.closed(500), false, "the others stay");
    // and a 5th: the next oldest goes
    pending.push(await h.tcpClient(server.port));
    assert.equal(await pending[1].closed(3_000), true, "then the next oldest");
    for (const p of pending.slice(2)) assert.equal(await p.closed(300), false);
  } finally {
    await closeAll(pending);
  }
  for (const user of [one, two, three, four]) {
    assert.equal(user.eof, false, "no logged-in user was closed");
    assert.ok(await user.pingMs() < 5_000);
  }
  assert.ok(await roundTripMs(one, four, "after") < 5_000);
});

// ---- 7. `who` in a big room --------------------------------------------------------------------

Deno.test(`attack 7: who with ${BIG_ROOM} online with 24-character names answers users, cut to fit, online ${BIG_ROOM}`, async () => {
  await using server = await h.startServer({
    args: ["--max-new-ids-per-address", "0", "--max-connections-per-address", "5000"],
  });
  const name = (i: number) => `n${String(i).padStart(5, "0")}`.padEnd(24, "x");
  const room: Light[] = [];
  const started = performance.now();
  try {
    for (let i = 0; i < BIG_ROOM; i += BIG_ROOM_CONCURRENCY) {
      const n = Math.min(BIG_ROOM_CONCURRENCY, BIG_ROOM - i);
      room.push(
        ...await Promise.all(
          Array.from({ length: n }, (_, k) =>
            Light.hello(server, { name: name(i + k) }, {
              buffer: 8 * 1024,
            })),
        ),
      );
      const refused = room.find((r) => !r.welcome);
      assert.equal(refused, undefined, `login refused: ${JSON.stringify(refused?.frames)}`);
    }
    const loginMs = performance.now() - started;
    const asker = room[0];
    await asker.send({ type: "who", ref: "who-big" });
    const answer = await asker.answer("who-big", 15_000);
    const bytes = new TextEncoder().encode(JSON.stringify(answer)).length;
    console.log(
      `big room: ${BIG_ROOM} logged in over TLS in ${Math.round(loginMs)} ms; who answered ` +
        `${answer.type} with ${answer.users?.length} users in ${bytes} bytes, ` +
        `online ${answer.online}`,
    );
    assert.equal(answer.type, "users", JSON.stringify(answer).slice(0, 300));
    assert.equal(answer.online, BIG_ROOM);
    assert.ok(answer.users.length > 0 && answer.users.length <= BIG_ROOM);
    assert.ok(bytes <= 65_536, `the frame is ${bytes} bytes`);
    assert.ok(answer.users.every((u: Frame) => u.name.length === 24));
    assert.ok(loginMs < BIG_ROOM_LOGIN_MS, `logging in took ${Math.round(loginMs)} ms`);
    const cut = room.filter((r) => r.eof);
    assert.equal(cut.length, 0, "nobody was cut");
    assert.ok(await room[BIG_ROOM - 1].pingMs() < 5_000);
  } finally {
    await closeAll(room);
  }
});

// ---- 8. acks after a flood cut -----------------------------------------------------------------

Deno.test("attack 8: --max-rate 2: a flooder cut with goodbye flood had every stored message acknowledged before the goodbye; a retry with its token answers with the stored id; none stored twice", async () => {
  await using server = await h.startServer({ args: ["--max-rate", "2"] });
  await using observer = await Light.hello(server, { name: "observer" }, { messages: true });
  await using flooder = await Light.hello(server, { name: "flooder" });
  const { id, name } = flooder.welcome.you;
  const token: string = flooder.welcome.token;
  // the burst (20 at 2/s) and then 50 refusals in a row: exactly enough to be cut
  const total = FLOOD_CUT_SENDS;
  await flooder.sendBytes(sends("fl", 0, total, (i) => `flood ${i}`));
  const goodbye = await flooder.next("goodbye");
  assert.equal(goodbye.reason, "flood");
  assert.equal(await flooder.closed(), true);
  await flooder.close();
  const before = flooder.frames.slice(0, flooder.frames.indexOf(goodbye));
  const acked = new Map<string, string>(); // ref → id
  for (const f of before) if (f.type === "ack") acked.set(f.ref, f.id);
  const answered = new Set(before.filter((f) => f.ref !== undefined).map((f) => f.ref));
  const unanswered = Array.from({ length: total }, (_, i) => `fl${i}`).filter((r) =>
    !answered.has(r)
  );

  // what the server stored from it, as the others saw it
  await observer.next("presence", (p) => p.left?.id === id);
  const marker = `marker ${crypto.randomUUID()}`;
  await observer.send({ type: "send", ref: "marker", text: marker });
  await observer.next("message", (m) => m.text === marker);
  const stored = observer.frames.filter((f) => f.type === "message" && f.from === id);
  const ackedBefore = stored.filter((m) => [...acked.values()].includes(m.id)).length;

  // the client comes back with its token and re-sends what had no answer (retry: true), at the
  // rate allowed, and one that was acknowledged, as a client that lost that ack would
  await using back = await Light.hello(server, { name, token });
  assert.equal(back.welcome?.you.id, id, JSON.stringify(back.frames));
  const retry = [...unanswered, ...[...acked.keys()].slice(0, 1)];
  for (const ref of retry) {
    const text = `flood ${ref.slice(2)}`;
    for (let attempt = 0; attempt < 10; attempt++) {
      const seen = back.frames.length;
      await back.send({ type: "send", ref, text, retry: true });
      await back.until(
        () => back.frames.slice(seen).some((f) => f.ref === ref),
        10_000,
        `the answer to the retry of ${ref}`,
      );
      const answer = back.frames.slice(seen).find((f) => f.ref === ref);
      if (answer.type === "ack") {
        const first = acked.get(ref);
        if (first !== undefined) assert.equal(answer.id, first, "acknowledged with the first id");
        acked.set(ref, answer.id);
        break;
      }
      assert.equal(answer.code, "rate_limited", JSON.stringify(answer));
      await h.delay(600);
    }
  }
  const marker2 = `marker ${crypto.randomUUID()}`;
  await observer.send({ type: "send", ref: "marker2", text: marker2 });
  await observer.next("message", (m) => m.text === marker2);
  const all = observer.frames.filter((f) => f.type === "message" && f.from === id);
  const texts = all.map((m) => m.text);
  console.log(
    `flood cut: ${total} sends; ${stored.length} stored before the cut, ${ackedBefore} of them ` +
      `acknowledged before the goodbye; ${unanswered.length} had no answer and were re-sent`,
  );
  assert.equal(new Set(texts).size, texts.length, `nothing stored twice: ${texts.join(", ")}`);
  const ackedIds = new Set(acked.values());
  const unacked = all.filter((m) => !ackedIds.has(m.id)).map((m) => m.text);
  assert.deepEqual(unacked, [], "every stored message was acknowledged");
  assert.equal(ackedBefore, stored.length, "acknowledged before the goodbye");
});

// ---- 9. sessions -------------------------------------------------------------------------------

Deno.test("attack 9: a token rotates on every hello; a copy of a replaced token opens a second session that sessions lists; logout_others ends it: that token is refused with revoked, and joining again gives a new id", async () => {
  await using server = await h.startServer();
  const ask = async (client: Light, type: string) => {
    const ref = `${type}-${crypto.randomUUID()}`;
    await client.send({ type, ref });
    return await client.answer(ref);
  };
  const first = await Light.hello(server, { name: "owner" });
  const { id } = first.welcome.you;
  const t1: string = first.welcome.token;
  await first.close();
  // the owner comes back: a new token
  const owner = await Light.hello(server, { name: "owner", token: t1 });
  assert.equal(owner.welcome?.you.id, id, JSON.stringify(owner.frames));
  const t2: string = owner.welcome.token;
  assert.notEqual(t2, t1, "the token was rotated");
  // someone presents a copy of the replaced one: a second session, which both can see
  await using thief = await Light.hello(server, { name: "owner", token: t1 });
  assert.equal(thief.welcome?.you.id, id, JSON.stringify(thief.frames));
  const t3: string = thief.welcome.token;
  assert.ok(t3 !== t1 && t3 !== t2);
  assert.equal((await owner.next("goodbye")).reason, "replaced");
  await owner.close();
  const listed = await ask(thief, "sessions");
  assert.equal(listed.type, "sessions", JSON.stringify(listed));
  assert.equal(listed.sessions.length, 2, JSON.stringify(listed));
  // the owner logs in with their own token, sees both, and logs the other out
  await using again = await Light.hello(server, { name: "owner", token: t2 });
  assert.equal(again.welcome?.you.id, id, JSON.stringify(again.frames));
  const t4: string = again.welcome.token;
  assert.ok(![t1, t2, t3].includes(t4));
  const both = await ask(again, "sessions");
  assert.equal(both.sessions.length, 2);
  assert.equal(both.sessions.filter((s: Frame) => s.current).length, 1);
  assert.ok(both.sessions.every((s: Frame) => s.address === "127.0.0.1"), JSON.stringify(both));
  const left = await ask(again, "logout_others");
  assert.equal(left.type, "sessions", JSON.stringify(left));
  assert.equal(left.sessions.length, 1);
  assert.equal(left.sessions[0].current, true);
  // the revoked session's token is refused, and said so (the client then forgets it)
  await using revoked = await Light.hello(server, { name: "owner", token: t3 });
  assert.equal(revoked.welcome, undefined, JSON.stringify(revoked.frames));
  assert.equal(revoked.first("error")?.code, "revoked", JSON.stringify(revoked.frames));
  assert.equal((await revoked.next("goodbye")).reason, "revoked");
  assert.equal(await revoked.closed(), true);
  // joining again without it, or with the long-replaced first token: a new id, not the owner's
  for (const token of [undefined, t1]) {
    await using stranger = await Light.hello(server, {
      name: "owner",
      ...(token ? { token } : {}),
    });
    assert.ok(stranger.welcome, JSON.stringify(stranger.frames));
    assert.notEqual(stranger.welcome.you.id, id, "a new id");
  }
  assert.ok(await again.pingMs() < 5_000, "the owner is still in");
  assert.equal(again.goodbye, undefined);
  assert.match(
    server.output(),
    /a replaced token was presented again; it opens a second session id=\S+ address=127\.0\.0\.1/,
  );
});

// ---- 10. password ------------------------------------------------------------------------------

Deno.test("attack 10: --password-file: every wrong password is logged with the address (never the password itself)", async () => {
  await using secrets = await h.tempDir("chat-e2e-secrets-");
  const file = join(secrets.path, "password.txt");
  await Deno.writeTextFile(file, "correct horse battery\n");
  await using server = await h.startServer({ args: ["--password-file", file] });
  // two guesses, each after the previous one's delay has passed (1 s, then 2 s)
  const guesses = ["wrong guess alpha", "wrong guess beta"];
  for (const password of guesses) {
    await h.delay(200); // the previous guess's delay is over
    await using guess = await Light.hello(server, { name: "guesser", password }, {}, 10_000);
    assert.equal(guess.first("error")?.code, "bad_password", JSON.stringify(guess.frames));
    assert.match(guess.first("error").message, /wrong password/);
  }
  await using member = await Light.hello(server, {
    name: "member",
    password: "correct horse battery",
  }, { messages: true });
  assert.ok(member.welcome, JSON.stringify(member.frames));
  const logged = server.output().split("\n").filter((l) => /wrong password/.test(l));
  console.log(`password: the log says:\n${logged.join("\n")}`);
  assert.equal(logged.length, guesses.length, "one line per wrong password");
  for (const line of logged) assert.match(line, /127\.0\.0\.1/);
  for (const password of guesses) assert.ok(!server.output().includes(password));
  assert.ok(!server.output().includes("correct horse"));
  assert.ok(await member.pingMs() < 5_000);
});
