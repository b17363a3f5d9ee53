/**
 * Certificate fingerprints and PEM helpers.
 *
 * Fingerprints are printed SSH style: `SHA256:` followed by the unpadded
 * base64 of the SHA-256 of the certificate's DER, e.g.
 * `SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU`. Users may paste the
 * hex form other tools print (`openssl x509 -fingerprint -sha256`); every form
 * is normalised to the one above before comparing.
 *
 * @module
 */

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;
const PREFIX = "SHA256:";
const DIGEST_BYTES = 32;

/** Standard base64 of `bytes`, with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let bin = "";
  // Chunked so large inputs do not overflow the argument limit.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Decodes standard base64 (padding optional); `null` when malformed. */
export function decodeBase64(text: string): Uint8Array | null {
  const clean = text.replace(/\s+/g, "").replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]*$/.test(clean) || clean.length % 4 === 1) return null;
  try {
    const bin = atob(clean + "=".repeat((4 - (clean.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * SSH-style fingerprint of a DER certificate.
 *
 * @example
 * ```ts
 * const fp = await fingerprintDer(der); // "SHA256:Xq3...": 7 + 43 characters
 * ```
 */
export async function fingerprintDer(der: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", der as Uint8Array<ArrayBuffer>),
  );
  return formatDigest(digest);
}

/**
 * SSH-style fingerprint of the first certificate in `pem`.
 * Throws when `pem` holds no certificate.
 *
 * @example
 * ```ts
 * const fp = await fingerprintPem(await Deno.readTextFile("certs/ca.pem"));
 * ```
 */
export async function fingerprintPem(pem: string): Promise<string> {
  return await fingerprintDer(pemToDer(pem));
}

/**
 * Canonical form of a fingerprint a person typed or pasted, or `null` if it
 * is not a SHA-256 fingerprint.
 *
 * Accepts `SHA256:<base64>` (padding optional, prefix in any case, the prefix
 * may be left out), and 64 hex digits with or without `:` (or space)
 * separators, with or without the `SHA256:` prefix.
 *
 * @example
 * ```ts
 * normalizeFingerprint("sha256:AB:CD:...") // "SHA256:q80..."
 * normalizeFingerprint("nonsense")         // null
 * ```
 */
export function normalizeFingerprint(input: string): string | null {
  let s = input.trim();
  if (s.toUpperCase().startsWith(PREFIX)) s = s.slice(PREFIX.length).trim();
  // Hex first: 64 hex digits cannot be mistaken for 43 base64 characters.
  const hex = s.replace(/[:\s]/g, "");
  if (/^[0-9a-fA-F]{64}$/.test(hex) && /^[0-9a-fA-F]{2}([:\s]?[0-9a-fA-F]{2})*$/.test(s)) {
    const bytes = new Uint8Array(DIGEST_BYTES);
    for (let i = 0; i < DIGEST_BYTES; i++) {
      bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    }
    return formatDigest(bytes);
  }
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(s)) return null;
  const bytes = decodeBase64(s);
  if (!bytes || bytes.length !== DIGEST_BYTES) return null;
  // Re-encoding rejects non-canonical trailing bits, so one digest has one spelling.
  const canonical = formatDigest(bytes);
  return canonical.slice(PREFIX.length) === s.replace(/=$/, "") ? canonical : null;
}

/** Colon-separated upper-case hex of a canonical fingerprint (what openssl prints). */
export function fingerprintToHex(fingerprint: string): string {
  const canonical = normalizeFingerprint(fingerprint);
  if (!canonical) throw new TypeError(`not a fingerprint: ${fingerprint}`);
  const bytes = decodeBase64(canonical.slice(PREFIX.length))!;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0").toUpperCase())
    .join(":");
}

/**
 * PEM text (`-----BEGIN CERTIFICATE-----`, 64-column lines, trailing newline)
 * of a DER certificate.
 */
export function derToPem(der: Uint8Array): string {
  const b64 = encodeBase64(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/**
 * Every certificate of a PEM chain, in file order, each re-wrapped to the
 * canonical layout of {@link derToPem}. Other blocks (keys, comments) are
 * skipped; blocks whose body is not base64 are dropped.
 *
 * @example
 * ```ts
 * const [leaf, ...rest] = splitPemChain(await Deno.readTextFile("server.pem"));
 * ```
 */
export function splitPemChain(pem: string): string[] {
  const out: string[] = [];
  for (const m of pem.matchAll(PEM_CERT_RE)) {
    const der = decodeBase64(m[1]);
    if (der && der.length > 0) out.push(derToPem(der));
  }
  return out;
}

/** DER bytes of the first certificate in `pem`; throws a `TypeError` when there is none. */
export function pemToDer(pem: string): Uint8Array {
  for (const m of pem.matchAll(PEM_CERT_RE)) {
    const der = decodeBase64(m[1]);
    if (der && der.length > 0) return der;
  }
  throw new TypeError("no PEM certificate found");
}

function formatDigest(digest: Uint8Array): string {
  return PREFIX + encodeBase64(digest).replace(/=+$/, "");
}
