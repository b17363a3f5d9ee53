// End-to-end behaviour of `chat serve` + `chat join`: real processes, real TLS on 127.0.0.1,
// `--port 0`, a temp db and temp certs per test.
//
// Run: deno test -A --parallel tests/e2e/

import assert from "node:assert/strict";
import { join } from "node:path";
import * as h from "./harness.ts";
import type { ChatEvent, ClientHandle } from "./harness.ts";

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Messages with this text a client has printed. */
const count = (client: ClientHandle, text: string) =>
  client.events.filter((e) => e.type === "message" && e.text === text).length;

/** Sends a public marker from `from` and waits until every client in `all` has it. */
async function marker(from: ClientHandle, all: ClientHandle[], label = "marker"): Promise<void> {
  const text = `${label} ${crypto.randomUUID()}`;
  await from.send(text);
  await Promise.all(all.map((c) => c.waitFor(h.messageWith(text))));
}

/** The `{id, token}` saved for `id` anywhere in a tokens file (its keying is the client's business). */
function findSaved(value: unknown, id: string): { id: string; token: string } | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record.id === id && typeof record.token === "string") {
    return record as { id: string; token: string };
  }
  for (const child of Object.values(record)) {
    const found = findSaved(child, id);
    if (found) return found;
  }
  return undefined;
}

/** Asserts an error sentence: one line, no stack trace. */
function assertOneSentence(stderr: string): void {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.ok(lines[0].length > 10, `expected a sentence on stderr, got: ${stderr}`);
  assert.doesNotMatch(stderr, /^\s*at /m, "no stack trace lines");
  assert.doesNotMatch(stderr, /error: Uncaught|Error: /, "no raw exception");
}

Deno.test("three clients see each other join and each public message exactly once", async () => {
  await using server = await h.startServer();
  await using a = await h.joined(server, "alice");
  await using b = await h.joined(server, "bob");
  await using c = await h.joined(server, "carol");
  assert.match(a.id, /^alice_[0-9]{4}$/);
  assert.match(b.id, /^bob_[0-9]{4}$/);
  assert.match(c.id, /^carol_[0-9]{4}$/);

  // presence: earlier clients see later joins
  await a.waitFor((e) => e.type === "presence" && e.joined?.id === b.id);
  await a.waitFor((e) => e.type === "presence" && e.joined?.id === c.id);
  const bSeesC = await b.waitFor((e) => e.type === "presence" && e.joined?.id === c.id);
  assert.equal(bSeesC.online, 3);
  // the welcome lists who is online, the newcomer included
  const welcome = await c.waitFor((e) => e.type === "welcome");
  assert.deepEqual(welcome.you, { id: c.id, name: "carol" });
  assert.deepEqual(
    welcome.users.map((u: { id: string }) => u.id).sort(),
    [a.id, b.id, c.id].sort(),
  );
  const bWelcome = await b.waitFor((e) => e.type === "welcome");
  assert.deepEqual(bWelcome.users.map((u: { id: string }) => u.id).sort(), [a.id, b.id].sort());

  const before = Date.now();
  await a.send("hello everyone");
  const got = await Promise.all([a, b, c].map((x) => x.waitFor(h.messageWith("hello everyone"))));
  for (const m of got) {
    assert.equal(m.from, a.id);
    assert.deepEqual(m.to, []);
    assert.match(m.id, ULID);
    assert.equal(typeof m.ref, "string");
    assert.ok(m.time >= before - 5_000 && m.time <= Date.now() + 5_000, "server time");
  }
  assert.equal(new Set(got.map((m) => m.id)).size, 1, "one message, one id");
  // a later marker from someone else proves nothing more was on its way
  await marker(c, [a, b, c]);
  for (const x of [a, b, c]) assert.equal(count(x, "hello everyone"), 1);
  for (const x of [a, b, c]) assert.equal(x.events.filter((e) => e.type === "error").length, 0);
});

