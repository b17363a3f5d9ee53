// The hub as a node of a cluster (src/server/cluster/): nodes in one process on one store and a
// bus in memory that the test pumps (tests/cluster_fixtures.ts). The engines themselves are
// tested end to end in tests/e2e/cluster_test.ts.
import assert from "node:assert/strict";
import {
  HEARTBEAT_MS,
  HEARTBEAT_USERS_LIMIT,
  NODE_DEAD_AFTER_MS,
  Roster,
} from "../src/server/cluster/roster.ts";
import { Cluster, COMMIT_POLL_MS } from "../src/server/cluster/cluster.ts";
import { EXPIRY_TAKEOVER_MS } from "../src/server/messages.ts";
import { cluster, MemoryNetwork, NumberedStore } from "./cluster_fixtures.ts";
import { DEFAULT_SUBJECT_PREFIX } from "../src/server/cluster/bus.ts";
import { decode, PresenceMessage } from "../src/server/cluster/wire.ts";
import { FakePeer } from "./fixtures.ts";

const texts = (peer: { of(type: "message"): { text: string }[] }) =>
  peer.of("message").map((m) => m.text);

/** Three nodes: alice on the first, bob on the second, carol on the third, each told of the others. */
function threeNodes() {
  const nodes = cluster(3);
  const [n1, n2, n3] = nodes.nodes;
  const people = { alice: n1.join("alice"), bob: n2.join("bob"), carol: n3.join("carol") };
  nodes.network.pump();
  return { ...nodes, ...people };
}

Deno.test("presence crosses nodes: the welcome lists who is on other nodes, and joins are told there", () => {
  const { network, nodes: [n1, n2] } = cluster(2);
  const alice = n1.join("alice");
  network.pump();
  const bob = n2.join("bob");
  assert.deepEqual(bob.welcome.users.map((u) => u.id).sort(), [alice.id, bob.id].sort());
  assert.equal(bob.welcome.online, 2);
  network.pump();
  const told = alice.of("presence").find((p) => p.joined?.id === bob.id);
  assert.ok(told, "alice heard bob come");
  assert.equal(told.online, 2);
  n2.say(bob, { type: "who", ref: "w" });
  const who = bob.of("users")[0];
  assert.deepEqual(who.users.map((u) => u.id).sort(), [alice.id, bob.id].sort());
});

Deno.test("messages sent on two nodes at once reach everyone in one order", () => {
  const { network, nodes: [n1, n2], alice, bob, carol } = threeNodes();
  for (const p of [alice, bob, carol]) p.clear();
  for (let i = 0; i < 5; i++) {
    n1.say(alice, { type: "send", ref: `a${i}`, text: `a${i}` });
    n2.say(bob, { type: "send", ref: `b${i}`, text: `b${i}` });
    if (i % 2 === 0) network.pump(); // some arrive between sends, some later
  }
  network.pump();
  const order = texts(alice);
  assert.equal(order.length, 10);
  assert.deepEqual(texts(bob), order);
  assert.deepEqual(texts(carol), order);
  assert.equal(alice.of("ack").length, 5);
  assert.equal(bob.of("ack").length, 5);
});

Deno.test("what the bus lost is read from the store at the next poll, in order", () => {
  const { network, clock, nodes: [n1, n2] } = cluster(2);
  const alice = n1.join("alice");
  const bob = n2.join("bob");
  network.pump();
  bob.clear();
  n1.say(alice, { type: "send", ref: "1", text: "lost on the bus" });
  assert.ok(network.lose() > 0);
  assert.deepEqual(texts(bob), []);
  clock.t += COMMIT_POLL_MS;
  n2.hub.tick();
  assert.deepEqual(texts(bob), ["lost on the bus"]);
  // and a later one that does arrive is not held back, nor the first repeated
  n1.say(alice, { type: "send", ref: "2", text: "arrives" });
  network.pump();
  assert.deepEqual(texts(bob), ["lost on the bus", "arrives"]);
});

