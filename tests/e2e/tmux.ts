/**
 * Clients of the full-screen UI in a real terminal, for the tests: one tmux server per test, on
 * its own socket, a client per session, typed at with `send-keys` and read with `capture-pane`.
 * Every wait is bounded. tmux must be installed (.ci/run installs it); without it the tests fail
 * and say so.
 */
import {
  chatPermissions,
  CONFIG,
  delay,
  EXIT_TIMEOUT_MS,
  MAIN,
  makeTempDir,
  removeDir,
  type ServerHandle,
  startServer,
} from "./harness.ts";
/** Time a client gets to start and draw its first screen (deno start-up included). */
export const START_TIMEOUT_MS = 30_000;
/** Time anything else gets to show up on a screen. */
export const SHOW_TIMEOUT_MS = 10_000;

const decoder = new TextDecoder();

/** Quotes a word for sh. */
export const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

export async function tmuxAvailable(): Promise<void> {
  try {
    const out = await new Deno.Command("tmux", { args: ["-V"], stdout: "piped", stderr: "piped" })
      .output();
    if (out.success) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  throw new Error(
    "tmux is not installed: the terminal UI tests need it (apt-get install -y tmux)",
  );
}

/** One tmux server of our own, and the chat clients running in its sessions. */
export class Tmux implements AsyncDisposable {
  readonly socket = `chat-tui-${crypto.randomUUID().slice(0, 8)}`;
  #dirs: string[] = [];

  constructor(public server: ServerHandle) {}

  async tmux(...args: string[]): Promise<string> {
    const env = Deno.env.toObject();
    delete env.RUST_BACKTRACE;
    delete env.TMUX; // a test run from inside tmux still gets its own server
    delete env.NO_COLOR; // the colour checks need colours, whatever the caller set
    const out = await new Deno.Command("tmux", {
      args: ["-L", this.socket, "-f", "/dev/null", ...args],
      env: { ...env, TERM: "xterm-256color" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    if (!out.success) {
      throw new Error(`tmux ${args.join(" ")} failed: ${decoder.decode(out.stderr)}`);
    }
    return decoder.decode(out.stdout);
  }

  /** A state dir (XDG_STATE_HOME) for a client, removed with the tmux server. */
  async stateDir(): Promise<string> {
    const state = await makeTempDir("chat-tui-state-");
    this.#dirs.push(state);
    return state;
  }

  /**
   * The shell command that runs `chat join` for `name`, with the permissions the launchers
   * grant. `name` undefined: no --name (the client asks).
   */
  async joinCommand(
    name: string | undefined,
    extra: string[] = [],
    state?: string,
    env: Record<string, string> = {},
  ): Promise<string> {
    state ??= await this.stateDir();
    const argv = [
      "join",
      ...(name === undefined ? [] : ["--name", name]),
      "--server",
      `127.0.0.1:${this.server.port}`,
      "--ca",
      this.server.caFile,
      ...extra,
    ];
    const childEnv = { ...Deno.env.toObject(), XDG_STATE_HOME: state, ...env };
    const flags = chatPermissions(argv, { env: childEnv });
    const args = [Deno.execPath(), "run", ...flags, "--config", CONFIG, MAIN, ...argv];
    const vars = Object.entries(env).map(([k, v]) => `${k}=${q(v)}`).join(" ");
    return `env -u RUST_BACKTRACE -u NO_COLOR XDG_STATE_HOME=${q(state)} ${vars} ${
      args.map(q).join(" ")
    }`;
  }

  /** Starts a session running `command` in a cols×rows window. */
  async open(session: string, command: string, cols = 100, rows = 30): Promise<void> {
    await this.tmux(
      "new-session",
      "-d",
      "-s",
      session,
      "-x",
      String(cols),
      "-y",
      String(rows),
      command,
      // the server stays when its last session is killed: a test that kills one and opens the
      // next would otherwise race the exiting server ("server exited unexpectedly")
      ";",
      "set-option",
      "-s",
      "exit-empty",
      "off",
    );
    await this.tmux("set-option", "-t", `=${session}:`, "remain-on-exit", "on");
  }

  /** Starts a client in its own session and waits for its status line. */
  async join(
    session: string,
    name: string,
    cols = 100,
    rows = 30,
    extra: string[] = [],
    state?: string,
  ): Promise<Screen> {
    // the exit code is printed when the client ends (the session stays: remain-on-exit)
    const command = `${await this.joinCommand(name, extra, state)}; echo "exit=$?"`;
    await this.open(session, `sh -c ${q(command)}`, cols, rows);
    const screen = new Screen(this, session);
    const status = await screen.waitFor(
      (text) => new RegExp(`${name}_\\d{4} · 127\\.0\\.0\\.1:\\d+ · \\d+ online`).test(text),
      START_TIMEOUT_MS,
      `${name}'s status line`,
    );
    screen.id = new RegExp(`(${name}_\\d{4}) · 127`).exec(status)![1];
    return screen;
  }

  /**
   * Ends the tmux server and, before removing the clients' state dirs, waits (at most
   * EXIT_TIMEOUT_MS, then SIGKILL) for every process it ran to be gone: kill-server only sends
   * SIGHUP, and a client still saving its state on the way out would otherwise race the removal
   * ("Directory not empty").
   */
  async [Symbol.asyncDispose](): Promise<void> {
    const pids = await this.#processes();
    try {
      await this.tmux("kill-server");
    } catch {
      // no server left
    }
    if (!await exited(pids, EXIT_TIMEOUT_MS)) {
      for (const { pid, start } of pids) {
        try {
          // only the very process listed (a pid may have been given to another since)
          if ((await readStat(pid))?.start === start) Deno.kill(pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
      await exited(pids, 5_000);
    }
    for (const dir of this.#dirs) await removeDir(dir);
  }

  /** The tmux server, its panes' processes and all their descendants (none without /proc). */
  async #processes(): Promise<Proc[]> {
    let panes: string;
    try {
      panes = await this.tmux("list-panes", "-a", "-F", "#{pid} #{pane_pid}");
    } catch {
      return []; // no server (yet, or any more)
    }
    const all = await everyProcess();
    const children = new Map<number, Proc[]>();
    for (const p of all.values()) children.set(p.parent, [...children.get(p.parent) ?? [], p]);
    const out = new Map<number, Proc>();
    const visit = (p: Proc | undefined) => {
      if (!p || out.has(p.pid)) return;
      out.set(p.pid, p);
      for (const child of children.get(p.pid) ?? []) visit(child);
    };
    for (const word of panes.split(/\s+/)) if (/^\d+$/.test(word)) visit(all.get(Number(word)));
    return [...out.values()];
  }
}

/** A process: its pid, parent, state and start time (which tells it from a later one of its pid). */
interface Proc {
  pid: number;
  parent: number;
  state: string;
  start: string;
}

/** Every process, from /proc (none where there is no /proc). */
async function everyProcess(): Promise<Map<number, Proc>> {
  const out = new Map<number, Proc>();
  try {
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const stat = await readStat(Number(entry.name));
      if (stat) out.set(stat.pid, stat);
    }
  } catch {
    // no /proc
  }
  return out;
}

/** A process from /proc/PID/stat; null once it is gone. */
async function readStat(pid: number): Promise<Proc | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // pid (comm) state ppid … starttime (field 22): comm may hold spaces and parentheses, so the
    // fields are read after the last ")"
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pid, state: fields[0], parent: Number(fields[1]), start: fields[19] };
  } catch {
    return null;
  }
}

/** Waits until none of `procs` runs any more (gone, or a zombie); false after `timeoutMs`. */
async function exited(procs: Proc[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await Promise.all(procs.map((p) => readStat(p.pid)));
    const running = (s: Proc | null, i: number) =>
      s !== null && s.start === procs[i].start && s.state !== "Z";
    if (!stats.some(running)) return true;
    if (Date.now() >= deadline) return false;
    await delay(50);
  }
}

/** One tmux session's screen. */
export class Screen {
  id = "";
  constructor(readonly tmux: Tmux, readonly session: string) {}

  get target(): string {
    return `=${this.session}:`;
  }

  async text(): Promise<string> {
    return await this.tmux.tmux("capture-pane", "-p", "-t", this.target);
  }

  async lines(): Promise<string[]> {
    return (await this.text()).replace(/\n$/, "").split("\n");
  }

  /** A tmux format for the pane, e.g. `#{alternate_on}`. */
  async format(format: string): Promise<string> {
    return (await this.tmux.tmux("display-message", "-p", "-t", this.target, format)).trim();
  }

  /** Types text as a person would, then Enter. */
  async type(text: string): Promise<void> {
    await this.tmux.tmux("send-keys", "-t", this.target, "-l", text);
    await this.tmux.tmux("send-keys", "-t", this.target, "Enter");
  }

  async keys(...keys: string[]): Promise<void> {
    await this.tmux.tmux("send-keys", "-t", this.target, ...keys);
  }

  /** Waits until the screen shows `text` (SHOW_TIMEOUT_MS at most); the screen then. */
  shows(text: string, what: string): Promise<string> {
    return this.waitFor((t) => t.includes(text), SHOW_TIMEOUT_MS, what);
  }

  /** Waits until `text` is nowhere on the screen (SHOW_TIMEOUT_MS at most); the screen then. */
  gone(text: string, what: string): Promise<string> {
    return this.waitFor((t) => !t.includes(text), SHOW_TIMEOUT_MS, what);
  }

  /** Polls the screen until `check` holds; fails with the screen after `timeoutMs`. */
  async waitFor(
    check: (text: string, lines: string[]) => boolean | Promise<boolean>,
    timeoutMs: number,
    what: string,
  ): Promise<string> {
    const end = Date.now() + timeoutMs;
    let text = "";
    for (;;) {
      text = await this.text();
      if (await check(text, text.split("\n"))) return text;
      if (Date.now() >= end) break;
      await delay(100);
    }
    throw new Error(`${this.session}: no ${what} within ${timeoutMs} ms; the screen:\n${text}`);
  }
}

/** A test with a fresh server and a tmux server of its own, both gone after it. */
export const withTmux = async (test: (tmux: Tmux) => Promise<void>) => {
  await tmuxAvailable();
  await using server = await startServer();
  await using tmux = new Tmux(server);
  await test(tmux);
};