Deno.test("a direct message reaches its recipient and the sender, and nobody else", async () => {
  await using server = await h.startServer();
  await using people = await h.joinedAll(server, "alice", "bob", "carol");
  const [a, b, c] = people;

  // by exact id
  await a.send(`@${b.id} secret for bob`);
  const atB = await b.waitFor(h.messageWith("secret for bob"));
  const atA = await a.waitFor(h.messageWith("secret for bob"));
  assert.equal(atB.from, a.id);
  assert.deepEqual(atB.to, [b.id]);
  assert.equal(atA.id, atB.id);

  // by name, when exactly one online user has it
  await a.send("@bob by name");
  const byName = await b.waitFor(h.messageWith("by name"));
  assert.deepEqual(byName.to, [b.id]);
  await a.waitFor(h.messageWith("by name"));

  // two recipients
  await c.send(`@${a.id} @bob for two`);
  const two = await b.waitFor(h.messageWith("for two"));
  assert.deepEqual([...two.to].sort(), [a.id, b.id].sort());
  await a.waitFor(h.messageWith("for two"));
  await c.waitFor(h.messageWith("for two"));

  // carol had every chance to receive the DMs: a later public marker reached her
  await marker(a, [a, b, c]);
  assert.equal(count(c, "secret for bob"), 0);
  assert.equal(count(c, "by name"), 0);
  assert.equal(count(b, "secret for bob"), 1);

  // nor does a newcomer get them through history
  await using d = await h.joined(server, "dave");
  await d.waitFor((e) => e.type === "message" && e.text.startsWith("marker "));
  await marker(d, [a, d]);
  assert.equal(count(d, "secret for bob"), 0);
  assert.equal(count(d, "by name"), 0);
  assert.equal(count(d, "for two"), 0);
});

Deno.test("unknown and ambiguous recipients get an error and nothing is delivered", async () => {
  await using server = await h.startServer();
  await using a = await h.joined(server, "alice");
  await using t1 = await h.joined(server, "twin");
  await using t2 = await h.joined(server, "twin");
  await using c = await h.joined(server, "carol");
  assert.notEqual(t1.id, t2.id);
  await a.waitFor((e) => e.type === "presence" && e.joined?.id === c.id);
  const everyone = [a, t1, t2, c];

  /** The `n`th error event (1-based) `a` printed. */
  const nthError = async (n: number): Promise<ChatEvent> => {
    const errors = () => a.events.filter((e) => e.type === "error");
    await a.waitFor(() => errors().length >= n);
    return errors()[n - 1];
  };

  await a.send("@nobody x-unknown-name");
  const e1 = await nthError(1);
  assert.equal(e1.code, "unknown_recipient");
  assert.match(e1.message, /nobody/);

  await a.send("@twin x-ambiguous");
  const e2 = await nthError(2);
  assert.equal(e2.code, "ambiguous_recipient");
  assert.match(e2.message, /twin/);

  await a.send("@nobody_1234 x-unknown-id");
  const e3 = await nthError(3);
  assert.equal(e3.code, "unknown_recipient");
  assert.match(e3.message, /nobody_1234/);

  // one bad recipient among good ones: the whole message is refused
  await a.send(`@${c.id} @nobody x-mixed`);
  const e4 = await nthError(4);
  assert.equal(e4.code, "unknown_recipient");

  await marker(c, everyone);
  for (const text of ["x-unknown-name", "x-ambiguous", "x-unknown-id", "x-mixed"]) {
    for (const x of everyone) assert.equal(count(x, text), 0, `${text} must not be delivered`);
  }
  const errors = a.events.filter((e) => e.type === "error");
  assert.equal(errors.length, 4, JSON.stringify(errors));
});