Deno.test("a direct message to someone on another node, by name, reaches them alone", () => {
  const { network, nodes: [n1], alice, bob, carol } = threeNodes();
  n1.say(alice, { type: "send", ref: "d", to: ["bob"], text: "psst" });
  network.pump();
  assert.deepEqual(texts(bob), ["psst"]);
  assert.deepEqual(texts(carol), []);
  assert.equal(alice.of("ack").length, 1);
});

Deno.test("the same person logging in on another node ends the first session there, and nobody sees them leave", () => {
  const { network, nodes: [n1, n2, n3] } = cluster(3);
  const alice = n1.join("alice");
  const carol = n3.join("carol");
  network.pump();
  carol.clear();
  const again = n2.join("alice", { token: alice.token });
  assert.equal(again.id, alice.id);
  network.pump();
  assert.equal(alice.closed?.reason, "replaced");
  assert.deepEqual(carol.of("presence"), [], "no leave, no join: she stayed online");
  n3.say(carol, { type: "who", ref: "w" });
  assert.deepEqual(carol.of("users")[0].users.map((u) => u.id).sort(), [again.id, carol.id].sort());
});

Deno.test("a node not heard from for NODE_DEAD_AFTER_MS is dead: its users leave everywhere", () => {
  const { elapse, nodes: [n1, n2, n3], alice, carol } = threeNodes();
  alice.clear();
  n3.bus.down = true; // kill -9: it says nothing more
  elapse(NODE_DEAD_AFTER_MS + 1_000, [n1, n2]); // a second past it
  const left = alice.of("presence").filter((p) => p.left);
  assert.deepEqual(left.map((p) => p.left!.id), [carol.id]);
  assert.equal(left[0].online, 2);
});

Deno.test("a temporary message is expired by its own node; another takes over only if that node is gone", () => {
  const { network, clock, shared, nodes: [n1, n2] } = cluster(2);
  const alice = n1.join("alice");
  const bob = n2.join("bob");
  network.pump();
  n1.say(alice, { type: "send", ref: "t", text: "soon gone", ttl: 5 });
  network.pump();
  assert.deepEqual(texts(bob), ["soon gone"]);
  clock.t += 5_000;
  n1.hub.tick();
  network.pump();
  assert.equal(bob.of("deleted").length, 1, "expired once, by its node");
  const commits = shared.commits.length;
  clock.t += EXPIRY_TAKEOVER_MS;
  n2.hub.tick();
  network.pump();
  assert.equal(bob.of("deleted").length, 1, "not again by the other");
  assert.equal(shared.commits.length, commits, "nor even tried: it knew");

  // now its node is gone when it comes due
  n1.say(alice, { type: "send", ref: "t2", text: "orphan", ttl: 5 });
  network.pump();
  n1.bus.down = true;
  clock.t += 5_000 + EXPIRY_TAKEOVER_MS;
  n2.hub.tick();
  network.pump();
  assert.equal(bob.of("deleted").length, 2, "the other node expired it");
});

Deno.test("a login on a node that is behind catches it up first: what the client saw elsewhere does not come twice", () => {
  const { network, nodes: [n1, n2] } = cluster(2);
  const alice = n1.join("alice");
  const bob = n1.join("bob");
  network.pump();
  n1.say(alice, { type: "send", ref: "1", text: "one" });
  n1.say(alice, { type: "send", ref: "2", text: "two" });
  network.lose(); // n2 has not heard of them
  const seen = bob.of("message").at(-1)!;
  assert.equal(seen.text, "two");
  // bob's node goes; he resumes on n2 from the last message he saw
  const back = new FakePeer("bob");
  n2.say(back, { type: "hello", name: "bob", token: bob.token, resume: seen.id });
  assert.equal(back.of("welcome").length, 1);
  assert.deepEqual(texts(back), [], "nothing missed, nothing again");
  n1.say(alice, { type: "send", ref: "3", text: "three" });
  network.pump();
  assert.deepEqual(texts(back), ["three"]);
});

