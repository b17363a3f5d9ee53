/**
 * End-to-end test harness: the real `chat serve` and `chat join` processes (src/main.ts run by
 * the same Deno that runs the tests) on 127.0.0.1 with `--port 0`, temp databases, temp
 * certificates and temp state dirs, plus raw TLS and TCP connections for hostile input.
 *
 * Every wait is bounded, every process is awaited, every stream is drained to its end or
 * cancelled, every temp dir is removed: the handles are `AsyncDisposable`, so a test writes
 * `await using server = await startServer();` and cleanup runs even when an assertion fails.
 * A test file that uses many of these imports the module whole, `import * as h from
 * "./harness.ts"` (its types by name), rather than a long list of names that every file repeats.
 *
 * @example
 * ```ts
 * await using server = await startServer();
 * await using a = await joinClient(server, "alice");
 * a.send("hello");
 * await a.waitFor((e) => e.type === "message" && e.text === "hello");
 * ```
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { encodeFrame, FrameCutter } from "../../src/protocol/codec.ts";
import { permissionFlags } from "../../src/cli/permissions.ts";
import { localServeArgv } from "../../src/cli/options.ts";
import { ensureServerCerts } from "../../src/tls/certs.ts";

/** Absolute path of the entrypoint under test. */
export const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
/** The program's sources (its search worker reads them at run time). */
export const SRC = fileURLToPath(new URL("../../src", import.meta.url));
/** The project's deno.json, passed explicitly so a child may run from any working directory. */
export const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));
/**
 * `chat` from source with every permission: for the bench and the pseudo-terminal client (the
 * other tests grant only what the launchers grant: {@link chatPermissions}).
 */
export const CHAT_ALL_PERMISSIONS = [Deno.execPath(), "run", "-A", "--config", CONFIG, MAIN];

/** Time allowed for `chat serve` to print its address. */
export const SERVER_START_TIMEOUT_MS = 15_000;
/** Default bound on any single wait for an event. */
export const WAIT_TIMEOUT_MS = 10_000;
/** Time a process gets to exit after stdin is closed or a signal is sent, before SIGKILL. */
export const EXIT_TIMEOUT_MS = 15_000;

/** The environment of every child: ours, without RUST_BACKTRACE, with NO_COLOR=1. */
/** A `--log-format json` line as an object, or undefined when it is not one. */
// deno-lint-ignore no-explicit-any
export function jsonLogEntry(line: string): Record<string, any> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.RUST_BACKTRACE;
  return { ...env, NO_COLOR: "1", ...extra };
}

/**
 * The permissions the launchers grant `chat ARGV...` (src/cli/permissions.ts) instead of -A, so
 * every end-to-end test runs the program as users do: a permission the code needs and the
 * launchers forget fails here.
 */
export function chatPermissions(
  argv: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): string[] {
  const env = opts.env ?? childEnv();
  return permissionFlags(argv, {
    cwd: opts.cwd ?? Deno.cwd(),
    env: (name) => env[name],
    program: [SRC],
    deno: Deno.execPath(),
    tmpDir: tmpdir(),
    windows: Deno.build.os === "windows",
  });
}

/** A fresh temp dir (the caller removes it, e.g. with {@link removeDir}). */
export function makeTempDir(prefix = "chat-e2e-"): Promise<string> {
  return Deno.makeTempDir({ prefix });
}

/**
 * Removes a dir and everything in it; missing is fine. A file written into it meanwhile (a
 * process still on its way out) makes the removal fail with "Directory not empty": it is tried
 * again, for up to 2 s.
 */
export async function removeDir(dir: string): Promise<void> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    try {
      await Deno.remove(dir, { recursive: true });
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      const notEmpty = (error as { code?: string }).code === "ENOTEMPTY" ||
        /not empty/i.test(String(error));
      if (!notEmpty || Date.now() >= deadline) throw error;
      await delay(50);
    }
  }
}

/**
 * A fresh temp dir (its `path`), removed (as {@link removeDir}) when the scope it is bound in
 * ends: `await using dir = await tempDir("chat-e2e-x-");`, as tests/fixtures.ts's for unit tests.
 */
export async function tempDir(prefix?: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await makeTempDir(prefix);
  return { path, [Symbol.asyncDispose]: () => removeDir(path) };
}

