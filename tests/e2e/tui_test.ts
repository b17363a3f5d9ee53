/**
 * The full-screen UI in a real terminal: a real server, and clients inside tmux (one tmux
 * server per test, on its own socket), typed at with `send-keys` and read with `capture-pane`
 * (tmux.ts). Every wait is bounded. tmux must be installed (.ci/run installs it); without it
 * these tests fail and say so.
 *
 * Run: deno test -A tests/e2e/tui_test.ts
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { restartableServer } from "./reliability_harness.ts";
import { textWidth } from "../../src/ui/bubble.ts";
import { delay, joinClient, messageWith, tempDir } from "./harness.ts";
import {
  q,
  Screen,
  SHOW_TIMEOUT_MS,
  START_TIMEOUT_MS,
  Tmux,
  tmuxAvailable,
  withTmux,
} from "./tmux.ts";

/** alice's and bob's screens (columns and rows as tmux.join takes them), once alice saw bob join. */
async function aliceAndBob(tmux: Tmux, aliceSize: number[] = [], bobSize: number[] = []) {
  const alice = await tmux.join("alice", "alice", ...aliceSize);
  const bob = await tmux.join("bob", "bob", ...bobSize);
  await alice.shows(`${bob.id} joined`, "bob joining");
  return { alice, bob };
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

Deno.test("tui: a message shows as a bubble on the other screen, and a deletion removes it", async () => {
  await withTmux(async (tmux) => {
    const { alice, bob } = await aliceAndBob(tmux);

    await alice.type("hello bob, this is a bubble");
    const seen = await bob.shows("│ hello bob, this is a bubble │", "alice's bubble");
    const lines = seen.split("\n");
    const box = bubbleAround(lines, "hello bob, this is a bubble");
    assert.equal(box.length, 3, box.join("\n"));
    assert.match(box[0], /^ ╭─+╮$/); // others' bubbles on the left
    // in colour
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
    const dm = await alice.shows("│ just for you │", "bob's direct message");
    assert.match(dm, new RegExp(`${bob.id} · Direct to you`));
    // a direct message rings the bell
    await alice.waitFor(
      async () => (await alice.format("#{window_bell_flag}")) === "1",
      SHOW_TIMEOUT_MS,
      "the bell",
    );

    // search results in a closable panel, with refs that work in /reply
    await bob.type("/search bubble");
    const found = await bob.shows("Search for bubble: 1 result", "the search panel");
    const foundRef = new RegExp(` #(\\w+) \\d\\d:\\d\\d:\\d\\d ${alice.id}: hello bob`).exec(found)
      ?.[1];
    assert.equal(foundRef, ref, found);
    await bob.keys("Escape");
    await bob.gone("Search for bubble", "the panel closed");
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
    await bob.gone("hello bob, this is a bubble", "the deleted bubble gone");
    await alice.gone(
      "hello bob, this is a bubble",
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
    const { alice, bob } = await aliceAndBob(tmux);
    await alice.type("/temp 2s gone in two seconds");
    const shown = await bob.shows("│ gone in two seconds │", "the temporary bubble");
    assert.match(shown, /· [12]s left|· expiring/);
    const start = Date.now();
    await bob.gone("gone in two seconds", "the temporary bubble gone");
    assert.ok(Date.now() - start < 8_000);
    await alice.gone("gone in two seconds", "the temporary bubble gone from the sender's screen");
  });
});

Deno.test("tui: resizing the window reflows the bubbles", async () => {
  await withTmux(async (tmux) => {
    const { alice, bob } = await aliceAndBob(tmux, [], [100, 30]);
    const words = "reflow me please ".repeat(9).trim();
    await alice.type(words);
    const wide = await bob.shows("│ reflow me please", "the long bubble");
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
    await using dir = await tempDir("chat-tui-stty-");
    const ways: [string, (s: Screen) => Promise<void>][] = [
      ["ctrlc", (s) => s.keys("C-c")],
      ["ctrld", (s) => s.keys("C-d")],
      ["exit", (s) => s.type("/exit")],
    ];
    const screens = await Promise.all(ways.map(async ([name]) => {
      const before = join(dir.path, `${name}.before`);
      const after = join(dir.path, `${name}.after`);
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
    await screens[1].shows("│ a last word │", "a message");

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
        Deno.readTextFile(join(dir.path, `${name}.before`)),
        Deno.readTextFile(join(dir.path, `${name}.after`)),
      ]);
      assert.equal(after, before, `${name}: terminal modes changed`);
    }
  });
});

// ---- issue 13 ----------------------------------------------------------------------------------

/** The status line (the row above the input line). */
const statusOf = (lines: string[]) => {
  const rows = lines.at(-1) === "" ? lines.slice(0, -1) : lines; // capture's last newline
  return rows[rows.length - 2] ?? "";
};

Deno.test("tui: what is typed while the server is down survives Ctrl+C and goes out once on the next join", async () => {
  await tmuxAvailable();
  await using node = await restartableServer("chat-tui-outbox-");
  let server = await node.start();
  await using tmux = new Tmux(server);
  const state = await tmux.stateDir();
  const alice = await tmux.join("alice", "alice", 60, 20, [], state);
  await server.stop("SIGTERM");
  await alice.waitFor((t) => /reconnecting|connecting…/.test(t), SHOW_TIMEOUT_MS, "the drop");

  await alice.type("unsent words");
  await alice.shows("will send when reconnected", "pending");
  // a half-typed line: the first Ctrl+C asks, it does not leave
  await alice.keys("-l", "half typed");
  await alice.keys("C-c");
  await alice.shows("Ctrl+C again within 2 s", "the ask");
  await delay(300);
  assert.ok(!/exit=/.test(await alice.text()));
  const pressed = Date.now();
  await alice.keys("C-c");
  await alice.waitFor((t) => /exit=\d+/.test(t), SHOW_TIMEOUT_MS, "the exit");
  // with what scrolled off the top of the pane
  const left = await tmux.tmux("capture-pane", "-p", "-S", "-100", "-t", alice.target);
  // no wait for a server that is not there, and no message lost: it is said how many
  assert.ok(Date.now() - pressed < 3_000, `took ${Date.now() - pressed} ms`);
  assert.match(left, /exit=0/);
  assert.match(
    left.replace(/\n\s*/g, " "),
    /1 message not sent yet: it goes out the next time you join as alice_\d{4} on 127\.0\.0\.1:/,
  );
  const kept = JSON.parse(await Deno.readTextFile(join(state, "chat", "outbox.json")));
  const [frames] = Object.values(kept).flatMap((byId) => Object.values(byId as object));
  assert.deepEqual(frames.map((f: { text: string }) => f.text), ["unsent words"]);
  assert.equal((await Deno.stat(join(state, "chat", "outbox.json"))).mode! & 0o777, 0o600);

  server = await node.start();
  tmux.server = server;
  await using bob = await joinClient(server, "bob");
  await tmux.tmux("kill-session", "-t", "=alice");
  const again = await tmux.join("alice2", "alice", 60, 20, [], state);
  assert.equal(again.id, alice.id);
  await again.shows("│ unsent words │", "the kept message");
  await bob.waitFor(messageWith("unsent words"));
  // once: a third join sends nothing again, and the server stored it once
  await tmux.tmux("kill-session", "-t", "=alice2");
  await tmux.join("alice3", "alice", 60, 20, [], state);
  await delay(1_000);
  assert.equal(
    bob.events.filter((e) => e.type === "message" && e.text === "unsent words").length,
    1,
  );
  const history = await joinClient(server, "carol");
  const seen = await history.waitFor((e) => e.type === "message" && e.text === "unsent words");
  assert.ok(seen.replay);
  await delay(500);
  assert.equal(
    history.events.filter((e) => e.type === "message" && e.text === "unsent words").length,
    1,
  );
  await history[Symbol.asyncDispose]();
  await server[Symbol.asyncDispose]();
});

Deno.test("tui: a shutdown shows no one leaving; Ctrl+R reconnects at once; the count says stale", async () => {
  await tmuxAvailable();
  await using node = await restartableServer("chat-tui-reconnect-");
  let server = await node.start();
  await using tmux = new Tmux(server);
  const alice = await tmux.join("alice", "alice", 100, 24);
  const bob = await tmux.join("bob", "bob", 100, 24);
  const carol = await tmux.join("carol", "carol", 100, 24);
  await alice.shows(`${carol.id} joined`, "carol");
  await server.stop("SIGTERM");
  for (const screen of [alice, bob, carol]) {
    const text = await screen.shows("disconnected by the server", "the goodbye");
    await delay(800); // past the time a held "left" would be shown
    const now = await screen.text();
    assert.ok(!/ left · \d+ online/.test(now), `${screen.session}:\n${now}\n${text}`);
  }
  for (const screen of [alice, bob, carol]) {
    assert.match(statusOf(await screen.lines()), /3 online \(stale\)/);
  }
  // let the backoff grow past a few seconds, then bring the server back and retry by hand
  await delay(6_000);
  server = await node.start();
  tmux.server = server;
  const status = statusOf(await alice.lines());
  const wait = Number(/reconnecting in (\d+) s/.exec(status)?.[1] ?? "0");
  await alice.keys("C-r");
  const started = Date.now();
  await alice.waitFor(
    (_, lines) => / · connected/.test(statusOf(lines)),
    SHOW_TIMEOUT_MS,
    "back",
  );
  const took = Date.now() - started;
  assert.ok(
    took < Math.max(2_500, wait * 1000 - 1_000),
    `Ctrl+R took ${took} ms (wait was ${wait} s)`,
  );
  await server[Symbol.asyncDispose]();
});

Deno.test("tui: --no-color keeps bold and inverse (as NO_COLOR does); no colour either way", async () => {
  await withTmux(async (tmux) => {
    await tmux.open("flag", `sh -c ${q(await tmux.joinCommand("flag", ["--no-color"]))}`, 80, 20);
    await tmux.open(
      "env",
      `sh -c ${q(await tmux.joinCommand("envy", [], undefined, { NO_COLOR: "1" }))}`,
      80,
      20,
    );
    for (const [session, name] of [["flag", "flag"], ["env", "envy"]]) {
      const screen = new Screen(tmux, session);
      await screen.waitFor((t) => new RegExp(`${name}_\\d{4} · `).test(t), START_TIMEOUT_MS, name);
      const styled = await tmux.tmux("capture-pane", "-e", "-p", "-t", screen.target);
      const statusRow = styled.split("\n").find((l) =>
        l.includes(`${name}_`) && l.includes("127.0.0.1")
      )!;
      // the status line in inverse video, whatever the flag; no foreground or background colour
      // deno-lint-ignore no-control-regex -- looking for SGR sequences is the point
      assert.match(statusRow, /\x1b\[[0-9;]*7[0-9;]*m/, `${session}: ${JSON.stringify(statusRow)}`);
      // deno-lint-ignore no-control-regex -- likewise
      assert.doesNotMatch(styled, /\x1b\[[0-9;]*(3[0-7]|9[0-7]|4[0-7])m/, `${session}: colour`);
    }
  });
});

Deno.test("tui: Esc then /search in one write runs the search; a pasted table keeps its tabs", async () => {
  await withTmux(async (tmux) => {
    const { alice, bob } = await aliceAndBob(tmux, [100, 24], [100, 24]);
    // one send-keys: tmux writes Escape and the text together
    await alice.keys("Escape", "/search nothing-here-xyz", "Enter");
    await alice.shows("Search for nothing-here-xyz", "search");
    assert.ok(!(await bob.text()).includes("search nothing-here-xyz"), "sent as a message");
    // a row of a table, pasted without bracketed paste: tabs stay, aligned at tab stops
    await alice.keys("-l", "name\tqty\tprice");
    // Enter once the paste is in the line: read in one go with it, a trailing line break is
    // part of the paste (keys.ts), as a loaded machine may deliver them
    await alice.waitFor((t) => /› name\s+qty/.test(t), SHOW_TIMEOUT_MS, "the pasted line");
    await alice.keys("Enter");
    await bob.shows("│ name    qty     price │", "the table");
  });
});

Deno.test("tui: at 50 and 60 columns the status keeps whole words, /help wraps under itself, hidden input is marked", async () => {
  await withTmux(async (tmux) => {
    // tall enough for all of /help at 60 columns (the room and moderation commands made it longer)
    const alice = await tmux.join("alice", "alice", 60, 150);
    await alice.type("/help");
    const help = await alice.shows("Ctrl+D", "the help");
    const lines = help.split("\n");
    const row = lines.findIndex((l) => l.includes("/search PATTERN"));
    const column = lines[row].indexOf("search everything");
    assert.equal(lines[row + 1].search(/\S/), column, help); // the wrapped half under its start
    for (const line of lines) assert.ok([...line].length <= 60);
    await alice.keys("-l", "x".repeat(30) + " " + "y".repeat(40));
    await alice.waitFor(
      (_, l) => /^› …y+$/.test(l[l.length - 2] ?? "") || /^› …/.test(l.at(-2) ?? ""),
      SHOW_TIMEOUT_MS,
      "the mark",
    );
    await alice.keys("Home");
    await alice.waitFor(
      (_, l) => /^› x+.*…$/.test(l.filter((x) => x.startsWith("›"))[0] ?? ""),
      SHOW_TIMEOUT_MS,
      "the right mark",
    );
    await alice.keys("C-u");
    await tmux.tmux("resize-window", "-t", alice.target, "-x", "50", "-y", "20");
    // the UI draws 50 columns anew; its status line is whole words, the state kept
    const narrow = await alice.waitFor(
      (_, l) => l.length <= 21 && / · connected/.test(statusOf(l)),
      SHOW_TIMEOUT_MS,
      "50 columns",
    );
    const status = statusOf(narrow.split("\n"));
    assert.ok(!status.includes("…"), status);
    assert.match(status, /connected/);
  });
});

Deno.test("tui: --layout lines, F3 switches; a DM to someone offline says it waits; a deletion is confirmed", async () => {
  await withTmux(async (tmux) => {
    const alice = await tmux.join("alice", "alice", 100, 24, ["--layout", "lines"]);
    await alice.type("hello https://example.com/path?q=1 there");
    const line = await alice.waitFor(
      (t) => /\d\d:\d\d #\w+ <alice_\d{4}> hello https:\/\/example\.com\/path\?q=1 there/.test(t),
      SHOW_TIMEOUT_MS,
      "the message as one line",
    );
    assert.ok(!line.includes("╭"), line);
    const ref = /\d\d:\d\d #(\w+) <alice/.exec(line)![1];
    await alice.keys("F3");
    await alice.waitFor(
      (t) => t.includes("╭") && t.includes("│ hello https://example.com"),
      SHOW_TIMEOUT_MS,
      "bubbles",
    );
    // bob comes and goes: his id is known to the server, and he is offline
    const bob = await tmux.join("bob", "bob", 100, 24);
    await tmux.tmux("send-keys", "-t", bob.target, "C-d");
    await alice.shows(`${bob.id} left`, "bob leaving");
    await alice.type(`@${bob.id} are you there?`);
    await alice.shows(
      `${bob.id} is not online: the message waits on the server`,
      "the waiting notice",
    );
    await alice.type(`/delete ${ref}`);
    await alice.shows(`deleted the message #${ref}`, "the confirmation");
  });
});

Deno.test("tui: the name prompt clears a refused name, so the next one is not appended to it", async () => {
  await withTmux(async (tmux) => {
    await tmux.open("ask", `sh -c ${q(await tmux.joinCommand(undefined))}`, 80, 20);
    const screen = new Screen(tmux, "ask");
    await screen.waitFor(
      (t) => t.includes("Your name in the chat"),
      START_TIMEOUT_MS,
      "the prompt",
    );
    await screen.type("bad name!");
    await screen.waitFor((t) => /letters|allowed|may/i.test(t), SHOW_TIMEOUT_MS, "the refusal");
    await screen.type("alice");
    await screen.waitFor(
      (t) => /alice_\d{4} · 127\.0\.0\.1/.test(t),
      START_TIMEOUT_MS,
      "joined as alice",
    );
  });
});

Deno.test("tui: 👍🏽 × 14 at 60 columns (4 cells each in tmux) leaves the status line and the bubble whole", async () => {
  await withTmux(async (tmux) => {
    const { alice, bob } = await aliceAndBob(tmux, [60, 20], [100, 24]);
    const thumbs = "👍🏽".repeat(14);
    await alice.keys("-l", `thumbs ${thumbs}`);
    // typed, not sent: the input line is wider than the window, the status line above stays
    await alice.shows("👍🏽👍🏽👍🏽", "the input line");
    await delay(300); // a frame that spilled would have scrolled the screen by now
    assert.match(statusOf(await alice.lines()), new RegExp(`^ ${alice.id} · 127\\.0\\.0\\.1:\\d+`));
    await alice.keys("Enter");
    for (const screen of [alice, bob]) {
      const text = await screen.waitFor(
        (t) => t.includes("│ thumbs") && (t.match(/👍🏽/g)?.length ?? 0) === 14,
        SHOW_TIMEOUT_MS,
        "the bubble",
      );
      const lines = text.replace(/\n$/, "").split("\n");
      assert.match(statusOf(lines), new RegExp(`^ ${screen.id} · 127\\.0\\.0\\.1:\\d+ · 2 online`));
      const box = bubbleAround(lines, "thumbs");
      // every row of the bubble ends in the same column (widths as tmux draws them)
      const ends = box.map((l) => textWidth(l.trimEnd()));
      assert.equal(new Set(ends).size, 1, `${screen.session}:\n${box.join("\n")}`);
      assert.ok(box.slice(1, -1).every((l) => l.trimEnd().endsWith("│")), box.join("\n"));
    }
  });
});
