/**
 * Fixtures shared by the unit tests (tests/*_test.ts): fake message ids and messages, a fake
 * connection that decodes and schema-checks every frame the server sends it, a log into lines on
 * an injected clock, and frames built by hand from raw bytes. No processes, no sockets: the
 * end-to-end helpers are in tests/e2e/harness.ts (which uses the raw frames from here too).
 */
import assert from "node:assert/strict";
import { FrameCutter, HEADER_BYTES, MAX_FRAME_BYTES } from "../src/protocol/codec.ts";
import {
  ClientFrame,
  GENERAL_ROOM,
  type Limits,
  MAX_RECIPIENTS,
  MAX_TEXT_LENGTH,
  ServerFrame,
  type User,
  type Welcome,
} from "../src/protocol/schema.ts";
import { Hub, type HubOptions } from "../src/server/hub.ts";
import { type Log, Logger, silentLog } from "../src/server/log.ts";
import { Rooms, type RoomsOptions } from "../src/server/rooms.ts";
import { StoreHealth } from "../src/server/store/health.ts";
import type { Peer } from "../src/server/peer.ts";
import type { NewMessage, Store, StoredMessage } from "../src/server/store/store.ts";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import type { Shown } from "../src/client/state.ts";

/** A fixed start for injected clocks (Nov 2023). */
export const T0 = 1_700_000_000_000;
/** An hour on those clocks. */
export const HOUR = 3_600_000;

/** The server frame of this type. */
export type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

// ---- ids and messages -------------------------------------------------------------------------

/** A fake message id: 26 Crockford characters, ordered by `n` (like ULIDs made in order). */
export function mid(n: number): string {
  return "01J9ZQ3V5W8X2Y4Z6A7B" + String(n).padStart(6, "0");
}

let made = 0;

/**
 * A new message from `from` (to `to`: a DM, else in GENERAL_ROOM), with the next fake id and
 * time; its text is `m<n>` unless given.
 */
export function newMessage(from: string, to?: string[], text?: string): NewMessage {
  made++;
  const m: NewMessage = { id: mid(made), from, text: text ?? `m${made}`, time: made };
  if (to) m.to = to;
  else m.room = GENERAL_ROOM;
  return m;
}

/** Puts these ids in GENERAL_ROOM, as making them would have: they see its messages. */
export function inGeneral(store: Store, ...ids: string[]): void {
  for (const id of ids) store.joinRoom(id, GENERAL_ROOM, T0);
}

/**
 * The rooms of `store` as the hub makes them: every creation allowed, nobody online to tell of an
 * invitation, a typed user resolved as an exact id.
 */
export function testRooms(store: Store, options: Partial<RoomsOptions> = {}): Rooms {
  return new Rooms({
    store,
    health: new StoreHealth(silentLog),
    allowCreate: () => true,
    peerOf: () => undefined,
    resolve: (typed) => {
      const id = store.canonicalId(typed);
      return id === null
        ? { ok: false, code: "unknown_recipient", message: `there is no user with the id ${typed}` }
        : { ok: true, ids: [id] };
    },
    ...options,
  });
}

/** Stores `messages` in one group commit, as the server does; returns them with their seq. */
export function insert(store: Store, ...messages: NewMessage[]): StoredMessage[] {
  return store.commit(messages.map((message) => ({ kind: "insert", message }))) as StoredMessage[];
}

/**
 * Stores `count` messages from tom_0001 in one group commit: ids mid(1) … mid(count), in order,
 * `fields(i)` the rest of the i-th (from 0). Returns them with their seq.
 */
export function commitMessages(
  store: Store,
  count: number,
  fields: (i: number) => Omit<NewMessage, "id" | "from">,
): StoredMessage[] {
  const messages = Array.from({ length: count }, (_, i) => ({
    id: mid(i + 1),
    from: "tom_0001",
    ...fields(i),
  }));
  return insert(store, ...messages);
}

/** A client frame as the session hands it over: checked by the schema first. */
export function clientFrame(frame: Record<string, unknown>): ClientFrame {
  const parsed = ClientFrame.safeParse(frame);
  assert.ok(parsed.success, `test made an invalid frame: ${JSON.stringify(frame)}`);
  return parsed.data;
}

