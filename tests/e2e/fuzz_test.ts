// Fuzzing a live server with fast-check: several raw TLS connections at once throw random and
// mutated frames — wrong and truncated length prefixes, random bytes, random JSON, frames of the
// right shape with hostile values (huge numbers, NaN-like strings, deep nesting, 64 KiB strings,
// unknown ids, other users' ids, unicode edge cases, prototype-pollution keys), hellos with random
// names and tokens, sends with random recipients — while two honest json clients talk.
//
// Each fuzz session is one fast-check run: the property is that the server treats it exactly as
// the protocol says (a pong for every sync ping while fewer than MAX_BAD_FRAMES frames were bad;
// the right goodbye and a close when a frame is fatal or bad frames reach the limit).
//
// Afterwards: the server still serves a normal client, its RSS stayed bounded, and the honest
// clients lost nothing of their own and never saw a message that was not theirs to see.
//
// ≥ 100,000 frames by default; CHAT_FUZZ_LONG=1 throws ten times more. CHAT_FUZZ_SEED=N replays
// a run's sessions (the seed is printed; the ids the fuzzers pick depend on timing), and
// CHAT_FUZZ_PROGRESS=1 prints frames, server RSS and CPU every half second on stderr.
// Run: deno test -A --parallel tests/e2e/fuzz_test.ts

import assert from "node:assert/strict";
import { fc } from "../deps.ts";
import {
  concatFrames,
  decodePayload,
  encodeFrame,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
} from "../../src/protocol/codec.ts";
import { ClientFrame, MAX_TEXT_LENGTH } from "../../src/protocol/schema.ts";
import { MAX_BAD_FRAMES } from "../../src/server/session.ts";
import * as h from "./harness.ts";
import type { ChatEvent, ClientHandle } from "./harness.ts";
import { EventCursor, FuzzConn, mib, rssKiB, serverPid } from "./reliability_harness.ts";
import { prefixOnly, rawFrame, utf8 } from "../fixtures.ts";

const LONG = Deno.env.get("CHAT_FUZZ_LONG") === "1";
/** Frames to throw in all. */
const TOTAL_FRAMES = LONG ? 1_000_000 : 100_000;
/** Connections throwing at once. */
const WORKERS = 4;
/** Frames per write, each write followed by a sync ping. */
const BATCH = 50;
/** Hard bounds: time for the throwing, and sessions per worker. */
const THROW_DEADLINE_MS = LONG ? 45 * 60_000 : 90_000;
const MAX_SESSIONS_PER_WORKER = LONG ? 20_000 : 2_000;
/** Messages each honest client sends during the fuzzing. */
const HONEST_MESSAGES = LONG ? 600 : 60;
/** Allowed RSS growth of the server. */
const RSS_GROWTH_LIMIT_KIB = 200 * 1024;
const SEED = Number(Deno.env.get("CHAT_FUZZ_SEED") ?? Date.now() % 1_000_000_000);

// ---- what the fuzzers know of the world: ids and message ids seen so far (bounded rings) -----