Deno.test("a forged from, time and id in a raw send frame are ignored", async () => {
  await using server = await h.startServer();
  await using b = await h.joined(server, "bob");
  const { raw, id: mallory } = await h.rawJoinedSeen(server, b, "mallory");
  await using _raw = raw;
  assert.match(mallory, /^mallory_[0-9]{4}$/);

  const forgedId = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
  const before = Date.now();
  await raw.sendFrame({
    type: "send",
    ref: "f1",
    text: "forged fields",
    from: b.id,
    time: 1,
    id: forgedId,
    replay: true,
  });
  const ack = await raw.frameWhere((f) => f.type === "ack" || f.type === "error");
  assert.equal(ack.type, "ack", JSON.stringify(raw.received));
  assert.equal(ack.ref, "f1");
  const m = await b.waitFor(h.messageWith("forged fields"));
  assert.equal(m.from, mallory);
  assert.notEqual(m.id, forgedId);
  assert.equal(m.id, ack.id);
  assert.ok(m.time >= before - 5_000 && m.time <= Date.now() + 5_000, `server time, got ${m.time}`);
  assert.notEqual(m.replay, true);

  // a client cannot inject a server frame either
  await raw.sendFrame({ type: "message", id: forgedId, from: b.id, text: "injected", time: 1 });
  const err = await raw.frameWhere((f) => f.type === "error");
  assert.equal(err.code, "bad_frame");
  await raw.sendFrame({ type: "send", ref: "f2", text: "after injection" });
  await b.waitFor(h.messageWith("after injection"));
  assert.equal(count(b, "injected"), 0);
});

Deno.test("an offline direct message is delivered when the recipient comes back with its token", async () => {
  await using server = await h.startServer();
  await using bState = await h.tempDir("chat-e2e-state-");
  await using a = await h.joined(server, "alice");
  let bId: string;
  {
    await using b = await h.joined(server, "bob", { stateDir: bState.path });
    bId = b.id;
    await a.waitFor((e) => e.type === "presence" && e.joined?.id === bId);
    const result = await b.end();
    assert.equal(result.code, 0, result.stderr);
  }
  await a.waitFor((e) => e.type === "presence" && e.left?.id === bId);
  await a.send(`@${bId} while you were away`);
  await a.waitFor(h.messageWith("while you were away"));
  await a.waitFor((e) => e.type === "ack");

  const tokens = join(bState.path, "chat", "tokens.json");
  assert.equal((await Deno.stat(tokens)).mode! & 0o777, 0o600, "the token file is private");
  for await (const entry of Deno.readDir(join(bState.path, "chat"))) {
    assert.ok(!entry.name.includes("bob"), `no file named after the user: ${entry.name}`);
  }

  await using b2 = await h.joined(server, "bob", { stateDir: bState.path });
  assert.equal(b2.id, bId, "the saved token gives back the same id");
  const dm = await b2.waitFor(h.messageWith("while you were away"));
  assert.equal(dm.from, a.id);
  assert.deepEqual(dm.to, [bId]);
  const again = await a.waitFor((e) => e.type === "presence" && e.joined?.id === bId);
  assert.ok(again);
});

Deno.test("a stranger asking for someone's name or id never gets that id", async () => {
  await using server = await h.startServer();
  await using b = await h.joined(server, "bob");
  // same name from another machine (another state dir): a different id
  await using stranger = await h.joined(server, "bob");
  assert.notEqual(stranger.id, b.id);
  assert.match(stranger.id, /^bob_[0-9]{4}$/);

  // a made-up token: a new id, never the existing one
  const { raw, welcome } = await h.rawJoined(server, "bob", "made-up-token-0123456789");
  await using _raw = raw;
  assert.notEqual(welcome.you.id, b.id);
  assert.notEqual(welcome.you.id, stranger.id);
  assert.notEqual(welcome.token, "made-up-token-0123456789", "the server issues its own token");

  // asking for the id itself as a name is refused
  await using raw3 = await h.rawClient(server.port, server.caFile);
  await raw3.sendFrame({ type: "hello", name: b.id });
  const refused = await raw3.frameWhere((f) => f.type === "error" || f.type === "welcome");
  assert.equal(refused.type, "error", JSON.stringify(raw3.received));

  // the real bob was never kicked out
  await stranger.send(`@${b.id} still yours`);
  const dm = await b.waitFor(h.messageWith("still yours"));
  assert.equal(dm.from, stranger.id);
  assert.equal(b.events.filter((e) => e.type === "goodbye").length, 0);
});

