// Unit tests for src/server/search/: compilePattern and its cap, the required-literal prefilter
// (property-tested against re2js itself: it must never skip a text the regex matches), the
// database scan against the store's own search, InlineSearcher and WorkerSearcher; the same scan
// and searcher over PostgreSQL (a real one, started for this file).
//
// Run: deno test -A tests/search_test.ts

import assert from "node:assert/strict";
import { join } from "node:path";
import { fc } from "./deps.ts";
import { RE2JS } from "re2js";
import {
  compilePattern,
  containsAll,
  foldForPrefilter,
  InlineSearcher,
  MAX_PATTERN_PROGRAM_SIZE,
  requiredLiterals,
  SCAN_PAGE_ROWS,
  searcherFor,
  type SearchOutcome,
  type SearchPattern,
  WorkerSearcher,
} from "../src/server/search/mod.ts";
import { DatabaseScanner } from "../src/server/search/scan.ts";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import type { NewMessage, Store } from "../src/server/store/store.ts";
import { PostgresStore } from "../src/server/store/postgres.ts";
import { PostgresScanner } from "../src/server/search/pg_scan.ts";
import { sharedPostgres } from "./engines.ts";
import { inGeneral, mid } from "./fixtures.ts";
import { GENERAL_ROOM } from "../src/protocol/schema.ts";

/** Every wait on a worker ends by this, whatever happens. */
const WAIT_LIMIT_MS = 20_000;

function compiled(pattern: string): SearchPattern {
  const result = compilePattern(pattern);
  if (!result.ok) throw new Error(`${pattern}: ${result.message}`);
  return result.pattern;
}

/** What re2js itself says, the way the hub searched before: the reference. */
function reference(pattern: string): RE2JS | null {
  try {
    return RE2JS.compile(pattern, RE2JS.CASE_INSENSITIVE);
  } catch {
    return null;
  }
}

function within<T>(promise: Promise<T>, ms = WAIT_LIMIT_MS, what = "a search"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

// ---- compilePattern --------------------------------------------------------------------------

Deno.test("compilePattern: case-insensitive RE2, including the folds of k and s", () => {
  const pattern = compiled("^hel+o k");
  assert.ok(pattern.matches("HELLO K"));
  assert.ok(pattern.matches("helo \u212a"), "K (Kelvin sign) folds to k");
  assert.ok(!pattern.matches("say hello k"));
  assert.ok(compiled("stop").matches("\u017fTOP"), "ſ folds to s");
  assert.ok(compiled("(a+)+$b").matches("x") === false, "no catastrophic backtracking");
});

Deno.test("compilePattern: a syntax error is bad_pattern naming the problem, without (?i)", () => {
  const result = compilePattern("(unclosed");
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.code, "bad_pattern");
  assert.equal(
    result.message,
    "that pattern is not a valid regular expression: missing closing ): `(unclosed`",
  );
  for (const bad of ["a**", "[z-a]", "x{1001}", "\\8", "a)", "(?P<n>a)(?P<n>b)"]) {
    const refused = compilePattern(bad);
    assert.ok(!refused.ok && refused.code === "bad_pattern", bad);
    assert.ok(!refused.ok && !refused.message.includes("(?i)"), bad);
  }
});

Deno.test("compilePattern: re2js's TypeError on a valid pattern (\\pN) is a clean bad_pattern", () => {
  assert.throws(() => RE2JS.compile("\\pN", RE2JS.CASE_INSENSITIVE), TypeError);
  const result = compilePattern("\\pN");
  assert.deepEqual(result, {
    ok: false,
    code: "bad_pattern",
    message: "that pattern could not be compiled by the search engine; try writing it another way",
  });
  assert.ok(!compilePattern("[\\p{L}\\p{N}]{10}").ok);
});

Deno.test("compilePattern: never throws, whatever the string", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 256 }), (source) => {
      const result = compilePattern(source);
      assert.ok(result.ok || (result.code === "bad_pattern" && result.message.length > 0));
    }),
    { numRuns: 2_000 },
  );
});