/** Resolves after `ms`; the timer never outlives the test. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Races `promise` against a timer that is always cleared. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `check` every `everyMs` until it holds; throws, naming `what` (a function is called only
 * then, so it may be costly), once `timeoutMs` has passed first. The one wait for a condition in
 * the end-to-end tests: where giving up is fine, the caller says so with `.catch(() => {})`.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
  everyMs = 20,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() >= end) {
      throw new Error(
        `timed out after ${timeoutMs} ms: ${typeof what === "string" ? what : what()}`,
      );
    }
    await delay(everyMs);
  }
}

/** Wakes whoever waits for news of a stream (data arrived, it ended); every wait is bounded. */
export class Signal {
  readonly #listeners = new Set<() => void>();

  /** Wakes every waiter. */
  notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Resolves on the next `notify`, or after `ms` (the timer is always cleared). */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const listeners = this.#listeners;
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        listeners.delete(done);
        resolve();
      }
      listeners.add(done);
    });
  }
}

/** Closes `conn` if it is still open. */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** Closes `conn` once, however often it is called, and waits for the loop `reading` it. */
export function closer(conn: Deno.Conn, reading: Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    closing ??= (async () => {
      closeQuietly(conn);
      await reading;
    })();
}

// ---- reading a child's output ------------------------------------------------------------------

/**
 * Reads a byte stream to its end, line by line, keeping everything; never lets a pipe fill.
 * `wait` resolves when a line matching a predicate has arrived (or the stream ended).
 */
class LineReader extends Signal {
  readonly lines: string[] = [];
  text = "";
  ended = false;
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>, onLine?: (line: string) => void) {
    super();
    this.done = (async () => {
      let rest = "";
      try {
        for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
          this.text += chunk;
          const parts = (rest + chunk).split("\n");
          rest = parts.pop()!;
          for (const line of parts) {
            this.lines.push(line);
            onLine?.(line);
          }
          this.notify();
        }
      } catch {
        // the process was killed mid-write: what we have is what there is
      }
      if (rest !== "") {
        this.lines.push(rest);
        onLine?.(rest);
      }
      this.ended = true;
      this.notify();
    })();
  }
}

/**
 * `chat ARGV…` from source, run with the permissions its launchers grant, in `env` alone, its
 * output piped.
 */
class ChatProcess {
  readonly child: Deno.ChildProcess;
  /** Resolves when it has exited (and marks `exited`). */
  readonly status: Promise<Deno.CommandStatus>;
  exited = false;

  constructor(
    argv: string[],
    opts: { env: Record<string, string>; cwd?: string; stdin: "null" | "piped" },
  ) {
    const { env, cwd } = opts;
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...chatPermissions(argv, { cwd, env }), "--config", CONFIG, MAIN, ...argv],
      env,
      clearEnv: true,
      cwd,
      stdin: opts.stdin,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.status = this.child.status.then((s) => {
      this.exited = true;
      return s;
    });
  }

  /** Sends `signal` unless it has exited. */
  kill(signal: Deno.Signal): void {
    if (this.exited) return;
    try {
      this.child.kill(signal);
    } catch {
      // it exited meanwhile
    }
  }
}

/** Waits for the process to exit; SIGKILLs it if it has not after `ms`. */
async function statusWithin(
  child: Deno.ChildProcess,
  ms: number,
): Promise<{ status: Deno.CommandStatus; timedOut: boolean }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    child.status.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  return { status: await child.status, timedOut };
}

// ---- the server --------------------------------------------------------------------------------

export interface ServerOptions {
  /** Use this dir (db and certs inside it) instead of a fresh temp dir; the caller removes it. */
  dir?: string;
  /** Extra `chat serve` arguments. */
  args?: string[];
  env?: Record<string, string>;
}

export interface ServerHandle extends AsyncDisposable {
  port: number;
  /** The pid of the `chat serve` process (for /proc/PID/status: its memory). */
  pid: number;
  dir: string;
  /** `DIR/certs/ca.pem`, for `join --ca`. */
  caFile: string;
  /** The `SHA256:...` fingerprint `chat serve` printed. */
  fingerprint: string;
  /** Everything printed so far on stdout and stderr. */
  output(): string;
  /** Sends `signal`, waits for the exit (SIGKILL after a while), returns the status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** SIGKILL, then the status. */
  kill9(): Promise<Deno.CommandStatus>;
  /** Whether the process has exited. */
  readonly exited: boolean;
}

