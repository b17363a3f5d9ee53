// The key list is one table (src/ui/keymap.ts): the README, `chat join --help` and /help show it,
// and the full-screen UI handles every key it names.
//
// Run: deno test -A tests/keymap_test.ts

import assert from "node:assert/strict";
import { JOIN_HELP } from "../src/cli/args.ts";
import { KEY_BINDINGS, keysText } from "../src/ui/keymap.ts";
import { HANDLED_KEYS } from "../src/ui/tui/tui.ts";

Deno.test("keymap: the README's key table is the table, row by row", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const rows = readme.split("\n")
    .filter((l) => /^\| [^|]+ \| [^|]+ \|$/.test(l))
    .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
  for (const b of KEY_BINDINGS) {
    assert.ok(
      rows.some(([keys, help]) => keys === b.keys && help === b.help),
      `README lacks | ${b.keys} | ${b.help} |`,
    );
  }
});

Deno.test("keymap: chat join --help lists the keys from the table", () => {
  for (const line of keysText(78).split("\n")) assert.ok(JOIN_HELP.includes(line), line);
});

Deno.test("keymap: every key in the table is one the full-screen UI acts on", () => {
  for (const b of KEY_BINDINGS) {
    for (const name of b.names) assert.ok(HANDLED_KEYS.has(name), `${b.keys}: ${name}`);
  }
});
