// Search under load: a real SQLite file of 10,000 messages of 4,000 characters (40 MB of text)
// searched by a WorkerSearcher while a timer on the main thread measures event-loop lag.
// Prints what it measured (zzz, a worst-case pattern, re2js throughput) on one line.
//
// Run: deno test -A tests/e2e/search_load_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ALREADY_SEARCHING,
  compilePattern,
  MAX_PATTERN_PROGRAM_SIZE,
  MAX_PENDING_SEARCHES,
  MAX_SEARCHES_PER_USER,
  SEARCH_TIME_BUDGET_MS,
  type SearchOutcome,
  TOO_MANY_SEARCHES,
  WorkerSearcher,
} from "../../src/server/search/mod.ts";
import { SqliteStore } from "../../src/server/store/sqlite.ts";
import { GENERAL_ROOM } from "../../src/protocol/schema.ts";
import type { NewMessage } from "../../src/server/store/store.ts";
import { makeTempDir, removeDir, withTimeout } from "./harness.ts";

const MESSAGES = 10_000;
const LENGTH = 4_000;
const BATCH = 500;
/** Every this many messages one carries "Needle-<n>". */
const NEEDLE_EVERY = 400;
const NEEDLES = MESSAGES / NEEDLE_EVERY;
/** Bound on any one wait for searches (several time budgets, with a loaded machine's slack). */
const WAIT_MS = 60_000;

/** Near the program-size cap, nothing for the prefilter to skip by, never matching. */
const WORST_PATTERNS = ["[a-m].{295}[0-9]", "\\b(\\w*\\s*){49}[0-9]"];

/** Letters without z, and spaces: no text contains "zzz" or a digit. */
const ALPHABET = "abcdefghijklmnopqrstuvwxy     ";

function randomPool(size: number, seed: number): string {
  let state = seed;
  const chars: string[] = new Array(size);
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    chars[i] = ALPHABET[(state >>> 16) % ALPHABET.length];
  }
  return chars.join("");
}

function messageText(pool: string, i: number): string {
  const start = (i * 7_919) % (pool.length - LENGTH);
  const text = pool.slice(start, start + LENGTH);
  if (i % NEEDLE_EVERY !== 0) return text;
  const needle = ` Needle-${i} `;
  return text.slice(0, 2_000) + needle + text.slice(2_000 + needle.length);
}

function messageId(i: number): string {
  return `L${String(i).padStart(25, "0")}`;
}

/** The database, written straight through the store in batches (one transaction each). */
function buildDatabase(path: string): SqliteStore {
  const store = new SqliteStore(path);
  // the writers and the searchers are in GENERAL_ROOM, where the messages are
  const people = ["ann_0001", ...Array.from({ length: 8 }, (_, i) => `q${i}`)];
  for (let u = 0; u < 4; u++) people.push(`u${u}_0001`);
  for (const id of people) store.joinRoom(id, GENERAL_ROOM, 0);
  const pool = randomPool(1 << 20, 42);
  for (let first = 0; first < MESSAGES; first += BATCH) {
    const batch: { message: NewMessage }[] = [];
    for (let i = first; i < first + BATCH; i++) {
      batch.push({
        message: {
          id: messageId(i),
          from: `u${i % 4}_0001`,
          room: GENERAL_ROOM,
          text: messageText(pool, i),
          time: i,
        },
      });
    }
    store.insertMessages(batch);
  }
  return store;
}

/** Lateness of a 10 ms timer on this thread: what every delivery would wait. */
function lagMonitor(everyMs = 10): { stop(): number[] } {
  const lags: number[] = [];
  let expected = performance.now() + everyMs;
  const timer = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - expected));
    expected = now + everyMs;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return lags;
    },
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await withTimeout(work, WAIT_MS, "a search");
  return { value, ms: performance.now() - start };
}

function code(outcome: SearchOutcome): string {
  return outcome.ok ? "ok" : outcome.code;
}