/** The last `size` items added (recent ones: a resume from them replays little). */
class Ring {
  readonly items: string[] = [];
  #added = 0;
  constructor(readonly size: number, readonly fallback: string) {}
  add(item: string): void {
    this.items[this.#added++ % this.size] = item;
  }
  pick(i: number): string {
    return this.items.length ? this.items[i % this.items.length] : this.fallback;
  }
}
const userIds = new Ring(300, "nobody_0000");
const messageIds = new Ring(100, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
/** Direct messages between the honest clients: nobody else may reply to or delete them. */
const honestDms = new Ring(200, "01ARZ3NDEKTSV4RRFFQ69G5FAV");

// ---- arbitraries ---------------------------------------------------------------------------------

const EDGE_STRINGS = [
  "NaN",
  "Infinity",
  "-Infinity",
  "-0",
  "1e999",
  "null",
  "undefined",
  "true",
  "[]",
  "{}",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "__defineGetter__",
  "\u0000",
  "\u0000".repeat(100),
  "\ud800",
  "\udfff",
  "a\ud800b\udc00c",
  "\ufeffbom",
  "\ufffe\uffff",
  "\u202eevil\u202c",
  "\u2066\u2067\u2068\u2069",
  "line\u2028sep\u2029",
  "\r\n\r\n",
  "👩‍👩‍👧‍👦🏳️‍🌈",
  "e" + "\u0301".repeat(500),
  "\u001b[2J\u001b]0;pwned\u0007\u009b31m",
  "../../etc/passwd",
  "C:\\Windows\\system32",
  "%s%n%x%d",
  "${jndi:ldap://127.0.0.1/x}",
  "<script>alert(1)</script>",
  "'; DROP TABLE messages; --",
  "\\",
  '"',
  "🙂".repeat(2_000),
  "x".repeat(MAX_TEXT_LENGTH),
];
/** Names a peer could resolve to, and names that collide with Object.prototype. */
const NAMEY = [
  "honest_a",
  "honest_b",
  "check_a",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "prototype",
];

const edgeString = fc.constantFrom(...EDGE_STRINGS);
/** Any string, short. */
const anyString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 2, arbitrary: edgeString },
);
/** A text the schema accepts (1..MAX_TEXT_LENGTH code units) but that is hostile. */
const text = fc.oneof(
  { weight: 5, arbitrary: fc.string({ minLength: 1, maxLength: 60 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }) },
  { weight: 2, arbitrary: edgeString.filter((s) => s.length >= 1 && s.length <= MAX_TEXT_LENGTH) },
);
const ref = fc.oneof(
  fc.string({ minLength: 1, maxLength: 64 }),
  fc.constantFrom("__proto__", "constructor", "1", "\u0000", "🙂"),
);
const ulid = fc.ulid().map((u) => u.toUpperCase());
/** A message id: someone's real one (honest DMs included), or an unknown one. */
const messageId = fc.oneof(
  { weight: 1, arbitrary: fc.nat().map((i) => messageIds.pick(i)) },
  { weight: 2, arbitrary: fc.nat().map((i) => honestDms.pick(i)) },
  { weight: 3, arbitrary: ulid },
);
/** A recipient the schema accepts: a real id, a bare name, or a made-up one. */
const recipient = fc.oneof(
  { weight: 2, arbitrary: fc.nat().map((i) => userIds.pick(i)) },
  { weight: 1, arbitrary: fc.constantFrom(...NAMEY) },
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9._-]{1,24}_[0-9]{4}$/) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9._-]{1,29}$/) },
);
/** Unknown fields a client might add, prototype-pollution keys among them (JSON text). */
const extraField = fc.oneof(
  fc.constant(`"__proto__":{"type":"hello","admin":true}`),
  fc.constant(`"constructor":{"prototype":{"polluted":true}}`),
  fc.constant(`"from":"honest_a_0000","time":1,"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV"`),
  fc.constant(`"private":false,"sender":"admin"`),
  // deep nesting, well within the frame cap
  fc.integer({ min: 100, max: 20_000 }).map((n) => `"deep":${"[".repeat(n)}${"]".repeat(n)}`),
  fc.integer({ min: 100, max: 5_000 }).map((n) => `"deeper":${'{"a":'.repeat(n)}1${"}".repeat(n)}`),
  // a 64 KiB-class string that still fits in the frame
  fc.integer({ min: 30_000, max: MAX_FRAME_BYTES - 400 }).map((n) => `"pad":"${"p".repeat(n)}"`),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => `"wide":"${"€".repeat(n)}"`),
  fc.constant(`"n":1e999,"m":-1e999,"o":123456789012345678901234567890,"z":-0`),
);

