// Unit tests for src/protocol/schema.ts: every frame both ways, and name validation.
//
// Run: deno test -A tests/schema_test.ts

import assert from "node:assert/strict";
import {
  ClientFrame,
  describeIssue,
  ID_PATTERN,
  MAX_HISTORY_LIMIT,
  MAX_PATTERN_LENGTH,
  MAX_RECIPIENTS,
  MAX_REF_LENGTH,
  MAX_TEXT_LENGTH,
  nameProblem,
  ServerFrame,
} from "../src/protocol/schema.ts";

const ULID = "01J9ZQ3V5W8X2Y4Z6A7B8C9D0E";
const ULID2 = "01J9ZQ3V5W8X2Y4Z6A7B8C9D0F";

function accepts(frame: unknown): ClientFrame {
  const result = ClientFrame.safeParse(frame);
  assert.ok(result.success, `expected to accept ${JSON.stringify(frame)}: ${result.error}`);
  return result.data;
}

function refuses(frame: unknown): void {
  const result = ClientFrame.safeParse(frame);
  assert.ok(!result.success, `expected to refuse ${JSON.stringify(frame).slice(0, 200)}`);
}

// ---- nameProblem ------------------------------------------------------------------------------

Deno.test("nameProblem: 1 and 24 characters of the allowed set are fine", () => {
  for (const name of ["a", "Z", "7", "x".repeat(24), "Tom", "alice.b", "a-b", "a_b", "A.b-C_9"]) {
    assert.equal(nameProblem(name), null, name);
  }
});

Deno.test("nameProblem: empty and 25 characters are refused", () => {
  assert.notEqual(nameProblem(""), null);
  assert.notEqual(nameProblem("x".repeat(25)), null);
});

Deno.test("nameProblem: unicode, spaces, slashes, controls are refused", () => {
  for (
    const name of [
      "tóm",
      "日本",
      "bob🎉",
      "a b",
      " tom",
      "tom ",
      "a/b",
      "/etc",
      "..\\x",
      "a\\b",
      "tom\n",
      "a\x00b",
      "a\x1b[31m",
      "tom:1",
      "@tom",
      "#tom",
      "*",
      "a\u202eb",
    ]
  ) {
    assert.notEqual(nameProblem(name), null, JSON.stringify(name));
  }
});

Deno.test("nameProblem: '.' and '..' are allowed characters (names never become paths)", () => {
  // The charset allows dots; safety comes from never building a path out of a name.
  assert.equal(nameProblem("."), null);
  assert.equal(nameProblem(".."), null);
  assert.notEqual(nameProblem("../etc"), null, "a slash is never allowed");
});

Deno.test("nameProblem: names shaped like ids (name, '_', 4 to 8 digits) are refused", () => {
  for (
    const name of ["bob_1234", "a_0000", "x_b_9999", "bob_12345", "bob_1234567", "bob_12345678"]
  ) {
    const problem = nameProblem(name);
    assert.notEqual(problem, null, name);
    assert.match(problem!, /id/);
    assert.match(problem!, /4 to 8 digits/);
  }
  // near misses are names
  for (
    const name of ["bob_123", "bob_123456789", "bob1234", "bob-1234", "bob_12a4", "_1234x"]
  ) {
    assert.equal(nameProblem(name), null, name);
  }
});

Deno.test("ID_PATTERN: name, '_', 4 to 8 digits", () => {
  assert.ok(ID_PATTERN.test("tom_0001"));
  assert.ok(ID_PATTERN.test("tom_00001"));
  assert.ok(ID_PATTERN.test("tom_12345678"));
  assert.ok(ID_PATTERN.test("x".repeat(24) + "_9999"));
  assert.ok(ID_PATTERN.test("x".repeat(24) + "_99999999"));
  assert.ok(!ID_PATTERN.test("x".repeat(25) + "_9999"));
  assert.ok(!ID_PATTERN.test("tom_001"));
  assert.ok(!ID_PATTERN.test("tom_123456789"));
  assert.ok(!ID_PATTERN.test("tom"));
  assert.ok(!ID_PATTERN.test("_1234"));
});

