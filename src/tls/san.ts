/**
 * The names in a certificate's subjectAltName extension, read from its DER (internal to
 * `src/tls/`): what a client needs to check a certificate before pinning it, without an X.509
 * library (a client loading `@peculiar/x509` took 8 MB more; node:crypto's `X509Certificate`
 * parses the certificate, but its `subjectAltName` is a string that a name containing ", "
 * makes ambiguous, and it has no bytes for IP addresses).
 *
 * Only the structure up to the extensions is walked (RFC 5280 §4.1): Certificate, tbsCertificate,
 * its fields up to `[3] extensions`, the extension 2.5.29.17, then GeneralNames: `[2] dNSName`
 * and `[7] iPAddress` (4 or 16 bytes) are kept, every other kind skipped.
 *
 * @module
 */

import { compactIp, type HostName } from "./names.ts";

/** A certificate whose DER is not what {@link sanNames} expects. */
export class DerError extends Error {
  override name = "DerError";
}

/** One DER element: its tag, and where its contents start and end in the buffer. */
interface Element {
  tag: number;
  start: number;
  end: number;
}

/** The DER element at `at`, which must end by `limit`. */
function element(der: Uint8Array, at: number, limit: number): Element {
  if (at + 2 > limit) throw new DerError("truncated");
  const tag = der[at];
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tag");
  let length = der[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    // Indefinite lengths are BER, not DER; four length bytes are more than any certificate.
    if (count === 0 || count > 4 || start + count > limit) throw new DerError("bad length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i];
    start += count;
  }
  const end = start + length;
  if (end > limit) throw new DerError("truncated");
  return { tag, start, end };
}

/** The elements inside a constructed element. */
function children(der: Uint8Array, parent: Element): Element[] {
  const out: Element[] = [];
  for (let at = parent.start; at < parent.end;) {
    const e = element(der, at, parent.end);
    out.push(e);
    at = e.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const OID = 0x06;
const OCTET_STRING = 0x04;
const EXTENSIONS = 0xa3; // [3] EXPLICIT, constructed
const DNS_NAME = 0x82; // [2] IMPLICIT IA5String
const IP_ADDRESS = 0x87; // [7] IMPLICIT OCTET STRING
/** 2.5.29.17, id-ce-subjectAltName. */
const SAN_OID = [0x55, 0x1d, 0x11];

function expect(e: Element | undefined, tag: number): Element {
  if (!e || e.tag !== tag) throw new DerError("unexpected structure");
  return e;
}

/**
 * The DNS names (lower-cased) and IP addresses in the subjectAltName extension of the DER
 * certificate `der`, in order; none when it has no such extension.
 *
 * Throws {@link DerError} when `der` is not a certificate as RFC 5280 lays it out.
 *
 * @example
 * ```ts
 * sanNames(der); // [{ kind: "dns", text: "localhost" }, { kind: "ip", bytes, text: "::1" }]
 * ```
 */
export function sanNames(der: Uint8Array): HostName[] {
  const cert = expect(element(der, 0, der.length), SEQUENCE);
  const tbs = expect(children(der, cert)[0], SEQUENCE);
  const extensions = children(der, tbs).find((e) => e.tag === EXTENSIONS);
  if (!extensions) return [];
  const list = expect(children(der, extensions)[0], SEQUENCE);
  for (const ext of children(der, list)) {
    const [id, ...rest] = children(der, expect(ext, SEQUENCE));
    expect(id, OID);
    if (!sameBytes(der, id, SAN_OID)) continue;
    // critical BOOLEAN DEFAULT FALSE may come before the value.
    const value = expect(rest[rest.length - 1], OCTET_STRING);
    const names = expect(element(der, value.start, value.end), SEQUENCE);
    const out: HostName[] = [];
    for (const name of children(der, names)) {
      const bytes = der.slice(name.start, name.end);
      if (name.tag === DNS_NAME) {
        out.push({ kind: "dns", text: String.fromCharCode(...bytes).toLowerCase() });
      } else if (name.tag === IP_ADDRESS && (bytes.length === 4 || bytes.length === 16)) {
        out.push({ kind: "ip", bytes, text: compactIp(bytes) });
      }
    }
    return out;
  }
  return [];
}

function sameBytes(der: Uint8Array, e: Element, bytes: number[]): boolean {
  return e.end - e.start === bytes.length && bytes.every((b, i) => der[e.start + i] === b);
}
