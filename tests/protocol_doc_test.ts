// docs/PROTOCOL.md's table of bounds against the constants the server uses: each row must state
// the number the code has, so a change to one without the other fails here.
//
// Run: deno test -A tests/protocol_doc_test.ts

import assert from "node:assert/strict";
import { MAX_FRAME_BYTES } from "../src/protocol/codec.ts";
import {
  MAX_AWAY_LENGTH,
  MAX_HISTORY_LIMIT,
  MAX_MODERATION_SECONDS,
  MAX_PATTERN_LENGTH,
  MAX_REASON_LENGTH,
  MAX_RECIPIENTS,
  MAX_REF_LENGTH,
  MAX_SEARCH_RESULTS,
  MAX_TEXT_LENGTH,
  MAX_TOPIC_LENGTH,
  MIN_MODERATION_SECONDS,
} from "../src/protocol/schema.ts";
import { MAX_SESSIONS_PER_USER } from "../src/server/admission.ts";
import { BACKLOG_PAGE } from "../src/server/backlog.ts";
import { OUTPUT_RESUME_SHARE, OVER_BUDGET_CUT_MS, STALLED_CUT_MS } from "../src/server/budget.ts";
import { HISTORY_ON_JOIN, REPLAY_LIMIT } from "../src/server/history.ts";
import * as limits from "../src/server/limits.ts";
import {
  MAX_RATE_STRIKES,
  ROOM_CHANGE_ADDRESS_BURST,
  ROOM_CHANGE_BURST,
  ROOM_CHANGES_PER_ADDRESS_PER_MINUTE,
  ROOM_CHANGES_PER_MINUTE,
  ROOMS_CREATED_PER_HOUR,
  SEARCH_ADDRESS_BURST,
  SEARCH_BURST,
  SEARCHES_PER_ADDRESS_PER_MINUTE,
  SEARCHES_PER_MINUTE,
} from "../src/server/limiters.ts";
import { EXPIRIES_PER_TICK, EXPIRY_RETRY_MS, SENT_REF_TTL_MS } from "../src/server/messages.ts";
import {
  MAX_PASSWORD_DELAY_MS,
  PASSWORD_DELAY_MS,
  PASSWORD_GUESS_BURST,
  PASSWORD_GUESSES_PER_MINUTE,
} from "../src/server/password.ts";
import { PENDING_GRACE_MS } from "../src/server/pending.ts";
import { PRESENCE_NAMES_LIMIT, USERS_LIST_LIMIT } from "../src/server/presence.ts";
import {
  MAX_INVITES_PER_ROOM,
  MAX_ROOMS_PER_USER,
  MEMBERS_LIST_LIMIT,
  ROOMS_LIST_LIMIT,
} from "../src/server/rooms.ts";
import {
  MAX_PENDING_SEARCHES,
  MAX_SEARCHES_PER_USER,
  SEARCH_TIME_BUDGET_MS,
} from "../src/server/search/searcher.ts";
import { MAX_PATTERN_PROGRAM_SIZE } from "../src/server/search/pattern.ts";
import {
  MAX_QUEUE_BYTES,
  MAX_WRITE_BYTES,
  REPLAY_CHUNK_BYTES,
  SENDER_PAUSE_BYTES,
} from "../src/server/session.ts";

const doc = await Deno.readTextFile(new URL("../docs/PROTOCOL.md", import.meta.url));

/** The table row whose first cell starts with `label` (markdown, as written). */
function row(label: string): string {
  const line = doc.split("\n").find((l) => l.startsWith(`| ${label}`));
  assert.ok(line, `docs/PROTOCOL.md has no row "${label}"`);
  return line;
}

const n = (x: number) => x.toLocaleString("en-US");
const s = (ms: number) => `${ms / 1000} s`;
const mib = (bytes: number) => `${bytes / 1024 / 1024} MiB`;
const kib = (bytes: number) => `${bytes / 1024} KiB`;

