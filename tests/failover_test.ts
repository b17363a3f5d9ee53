// Unit tests for a server given as several addresses (its nodes, `--server a:7777,b:7777`): the
// client's rotation over them (src/client/client.ts, on a fake clock), one trust for all of them
// (src/tls/trust.ts, against real TLS listeners on 127.0.0.1), dialling each address of a name
// (src/client/connection.ts), and the launcher's grants (src/cli/permissions.ts).
//
// Run: deno test -A tests/failover_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import { ChatClient, type ConnectionStatus, WELCOME_TIMEOUT_MS } from "../src/client/client.ts";
import { ConnectError, Connection, systemAddresses } from "../src/client/connection.ts";
import { ClientState } from "../src/client/state.ts";
import { CERT_FILES, ensureServerCerts, type ServerCerts } from "../src/tls/certs.ts";
import { pinKey, pinsFilePath, resolveTrust, TrustError } from "../src/tls/trust.ts";
import { permissionFlags } from "../src/cli/permissions.ts";
import { FakeClock } from "./fake_clock.ts";
import { FakeConnection, welcoming } from "./fake_connection.ts";
import { dirTests, listenChat } from "./tls_fixtures.ts";

// --- rotation -------------------------------------------------------------------------------

interface Rotation {
  client: ChatClient;
  /** The address index of each connect, in order. */
  tried: number[];
  statuses: ConnectionStatus[];
  welcomes: string[];
}

/**
 * A client of a server with `count` addresses; `answer(index, attempt)` says what connecting to
 * one gives: a connection, or a ConnectError (thrown).
 */
function rotation(
  count: number,
  answer: (index: number, attempt: number) => FakeConnection | ConnectError,
  clock: FakeClock,
): Rotation {
  const r: Rotation = {
    tried: [],
    statuses: [],
    welcomes: [],
    client: undefined as unknown as ChatClient,
  };
  r.client = new ChatClient({
    name: "tom",
    state: new ClientState(),
    servers: count,
    connect(index) {
      r.tried.push(index);
      const next = answer(index, r.tried.length - 1);
      return next instanceof ConnectError
        ? Promise.reject(next)
        : Promise.resolve(next as unknown as Connection);
    },
    onEvents: () => {},
    onStatus: (status) => void r.statuses.push(status),
    onWelcome: (w) => void r.welcomes.push(w.token),
    random: () => 0, // the shortest backoff: 250 ms, then 500 ms, 1000 ms
    clock,
  });
  return r;
}

const refused = (index: number) =>
  new ConnectError(`cannot connect to n${index}:7777: connection refused (is the server running?)`);

/** The waits the client announced, in order. */
const waits = (r: Rotation, clock: FakeClock) =>
  r.statuses.flatMap((s) => s.state === "reconnecting" ? [s.retryAt - clock.now()] : []);

Deno.test("rotation: the first join goes to the first address that answers, with no wait", async () => {
  const clock = new FakeClock();
  const r = rotation(3, (i) => i === 0 ? refused(0) : welcoming(`t${i}`), clock);
  const welcome = await r.client.start(); // no clock advance: nothing waited
  assert.equal(welcome.token, "t1");
  assert.deepEqual(r.tried, [0, 1]);
  assert.equal(r.client.server, 1);
  assert.deepEqual(r.statuses, [{ state: "connected" }]);
  r.client.close();
  assert.equal(clock.pending, 0);
});

Deno.test("rotation: none answering is one ConnectError naming each address in turn", async () => {
  const clock = new FakeClock();
  const r = rotation(3, (i) => refused(i), clock);
  await assert.rejects(r.client.start(), (e: unknown) => {
    assert.ok(e instanceof ConnectError && !e.certificate && !e.refused);
    assert.equal(
      e.message,
      [0, 1, 2].map((i) => refused(i).message).join("; "),
    );
    return true;
  });
  assert.deepEqual(r.tried, [0, 1, 2]);
});

Deno.test("rotation: one address is as before: its own error, unchanged", async () => {
  const clock = new FakeClock();
  const r = rotation(1, () => refused(0), clock);
  await assert.rejects(
    r.client.start(),
    (e: unknown) => (e as Error).message === refused(0).message,
  );
  assert.deepEqual(r.tried, [0]);
});

Deno.test("rotation: a certificate not trusted, or a server saying no, stops at once", async () => {
  for (
    const stop of [
      new ConnectError("not trusted", true),
      new ConnectError("no", false, true, "full"),
    ]
  ) {
    const clock = new FakeClock();
    const r = rotation(3, () => stop, clock);
    await assert.rejects(r.client.start(), (e: unknown) => e === stop);
    assert.deepEqual(r.tried, [0], "the next address is not tried");
  }
});

