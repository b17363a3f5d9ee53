/**
 * `chat join` against a server that misbehaves on purpose (a fake one on 127.0.0.1 with real TLS
 * and its own CA): its words must reach the terminal without escape sequences, and its limits
 * must not make the client misbehave.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeFrame, FrameCutter } from "../../src/protocol/codec.ts";
import { MIN_HEARTBEAT_MS } from "../../src/client/client.ts";
import * as h from "./harness.ts";
import { welcomeFrame } from "../fixtures.ts";

/** Escape sequences a hostile server might send: title, colour, screen clear, bidi override. */
const EVIL = "no\x1b]0;pwned\x07 entry\x1b[31m\x1b[2J\u202e here";
// deno-lint-ignore no-control-regex -- looking for control characters is the point
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/;

type Reply = (
  frame: { type: string; token?: string },
  send: (value: unknown) => Promise<void>,
  /** Hangs up on this client. */
  close: () => void,
) => void;

/** A TLS server that answers each client frame with `reply`; counts what it got by type. */
async function fakeServer(reply: Reply) {
  const received = new Map<string, number>();
  const server = await h.fakeTlsServer(async (conn) => {
    const cutter = new FrameCutter();
    const buffer = new Uint8Array(16 * 1024);
    const send = (value: unknown) => h.writeAll(conn, encodeFrame(value)).catch(() => {});
    const close = () => h.closeQuietly(conn);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      for (const payload of cutter.push(buffer.subarray(0, n))) {
        const frame = JSON.parse(new TextDecoder().decode(payload));
        received.set(frame.type, (received.get(frame.type) ?? 0) + 1);
        reply(frame, send, close);
      }
    }
  });
  return Object.assign(server, { received });
}

const welcome = (heartbeatMs: number, token = "t".repeat(43)) =>
  welcomeFrame({
    you: { id: "bob_1234", name: "bob" },
    token,
    online: 1,
    limits: { heartbeatMs, idleTimeoutMs: 60_000 },
    server: { version: "hostile" },
  });

Deno.test("hostile server: its refusal is printed without escape sequences", async () => {
  await using server = await fakeServer((frame, send) => {
    if (frame.type === "hello") send({ type: "error", code: "nope", message: EVIL });
  });
  for (const mode of ["--plain", "--json"]) {
    const out = await h.runJoinRaw([
      mode,
      "--name",
      "bob",
      "--server",
      `127.0.0.1:${server.port}`,
      "--ca",
      server.caFile,
    ]);
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /the server refused to let you in: no.*entry/);
    assert.doesNotMatch(out.stderr, CONTROL, JSON.stringify(out.stderr));
    assert.doesNotMatch(out.stdout, CONTROL, JSON.stringify(out.stdout));
  }
});

Deno.test("hostile server: a goodbye and errors in plain mode reach the terminal made safe", async () => {
  await using server = await fakeServer((frame, send) => {
    if (frame.type === "hello") {
      send(welcome(10_000));
      send({ type: "error", code: "odd", message: EVIL });
      send({ type: "goodbye", reason: "bye", message: EVIL });
    }
  });
  await using client = await h.joinClient(server, "bob", { mode: "plain" });
  await client.waitForLine((l) => l.includes("disconnected by the server"), h.WAIT_TIMEOUT_MS);
  const result = await client.end();
  const printed = [...client.lines, result.stderr].join("\n");
  assert.match(printed, /disconnected by the server: no.*entry/);
  assert.doesNotMatch(printed, CONTROL, JSON.stringify(printed));
});

