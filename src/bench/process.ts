/**
 * The processes `chat bench` measures: this very program started again as `chat serve` (or as
 * the raw forwarder), found the same way whether it runs from source, as the bundle or
 * compiled; and what Linux says about them in /proc (memory, CPU time, open-file limit).
 */
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { permissionFlags } from "../cli/permissions.ts";
import { ENV } from "../cli/options.ts";

/** Time a child gets to print its `listening on` line. */
export const START_TIMEOUT_MS = 30_000;
/** Time a child gets to exit after SIGTERM before it is killed. */
export const STOP_TIMEOUT_MS = 10_000;
/** Lines of a child's output kept to explain its failure. */
const TAIL_LINES = 20;

/**
 * The command line that runs this program with `args`: the executable itself when compiled,
 * else `deno run PERMISSIONS [--config deno.json] MAIN args` (the config found by walking up from
 * the main module, so source runs get their import map; the bundle needs none).
 */
export function selfCommand(args: string[]): string[] {
  if (Deno.build.standalone) return [Deno.execPath(), ...args];
  const main = Deno.mainModule;
  const config = main.startsWith("file:") ? findConfig(dirname(fileURLToPath(main))) : undefined;
  const path = main.startsWith("file:") ? fileURLToPath(main) : main;
  // a server runs with what the launchers grant `chat serve`, as in production; the forwarder
  // is the bench's own
  const permissions = args[0] === "serve"
    ? permissionFlags(args, {
      cwd: Deno.cwd(),
      env: (name) => Deno.env.get(name),
      // the search worker reads the program: the bundle, or the sources beside main.ts
      program: [config ? dirname(path) : path],
      deno: Deno.execPath(),
      tmpDir: tmpdir(),
      windows: Deno.build.os === "windows",
    })
    : ["-A"];
  return [
    Deno.execPath(),
    "run",
    ...permissions,
    ...(config ? ["--config", config] : []),
    path,
    ...args,
  ];
}