Deno.test("history survives a SIGTERM stop and a restart on the same dir", async () => {
  await using dir = await h.tempDir("chat-e2e-server-");
  let fingerprint: string;
  let aId: string;
  {
    await using server = await h.startServer({ dir: dir.path });
    fingerprint = server.fingerprint;
    await using a = await h.joined(server, "alice");
    await using b = await h.joined(server, "bob");
    aId = a.id;
    await a.send("history one");
    await a.send("history two");
    await a.send(`@${b.id} private history`);
    await b.waitFor(h.messageWith("private history"));
    const done = await a.end();
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stdout.split("\n").filter((l) => l.includes('"type":"ack"')).length, 3);

    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0, server.output());
    assert.equal(status.signal, null);
    // a client still connected is told, and does not hang
    await b.waitFor((e) => e.type === "goodbye", 5_000);
    await b.end(5_000);
  }
  await using server2 = await h.startServer({ dir: dir.path });
  assert.equal(server2.fingerprint, fingerprint, "the certificates are reused");
  await using c = await h.joined(server2, "carol");
  const one = await c.waitFor(h.messageWith("history one"));
  const two = await c.waitFor(h.messageWith("history two"));
  assert.equal(one.replay, true);
  assert.equal(one.from, aId);
  assert.ok(c.events.indexOf(one) < c.events.indexOf(two), "history in order");
  await marker(c, [c]);
  assert.equal(count(c, "private history"), 0);
});

Deno.test("the saved token on another connection reclaims the id and replaces the old one", async () => {
  await using server = await h.startServer();
  await using people = await h.joinedAll(server, "alice", "bob");
  const [a, b] = people;
  // the client prints the welcome, then saves the token: wait for the file
  const tokensPath = join(b.stateDir, "chat", "tokens.json");
  const read = () => Deno.readTextFile(tokensPath).catch(() => "{}");
  await h.waitUntil(async () => (await read()).includes(b.id), 5_000, "token saved");
  const saved = findSaved(JSON.parse(await read()), b.id);
  assert.ok(saved, await read());

  const { raw, welcome } = await h.rawJoined(server, "bob", saved.token);
  await using _raw = raw;
  assert.equal(welcome.you.id, b.id, "the token reclaims the id");
  const goodbye = await b.waitFor((e) => e.type === "goodbye");
  assert.equal(goodbye.reason, "replaced");
  await raw.sendFrame({ type: "send", ref: "r1", text: "from the new connection" });
  const m = await a.waitFor(h.messageWith("from the new connection"));
  assert.equal(m.from, b.id);
  // presence did not flicker: alice saw no "left" for bob
  assert.equal(a.events.filter((e) => e.type === "presence" && e.left?.id === b.id).length, 0);
});

Deno.test("/exit and .exit leave with exit code 0 and the others see them go", async () => {
  await using server = await h.startServer();
  await using people = await h.joinedAll(server, "alice", "bob", "carol");
  const [a, b, c] = people;
  await b.send("bye from bob");
  await b.send("/exit");
  await c.send(".exit");
  await a.waitFor((e) => e.type === "presence" && e.left?.id === b.id);
  await a.waitFor((e) => e.type === "presence" && e.left?.id === c.id);
  await a.waitFor(h.messageWith("bye from bob"));
  // they exit on their own, with stdin still open
  const [rb, rc] = await Promise.all([b.exitedWithin(5_000), c.exitedWithin(5_000)]);
  assert.equal(rb, 0);
  assert.equal(rc, 0);
});

Deno.test("an acknowledged message survives kill -9 of the server", async () => {
  await using dir = await h.tempDir("chat-e2e-server-");
  {
    await using server = await h.startServer({ dir: dir.path });
    await using a = await h.joined(server, "alice");
    await a.send("acknowledged before the crash");
    await a.waitFor((e) => e.type === "ack");
    const status = await server.kill9();
    assert.equal(status.signal, "SIGKILL");
  }
  await using server2 = await h.startServer({ dir: dir.path });
  await using c = await h.joined(server2, "carol");
  const m = await c.waitFor(h.messageWith("acknowledged before the crash"));
  assert.equal(m.replay, true);
});

Deno.test("a client killed with SIGKILL leaves presence within a few seconds", async () => {
  await using server = await h.startServer();
  await using people = await h.joinedAll(server, "alice", "bob");
  const [a, b] = people;
  await b.kill();
  const left = await a.waitFor((e) => e.type === "presence" && e.left?.id === b.id, 5_000);
  assert.equal(left.online, 1);
  await a.send("/who");
  const who = await a.waitFor((e) => e.type === "users");
  assert.deepEqual(who.users.map((u: { id: string }) => u.id), [a.id]);
});

