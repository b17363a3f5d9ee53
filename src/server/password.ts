/**
 * The server password: whether a `hello` may pass, and how guessing is slowed. Per address, each
 * wrong password is answered after a delay that doubles, and until it has passed no password from
 * that address is looked at. Server-wide, a ceiling on wrong guesses checked, so many addresses
 * together guess no faster; returning users (a valid token) are exempt from that ceiling, so
 * strangers guessing cannot lock out the people who already have a seat. Every failure is logged
 * with its address.
 */
import { timingSafeEqual } from "node:crypto";
import { hashToken } from "./identity.ts";
import type { Log } from "./log.ts";
import { TokenBucket } from "./rate.ts";

/**
 * Delay before a wrong password is answered; doubles with each failure from one address. Until
 * it has passed, no password from that address is looked at.
 */
export const PASSWORD_DELAY_MS = 1_000;
export const MAX_PASSWORD_DELAY_MS = 30_000;
/** Failures from an address are forgotten after this long without one. */
export const PASSWORD_FAILURE_MEMORY_MS = 10 * 60_000;
/** Addresses with failures remembered before the forgotten ones are swept out. */
export const MAX_PASSWORD_ADDRESSES = 10_000;
/** Wrong passwords checked per minute on the whole server (from newcomers), and the burst. */
export const PASSWORD_GUESSES_PER_MINUTE = 30;
export const PASSWORD_GUESS_BURST = 10;

export type PasswordVerdict =
  | { ok: true }
  /** Refused; `delayMs` > 0: answer only after that long (a wrong guess). */
  | { ok: false; message: string; delayMs: number };

export class PasswordGate {
  readonly #digest: Uint8Array;
  readonly #now: () => number;
  readonly #log: Log;
  /** Wrong passwords by address: how many, the last one's time, and until when it is locked. */
  readonly #failures = new Map<string, { count: number; last: number; until: number }>();
  readonly #guesses: TokenBucket;
  #ceilingLogged = false;

  constructor(password: string, now: () => number, log: Log) {
    this.#digest = new TextEncoder().encode(hashToken(password));
    this.#now = now;
    this.#log = log;
    this.#guesses = new TokenBucket(PASSWORD_GUESSES_PER_MINUTE / 60, PASSWORD_GUESS_BURST, now());
  }

  /**
   * May this `hello` in? `address` is the per-address key, `shown` the address for the log;
   * `returning`: it carries a valid token (exempt from the server-wide ceiling).
   */
  check(
    given: string | undefined,
    address: string,
    shown: string,
    returning: boolean,
  ): PasswordVerdict {
    if (given === undefined) {
      return {
        ok: false,
        message: "this server needs a password (--password-file or CHAT_PASSWORD)",
        delayMs: 0,
      };
    }
    const now = this.#now();
    const lockedFor = Math.max(0, (this.#failures.get(address)?.until ?? 0) - now);
    if (lockedFor > 0) {
      // after a wrong guess the address waits out its delay before any password is even looked
      // at: answering a right one at once would tell a guesser who hangs up early
      return {
        ok: false,
        message: `too many wrong passwords from your address; try again in ${
          Math.ceil(lockedFor / 1000)
        } s`,
        delayMs: 0,
      };
    }
    if (this.#guesses.full(now)) this.#ceilingLogged = false; // a quiet spell: say it again
    if (!returning && !this.#guesses.available(now)) {
      if (!this.#ceilingLogged) {
        this.#ceilingLogged = true;
        this.#log.warn(
          `more than ${PASSWORD_GUESSES_PER_MINUTE} wrong passwords a minute: passwords from ` +
            "newcomers are refused unchecked for now (returning users are not affected)",
        );
      }
      return {
        ok: false,
        message: "too many wrong passwords on this server just now; try again in a minute",
        delayMs: 0,
      };
    }
    if (this.#matches(given)) return { ok: true };
    this.#guesses.take(now); // every wrong guess counts toward the ceiling, whoever sends it
    const delayMs = this.#recordFailure(address, now);
    this.#log.warn("wrong password", { address: shown });
    return { ok: false, message: "wrong password", delayMs };
  }

  /** Records a wrong password from `address`; returns how long its answer (and lockout) lasts. */
  #recordFailure(address: string, now: number): number {
    const prior = this.#failures.get(address);
    const count = prior && now - prior.last < PASSWORD_FAILURE_MEMORY_MS ? prior.count + 1 : 1;
    const delay = Math.min(MAX_PASSWORD_DELAY_MS, PASSWORD_DELAY_MS * 2 ** Math.min(count - 1, 20));
    this.#failures.set(address, { count, last: now, until: now + delay });
    if (this.#failures.size > MAX_PASSWORD_ADDRESSES) {
      for (const [key, entry] of this.#failures) {
        if (now - entry.last >= PASSWORD_FAILURE_MEMORY_MS) this.#failures.delete(key);
      }
    }
    return delay;
  }

  #matches(given: string): boolean {
    // compare digests: equal length, constant time whatever the guess
    return timingSafeEqual(new TextEncoder().encode(hashToken(given)), this.#digest);
  }
}
