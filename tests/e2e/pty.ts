/**
 * A `chat join` at a pseudo-terminal whose screen is an xterm.js emulator (`@xterm/headless`),
 * not tmux: another terminal, with another width table (xterm.js draws 👨‍👩‍👧 in 3 cells and
 * 👍🏽 in 2, tmux 3.3a in 6 and 4, string-width says 2 and 2). util-linux `script` gives the
 * client its terminal (sized with stty); every byte the client writes goes into the emulator;
 * keys are written to `script`'s stdin. Test-only: nothing in src/ loads this or xterm.
 *
 * Every wait is bounded; disposing kills the client (SIGKILL after EXIT_TIMEOUT_MS at most).
 */
import { xterm } from "../deps.ts";
import { CHAT_ALL_PERMISSIONS, delay, EXIT_TIMEOUT_MS, makeTempDir, removeDir } from "./harness.ts";

const encoder = new TextEncoder();

/** Quotes a word for sh. */
export const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

export interface PtyOptions {
  cols: number;
  rows: number;
  /** `chat join` arguments. */
  args: string[];
  env?: Record<string, string>;
}

export class PtyClient implements AsyncDisposable {
  readonly term: InstanceType<typeof xterm.Terminal>;
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #pumped: Promise<void>;
  #state: string;
  /** Everything the client wrote, as text (escape sequences included). */
  raw = "";

  private constructor(options: PtyOptions, state: string) {
    this.#state = state;
    this.term = new xterm.Terminal({
      cols: options.cols,
      rows: options.rows,
      allowProposedApi: true,
    });
    const command = [...CHAT_ALL_PERMISSIONS, "join", ...options.args].map(q).join(" ");
    const env = Deno.env.toObject();
    delete env.RUST_BACKTRACE;
    delete env.NO_COLOR;
    delete env.TMUX;
    this.#child = new Deno.Command("script", {
      args: [
        "-qfec",
        `stty cols ${options.cols} rows ${options.rows}; exec ${command}`,
        "/dev/null",
      ],
      env: { ...env, TERM: "xterm-256color", XDG_STATE_HOME: state, ...options.env },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    const decoder = new TextDecoder();
    const stdout = this.#child.stdout;
    this.#pumped = (async () => {
      try {
        for await (const chunk of stdout) {
          this.raw += decoder.decode(chunk, { stream: true });
          await new Promise<void>((resolve) => this.term.write(chunk, resolve));
        }
      } catch {
        // killed mid-read
      }
    })();
  }

  static async start(options: PtyOptions): Promise<PtyClient> {
    return new PtyClient(options, await makeTempDir("chat-pty-state-"));
  }

  /** The screen's rows as text (trailing spaces dropped). */
  rows(): string[] {
    const buffer = this.term.buffer.active;
    return Array.from(
      { length: this.term.rows },
      (_, y) => buffer.getLine(buffer.viewportY + y)?.translateToString(true) ?? "",
    );
  }

  /** The character drawn in cell (x, y) of the screen ("" for the second half of a wide one). */
  cell(x: number, y: number): string {
    const buffer = this.term.buffer.active;
    return buffer.getLine(buffer.viewportY + y)?.getCell(x)?.getChars() ?? "";
  }

  /** The column of the last non-blank cell of row y (-1 when blank). */
  lastColumn(y: number): number {
    for (let x = this.term.cols - 1; x >= 0; x--) {
      const ch = this.cell(x, y);
      if (ch !== "" && ch !== " ") return x;
    }
    return -1;
  }

  /** Types text (keys, as bytes) at the client. */
  async type(text: string): Promise<void> {
    await this.#stdin.write(encoder.encode(text));
  }

  /** Polls the screen until `check` holds; fails with the screen after `timeoutMs`. */
  async waitFor(check: (rows: string[]) => boolean, timeoutMs: number, what: string) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const rows = this.rows();
      if (check(rows)) return rows;
      if (Date.now() >= end) {
        throw new Error(`no ${what} within ${timeoutMs} ms; the screen:\n${rows.join("\n")}`);
      }
      await delay(100);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // gone already
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#child.status,
      new Promise((resolve) => (timer = setTimeout(resolve, EXIT_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    await this.#stdin.close().catch(() => {});
    await Promise.race([this.#pumped, delay(1000)]);
    this.term.dispose();
    await removeDir(this.#state);
  }
}