Deno.test("search under load: off the event loop, prefiltered, bounded in time and in queue", async () => {
  const dir = await makeTempDir("chat-search-load-");
  const path = join(dir, "chat.db");
  const setupStart = performance.now();
  const store = buildDatabase(path);
  const setupMs = performance.now() - setupStart;
  const searcher = new WorkerSearcher(path, { recheck: (id) => store.message(id) });
  const queueing = new WorkerSearcher(path, { timeBudgetMs: 300 });
  const unbounded = new WorkerSearcher(path, { timeBudgetMs: 120_000 });
  try {
    for (const pattern of WORST_PATTERNS) {
      const compiled = compilePattern(pattern);
      assert.ok(compiled.ok && compiled.pattern.programSize <= MAX_PATTERN_PROGRAM_SIZE);
      assert.ok(compiled.ok && compiled.pattern.requiredLiterals.length === 0, pattern);
      assert.ok(compiled.ok && compiled.pattern.programSize > MAX_PATTERN_PROGRAM_SIZE - 5);
    }

    // correctness at scale (and the worker warmed up): every needle, newest first
    const needles = await timed(
      searcher.search({ userId: "u1_0001", pattern: "needle-\\d+", limit: 50 }),
    );
    assert.ok(needles.value.ok);
    assert.equal(needles.value.total, NEEDLES);
    assert.deepEqual(
      needles.value.messages.map((m) => m.id),
      Array.from({ length: NEEDLES }, (_, k) => messageId((NEEDLES - 1 - k) * NEEDLE_EVERY)),
    );

    // (b) zzz: the prefilter skips every text without running RE2
    const zzz = await timed(searcher.search({ userId: "u1_0001", pattern: "zzz", limit: 50 }));
    assert.deepEqual(zzz.value, { ok: true, total: 0, messages: [] });
    assert.ok(zzz.ms < 1_000, `zzz over 40 MB took ${zzz.ms.toFixed(0)} ms`);

    // (a) three worst-case searches at once, queued in the worker: the event loop barely notices
    const idle = lagMonitor();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const idleLags = idle.stop();
    const monitor = lagMonitor();
    const worstStart = performance.now();
    const [slow1, slow2, fast] = await withTimeout(
      Promise.all([
        searcher.search({ userId: "u1_0001", pattern: WORST_PATTERNS[0], limit: 50 }),
        searcher.search({ userId: "u2_0001", pattern: WORST_PATTERNS[1], limit: 50 }),
        searcher.search({ userId: "u3_0001", pattern: "zzz", limit: 50 }),
      ]),
      WAIT_MS,
      "three worst-case searches",
    );
    const worstMs = performance.now() - worstStart;
    const lags = monitor.stop();
    const p99 = percentile(lags, 0.99);
    assert.ok(lags.length > 100, `only ${lags.length} timer ticks in ${worstMs.toFixed(0)} ms`);
    assert.ok(p99 < 50, `event-loop lag p99 ${p99.toFixed(1)} ms during the searches`);

    // (c) what cannot finish within the budget is stopped, with a sentence saying so
    for (const slow of [slow1, slow2]) {
      assert.deepEqual(slow, {
        ok: false,
        code: "search_timeout",
        message: "that search took longer than 3 s and was stopped; try a more specific pattern",
      });
    }
    assert.deepEqual(fast, { ok: true, total: 0, messages: [] });
    assert.ok(worstMs >= 2 * SEARCH_TIME_BUDGET_MS, "both ran up to their budget");
    assert.ok(worstMs < 2 * SEARCH_TIME_BUDGET_MS + 5_000, `took ${worstMs.toFixed(0)} ms`);

    // a purge while the worker reads page after page is not kept waiting by it, and what it
    // purged is not among the results
    const scanning = searcher.search({ userId: "u1_0001", pattern: "needle-\\d+", limit: 50 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const purgeStart = performance.now();
    assert.equal(store.purge([messageId(0)], "deleted").length, 1);
    const purgeMs = performance.now() - purgeStart;
    const afterPurge = await withTimeout(scanning, WAIT_MS, "a search during a purge");
    assert.ok(afterPurge.ok && afterPurge.total === NEEDLES - 1, JSON.stringify(code(afterPurge)));
    assert.ok(!afterPurge.messages.some((m) => m.id === messageId(0)));
    assert.ok(purgeMs < 1_000, `a purge took ${purgeMs.toFixed(0)} ms`);
    assert.equal((await Deno.stat(`${path}-wal`)).size, 0, "the WAL was checkpointed and emptied");

    // (d) MAX_SEARCHES_PER_USER per user, at most MAX_PENDING_SEARCHES waiting behind the running one
    await withTimeout(
      queueing.search({ userId: "warm", pattern: "zzz", limit: 1 }),
      WAIT_MS,
      "warm",
    );
    const worst = { pattern: WORST_PATTERNS[0], limit: 50 };
    const running = queueing.search({ userId: "ann_0001", ...worst });
    const refusal = (userId: string) =>
      withTimeout(queueing.search({ userId, ...worst }), WAIT_MS, "a refusal");
    const anns = Array.from(
      { length: MAX_SEARCHES_PER_USER - 1 },
      () => queueing.search({ userId: "ann_0001", ...worst }),
    );
    assert.deepEqual(await refusal("ann_0001"), ALREADY_SEARCHING);
    const bad = await withTimeout(
      queueing.search({ userId: "ann_0001", pattern: "(unclosed", limit: 1 }),
      WAIT_MS,
      "a bad pattern",
    );
    assert.equal(code(bad), "bad_pattern", "a bad pattern is refused before the queue");
    const waiting = [
      ...anns,
      ...Array.from(
        { length: MAX_PENDING_SEARCHES - anns.length },
        (_, i) => queueing.search({ userId: `q${i}`, ...worst }),
      ),
    ];
    assert.deepEqual(await refusal("late"), TOO_MANY_SEARCHES);
    const settled = await withTimeout(Promise.all([running, ...waiting]), WAIT_MS, "the queue");
    assert.deepEqual(settled.map(code), new Array(9).fill("search_timeout"));
    // once answered, the same user may search again
    const again = await withTimeout(
      queueing.search({ userId: "ann_0001", pattern: "zzz", limit: 1 }),
      WAIT_MS,
      "a search after the queue drained",
    );
    assert.equal(code(again), "ok");

    // measurements: RE2 on every text (no literal to prefilter by) and one worst-case message
    const full = await timed(
      unbounded.search({ userId: "u1_0001", pattern: "[0-9]{5}", limit: 1 }),
    );
    assert.deepEqual(full.value, { ok: true, total: 0, messages: [] });
    const megabytes = (MESSAGES * LENGTH) / 1e6;
    // distinct texts, as in a real scan: re2js's DFA cache does not carry over between them
    const samples = Array.from({ length: 20 }, (_, i) => store.message(messageId(i + 1))!.text);
    const perMessage = WORST_PATTERNS.map((pattern) => {
      const compiled = compilePattern(pattern);
      assert.ok(compiled.ok);
      const start = performance.now();
      for (const sample of samples) assert.ok(!compiled.pattern.matches(sample));
      return (performance.now() - start) / samples.length;
    });
    console.log(
      `setup ${(setupMs / 1000).toFixed(1)} s; needle ${needles.ms.toFixed(0)} ms; ` +
        `zzz ${zzz.ms.toFixed(0)} ms over ${megabytes} MB; ` +
        `full RE2 scan ${full.ms.toFixed(0)} ms (${
          (megabytes / (full.ms / 1000)).toFixed(1)
        } MB/s); ` +
        `worst per 4,000-char message ${perMessage.map((ms) => ms.toFixed(0)).join(" / ")} ms ` +
        `(whole db ≈ ${(Math.max(...perMessage) * MESSAGES / 1000).toFixed(0)} s: stopped at ` +
        `${SEARCH_TIME_BUDGET_MS / 1000} s); three worst-case searches ${worstMs.toFixed(0)} ms; ` +
        `event-loop lag p99 ${p99.toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms ` +
        `(idle p99 ${percentile(idleLags, 0.99).toFixed(1)} ms); purge ${purgeMs.toFixed(0)} ms`,
    );
  } finally {
    searcher.close();
    queueing.close();
    unbounded.close();
    store.close();
    await removeDir(dir);
  }
});