Deno.test("--plain prints one line per message and no escape sequences from others", async () => {
  await using server = await h.startServer();
  await using a = await h.joined(server, "alice");
  await using p = await h.joined(server, "paul", { mode: "plain" });
  await a.waitFor((e) => e.type === "presence" && e.joined?.id === p.id);

  await a.send("plain hello");
  const line = await p.waitForLine((l) => l.endsWith("plain hello"));
  assert.match(line, new RegExp(`^#[0-9a-z]{4,} \\d\\d:\\d\\d:\\d\\d ${a.id}: plain hello$`));

  const hostile = "\u001b[2J\u001b]0;pwned\u0007red";
  await a.send(hostile);
  await a.waitFor(h.messageWith(hostile)); // the json client receives the text as sent
  const red = await p.waitForLine((l) => l.endsWith("red") && l.includes(a.id));
  assert.match(red, new RegExp(`^#[0-9a-z]{4,} \\d\\d:\\d\\d:\\d\\d ${a.id}: red$`));

  await a.send(`@${p.id} plain direct`);
  const dm = await p.waitForLine((l) => l.endsWith("plain direct"));
  assert.match(dm, new RegExp(`^#[0-9a-z]{4,} \\d\\d:\\d\\d:\\d\\d ${a.id} -> ${p.id}: `));

  const result = await p.end();
  assert.equal(result.code, 0, result.stderr);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(result.stdout, /[\x00-\x08\x0b-\x1f\x7f]/, "no control characters printed");
  assert.ok(!result.stdout.includes("pwned"), "the OSC title payload is not printed");
  assert.equal(result.stdout.split("\n").filter((l) => l.endsWith("plain hello")).length, 1);
  // the NDJSON output escapes control characters itself
  // deno-lint-ignore no-control-regex
  assert.ok(!a.lines.some((l) => /[\x00-\x1f]/.test(l)), "NDJSON lines carry no raw controls");
});

Deno.test("at the end of stdin the client sends what is pending, waits for acks, exits 0", async () => {
  await using server = await h.startServer();
  await using b = await h.joined(server, "bob");
  await using a = await h.joinClient(server, "alice");
  const lines = Array.from({ length: 20 }, (_, i) => `piped line ${String(i).padStart(2, "0")}`);
  // all at once, before the welcome even arrives, then EOF
  await a.send(lines.join("\n"));
  const result = await a.end();
  assert.equal(result.code, 0, result.stderr);
  const acks = result.stdout.split("\n").filter((l) => l.includes('"type":"ack"'));
  assert.equal(acks.length, 20, result.stdout);

  await b.waitFor(h.messageWith(lines[19]));
  const received = b.events.filter((e) => e.type === "message" && e.text.startsWith("piped line"))
    .map((e) => e.text);
  assert.deepEqual(received, lines);
});

Deno.test("exit codes: 1 and one sentence when nothing listens, 2 for bad usage", async () => {
  await using cwd = await h.tempDir("chat-e2e-cwd-");
  // a port where nothing listens
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const env = { XDG_STATE_HOME: join(cwd.path, "state") };

  const refused = await h.runChat(
    ["join", "--json", "--name", "tom", "--server", `127.0.0.1:${port}`],
    { cwd: cwd.path, env },
  );
  assert.equal(refused.code, 1, refused.stderr);
  assertOneSentence(refused.stderr);
  assert.match(refused.stderr, new RegExp(String(port)));

  const noName = await h.runChat(["join", "--server", `127.0.0.1:${port}`], { cwd: cwd.path, env });
  assert.equal(noName.code, 2, noName.stderr);
  assertOneSentence(noName.stderr);
  assert.match(noName.stderr, /--name/);

  const badName = await h.runChat(["join", "--name", "../etc/passwd"], { cwd: cwd.path, env });
  assert.equal(badName.code, 2, badName.stderr);
  assertOneSentence(badName.stderr);

  const badPort = await h.runChat(["serve", "--port", "abc"], { cwd: cwd.path, env });
  assert.equal(badPort.code, 2, badPort.stderr);
  assertOneSentence(badPort.stderr);
  assert.match(badPort.stderr, /port/);

  const unknown = await h.runChat(["serve", "--bogus"], { cwd: cwd.path, env });
  assert.equal(unknown.code, 2, unknown.stderr);
  assertOneSentence(unknown.stderr);

  // nothing was created in the working directory by the failed runs
  const entries = [];
  for await (const entry of Deno.readDir(cwd.path)) entries.push(entry.name);
  assert.ok(!entries.includes("chat.db") && !entries.includes("certs"), entries.join(", "));
});