Deno.test("compilePattern: refuses a program over MAX_PATTERN_PROGRAM_SIZE, naming its size", () => {
  assert.equal(MAX_PATTERN_PROGRAM_SIZE, 300);
  assert.equal(compiled("zzz").programSize, 5);
  assert.equal(compiled("(.*a){59}").programSize, 297);
  const over = compilePattern("(.*a){60}");
  assert.deepEqual(over, {
    ok: false,
    code: "bad_pattern",
    message:
      "that pattern is too complex to search with (it compiles to 302 steps, at most 300); " +
      "try a shorter or more specific one",
  });
  // the cap is checked on the compiled program, so nesting cannot hide size
  assert.ok(!compilePattern("((.*a){10}){10}").ok);
  // every literal up to the protocol's 256 characters fits, ASCII or not
  assert.ok(compilePattern("x".repeat(256)).ok);
  assert.ok(compilePattern("é".repeat(256)).ok);
  assert.ok(compilePattern("\\.".repeat(128)).ok);
});

// ---- the prefilter ---------------------------------------------------------------------------

Deno.test("requiredLiterals: literal runs every match must contain", () => {
  const cases: Record<string, [pattern: string, literals: string[]][]> = {
    "plain text, folded": [["hello", ["hello"]], ["Hello World", ["hello world"]], ["KS", ["ks"]]],
    "repeats cut it": [["^hel+o", ["hel", "lo"]], ["colou?r", ["colo", "r"]], ["ab*c", ["a", "c"]]],
    "a count keeps one": [["x{2}y", ["xy"]], ["x{0,3}y", ["y"]], ["x{2,}?y", ["xy"]]],
    "escaped punctuation is literal": [["\\.txt$", [".txt"]], ["a\\+b\\\\c", ["a+b\\c"]]],
    "a class is skipped": [["[abc]def", ["def"]], ["[]a]bc", ["bc"]], ["[^]a]bc", ["bc"]]],
    "a class ends at its real ]": [["[a\\]]bc", ["bc"]]],
    "groups": [["(abc)+d", ["abc", "d"]], ["(abc)?d", ["d"]], ["(?:foo)*bar", ["bar"]]],
    "named groups": [["(?P<w>foo)bar", ["foo", "bar"]], ["(?<w>foo)bar", ["foo", "bar"]]],
    "not ASCII ends a run": [["caf\u00e9 bar", [" bar", "caf"]], ["😀x", ["x"]]],
    "assertions and classes end a run": [["\\bfoo\\b", ["foo"]], ["\\d+ items", [" items"]]],
    "Unicode classes end a run": [["\\pLfoo\\p{Greek}", ["foo"]]],
    "hex escapes end a run": [["\\x41bc\\x{42}", ["bc"]]],
    "any character ends a run": [["a.b", ["a", "b"]]],
    "braces that are no count": [["a{", ["a{"]], ["a{,3}", ["a{,3}"]], ["a}]", ["a}]"]]],
    "nothing required": [["", []], [".*", []]],
  };
  for (const [group, pairs] of Object.entries(cases)) {
    for (const [pattern, expected] of pairs) {
      assert.deepEqual(requiredLiterals(pattern), expected, `${group}: ${pattern}`);
    }
  }
});

Deno.test("requiredLiterals: bails out to none on what it does not follow", () => {
  for (
    const pattern of [
      "a|b",
      "foo(a|b)bar",
      "(?i)abc",
      "(?s:abc)",
      "(?-i)abc",
      "\\Qa.b\\E",
      "x\\\\Qy",
      "[[:alpha:]]x",
      "[a[]x",
      "b{01}c",
      "\\0abc",
      "\\Cabc",
      "a**",
      "*a",
      "abc)",
      "(abc",
      "[abc",
      "abc\\",
    ]
  ) {
    assert.deepEqual(requiredLiterals(pattern), [], pattern);
  }
});

