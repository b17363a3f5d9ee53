/** Server-issued identities: `name_NNNN` ids and the secret tokens that reclaim them. */
import { createHash } from "node:crypto";

/** Four decimal digits from the CSPRNG. */
export function randomDigits(): string {
  // rejection sampling: no modulo bias
  const buf = new Uint16Array(1);
  for (;;) {
    crypto.getRandomValues(buf);
    if (buf[0] < 60000) return String(buf[0] % 10000).padStart(4, "0");
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
 * Picks an id for `name` that `taken` says was never issued: random digits first, then, if the
 * name is crowded, a scan from a random start. Null when all 10,000 are taken.
 */
export function pickId(
  name: string,
  taken: (id: string) => boolean,
  digits: () => string = randomDigits,
): string | null {
  for (let i = 0; i < 32; i++) {
    const id = `${name}_${digits()}`;
    if (!taken(id)) return id;
  }
  const start = Number(digits());
  for (let i = 0; i < 10000; i++) {
    const id = `${name}_${String((start + i) % 10000).padStart(4, "0")}`;
    if (!taken(id)) return id;
  }
  return null;
}
