/**
 * The client side of trust: which CA certificates `chat join` hands to
 * `Deno.connectTls`, and the pins remembered from first contact.
 *
 * Order (README, "Commands and options"): `--ca FILE`; a pin stored earlier; `--fingerprint`
 * (first contact: fetch the chain, compare, pin); `./certs/ca.pem` when
 * present; the system roots. Hostname verification is never turned off:
 * every source only chooses trust anchors.
 *
 * Pins live in one JSON file, `${stateDir}/known_servers.json` (mode 0600),
 * keyed by `host:port`; no path is ever built from a host name. The nodes of
 * one server (`--server a:7777,b:7777`) share one trust: each address gets the
 * same pin, and every node's certificate is checked against that CA and the
 * name it is dialled by.
 *
 * @example
 * ```ts
 * const opts = { host: "localhost", port: 7777, stateDir: "/home/tom/.local/state/chat" };
 * const trust = await resolveTrust(opts);
 * try {
 *   const conn = await Deno.connectTls({
 *     hostname: opts.host, port: opts.port, caCerts: trust.caCerts, alpnProtocols: ["chat/1"],
 *   });
 *   await conn.handshake();
 * } catch (e) {
 *   if (trust.source === "pinned" && isCertificateError(e)) console.error(pinMismatchWarning(opts));
 * }
 * ```
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { connect, type PeerCertificate } from "node:tls";
import { join } from "node:path";
import {
  derToPem,
  fingerprintDer,
  fingerprintPem,
  normalizeFingerprint,
  splitPemChain,
} from "./fingerprint.ts";
import { describeIoError, readOptional, writePrivateJson } from "./files.ts";
import { compactIp, type HostName, nameCovers, parseHost, parseIp, unbracket } from "./names.ts";
import { sanNames } from "./san.ts";

/** Where trust may come from, as given on the `chat join` command line. */
export interface TrustOptions {
  host: string;
  port: number;
  /** `--ca FILE`: trust exactly the CA certificate(s) in this PEM file. */
  caFile?: string;
  /** `--fingerprint`: any form {@link normalizeFingerprint} accepts. */
  fingerprint?: string;
  /** Directory of the pins file, e.g. `~/.local/state/chat` (`chat join` uses `defaultStateDir` in cli/args.ts). */
  stateDir: string;
  /**
   * False: a first contact through `--fingerprint` is checked but not pinned (`chat check`, a
   * health check, leaves no state behind). Default true.
   */
  keepPin?: boolean;
  /** Defaults to `./certs/ca.pem`, relative to the working directory. */
  localCaFile?: string;
  /** Bound on the first-contact probe (connect + handshake); default {@link PROBE_TIMEOUT_MS}. */
  probeTimeoutMs?: number;
  /**
   * The server's other addresses (the nodes of one server, `--server a:7777,b:7777`): one trust
   * for all. A pin of any of them is the pin of all (pins that differ are refused), a first
   * contact probes them in order until one answers, and the pin is kept for each.
   */
  others?: { host: string; port: number }[];
}

/** The decision: CA certificates for `Deno.connectTls({ caCerts })` (none means system roots). */
export interface Trust {
  caCerts?: string[];
  source: "ca-file" | "pinned" | "fingerprint" | "local-ca" | "system";
  /** Fingerprint of the trusted CA (the first one for a CA file); absent for system roots. */
  fingerprint?: string;
}

/** A trust decision that refuses the connection, in words fit for a user (may span lines). */
export class TrustError extends Error {
  override name = "TrustError";
}

/** A stored pin. */
export interface Pin {
  /** PEM of the pinned certificate (normally the server's CA). */
  ca: string;
  fingerprint: string;
  /** ISO 8601 time of pinning. */
  pinnedAt: string;
}

/** Name of the pins file inside the state directory. */
export const PINS_FILE_NAME = "known_servers.json";
/** Default bound on the first-contact probe. */
export const PROBE_TIMEOUT_MS = 10_000;
/** How long the probe waits for the server to acknowledge the close before cutting the socket. */
const CLOSE_GRACE_MS = 1_000;
const ALPN = "chat/1";
const DEFAULT_LOCAL_CA = join(".", "certs", "ca.pem");

