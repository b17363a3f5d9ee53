/**
 * Rooms in the full-screen UI, in a real terminal (tmux.ts): the room list above the status line
 * counting what another client posts into another room, at 60 and at 160 columns; Alt+2 and
 * Ctrl+N switching; the read marker; a direct conversation as its own entry; what is typed going
 * to the room looked at; and day lines with dates, from a server whose database holds a message
 * written two days ago. Every wait is bounded; what is asserted is what a person sees.
 *
 * Run: deno test -A tests/e2e/tui_rooms_test.ts
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { dayWords, stamp } from "../../src/ui/time.ts";
import { joined, messageWith, startServer, tempDir } from "./harness.ts";
import { type Screen, SHOW_TIMEOUT_MS, Tmux, tmuxAvailable, withTmux } from "./tmux.ts";

const DAY = 86_400_000;

/** The room list: the row above the status line, above the input line. */
const listOf = (lines: string[]) => {
  const rows = lines.at(-1) === "" ? lines.slice(0, -1) : lines; // capture's last newline
  return rows[rows.length - 3] ?? "";
};

/** Waits until the room list reads as `pattern`. */
const listShows = (screen: Screen, pattern: RegExp, what: string) =>
  screen.waitFor((_, lines) => pattern.test(listOf(lines)), SHOW_TIMEOUT_MS, what);

Deno.test("tui rooms: at 160 and 60 columns the list counts another room's news, Alt+2 and Ctrl+N switch, the marker shows where reading stopped", async () => {
  await withTmux(async (tmux) => {
    await using bob = await joined(tmux.server, "bob", { extraArgs: ["--room", "builds"] });
    const alice = await tmux.join("alice", "alice", 160, 30);
    const carol = await tmux.join("carol", "carol", 60, 24);
    for (const screen of [alice, carol]) {
      await screen.type("/join #builds");
      await listShows(screen, /^ 1:#general \[2:#builds\]\s*$/, "#builds looked at");
    }
    // back to #general: Alt+1 for alice, Ctrl+P for carol
    await alice.keys("M-1");
    await carol.keys("C-p");
    for (const screen of [alice, carol]) {
      await listShows(screen, /^ \[1:#general\] 2:#builds\s*$/, "#general looked at");
    }

    await bob.send("build 1 passed");
    await bob.send(`${alice.id}: build 2 is yours`);
    await listShows(alice, /^ \[1:#general\] 2:#builds\(2!\)\s*$/, "two, one for alice");
    await listShows(carol, /^ \[1:#general\] 2:#builds\(2\)\s*$/, "two, none for carol");
    for (const screen of [alice, carol]) {
      const shown = await screen.text();
      assert.ok(!shown.includes("build 1 passed"), `#general shows #builds' news:\n${shown}`);
    }

    // Alt+2 (as tmux sends it: Esc, then 2) and Ctrl+N: #builds, read, the marker above the news
    await alice.keys("M-2");
    await carol.keys("C-n");
    for (const screen of [alice, carol]) {
      const text = await screen.waitFor(
        (t, lines) => t.includes("build 2 is yours") && /\[2:#builds\]\s*$/.test(listOf(lines)),
        SHOW_TIMEOUT_MS,
        "#builds with its news",
      );
      const lines = text.split("\n");
      const marker = lines.findIndex((l) => /^─+ unread ─+$/.test(l));
      assert.ok(marker >= 0, `no marker:\n${text}`);
      assert.ok(
        lines.findIndex((l) => l.includes("│ build 1 passed")) > marker,
        `the marker is not above the first news:\n${text}`,
      );
      assert.ok(lines.findIndex((l) => l.includes("you joined #builds")) < marker, text);
      assert.ok(!listOf(lines).includes("("), "read: no count");
      for (const line of lines) assert.ok([...line].length <= (screen === alice ? 160 : 60));
    }

    // what is typed goes to the room looked at
    await alice.type("thanks, on it");
    const thanks = await bob.waitFor(messageWith("thanks, on it"));
    assert.equal(thanks.room, "#builds");

    // a direct message is an entry of its own, news for alice; the list fits 60 columns
    await bob.send(`@${carol.id} psst, carol`);
    const dm = await listShows(carol, /3:@bob_\d{4}\(1!\)/, "the conversation with bob");
    assert.match(listOf(dm.split("\n")), /^ 1:#general \[2:#builds\] 3:@bob_\d{4}\(1!\)\s*$/);
    await carol.keys("M-3");
    await carol.type("hello bob");
    const reply = await bob.waitFor(messageWith("hello bob"));
    assert.deepEqual(reply.to, [bob.id], "typed in the conversation: to bob");
  });
});

Deno.test("tui rooms: a message from two days ago has a day line and its date; today's come after today's line", async () => {
  await tmuxAvailable();
  await using dir = await tempDir("chat-tui-days-");
  // a message written two days ago, in the server's own database
  const old = Date.now() - 2 * DAY;
  {
    await using server = await startServer({ dir: dir.path });
    await using bob = await joined(server, "bob");
    await bob.send("from the day before yesterday");
    await bob.waitFor(messageWith("from the day before yesterday"));
    await bob.end();
    await server.stop();
  }
  const db = new DatabaseSync(join(dir.path, "chat.db"));
  db.prepare("UPDATE messages SET time = ? WHERE text = ?").run(
    old,
    "from the day before yesterday",
  );
  db.close();

  await using server = await startServer({ dir: dir.path });
  await using tmux = new Tmux(server);
  const alice = await tmux.join("alice", "alice", 60, 24);
  await using carol = await joined(server, "carol");
  await carol.send("and today's news");
  const text = await alice.shows("and today's news", "today's message");
  const lines = text.split("\n");
  const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
  const oldDay = at(new RegExp(`^─+ ${dayWords(old)} ─+$`));
  const today = at(new RegExp(`^─+ ${dayWords(Date.now())} ─+$`));
  const oldText = at(/│ from the day before yesterday │/);
  const newText = at(/│ and today's news │/);
  assert.ok(oldDay >= 0 && today >= 0, `no day lines:\n${text}`);
  assert.ok(oldDay < oldText && oldText < today && today < newText, text);
  // the old one's time has its date; today's has the time alone
  assert.match(text, new RegExp(`bob_\\d{4} · Public · ${stamp(old, Date.now())} · #\\w+`));
  assert.match(text, /carol_\d{4} · Public · \d\d:\d\d:\d\d · #\w+/);
});
