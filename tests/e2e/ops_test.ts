/**
 * What an operator gets from `chat serve` (issue 11): JSON logs that say what happened and never
 * what anyone wrote, and OpenTelemetry metrics exported by Deno to an OTLP/HTTP receiver this test
 * starts on 127.0.0.1.
 *
 * Run: deno test -A tests/e2e/ops_test.ts
 */
import assert from "node:assert/strict";
import { encodeFrame } from "../../src/protocol/codec.ts";
import * as h from "./harness.ts";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

Deno.test("ops: --log-format json: one dated object a line for each event, and no message text, token or password", async () => {
  const server = await h.startServer({ args: ["--log-format", "json", "--log-level", "debug"] });
  let stdout: string;
  try {
    const { raw: alice, welcome } = await h.rawJoined(server, "alice");
    const { raw: bob } = await h.rawJoined(server, "bob");
    await alice.sendFrame({ type: "send", ref: "s1", text: "the-secret-words-4711" });
    await bob.frameWhere((f) => f.type === "message");
    // a malformed frame, counted for the summary
    await alice.sendFrame({ type: "send", ref: "bad" });
    await alice.frameWhere((f) => f.type === "error" && f.ref === "bad");
    await bob.close();
    await h.waitUntil(() => /"msg":"left"/.test(server.output()), 5_000, "left").catch(() => {});
    await alice.close();
    await server.stop();
    stdout = server.output();
    assert.doesNotMatch(stdout, /the-secret-words-4711/, "no message text");
    assert.ok(!stdout.includes(welcome.token), "no token");
  } finally {
    await server[Symbol.asyncDispose]();
  }
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  const entries = lines.map((line) => {
    const entry = h.jsonLogEntry(line);
    assert.ok(entry, `not a JSON line: ${line}`);
    assert.match(entry.time, RFC3339);
    assert.ok(["debug", "info", "warn", "error"].includes(entry.level), line);
    assert.equal(typeof entry.msg, "string");
    return entry;
  });
  const find = (msg: string, extra: (e: Record<string, unknown>) => boolean = () => true) =>
    entries.find((e) => e.msg === msg && extra(e));
  assert.ok(
    find("listening", (e) => typeof e.port === "number" && /^SHA256:/.test(`${e.fingerprint}`)),
  );
  assert.ok(find("connection", (e) => e.address === "127.0.0.1"), "each connection at debug");
  assert.ok(find("joined", (e) => /^alice_\d{4}$/.test(`${e.id}`) && e.address === "127.0.0.1"));
  assert.ok(find("left", (e) => /^bob_\d{4}$/.test(`${e.id}`) && e.reason === "closed"));
  assert.ok(find("stopped"));
});

Deno.test("ops: refusals a client can repeat at will are summed up, not logged one by one", async () => {
  await using server = await h.startServer({ args: ["--max-connections-per-address", "2"] });
  // 50 silent TCP connections: 48 of them push an older one out
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < 50; i++) {
    conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
  }
  await h.delay(200);
  for (const conn of conns) conn.close();
  await server.stop();
  const refusals = server.output().split("\n").filter((l) => /refused/.test(l));
  assert.equal(refusals.length, 1, `one summary line:\n${refusals.join("\n")}`);
  assert.match(
    refusals[0],
    /WARN {2}refused reason=pending_pushed_out count=48 addresses=1 busiest="127\.0\.0\.1 \(48\)"/,
  );
});