/** Path of the pins file in `stateDir`. */
export function pinsFilePath(stateDir: string): string {
  return join(stateDir, PINS_FILE_NAME);
}

/**
 * The key of a server in the pins file: `host:port`, with the host
 * lower-cased and IPv6 literals in brackets (`[::1]:7777`) so the port stays
 * unambiguous.
 */
export function pinKey(host: string, port: number): string {
  const name = parseHost(host);
  const h = name
    ? (name.kind === "ip" && name.bytes.length === 16 ? `[${name.text}]` : name.text)
    : unbracket(host).toLowerCase();
  return `${h}:${port}`;
}

/**
 * True when `e` (from `Deno.connectTls`/`handshake`) is a certificate
 * verification failure, as opposed to a network error.
 */
export function isCertificateError(e: unknown): boolean {
  return e instanceof Error &&
    /invalid peer certificate|certificate verify|UnknownIssuer|BadSignature|not valid for name/i
      .test(e.message);
}

/**
 * Decides which CA(s) to pass to `Deno.connectTls({ caCerts })`.
 *
 * With `--fingerprint` and no pin yet, connects once with `node:tls` without
 * verifying, takes the presented chain, finds the certificate whose
 * fingerprint is the given one (normally the CA), checks the server
 * certificate names `host`, closes that socket without sending any
 * application data, then pins the certificate and returns it as the CA.
 *
 * Throws {@link TrustError} when no certificate matches, when a pin exists and
 * a different `--fingerprint` is given, or when a file is unreadable.
 *
 * @example
 * ```ts
 * const trust = await resolveTrust({
 *   host: "chat.example", port: 7777, fingerprint: "SHA256:...", stateDir,
 * });
 * // trust.source === "fingerprint" the first time, "pinned" afterwards
 * ```
 */
export async function resolveTrust(opts: TrustOptions): Promise<Trust> {
  const label = serverLabel(opts.host, opts.port);
  let wanted: string | undefined;
  if (opts.fingerprint !== undefined) {
    const fp = normalizeFingerprint(opts.fingerprint);
    if (!fp) {
      throw new TrustError(
        `"${opts.fingerprint}" is not a SHA-256 fingerprint; give SHA256: followed by 43 base64 characters, or 64 hex digits`,
      );
    }
    wanted = fp;
  }

  // 1. --ca: the user said exactly what to trust.
  if (opts.caFile !== undefined) {
    const certs = await readCaFile(opts.caFile, false);
    return {
      caCerts: certs!,
      source: "ca-file",
      fingerprint: await fingerprintPem(certs![0]),
    };
  }

  // 2. A pin from an earlier first contact (of any of the server's addresses).
  const addresses = [{ host: opts.host, port: opts.port }, ...(opts.others ?? [])];
  const keys = addresses.map(({ host, port }) => pinKey(host, port));
  const pinsPath = pinsFilePath(opts.stateDir);
  const pins = await loadPins(pinsPath);
  const pinned: { key: string; pin: Pin }[] = [];
  for (const key of keys) {
    if (Object.hasOwn(pins, key)) {
      pinned.push({ key, pin: await checkPin(pins[key], key, pinsPath) });
    }
  }
  const other = pinned.find(({ pin }) => pin.fingerprint !== pinned[0].pin.fingerprint);
  if (other) {
    throw new TrustError(
      `the addresses you gave are pinned to different servers: ${pinned[0].key} to ` +
        `${pinned[0].pin.fingerprint}, ${other.key} to ${other.pin.fingerprint}; list only ` +
        `the nodes of one server, or remove the wrong entry from ${pinsPath}`,
    );
  }
  if (pinned.length > 0) {
    const { key, pin } = pinned[0];
    if (wanted && wanted !== pin.fingerprint) {
      throw new TrustError(
        [
          `WARNING: the fingerprint you gave for ${
            key === keys[0] ? label : key
          } (${wanted}) differs from the one pinned${
            pin.pinnedAt ? ` on ${pin.pinnedAt.slice(0, 10)}` : ""
          } (${pin.fingerprint}).`,
          "The server's identity may have changed: someone may be intercepting the connection,",
          "or the server's operator generated new certificates.",
          `Refusing to connect. If you trust the new fingerprint, remove the entry for ${key} from ${pinsPath}`,
          `and run again with --fingerprint ${wanted}.`,
        ].join("\n"),
      );
    }
    // the other nodes are held to the same CA, now and when named alone
    const unpinned = keys.filter((k) => !Object.hasOwn(pins, k));
    if (unpinned.length > 0 && opts.keepPin !== false) {
      await savePins(opts.stateDir, unpinned, pin);
    }
    return { caCerts: [pin.ca], source: "pinned", fingerprint: pin.fingerprint };
  }

  // 3. --fingerprint, first contact: the first address that answers is probed.
  if (wanted) {
    const pem = await probeFirst(opts, addresses, wanted);
    if (opts.keepPin === false) {
      return { caCerts: [pem], source: "fingerprint", fingerprint: wanted };
    }
    await savePins(opts.stateDir, keys, {
      ca: pem,
      fingerprint: wanted,
      pinnedAt: new Date().toISOString(),
    });
    return { caCerts: [pem], source: "fingerprint", fingerprint: wanted };
  }

  // 4. The CA of a server started in this directory.
  const local = await readCaFile(opts.localCaFile ?? DEFAULT_LOCAL_CA, true);
  if (local) {
    return {
      caCerts: local,
      source: "local-ca",
      fingerprint: await fingerprintPem(local[0]),
    };
  }

  // 5. A publicly trusted certificate just works.
  return { source: "system" };
}