/**
 * A `welcome` as a server sends it: by default tom alone, the protocol's bounds, a heartbeat of
 * 15 s and an idle limit of 45 s, and no `online` (a client then counts `users`).
 */
export function welcomeFrame(
  fields: Partial<Omit<Welcome, "type" | "limits">> & { limits?: Partial<Limits> } = {},
): Welcome {
  const you = fields.you ?? { id: "tom_0001", name: "tom" };
  return {
    type: "welcome",
    you,
    token: "t".repeat(43),
    users: [you],
    server: { version: "test" },
    ...fields,
    limits: {
      maxFrameBytes: MAX_FRAME_BYTES,
      maxTextLength: MAX_TEXT_LENGTH,
      maxRecipients: MAX_RECIPIENTS,
      heartbeatMs: 15_000,
      idleTimeoutMs: 45_000,
      ...fields.limits,
    },
  };
}

// ---- a connection as the server's core sees it --------------------------------------------------

/** A connection as the server's core sees it; every frame it is sent is decoded and checked. */
export class FakePeer implements Peer {
  user?: User;
  sessionId?: string;
  refused?: boolean;
  strikes?: number;
  /** Encoded frames as handed over (to check encode-once). */
  readonly raw: Uint8Array[] = [];
  readonly frames: ServerFrame[] = [];
  closed?: { reason: string; message: string };
  /** How many frames had arrived when it was closed (what came before the cut). */
  framesBeforeClose?: number;

  constructor(readonly label = "peer", public address?: string) {}

  send(bytes: Uint8Array): void {
    this.raw.push(bytes);
    // one send carries whole frames: one, or a run of them shared by every recipient
    const cutter = new FrameCutter();
    const payloads = cutter.push(bytes);
    assert.ok(payloads.length >= 1, "a send carries at least one frame");
    assert.equal(cutter.pending, 0, "a send carries whole frames only");
    for (const payload of payloads) {
      const value = JSON.parse(new TextDecoder().decode(payload));
      const parsed = ServerFrame.safeParse(value);
      assert.ok(
        parsed.success,
        `the server sent a frame the schema refuses: ${JSON.stringify(value)}`,
      );
      this.frames.push(parsed.data);
    }
  }

  close(reason: string, message: string): void {
    this.closed = { reason, message };
    this.framesBeforeClose ??= this.frames.length;
  }

  /** Frames of one type. */
  of<T extends ServerFrame["type"]>(type: T): Frame<T>[] {
    return this.frames.filter((f) => f.type === type) as Frame<T>[];
  }

  last(): ServerFrame {
    assert.ok(this.frames.length > 0, `${this.label} got no frame`);
    return this.frames[this.frames.length - 1];
  }

  clear(): void {
    this.raw.length = 0;
    this.frames.length = 0;
  }
}

/**
 * A hub on an in-memory store (or `store`) with a clock to move (`clock.t`), and how the tests
 * talk to it: `join` a user (a FakePeer with its id, token and welcome), `ask` a request and get
 * what answered it, `refused` for an error, `roomOf` for a room event. Rate limits are off but
 * the rooms (`limits`: every default) and moderation's.
 */
