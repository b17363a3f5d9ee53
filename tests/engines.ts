/**
 * Real PostgreSQL and NATS servers for tests, each on a free loopback port with its data in a
 * fresh temp dir: `stop()`/`kill()` and `start()` again keep both; `remove()` ends it for good,
 * and when the process unloads, whatever is left is killed and its dir removed (so a `stop()`
 * at the end of a test cleans up too, at exit). Every wait is bounded. As root, PostgreSQL runs
 * as the unprivileged `postgres` user (it refuses to run as root).
 *
 * Nothing here contacts anything but 127.0.0.1.
 */
import { join } from "node:path";
import { GENERAL_ROOM } from "../src/protocol/schema.ts";

/** How long a server may take to accept connections after it is started. */
const READY_TIMEOUT_MS = 15_000;
/** How long a server may take to exit after a polite signal before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

export interface Engine {
  url: string;
  dataDir: string;
  /**
   * Stops it cleanly (SIGKILL after STOP_TIMEOUT_MS), keeping its data dir and port for
   * `start()`; the dir goes when the process unloads (or with `remove()`).
   */
  stop(): Promise<void>;
  /** Kills it (SIGKILL), keeping its data dir and port. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data dir (after `stop()` or `kill()`). */
  start(): Promise<void>;
  /** Stops it for good and removes its dir. */
  remove(): Promise<void>;
  /** Kills it and removes its dir, synchronously (what the unload handler does). */
  killSync(): void;
}

export interface PostgresEngine extends Engine {
  /** The same as `stop()`. */
  halt(): Promise<void>;
  /** Freezes every process of the cluster (SIGSTOP): queries hang, connections stay. */
  freeze(): void;
  /** Lets a frozen cluster go on (SIGCONT). */
  thaw(): void;
  /** The postmaster's pid while running. */
  pid(): number | null;
}

/** A port on 127.0.0.1 that nothing listened on a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const isRoot = () => Deno.uid() === 0;

/** The newest installed PostgreSQL's bin dir (Debian keeps each version apart). */
function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  let versions: number[] = [];
  try {
    versions = [...Deno.readDirSync(root)].map((e) => Number(e.name)).filter((n) => n > 0);
  } catch {
    // not installed the Debian way: rely on PATH
  }
  if (versions.length === 0) return "";
  return join(root, String(Math.max(...versions)), "bin");
}