/**
 * The heaviest load tests (floods to hundreds of receivers, a cluster failover) take turns: the
 * suite runs two files at once on a 2-core machine, and two of these side by side starve each
 * other past the bounds they check. `deno test --parallel` runs files in separate processes,
 * so the turn is an exclusive lock on a file in the system's temp dir. The wait is bounded by the
 * other test's own bounds.
 */
export async function takingTurns<T>(fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(join(Deno.env.get("TMPDIR") ?? "/tmp", "chat-heavy-tests.lock"), {
    create: true,
    write: true,
  });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // closing releases the lock
  }
}

/** Starts `chat serve --host 127.0.0.1 --port 0` on a temp db and temp certs. */
export async function startServer(opts: ServerOptions = {}): Promise<ServerHandle> {
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? await makeTempDir("chat-e2e-server-");
  const argv = localServeArgv(join(dir, "chat.db"), join(dir, "certs"), opts.args);
  const proc = new ChatProcess(argv, { env: childEnv(opts.env), stdin: "null" });
  const { child, status } = proc;
  const out = new LineReader(child.stdout);
  const err = new LineReader(child.stderr);
  const output = () => out.text + err.text;

  let stopped: Promise<Deno.CommandStatus> | undefined;
  const finish = async (signal: Deno.Signal) => {
    proc.kill(signal);
    const { status: s, timedOut } = await statusWithin(child, EXIT_TIMEOUT_MS);
    await Promise.all([out.done, err.done, status]);
    if (timedOut) {
      throw new Error(`the server did not exit within ${EXIT_TIMEOUT_MS} ms of ${signal}`);
    }
    return s;
  };
  const stop = (signal: Deno.Signal = "SIGTERM") => (stopped ??= finish(signal));

  let port = 0;
  let fingerprint = "";
  try {
    const end = Date.now() + SERVER_START_TIMEOUT_MS;
    for (;;) {
      const listening = out.lines.map((l) => /^listening on 127\.0\.0\.1:(\d+)$/.exec(l))
        .find((m) => m);
      const fp = out.lines.map((l) => /^CA fingerprint: (SHA256:\S+)$/.exec(l)).find((m) => m);
      if (listening && fp) {
        port = Number(listening[1]);
        fingerprint = fp[1];
        break;
      }
      // with --log-format json there is no banner: the "listening" entry says the same
      const entry = out.lines.map(jsonLogEntry).find((e) => e?.msg === "listening");
      if (entry) {
        port = Number(entry.port);
        fingerprint = String(entry.fingerprint);
        break;
      }
      if (out.ended || Date.now() >= end) {
        throw new Error(
          `chat serve did not print its address and fingerprint ${
            out.ended ? "before exiting" : `within ${SERVER_START_TIMEOUT_MS} ms`
          }; output:\n${output()}`,
        );
      }
      await out.changed(Math.max(1, end - Date.now()));
    }
  } catch (error) {
    await stop("SIGKILL").catch(() => {});
    if (ownsDir) await removeDir(dir);
    throw error;
  }

  return {
    port,
    pid: child.pid,
    dir,
    caFile: join(dir, "certs", "ca.pem"),
    fingerprint,
    output,
    stop,
    kill9: () => stop("SIGKILL"),
    get exited() {
      return proc.exited;
    },
    async [Symbol.asyncDispose]() {
      try {
        await stop("SIGKILL").catch(() => {});
      } finally {
        if (ownsDir) await removeDir(dir);
      }
    },
  };
}

// ---- a join client -----------------------------------------------------------------------------

/** One NDJSON event printed by `join --json` (or `{type: "unparsed", line}`). */
// deno-lint-ignore no-explicit-any
export type ChatEvent = { type: string; [key: string]: any };

export interface ClientOptions {
  mode?: "json" | "plain";
  /** XDG_STATE_HOME for the client (tokens and pins); a fresh temp dir when absent. */
  stateDir?: string;
  extraArgs?: string[];
  /** Leave out `--ca` (to test other trust sources). */
  noCa?: boolean;
  /** Working directory of the client process. */
  cwd?: string;
  env?: Record<string, string>;
}