Deno.test("foldForPrefilter: lower case, with ſ as s and K as k (RE2's folds)", () => {
  assert.equal(foldForPrefilter("ABC xyz"), "abc xyz");
  assert.equal(foldForPrefilter("\u017ftop \u212aey"), "stop key");
  assert.ok(containsAll(foldForPrefilter("A \u017fIGN"), ["sign", "a "]));
  assert.ok(!containsAll(foldForPrefilter("sig n"), ["sign"]));
});

/** A pattern piece and a string it matches (chosen as the pattern is generated). */
interface Piece {
  pattern: string;
  sample: string;
}

const TEXT_CHARS = [..."abksxyzKS019 .-_()[]{}\\\n", "\u017f", "\u212a", "é", "É", "λ", "😀"];
const textChar = fc.constantFrom(...TEXT_CHARS);
const text = fc.array(textChar, { maxLength: 12 }).map((chars) => chars.join(""));

/** One character as it may appear in a matching text: any of its case-insensitive forms. */
function variants(c: string): string[] {
  if (c === "k") return ["k", "K", "\u212a"];
  if (c === "s") return ["s", "S", "\u017f"];
  return [...new Set([c, c.toLowerCase(), c.toUpperCase()])];
}

const leaf: fc.Arbitrary<Piece> = fc.oneof(
  // literal characters, written as themselves or escaped, matched in any case
  fc.constantFrom(..."abksxyzKS019 -_").chain((c) =>
    fc.constantFrom(...variants(c)).map((sample) => ({ pattern: c, sample }))
  ),
  fc.constantFrom(..."._-()[]{}*+?|^$\\").map((c) => ({ pattern: `\\${c}`, sample: c })),
  fc.constantFrom<Piece>(
    { pattern: ".", sample: "é" },
    { pattern: ".", sample: "x" },
    { pattern: "[a-c]", sample: "B" },
    { pattern: "[^k]", sample: "x" },
    { pattern: "[]a]", sample: "]" },
    { pattern: "[\\]x]", sample: "]" },
    { pattern: "[k-s]", sample: "\u017f" },
    { pattern: "\\d", sample: "7" },
    { pattern: "\\w", sample: "q" },
    { pattern: "\\s", sample: " " },
    { pattern: "\\S", sample: "k" },
    { pattern: "\\pL", sample: "λ" },
    { pattern: "\\p{Greek}", sample: "λ" },
    { pattern: "\\x41", sample: "a" },
    { pattern: "\\x{4B}", sample: "\u212a" },
    { pattern: "é", sample: "É" },
    { pattern: "😀", sample: "😀" },
    { pattern: "\\n", sample: "\n" },
    { pattern: "\\b", sample: "" },
    { pattern: "^", sample: "" },
    { pattern: "$", sample: "" },
    { pattern: "{", sample: "{" },
    { pattern: "}", sample: "}" },
    { pattern: "]", sample: "]" },
  ),
);

/** `literal`: RE2 reads it as text after the atom, not as a count. */
const QUANTIFIERS: { text: string; min: number; max: number; literal?: true }[] = [
  { text: "?", min: 0, max: 1 },
  { text: "*", min: 0, max: 2 },
  { text: "+", min: 1, max: 2 },
  { text: "{2}", min: 2, max: 2 },
  { text: "{0,2}", min: 0, max: 2 },
  { text: "{1,}", min: 1, max: 3 },
  { text: "{2,3}", min: 2, max: 3 },
  { text: "+?", min: 1, max: 2 },
  { text: "??", min: 0, max: 1 },
  { text: "{01}", min: 1, max: 1, literal: true },
  { text: "{1,02}", min: 1, max: 1, literal: true },
  { text: "{,2}", min: 1, max: 1, literal: true },
];

