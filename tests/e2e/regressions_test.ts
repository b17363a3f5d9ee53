// The original Python chat's weaknesses, one named regression test each. Some overlap
// with broader tests elsewhere; these stay small and say exactly which weakness they pin down.
//
// Run: deno test -A --parallel tests/e2e/regressions_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import * as h from "./harness.ts";
import { listFiles } from "./reliability_harness.ts";
import { rawFrame, utf8 } from "../fixtures.ts";

Deno.test("regression: forged sender is ignored", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice");
  const { raw, id: mallory } = await h.rawJoinedSeen(server, alice, "mallory");
  await using _raw = raw;
  // the original trusted `sender`, `time` and `private` from the client
  await raw.sendFrame({
    type: "send",
    ref: "forged",
    text: "trust me, I am alice",
    sender: alice.id,
    from: alice.id,
    time: 0,
    private: true,
    id: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
  });
  const m = await alice.waitFor(h.messageWith("trust me, I am alice"));
  assert.equal(m.from, mallory, "the server sets the sender");
  assert.notEqual(m.id, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "the server sets the id");
  assert.ok(Math.abs(m.time - Date.now()) < 60_000, `the server sets the time, got ${m.time}`);
  assert.deepEqual(m.to, [], "`private` is not a thing: the message is public as sent");
});

Deno.test("regression: only the author can delete", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice");
  await using carol = await h.joined(server, "carol");
  const { raw: bob } = await h.rawJoined(server, "bob");
  await using _bob = bob;
  await alice.send("alice's own words");
  const m = await carol.waitFor(h.messageWith("alice's own words"));

  await bob.sendFrame({ type: "delete", ref: "d1", id: m.id });
  const refusal = await bob.frameWhere((f) => f.ref === "d1");
  assert.equal(refusal?.type, "error");
  assert.equal(refusal.code, "forbidden", JSON.stringify(refusal));
  await bob.sendFrame({ type: "delete", ref: "d2", id: "01ARZ3NDEKTSV4RRFFQ69G5FAV" });
  assert.equal((await bob.frameWhere((f) => f.ref === "d2"))?.code, "not_found");

  // still there for everyone
  await carol.send("/search own words");
  const found = await carol.waitFor((e) => e.type === "results");
  assert.equal(found.total, 1, JSON.stringify(found));
  assert.equal(carol.events.filter((e) => e.type === "deleted").length, 0);

  // the author can
  await alice.send(`/delete ${m.ref}`);
  const deleted = await carol.waitFor((e) => e.type === "deleted" && e.id === m.id);
  assert.equal(deleted.reason, "deleted");
});

Deno.test("regression: a session cannot be taken over by claiming its id", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice");
  await using bob = await h.joined(server, "bob");

  // asking for the id as a name is refused outright
  await using asId = await h.rawClient(server.port, server.caFile);
  await asId.sendFrame({ type: "hello", name: alice.id });
  const refused = await asId.frameWhere((f) => f.type === "error" || f.type === "welcome");
  assert.equal(refused?.type, "error", JSON.stringify(refused));
  assert.equal(refused.code, "bad_frame");

  // claiming it in other fields, or with a guessed token, gets a new id
  const attempts = [
    { type: "hello", name: "alice", id: alice.id },
    { type: "hello", name: "alice", you: { id: alice.id, name: "alice" } },
    { type: "hello", name: "alice", token: "0".repeat(64) },
    { type: "hello", name: "alice", token: alice.id },
  ];
  for (const hello of attempts) {
    await using raw = await h.rawClient(server.port, server.caFile);
    await raw.sendFrame(hello);
    const welcome = await raw.frameWhere((f) => f.type === "welcome" || f.type === "error");
    assert.equal(welcome?.type, "welcome", JSON.stringify(welcome));
    assert.notEqual(welcome.you.id, alice.id, `${JSON.stringify(hello)} took alice's id`);
    // and cannot read alice's direct messages
    await bob.send(`@${alice.id} for alice only ${attempts.indexOf(hello)}`);
    await alice.waitFor(h.messageWith(`for alice only ${attempts.indexOf(hello)}`));
    await raw.sendFrame({ type: "ping" });
    await raw.frameWhere((f) => f.type === "pong");
    assert.equal(
      raw.received.filter((f) => f.type === "message" && f.text.startsWith("for alice")).length,
      0,
    );
  }
  assert.equal(alice.events.filter((e) => e.type === "goodbye").length, 0, "alice never cut");
  assert.equal(alice.events.filter((e) => e.type === "status").length, 0);
});