export interface ClientResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ClientHandle extends AsyncDisposable {
  /** NDJSON events parsed so far (json mode). */
  readonly events: ChatEvent[];
  /** Raw stdout lines so far. */
  readonly lines: string[];
  /** Everything on stderr so far. */
  stderr(): string;
  /** The state dir (XDG_STATE_HOME) this client uses. */
  stateDir: string;
  /** Writes one input line to the client's stdin (a no-op once stdin is closed or it exited). */
  send(line: string): Promise<void>;
  /** The first event (already seen or coming) matching `pred`; throws with the events on timeout. */
  waitFor(pred: (e: ChatEvent) => boolean, timeoutMs?: number): Promise<ChatEvent>;
  /** The first raw stdout line matching `pred` (plain mode). */
  waitForLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** The welcome's `you` (waits for the welcome). */
  me(timeoutMs?: number): Promise<{ id: string; name: string }>;
  /** Closes stdin and waits for the exit. */
  end(timeoutMs?: number): Promise<ClientResult>;
  /** SIGKILL and wait. */
  kill(): Promise<Deno.CommandStatus>;
  /** The exit code if the process exits on its own within `timeoutMs` (stdin left open). */
  exitedWithin(timeoutMs: number): Promise<number>;
  readonly exited: boolean;
}

/** Runs `chat join` with the given arguments (no `--name`/`--server` added); for usage tests. */
export async function runJoinRaw(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ClientResult> {
  return await runChat(["join", ...args], opts);
}

/** Runs `chat ARGS...` to its end with stdin closed; bounded. */
export async function runChat(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ClientResult> {
  const { child } = new ChatProcess(args, {
    env: childEnv(opts.env),
    cwd: opts.cwd,
    stdin: "null",
  });
  const out = new LineReader(child.stdout);
  const err = new LineReader(child.stderr);
  const { status, timedOut } = await statusWithin(child, opts.timeoutMs ?? EXIT_TIMEOUT_MS);
  await Promise.all([out.done, err.done]);
  if (timedOut) throw new Error(`chat ${args.join(" ")} did not exit in time:\n${err.text}`);
  return { code: status.code, stdout: out.text, stderr: err.text };
}

/** Spawns `chat join --json --name NAME --server 127.0.0.1:PORT --ca CAFILE`. */
export async function joinClient(
  server: Pick<ServerHandle, "port" | "caFile">,
  name: string,
  opts: ClientOptions = {},
): Promise<ClientHandle> {
  const ownsState = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? await makeTempDir("chat-e2e-state-");
  const mode = opts.mode ?? "json";
  const argv = [
    "join",
    `--${mode}`,
    "--name",
    name,
    "--server",
    `127.0.0.1:${server.port}`,
    ...(opts.noCa ? [] : ["--ca", server.caFile]),
    ...(opts.extraArgs ?? []),
  ];
  const env = childEnv({ XDG_STATE_HOME: stateDir, ...opts.env });
  const proc = new ChatProcess(argv, { env, cwd: opts.cwd, stdin: "piped" });
  const { child, status } = proc;
  const events: ChatEvent[] = [];
  const out = new LineReader(child.stdout, (line) => {
    if (mode !== "json" || line.trim() === "") return;
    try {
      events.push(JSON.parse(line));
    } catch {
      events.push({ type: "unparsed", line });
    }
  });
  const err = new LineReader(child.stderr);
  const stdin = child.stdin.getWriter();
  let stdinClosed = false;
  /** Set before the test ends or kills the process: late writes may fail, harmlessly. */
  let stopping = false;
  const closeStdin = async () => {
    if (stdinClosed) return;
    stdinClosed = true;
    try {
      await stdin.close();
    } catch {
      // the process is gone: the pipe is broken, which closes it too
    }
  };
  const describe = () =>
    `events so far:\n${out.lines.join("\n")}\nstderr:\n${err.text}${
      proc.exited ? "\n(the client has exited)" : ""
    }`;

  async function found<T>(find: () => T | undefined, timeoutMs: number, what: string) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (out.ended) throw new Error(`${name}: output ended before ${what}; ${describe()}`);
      if (Date.now() >= end) {
        throw new Error(
          `${name}: timed out after ${timeoutMs} ms waiting for ${what}; ${describe()}`,
        );
      }
      await out.changed(Math.max(1, end - Date.now()));
    }
  }

  let ended: Promise<ClientResult> | undefined;
  const end = (timeoutMs = EXIT_TIMEOUT_MS) =>
    ended ??= (async () => {
      stopping = true;
      await closeStdin();
      const { status: s, timedOut } = await statusWithin(child, timeoutMs);
      await Promise.all([out.done, err.done, status]);
      if (timedOut) throw new Error(`${name}: did not exit within ${timeoutMs} ms; ${describe()}`);
      return { code: s.code, stdout: out.text, stderr: err.text };
    })();

  const handle: ClientHandle = {
    events,
    lines: out.lines,
    stderr: () => err.text,
    stateDir,
    async send(line: string) {
      // once the test has closed stdin (end, kill, dispose) a late send from a background loop
      // is a no-op: an unhandled rejection there would abort the test module mid-cleanup
      if (stdinClosed) return;
      try {
        await stdin.write(new TextEncoder().encode(line + "\n"));
      } catch (error) {
        if (stdinClosed || proc.exited || stopping) return; // gone meanwhile; waitFor will say so
        throw error;
      }
    },
    waitFor(pred, timeoutMs = WAIT_TIMEOUT_MS) {
      return found(() => events.find(pred), timeoutMs, "a matching event");
    },
    waitForLine(pred, timeoutMs = WAIT_TIMEOUT_MS) {
      return found(() => out.lines.find(pred), timeoutMs, "a matching line");
    },
    async me(timeoutMs = WAIT_TIMEOUT_MS) {
      if (mode === "json") {
        const welcome = await handle.waitFor((e) => e.type === "welcome", timeoutMs);
        return welcome.you;
      }
      const line = await handle.waitForLine((l) => l.startsWith("* you are "), timeoutMs);
      const id = /^\* you are (\S+?);/.exec(line)![1];
      return { id, name: id.replace(/_[0-9]{4,8}$/, "") };
    },
    end,
    async exitedWithin(timeoutMs: number) {
      const s = await withTimeout(status, timeoutMs, `${name} to exit on its own`);
      return s.code;
    },
    async kill() {
      stopping = true;
      proc.kill("SIGKILL");
      const s = await status;
      await closeStdin();
      await Promise.all([out.done, err.done]);
      return s;
    },
    get exited() {
      return proc.exited;
    },
    async [Symbol.asyncDispose]() {
      try {
        if (!proc.exited) await handle.kill();
        await closeStdin();
        await Promise.all([status, out.done, err.done]);
      } finally {
        if (ownsState) await removeDir(stateDir);
      }
    },
  };
  return handle;
}