const { piece } = fc.letrec<{ piece: Piece; sequence: Piece; group: Piece }>((tie) => ({
  // what the prefilter bails out on is rarer, so most patterns keep literals to check
  piece: fc.oneof(
    { maxDepth: 3, withCrossShrink: true },
    { arbitrary: leaf, weight: 8 },
    {
      // a quantified atom: the sample repeats the atom's sample as often as allowed
      arbitrary: fc.tuple(fc.oneof(leaf, tie("group")), fc.constantFrom(...QUANTIFIERS), fc.nat(3))
        .map(([atom, q, n]) => ({
          pattern: atom.pattern + q.text,
          sample: q.literal
            ? atom.sample + q.text
            : atom.sample.repeat(q.min + (n % (q.max - q.min + 1))),
        })),
      weight: 4,
    },
    { arbitrary: tie("group"), weight: 2 },
    {
      // alternation, flags and quoting: the prefilter must give up on them, never guess
      arbitrary: fc.tuple(tie("sequence"), tie("sequence"), fc.boolean()).map((
        [a, b, left],
      ) => ({ pattern: `(${a.pattern}|${b.pattern})`, sample: left ? a.sample : b.sample })),
      weight: 1,
    },
    {
      arbitrary: fc.tuple(fc.constantFrom("(?i)", "(?s)", "(?-i)", "(?U)"), tie("sequence"))
        .map(([flags, rest]) => ({ pattern: flags + rest.pattern, sample: rest.sample })),
      weight: 1,
    },
    {
      arbitrary: fc.constantFrom("a.b", "k(s", "x|y").map((quoted) => ({
        pattern: `\\Q${quoted}\\E`,
        sample: quoted,
      })),
      weight: 1,
    },
  ),
  sequence: fc.array(tie("piece"), { minLength: 1, maxLength: 4 }).map((pieces) => ({
    pattern: pieces.map((p) => p.pattern).join(""),
    sample: pieces.map((p) => p.sample).join(""),
  })),
  group: fc.tuple(fc.constantFrom("(", "(?:", "(", "(?:", "(?P<g>", "(?<h>"), tie("sequence")).map((
    [open, inner],
  ) => ({ pattern: `${open}${inner.pattern})`, sample: inner.sample })),
}));

const generated = fc.array(piece, { minLength: 1, maxLength: 5 }).map((pieces) => ({
  pattern: pieces.map((p) => p.pattern).join(""),
  sample: pieces.map((p) => p.sample).join(""),
}));

/**
 * The property: wherever re2js finds a match the prefilter keeps the text, and the compiled
 * pattern (prefilter, then re2js's DFA path) answers exactly as re2js's matcher().find().
 */
function checkAgainstRe2(pattern: string, texts: string[], seen: { matched: number }): void {
  const re2 = reference(pattern);
  if (!re2) return;
  const ours = compilePattern(pattern);
  if (!ours.ok) {
    assert.ok(re2.programSize() > MAX_PATTERN_PROGRAM_SIZE, pattern);
    return;
  }
  const literals = requiredLiterals(pattern);
  for (const candidate of texts) {
    const expected = re2.matcher(candidate).find();
    if (expected) {
      if (literals.length > 0) seen.matched++;
      assert.ok(
        containsAll(foldForPrefilter(candidate), literals),
        `prefilter ${JSON.stringify(literals)} skipped ${JSON.stringify(candidate)}, ` +
          `which ${JSON.stringify(pattern)} matches`,
      );
    }
    assert.equal(ours.pattern.matches(candidate), expected, `${pattern} on ${candidate}`);
  }
}

Deno.test("prefilter property: never skips a text re2js matches (generated patterns)", () => {
  const seen = { matched: 0 };
  fc.assert(
    fc.property(generated, text, text, text, (g, before, after, other) => {
      checkAgainstRe2(g.pattern, [g.sample, before + g.sample + after, other], seen);
    }),
    { numRuns: 10_000 },
  );
  // the property was put to the test: many matching texts had literals to check
  assert.ok(seen.matched > 2_000, `only ${seen.matched} matches with literals`);
});