/** The user id and group id of `name`, from /etc/passwd. */
function userIds(name: string): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) =>
    l.startsWith(`${name}:`)
  );
  if (!line) throw new Error(`no ${name} user to run PostgreSQL as (apt-get install postgresql)`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** `program args…`, as the `postgres` user when running as root (exec'd: the pid is its own). */
function asPostgres(program: string, args: string[]): { cmd: string; args: string[] } {
  if (!isRoot()) return { cmd: program, args };
  return {
    cmd: "setpriv",
    args: ["--reuid=postgres", "--regid=postgres", "--init-groups", program, ...args],
  };
}

async function run(cmd: string, args: string[]): Promise<void> {
  const { code, stderr, stdout } = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    const text = new TextDecoder().decode(stderr) || new TextDecoder().decode(stdout);
    throw new Error(`${cmd} ${args.join(" ")} failed (${code}): ${text.trim()}`);
  }
}

/** Waits for `child` to exit, up to `ms`; true when it did. */
async function exited(child: Deno.ChildProcess, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  const done = child.status.then(() => true);
  const result = await Promise.race([done, timeout]);
  clearTimeout(timer);
  return result;
}

/** Sends `signal` to `child`, then SIGKILL if it has not exited within STOP_TIMEOUT_MS. */
async function endProcess(child: Deno.ChildProcess, signal: Deno.Signal): Promise<void> {
  child.kill(signal);
  if (!await exited(child, STOP_TIMEOUT_MS)) {
    child.kill("SIGKILL");
    await child.status;
  }
}

/** Polls `check` every 100 ms until it is true, up to `ms`; throws `what` otherwise. */
async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} within ${ms} ms`);
}

/** Keeps the last few kB a child writes to stderr, for a failure's message. */
function tail(stream: ReadableStream<Uint8Array>): () => string {
  let text = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of stream) text = (text + decoder.decode(chunk)).slice(-4096);
  })().catch(() => {});
  return () => text;
}

/** The pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // "pid (comm) state ppid …": comm may hold spaces, so read after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * An engine's `killSync`: `killAll` (which also forgets the child), then `dir` removed. It is
 * registered for the process's unload at once, so that nothing outlives the tests; `remove()`
 * unregisters it.
 */
function killedAtUnload(dir: string, killAll: () => void): () => void {
  const killSync = () => {
    killAll();
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // removed already
    }
  };
  globalThis.addEventListener("unload", killSync);
  return killSync;
}

/**
 * A fresh PostgreSQL cluster (initdb) on a free port of 127.0.0.1, trust authentication for the
 * `chat` superuser, fsync on, its socket in the temp dir; `url` points at database `chat`.
 */
export async function startPostgres(): Promise<PostgresEngine> {
  const bin = postgresBin();
  const tool = (name: string) => bin ? join(bin, name) : name;
  const dir = await Deno.makeTempDir({ prefix: "chat-pg-" });
  const dataDir = join(dir, "data");
  if (isRoot()) {
    const { uid, gid } = userIds("postgres");
    await Deno.chown(dir, uid, gid);
  }
  const port = freePort();
  let child: Deno.ChildProcess | null = null;
  let stderr = () => "";
  try {
    const init = asPostgres(tool("initdb"), [
      "-D",
      dataDir,
      "-U",
      "chat",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--no-sync", // the cluster's own files: the server itself runs with fsync on
      "--no-instructions",
    ]);
    await run(init.cmd, init.args);
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }

  const ready = async () => {
    const { code } = await new Deno.Command(tool("pg_isready"), {
      args: ["-h", "127.0.0.1", "-p", String(port), "-U", "chat", "-d", "postgres", "-t", "1"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  };

  const start = async () => {
    const launch = asPostgres(tool("postgres"), [
      "-D",
      dataDir,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `unix_socket_directories=${dir}`,
      "-c",
      "fsync=on",
      "-c",
      "max_connections=60",
      "-c",
      "shared_buffers=16MB",
    ]);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    // after a kill the old backends may hold the shared memory a moment: try again until then
    for (;;) {
      const proc = new Deno.Command(launch.cmd, {
        args: launch.args,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      stderr = tail(proc.stderr);
      child = proc;
      let up = false;
      while (Date.now() < deadline) {
        if (await ready()) {
          up = true;
          break;
        }
        if (await exited(proc, 100)) break;
      }
      if (up) return;
      if (Date.now() >= deadline) {
        proc.kill("SIGKILL");
        await proc.status;
        child = null;
        throw new Error(`PostgreSQL did not start within ${READY_TIMEOUT_MS} ms: ${stderr()}`);
      }
      child = null;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  const halt = async () => {
    const proc = child;
    if (!proc) return;
    child = null;
    // SIGINT is PostgreSQL's fast shutdown (SIGTERM, smart, would wait for every client to leave)
    await endProcess(proc, "SIGINT");
  };

  const kill = async () => {
    const proc = child;
    if (!proc) return;
    child = null;
    const backends = childrenOf(proc.pid);
    proc.kill("SIGKILL");
    await proc.status;
    // the backends go when they notice; kill them too, so that start() finds the port free
    for (const pid of backends) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
  };

  const signalAll = (signal: Deno.Signal) => {
    if (!child) return;
    for (const pid of [child.pid, ...childrenOf(child.pid)]) {
      try {
        Deno.kill(pid, signal);
      } catch {
        // gone already
      }
    }
  };

  try {
    await start();
    await run(tool("psql"), [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-U",
      "chat",
      "-d",
      "postgres",
      "-q",
      "-c",
      "CREATE DATABASE chat",
    ]);
  } catch (error) {
    await halt();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const killSync = killedAtUnload(dir, () => {
    signalAll("SIGCONT");
    signalAll("SIGKILL");
    child = null;
  });
  return {
    url: `postgres://chat@127.0.0.1:${port}/chat`,
    dataDir,
    start,
    stop: halt,
    halt,
    kill,
    freeze: () => signalAll("SIGSTOP"),
    thaw: () => signalAll("SIGCONT"),
    pid: () => child?.pid ?? null,
    killSync,
    remove: async () => {
      signalAll("SIGCONT");
      await halt();
      globalThis.removeEventListener("unload", killSync);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A NATS server with JetStream (its store in a temp dir) on a free port of 127.0.0.1. */
export async function startNats(): Promise<Engine> {
  const dir = await Deno.makeTempDir({ prefix: "chat-nats-" });
  const port = freePort();
  let child: Deno.ChildProcess | null = null;
  const program = (() => {
    try {
      Deno.statSync("/usr/sbin/nats-server");
      return "/usr/sbin/nats-server";
    } catch {
      return "nats-server";
    }
  })();

  /** NATS greets every connection with an INFO line. */
  const ready = async () => {
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const buffer = new Uint8Array(5);
      const read = await Promise.race([
        conn.read(buffer),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 1000)),
      ]);
      return read !== null && new TextDecoder().decode(buffer) === "INFO ";
    } catch {
      return false;
    } finally {
      conn?.close();
    }
  };

  const start = async () => {
    const proc = new Deno.Command(program, {
      args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = tail(proc.stderr);
    child = proc;
    try {
      await until(
        async () => {
          if (await exited(proc, 0)) throw new Error(`nats-server exited: ${stderr()}`);
          return await ready();
        },
        READY_TIMEOUT_MS,
        "nats-server did not accept connections",
      );
    } catch (error) {
      child = null;
      try {
        proc.kill("SIGKILL");
      } catch {
        // exited already
      }
      await proc.status;
      throw error;
    }
  };

  const halt = async () => {
    const proc = child;
    if (!proc) return;
    child = null;
    await endProcess(proc, "SIGTERM");
  };

  try {
    await start();
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const kill = async () => {
    const proc = child;
    if (!proc) return;
    child = null;
    proc.kill("SIGKILL");
    await proc.status;
  };
  const killSync = killedAtUnload(dir, () => {
    try {
      child?.kill("SIGKILL");
    } catch {
      // exited already
    }
    child = null;
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    dataDir: dir,
    start,
    stop: halt,
    kill,
    killSync,
    remove: async () => {
      await halt();
      globalThis.removeEventListener("unload", killSync);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Runs `sql` through psql on database `url`; its output, unaligned, without headers. */
export async function psql(url: string, sql: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(join(postgresBin(), "psql"), {
    args: [url, "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (code !== 0) throw new Error(`psql: ${text.decode(stderr).trim()}`);
  return text.decode(stdout).trim();
}

/**
 * One PostgreSQL for a test file, started on first use; each `freshDatabase()` is a new, empty
 * database on it. The file's last test calls `remove()`; should it not run (a filter), the
 * server is killed when the process unloads.
 */
export function sharedPostgres(): {
  engine(): Promise<PostgresEngine>;
  freshDatabase(): Promise<string>;
  /** Empties every table of the store's schema in database `url`, counters back at 0. */
  emptyDatabase(url: string): Promise<void>;
  remove(): Promise<void>;
} {
  let started: Promise<PostgresEngine> | null = null;
  let made = 0;
  const engine = () => {
    started ??= startPostgres();
    return started;
  };
  return {
    engine,
    async freshDatabase() {
      const pg = await engine();
      const name = `t${++made}`;
      const admin = new URL(pg.url);
      admin.pathname = "/postgres";
      await psql(admin.href, `CREATE DATABASE ${name}`);
      const url = new URL(pg.url);
      url.pathname = `/${name}`;
      return url.href;
    },
    async emptyDatabase(url: string) {
      await psql(url, EMPTY);
    },
    async remove() {
      if (started) await (await started).remove();
      started = null;
    },
  };
}

/** SQL: every table but the counters emptied (identities restart), the counters at 0, #general. */
const EMPTY = `
DO $$ BEGIN
  EXECUTE (SELECT 'TRUNCATE ' || string_agg(quote_ident(tablename), ', ') ||
    ' RESTART IDENTITY CASCADE' FROM pg_tables
    WHERE schemaname = 'public' AND tablename <> 'chat_counters');
END $$;
UPDATE chat_counters SET seq = 0, commit_no = 0;
INSERT INTO rooms (name, created_at) VALUES ('${GENERAL_ROOM}', 0);
`;
