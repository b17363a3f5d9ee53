/**
 * Server-issued identities: `name_NNNN` ids (a digit longer once a name is crowded) and the
 * secret tokens that reclaim them.
 */
import { createHash } from "node:crypto";

/** Digits of a new id: four while the name has room, up to eight when it is crowded. */
export const MIN_ID_DIGITS = 4;
export const MAX_ID_DIGITS = 8;
/**
 * Random tries at each length before growing a digit. Eight misses in a row are unlikely
 * until about half the ids of that length are issued, so a name moves on long before it
 * fills up, and a hello costs at most 8 × 5 lookups.
 */
export const ID_TRIES_PER_LENGTH = 8;

/** `count` (default 4) decimal digits from the CSPRNG. */
export function randomDigits(count: number = MIN_ID_DIGITS): string {
  const range = 10 ** count;
  // rejection sampling: no modulo bias (the largest multiple of `range` that fits 32 bits)
  const limit = Math.floor(2 ** 32 / range) * range;
  const buf = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(buf);
    if (buf[0] < limit) return String(buf[0] % range).padStart(count, "0");
  }
}

/** A fresh secret token: 32 random bytes, base64url. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

/** What the store keeps of a token: its SHA-256, hex. A leaked database does not leak tokens. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Picks an id for `name` that `taken` says was never issued: a few random ids of 4 digits,
 * then of 5, and so on up to 8 — each try one lookup, never a scan — so a name does not run
 * out in practice. Null only if every try at every length hit an issued id.
 *
 * `digits(count)` gives `count` random decimal digits; a source that ignores `count` (tests
 * inject `() => "0001"`) is used where its answer has the right length, and the CSPRNG beyond.
 */
export function pickId(
  name: string,
  taken: (id: string) => boolean,
  digits: (count: number) => string = randomDigits,
): string | null {
  for (let count = MIN_ID_DIGITS; count <= MAX_ID_DIGITS; count++) {
    for (let i = 0; i < ID_TRIES_PER_LENGTH; i++) {
      let drawn = digits(count);
      if (drawn.length !== count || !/^[0-9]+$/.test(drawn)) drawn = randomDigits(count);
      const id = `${name}_${drawn}`;
      if (!taken(id)) return id;
    }
  }
  return null;
}