/** Joins and waits for the welcome; returns the client and its id. */
export async function joined(
  server: Pick<ServerHandle, "port" | "caFile">,
  name: string,
  opts: ClientOptions = {},
): Promise<ClientHandle & { id: string }> {
  const client = await joinClient(server, name, opts);
  try {
    const me = await client.me(15_000);
    return Object.assign(client, { id: me.id });
  } catch (error) {
    await client[Symbol.asyncDispose]();
    throw error;
  }
}

/**
 * Joins these names in turn (as {@link joined}) and waits until the first has seen the last come
 * in, so that each is online for the others; disposing of the list ends them, last first.
 */
export async function joinedAll(
  server: Pick<ServerHandle, "port" | "caFile">,
  ...names: string[]
): Promise<(ClientHandle & { id: string })[] & AsyncDisposable> {
  const clients: (ClientHandle & { id: string })[] = [];
  const all = Object.assign(clients, {
    async [Symbol.asyncDispose]() {
      for (const client of [...clients].reverse()) await client[Symbol.asyncDispose]();
    },
  });
  try {
    for (const name of names) clients.push(await joined(server, name));
    const [first, last] = [clients[0], clients[clients.length - 1]];
    await first.waitFor((e) => e.type === "presence" && e.joined?.id === last.id);
    return all;
  } catch (error) {
    await all[Symbol.asyncDispose]();
    throw error;
  }
}

let askedRefs = 0;

/** Sends a request from a raw client and returns the frame that answers it (by its ref). */
// deno-lint-ignore no-explicit-any
export async function ask(raw: RawClient, frame: Record<string, unknown>): Promise<any> {
  const ref = `q${++askedRefs}`;
  await raw.sendFrame({ ...frame, ref });
  const answer = await raw.frameWhere((f) => f.ref === ref);
  if (!answer) throw new Error(`no answer to ${JSON.stringify(frame)}`);
  return answer;
}

/** Predicate: a message event with exactly this text. */
export const messageWith = (text: string) => (e: ChatEvent) =>
  e.type === "message" && e.text === text;

/** Index of the first event of `client` matching `pred` at or after `from`, or -1. */
export function indexFrom(
  client: Pick<ClientHandle, "events">,
  from: number,
  pred: (e: ChatEvent) => boolean,
): number {
  for (let i = from; i < client.events.length; i++) if (pred(client.events[i])) return i;
  return -1;
}