Deno.test("prefilter property: never skips a text re2js matches (random pattern soup)", () => {
  const token = fc.constantFrom(
    ..."abksKS01 .^$*+?|()[]{}\\-,:<>=!",
    "\u017f",
    "\u212a",
    "é",
    "(?:",
    "(?P<n>",
    "(?i)",
    "\\Q",
    "\\E",
    "\\b",
    "\\pL",
    "\\p{Greek}",
    "\\x41",
    "\\d",
    "[[:alpha:]]",
    "{2}",
    "{0,1}",
    "{1,}",
    "{01}",
    "{,2}",
  );
  const seen = { matched: 0 };
  fc.assert(
    fc.property(
      fc.array(token, { maxLength: 10 }).map((tokens) => tokens.join("")),
      fc.array(text, { minLength: 1, maxLength: 6 }),
      (pattern, texts) => checkAgainstRe2(pattern, texts, seen),
    ),
    { numRuns: 15_000 },
  );
  assert.ok(seen.matched > 100, `only ${seen.matched} matches with literals`);
});

Deno.test("prefilter: skips texts without the literal, so zzz over 40 MB is fast", () => {
  const pattern = compiled("zzz");
  assert.deepEqual(pattern.requiredLiterals, ["zzz"]);
  const message = "lorem ipsum dolor sit amet ".repeat(150).slice(0, 4_000);
  const start = performance.now();
  let found = 0;
  for (let i = 0; i < 10_000; i++) if (pattern.matches(message)) found++;
  const elapsed = performance.now() - start;
  assert.equal(found, 0);
  assert.ok(elapsed < 1_000, `zzz over 40 MB took ${elapsed.toFixed(0)} ms`);
});

// ---- the database scan -----------------------------------------------------------------------

const USERS = ["ann_0001", "bob_0002", "cy_0003"];
const WORDS = ["apple", "Banana", "kiwi", "\u017ftar", "STAR", "\u212aiwi", "néedle", "x"];

/** A file database with public and direct messages, replies, and purged ones. */
function populate(store: Store, count: number, seed: number): string[] {
  let state = seed;
  const random = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return (state >>> 16) % n;
  };
  const ids: string[] = [];
  inGeneral(store, ...USERS);
  store.joinRoom("ann_0001", "#side", 0, { private: true });
  for (let i = 0; i < count; i++) {
    const words = Array.from({ length: 1 + random(4) }, () => WORDS[random(WORDS.length)]);
    const message: NewMessage = {
      id: mid(i),
      from: USERS[random(3)],
      text: words.join(" "),
      time: 1_000 + i,
    };
    if (random(3) === 0) message.to = [USERS[random(3)]];
    // public ones in GENERAL_ROOM, where everyone is, or in a room only ann is in
    else message.room = random(4) === 0 ? "#side" : GENERAL_ROOM;
    if (ids.length > 0 && random(5) === 0) message.replyTo = ids[random(ids.length)];
    store.insertMessage(message);
    ids.push(message.id);
  }
  store.purge(ids.filter((_, i) => i % 7 === 3), "deleted");
  return ids;
}