Deno.test("rotation: after a loss each attempt goes to the next address, the lost one last; the backoff waits once a round failed", async () => {
  const clock = new FakeClock();
  const first = welcoming("t0");
  // on 1 at first; after the loss: 2, 0, 1 fail (a round), then 2, 0 fail and 1 answers
  const r = rotation(3, (i, attempt) => {
    if (attempt === 0) return refused(0);
    if (attempt === 1) return first;
    if (attempt === 7) return welcoming("t1");
    return refused(i);
  }, clock);
  await r.client.start();
  assert.equal(r.client.server, 1);
  first.end();
  await clock.advance(0);
  assert.deepEqual(waits(r, clock), [250]);
  assert.deepEqual(r.tried, [0, 1], "nothing before the first delay");
  await clock.advance(250);
  // a whole round, at once, with no wait between its attempts
  assert.deepEqual(r.tried, [0, 1, 2, 0, 1]);
  const last = r.statuses.at(-1);
  assert.ok(last?.state === "reconnecting");
  assert.equal(last.retryAt - clock.now(), 500, "the second delay, after a round failed");
  assert.equal(last.attempt, 4);
  // why the round failed: each of its attempts, in order
  assert.equal(last.reason, [2, 0, 1].map((i) => refused(i).message).join("; "));
  await clock.advance(499);
  assert.equal(r.tried.length, 5);
  await clock.advance(1);
  assert.deepEqual(r.tried, [0, 1, 2, 0, 1, 2, 0, 1]);
  assert.deepEqual(r.welcomes, ["t0", "t1"]);
  assert.equal(r.client.server, 1);
  assert.deepEqual(r.statuses.at(-1), { state: "connected" });
  r.client.close();
  assert.equal(clock.pending, 0, "no timer left behind");
});

Deno.test("rotation: the node after the lost one is tried first, and answering ends the round", async () => {
  const clock = new FakeClock();
  const first = welcoming("t0");
  const r = rotation(3, (_i, attempt) => attempt === 0 ? first : welcoming(`t${attempt}`), clock);
  await r.client.start();
  assert.equal(r.client.server, 0);
  first.end();
  await clock.advance(250);
  assert.deepEqual(r.tried, [0, 1]);
  assert.equal(r.client.server, 1);
  r.client.close();
});

Deno.test("rotation: a node whose certificate is not trusted ends the reconnecting", async () => {
  const clock = new FakeClock();
  const first = welcoming("t0");
  const r = rotation(
    2,
    (_i, attempt) => attempt === 0 ? first : new ConnectError("bad cert", true),
    clock,
  );
  await r.client.start();
  first.end();
  await clock.advance(250);
  assert.deepEqual(r.tried, [0, 1]);
  assert.deepEqual(await r.client.ended, { code: 1, message: "bad cert" });
  assert.deepEqual(r.statuses.at(-1), { state: "offline" });
});

Deno.test("rotation: a node that takes the connection but never answers the hello is left for the next", async () => {
  const clock = new FakeClock();
  const wedged = new FakeConnection(() => {}); // says nothing, ever
  const r = rotation(2, (i) => i === 0 ? wedged : welcoming("t1"), clock);
  let welcomed = "";
  const started = r.client.start().then((w) => (welcomed = w.token));
  await clock.advance(WELCOME_TIMEOUT_MS - 1);
  assert.deepEqual(r.tried, [0], "still waiting for the first node's welcome");
  await clock.advance(1);
  await started;
  assert.equal(welcomed, "t1");
  assert.deepEqual(r.tried, [0, 1]);
  r.client.close();
  assert.equal(clock.pending, 0, "no timer left behind");
  // alone, it is one sentence saying so
  const clock2 = new FakeClock();
  const lone = rotation(1, () => new FakeConnection(() => {}), clock2);
  const failed = assert.rejects(lone.client.start(), (e: unknown) => {
    assert.ok(e instanceof ConnectError);
    assert.equal(
      e.message,
      `the server did not answer within ${WELCOME_TIMEOUT_MS / 1000} s of the hello`,
    );
    return true;
  });
  await clock2.advance(WELCOME_TIMEOUT_MS);
  await failed;
});

// --- trust across the nodes ----------------------------------------------------------------

/** A test with a temp dir removed afterwards, bounded in time. */
const dirTest = dirTests("chat-failover-test-");

/** A second node's certificates: its own key and certificate, issued by the same CA. */
async function sameCaCerts(dir: string, from: string): Promise<ServerCerts> {
  await Deno.mkdir(dir, { recursive: true });
  for (const file of [CERT_FILES.ca, CERT_FILES.caKey]) {
    await Deno.copyFile(join(from, file), join(dir, file));
  }
  return await ensureServerCerts(dir, []);
}