/**
 * The SSH-style warning to print when `Deno.connectTls` with a pinned CA
 * fails certificate verification. Synchronous so it can be used in any
 * error path; it reads the pin (best effort) for its date and fingerprint.
 */
export function pinMismatchWarning(opts: TrustOptions): string {
  const label = serverLabel(opts.host, opts.port);
  const key = pinKey(opts.host, opts.port);
  const pinsPath = pinsFilePath(opts.stateDir);
  let pinned = "";
  try {
    const pins = JSON.parse(Deno.readTextFileSync(pinsPath));
    const pin = pins?.[key];
    if (typeof pin?.fingerprint === "string" && typeof pin?.pinnedAt === "string") {
      pinned = ` (pinned on ${pin.pinnedAt.slice(0, 10)}: ${pin.fingerprint})`;
    }
  } catch {
    // The warning stands without the details.
  }
  return [
    `WARNING: the certificate of ${label} has changed since you pinned it.`,
    `The server no longer presents a certificate issued by the CA you pinned${pinned}.`,
    "Someone may be intercepting the connection (a man-in-the-middle attack),",
    "or the server's operator may have generated new certificates.",
    `Refusing to connect. If you trust the change, remove the entry for ${key} from ${pinsPath}`,
    "(or run with --fingerprint NEW after removing it).",
  ].join("\n");
}

/** Removes the pin of `host:port`, if any (atomic rewrite of the pins file). */
export async function forgetPin(
  stateDir: string,
  host: string,
  port: number,
): Promise<void> {
  const path = pinsFilePath(stateDir);
  const pins = await loadPins(path);
  const key = pinKey(host, port);
  if (!Object.hasOwn(pins, key)) return;
  delete pins[key];
  await writePins(stateDir, pins);
}

/**
 * The certificate chain `host:port` presents (DER, leaf first), fetched with
 * `node:tls` WITHOUT verification, since `Deno.connectTls` cannot show it. The
 * socket is closed right after the handshake; no application data is sent.
 */
