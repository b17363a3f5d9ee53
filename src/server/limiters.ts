/**
 * Rate limits on requests, each per user and per address (a new id per connection must not buy a
 * new burst): sending (messages and deletes), searching, changing rooms and creating them, going
 * away and coming back, moderating. Over a limit a request is refused
 * with `error rate_limited`; MAX_RATE_STRIKES refusals in a row cut the connection.
 */
import { ErrorCode } from "../protocol/schema.ts";
import { addressKey } from "./address.ts";
import { reply } from "./frames.ts";
import {
  ADDRESS_RATE_FACTOR,
  AWAY_CHANGE_ADDRESS_BURST,
  AWAY_CHANGE_BURST,
  AWAY_CHANGES_PER_ADDRESS_PER_MINUTE,
  AWAY_CHANGES_PER_MINUTE,
  DEFAULT_MAX_RATE,
  DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR,
  MODERATION_ADDRESS_BURST,
  MODERATION_BURST,
  MODERATION_PER_ADDRESS_PER_MINUTE,
  MODERATION_PER_MINUTE,
} from "./limits.ts";

export { DEFAULT_MAX_RATE };
import { type Log, silentLog } from "./log.ts";
import * as metrics from "./metrics.ts";
import type { Peer } from "./peer.ts";
import { burstFor, RateLimiter } from "./rate.ts";

/** Refusals in a row after which a flooding connection is cut. */
export const MAX_RATE_STRIKES = 50;
/** Searches per minute per user (each one reads everything the user may see), and the burst. */
export const SEARCHES_PER_MINUTE = 20;
export const SEARCH_BURST = 5;
/** Searches per minute from one address, whatever ids it uses, and the burst. */
export const SEARCHES_PER_ADDRESS_PER_MINUTE = 60;
export const SEARCH_ADDRESS_BURST = 15;

/**
 * Changes to rooms (join, part, topic, privacy, invitations) per minute per user and the burst:
 * each is a write to the store and news for a room's members.
 */
export const ROOM_CHANGES_PER_MINUTE = 60;
export const ROOM_CHANGE_BURST = 60;
/** Changes to rooms per minute from one address, whatever ids it uses, and the burst. */
export const ROOM_CHANGES_PER_ADDRESS_PER_MINUTE = 240;
export const ROOM_CHANGE_ADDRESS_BURST = 120;
/** Rooms created per hour per user (all of them at once at most): a room is kept for good. */
export const ROOMS_CREATED_PER_HOUR = 10;

/** What a request spends. */
export type LimitKind = "send" | "search" | "room" | "createRoom" | "away" | "moderate";

interface Limit {
  byUser?: RateLimiter;
  byAddress?: RateLimiter;
  userWords: string;
  addressWords: string;
}

export interface LimitersOptions {
  /** Messages per second per user, sustained (default DEFAULT_MAX_RATE); 0 turns it off. */
  maxRate?: number;
  /** Messages per second from one address (default ADDRESS_RATE_FACTOR × maxRate); 0: off. */
  maxRatePerAddress?: number;
  /** Rooms created per hour from one address (default DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR); 0: off. */
  newRoomsPerAddressPerHour?: number;
  now?: () => number;
  log?: Log;
  /** Runs before a flooding connection is cut: what it sent before is stored and acknowledged. */
  beforeCut?: () => void;
}

export class Limiters {
  readonly #limits: Record<LimitKind, Limit>;
  readonly #now: () => number;
  readonly #log: Log;
  readonly #beforeCut: () => void;