/**
 * Proves the server still serves everyone: two fresh json clients join and exchange a public
 * message and a direct message.
 */
export async function assertServerServes(server: ServerHandle): Promise<void> {
  await using a = await joined(server, "check_a");
  await using b = await joined(server, "check_b");
  await a.waitFor((e) => e.type === "presence" && e.joined?.id === b.id);
  const marker = `still serving ${crypto.randomUUID()}`;
  await a.send(marker);
  await b.waitFor(messageWith(marker));
  await b.send(`@${a.id} dm ${marker}`);
  await a.waitFor(messageWith(`dm ${marker}`));
  const result = await a.end();
  if (result.code !== 0) throw new Error(`check client exited ${result.code}: ${result.stderr}`);
}

// ---- raw connections ---------------------------------------------------------------------------

/** Bytes of a payload read to learn its type: `{"type":"` and the longest type name. */
const HEAD_BYTES = 24;

/**
 * Walks a stream of length-prefixed frames without copying what it does not keep: each frame's
 * type is read from its first bytes, and `onFrame` gets every frame's type with its payload when
 * the type is `wanted` (null otherwise: a flood of frames can be counted at no cost).
 */
export class FrameWalker {
  #header = new Uint8Array(4);
  #headerGot = 0;
  #length = 0;
  #got = 0;
  #head = new Uint8Array(HEAD_BYTES);
  #type: string | null = null;
  #keep: Uint8Array | null = null;

  constructor(
    readonly wanted: (type: string) => boolean,
    readonly onFrame: (type: string, payload: Uint8Array | null) => void,
  ) {}

  push(bytes: Uint8Array): void {
    let i = 0;
    while (i < bytes.length) {
      if (this.#headerGot < 4) {
        this.#header[this.#headerGot++] = bytes[i++];
        if (this.#headerGot === 4) {
          this.#length = new DataView(this.#header.buffer).getUint32(0, false);
          this.#got = 0;
          this.#type = null;
          this.#keep = null;
          if (this.#length === 0) this.#end("");
        }
        continue;
      }
      if (this.#type === null) {
        const want = Math.min(HEAD_BYTES, this.#length);
        const n = Math.min(want - this.#got, bytes.length - i);
        this.#head.set(bytes.subarray(i, i + n), this.#got);
        this.#got += n;
        i += n;
        if (this.#got < want) continue;
        const head = new TextDecoder().decode(this.#head.subarray(0, want));
        this.#type = /^\{"type":"([a-z_]+)"/.exec(head)?.[1] ?? "?";
        if (this.wanted(this.#type)) {
          this.#keep = new Uint8Array(this.#length);
          this.#keep.set(this.#head.subarray(0, want));
        }
      } else {
        const n = Math.min(this.#length - this.#got, bytes.length - i);
        this.#keep?.set(bytes.subarray(i, i + n), this.#got);
        this.#got += n;
        i += n;
      }
      if (this.#got === this.#length) this.#end(this.#type);
    }
  }

  #end(type: string): void {
    const keep = this.#keep;
    this.#headerGot = 0;
    this.#keep = null;
    this.onFrame(type, keep);
  }
}

/**
 * A fake server on real TLS (127.0.0.1, ALPN chat/1, a certificate from a CA of its own at
 * `caFile`) that hands each connection to `serve`; a connection whose `serve` throws is left to
 * end. Disposing it closes the listener and every connection and removes its dir.
 */
export async function fakeTlsServer(
  serve: (conn: Deno.TlsConn) => Promise<void>,
  prefix = "chat-e2e-fake-",
) {
  const dir = await makeTempDir(prefix);
  const certs = await ensureServerCerts(join(dir, "certs"), ["127.0.0.1"]);
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: certs.certChainPem,
    key: certs.keyPem,
    alpnProtocols: ["chat/1"],
  });
  const conns = new Set<Deno.TlsConn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn).catch(() => {}); // the client went away
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    caFile: join(dir, "certs", "ca.pem"),
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) closeQuietly(conn);
      await serving;
      await removeDir(dir);
    },
  };
}

/** A frame-level TLS client that says exactly what a test makes it say. */
export interface RawClient extends AsyncDisposable {
  conn: Deno.TlsConn;
  /** Encodes and writes one frame. */
  sendFrame(value: unknown): Promise<void>;
  /** Writes bytes as they are. */
  sendBytes(bytes: Uint8Array): Promise<void>;
  /** The next frame (JSON value; `{unparsable: string}` if it is not JSON), null once closed. */
  // deno-lint-ignore no-explicit-any
  nextFrame(timeoutMs?: number): Promise<any | null>;
  /** Skips frames until one matches; null when the connection closes first. */
  // deno-lint-ignore no-explicit-any
  frameWhere(pred: (f: any) => boolean, timeoutMs?: number): Promise<any | null>;
  /** True if the server closed the connection within `timeoutMs` (frames received are kept). */
  closed(timeoutMs?: number): Promise<boolean>;
  /** Every frame received so far. */
  // deno-lint-ignore no-explicit-any
  readonly received: any[];
  close(): Promise<void>;
}

/** Bytes-in queue shared by the raw TLS and TCP clients. */
class Inbox extends Signal {
  // deno-lint-ignore no-explicit-any
  readonly frames: any[] = [];
  // deno-lint-ignore no-explicit-any
  readonly received: any[] = [];
  eof = false;
  bytes = 0;

