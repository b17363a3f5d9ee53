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

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.tmux("kill-server");
    } catch {
      // no server left
    }
    for (const dir of this.#dirs) await removeDir(dir);
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