export function fetchServerChain(
  host: string,
  port: number,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<Uint8Array[]> {
  const h = unbracket(host);
  const label = serverLabel(host, port);
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket = connect({
      host: h,
      port,
      // SNI must be a name, never an IP literal (RFC 6066 §3).
      servername: parseIp(h) ? undefined : h,
      rejectUnauthorized: false,
      ALPNProtocols: [ALPN],
    });
    const finish = (err: Error | null, chain?: Uint8Array[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        socket.destroy();
        reject(err);
        return;
      }
      // end() sends only TLS close_notify; wait (bounded) for the close so no
      // socket outlives the probe.
      const grace = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
      socket.once("close", () => {
        clearTimeout(grace);
        resolve(chain!);
      });
      socket.end();
    };
    const timer = setTimeout(
      () =>
        finish(
          new TrustError(
            `timed out after ${
              Math.round(timeoutMs / 1000)
            } s waiting for the TLS handshake with ${label}`,
          ),
        ),
      timeoutMs,
    );
    socket.once("secureConnect", () => {
      const chain = collectChain(socket.getPeerCertificate(true));
      if (chain.length === 0) {
        finish(new TrustError(`the server at ${label} presented no certificate`));
      } else {
        finish(null, chain);
      }
    });
    socket.once("error", (e: Error & { code?: string }) =>
      finish(
        new TrustError(
          // a reset after TCP connected is the server hanging up mid-handshake
          e.code === "ECONNRESET"
            ? handshakeDropped(label)
            : `cannot reach ${label} to check its certificate: ${describeNetError(e)}`,
        ),
      ));
    socket.once("close", () => finish(new TrustError(handshakeDropped(label))));
  });
}

// --- first contact --------------------------------------------------------

/**
 * Probes the addresses in order (one that cannot be reached moves on to the next) and returns
 * the PEM of the certificate whose fingerprint is `wanted`, from the first that answers.
 */
async function probeFirst(
  opts: TrustOptions,
  addresses: { host: string; port: number }[],
  wanted: string,
): Promise<string> {
  const failures: string[] = [];
  for (const { host, port } of addresses) {
    let chain: Uint8Array[];
    try {
      chain = await fetchServerChain(host, port, opts.probeTimeoutMs ?? PROBE_TIMEOUT_MS);
    } catch (error) {
      if (addresses.length === 1) throw error;
      failures.push((error as Error).message);
      continue;
    }
    return await match(chain, host, wanted, serverLabel(host, port));
  }
  throw new TrustError(failures.join("; "));
}

/** The PEM of the certificate of `chain` whose fingerprint is `wanted`, checked for `hostName`. */
async function match(
  chain: Uint8Array[],
  hostName: string,
  wanted: string,
  label: string,
): Promise<string> {
  const fps = await Promise.all(chain.map((der) => fingerprintDer(der)));
  const index = fps.indexOf(wanted);
  if (index < 0) {
    // Report the root-most certificate: that is what `chat serve` prints.
    throw new TrustError(
      `the server at ${label} presented a certificate with fingerprint ${
        fps[fps.length - 1]
      }, not the ${wanted} you gave; refusing to connect`,
    );
  }
  // node:crypto's parser, not @peculiar/x509, which took a client 8 MB more (docs/BENCHMARKS.md).
  let leaf: X509Certificate;
  let names: HostName[];
  try {
    leaf = new X509Certificate(chain[0]);
    names = sanNames(chain[0]);
  } catch {
    throw new TrustError(`the server at ${label} presented a certificate that cannot be parsed`);
  }
  if (index === 0 && leaf.subject !== leaf.issuer) {
    // Pinning a CA-issued server certificate as a trust anchor cannot work
    // (and would break at its next renewal): ask for the CA's fingerprint.
    throw new TrustError(
      `${wanted} is the fingerprint of the server's own certificate, not of its CA; give the CA fingerprint ${
        fps[fps.length - 1]
      } that \`chat serve\` prints`,
    );
  }
  // Refuse here, before pinning, what the real connection would refuse anyway.
  const host = parseHost(hostName);
  if (!host || !names.some((n) => nameCovers(n, host))) {
    const list = names.map((n) => n.kind === "ip" ? compactIp(n.bytes) : n.text);
    throw new TrustError(
      `the certificate of ${label} matches the fingerprint but is not valid for the name ${
        unbracket(hostName)
      } (it covers ${list.length ? list.join(", ") : "no names"}); connect with one of those names`,
    );
  }
  return derToPem(chain[index]);
}