Deno.test("hostile server: a ping interval of 0 does not make the client ping in a loop", async () => {
  /** When each ping arrived (ms, monotonic). */
  const pings: number[] = [];
  await using server = await fakeServer((frame, send) => {
    if (frame.type === "hello") send(welcome(0));
    if (frame.type === "ping") pings.push(performance.now());
  });
  await using client = await h.joinClient(server, "bob", { mode: "json" });
  await client.waitFor((e) => e.type === "welcome", h.WAIT_TIMEOUT_MS);
  // the client raises a heartbeat of 0 to MIN_HEARTBEAT_MS: it keeps pinging, one interval
  // apart at the least. N pings span at least N - 1 intervals; one interval is left for the
  // delivery of the first to have been late (a loop would send them all within a millisecond)
  const n = 6;
  await h.waitUntil(() => pings.length >= n, h.WAIT_TIMEOUT_MS, () => `${pings.length} pings`);
  const first = pings.slice(0, n);
  const span = first[n - 1] - first[0];
  const gaps = first.slice(1).map((t, i) => Math.round(t - first[i]));
  assert.ok(
    span >= (n - 2) * MIN_HEARTBEAT_MS,
    `${n} pings within ${Math.round(span)} ms (gaps ${gaps.join(", ")} ms); ` +
      `the client's interval is at least ${MIN_HEARTBEAT_MS} ms`,
  );
  await client.end();
});

/** A TCP listener on 127.0.0.1 that hangs up at once (as a server at its per-address cap does). */
function dropping() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      conn.close();
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    get accepted() {
      return accepted;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving;
    },
  };
}

const HANDSHAKE_DROPPED =
  /the server closed the connection during the TLS handshake; it may be refusing connections from your address/;

Deno.test("a server that hangs up during the TLS handshake: one sentence that says so, exit 1", async () => {
  await using server = dropping();
  await using state = await h.tempDir("chat-e2e-state-");
  const env = { XDG_STATE_HOME: state.path };
  const where = ["--server", `127.0.0.1:${server.port}`];
  for (const mode of ["--plain", "--json"]) {
    const out = await h.runJoinRaw([mode, "--name", "bob", ...where], { cwd: state.path, env });
    assert.equal(out.code, 1, out.stderr);
    assert.equal(out.stderr.trim().split("\n").length, 1, out.stderr);
    assert.match(out.stderr, HANDSHAKE_DROPPED);
    assert.doesNotMatch(out.stderr, /unexpected end of file/);
  }
  // first contact with --fingerprint probes the certificate first: the same sentence
  const fingerprint = `SHA256:${"A".repeat(43)}`;
  const probed = await h.runJoinRaw(
    ["--plain", "--name", "bob", ...where, "--fingerprint", fingerprint],
    { cwd: state.path, env },
  );
  assert.equal(probed.code, 1, probed.stderr);
  assert.match(probed.stderr, HANDSHAKE_DROPPED);
  assert.ok(server.accepted >= 3);
});

Deno.test("reconnecting to a server that hangs up during the TLS handshake: the notice says so", async () => {
  // the first connection goes through to a fake chat server, which welcomes, then hangs up;
  // every later one is closed at once, as a server at its per-address cap does
  await using chat = await fakeServer((frame, send, close) => {
    if (frame.type === "hello") send(welcome(10_000)).then(close);
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const piping: Promise<unknown>[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      if (connections++ > 0) {
        conn.close();
        continue;
      }
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: chat.port });
      piping.push(
        conn.readable.pipeTo(upstream.writable).catch(() => {}),
        upstream.readable.pipeTo(conn.writable).catch(() => {}),
      );
    }
  })().catch(() => {});
  try {
    for (const mode of ["plain", "json"] as const) {
      connections = 0;
      await using client = await h.joinClient(
        { port: listener.addr.port, caFile: chat.caFile },
        "bob",
        {
          mode,
        },
      );
      if (mode === "plain") {
        const line = await client.waitForLine((l) => HANDSHAKE_DROPPED.test(l));
        assert.match(line, /^\* connection lost; reconnecting in \d+ s \(attempt \d+\)/);
      } else {
        const status = await client.waitFor((e) =>
          e.type === "status" && HANDSHAKE_DROPPED.test(e.reason ?? "")
        );
        assert.equal(status.state, "reconnecting");
      }
      await client.kill();
    }
  } finally {
    listener.close();
    await serving;
    await Promise.all(piping);
  }
});