/** A frame of the right shape (the schema accepts it), hostile values inside. */
const goodFrame: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ ref, text }).map((f) => JSON.stringify({ type: "send", ...f })),
  },
  {
    weight: 25,
    arbitrary: fc.record({
      ref,
      text,
      to: fc.array(recipient, { minLength: 1, maxLength: 32 }),
    }).map((f) => JSON.stringify({ type: "send", ...f })),
  },
  {
    weight: 12,
    arbitrary: fc.record({ ref, text, replyTo: messageId }).map((f) =>
      JSON.stringify({ type: "send", ...f })
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      ref,
      text,
      ttl: fc.oneof(fc.constantFrom(1, 604_800), fc.integer({ min: 1, max: 604_800 })),
    }).map((f) => JSON.stringify({ type: "send", ...f })),
  },
  {
    weight: 20,
    arbitrary: fc.record({ ref, id: messageId }).map((f) =>
      JSON.stringify({ type: "delete", ...f })
    ),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      ref,
      pattern: fc.oneof(
        fc.string({ minLength: 1, maxLength: 256 }),
        fc.constantFrom("(a+)+$", "(?i)x", "[", "\\", ".*", "(((((((((x)))))))))", "\\p{Greek}"),
      ),
    }).map((f) => JSON.stringify({ type: "search", ...f })),
  },
  { weight: 8, arbitrary: ref.map((r) => JSON.stringify({ type: "who", ref: r })) },
  {
    weight: 3,
    arbitrary: fc.record(
      { ref, limit: fc.integer({ min: 1, max: 200 }), before: messageId },
      { requiredKeys: ["ref", "limit"] },
    ).map((f) => JSON.stringify({ type: "history", ...f })),
  },
  { weight: 4, arbitrary: fc.constant(JSON.stringify({ type: "ping" })) },
  {
    weight: 3,
    arbitrary: fc.record({ name: fc.constantFrom("again", "honest_a"), token: anyString }).map(
      (f) => JSON.stringify({ type: "hello", ...f }),
    ),
  },
  // the same, with unknown fields (prototype keys, deep nesting, long strings) spliced in
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.record({ ref, text }).map((f) => JSON.stringify({ type: "send", ...f })),
      extraField,
    ).map(([json, extra]) => `${json.slice(0, -1)},${extra}}`),
  },
);

/** Payloads the server must refuse with bad_frame (a strike). */
const badPayload: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 200 }),
  fc.jsonValue().map((v) => utf8(JSON.stringify(v) ?? "null")),
  fc.constantFrom(
    `{"type":"__proto__"}`,
    `{"type":"constructor","ref":"x"}`,
    `{"type":"toString"}`,
    `{"__proto__":{"type":"send","ref":"p","text":"polluted"}}`,
    `{"type":"send","ref":"x","text":"t","ttl":"NaN"}`,
    `{"type":"send","ref":"x","text":"t","ttl":1e999}`,
    `{"type":"send","ref":"x","text":"t","ttl":-1}`,
    `{"type":"send","ref":"x","text":"t","ttl":1.5}`,
    `{"type":"send","ref":"x","text":"t","to":[]}`,
    `{"type":"send","ref":"x","text":"t","to":{"__proto__":[]}}`,
    `{"type":"send","ref":"","text":"t"}`,
    `{"type":"send","ref":"x","text":""}`,
    `{"type":"history","ref":"x","limit":1e999}`,
    `{"type":"history","ref":"x","limit":0}`,
    `{"type":"hello","name":"../x"}`,
    `{"type":"hello","name":"a/b"}`,
    `{"type":"hello","name":"alice_1234"}`,
    `{"type":"search","ref":"x","pattern":""}`,
    `[{"type":"ping"}]`,
    `"ping"`,
    `{"type":"ping"`,
    `\ufeff{"type":"ping"}`,
  ).map(utf8),
  fc.record({ type: fc.constantFrom("send", "delete", "hello", "history", "search", "who") }, {
    requiredKeys: ["type"],
  }).chain((base) =>
    fc.record({
      ref: fc.oneof(anyString, fc.integer(), fc.constant(null)),
      text: fc.oneof(
        anyString,
        fc.integer({ min: MAX_TEXT_LENGTH + 1, max: 60_000 }).map((n) => "t".repeat(n)),
        fc.double(),
      ),
      to: fc.oneof(fc.array(anyString, { maxLength: 40 }), anyString),
      ttl: fc.oneof(fc.double(), anyString, fc.integer({ min: -10, max: 10 ** 9 })),
      id: anyString,
      name: anyString,
      limit: fc.oneof(fc.double(), fc.integer()),
    }, { requiredKeys: [] }).map((rest) => utf8(JSON.stringify({ ...base, ...rest })))
  ),
  fc.integer({ min: 1_000, max: 30_000 }).map((n) =>
    utf8(`{"type":"send","ref":"d","text":${"[".repeat(n)}${"]".repeat(n)}}`)
  ),
);

