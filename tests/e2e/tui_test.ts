/**
 * The full-screen UI in a real terminal: a real server, and clients inside tmux (one tmux
 * server per test, on its own socket), typed at with `send-keys` and read with `capture-pane`.
 * Every wait is bounded. tmux must be installed (.ci/run installs it); without it these tests
 * fail and say so.
 *
 * Run: deno test -A tests/e2e/tui_test.ts
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CONFIG,
  delay,
  MAIN,
  makeTempDir,
  removeDir,
  type ServerHandle,
  startServer,
} from "./harness.ts";

/** Time a client gets to start and draw its first screen (deno start-up included). */
const START_TIMEOUT_MS = 30_000;
/** Time anything else gets to show up on a screen. */
const SHOW_TIMEOUT_MS = 10_000;

const decoder = new TextDecoder();

/** Quotes a word for sh. */
const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

async function tmuxAvailable(): Promise<void> {
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
class Tmux implements AsyncDisposable {
  readonly socket = `chat-tui-${crypto.randomUUID().slice(0, 8)}`;
  #dirs: string[] = [];

  constructor(readonly server: ServerHandle) {}

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

  /** The shell command that runs `chat join` for `name` (CI=true set on purpose: see below). */
  async joinCommand(name: string, extra: string[] = []): Promise<string> {
    const state = await makeTempDir("chat-tui-state-");
    this.#dirs.push(state);
    const args = [
      Deno.execPath(),
      "run",
      "-A",
      "--config",
      CONFIG,
      MAIN,
      "join",
      "--name",
      name,
      "--server",
      `127.0.0.1:${this.server.port}`,
      "--ca",
      this.server.caFile,
      ...extra,
    ];
    // Ink draws only a final frame when it thinks it runs in CI; the UI must not care
    return `env -u RUST_BACKTRACE CI=true XDG_STATE_HOME=${q(state)} ${args.map(q).join(" ")}`;
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
  async join(session: string, name: string, cols = 100, rows = 30): Promise<Screen> {
    await this.open(session, await this.joinCommand(name), cols, rows);
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
class Screen {
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

/** The rows of the bubble whose text row contains `text`: top border … bottom border. */
function bubbleAround(lines: string[], text: string): string[] {
  const at = lines.findIndex((l) => l.includes(text));
  if (at < 0) return [];
  let top = at;
  while (top > 0 && !lines[top].includes("╭")) top--;
  let bottom = at;
  while (bottom < lines.length - 1 && !lines[bottom].includes("╰")) bottom++;
  return lines.slice(top, bottom + 1);
}

const withTmux = async (test: (tmux: Tmux) => Promise<void>) => {
  await tmuxAvailable();
  await using server = await startServer();
  await using tmux = new Tmux(server);
  await test(tmux);
};

Deno.test("tui: a message shows as a bubble on the other screen, and a deletion removes it", async () => {
  await withTmux(async (tmux) => {
    const alice = await tmux.join("alice", "alice");
    const bob = await tmux.join("bob", "bob");
    await alice.waitFor((t) => t.includes(`${bob.id} joined`), SHOW_TIMEOUT_MS, "bob joining");

    await alice.type("hello bob, this is a bubble");
    const seen = await bob.waitFor(
      (t) => t.includes("│ hello bob, this is a bubble │"),
      SHOW_TIMEOUT_MS,
      "alice's bubble",
    );
    const lines = seen.split("\n");
    const box = bubbleAround(lines, "hello bob, this is a bubble");
    assert.equal(box.length, 3, box.join("\n"));
    assert.match(box[0], /^ ╭─+╮$/); // others' bubbles on the left
    // in colour (CI=true is set on purpose: the UI is for a person, not a CI log)
    const styled = await tmux.tmux("capture-pane", "-e", "-p", "-t", bob.target);
    // deno-lint-ignore no-control-regex -- looking for colour sequences is the point
    assert.match(styled, /\x1b\[(3[0-7]|9[0-7])m/, "no colours on the screen");
    const meta = lines[lines.indexOf(box[2]) + 1];
    assert.match(meta, new RegExp(`${alice.id} · Public · \\d\\d:\\d\\d:\\d\\d · #\\w+`));

    // on alice's own screen it is on the right, signed "you", with the ref to delete it by
    const own = await alice.waitFor(
      (t) => /you · Public · \d\d:\d\d:\d\d · #\w+/.test(t),
      SHOW_TIMEOUT_MS,
      "alice's own bubble",
    );
    const ownBox = bubbleAround(own.split("\n"), "hello bob, this is a bubble");
    assert.ok(ownBox[0].startsWith("      "), `not right-aligned:\n${ownBox.join("\n")}`);
    const ref = /you · Public · \d\d:\d\d:\d\d · #(\w+)/.exec(own)![1];

    // a direct message, completed with Tab
    assert.equal(await alice.format("#{window_bell_flag}"), "0"); // nothing rang so far
    await bob.keys("-l", `@${alice.id.slice(0, 3)}`);
    await bob.keys("Tab");
    await bob.waitFor(
      (_, lines) => lines.some((l) => l === `› @${alice.id}`), // (capture drops the space after)
      SHOW_TIMEOUT_MS,
      "completed @id",
    );
    await bob.type("just for you");
    const dm = await alice.waitFor(
      (t) => t.includes("│ just for you │"),
      SHOW_TIMEOUT_MS,
      "bob's direct message",
    );
    assert.match(dm, new RegExp(`${bob.id} · Direct to you`));
    // a direct message rings the bell
    await alice.waitFor(
      async () => (await alice.format("#{window_bell_flag}")) === "1",
      SHOW_TIMEOUT_MS,
      "the bell",
    );

    // search results in a closable panel, with refs that work in /reply
    await bob.type("/search bubble");
    const found = await bob.waitFor(
      (t) => t.includes("Search for bubble: 1 result"),
      SHOW_TIMEOUT_MS,
      "the search panel",
    );
    const foundRef = new RegExp(` #(\\w+) \\d\\d:\\d\\d:\\d\\d ${alice.id}: hello bob`).exec(found)
      ?.[1];
    assert.equal(foundRef, ref, found);
    await bob.keys("Escape");
    await bob.waitFor((t) => !t.includes("Search for bubble"), SHOW_TIMEOUT_MS, "the panel closed");
    await bob.type(`/reply ${foundRef} seen it`);
    await alice.waitFor(
      (t) => t.includes(`> #${ref} you: hello bob, this is a bubble`) && t.includes("seen it"),
      SHOW_TIMEOUT_MS,
      "the reply quoting the original",
    );
    // the online list
    await bob.type("/who");
    await bob.waitFor(
      (t) => t.includes("Online (2)") && t.includes(`${bob.id} (you)`),
      SHOW_TIMEOUT_MS,
      "the online list",
    );
    await bob.keys("Escape");

    await alice.type(`/delete ${ref}`);
    await bob.waitFor(
      (t) => !t.includes("hello bob, this is a bubble"),
      SHOW_TIMEOUT_MS,
      "the deleted bubble gone",
    );
    await alice.waitFor(
      (t) => !t.includes("hello bob, this is a bubble"),
      SHOW_TIMEOUT_MS,
      "the deleted bubble gone from alice's screen too",
    );
    // the rest stays where it was; the reply now quotes a deleted message
    await bob.waitFor(
      (t) => t.includes("│ just for you │") && t.includes("> (a deleted message)"),
      SHOW_TIMEOUT_MS,
      "the reply's quote gone too",
    );
  });
});

Deno.test("tui: a 2 s temporary message shows its time left, then vanishes", async () => {
  await withTmux(async (tmux) => {
    const alice = await tmux.join("alice", "alice");
    const bob = await tmux.join("bob", "bob");
    await alice.waitFor((t) => t.includes(`${bob.id} joined`), SHOW_TIMEOUT_MS, "bob joining");
    await alice.type("/temp 2s gone in two seconds");
    const shown = await bob.waitFor(
      (t) => t.includes("│ gone in two seconds │"),
      SHOW_TIMEOUT_MS,
      "the temporary bubble",
    );
    assert.match(shown, /· [12]s left|· expiring/);
    const start = Date.now();
    await bob.waitFor(
      (t) => !t.includes("gone in two seconds"),
      SHOW_TIMEOUT_MS,
      "the temporary bubble gone",
    );
    assert.ok(Date.now() - start < 8_000);
    await alice.waitFor(
      (t) => !t.includes("gone in two seconds"),
      SHOW_TIMEOUT_MS,
      "the temporary bubble gone from the sender's screen",
    );
  });
});

Deno.test("tui: resizing the window reflows the bubbles", async () => {
  await withTmux(async (tmux) => {
    const alice = await tmux.join("alice", "alice");
    const bob = await tmux.join("bob", "bob", 100, 30);
    await alice.waitFor((t) => t.includes(`${bob.id} joined`), SHOW_TIMEOUT_MS, "bob joining");
    const words = "reflow me please ".repeat(9).trim();
    await alice.type(words);
    const wide = await bob.waitFor(
      (t) => t.includes("│ reflow me please"),
      SHOW_TIMEOUT_MS,
      "the long bubble",
    );
    const bodyOf = (text: string) =>
      bubbleAround(text.split("\n"), "reflow me please")
        .filter((l) => l.includes("│"))
        .map((l) => l.trim().replace(/^│ /, "").replace(/ │$/, "").trim());
    const wideBox = bubbleAround(wide.split("\n"), "reflow me please");
    const wideWidth = wideBox[0].trim().length;
    assert.equal(bodyOf(wide).join(" "), words);

    /** A whole bubble (right border included) whose width is not `width`. */
    const redrawn = (lines: string[], width: number) => {
      const box = bubbleAround(lines, "reflow me");
      return box.length > 2 && box[0].trim().endsWith("╮") && box.at(-1)!.trim().endsWith("╯") &&
        box.slice(1, -1).every((l) => l.trimEnd().endsWith("│")) &&
        box[0].trim().length !== width;
    };
    await tmux.tmux("resize-window", "-t", bob.target, "-x", "50", "-y", "20");
    // tmux cuts the old screen at once; the UI then draws it anew for 50 columns
    const narrow = await bob.waitFor(
      (_, lines) => lines.length <= 21 && redrawn(lines, wideWidth),
      SHOW_TIMEOUT_MS,
      "the bubble reflowed to 50 columns",
    );
    const lines = narrow.replace(/\n$/, "").split("\n");
    assert.equal(lines.length, 20);
    for (const line of lines) assert.ok([...line].length <= 50, line);
    const box = bubbleAround(lines, "reflow me please");
    assert.equal(new Set(box.map((l) => l.trimEnd().length)).size, 1, box.join("\n"));
    assert.match(lines[18], new RegExp(`^ ${bob.id} · `)); // the status line moved with it
    assert.match(lines[19], /^›/);

    await tmux.tmux("resize-window", "-t", bob.target, "-x", "100", "-y", "30");
    await bob.waitFor(
      (_, lines) => bubbleAround(lines, "reflow me")[0]?.trim().length === wideWidth,
      SHOW_TIMEOUT_MS,
      "the bubble back at its width",
    );
  });
});

Deno.test("tui: Ctrl+C, Ctrl+D and /exit leave and give the terminal back as it was", async () => {
  await withTmux(async (tmux) => {
    const dir = await makeTempDir("chat-tui-stty-");
    try {
      const ways: [string, (s: Screen) => Promise<void>][] = [
        ["ctrlc", (s) => s.keys("C-c")],
        ["ctrld", (s) => s.keys("C-d")],
        ["exit", (s) => s.type("/exit")],
      ];
      const screens = await Promise.all(ways.map(async ([name]) => {
        const before = join(dir, `${name}.before`);
        const after = join(dir, `${name}.after`);
        const script = `printf 'before-marker\\n'; stty -g > ${q(before)}; ${await tmux
          .joinCommand(name)}; echo "exit=$?"; stty -g > ${q(after)}; exec sleep 120`;
        await tmux.open(name, `sh -c ${q(script)}`, 80, 24);
        const screen = new Screen(tmux, name);
        await screen.waitFor(
          (t) => new RegExp(`${name}_\\d{4} · 127`).test(t),
          START_TIMEOUT_MS,
          `${name}'s chat screen`,
        );
        return screen;
      }));
      for (const screen of screens) {
        assert.equal(await screen.format("#{alternate_on}"), "1");
        assert.ok(!(await screen.text()).includes("before-marker")); // the alternate screen
      }
      await screens[0].type("a last word");
      await screens[1].waitFor((t) => t.includes("│ a last word │"), SHOW_TIMEOUT_MS, "a message");

      for (const [i, [, leave]] of ways.entries()) await leave(screens[i]);
      for (const [i, [name]] of ways.entries()) {
        const screen = screens[i];
        const text = await screen.waitFor(
          (t) => /exit=\d+/.test(t),
          SHOW_TIMEOUT_MS,
          `${name}: the client's exit`,
        );
        assert.match(text, /exit=0/);
        assert.match(text, /before-marker/); // the main screen is back, as it was
        assert.ok(!text.includes("a last word"), text);
        assert.ok(!text.includes("╭"), text);
        assert.equal(await screen.format("#{alternate_on}"), "0");
        assert.equal(await screen.format("#{cursor_flag}"), "1");
        assert.equal(await screen.format("#{mouse_any_flag}"), "0");
        const [before, after] = await Promise.all([
          Deno.readTextFile(join(dir, `${name}.before`)),
          Deno.readTextFile(join(dir, `${name}.after`)),
        ]);
        assert.equal(after, before, `${name}: terminal modes changed`);
      }
    } finally {
      await removeDir(dir);
    }
  });
});