/** An OTLP/HTTP (JSON) receiver: every metric data point it was sent, by metric name. */
function otlpReceiver() {
  // deno-lint-ignore no-explicit-any
  const points = new Map<string, any[]>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json().catch(() => null);
    if (new URL(req.url).pathname === "/v1/metrics" && body) {
      for (const resource of body.resourceMetrics ?? []) {
        for (const scope of resource.scopeMetrics ?? []) {
          for (const metric of scope.metrics ?? []) {
            const data = metric.sum ?? metric.histogram ?? metric.gauge;
            const list = points.get(metric.name) ?? [];
            list.push(...(data?.dataPoints ?? []));
            points.set(metric.name, list);
          }
        }
      }
    }
    return new Response("{}", { headers: { "content-type": "application/json" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    points,
    /** The latest value of a cumulative sum (with attributes matching `attrs`). */
    sum(name: string, attrs: Record<string, string> = {}): number {
      const matching = (points.get(name) ?? []).filter((p) =>
        Object.entries(attrs).every(([k, v]) =>
          (p.attributes ?? []).some((a: { key: string; value: { stringValue?: string } }) =>
            a.key === k && a.value.stringValue === v
          )
        )
      );
      const last = matching.at(-1);
      return last ? Number(last.asInt ?? last.asDouble ?? 0) : 0;
    },
    /** The latest count of a histogram. */
    count(name: string): number {
      return Number((points.get(name) ?? []).at(-1)?.count ?? 0);
    },
    shutdown: () => server.shutdown(),
  };
}

Deno.test("ops: metrics reach an OTLP receiver: connections, logins, messages, deliveries, bytes, refusals, group commits", async () => {
  const otlp = otlpReceiver();
  try {
    await using server = await h.startServer({
      args: ["--max-rate", "2"],
      env: {
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_METRIC_EXPORT_INTERVAL: "300",
      },
    });
    const { raw: alice } = await h.rawJoined(server, "alice");
    await using _alice = alice;
    const { raw: bob } = await h.rawJoined(server, "bob");
    await using _bob = bob;
    for (let i = 0; i < 5; i++) {
      await alice.sendFrame({ type: "send", ref: `m${i}`, text: `hello ${i}` });
      await alice.frameWhere((f) => f.type === "ack" && f.ref === `m${i}`);
    }
    // past the burst: refused for the rate
    const flood = Array.from(
      { length: 30 },
      (_, i) => encodeFrame({ type: "send", ref: `f${i}`, text: "x" }),
    );
    for (const frame of flood) await alice.sendBytes(frame);
    await alice.frameWhere((f) => f.type === "error" && f.code === "rate_limited");
    // a TLS connection that is not ours: a handshake error
    const stray = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await stray.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
    await h.delay(100);
    stray.close();
    const want = () =>
      otlp.sum("chat.messages.stored") >= 20 && otlp.sum("chat.deliveries") >= 40 &&
      otlp.sum("chat.logins") >= 2 && otlp.sum("chat.refusals", { reason: "rate_limited" }) >= 1;
    await h.waitUntil(want, 15_000, "the metrics").catch(() => {});
    const seen = [...otlp.points.keys()].filter((n) => n.startsWith("chat.")).sort();
    assert.ok(
      want(),
      `metrics: ${
        JSON.stringify(Object.fromEntries(seen.map((n) => [n, otlp.sum(n) || otlp.count(n)])))
      }`,
    );
    assert.equal(otlp.sum("chat.logins", { kind: "new" }), 2);
    assert.ok(otlp.sum("chat.connections.open") >= 2);
    assert.ok(otlp.sum("chat.bytes.out") > 1_000);
    assert.ok(otlp.count("chat.group_commit.size") >= 1);
    assert.ok(otlp.count("chat.group_commit.duration") >= 1);
    assert.ok(otlp.count("chat.fanout.duration") >= 1);
    const tlsError = () => otlp.sum("chat.refusals", { reason: "tls_error" }) >= 1;
    await h.waitUntil(tlsError, 5_000, "a tls_error refusal counted");
  } finally {
    await h.withTimeout(otlp.shutdown(), 5_000, "the OTLP receiver's shutdown");
  }
});

Deno.test("ops: a raw client that says nothing is not logged at info", async () => {
  await using server = await h.startServer();
  const raw = await h.rawClient(server.port, server.caFile);
  await raw.close();
  await h.delay(200);
  assert.doesNotMatch(server.output(), /connection/);
});