async function withDatabase(
  fn: (store: SqliteStore, path: string, ids: string[]) => Promise<void> | void,
  count = 450,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-search-" });
  const path = join(dir, "chat.db");
  const store = new SqliteStore(path);
  try {
    await fn(store, path, populate(store, count, 7));
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const PATTERNS = ["star", "kiwi", "^apple", "banana$", "x", "needle", "ne+dle|apple", "zzz", "."];

Deno.test("DatabaseScanner: exactly the store's search, in pages, for every user", async () => {
  await withDatabase((store, path) => {
    assert.ok(store.latestSeq() > 2 * SCAN_PAGE_ROWS, "several pages");
    const scanner = new DatabaseScanner(path);
    try {
      for (const userId of [...USERS, "nobody_0009"]) {
        for (const source of PATTERNS) {
          const pattern = compiled(source);
          const expected = store.search(userId, pattern.matches, 7);
          const outcome = scanner.search({ userId, pattern: source, limit: 7 }, 60_000);
          assert.deepEqual(outcome, { ok: true, ...expected }, `${userId} ${source}`);
        }
      }
      // replies carry their quote, or that the original was purged
      const replies = scanner.search({ userId: "ann_0001", pattern: ".", limit: 500 }, 60_000);
      assert.ok(replies.ok);
      const quotes = replies.messages.filter((m) => m.quote).map((m) => m.quote!);
      assert.ok(quotes.some((q) => "deleted" in q) && quotes.some((q) => "from" in q));
    } finally {
      scanner.close();
    }
  });
});

Deno.test("DatabaseScanner: bad patterns and the time budget", async () => {
  await withDatabase((_store, path) => {
    const scanner = new DatabaseScanner(path);
    try {
      const request = { userId: "ann_0001", limit: 5 };
      const bad = scanner.search({ ...request, pattern: "\\pN" }, 60_000);
      assert.equal(!bad.ok && bad.code, "bad_pattern");
      const late = scanner.search({ ...request, pattern: "kiwi" }, -1);
      assert.deepEqual(late, {
        ok: false,
        code: "search_timeout",
        message: "that search took longer than 0 s and was stopped; try a more specific pattern",
      });
    } finally {
      scanner.close();
    }
  });
});

// ---- InlineSearcher --------------------------------------------------------------------------

Deno.test("InlineSearcher: the store's results, newest first, with the cap and bad patterns", async () => {
  const store = new SqliteStore(":memory:");
  try {
    populate(store, 120, 3);
    const searcher = new InlineSearcher(store);
    const pattern = compiled("kiwi");
    const expected = store.search("bob_0002", pattern.matches, 5);
    const outcome = await searcher.search({ userId: "bob_0002", pattern: "kiwi", limit: 5 });
    assert.deepEqual(outcome, { ok: true, ...expected });
    assert.ok(expected.total > 5 && expected.messages.length === 5);
    const seqs = expected.messages.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), "newest first");
    assert.deepEqual(
      searcher.searchNow({ userId: "bob_0002", pattern: "kiwi", limit: 5 }),
      outcome,
    );

    const capped = await searcher.search({ userId: "bob_0002", pattern: "(.*a){60}", limit: 5 });
    assert.equal(!capped.ok && capped.code, "bad_pattern");
    const broken = await searcher.search({ userId: "bob_0002", pattern: "\\pN", limit: 5 });
    assert.equal(!broken.ok && broken.code, "bad_pattern");

    searcher.close();
    await assert.rejects(searcher.search({ userId: "bob_0002", pattern: "kiwi", limit: 5 }));
  } finally {
    store.close();
  }
});

Deno.test("InlineSearcher: stops with search_timeout past its time budget", () => {
  const store = new SqliteStore(":memory:");
  try {
    const text = "lorem ipsum dolor sit amet ".repeat(150).slice(0, 4_000);
    inGeneral(store, "ann_0001");
    for (let i = 0; i < 200; i++) {
      store.insertMessage({ id: `id-${i}`, from: "ann_0001", room: GENERAL_ROOM, text, time: i });
    }
    const searcher = new InlineSearcher(store, { timeBudgetMs: 1 });
    // near the cap, no literal to skip by, never matching: tens of ms a message
    const outcome = searcher.searchNow({
      userId: "ann_0001",
      pattern: "[a-m].{290}[0-9]",
      limit: 5,
    });
    assert.deepEqual(outcome, {
      ok: false,
      code: "search_timeout",
      message: "that search took longer than 0 s and was stopped; try a more specific pattern",
    });
    // the store is usable afterwards: the aborted scan left no statement open
    const quick = new InlineSearcher(store).searchNow({
      userId: "ann_0001",
      pattern: "lorem",
      limit: 1,
    });
    assert.ok(quick.ok && quick.total === 200);
  } finally {
    store.close();
  }
});

// ---- WorkerSearcher --------------------------------------------------------------------------

