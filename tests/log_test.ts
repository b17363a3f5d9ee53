// Unit tests for src/server/log.ts: the line formats, levels, and counted events summed up.
//
// Run: deno test -A tests/log_test.ts

import assert from "node:assert/strict";
import { formatLine, Logger, SUMMARY_ADDRESSES } from "../src/server/log.ts";

const T = Date.UTC(2026, 11, 3, 14, 5, 6, 789);

function capture(options: ConstructorParameters<typeof Logger>[0] = {}) {
  const lines: string[] = [];
  const log = new Logger({ now: () => T, write: (line) => lines.push(line), ...options });
  return { log, lines };
}

Deno.test("log text: RFC 3339 time, level, message, then fields (quoted when they must be)", () => {
  assert.equal(
    formatLine("text", T, "info", "joined", { id: "tom_0001", address: "10.0.0.1", kind: "new" }),
    "2026-12-03T14:05:06.789Z INFO  joined id=tom_0001 address=10.0.0.1 kind=new",
  );
  assert.equal(
    formatLine("text", T, "error", "failed", { cause: 'disk "full" now', n: 3, ok: false }),
    '2026-12-03T14:05:06.789Z ERROR failed cause="disk \\"full\\" now" n=3 ok=false',
  );
  // a control character in a value cannot start a new line or move the cursor
  const line = formatLine("text", T, "warn", "x", { name: "a\nb\u001b[2J" });
  assert.equal(line.split("\n").length, 1);
  assert.ok(!line.includes("\u001b"), "no escape character");
  assert.equal(
    formatLine("text", T, "info", "x", { gone: undefined }),
    `${new Date(T).toISOString()} INFO  x`,
  );
});

Deno.test("log json: one object a line with time, level, msg and the fields", () => {
  const line = formatLine("json", T, "warn", "wrong password", { address: "10.0.0.1" });
  assert.deepEqual(JSON.parse(line), {
    time: "2026-12-03T14:05:06.789Z",
    level: "warn",
    msg: "wrong password",
    address: "10.0.0.1",
  });
  // a field cannot overwrite the line's own keys
  assert.equal(JSON.parse(formatLine("json", T, "info", "m", { level: "error" })).level, "info");
});

Deno.test("log: below the level is dropped", () => {
  const { log, lines } = capture({ level: "warn" });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines.map((l) => l.split(" ")[1]), ["WARN", "ERROR"]);
});

Deno.test("log: counted events are summed up once per reason, busiest addresses first, then forgotten", () => {
  const { log, lines } = capture();
  for (let i = 0; i < 1000; i++) log.count("pending_pushed_out", "10.0.0.1");
  for (let i = 0; i < 5; i++) log.count("pending_pushed_out", `10.0.1.${i}`);
  log.count("bad_frames", "10.0.0.9");
  assert.equal(lines.length, 0, "nothing until the summary");
  log.summarize();
  assert.equal(lines.length, 2);
  assert.match(
    lines[0],
    /WARN {2}refused reason=pending_pushed_out count=1005 addresses=6 busiest="10\.0\.0\.1 \(1000\), /,
  );
  assert.equal(lines[0].match(/\(\d+\)/g)!.length, SUMMARY_ADDRESSES);
  assert.match(lines[1], /reason=bad_frames count=1 addresses=1 busiest="10\.0\.0\.9 \(1\)"/);
  log.summarize();
  assert.equal(lines.length, 2, "nothing new: no line");
});
