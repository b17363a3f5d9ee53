// What `chat join` loads before its first message: the modules main.ts and cli/join.ts import
// at run time (static imports, not type-only ones, not the dynamic ones of other commands). zod
// and the server's search code (node:sqlite, re2js) are megabytes of memory a client does not need
// (and cli-table3 one the full-screen client does not: plain.ts loads it for the line modes):
// the client checks frames with protocol/server_frames.ts (held to the schema by
// server_frames_test.ts) and reads its limits and patterns from protocol/rules.ts.
//
// Run: deno test -A tests/join_weight_test.ts

import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { SEARCH_WORKER_NAME } from "../src/main.ts";
import { SEARCH_WORKER_NAME as SERVER_NAME } from "../src/server/search/worker_main.ts";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** The specifiers a file imports at run time, as soon as it is loaded. */
function staticImports(source: string): string[] {
  const out: string[] = [];
  const statement = /^(?:import|export)\s+(type\s+)?(?:[^;"']*?\s+from\s+)?["']([^"']+)["']/gm;
  for (const match of source.matchAll(statement)) if (!match[1]) out.push(match[2]);
  return out;
}

/** Every module loaded with `entries`: files relative to src/, packages and node: modules. */
function closure(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const stack = entries.map((e) => join(SRC, e));
  while (stack.length > 0) {
    const file = stack.pop()!;
    const name = relative(SRC, file);
    if (seen.has(name)) continue;
    seen.add(name);
    for (const spec of staticImports(Deno.readTextFileSync(file))) {
      if (spec.startsWith(".")) stack.push(join(dirname(file), spec));
      else seen.add(spec);
    }
  }
  return seen;
}

Deno.test("join loads neither zod nor the server's search", () => {
  const loaded = closure(["main.ts", "cli/join.ts"]);
  assert.ok(loaded.has("client/connection.ts") && loaded.has("ui/tui/tui.ts"), [...loaded].join());
  for (const heavy of ["zod", "re2js", "node:sqlite", "protocol/schema.ts", "cli-table3"]) {
    assert.ok(!loaded.has(heavy), `join loads ${heavy}`);
  }
  const server = [...loaded].filter((m) => m.startsWith("server/"));
  // the command line's defaults for serve, and how main.ts knows the PostgreSQL store's worker:
  // modules with no run-time imports of their own
  assert.deepStrictEqual(server.sort(), [
    "server/limits.ts",
    "server/log.ts",
    "server/store/postgres_bridge.ts",
  ]);
});

Deno.test("main.ts knows the search worker by the server's name for it", () => {
  assert.equal(SEARCH_WORKER_NAME, SERVER_NAME);
});
