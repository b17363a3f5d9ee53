// The server refuses a topic and an away reason that carry a bidi control or a line separator
// (tests/one_line_test.ts has every such character against the schema), over TLS: each with
// `error bad_frame` and a sentence, nothing changed, the connection still usable; right-to-left
// text is set, and the room's other member sees it.
//
// Run: deno test -A --lock=deno.dev.lock tests/e2e/one_line_test.ts

import assert from "node:assert/strict";
import { ask, rawJoined, startServer } from "./harness.ts";

Deno.test("one line: a topic with U+202E, an away with U+2066 or U+2028 are refused with bad_frame; nothing changes; a right-to-left topic is set and seen", async () => {
  await using server = await startServer();
  const { raw: tom } = await rawJoined(server, "tom");
  const { raw: ann } = await rawJoined(server, "ann");
  try {
    assert.equal((await ask(tom, { type: "join", room: "#ops" })).type, "room");
    assert.equal((await ask(ann, { type: "join", room: "#ops" })).type, "room");
    const override = await ask(tom, { type: "topic", room: "#ops", topic: "ok \u202egnp.exe" });
    assert.equal(override.code, "bad_frame");
    assert.match(override.message, /a topic is one line, without control characters/);
    for (const reason of ["lunch \u2066", "back\u2028soon"]) {
      const refused = await ask(tom, { type: "away", reason });
      assert.equal(refused.code, "bad_frame", JSON.stringify(reason));
      assert.match(refused.message, /an away reason is one line, without control characters/);
    }
    // nothing changed: no topic, not away; the connection is still usable
    const rooms = await ask(tom, { type: "rooms" });
    assert.equal(rooms.rooms.find((r: { name: string }) => r.name === "#ops").topic, "");
    const who = await ask(ann, { type: "who", room: "#ops" });
    assert.ok(who.users.every((u: { away?: string }) => u.away === undefined));
    const set = await ask(tom, { type: "topic", room: "#ops", topic: "שלום — deploys" });
    assert.equal(set.type, "room");
    const seen = await ann.frameWhere((f) => f.type === "room" && f.event === "topic");
    assert.equal(seen?.room.topic, "שלום — deploys");
  } finally {
    await tom.close();
    await ann.close();
  }
});