  constructor(options: LimitersOptions = {}) {
    const rate = options.maxRate ?? DEFAULT_MAX_RATE;
    const perAddress = options.maxRatePerAddress ?? rate * ADDRESS_RATE_FACTOR;
    const newRooms = options.newRoomsPerAddressPerHour ?? DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR;
    const bucket = (perSecond: number, burst = burstFor(perSecond)) =>
      perSecond > 0 ? new RateLimiter(perSecond, burst) : undefined;
    this.#limits = {
      send: {
        byUser: bucket(rate),
        byAddress: bucket(perAddress),
        userWords: `${rate} messages a second`,
        addressWords: `${perAddress} messages a second from one address`,
      },
      search: {
        byUser: bucket(SEARCHES_PER_MINUTE / 60, SEARCH_BURST),
        byAddress: bucket(SEARCHES_PER_ADDRESS_PER_MINUTE / 60, SEARCH_ADDRESS_BURST),
        userWords: `${SEARCHES_PER_MINUTE} searches a minute`,
        addressWords: `${SEARCHES_PER_ADDRESS_PER_MINUTE} searches a minute from one address`,
      },
      room: {
        byUser: bucket(ROOM_CHANGES_PER_MINUTE / 60, ROOM_CHANGE_BURST),
        byAddress: bucket(ROOM_CHANGES_PER_ADDRESS_PER_MINUTE / 60, ROOM_CHANGE_ADDRESS_BURST),
        userWords: `${ROOM_CHANGES_PER_MINUTE} changes to rooms a minute`,
        addressWords: `${ROOM_CHANGES_PER_ADDRESS_PER_MINUTE} changes to rooms a minute ` +
          "from one address",
      },
      createRoom: {
        byUser: bucket(ROOMS_CREATED_PER_HOUR / 3600, ROOMS_CREATED_PER_HOUR),
        byAddress: bucket(newRooms / 3600, newRooms),
        userWords: `${ROOMS_CREATED_PER_HOUR} new rooms an hour`,
        addressWords: `${newRooms} new rooms an hour from one address`,
      },
      away: {
        byUser: bucket(AWAY_CHANGES_PER_MINUTE / 60, AWAY_CHANGE_BURST),
        byAddress: bucket(AWAY_CHANGES_PER_ADDRESS_PER_MINUTE / 60, AWAY_CHANGE_ADDRESS_BURST),
        userWords: `${AWAY_CHANGES_PER_MINUTE} away changes a minute`,
        addressWords: `${AWAY_CHANGES_PER_ADDRESS_PER_MINUTE} away changes a minute from one ` +
          "address",
      },
      moderate: {
        byUser: bucket(MODERATION_PER_MINUTE / 60, MODERATION_BURST),
        byAddress: bucket(MODERATION_PER_ADDRESS_PER_MINUTE / 60, MODERATION_ADDRESS_BURST),
        userWords: `${MODERATION_PER_MINUTE} moderation requests a minute`,
        addressWords: `${MODERATION_PER_ADDRESS_PER_MINUTE} moderation requests a minute ` +
          "from one address",
      },
    };
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
    this.#beforeCut = options.beforeCut ?? (() => {});
  }

  /**
   * Whether `peer` may make a request of `kind` now (a token is taken); if not, it has been told
   * (or cut, when it keeps on).
   */
  allow(kind: LimitKind, peer: Peer, userId: string, ref: string): boolean {
    const limit = this.#limits[kind];
    const now = this.#now();
    const address = addressKey(peer.address);
    // look at both before taking from either: a refusal spends nothing
    let words: string | undefined;
    if (limit.byUser && !limit.byUser.available(userId, now)) words = limit.userWords;
    else if (limit.byAddress && !limit.byAddress.available(address, now)) {
      words = limit.addressWords;
    }
    if (words === undefined) {
      limit.byUser?.take(userId, now);
      limit.byAddress?.take(address, now);
      peer.strikes = 0;
      return true;
    }
    peer.strikes = (peer.strikes ?? 0) + 1;
    if (peer.strikes >= MAX_RATE_STRIKES) {
      this.#beforeCut();
      metrics.refused("flood");
      this.#log.warn("cut for flooding", { id: userId, address: peer.address });
      peer.close("flood", "too many messages too fast; disconnected");
      return false;
    }
    metrics.refused("rate_limited");
    this.#log.count("rate_limited", address);
    reply(peer, {
      type: "error",
      ref,
      code: ErrorCode.rateLimited,
      message: `slow down: at most ${words}; that request was refused`,
    });
    return false;
  }

  /** Forgets buckets that have refilled (called now and then). */
  prune(now: number): void {
    for (const limit of Object.values(this.#limits)) {
      limit.byUser?.prune(now);
      limit.byAddress?.prune(now);
    }
  }
}