Deno.test("regression: raw TCP bytes do not block or crash the server", async () => {
  await using server = await h.startServer();
  const garbage = [
    utf8("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    utf8(JSON.stringify({ sender: "x", text: "the original's plain JSON", time: "now" }) + "\n"),
    crypto.getRandomValues(new Uint8Array(60_000)),
    new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00]), // a TLS record cut short
    rawFrame(utf8('{"type":"hello","name":"plaintext"}')),
  ];
  const conns = await Promise.all(garbage.map(() => h.tcpClient(server.port)));
  try {
    await Promise.all(conns.map((c, i) => c.write(garbage[i]).catch(() => {})));
    // served while they are still open
    const started = Date.now();
    await h.assertServerServes(server);
    assert.ok(Date.now() - started < 10_000);
    // each is dropped (the cut-short TLS record waits for the handshake timeout, tested elsewhere)
    for (const [i, c] of conns.entries()) {
      if (i === 3) continue;
      assert.equal(await c.closed(5_000), true, `garbage connection ${i} was left open`);
    }
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
  assert.equal(server.exited, false, server.output());
  await h.assertServerServes(server);
});

Deno.test("regression: a silent connection does not block the server", async () => {
  await using server = await h.startServer();
  const silentTcp = await Promise.all(Array.from({ length: 8 }, () => h.tcpClient(server.port)));
  const silentTls = await Promise.all(
    Array.from({ length: 4 }, () => h.rawClient(server.port, server.caFile)),
  );
  try {
    const started = Date.now();
    await h.assertServerServes(server);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 8_000, `took ${elapsed} ms with silent connections open`);
    for (const c of [...silentTcp, ...silentTls]) {
      assert.equal(await c.closed(1), false, "still within their timeouts");
    }
  } finally {
    await Promise.all([...silentTcp, ...silentTls].map((c) => c.close()));
  }
});

Deno.test("regression: a malformed field does not stop expiry", async () => {
  await using server = await h.startServer();
  await using observer = await h.joined(server, "observer");
  await using writer = await h.joined(server, "writer");
  const { raw } = await h.rawJoined(server, "mangler");
  await using _raw = raw;

  // bad ttl values: refused, nothing stored, the connection goes on
  const bad = [`"10"`, `-5`, `1.5`, `1e999`];
  for (const [i, ttl] of bad.entries()) {
    await raw.sendBytes(
      rawFrame(utf8(`{"type":"send","ref":"bad${i}","text":"bad ttl ${i}","ttl":${ttl}}`)),
    );
    const error = await raw.frameWhere((f) => f.ref === `bad${i}`);
    assert.equal(error?.type, "error", `ttl ${ttl}: ${JSON.stringify(error)}`);
    assert.equal(error.code, "bad_frame");
  }
  // the original's killer: a bad `time` on a temporary message — here a field nobody reads
  await raw.sendFrame({
    type: "send",
    ref: "t1",
    text: "temp with a forged time",
    ttl: 1,
    time: "yesterday",
    expiresAt: "never",
  });
  assert.equal((await raw.frameWhere((f) => f.ref === "t1"))?.type, "ack");

  await writer.send("/temp 1s a good temp message");
  const temp = await observer.waitFor(h.messageWith("a good temp message"));
  assert.ok(temp.expiresAt, "marked temporary");
  const forged = await observer.waitFor(h.messageWith("temp with a forged time"));
  assert.ok(Math.abs(forged.expiresAt - Date.now()) < 30_000, `expiresAt ${forged.expiresAt}`);
  for (const m of [temp, forged]) {
    const gone = await observer.waitFor((e) => e.type === "deleted" && e.id === m.id, 5_000);
    assert.equal(gone.reason, "expired");
  }
  assert.equal(
    observer.events.filter((e) => e.type === "message" && e.text.startsWith("bad ttl")).length,
    0,
  );
});

