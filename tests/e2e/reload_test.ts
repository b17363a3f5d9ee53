/**
 * SIGHUP reloads --cert/--key: after a renewal, new connections get the new certificate while a
 * client connected before keeps chatting on its connection; a broken renewal leaves the working
 * certificate in place and says so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureServerCerts } from "../../src/tls/certs.ts";
import * as h from "./harness.ts";

Deno.test("SIGHUP: new connections see the renewed certificate, open ones stay", async () => {
  await using dir = await h.tempDir("chat-reload-");
  // two certificate authorities: the one before the renewal, and the one after
  const before = await ensureServerCerts(join(dir.path, "before"), ["127.0.0.1"]);
  const after = await ensureServerCerts(join(dir.path, "after"), ["127.0.0.1"]);
  const cert = join(dir.path, "fullchain.pem");
  const key = join(dir.path, "privkey.pem");
  await Deno.writeTextFile(cert, before.certChainPem);
  await Deno.writeTextFile(key, before.keyPem);
  const caBefore = join(dir.path, "before", "ca.pem");
  const caAfter = join(dir.path, "after", "ca.pem");

  await using server = await h.startServer({ args: ["--cert", cert, "--key", key] });
  await using alice = await h.joinClient({ port: server.port, caFile: caBefore }, "alice");
  await alice.me();
  const check = (ca: string) =>
    h.runChat(["check", "--server", `127.0.0.1:${server.port}`, "--ca", ca]);
  assert.equal((await check(caBefore)).code, 0);

  // the renewal: files replaced, then SIGHUP
  await Deno.writeTextFile(cert, after.certChainPem);
  await Deno.writeTextFile(key, after.keyPem);
  Deno.kill(server.pid, "SIGHUP");
  await h.waitUntil(
    () => /certificate reloaded/.test(server.output()),
    10_000,
    () => `no reload logged:\n${server.output()}`,
  );
  const renewed = await check(caAfter);
  assert.equal(renewed.code, 0, renewed.stderr);
  const stale = await check(caBefore);
  assert.equal(stale.code, 1, "a new connection still got the old certificate");
  assert.match(stale.stderr, /not trusted/);

  // alice, connected before, was not dropped: she still sends and receives
  await alice.send("still here after the renewal");
  await alice.waitFor((e) => e.type === "message" && e.text === "still here after the renewal");
  assert.ok(!alice.exited);

  // a broken renewal: logged, and the working certificate stays
  await Deno.writeTextFile(key, "not a key\n");
  Deno.kill(server.pid, "SIGHUP");
  await h.waitUntil(
    () => /certificate not reloaded/.test(server.output()),
    10_000,
    () => `no refusal logged:\n${server.output()}`,
  );
  assert.equal((await check(caAfter)).code, 0);
  assert.ok(!server.exited);
});
