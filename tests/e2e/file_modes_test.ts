/**
 * Files that hold direct messages and keys are owner-only: the database and its -wal/-shm are
 * created 0600, the certificate directory 0700; a database left with looser modes is reported at
 * start (and left as it is).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { joinClient, startServer, tempDir, waitUntil } from "./harness.ts";

const modeOf = (path: string) => Deno.statSync(path).mode! & 0o777;

Deno.test({
  name: "the database, its -wal and -shm are created 0600 and the certs directory 0700",
  ignore: Deno.build.os === "windows",
  async fn() {
    await using dir = await tempDir("chat-modes-");
    {
      await using server = await startServer({ dir: dir.path });
      await using alice = await joinClient(server, "alice");
      await alice.send("a message, so the write-ahead log has something in it");
      await alice.waitFor((e) => e.type === "ack");
      const db = join(dir.path, "chat.db");
      for (const path of [db, `${db}-wal`, `${db}-shm`]) {
        assert.equal(modeOf(path).toString(8), "600", path);
      }
      assert.equal(modeOf(join(dir.path, "certs")).toString(8), "700");
      assert.doesNotMatch(server.output(), /has mode/);
    }
    // someone loosened it: said at the next start, not changed
    Deno.chmodSync(join(dir.path, "chat.db"), 0o644);
    await using again = await startServer({ dir: dir.path });
    await waitUntil(
      () => /chat\.db has mode 0644/.test(again.output()),
      5_000,
      () => again.output(),
    );
    assert.equal(modeOf(join(dir.path, "chat.db")).toString(8), "644");
  },
});
