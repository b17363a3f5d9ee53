// Unit tests for src/client/outbox.ts: unsent messages kept per server and id (0600, atomic),
// bounded by MAX_OUTBOX_MESSAGES, and the writer that serializes saves.
//
// Run: deno test -A tests/outbox_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import type { SendFrame } from "../src/client/client.ts";
import {
  loadOutbox,
  MAX_OUTBOX_MESSAGES,
  OUTBOX_FILE_NAME,
  outboxWriter,
  saveOutbox,
} from "../src/client/outbox.ts";

import { tempDir } from "./fixtures.ts";

const send = (ref: string, text = ref, more: Partial<SendFrame> = {}): SendFrame => ({
  type: "send",
  ref,
  text,
  ...more,
});

Deno.test("outbox: kept per server and id, private, with their refs; empty removes the entry", async () => {
  await using tmp = await tempDir();
  const dir = join(tmp.path, "chat"); // made when first needed
  assert.deepEqual(await loadOutbox(dir, "S", "tom_0001"), []);
  const frames = [
    send("p-1", "hello"),
    send("p-2", "psst", { to: ["ann_0002"], ttl: 30 }),
    send("p-3", "re", { replyTo: "01JABCDEFGHJKMNPQRSTVWXYZ0", retry: true }),
  ];
  await saveOutbox(dir, "S", "tom_0001", frames);
  await saveOutbox(dir, "S", "ann_0002", [send("q-1")]);
  await saveOutbox(dir, "T", "tom_0001", [send("r-1")]);
  // as sent the first time: the retry flag is the sender's business
  assert.deepEqual(await loadOutbox(dir, "S", "tom_0001"), [
    frames[0],
    frames[1],
    { type: "send", ref: "p-3", text: "re", replyTo: "01JABCDEFGHJKMNPQRSTVWXYZ0" },
  ]);
  assert.deepEqual(await loadOutbox(dir, "T", "tom_0001"), [send("r-1")]);
  const file = join(dir, OUTBOX_FILE_NAME);
  assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
  await saveOutbox(dir, "S", "tom_0001", []);
  assert.deepEqual(await loadOutbox(dir, "S", "tom_0001"), []);
  assert.deepEqual(await loadOutbox(dir, "S", "ann_0002"), [send("q-1")]);
});

Deno.test("outbox: at most MAX_OUTBOX_MESSAGES are kept; what is not a send is not trusted", async () => {
  await using tmp = await tempDir();
  const many = Array.from({ length: MAX_OUTBOX_MESSAGES + 5 }, (_, i) => send(`p-${i}`));
  await saveOutbox(tmp.path, "S", "tom_0001", many);
  const kept = await loadOutbox(tmp.path, "S", "tom_0001");
  assert.equal(kept.length, MAX_OUTBOX_MESSAGES);
  assert.equal(kept[0].ref, "p-0"); // the oldest first: they go out in the order typed
  // a hand-edited file: anything but a send with a ref and text is left out
  await Deno.writeTextFile(
    join(tmp.path, OUTBOX_FILE_NAME),
    JSON.stringify({
      S: {
        "tom_0001": [{ type: "delete", ref: "x", id: "y" }, { type: "send", ref: 1 }, send("ok")],
      },
    }),
  );
  assert.deepEqual(await loadOutbox(tmp.path, "S", "tom_0001"), [send("ok")]);
  // a damaged file is an error for the caller to report, not a silent empty outbox
  await Deno.writeTextFile(join(tmp.path, OUTBOX_FILE_NAME), "{not json");
  await assert.rejects(loadOutbox(tmp.path, "S", "tom_0001"));
});

Deno.test("outboxWriter: one save at a time, the newest wins, a failure reported once", async () => {
  const saved: string[][] = [];
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const reports: string[] = [];
  let failing = false;
  const writer = outboxWriter(async (frames) => {
    await gate;
    if (failing) throw new Deno.errors.PermissionDenied("no");
    saved.push(frames.map((f) => f.ref));
  }, (message) => reports.push(message));
  writer.save([send("a")]);
  writer.save([send("a"), send("b")]); // waits behind the first...
  writer.save([send("b")]); // ...and is replaced by this one
  release();
  assert.equal(await writer.flush(), true);
  assert.deepEqual(saved, [["a"], ["b"]]);
  failing = true;
  gate = Promise.resolve();
  writer.save([send("c")]);
  writer.save([send("d")]);
  assert.equal(await writer.flush(), false);
  writer.save([send("e")]);
  assert.equal(await writer.flush(), false);
  assert.equal(reports.length, 1);
  assert.match(reports[0], /could not keep unsent messages on disk \(permission denied\)/);
});

Deno.test("outbox: the README states the bound this code keeps", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  assert.match(readme.replace(/\s+/g, " "), new RegExp(`at most ${MAX_OUTBOX_MESSAGES} messages`));
});
