/**
 * The protocol's rules as plain values and checks, without zod: limits, name and id patterns,
 * the rooms' spelling, what a one-line text may hold. The client loads only this (and
 * server_frames.ts) at run time; schema.ts builds the frames' zod schemas on it and re-exports it.
 */
/** Protocol name announced through TLS ALPN. */
export const ALPN = "chat/1";

/** Longest message text, in UTF-16 code units (well under the frame cap once JSON-escaped). */
export const MAX_TEXT_LENGTH = 4000;
/** Most recipients one direct message may name. */
export const MAX_RECIPIENTS = 32;
/** Longest client-chosen request reference. */
export const MAX_REF_LENGTH = 64;
/** Longest search pattern. */
export const MAX_PATTERN_LENGTH = 256;
/** Shortest and longest lifetime of a temporary message, seconds. */
export const MIN_TTL_SECONDS = 1;
export const MAX_TTL_SECONDS = 7 * 24 * 3600;
/** Most results one search returns (the total is counted beyond it). */
export const MAX_SEARCH_RESULTS = 50;
/** Most messages one history request may ask for. */
export const MAX_HISTORY_LIMIT = 200;
/**
 * The room everyone is in at first, and where a public message goes when it names none. Room
 * names are kept lower-case: `#General` is `#general`.
 */
export const GENERAL_ROOM = "#general";
/** A room name: '#' and 1 to 32 of a-z 0-9 - _ (ignoring case). */
export const ROOM_PATTERN = /^#[a-z0-9_-]{1,32}$/i;
/**
 * Longest room topic, in UTF-16 code units: one line, no control characters, so the welcome's
 * list of a user's rooms fits one frame with every topic at its longest.
 */
export const MAX_TOPIC_LENGTH = 200;
/** Longest reason given for a kick, ban or mute, in UTF-16 code units: one line, like a topic. */
export const MAX_REASON_LENGTH = 200;
/**
 * Shortest and longest ban or mute with a duration, seconds; without one it lasts until it is
 * lifted. Bounded so that a deadline is a plain number of milliseconds far from any overflow.
 */
export const MIN_MODERATION_SECONDS = 1;
export const MAX_MODERATION_SECONDS = 366 * 24 * 3600;
/** Longest address a ban may name: an IPv6 address written out in full, or its /64. */
export const MAX_ADDRESS_LENGTH = 45;

/** A display name: 1–24 of A-Z a-z 0-9 . _ - and not itself shaped like an id. */
export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,24}$/;
/**
 * A user id: name, underscore, 4 to 8 digits (four until a name is crowded; then longer, so a
 * name never runs out of ids).
 */
export const ID_PATTERN = /^[A-Za-z0-9._-]{1,24}_[0-9]{4,8}$/;
/** A message id: a ULID. */
export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Why a name is refused, or null when it is fine. */
export function nameProblem(name: string): string | null {
  if (!NAME_PATTERN.test(name)) {
    return "a name is 1 to 24 characters of letters, digits, '.', '_' and '-'";
  }
  if (/_[0-9]{4,8}$/.test(name)) {
    return "a name may not end in '_' and 4 to 8 digits (that is how ids look)";
  }
  return null;
}

/**
 * A room name as a person types it, in its one spelling (lower-case); the `#` may be left out,
 * as irssi allows (and a shell takes an unquoted `#builds` for a comment). Null when it is not one.
 */
export function roomName(typed: string): string | null {
  const name = typed.startsWith("#") ? typed : `#${typed}`;
  return ROOM_PATTERN.test(name) ? name.toLowerCase() : null;
}

/** Why a room name is refused. */
export const ROOM_NAME_RULE = "a room name is '#' and 1 to 32 of a-z, 0-9, '-' and '_'";

/**
 * Longest away reason, in UTF-16 code units: one line, no control characters (it is shown in
 * `/who` and told to whoever writes to someone away).
 */
export const MAX_AWAY_LENGTH = 200;

/**
 * What a one-line text shown to others (a topic, an away reason) may not hold: C0, DEL and C1
 * controls, the Unicode bidi controls (an override reorders the rest of the line others read it
 * in: the room's name, the next column) and the line and paragraph separators (a second line).
 * Right-to-left text itself is fine: only the invisible controls are refused.
 */
// deno-lint-ignore no-control-regex -- refusing control characters is the point
const NOT_IN_ONE_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

/** Why a one-line text (`what`: "a topic") is refused, or null when it is fine. */
function oneLineProblem(what: string, text: string, max: number): string | null {
  if (text.length > max) return `${what} is at most ${max} characters`;
  if (NOT_IN_ONE_LINE.test(text)) return `${what} is one line, without control characters`;
  return null;
}

/** Why a topic is refused, or null when it is fine. */
export function topicProblem(topic: string): string | null {
  return oneLineProblem("a topic", topic, MAX_TOPIC_LENGTH);
}

/** Why an away reason is refused, or null when it is fine. */
export function awayProblem(reason: string): string | null {
  return oneLineProblem("an away reason", reason, MAX_AWAY_LENGTH);
}

/** Why a reason for a kick, ban or mute is refused, or null when it is fine. */
export function reasonProblem(reason: string): string | null {
  return oneLineProblem("a reason", reason, MAX_REASON_LENGTH);
}