/** A TLS listener on 127.0.0.1 that completes handshakes and closes. */
function node(certs: ServerCerts, hostname = "127.0.0.1") {
  const listener = listenChat(certs, hostname);
  const handled: Promise<void>[] = [];
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        handled.push(conn.handshake().then(() => {}, () => {}).finally(() => conn.close()));
      }
    } catch { /* closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
      await Promise.all(handled);
    },
  };
}

/** A port nothing listens on (taken, then given back). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

dirTest(
  "trust: a first contact probes the first node that answers, pins the CA for every address, and each node's own certificate passes",
  async (dir) => {
    const a = await ensureServerCerts(join(dir, "a"), []);
    const b = await sameCaCerts(join(dir, "b"), join(dir, "a"));
    assert.notEqual(a.certChainPem, b.certChainPem, "each node has its own certificate");
    await using nodeA = node(a);
    await using nodeB = node(b);
    const down = closedPort();
    const stateDir = join(dir, "state");
    const trust = await resolveTrust({
      host: "localhost",
      port: down,
      others: [{ host: "localhost", port: nodeB.port }, { host: "127.0.0.1", port: nodeA.port }],
      fingerprint: a.caFingerprint,
      stateDir,
      localCaFile: join(dir, "none.pem"),
      probeTimeoutMs: 5_000,
    });
    assert.equal(trust.source, "fingerprint");
    const pins = JSON.parse(await Deno.readTextFile(pinsFilePath(stateDir)));
    assert.deepEqual(
      Object.keys(pins).sort(),
      [
        `127.0.0.1:${nodeA.port}`,
        `localhost:${down}`,
        `localhost:${nodeB.port}`,
      ].sort(),
    );
    for (const pin of Object.values(pins)) {
      assert.equal((pin as { fingerprint: string }).fingerprint, a.caFingerprint);
    }
    // both nodes pass the check, each with its own certificate, under the names they cover
    for (const [host, port] of [["localhost", nodeB.port], ["127.0.0.1", nodeA.port]] as const) {
      const conn = await Connection.open({ host, port, caCerts: trust.caCerts });
      conn.close();
    }
    // the next run finds the pin, whichever address it names first
    const again = await resolveTrust({
      host: "localhost",
      port: nodeB.port,
      stateDir,
      localCaFile: join(dir, "none.pem"),
    });
    assert.equal(again.source, "pinned");
    assert.equal(again.fingerprint, a.caFingerprint);
  },
);

/**
 * Two servers with CAs of their own, listening (until the result is disposed), and a state
 * dir in which the first is pinned already (`base`: what resolveTrust needs besides an address).
 */
async function twoServers(dir: string) {
  const a = await ensureServerCerts(join(dir, "a"), []);
  const other = await ensureServerCerts(join(dir, "other"), []);
  const nodeA = node(a);
  const nodeO = node(other);
  const stateDir = join(dir, "state");
  const base = { stateDir, localCaFile: join(dir, "none.pem"), probeTimeoutMs: 5_000 };
  await resolveTrust({
    ...base,
    host: "localhost",
    port: nodeA.port,
    fingerprint: a.caFingerprint,
  });
  return {
    a,
    other,
    nodeA,
    nodeO,
    stateDir,
    base,
    async [Symbol.asyncDispose]() {
      await nodeA[Symbol.asyncDispose]();
      await nodeO[Symbol.asyncDispose]();
    },
  };
}

dirTest(
  "trust: a pin of one node holds for the others (and is kept for them); a node with another CA is refused",
  async (dir) => {
    await using servers = await twoServers(dir);
    const { a, other: stranger, nodeA, nodeO: impostor, stateDir, base } = servers;
    const trust = await resolveTrust({
      ...base,
      host: "localhost",
      port: impostor.port,
      others: [{ host: "localhost", port: nodeA.port }],
    });
    assert.equal(trust.source, "pinned");
    assert.equal(trust.fingerprint, a.caFingerprint);
    const pins = JSON.parse(await Deno.readTextFile(pinsFilePath(stateDir)));
    assert.equal(pins[pinKey("localhost", impostor.port)].fingerprint, a.caFingerprint);
    // the node whose certificate another CA issued fails as a changed certificate would
    await assert.rejects(
      Connection.open({ host: "localhost", port: impostor.port, caCerts: trust.caCerts }),
      (e: unknown) => e instanceof ConnectError && e.certificate,
    );
    // a --fingerprint that differs from the pin of any of the addresses is refused
    await assert.rejects(
      resolveTrust({
        ...base,
        host: "localhost",
        port: closedPort(),
        others: [{ host: "localhost", port: nodeA.port }],
        fingerprint: stranger.caFingerprint,
      }),
      (e: unknown) => e instanceof TrustError && /^WARNING: /.test(e.message),
    );
  },
);

dirTest("trust: addresses pinned to different servers are refused in one sentence", async (dir) => {
  await using servers = await twoServers(dir);
  const { a, other, nodeA, nodeO, stateDir, base } = servers;
  await resolveTrust({
    ...base,
    host: "localhost",
    port: nodeO.port,
    fingerprint: other.caFingerprint,
  });
  await assert.rejects(
    resolveTrust({
      ...base,
      host: "localhost",
      port: nodeA.port,
      others: [{ host: "localhost", port: nodeO.port }],
    }),
    (e: unknown) => {
      assert.ok(e instanceof TrustError);
      assert.equal(
        e.message,
        `the addresses you gave are pinned to different servers: localhost:${nodeA.port} to ` +
          `${a.caFingerprint}, localhost:${nodeO.port} to ${other.caFingerprint}; list only ` +
          `the nodes of one server, or remove the wrong entry from ${pinsFilePath(stateDir)}`,
      );
      return true;
    },
  );
});

dirTest("trust: a first contact with no node answering names each", async (dir) => {
  const a = await ensureServerCerts(join(dir, "a"), []);
  const [p1, p2] = [closedPort(), closedPort()];
  await assert.rejects(
    resolveTrust({
      host: "127.0.0.1",
      port: p1,
      others: [{ host: "127.0.0.1", port: p2 }],
      fingerprint: a.caFingerprint,
      stateDir: join(dir, "state"),
      probeTimeoutMs: 5_000,
    }),
    (e: unknown) => {
      assert.ok(e instanceof TrustError);
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${p1}.*; .*127\\.0\\.0\\.1:${p2}`));
      return true;
    },
  );
  await assert.rejects(Deno.stat(pinsFilePath(join(dir, "state"))), Deno.errors.NotFound);
});

// --- a name with several addresses -----------------------------------------------------------

dirTest(
  "connection: each address of a name is dialled in turn, and the certificate checked against the name",
  async (dir) => {
    const a = await ensureServerCerts(join(dir, "a"), []);
    await using live = node(a);
    // 127.0.0.2 is loopback too, where nothing listens: refused, then the next
    const seen: string[] = [];
    const conn = await Connection.open({
      host: "localhost",
      port: live.port,
      caCerts: [a.caPem],
      addresses: (host) => {
        seen.push(host);
        return Promise.resolve(["127.0.0.2", "127.0.0.1"]);
      },
    });
    assert.deepEqual(seen, ["localhost"]);
    assert.equal((conn.conn.remoteAddr as Deno.NetAddr).hostname, "127.0.0.1");
    conn.close();
    // the name is what the certificate must cover, whatever address was dialled
    await assert.rejects(
      Connection.open({
        host: "chat.invalid",
        port: live.port,
        caCerts: [a.caPem],
        addresses: () => Promise.resolve(["127.0.0.1"]),
      }),
      (e: unknown) => e instanceof ConnectError && e.certificate,
    );
  },
);

Deno.test("connection: what is dialled for a host: a literal as it is, a name of one address as the name", async () => {
  assert.deepEqual(await systemAddresses("127.0.0.1", 1), ["127.0.0.1"]);
  assert.deepEqual(await systemAddresses("::1", 1), ["::1"]);
  assert.deepEqual(await systemAddresses("[::1]", 1), ["::1"]);
  assert.deepEqual(await systemAddresses("no-such-host.invalid", 1), ["no-such-host.invalid"]);
});

// --- the launcher's grants -------------------------------------------------------------------

Deno.test("permissions: join and check may connect to each address of the list, and no other", () => {
  const context = {
    cwd: "/work",
    env: (name: string) => ({ HOME: "/home/tom" } as Record<string, string>)[name],
    program: ["/opt/chat/chat.js"],
    deno: "/usr/bin/deno",
    tmpDir: "/tmp",
    windows: false,
  };
  for (const command of ["join", "check"]) {
    const flags = permissionFlags([command, "--server", "a.example:7001,[::1]:7002,b"], context);
    assert.ok(
      flags.includes("--allow-net=a.example:7001,[::1]:7002,b:7777"),
      `${command}: ${flags.join(" ")}`,
    );
  }
  // a port Deno itself would refuse is left for args.ts to report, in one sentence
  const bad = permissionFlags(["join", "--server", "a:1,b:99999"], context);
  assert.ok(bad.includes("--allow-net=a:1,0.0.0.0:0"), bad.join(" "));
});