/** Every token saved anywhere in the client's tokens file. */
async function savedTokens(stateDir: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(stateDir, "chat", "tokens.json"));
  } catch {
    return [];
  }
  const found: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value !== "object" || value === null) return;
    const record = value as Record<string, unknown>;
    if (typeof record.token === "string") found.push(record.token);
    else Object.values(record).forEach(walk);
  };
  walk(JSON.parse(text));
  return found;
}

/** A fake server whose n-th welcome carries the token `tok-n`; it hangs up after the first. */
function rotating(hellos: (string | undefined)[]) {
  return fakeServer((frame, send, close) => {
    if (frame.type !== "hello") return;
    hellos.push(frame.token);
    const sent = send(welcome(10_000, `tok-${hellos.length}`));
    if (hellos.length === 1) sent.then(close);
  });
}

Deno.test("tokens rotate: each welcome's token is saved, and the next hello presents it", async () => {
  const hellos: (string | undefined)[] = [];
  await using server = await rotating(hellos);
  await using client = await h.joinClient(server, "bob", { mode: "plain" });
  // the hang-up after the first welcome makes it reconnect: a second welcome
  const end = Date.now() + h.WAIT_TIMEOUT_MS;
  while (client.lines.filter((l) => l.startsWith("* you are")).length < 2) {
    assert.ok(Date.now() < end, `no second welcome: ${client.lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(hellos.slice(0, 2), [undefined, "tok-1"]);
  const deadline = Date.now() + h.WAIT_TIMEOUT_MS;
  while (!(await savedTokens(client.stateDir)).includes("tok-2") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(await savedTokens(client.stateDir), ["tok-2"]);
  await client.kill();
});

Deno.test("tokens rotate: a save that fails is reported once, not at every welcome", async () => {
  const hellos: (string | undefined)[] = [];
  await using server = await rotating(hellos);
  await using state = await h.tempDir("chat-e2e-state-");
  // a directory where the tokens file should be: every save fails
  await Deno.mkdir(join(state.path, "chat", "tokens.json"), { recursive: true });
  await using client = await h.joinClient(server, "bob", { mode: "plain", stateDir: state.path });
  await client.waitForLine((l) => l.startsWith("* you are"));
  const end = Date.now() + h.WAIT_TIMEOUT_MS;
  while (client.lines.filter((l) => l.startsWith("* you are")).length < 2) {
    assert.ok(Date.now() < end, `no second welcome: ${client.lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const result = await client.end();
  const reports = result.stdout.split("\n").filter((l) => l.includes("could not save your id"));
  assert.equal(reports.length, 1, result.stdout);
  assert.match(reports[0], /the next chat join will get a new id, not bob_1234/);
});

Deno.test("goodbye revoked: no reconnect, one sentence, and the saved token is forgotten", async () => {
  let hellos = 0;
  await using server = await fakeServer((frame, send, close) => {
    if (frame.type !== "hello") return;
    hellos++;
    void (async () => {
      await send(welcome(10_000, "tok-revoked"));
      // after the welcome was saved: signed out from another device
      await new Promise((r) => setTimeout(r, 300));
      await send({ type: "goodbye", reason: "revoked", message: "signed out elsewhere" });
      close();
    })();
  });
  await using client = await h.joinClient(server, "bob", { mode: "plain" });
  await client.waitForLine((l) => l.startsWith("* you are"));
  assert.equal(await client.exitedWithin(h.WAIT_TIMEOUT_MS), 1);
  const result = await client.end();
  const printed = result.stdout + result.stderr;
  assert.match(printed, /this device was signed out from another of your devices/);
  assert.match(printed, /joining again gives you a new id/);
  assert.doesNotMatch(printed, /reconnecting/);
  assert.equal(hellos, 1, "no reconnect");
  assert.deepEqual(await savedTokens(client.stateDir), [], "the revoked token is forgotten");
});