type Ending =
  | { kind: "close" }
  | { kind: "bye" }
  | { kind: "oversize"; length: number }
  | { kind: "truncated"; cut: number }
  | { kind: "garbage"; bytes: Uint8Array }
  | { kind: "strikes" };

const ending: fc.Arbitrary<Ending> = fc.oneof(
  fc.constant({ kind: "close" } as const),
  fc.constant({ kind: "bye" } as const),
  fc.integer({ min: MAX_FRAME_BYTES + 1, max: 0xffffffff }).map((length) => ({
    kind: "oversize" as const,
    length,
  })),
  fc.integer({ min: 1, max: 20 }).map((cut) => ({ kind: "truncated" as const, cut })),
  fc.uint8Array({ minLength: 1, maxLength: 2_000 }).map((bytes) => ({
    kind: "garbage" as const,
    bytes,
  })),
  fc.constant({ kind: "strikes" } as const),
);

interface Session {
  /** Frames sent before hello (answered not_ready). */
  early: string[];
  hello: { name: string; token?: string; resume?: string };
  /** Batches of right-shaped frames. */
  batches: string[][];
  /** Bad payloads, each slipped into a batch (fewer than MAX_BAD_FRAMES in all). */
  bad: { payload: Uint8Array; batch: number; at: number }[];
  ending: Ending;
}

const session: fc.Arbitrary<Session> = fc.record({
  early: fc.array(goodFrame, { maxLength: 2 }),
  hello: fc.record({
    name: fc.oneof(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9._-]{0,19}$/),
      fc.constantFrom("fuzz", "honest_a", "check_a", "__proto__", "constructor"),
    ),
    token: anyString.filter((t) => t.length >= 1 && t.length <= 128),
    resume: fc.oneof(ulid, fc.nat().map((i) => messageIds.pick(i))),
  }, { requiredKeys: ["name"] }),
  batches: fc.array(fc.array(goodFrame, { minLength: BATCH, maxLength: BATCH }), {
    minLength: 10,
    maxLength: 40,
  }),
  bad: fc.array(
    fc.record({ payload: badPayload, batch: fc.nat(), at: fc.nat({ max: BATCH }) }),
    { maxLength: MAX_BAD_FRAMES - 1 },
  ),
  ending,
});

// ---- the server's verdict on a payload, as the protocol states it ------------------------------

/**
 * The server's reading of a payload: over the frame cap (the connection ends), a bad frame (a
 * strike), a ping (a pong owed), or anything else.
 */
function verdict(payload: Uint8Array): "fatal" | "bad" | "ping" | "ok" {
  if (payload.length > MAX_FRAME_BYTES) return "fatal";
  const decoded = decodePayload(payload);
  if (!decoded.ok) return "bad";
  const parsed = ClientFrame.safeParse(decoded.value);
  if (!parsed.success) return "bad";
  return parsed.data.type === "ping" ? "ping" : "ok";
}

interface Figures {
  frames: number;
  sessions: number;
  bad: number;
  fatal: number;
  bytes: number;
  errors: Map<string, number>;
  goodbyes: Map<string, number>;
}

const count = (map: Map<string, number>, key: string, n = 1) =>
  map.set(key, (map.get(key) ?? 0) + n);

/**
 * Plays one session against the server; throws (failing the fast-check property) when the
 * server does not behave as the protocol says.
 */