Deno.test("a login elsewhere whose announcement the bus lost still ends the older session, at the next heartbeat", () => {
  const { network, clock, elapse, nodes: [n1, n2] } = cluster(2);
  const alice = n1.join("alice");
  network.pump();
  clock.t += 1_000;
  const again = n2.join("alice", { token: alice.token });
  assert.equal(network.lose() > 0, true, "her join on n2 never reaches n1");
  elapse(2 * HEARTBEAT_MS);
  assert.equal(alice.closed?.reason, "replaced", "one person, one session");
  assert.equal(again.closed, undefined, "the newer one holds");
});

Deno.test("a login on a node whose clock is behind still replaces the session it knew of elsewhere", () => {
  // n2's clock is 5 s behind n1's: by the clocks, her login on n2 is older than the one it ends
  const { network, clock, elapse, nodes: [n1, n2] } = cluster(2, [0, -5_000]);
  const alice = n1.join("alice");
  network.pump();
  clock.t += 1_000;
  const again = n2.join("alice", { token: alice.token });
  network.pump();
  elapse(2 * HEARTBEAT_MS);
  assert.equal(alice.closed?.reason, "replaced", "the session she left ends");
  assert.equal(again.closed, undefined, "the one she just opened holds");
});

Deno.test("a commit larger than the bus carries reaches the other nodes at once all the same (read from the store), not at the next poll", () => {
  const { network, nodes: [n1, n2] } = cluster(2);
  const alice = n1.join("alice");
  const bob = n2.join("bob");
  network.pump();
  // NATS's max_payload is 1 MB; a group commit of many long messages is more than that
  network.maxPayload = 2_048;
  const long = "x".repeat(3_000);
  n1.say(alice, { type: "send", ref: "1", text: long });
  network.pump();
  assert.deepEqual(texts(bob), [long]);
  n1.say(alice, { type: "send", ref: "2", text: "short" });
  network.pump();
  assert.deepEqual(texts(bob), [long, "short"], "once, in order");
});

Deno.test(`a heartbeat lists at most HEARTBEAT_USERS_LIMIT (${HEARTBEAT_USERS_LIMIT}) people and says when it is cut; a cut one removes nobody elsewhere`, () => {
  const network = new MemoryNetwork();
  const bus = network.bus();
  const beats: PresenceMessage[] = [];
  network.bus().subscribe(`${DEFAULT_SUBJECT_PREFIX}.presence`, (data) => {
    const message = decode(PresenceMessage, data);
    if (message?.kind === "beat") beats.push(message);
  });
  const hooks = {
    deliver: () => {},
    replaced: () => {},
    joined: () => {},
    left: () => {},
    isHere: () => false,
  };
  const store = new NumberedStore().view();
  const clock = { t: 1_000_000 };
  const node = new Cluster({ bus, store, hooks, node: "big", now: () => clock.t });
  node.start();
  for (let i = 0; i <= HEARTBEAT_USERS_LIMIT; i++) {
    node.joined({ id: `u${i}_0001`, name: `u${i}` }, clock.t);
  }
  network.lose();
  clock.t += HEARTBEAT_MS;
  node.tick(clock.t);
  network.pump();
  const beat = beats.at(-1) as Extract<PresenceMessage, { kind: "beat" }>;
  assert.equal(beat.users.length, HEARTBEAT_USERS_LIMIT);
  assert.equal(beat.complete, false);
  // another node knowing someone from a join, left out of a cut list, keeps them
  const roster = new Roster(() => clock.t);
  roster.join("big", { id: `u${HEARTBEAT_USERS_LIMIT}_0001`, name: "late" }, 1);
  const change = roster.beat("big", beat.users.map((u) => ({ ...u, node: "big" })), beat.complete);
  assert.deepEqual(change.left, []);
  assert.equal(roster.size, HEARTBEAT_USERS_LIMIT + 1);
});