/** Each row, and the figures it must state. */
const ROWS: [string, string[]][] = [
  ["TLS handshake", [s(limits.HANDSHAKE_TIMEOUT_MS)]],
  ["from handshake to a successful `hello`", [s(limits.HELLO_TIMEOUT_MS)]],
  ["idle (no frame at all)", [s(limits.IDLE_TIMEOUT_MS)]],
  ["connections not logged in yet", [n(limits.MAX_CONNECTIONS_PER_ADDRESS), s(PENDING_GRACE_MS)]],
  ["open connections on the server", [n(limits.MAX_CONNECTIONS)]],
  ["new ids per address", [`${limits.DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR} an hour`]],
  ["output held for readers", [
    mib(limits.OUTPUT_BUDGET_BYTES),
    mib(limits.OUTPUT_BUDGET_BYTES * OUTPUT_RESUME_SHARE),
    s(STALLED_CUT_MS),
    s(OVER_BUDGET_CUT_MS),
  ]],
  ["a sender's own unread output", [mib(SENDER_PAUSE_BYTES)]],
  ["bytes handed to TLS in one write", [kib(MAX_WRITE_BYTES)]],
  ["unsent bytes queued for one connection", [mib(MAX_QUEUE_BYTES)]],
  ["backlog on `hello`", [`${BACKLOG_PAGE} messages`, kib(REPLAY_CHUNK_BYTES)]],
  ["message text", [n(MAX_TEXT_LENGTH)]],
  ["recipients of one direct message", [String(MAX_RECIPIENTS)]],
  ["request `ref`", [`1 to ${MAX_REF_LENGTH}`]],
  ["`send` and `delete` per user", [
    `default ${limits.DEFAULT_MAX_RATE}`,
    `${MAX_RATE_STRIKES} refusals`,
  ]],
  ["`send` and `delete` per address", [
    `${limits.ADDRESS_RATE_FACTOR} × \`--max-rate\`: ${
      limits.ADDRESS_RATE_FACTOR * limits.DEFAULT_MAX_RATE
    }`,
  ]],
  ["temporary message lifetime", [`${n(EXPIRIES_PER_TICK)} a tick`, s(EXPIRY_RETRY_MS)]],
  ["search", [
    `${MAX_PATTERN_LENGTH} characters`,
    `${MAX_PATTERN_PROGRAM_SIZE} RE2 instructions`,
    `the ${MAX_SEARCH_RESULTS} newest`,
    `${SEARCHES_PER_MINUTE} a minute per user (burst ${SEARCH_BURST})`,
    `${SEARCHES_PER_ADDRESS_PER_MINUTE} a minute per address (burst ${SEARCH_ADDRESS_BURST})`,
    `${MAX_SEARCHES_PER_USER} queued or running per user`,
    `${MAX_PENDING_SEARCHES} waiting`,
    s(SEARCH_TIME_BUDGET_MS),
  ]],
  ["wrong password", [
    `answered after ${s(PASSWORD_DELAY_MS)}`,
    `up to ${s(MAX_PASSWORD_DELAY_MS)}`,
    `${PASSWORD_GUESSES_PER_MINUTE} wrong passwords a minute`,
    `bursts of ${PASSWORD_GUESS_BURST}`,
  ]],
  ["sessions per user", [String(MAX_SESSIONS_PER_USER)]],
  ["rooms per user", [String(MAX_ROOMS_PER_USER)]],
  ["rooms on the server", [n(limits.DEFAULT_MAX_ROOMS)]],
  ["room topic", [`0 to ${MAX_TOPIC_LENGTH} UTF-16 code units`]],
  ["members listed per frame", [
    `the first ${n(MEMBERS_LIST_LIMIT)}`,
    `at most ${n(ROOMS_LIST_LIMIT)} rooms`,
  ]],
  ["room changes", [
    `${ROOM_CHANGES_PER_MINUTE} a minute per user (burst ${ROOM_CHANGE_BURST})`,
    `${ROOM_CHANGES_PER_ADDRESS_PER_MINUTE} a minute per address (burst ${ROOM_CHANGE_ADDRESS_BURST})`,
    `${MAX_RATE_STRIKES} in a row`,
  ]],
  ["new rooms", [
    `${ROOMS_CREATED_PER_HOUR} an hour per user`,
    `${limits.DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR} an hour per address`,
  ]],
  ["invitations per room", [`the ${MAX_INVITES_PER_ROOM} newest`]],
  ["away reason", [`1 to ${MAX_AWAY_LENGTH} UTF-16 code units`]],
  ["away changes", [
    `${limits.AWAY_CHANGES_PER_MINUTE} a minute per user (burst ${limits.AWAY_CHANGE_BURST})`,
    `${limits.AWAY_CHANGES_PER_ADDRESS_PER_MINUTE} a minute per address (burst ${limits.AWAY_CHANGE_ADDRESS_BURST})`,
    `${MAX_RATE_STRIKES} in a row`,
  ]],
  ["away kept", [`at most ${n(limits.MAX_AWAY_KEPT)} users`, `${limits.MAX_AWAY_TOLD} senders`]],
  ["moderation reason", [`1 to ${MAX_REASON_LENGTH} UTF-16 code units`]],
  ["ban or mute duration", [
    `${MIN_MODERATION_SECONDS} s to ${MAX_MODERATION_SECONDS / 86400} days`,
  ]],
  ["bans and mutes kept", [`${n(limits.MAX_RESTRICTIONS_PER_SCOPE)} per room`]],
  ["operators per room", [String(limits.MAX_OPERATORS_PER_ROOM)]],
  ["moderation log", [`the ${n(limits.MODLOG_KEEP)} newest entries`]],
  ["bans and log entries listed per frame", [
    `at most ${limits.BANS_LIST_LIMIT} bans and mutes`,
    `at most ${limits.MODLOG_LIST_LIMIT} entries`,
  ]],
  ["moderation requests", [
    `${limits.MODERATION_PER_MINUTE} a minute per user (burst ${limits.MODERATION_BURST})`,
    `${limits.MODERATION_PER_ADDRESS_PER_MINUTE} a minute per address (burst ${limits.MODERATION_ADDRESS_BURST})`,
  ]],
];

for (const [label, figures] of ROWS) {
  Deno.test(`PROTOCOL.md states the code's bounds: ${label}`, () => {
    const line = row(label);
    for (const figure of figures) {
      assert.ok(line.includes(figure), `"${label}" should say ${figure}:\n${line}`);
    }
  });
}

Deno.test("PROTOCOL.md states the code's bounds: frames, lists and backlogs", () => {
  assert.ok(doc.includes(`Frames over **${n(MAX_FRAME_BYTES)} bytes**`));
  assert.ok(row("`history`").includes(`\`limit\` (1–${MAX_HISTORY_LIMIT})`));
  assert.ok(row("`welcome`").includes(`the first ${PRESENCE_NAMES_LIMIT}`));
  assert.ok(row("`users`").includes(`at most ${n(USERS_LIST_LIMIT)}`));
  assert.ok(doc.includes(`the newest ${n(REPLAY_LIMIT)} of each`));
  assert.ok(doc.includes(`the ${HISTORY_ON_JOIN} newest messages`));
  assert.ok(doc.includes(`for ${SENT_REF_TTL_MS / 3600_000} hours`));
});