Deno.test("send: the longest id (24 + '_' + 8 digits) is a valid recipient, one more is not", () => {
  const longest = "x".repeat(24) + "_12345678";
  accepts({ type: "send", ref: "r", text: "hi", to: [longest] });
  refuses({ type: "send", ref: "r", text: "hi", to: [longest + "9"] });
});

// ---- client → server --------------------------------------------------------------------------

Deno.test("ClientFrame: accepts a valid frame of each type", () => {
  const frames = [
    { type: "hello", name: "tom" },
    { type: "hello", name: "tom", token: "abc", password: "pw", resume: ULID },
    { type: "send", ref: "1", text: "hi" },
    { type: "send", ref: "2", text: "hi", to: ["alice_1234", "bob"] },
    { type: "send", ref: "3", text: "re", replyTo: ULID },
    { type: "send", ref: "4", text: "temp", ttl: 30 },
    { type: "delete", ref: "5", id: ULID },
    { type: "search", ref: "6", pattern: "h.llo" },
    { type: "who", ref: "7" },
    { type: "history", ref: "8", limit: 50 },
    { type: "history", ref: "9", limit: MAX_HISTORY_LIMIT, before: ULID },
    { type: "ping" },
    { type: "bye" },
  ];
  for (const frame of frames) assert.deepEqual(accepts(frame), frame);
});

Deno.test("ClientFrame: forged fields on send are dropped (from, time, id, private)", () => {
  const parsed = accepts({
    type: "send",
    ref: "r",
    text: "hi",
    from: "admin_0001",
    time: 0,
    id: ULID,
    private: true,
    sender: "admin",
  });
  assert.deepEqual(parsed, { type: "send", ref: "r", text: "hi" });
  assert.ok(!("from" in parsed));
  assert.ok(!("time" in parsed));
  assert.ok(!("id" in parsed));
});

Deno.test("ClientFrame: forged fields on hello are dropped (id)", () => {
  assert.deepEqual(accepts({ type: "hello", name: "tom", id: "tom_0001", you: {} }), {
    type: "hello",
    name: "tom",
  });
});

Deno.test("ClientFrame: refuses wrong shapes", () => {
  const bad = [
    null,
    42,
    "hello",
    [],
    {},
    { type: "nope" },
    { type: "message", id: ULID, from: "a_0001", text: "x", time: 1 }, // server-only frame
    { type: "hello" },
    { type: "hello", name: 7 },
    { type: "send", text: "no ref" },
    { type: "send", ref: "", text: "empty ref" },
    { type: "send", ref: "r".repeat(MAX_REF_LENGTH + 1), text: "long ref" },
    { type: "send", ref: "r" },
    { type: "send", ref: "r", text: "" },
    { type: "send", ref: "r", text: 5 },
    { type: "send", ref: "r", text: "x", to: [] },
    { type: "send", ref: "r", text: "x", to: "bob" },
    { type: "send", ref: "r", text: "x", to: ["bob smith"] },
    { type: "send", ref: "r", text: "x", to: ["@bob"] },
    { type: "send", ref: "r", text: "x", to: ["../x"] },
    { type: "send", ref: "r", text: "x", to: ["x".repeat(34)] },
    { type: "send", ref: "r", text: "x", replyTo: "not-a-ulid" },
    { type: "delete", ref: "r" },
    { type: "delete", ref: "r", id: "123" },
    { type: "search", ref: "r", pattern: "" },
    { type: "search", ref: "r", pattern: "a".repeat(MAX_PATTERN_LENGTH + 1) },
    { type: "who" },
    { type: "history", ref: "r" },
    { type: "history", ref: "r", limit: 0 },
    { type: "history", ref: "r", limit: MAX_HISTORY_LIMIT + 1 },
    { type: "history", ref: "r", limit: 1.5 },
  ];
  for (const frame of bad) refuses(frame);
});

Deno.test("ClientFrame: text of MAX_TEXT_LENGTH is fine, one more is refused", () => {
  accepts({ type: "send", ref: "r", text: "x".repeat(MAX_TEXT_LENGTH) });
  refuses({ type: "send", ref: "r", text: "x".repeat(MAX_TEXT_LENGTH + 1) });
});