Deno.test("WorkerSearcher: the scan's results through a worker; close fails what is pending", async () => {
  await withDatabase(async (store, path) => {
    const searcher = new WorkerSearcher(path);
    const scanner = new DatabaseScanner(path);
    try {
      for (const source of ["star", "needle", "(x"]) {
        const request = { userId: "cy_0003", pattern: source, limit: 10 };
        const outcome = await within(searcher.search(request));
        assert.deepEqual(outcome, scanner.search(request, 60_000), source);
      }
      const pending = searcher.search({ userId: "cy_0003", pattern: "kiwi", limit: 10 });
      searcher.close();
      await assert.rejects(within(pending), /the searcher was closed/);
      await assert.rejects(searcher.search({ userId: "cy_0003", pattern: "kiwi", limit: 1 }));
    } finally {
      searcher.close();
      scanner.close();
    }
    assert.ok(store.latestSeq() > 0);
  });
});

Deno.test("WorkerSearcher: results are read again on the main thread (a purge in between)", async () => {
  await withDatabase(async (store, path) => {
    const request = { userId: "ann_0001", pattern: "kiwi", limit: 10 };
    const plain = new WorkerSearcher(path);
    let before: SearchOutcome;
    try {
      before = await within(plain.search(request));
    } finally {
      plain.close();
    }
    assert.ok(before.ok && before.messages.length >= 3);
    const [gone, changed] = before.messages;
    const searcher = new WorkerSearcher(path, {
      // as if `gone` were purged, and `changed`'s original too, after the worker read them
      recheck: (id) =>
        id === gone.id
          ? null
          : id === changed.id
          ? { ...store.message(id)!, quote: { deleted: true } }
          : store.message(id),
    });
    try {
      const after = await within(searcher.search(request));
      assert.ok(after.ok);
      assert.equal(after.total, before.total - 1);
      assert.deepEqual(after.messages.map((m) => m.id), before.messages.slice(1).map((m) => m.id));
      assert.deepEqual(after.messages[0].quote, { deleted: true });

      // and for real: purged while the search may be running, it never comes back
      const live = await within(searcher.search({ ...request, pattern: "." }));
      assert.ok(live.ok);
      const victim = live.messages[0];
      const running = searcher.search({ ...request, pattern: "." });
      store.purge([victim.id], "deleted");
      const result = await within(running);
      assert.ok(result.ok && !result.messages.some((m) => m.id === victim.id));
      assert.equal(result.total, live.total - 1);
    } finally {
      searcher.close();
    }
  });
});