  async closed(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.eof && Date.now() < end) await this.changed(end - Date.now());
    return this.eof;
  }
}

/** Writes every byte (`Conn.write` may write only part of a buffer). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** What a read loop keeps up to date: bytes read, whether it ended (and on what error). */
interface ReadState {
  bytes: number;
  eof: boolean;
  error?: unknown;
  notify(): void;
}

/** Reads `conn` until EOF or an error, feeding `onBytes`; marks `into.eof` at the end. */
function readLoop(
  conn: Deno.Conn,
  into: ReadState,
  onBytes: (bytes: Uint8Array) => void,
  bufferBytes = 64 * 1024,
): Promise<void> {
  return (async () => {
    const buf = new Uint8Array(bufferBytes);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        into.bytes += n;
        onBytes(buf.subarray(0, n));
        into.notify();
      }
    } catch (error) {
      // reset, close_notify missing, or closed by us: the connection is over either way
      into.error = error;
    }
    into.eof = true;
    into.notify();
  })();
}

/**
 * A TLS connection read by a loop of its own as fast as data comes, until the peer ends it or it
 * is closed. A subclass says what to do with the bytes (`read`, called once in its constructor);
 * `wait` watches it, bounded.
 */
export class ReadConn extends Signal implements AsyncDisposable {
  bytes = 0;
  eof = false;
  /** The error that ended the read loop: a reset, or closed by us. */
  error: unknown;
  #close: () => Promise<void> = () => Promise.resolve();

  constructor(readonly conn: Deno.TlsConn) {
    super();
  }

  /** Starts the read loop, handing every chunk to `onBytes`. */
  protected read(onBytes: (bytes: Uint8Array) => void, bufferBytes?: number): void {
    this.#close = closer(this.conn, readLoop(this.conn, this, onBytes, bufferBytes));
  }

  /** True once `check` holds; false if `timeoutMs` passes first. */
  async wait(check: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      const left = end - Date.now();
      if (left <= 0) return false;
      await this.changed(left);
    }
    return true;
  }

  /** Closes the connection (once) and waits for the read loop to end. */
  close(): Promise<void> {
    return this.#close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Connects to 127.0.0.1 over TLS with ALPN chat/1 and completes the handshake, bounded. */
export async function connectTls(port: number, caFile: string): Promise<Deno.TlsConn> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [await Deno.readTextFile(caFile)],
    alpnProtocols: ["chat/1"],
  });
  try {
    await withTimeout(conn.handshake(), WAIT_TIMEOUT_MS, "TLS handshake");
  } catch (error) {
    conn.close();
    throw error;
  }
  return conn;
}

/** Connects over TLS with ALPN chat/1 and completes the handshake. */
export async function rawClient(port: number, caFile: string): Promise<RawClient> {
  const conn = await connectTls(port, caFile);
  const inbox = new Inbox();
  const cutter = new FrameCutter();
  const decoder = new TextDecoder();
  const reading = readLoop(conn, inbox, (bytes) => {
    for (const payload of cutter.push(bytes)) {
      const text = decoder.decode(payload);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        value = { unparsable: text };
      }
      inbox.frames.push(value);
      inbox.received.push(value);
    }
  });
  const close = closer(conn, reading);
  const nextFrame = async (timeoutMs = WAIT_TIMEOUT_MS) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (inbox.frames.length > 0) return inbox.frames.shift();
      if (inbox.eof) return null;
      if (Date.now() >= end) {
        throw new Error(
          `no frame within ${timeoutMs} ms; received so far: ${JSON.stringify(inbox.received)}`,
        );
      }
      await inbox.changed(end - Date.now());
    }
  };
  return {
    conn,
    received: inbox.received,
    async sendFrame(value) {
      await writeAll(conn, encodeFrame(value));
    },
    async sendBytes(bytes) {
      await writeAll(conn, bytes);
    },
    nextFrame,
    async frameWhere(pred, timeoutMs = WAIT_TIMEOUT_MS) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const frame = await nextFrame(Math.max(0, end - Date.now()));
        if (frame === null || pred(frame)) return frame;
      }
    },
    closed: (timeoutMs = WAIT_TIMEOUT_MS) => inbox.closed(timeoutMs),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A plain TCP connection (no TLS) for feeding the server garbage. */