Deno.test("ClientFrame: 32 recipients are fine, 33 are refused", () => {
  const to = (n: number) => Array.from({ length: n }, (_, i) => `user${i}`);
  accepts({ type: "send", ref: "r", text: "x", to: to(MAX_RECIPIENTS) });
  refuses({ type: "send", ref: "r", text: "x", to: to(MAX_RECIPIENTS + 1) });
});

Deno.test("ClientFrame: hello with a bad name is refused", () => {
  for (const name of ["", "x".repeat(25), "a b", "a/b", "tóm", "bob_1234", "tom\n"]) {
    refuses({ type: "hello", name });
  }
  accepts({ type: "hello", name: "x".repeat(24) });
});

Deno.test("ClientFrame: hello token and password bounds", () => {
  refuses({ type: "hello", name: "tom", token: "" });
  refuses({ type: "hello", name: "tom", token: "t".repeat(129) });
  accepts({ type: "hello", name: "tom", token: "t".repeat(128) });
  refuses({ type: "hello", name: "tom", password: "p".repeat(1025) });
  refuses({ type: "hello", name: "tom", resume: "nope" });
});

Deno.test("ClientFrame: ttl must be a positive integer", () => {
  for (const ttl of [0, -1, 1.5, "30", "30s", null, Number.NaN, Infinity]) {
    refuses({ type: "send", ref: "r", text: "x", ttl });
  }
  accepts({ type: "send", ref: "r", text: "x", ttl: 1 });
});

Deno.test("describeIssue: names the path of the first problem", () => {
  const result = ClientFrame.safeParse({ type: "send", ref: "r", text: 5 });
  assert.ok(!result.success);
  const text = describeIssue(result.error);
  assert.match(text, /^frame has the wrong shape/);
  assert.match(text, /"text"/);
});

// ---- server → client --------------------------------------------------------------------------

Deno.test("ServerFrame: parses every frame the hub emits", () => {
  const user = { id: "tom_0001", name: "tom" };
  const message = {
    type: "message",
    id: ULID,
    from: "tom_0001",
    text: "hi",
    time: 1_700_000_000_000,
  };
  const frames = [
    {
      type: "welcome",
      you: user,
      token: "tok",
      users: [user],
      limits: {
        maxFrameBytes: 65536,
        maxTextLength: 4000,
        maxRecipients: 32,
        heartbeatMs: 15000,
        idleTimeoutMs: 45000,
      },
      server: { version: "0.1.0" },
    },
    message,
    { ...message, id: ULID2, to: ["alice_1234"], replyTo: ULID, expiresAt: 5, replay: true },
    { ...message, from: "tom_12345678", to: ["alice_00042"] },
    { type: "deleted", id: ULID, reason: "deleted" },
    { type: "deleted", id: ULID, reason: "expired" },
    { type: "presence", joined: user, online: 2 },
    { type: "presence", left: user, online: 1 },
    { type: "ack", ref: "r", id: ULID, time: 1 },
    { type: "users", ref: "r", users: [user] },
    { type: "results", ref: "r", total: 1, messages: [message] },
    { type: "error", code: "bad_frame", message: "no" },
    { type: "error", ref: "r", code: "not_found", message: "no" },
    { type: "pong" },
    { type: "goodbye", reason: "replaced", message: "bye" },
  ];
  for (const frame of frames) {
    const result = ServerFrame.safeParse(frame);
    assert.ok(result.success, `${JSON.stringify(frame)}: ${result.error}`);
    assert.deepEqual(result.data, frame);
  }
});

Deno.test("ServerFrame: refuses malformed server frames", () => {
  const bad = [
    { type: "message", id: "x", from: "tom_0001", text: "hi", time: 1 },
    { type: "message", id: ULID, from: "tom", text: "hi", time: 1 },
    { type: "message", id: ULID, from: "tom_0001", text: "hi" },
    { type: "deleted", id: ULID, reason: "gone" },
    { type: "presence", online: 1.5 },
    { type: "ack", ref: "r", id: ULID },
    { type: "hello", name: "tom" },
  ];
  for (const frame of bad) assert.ok(!ServerFrame.safeParse(frame).success, JSON.stringify(frame));
});
