// Unit tests for src/server/cluster/sequencer.ts: one order of commits on every node, whatever
// order the bus brings them in, and what it loses read from the store.
import assert from "node:assert/strict";
import {
  type Commit,
  type CommitSource,
  type Deliverable,
  MAX_HELD_COMMITS,
  Sequencer,
} from "../src/server/cluster/sequencer.ts";
import type { StoredMessage } from "../src/server/store/store.ts";

/** A commit holding one message whose seq is its number (plus `base`). */
function commit(n: number, base = 100): Commit {
  const message: StoredMessage = {
    seq: base + n,
    id: `m${n}`,
    from: "a_0001",
    text: `t${n}`,
    time: n,
  };
  return { commitNo: n, messages: [message], purges: [] };
}

/** A store holding commits 1..latest, counting its reads; `failing` makes it throw. */
interface TestStore extends CommitSource {
  latest: number;
  reads: number;
  failing: boolean;
}

function store(latest: number): TestStore {
  const source: TestStore = {
    latest,
    reads: 0,
    failing: false,
    latestCommitNo: () => source.latest,
    commitsAfter(after: number, limit: number): Commit[] {
      if (source.failing) throw new Error("store down");
      source.reads++;
      const out: Commit[] = [];
      for (let n = after + 1; n <= Math.min(source.latest, after + limit); n++) out.push(commit(n));
      return out;
    },
  };
  return source;
}

function sequencer(source: CommitSource, start = 0) {
  const order: string[] = [];
  const fromStore = (c: Commit): Deliverable => ({
    commitNo: c.commitNo,
    maxSeq: c.messages[0]?.seq ?? 0,
    run: () => order.push(`store:${c.commitNo}`),
  });
  const seq = new Sequencer(source, fromStore, { commitNo: start, seq: 100 + start });
  const bus = (n: number, own = false) =>
    seq.offer({
      commitNo: n,
      maxSeq: 100 + n,
      run: () => order.push(`${own ? "own" : "bus"}:${n}`),
    }, own);
  return { seq, order, bus };
}

Deno.test("commits that come in order are delivered as they come, none read from the store", () => {
  const source = store(3);
  const { seq, order, bus } = sequencer(source);
  bus(1);
  bus(2, true);
  bus(3);
  assert.deepEqual(order, ["bus:1", "own:2", "bus:3"]);
  assert.equal(seq.delivered, 3);
  assert.equal(seq.deliveredSeq, 103);
  assert.equal(source.reads, 0);
});

Deno.test("a commit that comes early waits for the missing one, read from the store", () => {
  const source = store(3);
  const { seq, order, bus } = sequencer(source);
  bus(3);
  assert.deepEqual(order, ["store:1", "store:2", "bus:3"]);
  bus(1); // late: delivered already
  bus(2);
  assert.deepEqual(order, ["store:1", "store:2", "bus:3"]);
  assert.equal(seq.delivered, 3);
});

Deno.test("this node's commit goes out after every earlier commit of the cluster", () => {
  const source = store(5);
  const { order, bus } = sequencer(source, 2);
  bus(5, true);
  assert.deepEqual(order, ["store:3", "store:4", "own:5"]);
});

Deno.test("a failing store holds commits until a poll gets through, in order", () => {
  const source = store(4);
  const { seq, order, bus } = sequencer(source);
  source.failing = true;
  bus(2, true);
  bus(4);
  assert.deepEqual(order, []);
  assert.equal(seq.held, 2);
  assert.throws(() => seq.poll(), /store down/);
  source.failing = false;
  seq.poll();
  // the own commit (its acks) and the bus's copy go out rather than the store's
  assert.deepEqual(order, ["store:1", "own:2", "store:3", "bus:4"]);
  assert.equal(seq.held, 0);
});

Deno.test("a poll delivers what the bus lost, a page at a time", () => {
  const source = store(450);
  const { seq, order } = sequencer(source);
  seq.poll(200);
  assert.equal(seq.delivered, 200);
  seq.poll(200);
  seq.poll(200);
  assert.equal(seq.delivered, 450);
  assert.equal(order.length, 450);
  assert.deepEqual(order.slice(0, 2), ["store:1", "store:2"]);
  seq.poll();
  assert.equal(order.length, 450, "nothing twice");
});

Deno.test("a commit not visible in the store yet is held, then goes in its turn", () => {
  const source = store(0); // commit 1 is not visible yet
  const { seq, order, bus } = sequencer(source);
  bus(2);
  assert.deepEqual(order, []);
  source.latest = 1;
  seq.poll();
  assert.deepEqual(order, ["store:1", "bus:2"]);
});

Deno.test(`at most ${MAX_HELD_COMMITS} commits of other nodes are held; the rest are read later`, () => {
  const source = store(0);
  const { seq, order, bus } = sequencer(source);
  for (let n = 2; n <= MAX_HELD_COMMITS + 10; n++) bus(n);
  assert.equal(seq.held, MAX_HELD_COMMITS);
  bus(MAX_HELD_COMMITS + 20, true); // own commits are always held: they carry acks
  assert.equal(seq.held, MAX_HELD_COMMITS + 1);
  source.latest = MAX_HELD_COMMITS + 19;
  for (let i = 0; i < 200 && seq.delivered < MAX_HELD_COMMITS + 20; i++) seq.poll();
  assert.equal(seq.delivered, MAX_HELD_COMMITS + 20);
  assert.equal(order.length, MAX_HELD_COMMITS + 20);
  assert.equal(new Set(order.map((o) => o.split(":")[1])).size, MAX_HELD_COMMITS + 20);
  assert.equal(order.at(-1), `own:${MAX_HELD_COMMITS + 20}`);
});
