// Unit tests for src/server/budget.ts: the server-wide output budget and flow control around it,
// with fake connections and an injected clock.
//
// Run: deno test -A tests/budget_test.ts

import assert from "node:assert/strict";
import {
  type BudgetMember,
  OutputBudget,
  OVER_BUDGET_CUT_MS,
  STALLED_CUT_MS,
} from "../src/server/budget.ts";

class FakeMember implements BudgetMember {
  heldBytes = 0;
  reading = true;
  wasCut = false;
  /** How long it has not drained (ms). */
  stalled = 0;
  constructor(readonly budget: OutputBudget) {}
  hold(bytes: number): void {
    this.heldBytes += bytes;
    this.budget.change(bytes);
  }
  stalledFor(_now: number): number {
    return this.heldBytes > 0 ? this.stalled : 0;
  }
  pauseReading(): void {
    this.reading = false;
  }
  resumeReading(): void {
    this.reading = true;
  }
  cut(): void {
    this.wasCut = true;
    this.budget.change(-this.heldBytes);
    this.heldBytes = 0;
    this.budget.forget(this);
  }
}

Deno.test("budget: a producer is paused only over the high watermark, resumed below the low one", () => {
  const clock = { t: 0 };
  const budget = new OutputBudget(1000, () => clock.t, (fn) => fn());
  assert.equal(budget.low, 500);
  const sender = new FakeMember(budget);
  const reader = new FakeMember(budget);
  reader.hold(1000);
  assert.equal(budget.over, false, "at the watermark is not over it");
  reader.hold(1);
  assert.equal(budget.over, true);
  budget.pause(sender);
  budget.pause(sender); // twice is once
  assert.equal(sender.reading, false);
  assert.equal(budget.pausedCount, 1);
  reader.hold(-400); // 601: still above the low watermark
  assert.equal(sender.reading, false, "not resumed between the watermarks");
  reader.hold(-101); // 500
  assert.equal(sender.reading, true, "resumed at the low watermark");
  assert.equal(budget.pausedCount, 0);
  assert.equal(budget.total, 500);
});

Deno.test("budget: over it for OVER_BUDGET_CUT_MS, the biggest holders are cut until below the low watermark", () => {
  const clock = { t: 0 };
  const budget = new OutputBudget(1000, () => clock.t, (fn) => fn());
  const members = [100, 700, 50, 400].map((bytes) => {
    const m = new FakeMember(budget);
    m.hold(bytes);
    return m;
  });
  const sender = new FakeMember(budget);
  budget.pause(sender);
  assert.equal(budget.enforce(members), 0, "nobody is cut at once");
  clock.t += OVER_BUDGET_CUT_MS - 1;
  assert.equal(budget.enforce(members), 0, "nor before the time is up");
  clock.t += 1;
  // 1,250 held: cutting the 700 leaves 550, still above 500; the 400 goes too
  assert.equal(budget.enforce(members), 2);
  assert.deepEqual(members.map((m) => m.wasCut), [false, true, false, true]);
  assert.equal(budget.total, 150);
  assert.equal(sender.reading, true, "the producer reads again");
  clock.t += OVER_BUDGET_CUT_MS * 10;
  assert.equal(budget.enforce(members), 0, "under budget nothing more is cut");
});

Deno.test("budget: dipping below the high watermark restarts the clock when nobody is paused", () => {
  const clock = { t: 0 };
  const budget = new OutputBudget(1000, () => clock.t, (fn) => fn());
  const m = new FakeMember(budget);
  m.hold(1500);
  clock.t += OVER_BUDGET_CUT_MS - 10;
  m.hold(-600); // 900: under the high watermark
  m.hold(600); // over again, from now
  clock.t += 20;
  assert.equal(budget.enforce([m]), 0);
  clock.t += OVER_BUDGET_CUT_MS;
  assert.equal(budget.enforce([m]), 1);
});

Deno.test("budget: readers that hold more than the low watermark and do not drain cannot keep a producer paused", () => {
  const clock = { t: 0 };
  const budget = new OutputBudget(1000, () => clock.t, (fn) => fn());
  const stuck = [new FakeMember(budget), new FakeMember(budget)];
  const fast = new FakeMember(budget);
  const sender = new FakeMember(budget);
  stuck[0].hold(450);
  stuck[1].hold(400);
  fast.hold(200); // 1,050: over
  budget.pause(sender);
  fast.hold(-200); // 850: under the high watermark, above the low one: still paused
  assert.equal(sender.reading, false);
  clock.t += OVER_BUDGET_CUT_MS;
  // the stuck readers are cut, biggest first, until the total is under the low watermark
  assert.equal(budget.enforce([...stuck, fast, sender]), 1);
  assert.deepEqual(stuck.map((m) => m.wasCut), [true, false]);
  assert.equal(sender.reading, true, "the producer reads again");
});

Deno.test("budget: a producer paused and resumed over and over is never a reason to cut", () => {
  const clock = { t: 0 };
  const budget = new OutputBudget(1000, () => clock.t, (fn) => fn());
  const reader = new FakeMember(budget);
  const sender = new FakeMember(budget);
  for (let i = 0; i < 100; i++) {
    reader.hold(1001 - reader.heldBytes); // over
    budget.pause(sender);
    clock.t += 100;
    reader.hold(-reader.heldBytes); // drained
    assert.equal(budget.enforce([reader, sender]), 0);
  }
});

Deno.test("budget: producers are resumed after the work that freed the budget, not in the middle of it", async () => {
  const budget = new OutputBudget(1000);
  const sender = new FakeMember(budget);
  const reader = new FakeMember(budget);
  reader.hold(1001);
  budget.pause(sender);
  reader.hold(-1001);
  assert.equal(sender.reading, false, "not yet: the fan-out that freed it is still running");
  await Promise.resolve();
  assert.equal(sender.reading, true);
});

Deno.test("budget: over it, readers that have stopped reading are cut at once, biggest first; the others are left alone", () => {
  const clock = { t: 0 };
  const budget = new OutputBudget(1000, () => clock.t, (fn) => fn());
  const stuck = [300, 500, 100].map((bytes) => {
    const m = new FakeMember(budget);
    m.hold(bytes);
    m.stalled = STALLED_CUT_MS;
    return m;
  });
  const slow = new FakeMember(budget);
  slow.hold(400);
  slow.stalled = STALLED_CUT_MS - 1; // draining, slowly
  const sender = new FakeMember(budget);
  const cuts: number[] = [];
  budget.onCut = (count) => cuts.push(count);
  budget.members = () => [...stuck, slow, sender];
  budget.pause(sender); // over: 1,300 held; the pause looks at once
  assert.deepEqual(stuck.map((m) => m.wasCut), [true, true, false], "500, then 300");
  assert.equal(slow.wasCut, false, "a reader that moves is not cut for being slow");
  assert.deepEqual(cuts, [2]);
  assert.equal(budget.total, 500);
  assert.equal(sender.reading, true);
});

Deno.test("budget: under it, nobody is cut, stalled or not", () => {
  const budget = new OutputBudget(1000, () => 0, (fn) => fn());
  const m = new FakeMember(budget);
  m.hold(900);
  m.stalled = STALLED_CUT_MS * 100;
  assert.equal(budget.enforce([m]), 0);
});