export interface TcpClient extends AsyncDisposable {
  conn: Deno.TcpConn;
  write(bytes: Uint8Array): Promise<void>;
  /** True if the server closed (or reset) the connection within `timeoutMs`. */
  closed(timeoutMs?: number): Promise<boolean>;
  /** Bytes the server sent back. */
  readonly bytesReceived: number;
  close(): Promise<void>;
}

export async function tcpClient(port: number): Promise<TcpClient> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const inbox = new Inbox();
  const reading = readLoop(conn, inbox, () => {});
  const close = closer(conn, reading);
  return {
    conn,
    async write(bytes) {
      await writeAll(conn, bytes);
    },
    closed: (timeoutMs = WAIT_TIMEOUT_MS) => inbox.closed(timeoutMs),
    get bytesReceived() {
      return inbox.bytes;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A raw client that has said hello; returns it and its welcome frame. */
export async function rawJoined(
  server: Pick<ServerHandle, "port" | "caFile">,
  name: string,
  token?: string,
  // deno-lint-ignore no-explicit-any
): Promise<{ raw: RawClient; welcome: any }> {
  const raw = await rawClient(server.port, server.caFile);
  try {
    await raw.sendFrame({ type: "hello", name, ...(token ? { token } : {}) });
    const welcome = await raw.frameWhere((f) => f.type === "welcome" || f.type === "error");
    if (welcome?.type !== "welcome") {
      throw new Error(`no welcome for ${name}: ${JSON.stringify(raw.received)}`);
    }
    return { raw, welcome };
  } catch (error) {
    await raw.close();
    throw error;
  }
}

/**
 * A raw client that has said hello (as {@link rawJoined}) and that `watcher` has seen come in, so
 * that it is online for them; returns it, its welcome frame and its id.
 */
export async function rawJoinedSeen(
  server: Pick<ServerHandle, "port" | "caFile">,
  watcher: Pick<ClientHandle, "waitFor">,
  name: string,
  // deno-lint-ignore no-explicit-any
): Promise<{ raw: RawClient; welcome: any; id: string }> {
  const { raw, welcome } = await rawJoined(server, name);
  const id: string = welcome.you.id;
  try {
    await watcher.waitFor((e) => e.type === "presence" && e.joined?.id === id);
    return { raw, welcome, id };
  } catch (error) {
    await raw.close();
    throw error;
  }
}

/** Sends a message from a raw client and returns its id once acknowledged (throws otherwise). */
export async function rawSend(raw: RawClient, ref: string, text: string): Promise<string> {
  await raw.sendFrame({ type: "send", ref, text });
  const ack = await raw.frameWhere((f) =>
    (f.type === "ack" || f.type === "error") && f.ref === ref
  );
  if (ack?.type !== "ack") {
    throw new Error(`no ack for ${ref}: ${JSON.stringify(raw.received.slice(-5))}`);
  }
  return ack.id;
}

/** Whether any of the database's files still hold `text` (the db, its WAL, its shared memory). */
export async function storeHolds(dir: string, text: string): Promise<boolean> {
  const needle = new TextEncoder().encode(text);
  for (const name of ["chat.db", "chat.db-wal", "chat.db-shm", "chat.db-journal"]) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(join(dir, name));
    } catch {
      continue;
    }
    outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
      for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
      return true;
    }
  }
  return false;
}

/** `chat admin ARGS… --db` against the server's database; its stdout. */
export async function admin(server: ServerHandle, ...args: string[]): Promise<string> {
  const result = await runChat(["admin", ...args, "--db", join(server.dir, "chat.db")]);
  if (result.code !== 0) throw new Error(`chat admin ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}