Deno.test("regression: a message over 2 KiB is delivered and the connection lives", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice");
  await using bob = await h.joined(server, "bob");
  const long = ("over two KiB — ü€🙂 " + "y".repeat(200) + "\n").repeat(15).slice(0, 3_300);
  assert.ok(utf8(long).length > 3_000);
  await alice.send(long.replaceAll("\n", " "));
  const got = await bob.waitFor(h.messageWith(long.replaceAll("\n", " ")));
  assert.equal(got.from, alice.id);
  await alice.send("and after it");
  await bob.waitFor(h.messageWith("and after it"));
  await bob.send("bob answers");
  await alice.waitFor(h.messageWith("bob answers"));
  for (const c of [alice, bob]) {
    assert.equal(c.events.filter((e) => e.type === "goodbye" || e.type === "status").length, 0);
  }
  assert.equal((await alice.end()).code, 0);
});

Deno.test("regression: disconnected users are not listed", async () => {
  await using server = await h.startServer();
  await using people = await h.joinedAll(server, "alice", "bob", "carol");
  const [alice, bob, carol] = people;
  await carol.kill();
  await alice.waitFor((e) => e.type === "presence" && e.left?.id === carol.id, 5_000);
  await alice.send("/who");
  const who = await alice.waitFor((e) => e.type === "users");
  assert.deepEqual(who.users.map((u: { id: string }) => u.id), [alice.id, bob.id]);
  await using dave = await h.joined(server, "dave");
  const welcome = await dave.waitFor((e) => e.type === "welcome");
  assert.deepEqual(
    welcome.users.map((u: { id: string }) => u.id).sort(),
    [alice.id, bob.id, dave.id].sort(),
  );
});

Deno.test("regression: a username is never a file path", async () => {
  await using server = await h.startServer();
  await using cwd = await h.tempDir("chat-e2e-cwd-");
  await using state = await h.tempDir("chat-e2e-state-");
  const paths = ["../x", "a/b", "../../etc/passwd", "/etc/passwd", "x\\y", "~root", "a b"];
  for (const name of paths) {
    const result = await h.runJoinRaw(
      ["--name", name, "--server", `127.0.0.1:${server.port}`, "--ca", server.caFile],
      { cwd: cwd.path, env: { XDG_STATE_HOME: state.path } },
    );
    assert.equal(result.code, 2, `--name ${JSON.stringify(name)}: ${result.stderr}`);
    assert.match(result.stderr, /name/);
  }
  for (const name of [...paths, "a\0b", "..\u2215x", ""]) {
    await using raw = await h.rawClient(server.port, server.caFile);
    await raw.sendFrame({ type: "hello", name });
    const answer = await raw.frameWhere((f) => f.type === "error" || f.type === "welcome");
    assert.equal(
      answer?.type,
      "error",
      `hello ${JSON.stringify(name)}: ${JSON.stringify(answer)}`,
    );
    assert.equal(answer.code, "bad_frame");
  }

  // a real join, by CA file and by pinned fingerprint, keeps its state in two files; even a
  // name that looks like a path part (".." is a fine name) is only ever a key in them
  await using bob = await h.joined(server, "bob", { stateDir: state.path, cwd: cwd.path });
  assert.equal((await bob.end()).code, 0);
  await using dots = await h.joined(server, "..", { stateDir: state.path, cwd: cwd.path });
  assert.match(dots.id, /^\.\._[0-9]{4}$/);
  assert.equal((await dots.end()).code, 0);
  await using pinned = await h.joined(server, "pinned", {
    stateDir: state.path,
    cwd: cwd.path,
    noCa: true,
    extraArgs: ["--fingerprint", server.fingerprint],
  });
  assert.equal((await pinned.end()).code, 0);
  const files = listFiles(state.path).sort();
  assert.deepEqual(files, ["chat/known_servers.json", "chat/outbox.json", "chat/tokens.json"]);
  assert.deepEqual(listFiles(cwd.path), [], "nothing written in the working directory");
  const tokens = await Deno.readTextFile(join(state.path, "chat", "tokens.json"));
  assert.ok(tokens.includes(bob.id), "the name is a key inside the file");
});

