/**
 * Host names and IP addresses as they appear in certificates (internal to
 * `src/tls/`).
 *
 * IP literals are compared as bytes, never as strings, because one address has
 * many spellings (`::1`, `0:0::1`, `[::1]`, `::ffff:127.0.0.1`).
 *
 * @module
 */

import { domainToASCII } from "node:url";

/** A name a certificate must cover: an IP address (as bytes) or a DNS name (lower-case ASCII). */
export type HostName =
  | { kind: "ip"; bytes: Uint8Array; text: string }
  | { kind: "dns"; text: string };

/** Strips the brackets of `[v6]` literals and surrounding space. */
export function unbracket(host: string): string {
  const h = host.trim();
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/** Bytes of an IPv4 or IPv6 literal (4 or 16 bytes), or `null` if `text` is not one. */
export function parseIp(text: string): Uint8Array | null {
  const s = unbracket(text);
  const v4 = parseIpv4(s);
  if (v4) return v4;
  if (!s.includes(":") || s.includes("%")) return null; // zone ids never appear in certificates
  let head = s;
  let tail: number[] = [];
  // An embedded dotted quad (::ffff:1.2.3.4) supplies the last two groups.
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const quad = parseIpv4(s.slice(lastColon + 1));
    if (!quad) return null;
    tail = [(quad[0] << 8) | quad[1], (quad[2] << 8) | quad[3]];
    head = s.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parse(halves[0]);
  const right = halves.length === 2 ? parse(halves[1]) : [];
  if (!left || !right) return null;
  const known = left.length + right.length + tail.length;
  let groups: number[];
  if (halves.length === 2) {
    if (known > 7) return null;
    groups = [...left, ...new Array(8 - known).fill(0), ...right, ...tail];
  } else {
    groups = [...left, ...tail];
  }
  if (groups.length !== 8) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

function parseIpv4(s: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? Uint8Array.from(parts) : null;
}

/** Text of IP bytes: dotted quad, or fully expanded IPv6 groups (a form every parser accepts). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  }
  return groups.join(":");
}

/** Short IPv6 text (`::1`) for keys and messages; dotted quad for IPv4. */
export function compactIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIp(bytes);
  const groups = formatIp(bytes).split(":");
  // Longest run (of 2+) of zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** True for 0.0.0.0 and ::, which are bind addresses, not names a client can use. */
export function isUnspecified(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

const LABEL = "[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?";
const DNS_RE = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);

/**
 * The certificate name for a host as a user typed it, or `null` if it is no
 * valid host name. DNS names are lower-cased, lose a trailing dot and are
 * converted to their ASCII (punycode) form.
 */
export function parseHost(host: string): HostName | null {
  const raw = unbracket(host);
  const ip = parseIp(raw);
  if (ip) return { kind: "ip", bytes: ip, text: compactIp(ip) };
  let name = raw.toLowerCase().replace(/\.$/, "");
  // deno-lint-ignore no-control-regex
  if (/[^\x00-\x7f]/.test(name)) name = domainToASCII(name);
  if (!name || name.length > 253 || !DNS_RE.test(name)) return null;
  return { kind: "dns", text: name };
}

/** Same name? IPs by bytes, DNS names case-insensitively (wildcards literally). */
export function sameName(a: HostName, b: HostName): boolean {
  if (a.kind === "ip" && b.kind === "ip") return bytesEqual(a.bytes, b.bytes);
  return a.kind === b.kind && a.text === b.text;
}

/** Does the certificate name `san` cover the host `host`? (RFC 6125: one wildcard label, leftmost only.) */
export function nameCovers(san: HostName, host: HostName): boolean {
  if (san.kind === "ip" || host.kind === "ip") return sameName(san, host);
  if (san.text === host.text) return true;
  if (!san.text.startsWith("*.")) return false;
  const dot = host.text.indexOf(".");
  return dot > 0 && host.text.slice(dot + 1) === san.text.slice(2);
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
