// Unit tests for src/client/tokens.ts: saved ids per server and name, forgetting a revoked one,
// and a failed save reported once.
//
// Run: deno test -A tests/tokens_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  forgetToken,
  loadToken,
  reportingSaves,
  saveToken,
  TOKENS_FILE_NAME,
} from "../src/client/tokens.ts";
import { inTempDir } from "./fixtures.ts";

/** Tokens t1 for tom and a1 for ann, saved for server S. */
async function saveTomAndAnn(dir: string): Promise<void> {
  await saveToken(dir, "S", "tom", { id: "tom_0001", token: "t1" });
  await saveToken(dir, "S", "ann", { id: "ann_0001", token: "a1" });
}

Deno.test(
  "saveToken: a new token replaces the old one for that server and name",
  inTempDir(async (dir) => {
    await saveTomAndAnn(dir);
    await saveToken(dir, "S", "tom", { id: "tom_0001", token: "t2" });
    assert.deepEqual(await loadToken(dir, "S", "tom"), { id: "tom_0001", token: "t2" });
    assert.deepEqual(await loadToken(dir, "S", "ann"), { id: "ann_0001", token: "a1" });
  }),
);

Deno.test(
  "forgetToken: forgets the revoked token, and only that one",
  inTempDir(async (dir) => {
    await saveTomAndAnn(dir);
    await saveToken(dir, "T", "tom", { id: "tom_0002", token: "x1" });
    // a token saved meanwhile by another run is not the revoked one: it stays
    await forgetToken(dir, "S", "tom", "t0");
    assert.deepEqual(await loadToken(dir, "S", "tom"), { id: "tom_0001", token: "t1" });
    await forgetToken(dir, "S", "tom", "t1");
    assert.equal(await loadToken(dir, "S", "tom"), undefined);
    assert.deepEqual(await loadToken(dir, "S", "ann"), { id: "ann_0001", token: "a1" });
    assert.deepEqual(await loadToken(dir, "T", "tom"), { id: "tom_0002", token: "x1" });
    // nothing saved at all: nothing to do, no error
    await forgetToken(dir, "U", "nobody", "z");
    const mode = (await Deno.stat(join(dir, TOKENS_FILE_NAME))).mode! & 0o777;
    assert.equal(mode, 0o600);
  }),
);

Deno.test(
  "loadToken: a tokens file that cannot be read costs the saved id, not the chat",
  inTempDir(async (dir) => {
    await Deno.mkdir(join(dir, TOKENS_FILE_NAME)); // a directory where the file should be
    assert.equal(await loadToken(dir, "S", "tom"), undefined);
  }),
);

Deno.test("reportingSaves: every token is saved; a failing save is reported once", async () => {
  const saved: string[] = [];
  const reports: string[] = [];
  let failing = true;
  const save = reportingSaves(
    (identity) => {
      if (failing) return Promise.reject(new Deno.errors.PermissionDenied("nope"));
      saved.push(identity.token);
      return Promise.resolve();
    },
    (message) => reports.push(message),
  );
  await save({ id: "tom_0001", token: "t1" });
  await save({ id: "tom_0001", token: "t2" });
  assert.equal(reports.length, 1);
  assert.match(reports[0], /could not save your id token \(permission denied\)/);
  assert.match(reports[0], /new id, not tom_0001/);
  failing = false;
  await save({ id: "tom_0001", token: "t3" });
  assert.deepEqual(saved, ["t3"]);
  assert.equal(reports.length, 1);
});