function findConfig(start: string): string | undefined {
  let dir = start;
  for (let depth = 0; depth < 64; depth++) {
    for (const name of ["deno.json", "deno.jsonc"]) {
      try {
        if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
      } catch { /* not here */ }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return undefined;
}

/** A started child that printed `listening on HOST:PORT`. */
export interface Child {
  readonly pid: number;
  readonly port: number;
  /** Whether it has exited; `exitMessage` says how. */
  readonly exited: boolean;
  /** One sentence about an unexpected exit, with the child's last words. */
  exitMessage(): string;
  /** SIGTERM, wait (SIGKILL after STOP_TIMEOUT_MS). */
  stop(): Promise<void>;
}

/**
 * Starts `selfCommand(args)` and waits for its `listening on 127.0.0.1:PORT` line. Its output
 * is drained for as long as it runs (a full pipe would stall it), keeping the last lines.
 */
export async function startChild(
  what: string,
  args: string[],
  /** Told of the child as soon as it runs, before it listens: whoever cleans up must know it. */
  spawned: (child: Child) => void = () => {},
): Promise<Child> {
  const [command, ...rest] = selfCommand(args);
  const env = Deno.env.toObject();
  delete env.RUST_BACKTRACE;
  // a server gets its store and bus on its command line or not at all: one exported for a real
  // cluster must not turn the bench's own SQLite server into a node of it
  delete env[ENV.store];
  delete env[ENV.bus];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args: rest,
      env: { ...env, NO_COLOR: "1" },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new Error(
        `chat bench needs permission to start the ${what} (run it with deno run -A, or add --allow-run)`,
      );
    }
    throw new Error(`cannot start the ${what}: ${(error as Error).message}`);
  }
  // stderr's last lines explain a failure; stdout carries the listening line and chatter
  const tail: string[] = [];
  let port = 0;
  let onPort: (() => void) | undefined;
  const out = (line: string) => {
    const match = /^listening on [^\s]+:([0-9]+)$/.exec(line.trim());
    if (match && port === 0) {
      port = Number(match[1]);
      onPort?.();
    }
  };
  const err = (line: string) => {
    if (line.trim() === "") return;
    tail.push(line.trim());
    if (tail.length > TAIL_LINES) tail.shift();
  };
  const drained = Promise.all([drain(child.stdout, out), drain(child.stderr, err)]);
  let exited = false;
  let how = "";
  const status = child.status.then((s) => {
    exited = true;
    how = s.signal ? `was killed by ${s.signal}` : `exited with code ${s.code}`;
  });
  const lastWords = () => {
    const last = tail.at(-1);
    return last ? `: ${last.replace(/^chat: /, "")}` : "";
  };
  const handle: Child = {
    pid: child.pid,
    get port() {
      return port;
    },
    get exited() {
      return exited;
    },
    exitMessage: () => `the ${what} ${how}${lastWords()}`,
    async stop() {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone meanwhile */ }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([status, new Promise((r) => (timer = setTimeout(r, STOP_TIMEOUT_MS)))]);
        clearTimeout(timer);
        if (!exited) {
          try {
            child.kill("SIGKILL");
          } catch { /* gone meanwhile */ }
        }
      }
      await status;
      await drained;
    },
  };

  spawned(handle);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const started = await Promise.race([
    new Promise<"port">((resolve) => (onPort = () => resolve("port"))),
    status.then(() => drained).then(() => "exited" as const),
    new Promise<"timeout">((
      resolve,
    ) => (timer = setTimeout(() => resolve("timeout"), START_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (started === "port" || port !== 0) return handle;
  await handle.stop();
  if (started === "timeout") {
    throw new Error(`the ${what} did not start listening within ${START_TIMEOUT_MS / 1000} s`);
  }
  throw new Error(`the ${what} did not start: it ${how}${lastWords()}`);
}

async function drain(stream: ReadableStream<Uint8Array>, line: (text: string) => void) {
  let rest = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) line(part);
      // a line that never ends must not grow without bound
      if (rest.length > 64 * 1024) rest = rest.slice(-1024);
    }
  } catch { /* killed mid-write */ }
  if (rest !== "") line(rest);
}

// ---- /proc ------------------------------------------------------------------------------------

let procByCat = false;

/**
 * The text of a /proc file, or null (not Linux). Deno lets a program read /proc only with every
 * permission (-A); under `deno task chat` (which allows running programs) `cat` reads it instead.
 */
export async function readProc(path: string): Promise<string | null> {
  if (!procByCat) {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotCapable)) return null;
      procByCat = true;
    }
  }
  try {
    const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/** Resident memory of a process, bytes: now (VmRSS) and the peak so far (VmHWM); null off Linux. */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number } | null> {
  const status = await readProc(`/proc/${pid}/status`);
  if (status === null) return null;
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+([0-9]+) kB`, "m").exec(status)?.[1]);
  const rss = kb("VmRSS");
  const peak = kb("VmHWM");
  return Number.isFinite(rss) && Number.isFinite(peak)
    ? { rss: rss * 1024, peak: peak * 1024 }
    : null;
}

/** CPU seconds (user + system, all threads) a process has used; null off Linux. */
export async function cpuSecondsOf(pid: number): Promise<number | null> {
  const stat = await readProc(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // the command name may hold spaces and parentheses: fields count from after its last ')'
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line, in clock ticks (USER_HZ = 100)
  const seconds = (Number(fields[11]) + Number(fields[12])) / 100;
  return Number.isFinite(seconds) ? seconds : null;
}

/** The soft and hard limits on open files of this process; null when unknown. */
export async function openFileLimit(): Promise<{ soft: number; hard: number } | null> {
  const limits = await readProc(`/proc/${Deno.pid}/limits`);
  const match = /^Max open files\s+([0-9]+|unlimited)\s+([0-9]+|unlimited)/m.exec(limits ?? "");
  if (!match) return null;
  const value = (s: string) => (s === "unlimited" ? Infinity : Number(s));
  return { soft: value(match[1]), hard: value(match[2]) };
}

/** CPU seconds all the machine's cores have been busy (not idle, not waiting on I/O); null off Linux. */
export async function machineBusySeconds(): Promise<number | null> {
  const stat = await readProc("/proc/stat");
  if (stat === null) return null;
  const fields = stat.slice(0, stat.indexOf("\n")).trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const busy = (total - fields[3] - fields[4]) / 100;
  return Number.isFinite(busy) ? busy : null;
}