/** DER certificates from a node:tls detailed peer certificate, leaf to root. */
function collectChain(
  cert: PeerCertificate & { issuerCertificate?: PeerCertificate },
): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<unknown>();
  let cur: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = cert;
  // The root's issuerCertificate is itself; `seen` also guards against odd cycles.
  while (cur && cur.raw && cur.raw.length > 0 && !seen.has(cur)) {
    seen.add(cur);
    out.push(new Uint8Array(cur.raw));
    if (cur.issuerCertificate === cur) break;
    cur = cur.issuerCertificate;
  }
  return out;
}

/**
 * What to say when the server hangs up after TCP connected but before TLS completed. A chat
 * server does that to an address over its connection cap, and when overloaded; a bare "unexpected
 * end of file" would leave the person guessing.
 */
export function handshakeDropped(label: string): string {
  return `cannot connect to ${label}: the server closed the connection during the TLS handshake; ` +
    "it may be refusing connections from your address (too many open) or be overloaded, " +
    "so try again shortly";
}

function describeNetError(e: Error & { code?: string }): string {
  switch (e.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "unknown host";
    case "ETIMEDOUT":
      return "connection timed out";
    case "ECONNRESET":
      return "connection reset by the server";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
  }
  return e.message || String(e);
}

// --- files ----------------------------------------------------------------

/** CA certificates of a PEM file; `null` if `optional` and missing. */
async function readCaFile(path: string, optional: boolean): Promise<string[] | null> {
  let text: string | null;
  try {
    text = await readOptional(path);
  } catch (e) {
    throw new TrustError(`cannot read the CA file ${path}: ${describeIoError(e)}`);
  }
  if (text === null) {
    if (optional) return null;
    throw new TrustError(`cannot read the CA file ${path}: no such file`);
  }
  const pems = splitPemChain(text);
  if (pems.length === 0) {
    throw new TrustError(`${path} does not contain a PEM certificate`);
  }
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch {
      throw new TrustError(`${path} contains a certificate that cannot be parsed`);
    }
  }
  return pems;
}

type Pins = Record<string, unknown>;

async function loadPins(path: string): Promise<Pins> {
  let text: string | null;
  try {
    text = await readOptional(path);
  } catch (e) {
    throw new TrustError(`cannot read ${path}: ${describeIoError(e)}`);
  }
  if (text === null) return {};
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new TrustError(`${path} is damaged (not valid JSON); fix or remove it`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new TrustError(`${path} is damaged (not a JSON object); fix or remove it`);
  }
  return data as Pins;
}

/** A pin entry after checking it is whole and its fingerprint is its certificate's. */
async function checkPin(entry: unknown, key: string, path: string): Promise<Pin> {
  const damaged = new TrustError(
    `the pin for ${key} in ${path} is damaged; remove that entry and pin again with --fingerprint`,
  );
  const e = entry as Partial<Pin> | null;
  if (
    typeof e !== "object" || e === null || typeof e.ca !== "string" ||
    typeof e.fingerprint !== "string"
  ) throw damaged;
  const pem = splitPemChain(e.ca)[0];
  if (!pem) throw damaged;
  const fp = await fingerprintPem(pem);
  if (fp !== normalizeFingerprint(e.fingerprint)) throw damaged;
  return { ca: pem, fingerprint: fp, pinnedAt: typeof e.pinnedAt === "string" ? e.pinnedAt : "" };
}

async function savePins(stateDir: string, keys: string[], pin: Pin): Promise<void> {
  // Re-read right before writing so a pin added meanwhile by another client survives.
  const pins = await loadPins(pinsFilePath(stateDir));
  for (const key of keys) pins[key] = pin;
  await writePins(stateDir, pins);
}

async function writePins(stateDir: string, pins: Pins): Promise<void> {
  const path = pinsFilePath(stateDir);
  try {
    await writePrivateJson(path, pins);
  } catch (e) {
    throw new TrustError(`cannot write ${path}: ${describeIoError(e)}`);
  }
}

/** `host:port` for messages, with IPv6 literals bracketed. */
function serverLabel(host: string, port: number): string {
  const h = unbracket(host);
  return h.includes(":") ? `[${h}]:${port}` : `${h}:${port}`;
}