Deno.test("--fingerprint pins the CA on first contact; a changed certificate is refused", async () => {
  await using server1 = await h.startServer();
  await using server2 = await h.startServer();
  assert.notEqual(server1.fingerprint, server2.fingerprint);
  await using cwd = await h.tempDir("chat-e2e-cwd-"); // no ./certs/ca.pem here
  await using state = await h.tempDir("chat-e2e-state-");
  await using fresh = await h.tempDir("chat-e2e-state-");
  /** `chat join --json` as `name` to `server` (host:port), its state in `stateDir`. */
  const joinAs = (name: string, stateDir: string, server: string, ...args: string[]) =>
    h.runChat(["join", "--json", "--name", name, "--server", server, ...args], {
      cwd: cwd.path,
      env: { XDG_STATE_HOME: stateDir },
    });
  // first contact: fetch, compare, pin
  {
    await using pin = await h.joined(server1, "pinner", {
      noCa: true,
      cwd: cwd.path,
      stateDir: state.path,
      extraArgs: ["--fingerprint", server1.fingerprint],
    });
    const done = await pin.end();
    assert.equal(done.code, 0, done.stderr);
  }
  const pinsPath = join(state.path, "chat", "known_servers.json");
  const pins = JSON.parse(await Deno.readTextFile(pinsPath));
  const key1 = `127.0.0.1:${server1.port}`;
  assert.equal(pins[key1]?.fingerprint, server1.fingerprint, JSON.stringify(pins));
  assert.equal((await Deno.stat(pinsPath)).mode! & 0o777, 0o600);
  for (const key of ["ca-key.pem", "server-key.pem"]) {
    const mode = (await Deno.stat(join(server1.dir, "certs", key))).mode! & 0o777;
    assert.equal(mode, 0o600, `${key} is private`);
  }

  // later contacts need no flag
  {
    await using again = await h.joined(server1, "pinner", {
      noCa: true,
      cwd: cwd.path,
      stateDir: state.path,
    });
    await again.end();
  }

  // a wrong fingerprint on first contact: refused before anything is sent
  const wrong = await joinAs("victim", fresh.path, key1, "--fingerprint", server2.fingerprint);
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, /fingerprint/);
  assert.ok(wrong.stderr.includes(server2.fingerprint), wrong.stderr);
  assert.doesNotMatch(wrong.stderr, /^\s*at /m);
  assert.ok(!server1.output().includes("victim"), "no hello reached the server");
  let freshPins = "{}";
  try {
    freshPins = await Deno.readTextFile(join(fresh.path, "chat", "known_servers.json"));
  } catch { /* no pins file at all is right too */ }
  assert.ok(!freshPins.includes(`${server1.port}`), "nothing pinned for a refused server");

  // a --fingerprint that differs from the pin is refused with the warning
  const differs = await joinAs("pinner", state.path, key1, "--fingerprint", server2.fingerprint);
  assert.equal(differs.code, 1, differs.stderr);
  assert.match(differs.stderr, /WARNING/);

  // server 2's address pinned to server 1's CA: server 2 looks like an impostor
  const key2 = `127.0.0.1:${server2.port}`;
  pins[key2] = pins[key1];
  await Deno.writeTextFile(pinsPath, JSON.stringify(pins, null, 2));
  const impostor = await joinAs("pinner", state.path, key2);
  assert.equal(impostor.code, 1, impostor.stderr);
  assert.match(impostor.stderr, /WARNING: the certificate of 127\.0\.0\.1:\d+ has changed/);
  assert.ok(impostor.stderr.includes(key2), impostor.stderr);
  assert.doesNotMatch(impostor.stderr, /^\s*at /m);
  assert.ok(!server2.output().includes("pinner"), "no hello reached the impostor");
});
