// Unit tests for src/server/routing.ts: recipient resolution and visibility decisions.
//
// Run: deno test -A tests/routing_test.ts

import assert from "node:assert/strict";
import { MAX_RECIPIENTS, Send, type User } from "../src/protocol/schema.ts";
import { canSee, replyAudience, resolveRecipients } from "../src/server/routing.ts";

const tom: User = { id: "Tom_0001", name: "Tom" };
const alice: User = { id: "alice_1234", name: "alice" };
const bob1: User = { id: "bob_1111", name: "bob" };
const bob2: User = { id: "Bob_2222", name: "Bob" };
const carol: User = { id: "carol_3333", name: "carol" };

/** Ids ever issued; lookups ignore case like the store does. */
function issued(...ids: string[]): (id: string) => string | null {
  const byLower = new Map(ids.map((id) => [id.toLowerCase(), id]));
  return (id) => byLower.get(id.toLowerCase()) ?? null;
}

const everyone = issued(tom.id, alice.id, bob1.id, bob2.id, carol.id, "dave_4444");

Deno.test("resolveRecipients: an exact id of someone online", () => {
  assert.deepEqual(resolveRecipients(["alice_1234"], [tom, alice], everyone), {
    ok: true,
    ids: ["alice_1234"],
  });
});

Deno.test("resolveRecipients: an exact id of someone offline (ever issued)", () => {
  assert.deepEqual(resolveRecipients(["dave_4444"], [tom, alice], everyone), {
    ok: true,
    ids: ["dave_4444"],
  });
});

Deno.test("resolveRecipients: ids ignore case and come back as issued", () => {
  assert.deepEqual(resolveRecipients(["ALICE_1234", "tom_0001"], [], everyone), {
    ok: true,
    ids: ["alice_1234", "Tom_0001"],
  });
});

Deno.test("resolveRecipients: a bare name exactly one online person has", () => {
  assert.deepEqual(resolveRecipients(["alice"], [tom, alice, bob1], everyone), {
    ok: true,
    ids: ["alice_1234"],
  });
  assert.deepEqual(resolveRecipients(["Tom"], [tom, alice], everyone), {
    ok: true,
    ids: ["Tom_0001"],
  });
  // bob and Bob are both online: each name as typed is one person
  assert.deepEqual(resolveRecipients(["bob"], [tom, bob1, bob2], everyone), {
    ok: true,
    ids: ["bob_1111"],
  });
  assert.deepEqual(resolveRecipients(["Bob"], [tom, bob1, bob2], everyone), {
    ok: true,
    ids: ["Bob_2222"],
  });
});

Deno.test("resolveRecipients: a bare name matching only in another case is refused, naming the id", () => {
  // @bob while bob is offline and BOB online: one letter's case from a DM to the wrong person
  const shouting: User = { id: "BOB_1908", name: "BOB" };
  for (
    const [typed, online, id] of [
      ["bob", [tom, shouting], "BOB_1908"],
      ["ALICE", [tom, alice], "alice_1234"],
      ["tom", [tom, alice], "Tom_0001"],
    ] as const
  ) {
    const result = resolveRecipients([typed], online, everyone);
    assert.equal(result.ok, false, typed);
    if (!result.ok) {
      assert.equal(result.code, "ambiguous_recipient");
      assert.match(result.message, new RegExp(`named exactly ${typed}.*${id}`));
    }
  }
});

Deno.test("resolveRecipients: a bare name two online people share is ambiguous", () => {
  const twin: User = { id: "bob_2468", name: "bob" };
  const result = resolveRecipients(["bob"], [tom, bob1, twin, bob2], everyone);
  assert.equal(result.ok, false);
  if (!result.ok) {
    assert.equal(result.code, "ambiguous_recipient");
    assert.match(result.message, /bob_1111/);
    assert.match(result.message, /bob_2468/);
    assert.doesNotMatch(result.message, /Bob_2222/);
  }
});

Deno.test("resolveRecipients: a bare name nobody online has is unknown (offline names too)", () => {
  // dave has an id, but a bare name only resolves among people online
  for (const name of ["zed", "dave"]) {
    const result = resolveRecipients([name], [tom, alice], everyone);
    assert.equal(result.ok, false, name);
    if (!result.ok) assert.equal(result.code, "unknown_recipient");
  }
});

Deno.test("resolveRecipients: an id never issued is unknown", () => {
  const result = resolveRecipients(["alice_9999"], [tom, alice], everyone);
  assert.equal(result.ok, false);
  if (!result.ok) {
    assert.equal(result.code, "unknown_recipient");
    assert.match(result.message, /alice_9999/);
  }
});

