// The test engines themselves (tests/engines.ts): a NATS server that can be killed and started
// again on the same port, and a PostgreSQL cluster stopped and started on its data dir.
//
// Run: deno test -A --lock=deno.dev.lock tests/engines_test.ts

import assert from "node:assert/strict";
import { psql, startNats, startPostgres } from "./engines.ts";

/** The first line a NATS server sends a new connection, or null when nobody listens. */
async function greeting(url: string): Promise<string | null> {
  const { hostname, port } = new URL(url);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname, port: Number(port) });
  } catch {
    return null;
  }
  try {
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

const exists = (path: string) => {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
};

Deno.test("startNats: JetStream on a loopback port; killed or stopped, nobody answers; started again, same port; removed, its dir is gone", async () => {
  const nats = await startNats();
  try {
    assert.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    const info = await greeting(nats.url);
    assert.match(info ?? "", /^INFO \{.*"jetstream":true/);
    await nats.kill();
    assert.equal(await greeting(nats.url), null);
    await nats.start();
    assert.match(await greeting(nats.url) ?? "", /^INFO /);
    await nats.stop();
    assert.equal(await greeting(nats.url), null);
    await nats.start();
    assert.match(await greeting(nats.url) ?? "", /^INFO /);
  } finally {
    await nats.remove();
  }
  assert.equal(exists(nats.dataDir), false);
});

Deno.test({
  name:
    "startPostgres: stopped and started, or killed and started, on the same port and data; removed, its dir is gone",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const pg = await startPostgres();
    try {
      await psql(pg.url, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)");
      await pg.stop();
      await assert.rejects(psql(pg.url, "SELECT 1"));
      await pg.start();
      await pg.kill();
      await pg.start();
      assert.equal(await psql(pg.url, "SELECT x FROM kept"), "1");
    } finally {
      await pg.remove();
    }
    assert.equal(exists(pg.dataDir), false);
  },
});