Deno.test("regression: escape sequences are not printed raw", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice");
  await using plain = await h.joined(server, "paul", { mode: "plain" });
  await alice.waitFor((e) => e.type === "presence" && e.joined?.id === plain.id);
  const hostile = [
    "\u001b[31mred\u001b[0m",
    "\u001b]0;pwned-title\u0007title",
    "\u001b]8;;http://evil.example\u001b\\link\u001b]8;;\u001b\\",
    "\u009b2Jc1-csi",
    "over\rwrite",
    "back\bspace",
    "\u202etxt.exe",
    "bell\u0007",
    "\u001bPdcs-payload\u001b\\dcs",
  ];
  for (const text of hostile) await alice.send(text);
  await alice.send("the end of the hostile texts");
  await plain.waitForLine((l) => l.endsWith("the end of the hostile texts"));
  const result = await plain.end();
  assert.equal(result.code, 0, result.stderr);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(result.stdout, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
  for (const gone of ["pwned-title", "evil.example", "dcs-payload"]) {
    assert.ok(!result.stdout.includes(gone), `${gone} was printed`);
  }
  for (const kept of ["red", "title", "link", "c1-csi", "txt.exe", "bell"]) {
    assert.ok(result.stdout.includes(kept), `${kept} is shown (without the escapes)`);
  }
});

/** Every character the NDJSON output must escape: C0, DEL, C1, and the Unicode bidi controls. */
function everyControl(): string {
  let out = "";
  for (let c = 0x00; c <= 0x1f; c++) out += String.fromCharCode(c);
  for (let c = 0x7f; c <= 0x9f; c++) out += String.fromCharCode(c);
  return out + "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069";
}

Deno.test("regression: --json escapes every control and bidi character, and parses back exactly", async () => {
  await using server = await h.startServer();
  await using json = await h.joined(server, "jason");
  const { raw } = await h.rawJoined(server, "mallory");
  await using _ = raw;
  // an 8-bit CSI that would clear the screen, a right-to-left override, and all the rest
  const text = `a\u009b2J${everyControl()}z`;
  await raw.sendFrame({ type: "send", ref: "r1", text });
  const event = await json.waitFor(h.messageWith(text));
  assert.equal(event.text, text, "the text parses back to exactly what was sent");
  const line = json.lines.find((l) => l.includes('"type":"message"') && l.includes('"a\\u009b2J'));
  assert.ok(line, `no message line with the escaped text:\n${json.lines.join("\n")}`);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(line, /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
  for (
    const escaped of ["\\u007f", "\\u0085", "\\u009b", "\\u061c", "\\u200f", "\\u202e", "\\u2069"]
  ) {
    assert.ok(line.includes(escaped), `${escaped} in ${line}`);
  }
  assert.equal(JSON.parse(line).text, text);
});

Deno.test("regression: the client survives an error reply", async () => {
  await using server = await h.startServer();
  await using alice = await h.joined(server, "alice");
  await using bob = await h.joined(server, "bob");
  await alice.send("@nobody_0000 anyone there?");
  const unknown = await alice.waitFor((e) => e.type === "error");
  assert.equal(unknown.code, "unknown_recipient");
  await alice.send("/search (unclosed");
  const pattern = await alice.waitFor((e) => e.type === "error" && e.code === "bad_pattern");
  assert.ok(pattern.message.length > 10);
  await alice.send("still alive after two errors");
  await bob.waitFor(h.messageWith("still alive after two errors"));
  await bob.send("and still listening");
  await alice.waitFor(h.messageWith("and still listening"));
  const result = await alice.end();
  assert.equal(result.code, 0, result.stderr);
  assert.equal(alice.events.filter((e) => e.type === "goodbye").length, 0);
});