Deno.test("resolveRecipients: duplicates collapse (id, name, other case)", () => {
  const result = resolveRecipients(
    ["alice", "alice_1234", "ALICE_1234", "Tom", "Tom_0001"],
    [tom, alice],
    everyone,
  );
  assert.deepEqual(result, { ok: true, ids: ["alice_1234", "Tom_0001"] });
});

Deno.test("resolveRecipients: one bad entry fails the whole message", () => {
  for (
    const typed of [
      ["alice", "zed"],
      ["zed", "alice"],
      ["alice_1234", "BOB"], // nobody is named exactly BOB
      ["alice_1234", "nobody_0000"],
    ]
  ) {
    const result = resolveRecipients(typed, [tom, alice, bob1, bob2], everyone);
    assert.equal(result.ok, false, typed.join(" "));
  }
});

Deno.test("resolveRecipients: 32 distinct recipients are fine; 33 never reach it (the schema refuses them)", () => {
  const ids = Array.from(
    { length: MAX_RECIPIENTS + 1 },
    (_, i) => `u_${String(i).padStart(4, "0")}`,
  );
  const known = issued(...ids);
  const ok = resolveRecipients(ids.slice(0, MAX_RECIPIENTS), [], known);
  assert.equal(ok.ok, true);
  if (ok.ok) assert.equal(ok.ids.length, MAX_RECIPIENTS);
  const send = (to: string[]) => Send.safeParse({ type: "send", ref: "r", text: "x", to });
  assert.equal(send(ids.slice(0, MAX_RECIPIENTS)).success, true);
  assert.equal(send(ids).success, false);
});

Deno.test("resolveRecipients: 33 entries that collapse to 32 people are fine", () => {
  const ids = Array.from({ length: MAX_RECIPIENTS }, (_, i) => `u_${String(i).padStart(4, "0")}`);
  const result = resolveRecipients([...ids, ids[0].toUpperCase()], [], issued(...ids));
  assert.equal(result.ok, true);
  if (result.ok) assert.equal(result.ids.length, MAX_RECIPIENTS);
});

Deno.test("resolveRecipients: canonicalId is only asked about id-shaped entries", () => {
  const asked: string[] = [];
  resolveRecipients(["alice", "tom_0001"], [alice], (id) => {
    asked.push(id);
    return id === "tom_0001" ? "Tom_0001" : null;
  });
  assert.deepEqual(asked, ["tom_0001"]);
});

// ---- canSee -----------------------------------------------------------------------------------

Deno.test("canSee: everyone sees a public message", () => {
  const message = { from: "tom_0001" };
  for (const id of ["tom_0001", "alice_1234", "stranger_0000"]) assert.ok(canSee(id, message));
});

Deno.test("canSee: a direct message is seen by its sender and recipients only", () => {
  const message = { from: "tom_0001", to: ["alice_1234", "bob_1111"] };
  assert.ok(canSee("tom_0001", message));
  assert.ok(canSee("alice_1234", message));
  assert.ok(canSee("bob_1111", message));
  assert.ok(!canSee("carol_3333", message));
  assert.ok(!canSee("bob_2222", message));
});

Deno.test("canSee: an empty recipient list is not public", () => {
  const message = { from: "tom_0001", to: [] };
  assert.ok(canSee("tom_0001", message));
  assert.ok(!canSee("alice_1234", message));
});

// ---- replyAudience ----------------------------------------------------------------------------

Deno.test("replyAudience: a reply to a public message is public", () => {
  assert.equal(replyAudience("alice_1234", { from: "tom_0001" }), undefined);
});

Deno.test("replyAudience: a recipient replying reaches the sender and the other recipients", () => {
  const audience = replyAudience("alice_1234", {
    from: "tom_0001",
    to: ["alice_1234", "bob_1111"],
  });
  assert.deepEqual(new Set(audience), new Set(["tom_0001", "bob_1111"]));
});

Deno.test("replyAudience: the sender replying reaches the recipients", () => {
  const audience = replyAudience("tom_0001", { from: "tom_0001", to: ["alice_1234"] });
  assert.deepEqual(audience, ["alice_1234"]);
});

Deno.test("replyAudience: a note to self stays a note to self", () => {
  assert.deepEqual(replyAudience("tom_0001", { from: "tom_0001", to: ["tom_0001"] }), [
    "tom_0001",
  ]);
});

Deno.test("replyAudience: no duplicates when the sender was also a recipient", () => {
  const audience = replyAudience("alice_1234", {
    from: "tom_0001",
    to: ["tom_0001", "alice_1234"],
  });
  assert.deepEqual(audience, ["tom_0001"]);
});
