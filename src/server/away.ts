/**
 * Who is away, and why: set and cleared by `away`, shown in `who`, and said once to whoever
 * writes a direct message to someone away (once per sender per away period). Kept in memory per
 * id, online or not (an away outlives a dropped connection, not a restart), within bounds.
 */
import type { AwayEvent, User } from "../protocol/schema.ts";
import { reply } from "./frames.ts";
import { MAX_AWAY_KEPT, MAX_AWAY_TOLD } from "./limits.ts";
import type { Peer } from "./peer.ts";

interface Period {
  reason: string;
  since: number;
  /** Who has been told, this period (at most MAX_AWAY_TOLD). */
  told: Set<string>;
}

export class Away {
  /** By id, the longest away first (Maps keep insertion order). */
  readonly #away = new Map<string, Period>();

  /** How many users are marked away. */
  get size(): number {
    return this.#away.size;
  }

  /** The frame saying where `userId` stands now (with `ref`: the answer to their `away`). */
  frame(userId: string, ref?: string): AwayEvent {
    const period = this.#away.get(userId);
    const frame: AwayEvent = { type: "away", user: userId };
    if (ref !== undefined) frame.ref = ref;
    if (period) Object.assign(frame, { reason: period.reason, since: period.since });
    return frame;
  }

  /** `away`: marks the user away (a new period: everyone may be told again), or back. */
  set(peer: Peer, user: User, ref: string, reason: string | undefined, now: number): void {
    this.#away.delete(user.id);
    if (reason !== undefined) {
      this.#away.set(user.id, { reason, since: now, told: new Set() });
      while (this.#away.size > MAX_AWAY_KEPT) this.#away.delete(this.#away.keys().next().value!);
    }
    reply(peer, this.frame(user.id, ref));
  }

  /** Whether `userId` is away. */
  isAway(userId: string): boolean {
    return this.#away.has(userId);
  }

  /** `users` with why each one away is (copies; the others as they are). */
  mark(users: readonly User[]): User[] {
    return users.map((u) => {
      const period = this.#away.get(u.id);
      return period ? { ...u, away: period.reason } : u;
    });
  }

  /**
   * A direct message from `from` (on `peer`) reached `to`: for each recipient away who has not
   * told `from` yet this period, `from` is told, once.
   */
  answer(peer: Peer, from: string, to: readonly string[]): void {
    for (const id of to) {
      const period = this.#away.get(id);
      if (!period || id === from || period.told.has(from)) continue;
      if (period.told.size >= MAX_AWAY_TOLD) continue; // bounded: `who` still says it
      period.told.add(from);
      reply(peer, this.frame(id));
    }
  }
}
