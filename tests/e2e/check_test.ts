/**
 * `chat check` against a real server: TLS verified, a ping before any hello, the version and
 * round trip printed, exit 0; exit 1 with one sentence when nothing answers, when the certificate
 * is not the one expected, or when the server says nothing; a fingerprint is checked, not pinned.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runChat, startServer, tempDir } from "./harness.ts";
import { VERSION } from "../../src/version.ts";

const OK = new RegExp(
  `^ok: chat ${
    VERSION.replaceAll(".", "\\.")
  } at (127\\.0\\.0\\.1|localhost):\\d+, round trip [0-9.]+ ms`,
);

/** One sentence on stderr, no stack trace. */
function assertOneSentence(stderr: string) {
  assert.match(stderr, /^chat: .+\n$/);
  assert.doesNotMatch(stderr, /\n\s+at |Error:/);
}

Deno.test("chat check: ok with --ca, with --fingerprint (not pinned) and beside the server", async () => {
  await using server = await startServer();
  await using state = await tempDir("chat-check-state-");
  const env = { XDG_STATE_HOME: state.path };
  const where = ["--server", `127.0.0.1:${server.port}`];
  const ca = await runChat(["check", ...where, "--ca", server.caFile], { env });
  assert.equal(ca.code, 0, ca.stderr);
  assert.match(ca.stdout, OK);

  const fp = await runChat(["check", ...where, "--fingerprint", server.fingerprint], { env });
  assert.equal(fp.code, 0, fp.stderr);
  assert.match(fp.stdout, OK);
  // a health check leaves nothing behind
  await assert.rejects(Deno.stat(join(state.path, "chat", "known_servers.json")));

  // in the server's directory, on its port (as a container's health check runs it)
  const beside = await runChat(["check"], {
    cwd: server.dir,
    env: { ...env, CHAT_PORT: String(server.port) },
  });
  assert.equal(beside.code, 0, beside.stderr);
  assert.match(beside.stdout, OK);
  // the server logged nobody in
  assert.doesNotMatch(server.output(), /joined/);
});

Deno.test("chat check: exit 1 and one sentence when the server is down or not the one expected", async () => {
  await using state = await tempDir("chat-check-state-");
  const env = { XDG_STATE_HOME: state.path };
  let port: number;
  {
    await using server = await startServer();
    port = server.port;
    const wrong = await runChat([
      "check",
      "--server",
      `127.0.0.1:${port}`,
      "--fingerprint",
      `SHA256:${"A".repeat(43)}`,
    ], { env });
    assert.equal(wrong.code, 1);
    assertOneSentence(wrong.stderr);
    const untrusted = await runChat(["check", "--server", `127.0.0.1:${port}`], {
      env,
      cwd: state.path, // no certs/ca.pem here: the system roots do not know this CA
    });
    assert.equal(untrusted.code, 1);
    assertOneSentence(untrusted.stderr);
    assert.match(untrusted.stderr, /not trusted/);
  }
  const down = await runChat(["check", "--server", `127.0.0.1:${port}`], { env });
  assert.equal(down.code, 1);
  assertOneSentence(down.stderr);
  assert.match(down.stderr, /refused/);
});

Deno.test("chat check: a listener that never answers fails within --timeout", async () => {
  // TCP accepted, nothing said: the TLS handshake never completes
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })().catch(() => {});
  try {
    const started = Date.now();
    const result = await runChat([
      "check",
      "--server",
      `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
      "--fingerprint",
      `SHA256:${"A".repeat(43)}`,
      "--timeout",
      "1",
    ]);
    assert.equal(result.code, 1);
    assertOneSentence(result.stderr);
    assert.ok(Date.now() - started < 8_000, "the timeout was not kept");
  } finally {
    listener.close();
    for (const conn of held) conn.close();
    await accepting;
  }
});
