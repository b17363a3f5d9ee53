// Unit tests for src/server/cluster/roster.ts: who is online on the other nodes, and nodes that die.
import assert from "node:assert/strict";
import { HEARTBEAT_MS, NODE_DEAD_AFTER_MS, Roster } from "../src/server/cluster/roster.ts";

const alice = { id: "alice_0001", name: "alice" };
const bob = { id: "bob_0002", name: "bob" };
const at = (node: string, user: { id: string; name: string }, since = 1) => ({ user, node, since });

function roster() {
  const clock = { now: 1_000 };
  return { clock, roster: new Roster(() => clock.now) };
}

Deno.test("joins and leaves of other nodes, by id and by name", () => {
  const { roster: r } = roster();
  assert.equal(r.join("n1", alice, 1), true);
  assert.equal(r.join("n1", alice, 1), false, "a repeat is not news");
  r.join("n2", bob, 1);
  assert.equal(r.size, 2);
  assert.deepEqual([...r.named("ALICE")], ["alice_0001"]);
  assert.equal(r.leave("n2", "alice_0001"), undefined, "only the node they are on says they left");
  assert.deepEqual(r.leave("n1", "alice_0001"), alice);
  assert.deepEqual([...r.named("alice")], []);
  assert.equal(r.size, 1);
});

Deno.test("someone who moves node is on the new one only", () => {
  const { roster: r } = roster();
  r.join("n1", alice, 1);
  r.join("n2", alice, 2);
  assert.equal(r.get("alice_0001")?.node, "n2");
  assert.deepEqual(r.drop("n1"), [], "the old node's end takes nobody");
  assert.equal(r.size, 1);
});

Deno.test("a node not heard from for NODE_DEAD_AFTER_MS is dead and its people leave", () => {
  const { clock, roster: r } = roster();
  r.join("n1", alice, 1);
  r.join("n2", bob, 1);
  for (let t = 0; t < NODE_DEAD_AFTER_MS; t += HEARTBEAT_MS) {
    clock.now += HEARTBEAT_MS;
    r.beat("n2", [at("n2", bob)], true);
    if (clock.now - 1_000 < NODE_DEAD_AFTER_MS) assert.deepEqual(r.expire(), []);
  }
  clock.now = 1_000 + NODE_DEAD_AFTER_MS;
  assert.deepEqual(r.expire(), [alice]);
  assert.equal(r.nodes, 1);
  assert.equal(r.get("bob_0002")?.node, "n2");
  assert.ok(NODE_DEAD_AFTER_MS < 10_000, "noticed within 10 s");
});

Deno.test("a complete heartbeat adds whoever was missed and removes whoever is gone", () => {
  const { roster: r } = roster();
  r.join("n1", alice, 1);
  const change = r.beat("n1", [at("n1", bob)], true);
  assert.deepEqual(change.joined.map((u) => u.user), [bob]);
  assert.deepEqual(change.left, [alice]);
  const partial = r.beat("n1", [at("n1", alice)], false);
  assert.deepEqual(partial.left, [], "a list cut short removes nobody");
  assert.equal(r.size, 2);
});

Deno.test("a heartbeat does not take someone from the node of their newer login", () => {
  const { roster: r } = roster();
  r.join("n2", alice, 5);
  const change = r.beat("n1", [at("n1", alice, 3)], true);
  assert.deepEqual(change.joined, []);
  assert.equal(r.get("alice_0001")?.node, "n2");
});

Deno.test("forget: online here now, no longer counted elsewhere", () => {
  const { roster: r } = roster();
  r.join("n1", alice, 1);
  r.forget("alice_0001");
  assert.equal(r.size, 0);
  assert.deepEqual([...r.named("alice")], []);
});