async function play(
  s: Session,
  port: number,
  caFile: string,
  figures: Figures,
  stop: () => boolean,
  serverState: () => string,
): Promise<void> {
  let conn: FuzzConn | undefined;
  for (let attempt = 0; !conn && attempt < 20; attempt++) {
    try {
      conn = await FuzzConn.open(port, caFile);
    } catch (error) {
      if (attempt === 19) throw new Error(`cannot connect for a session: ${error}`);
      await h.delay(50);
    }
  }
  await using c = conn!;
  figures.sessions++;
  const write = async (bytes: Uint8Array, frames: number) => {
    figures.frames += frames;
    figures.bytes += bytes.length;
    return await c.write(bytes);
  };
  const syncOrExplain = async (what: string, before?: Uint8Array, frames = 0) => {
    if (before) {
      figures.frames += frames;
      figures.bytes += before.length;
    }
    figures.frames++;
    if (await c.sync(20_000, before)) return;
    if (c.eof) {
      // a server that died needs a moment to be seen as exited, and its last words a moment more
      const lastWords = () => /uncaught/i.test(serverState());
      await h.waitUntil(lastWords, 2_000, "its last words").catch(() => {}); // said below if any
    }
    const goodbye = c.heard.goodbye;
    throw new Error(
      `the server stopped answering ${what}: ${
        goodbye
          ? `goodbye ${JSON.stringify(goodbye)}`
          : c.eof
          ? "closed without a goodbye"
          : "no pong"
      }; ${serverState()}`,
    );
  };

  // before hello: anything but hello is answered not_ready, and is not a strike
  const early = s.early.filter((json) => !json.startsWith('{"type":"hello"')).map(utf8);
  for (const p of early) if (verdict(p) === "ping") c.pings++;
  const opening = early.map(rawFrame);
  const hello = { type: "hello", ...s.hello };
  const helloBytes = encodeFrame(hello);
  let strikes = 0;
  opening.push(helloBytes);
  if (verdict(helloBytes.subarray(HEADER_BYTES)) === "bad") {
    // a refused hello is a strike; a plain one follows
    strikes++;
    figures.bad++;
    opening.push(encodeFrame({ type: "hello", name: "fuzz" }));
  }
  await syncOrExplain("after hello", concatFrames(opening), opening.length);
  if (!c.heard.you) throw new Error(`no welcome after a valid hello: ${[...c.heard.errors]}`);
  userIds.add(c.heard.you.id);

  for (const [b, batch] of s.batches.entries()) {
    if (stop()) break;
    const payloads: Uint8Array[] = batch.map((json) => utf8(json));
    for (const bad of s.bad.filter((x) => x.batch % s.batches.length === b)) {
      payloads.splice(Math.min(bad.at, payloads.length), 0, bad.payload);
    }
    // a right-shaped frame can still be refused (a token over 128, say): it is a strike too, and
    // the session keeps below MAX_BAD_FRAMES by leaving out any bad frame past the budget
    const kept: Uint8Array[] = [];
    for (const p of payloads) {
      const v = verdict(p);
      if (v === "fatal") continue; // an oversize frame is an ending of its own
      if (v === "bad") {
        if (strikes + 1 >= MAX_BAD_FRAMES) continue;
        strikes++;
        figures.bad++;
      } else if (v === "ping") c.pings++;
      kept.push(p);
    }
    await syncOrExplain(
      `batch ${b} (${strikes} bad frames so far)`,
      concatFrames(kept.map(rawFrame)),
      kept.length,
    );
    for (const id of c.heard.acked.splice(0)) messageIds.add(id);
  }

  const expectClose = async (reason: string) => {
    const closed = await c.wait(() => c.eof, 10_000);
    if (!closed) throw new Error(`expected a close after ${reason}; the connection stayed open`);
    const said = c.heard.goodbye?.reason;
    count(figures.goodbyes, said ?? "none");
    if (said !== reason) {
      throw new Error(`expected goodbye ${reason}, got ${JSON.stringify(c.heard.goodbye)}`);
    }
  };
  const e = s.ending;
  switch (e.kind) {
    case "close":
      break;
    case "bye":
      await write(encodeFrame({ type: "bye" }), 1);
      await expectClose("bye");
      break;
    case "oversize":
      figures.fatal++;
      await write(prefixOnly(e.length), 1);
      await expectClose("frame_too_large");
      if (!c.heard.errors.get("frame_too_large")) throw new Error("no frame_too_large error");
      break;
    case "truncated": {
      const frame = encodeFrame({ type: "send", ref: "cut", text: "cut short".repeat(4) });
      await write(frame.subarray(0, Math.max(1, frame.length - e.cut)), 1);
      break;
    }
    case "garbage":
      await write(e.bytes, 1);
      break;
    case "strikes": {
      const needed = MAX_BAD_FRAMES - strikes;
      figures.bad += needed;
      await write(
        concatFrames(
          Array.from({ length: needed }, (_, i) => rawFrame(utf8(`{"type":"nope${i}"}`))),
        ),
        needed,
      );
      await expectClose("bad_frames");
      break;
    }
  }
  for (const [code, n] of c.heard.errors) count(figures.errors, code, n);
}

// ---- the honest clients ----------------------------------------------------------------------

