/**
 * Server defaults that the command line offers to change, in a module with no imports, so that
 * the help text (src/cli/args.ts) names the very numbers the server uses without loading it.
 */

/** Default sustained messages per second per user (`--max-rate`). */
export const DEFAULT_MAX_RATE = 10;
/** Time allowed for the TLS handshake (`--handshake-timeout`). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Time allowed between the handshake and a successful `hello` (`--hello-timeout`). */
export const HELLO_TIMEOUT_MS = 10_000;
/** Silence after which a connection is cut (`--idle-timeout`); clients ping three times as often. */
export const IDLE_TIMEOUT_MS = 45_000;
/** New ids issued per hour to one address (IPv6: one /64), by default; the burst is the same. */
export const DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR = 60;
/** Rooms created per hour from one address (IPv6: one /64), by default; the burst is the same. */
export const DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR = 30;
/** Rooms the server keeps at most (`--max-rooms`): a room, once made, is kept for good. */
export const DEFAULT_MAX_ROOMS = 10_000;
/** By default, one address may send this many times the per-user rate (many people behind one NAT). */
export const ADDRESS_RATE_FACTOR = 5;
/**
 * Connections from one address (IPv6: one /64) that have not logged in yet: room for an office
 * behind one NAT reconnecting at once. One more pushes out a silent or stalled one (pending.ts),
 * so idle sockets cannot lock out the people behind that address; logged-in connections do not
 * count (there is one per user).
 */
export const MAX_CONNECTIONS_PER_ADDRESS = 128;
/** Open connections on the whole server, logged in or not; more are closed at once. */
export const MAX_CONNECTIONS = 20_000;
/** Output bytes the whole server may hold before producers are paused. */
export const OUTPUT_BUDGET_BYTES = 32 * 1024 * 1024;
/**
 * Users the server keeps marked away at most (in memory, online or not: an away survives a
 * reconnect but not a restart); past it, the longest away is forgotten first.
 */
export const MAX_AWAY_KEPT = 10_000;
/**
 * Senders told that someone is away, remembered per away period (each is told once); past it,
 * further senders are not told (they still see it in `who`): memory stays bounded.
 */
export const MAX_AWAY_TOLD = 100;
/** `away` changes per minute per user and the burst; per address, and its burst. */
export const AWAY_CHANGES_PER_MINUTE = 10;
export const AWAY_CHANGE_BURST = 5;
export const AWAY_CHANGES_PER_ADDRESS_PER_MINUTE = 60;
export const AWAY_CHANGE_ADDRESS_BURST = 30;

// ---- moderation (each bound is listed in docs/PROTOCOL.md and has a test sending past it) ----

/**
 * Bans and mutes kept in force per scope (one room, or the whole server): one more is refused
 * with `error full` until one is lifted or ends (replacing one on the same target always works).
 */
export const MAX_RESTRICTIONS_PER_SCOPE = 10_000;
/** Operators one room may have, its creator included. */
export const MAX_OPERATORS_PER_ROOM = 50;
/** Moderation log entries kept, server-wide; the oldest go first. */
export const MODLOG_KEEP = 10_000;
/** Most bans and mutes one `bans` answer lists (fewer when they would not fit one frame). */
export const BANS_LIST_LIMIT = 200;
/** Most moderation log entries one `modlog` answer lists (fewer when they would not fit one frame). */
export const MODLOG_LIST_LIMIT = 200;
/**
 * Moderation requests (every one: ops, op, deop, kick, ban, unban, mute, unmute, bans, modlog)
 * per minute per user, and the burst: each is a few reads and writes of the store, and news for
 * a room's members.
 */
export const MODERATION_PER_MINUTE = 30;
export const MODERATION_BURST = 30;
/** Moderation requests per minute from one address, whatever ids it uses, and the burst. */
export const MODERATION_PER_ADDRESS_PER_MINUTE = 120;
export const MODERATION_ADDRESS_BURST = 60;
/** Ended bans and mutes forgotten per prune (every minute): a mass expiry is spread out. */
export const RESTRICTIONS_PRUNED_PER_TICK = 1_000;