export function world(
  options: {
    maxRooms?: number;
    limits?: boolean;
    newRooms?: number;
    store?: SqliteStore;
    log?: Log;
    /** One node of a cluster (tests/cluster_fixtures.ts). */
    cluster?: HubOptions["cluster"];
    /** The clock (shared by the nodes of a cluster). */
    clock?: { t: number };
  } = {},
) {
  const store = options.store ?? new SqliteStore(":memory:");
  const clock = options.clock ?? { t: T0 };
  let n = 0;
  let refs = 0;
  const hub = new Hub({
    store,
    version: "test",
    defer: (fn) => fn(),
    later: () => {},
    // the tests of other things leave every rate limit off but the rooms'
    maxRate: 0,
    newIdsPerAddressPerHour: 0,
    newRoomsPerAddressPerHour: options.newRooms ?? (options.limits ? undefined : 0),
    maxRooms: options.maxRooms,
    now: () => clock.t,
    digits: () => String(++n % 10000).padStart(4, "0"),
    log: options.log,
    cluster: options.cluster,
  });
  const say = (peer: FakePeer, frame: Record<string, unknown>) =>
    hub.handle(peer, clientFrame(frame));
  /** A user online (a new id unless a token is given), frames cleared. */
  const join = (name: string, extra: Record<string, unknown> = {}, address?: string) => {
    const peer = new FakePeer(name, address);
    say(peer, { type: "hello", name, ...extra });
    const [welcome] = peer.of("welcome");
    assert.ok(welcome, `${name} was not welcomed`);
    peer.clear();
    return Object.assign(peer, { id: welcome.you.id, token: welcome.token, welcome });
  };
  /** Sends a request; returns what answered it (by its ref). */
  const ask = (peer: FakePeer, frame: Record<string, unknown>): ServerFrame => {
    const ref = `r${++refs}`;
    say(peer, { ...frame, ref });
    const answer = peer.frames.find((f) => "ref" in f && f.ref === ref);
    assert.ok(answer, `no answer to ${JSON.stringify(frame)}: ${JSON.stringify(peer.frames)}`);
    return answer;
  };
  /** Asks, and returns the error it was answered with. */
  const refused = (peer: FakePeer, frame: Record<string, unknown>) => {
    const answer = ask(peer, frame);
    assert.equal(answer.type, "error", `not refused: ${JSON.stringify(answer)}`);
    return answer as Frame<"error">;
  };
  const roomOf = (peer: FakePeer, frame: Record<string, unknown>) => {
    const answer = ask(peer, frame);
    assert.equal(answer.type, "room", JSON.stringify(answer));
    return answer as Frame<"room">;
  };
  return { hub, store, clock, say, join, ask, refused, roomOf };
}

/** Counts `store`'s commits from now on: how many writes each had, in order. */
export function commitSizes(store: Store): number[] {
  const sizes: number[] = [];
  const commit = store.commit.bind(store);
  store.commit = (writes) => {
    sizes.push(writes.length);
    return commit(writes);
  };
  return sizes;
}

/** A peer that has said hello as `user` (what presence does on a welcome). */
export function online(user: User, address?: string): FakePeer {
  const peer = new FakePeer(user.name, address);
  peer.user = user;
  return peer;
}

// ---- files ------------------------------------------------------------------------------------

/** A test run in a fresh temp dir (its path given), removed with everything in it afterwards. */
export function inTempDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    await using dir = await tempDir();
    await fn(dir.path);
  };
}

/** A fresh temp dir, removed with everything in it when the test ends (`await using`). */
export async function tempDir(prefix = "chat-test-"): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

// ---- the log ------------------------------------------------------------------------------------

/** The server's log as an operator reads it (text, every level), into `lines`. */
export function testLog(now: () => number = () => T0): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: new Logger({ write: (line) => lines.push(line), level: "debug", now }) };
}

// ---- frames by hand -----------------------------------------------------------------------------

/**
 * A maker of messages as a client shows them, from ann_0001 at `time`: ids grow with each one
 * made (not with `time`, so a page made later can be older), refs m1, m2, ...
 */
export function shownMaker(time: number): (over?: Partial<Shown>) => Shown {
  let n = 0;
  return (over = {}) => {
    n++;
    return {
      type: "message",
      id: `01JABCDEFGHJKMNPQRSTV${String(n).padStart(5, "0")}`,
      ref: `m${n}`,
      from: "ann_0001",
      text: `message ${n}`,
      time,
      ...over,
    };
  };
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A frame of exactly these payload bytes (not necessarily JSON); the length prefix is computed. */
export function rawFrame(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER_BYTES + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length, false);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/** Just a 4-byte big-endian length prefix, announcing `length` bytes that never come. */
export function prefixOnly(length: number): Uint8Array {
  const prefix = new Uint8Array(HEADER_BYTES);
  new DataView(prefix.buffer).setUint32(0, length >>> 0, false);
  return prefix;
}