interface Honest {
  client: ClientHandle & { id: string };
  cursor: EventCursor;
  events: ChatEvent[];
}

function follow(honest: Honest, honestIds: Set<string>): void {
  for (const e of honest.cursor.take()) {
    honest.events.push(e);
    if (e.type !== "message") continue;
    messageIds.add(e.id);
    if (honestIds.has(e.from) && e.to?.length) honestDms.add(e.id);
  }
}

Deno.test("fuzz: random and hostile frames from several connections; the server holds", async () => {
  const started = Date.now();
  await using server = await h.startServer({
    // every session is a newcomer from 127.0.0.1: no limit on new ids or on the address's rate
    args: [
      "--max-rate",
      "0",
      "--max-connections-per-address",
      "1000",
      "--max-new-ids-per-address",
      "0",
    ],
  });
  const pid = serverPid(server);
  assert.ok(pid, "the server's pid");
  const a: Honest = { client: await h.joined(server, "honest_a"), cursor: null!, events: [] };
  await using _a = a.client;
  const b: Honest = { client: await h.joined(server, "honest_b"), cursor: null!, events: [] };
  await using _b = b.client;
  a.cursor = new EventCursor(a.client);
  b.cursor = new EventCursor(b.client);
  const honestIds = new Set([a.client.id, b.client.id]);
  for (const id of honestIds) userIds.add(id);
  await a.client.waitFor((e) => e.type === "presence" && e.joined?.id === b.client.id);
  const rssBefore = rssKiB(pid);

  const figures: Figures = {
    frames: 0,
    sessions: 0,
    bad: 0,
    fatal: 0,
    bytes: 0,
    errors: new Map(),
    goodbyes: new Map(),
  };
  const deadline = started + THROW_DEADLINE_MS;
  const serverState = () => {
    if (!server.exited) return "the server process is still running";
    const output = server.output();
    const why = output.split("\n").filter((l) => /uncaught|error/i.test(l)).slice(0, 3);
    return `the server process has exited; its last words: ${
      why.length ? why.join(" / ") : output.slice(-1_200)
    }`;
  };
  const stop = () => figures.frames >= TOTAL_FRAMES || Date.now() >= deadline;

  // the honest conversation runs alongside, public and direct
  const sentBy = new Map<string, string[]>([[a.client.id, []], [b.client.id, []]]);
  const talking = (async () => {
    for (let i = 0; i < HONEST_MESSAGES; i++) {
      for (const [me, other] of [[a, b], [b, a]] as const) {
        const text = `honest ${me.client.id} ${i}`;
        sentBy.get(me.client.id)!.push(text);
        await me.client.send(i % 2 === 0 ? text : `@${other.client.id} ${text}`);
      }
      follow(a, honestIds);
      follow(b, honestIds);
      await h.delay(150);
    }
  })();

  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    for (let run = 0; !stop() && run < MAX_SESSIONS_PER_WORKER; run++) {
      const seed = SEED + w * 1_000_003 + run;
      try {
        await fc.assert(
          fc.asyncProperty(session, async (s) => {
            await play(s, server.port, server.caFile, figures, stop, serverState);
          }),
          { numRuns: 1, seed, endOnFailure: true },
        );
      } catch (error) {
        // the counterexample can be megabytes of frames: keep the report readable
        const cause = (error as Error).cause;
        const message = (error as Error).message;
        throw new Error(
          `fuzz session failed (worker ${w}, seed ${seed}): ${
            cause instanceof Error ? cause.message : String(cause)
          }\n${message.length > 2_000 ? `${message.slice(0, 2_000)} …` : message}`,
        );
      }
    }
  });
  const rssDuring: number[] = [];
  const sampling = (async () => {
    while (!stop()) {
      if (Deno.env.get("CHAT_FUZZ_PROGRESS")) {
        const stat = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
        const self = Deno.readTextFileSync(`/proc/self/stat`).split(") ")[1].split(" ");
        console.error(
          `${Date.now() - started} ms: ${figures.frames} frames, ${figures.sessions} sessions, ` +
            `server rss ${mib(rssKiB(pid))} cpu ${Number(stat[11]) + Number(stat[12])} ticks, ` +
            `test cpu ${Number(self[11]) + Number(self[12])} ticks`,
        );
      }
      rssDuring.push(rssKiB(pid));
      follow(a, honestIds);
      follow(b, honestIds);
      await h.delay(500);
    }
  })();
  const settled = await Promise.allSettled([...workers, sampling]);
  const throwMs = Date.now() - started;
  await talking; // never leave it writing to a client that is being disposed
  for (const outcome of settled) if (outcome.status === "rejected") throw outcome.reason;

  // the honest clients: every send acknowledged and received by the other, exactly once
  for (const [me, other] of [[a, b], [b, a]] as const) {
    await h.waitUntil(
      () => (follow(me, honestIds),
        follow(other, honestIds),
        me.events.filter((e) => e.type === "ack").length >= HONEST_MESSAGES &&
        sentBy.get(me.client.id)!.every((t) => other.events.some((e) => e.text === t))),
      30_000,
      () => `${me.client.id}'s messages to be acknowledged and received`,
    );
  }
  const result = { rssAfter: rssKiB(pid) };
  for (const [me, other] of [[a, b], [b, a]] as const) {
    const mine = new Set(sentBy.get(me.client.id));
    const acks = me.events.filter((e) => e.type === "ack");
    assert.equal(acks.length, HONEST_MESSAGES, `${me.client.id}: one ack per message`);
    for (const t of mine) {
      assert.equal(other.events.filter((e) => e.type === "message" && e.text === t).length, 1, t);
    }
    const troubles = me.events.filter((e) =>
      e.type === "error" || e.type === "goodbye" || e.type === "status"
    );
    assert.deepEqual(troubles, [], `${me.client.id} was never refused or cut`);
    const myIds = new Set(
      me.events.filter((e) => e.type === "message" && e.from === me.client.id).map((e) => e.id),
    );
    for (const e of me.events) {
      if (e.type === "deleted") {
        assert.ok(!myIds.has(e.id), `${me.client.id}'s message ${e.id} was deleted by someone`);
      }
      if (e.type !== "message") continue;
      const to: string[] = e.to ?? [];
      assert.ok(
        e.from === me.client.id || to.length === 0 || to.includes(me.client.id),
        `${me.client.id} saw a message not meant for it: ${JSON.stringify(e)}`,
      );
      if (!honestIds.has(e.from) && e.replyTo) {
        assert.ok(
          !honestDms.items.includes(e.replyTo),
          `a stranger replied into the honest DM ${e.replyTo}: ${JSON.stringify(e)}`,
        );
      }
    }
  }

  assert.equal(server.exited, false, `the server died:\n${server.output().slice(-2_000)}`);
  await h.assertServerServes(server);
  const rssAfter = rssKiB(pid);
  const peak = Math.max(rssBefore, ...rssDuring, result.rssAfter, rssAfter);
  console.log(
    `fuzz (seed ${SEED}${LONG ? ", long run" : ""}): ${figures.frames} frames ` +
      `(${(figures.bytes / 1024 / 1024).toFixed(1)} MiB) in ${figures.sessions} sessions over ` +
      `${WORKERS} connections at once, ${(throwMs / 1000).toFixed(1)} s; ` +
      `${figures.bad} bad frames, ${figures.fatal} oversize prefixes`,
  );
  console.log(`fuzz: errors by code: ${JSON.stringify(Object.fromEntries(figures.errors))}`);
  console.log(
    `fuzz: goodbyes expected and seen: ${JSON.stringify(Object.fromEntries(figures.goodbyes))}`,
  );
  console.log(
    `fuzz: honest clients exchanged ${2 * HONEST_MESSAGES} messages, all acknowledged and ` +
      `received once; server RSS before ${mib(rssBefore)}, peak ${mib(peak)}, after ${
        mib(rssAfter)
      }`,
  );
  assert.ok(
    figures.frames >= TOTAL_FRAMES,
    `only ${figures.frames} frames thrown before the deadline`,
  );
  assert.ok(
    rssAfter < rssBefore + RSS_GROWTH_LIMIT_KIB,
    `server RSS grew from ${mib(rssBefore)} to ${mib(rssAfter)}`,
  );
  assert.equal((await a.client.end()).code, 0);
  assert.equal((await b.client.end()).code, 0);
  // and it still stops cleanly
  assert.equal((await server.stop("SIGTERM")).code, 0, server.output().slice(-1_000));
});
