/**
 * Who may come in, and as whom: the password (with its lockout), tokens (rotated on every use,
 * a replaced one briefly opening a second session, a revoked one refused and said so), new ids
 * (within an address's allowance, never running out) and the sessions a user can list and revoke.
 * Presence is not its business: it answers a `hello` with an identity or a refusal.
 */
import { ErrorCode, type Hello, type SessionInfo, type User } from "../protocol/schema.ts";
import { addressKey } from "./address.ts";
import { hashToken, newToken, pickId, randomDigits } from "./identity.ts";
import { DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR } from "./limits.ts";
import { type Log, silentLog } from "./log.ts";
import * as metrics from "./metrics.ts";
import { PasswordGate } from "./password.ts";
import type { Peer } from "./peer.ts";
import { RateLimiter } from "./rate.ts";
import type { StoreHealth } from "./store/health.ts";
import { type Identity, IdTakenError, type Store, type TokenMatch } from "./store/store.ts";

/** Ids tried for one newcomer when other nodes of a cluster keep taking the one picked. */
export const ID_TAKEN_RETRIES = 5;

/** A token presented again this soon after it was rotated away makes a second session. */
export const TOKEN_REUSE_GRACE_MS = 5 * 60_000;
/** Sessions (devices) kept per id; the least recently seen go first. */
export const MAX_SESSIONS_PER_USER = 10;

/** What a `hello` comes to. */
export type Admission =
  | { ok: true; identity: Identity; token: string; sessionId: string; returning: boolean }
  /** Refused; `delayMs` > 0: say so only after that long (a wrong password). */
  | { ok: false; code: string; reason: string; message: string; delayMs: number };

export interface AdmissionOptions {
  store: Store;
  health: StoreHealth;
  /** The server password, when one is set. */
  password?: string;
  /** New ids per hour per address (default DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR); 0: no limit. */
  newIdsPerAddressPerHour?: number;
  /**
   * Why a `hello` is refused by a server-wide ban, on the id its token names (undefined: none)
   * or on the address; null when there is none (default: nobody is banned).
   */
  banned?: (userId: string | undefined, address: string | undefined) => string | null;
  now?: () => number;
  digits?: () => string;
  log?: Log;
}

export class Admissions {
  readonly #store: Store;
  readonly #health: StoreHealth;
  readonly #password?: PasswordGate;
  readonly #newIdsPerHour: number;
  readonly #newIds?: RateLimiter;
  readonly #banned: NonNullable<AdmissionOptions["banned"]>;
  readonly #now: () => number;
  readonly #digits: () => string;
  readonly #log: Log;

  constructor(options: AdmissionOptions) {
    this.#store = options.store;
    this.#health = options.health;
    this.#banned = options.banned ?? (() => null);
    this.#now = options.now ?? Date.now;
    this.#digits = options.digits ?? randomDigits;
    this.#log = options.log ?? silentLog;
    if (options.password !== undefined) {
      this.#password = new PasswordGate(options.password, this.#now, this.#log);
    }
    this.#newIdsPerHour = options.newIdsPerAddressPerHour ?? DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR;
    if (this.#newIdsPerHour > 0) {
      this.#newIds = new RateLimiter(this.#newIdsPerHour / 3600, this.#newIdsPerHour);
    }
  }