Deno.test("WorkerSearcher: a database that cannot be opened fails the search, not the process", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-search-" });
  const searcher = new WorkerSearcher(join(dir, "missing.db"));
  try {
    await assert.rejects(
      within(searcher.search({ userId: "ann_0001", pattern: "x", limit: 1 })),
      /cannot open the database to search/,
    );
  } finally {
    searcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("searcherFor: a worker for a database file, inline for an in-memory one", async () => {
  const memory = new SqliteStore(":memory:");
  try {
    assert.ok(searcherFor(memory, ":memory:") instanceof InlineSearcher);
    assert.throws(() => new WorkerSearcher(":memory:"), /use InlineSearcher/);
  } finally {
    memory.close();
  }
  await withDatabase(async (store, path) => {
    const searcher = searcherFor(store, path);
    try {
      assert.ok(searcher instanceof WorkerSearcher);
      const outcome = await within(
        searcher.search({ userId: "bob_0002", pattern: "kiwi", limit: 3 }),
      );
      assert.deepEqual(outcome, {
        ok: true,
        ...store.search("bob_0002", compiled("kiwi").matches, 3),
      });
    } finally {
      searcher.close();
    }
  });
});

/** A worker module from source text: stands in for a stuck or crashing search worker. */
function workerFrom(source: string): string {
  return `data:application/javascript,${encodeURIComponent(source)}`;
}

Deno.test("WorkerSearcher: a worker that never answers is stopped past the budget", async () => {
  const silent = workerFrom(
    `self.onmessage = (e) => { if (e.data.type === "open") self.postMessage({ type: "ready" }); };`,
  );
  const searcher = new WorkerSearcher("unused.db", { workerUrl: silent, timeBudgetMs: 100 });
  try {
    const start = performance.now();
    const outcome = await within(searcher.search({ userId: "ann_0001", pattern: "x", limit: 1 }));
    assert.equal(!outcome.ok && outcome.code, "search_timeout");
    assert.ok(performance.now() - start >= 2_000, "the worker's own budget, then the grace");
  } finally {
    searcher.close();
  }
});

// Deno prints the stand-in worker's uncaught "boom" on stderr: expected
Deno.test("WorkerSearcher: a worker that crashes fails that search; the next gets a new worker", async () => {
  const crashing = workerFrom(
    `self.onmessage = (e) => {
       if (e.data.type === "open") self.postMessage({ type: "ready" });
       else throw new Error("boom");
     };`,
  );
  const searcher = new WorkerSearcher("unused.db", { workerUrl: crashing });
  try {
    const request = { userId: "ann_0001", pattern: "x", limit: 1 };
    await assert.rejects(within(searcher.search(request)), /the search worker failed/);
    await assert.rejects(within(searcher.search(request)), /the search worker failed/);
  } finally {
    searcher.close();
  }
});

// ---- PostgreSQL -------------------------------------------------------------------------------

const postgres = sharedPostgres();

/** A test on PostgreSQL: the store's worker and the server outlive a test's op accounting. */
function pgTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

pgTest(
  "PostgresScanner: exactly what the SQLite scan finds in the same history, in pages, for every user and room",
  async () => {
    const url = await postgres.freshDatabase();
    const store = new PostgresStore(url);
    const scanner = new PostgresScanner(url);
    try {
      populate(store, 450, 7);
      assert.ok(store.latestSeq() > 2 * SCAN_PAGE_ROWS, "several pages");
      await scanner.ready();
      await withDatabase(async (_sqlite, path) => {
        const reference = new DatabaseScanner(path);
        try {
          for (const userId of [...USERS, "nobody_0009"]) {
            for (const pattern of PATTERNS) {
              for (const room of [undefined, "#side"]) {
                const request = { userId, pattern, limit: 7, room };
                assert.deepEqual(
                  await scanner.search(request, 60_000),
                  reference.search(request, 60_000),
                  `${userId} ${pattern} ${room}`,
                );
              }
            }
          }
          const late = await scanner.search({ userId: "ann_0001", pattern: "kiwi", limit: 5 }, -1);
          assert.equal(!late.ok && late.code, "search_timeout");
          const bad = await scanner.search({ userId: "ann_0001", pattern: "\\pN", limit: 5 }, 1000);
          assert.equal(!bad.ok && bad.code, "bad_pattern");
        } finally {
          reference.close();
        }
      });
    } finally {
      await scanner.close();
      store.close();
    }
  },
);

pgTest(
  "searcherFor a PostgreSQL URL: a worker on its own connection, results read again through the store",
  async () => {
    const url = await postgres.freshDatabase();
    const store = new PostgresStore(url);
    const searcher = searcherFor(store, url);
    try {
      const ids = populate(store, 120, 11);
      const request = { userId: "ann_0001", pattern: "apple|kiwi", limit: 500 };
      const expected = store.search("ann_0001", compiled(request.pattern).matches, 500);
      assert.ok(expected.total > 0);
      assert.deepEqual(await searcher.search(request), { ok: true, ...expected });
      // purged after the scan read them, they are left out (and out of the total)
      const gone = expected.messages[0].id;
      assert.ok(ids.includes(gone));
      store.purge([gone], "deleted");
      const after = await searcher.search(request);
      assert.ok(after.ok && after.total === expected.total - 1);
      assert.ok(after.ok && !after.messages.some((m) => m.id === gone));
    } finally {
      searcher.close();
      store.close();
    }
  },
);

pgTest(
  "searcherFor a PostgreSQL URL nobody listens on: the search fails, the process does not",
  async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const searcher = new WorkerSearcher(`postgres://chat@127.0.0.1:${port}/chat`);
    try {
      await assert.rejects(
        searcher.search({ userId: "ann_0001", pattern: "x", limit: 5 }),
        /cannot open the database to search: .*ECONNREFUSED/,
      );
    } finally {
      searcher.close();
    }
  },
);

Deno.test({
  name: "(PostgreSQL stops)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => postgres.remove(),
});