  /** Decides a `hello` from `peer`. */
  admit(peer: Peer, hello: Hello): Admission {
    const shown = peer.address ?? "?";
    let match: TokenMatch | null = null;
    let banned: string | null;
    try {
      match = hello.token ? this.#tokenMatch(hello.name, hello.token, shown) : null;
      // before any token is rotated or id made: a banned one is turned away as it came
      banned = match?.revoked ? null : this.#banned(match?.identity.id, peer.address);
    } catch (error) {
      this.#log.error("could not look up a token", { cause: (error as Error).message });
      return refusal(
        ErrorCode.unavailable,
        "unavailable",
        "the server cannot read its database just now; try again shortly",
      );
    }
    if (match?.revoked) {
      this.#log.warn("a revoked token was presented; refused", {
        id: match.identity.id,
        address: shown,
      });
      return refusal(
        ErrorCode.revoked,
        "revoked",
        "this device was signed out from another session (logout-others); " +
          "join again to get a new id",
      );
    }
    if (banned !== null) {
      // as often as they like: counted, not a line each
      metrics.refused("banned");
      this.#log.count("banned", addressKey(peer.address));
      return refusal(ErrorCode.banned, "banned", banned);
    }
    if (this.#password) {
      const verdict = this.#password.check(
        hello.password,
        addressKey(peer.address),
        shown,
        match !== null,
      );
      if (!verdict.ok) {
        return refusal(ErrorCode.badPassword, "bad_password", verdict.message, verdict.delayMs);
      }
    }
    return match ? this.#returning(peer, match, hello.token!) : this.#newcomer(peer, hello);
  }

  /** `user`'s sessions, the one `current` marked. */
  sessions(user: User, current?: string): SessionInfo[] {
    return this.#store.sessions(user.id).map((s) => ({
      id: s.id,
      current: s.id === current,
      createdAt: s.createdAt,
      lastSeenAt: s.lastSeenAt,
      address: s.address,
    }));
  }

  /** Revokes every session of `user` but `keep`; false when the store could not. */
  logoutOthers(user: User, keep: string, address?: string): boolean {
    try {
      const revoked = this.#store.revokeOtherSessions(user.id, keep, this.#now());
      this.#health.ok();
      this.#log.info("sessions revoked", { id: user.id, count: revoked, address });
      return true;
    } catch (error) {
      this.#health.failed("revoking sessions", error);
      return false;
    }
  }

  /** Forgets idle allowances (called now and then). */
  prune(now: number): void {
    this.#newIds?.prune(now);
  }

  /**
   * What a token proves. Its session's current token: that session. The token it replaced,
   * presented again soon after (a lost welcome, or a copy in other hands): a second session, so
   * both show in `sessions` and the owner can revoke the other. Older than that: nothing.
   */
  #tokenMatch(name: string, token: string, shown: string): TokenMatch | null {
    const match = this.#store.sessionByToken(name, hashToken(token));
    if (!match?.previous) return match;
    if (match.rotatedAt !== null && this.#now() - match.rotatedAt <= TOKEN_REUSE_GRACE_MS) {
      this.#log.warn("a replaced token was presented again; it opens a second session", {
        id: match.identity.id,
        address: shown,
      });
      return match;
    }
    this.#log.warn("an old token was presented; refused", {
      id: match.identity.id,
      address: shown,
    });
    return null;
  }

  /** A valid token: the same id, and the token rotated (or the session forked). */
  #returning(peer: Peer, match: TokenMatch, presented: string): Admission {
    const token = newToken();
    const now = this.#now();
    const address = peer.address ?? "";
    const { identity, session } = match;
    if (match.previous) {
      try {
        const sessionId = this.#store.createSession(
          identity.id,
          hashToken(token),
          now,
          address,
          MAX_SESSIONS_PER_USER,
        );
        this.#health.ok();
        return { ok: true, identity, token, sessionId, returning: true };
      } catch (error) {
        // the replaced token it holds lapses with its grace: no id handed out on it now
        this.#health.failed("opening a session", error);
        return unwritable("sign you in", "shortly");
      }
    }
    try {
      this.#store.rotateSession(session.id, hashToken(presented), hashToken(token), now, address);
      this.#health.ok();
      return { ok: true, identity, token, sessionId: session.id, returning: true };
    } catch (error) {
      // the store cannot take a new token now: the one presented stays good
      this.#health.failed("rotating a token", error);
      return { ok: true, identity, token: presented, sessionId: session.id, returning: true };
    }
  }

  /** No valid token: a new id, within the address's allowance of new ids. */
  #newcomer(peer: Peer, hello: Hello): Admission {
    const address = addressKey(peer.address);
    if (this.#newIds && !this.#newIds.take(address, this.#now())) {
      metrics.refused("too_many_ids");
      this.#log.count("too_many_ids", address);
      return refusal(
        ErrorCode.rateLimited,
        "too_many_ids",
        `too many new ids from your address (at most ${this.#newIdsPerHour} an hour); ` +
          "join again from the account that has your id, or try again later",
      );
    }
    const token = newToken();
    const createdAt = this.#now();
    // another node of a cluster may issue the same id at the same moment: the store refuses the
    // second (IdTakenError), and another is picked
    for (let attempt = 0; attempt < ID_TAKEN_RETRIES; attempt++) {
      const id = pickId(hello.name, (id) => this.#store.canonicalId(id) !== null, this.#digits);
      if (id === null) {
        return refusal(
          ErrorCode.full,
          "full",
          `every id for the name ${hello.name} has been issued; pick another name`,
        );
      }
      try {
        const sessionId = this.#store.createIdentity(
          { id, name: hello.name, tokenHash: hashToken(token), createdAt },
          peer.address ?? "",
        );
        this.#health.ok();
        const identity = { id, name: hello.name, tokenHash: "", createdAt, lastSeq: 0 };
        return { ok: true, identity, token, sessionId, returning: false };
      } catch (error) {
        if (error instanceof IdTakenError) continue;
        this.#health.failed("issuing a new id", error);
        return unwritable("issue new ids", "later");
      }
    }
    return refusal(
      ErrorCode.unavailable,
      "unavailable",
      `the server could not find a free id for ${hello.name} just now; try again`,
    );
  }
}

/** The refusal when the database cannot be written: the server cannot `what` just now. */
function unwritable(what: string, when: "shortly" | "later"): Admission {
  return refusal(
    ErrorCode.unavailable,
    "unavailable",
    `the server cannot ${what} just now (it cannot write to its database); try again ${when}`,
  );
}

function refusal(code: string, reason: string, message: string, delayMs = 0): Admission {
  return { ok: false, code, reason, message, delayMs };
}
