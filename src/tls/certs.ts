/**
 * The server's certificates: a local CA generated on first run that clients
 * pin, and a short-lived server certificate issued from it (re-issued as
 * needed, the CA never is), or a user-supplied certificate and key.
 *
 * Everything is ECDSA P-256 with SHA-256, made with `@peculiar/x509` on
 * WebCrypto; keys are stored as PKCS#8 PEM, which `Deno.listenTls` accepts.
 *
 * @example
 * ```ts
 * const certs = await ensureServerCerts("./certs", ["chat.example"]);
 * const listener = Deno.listenTls({
 *   hostname: "127.0.0.1", port: 0, cert: certs.certChainPem, key: certs.keyPem,
 *   alpnProtocols: ["chat/1"],
 * });
 * console.log(`CA fingerprint ${certs.caFingerprint}`);
 * ```
 *
 * @module
 */

import * as x509 from "@peculiar/x509";
import { join } from "node:path";
import { fingerprintPem, splitPemChain } from "./fingerprint.ts";
import {
  chmodIfPosix,
  describeIoError,
  ensureDir,
  PRIVATE_DIR_MODE,
  PRIVATE_MODE,
  PUBLIC_MODE,
  readOptional,
  writeFileAtomic,
} from "./files.ts";
import {
  formatIp,
  type HostName,
  isUnspecified,
  nameCovers,
  parseHost,
  parseIp,
  sameName,
} from "./names.ts";

x509.cryptoProvider.set(globalThis.crypto);

/** What `Deno.listenTls` needs, plus what `chat serve` prints. */
export interface ServerCerts {
  /** Server cert PEM followed by the rest of the chain (the CA), so clients receive the chain. */
  certChainPem: string;
  /** Server private key PEM (PKCS#8 for generated keys). */
  keyPem: string;
  /** CA certificate PEM (the last certificate of the chain for `loadServerCerts`). */
  caPem: string;
  /** Fingerprint of {@link ServerCerts.caPem}, as `fingerprint.ts` formats it. */
  caFingerprint: string;
  /**
   * Set by {@link ensureServerCerts} when it wrote something, so the caller
   * can say so: `ca` when a new CA was generated, `server` when the server
   * certificate was (re-)issued, with the reason.
   */
  issued?: { ca: boolean; server: boolean; reason: string };
}

/** A certificate or key problem, described in one sentence fit for a user. */
export class CertError extends Error {
  override name = "CertError";
}

/** File names inside the certs directory. */
export const CERT_FILES = {
  ca: "ca.pem",
  caKey: "ca-key.pem",
  server: "server.pem",
  serverKey: "server-key.pem",
} as const;

/** Lifetime of the generated CA. Long, since clients pin it. */
export const CA_VALIDITY_DAYS = 3650;
/** Lifetime of a server certificate; 397 days is the most browsers and Apple accept. */
export const SERVER_VALIDITY_DAYS = 397;
/** A server certificate expiring sooner than this is re-issued at start-up. */
export const RENEW_BEFORE_DAYS = 30;
/** Names every generated server certificate carries. */
export const DEFAULT_SANS = ["localhost", "127.0.0.1", "::1"] as const;

const DAY_MS = 86_400_000;
/** notBefore is back-dated so clients with a slightly slow clock accept a fresh certificate. */
const BACKDATE_MS = 3_600_000;
const EC_ALG = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN_ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/**
 * Loads the certificates in `dir` (e.g. `./certs`), generating what is
 * missing: on first run a CA (`ca.pem`, `ca-key.pem`) and a server
 * certificate (`server.pem`, `server-key.pem`) issued by it.
 *
 * The server certificate covers `localhost`, `127.0.0.1`, `::1` and every
 * name in `hosts` (IP literals as IP SANs, others as DNS SANs; the wildcard
 * bind addresses `0.0.0.0` and `::` are skipped). It is re-issued from the
 * existing CA when it is missing, unreadable as a certificate, not issued by
 * the CA, expiring within {@link RENEW_BEFORE_DAYS} days, lacks a requested
 * name, or does not match its key. An existing CA is never replaced, since
 * clients have pinned it: CA problems throw a {@link CertError}.
 *
 * Private keys are written with mode 0600 and `dir` is created with 0700.
 *
 * @example
 * ```ts
 * const certs = await ensureServerCerts("./certs", ["chat.example", "10.1.2.3"]);
 * if (certs.issued?.ca) console.log("generated a new CA");
 * ```
 */
export async function ensureServerCerts(
  dir: string,
  hosts: string[],
): Promise<ServerCerts> {
  const wanted = requiredNames(hosts);
  const paths = {
    ca: join(dir, CERT_FILES.ca),
    caKey: join(dir, CERT_FILES.caKey),
    server: join(dir, CERT_FILES.server),
    serverKey: join(dir, CERT_FILES.serverKey),
  };
  const startOver = `remove the ${dir} directory to generate new ones`;

  try {
    await ensureDir(dir, PRIVATE_DIR_MODE);
  } catch (e) {
    throw new CertError(
      `cannot create the certificate directory ${dir}: ${describeIoError(e)}`,
    );
  }

  const caText = await readFileOrThrow(paths.ca, true);
  let ca: x509.X509Certificate;
  let caKey: CryptoKey | null = null;
  let newCa = false;
  if (caText === null) {
    if (await readFileOrThrow(paths.caKey, true) !== null) {
      throw new CertError(
        `${paths.caKey} exists but ${paths.ca} is missing; restore ${paths.ca} or ${startOver}`,
      );
    }
    ({ ca, caKey } = await generateCa());
    // Key first: a crash in between leaves a key without cert, which is
    // reported above rather than silently replaced.
    await writeFileAtomic(paths.caKey, await exportKeyPem(caKey), PRIVATE_MODE);
    await writeFileAtomic(paths.ca, ca.toString("pem") + "\n", PUBLIC_MODE);
    newCa = true;
  } else {
    ca = parseCertOrThrow(
      caText,
      `${paths.ca} is not a valid certificate; ${startOver}`,
    );
    if (!isCa(ca)) {
      throw new CertError(`${paths.ca} is not a CA certificate; ${startOver}`);
    }
    if (ca.notAfter.getTime() <= Date.now()) {
      throw new CertError(
        `the CA in ${paths.ca} expired on ${
          isoDay(ca.notAfter)
        }; ${startOver} (clients will then need the new fingerprint)`,
      );
    }
  }
  const caPem = ca.toString("pem") + "\n";

  // Decide whether the existing server certificate can be used as it is.
  const reason = newCa
    ? "a new CA was generated"
    : await serverCertProblem(ca, wanted, paths.server, paths.serverKey);
  if (reason === null) {
    const keyPem = (await readFileOrThrow(paths.serverKey, false))!;
    const certPem = splitPemChain((await readFileOrThrow(paths.server, false))!)[0];
    await tightenMode(paths.serverKey);
    await tightenMode(paths.caKey);
    return {
      certChainPem: certPem + caPem,
      keyPem,
      caPem,
      caFingerprint: await fingerprintPem(caPem),
    };
  }

  if (!caKey) caKey = await loadCaKey(ca, paths.caKey, reason, startOver);
  const { cert, keys } = await issueServerCert(ca, caKey, wanted);
  const keyPem = await exportKeyPem(keys.privateKey);
  // Key before cert: a crash in between leaves a mismatch, re-issued next run.
  await writeFileAtomic(paths.serverKey, keyPem, PRIVATE_MODE);
  await writeFileAtomic(paths.server, cert.toString("pem") + "\n", PUBLIC_MODE);
  await tightenMode(paths.caKey);
  return {
    certChainPem: cert.toString("pem") + "\n" + caPem,
    keyPem,
    caPem,
    caFingerprint: await fingerprintPem(caPem),
    issued: { ca: newCa, server: true, reason },
  };
}

/**
 * Loads a user-supplied certificate chain and key (`--cert FILE --key FILE`),
 * e.g. a publicly trusted one. The fingerprint is that of the LAST certificate
 * in the chain file (the CA or intermediate a client would pin).
 *
 * Throws a {@link CertError} when a file cannot be read, holds no certificate
 * or key, the leaf certificate has expired, or the key does not belong to it.
 *
 * @example
 * ```ts
 * const certs = await loadServerCerts("fullchain.pem", "privkey.pem");
 * ```
 */
export async function loadServerCerts(
  certFile: string,
  keyFile: string,
): Promise<ServerCerts> {
  const certText = (await readFileOrThrow(certFile, false))!;
  const keyText = (await readFileOrThrow(keyFile, false))!;
  const pems = splitPemChain(certText);
  if (pems.length === 0) {
    throw new CertError(`${certFile} does not contain a PEM certificate`);
  }
  const certs = pems.map((pem) =>
    parseCertOrThrow(pem, `${certFile} contains a certificate that cannot be parsed`)
  );
  const leaf = certs[0];
  if (leaf.notAfter.getTime() <= Date.now()) {
    throw new CertError(
      `the certificate in ${certFile} expired on ${isoDay(leaf.notAfter)}`,
    );
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(keyText)) {
    throw new CertError(
      `${keyFile} is encrypted; give an unencrypted private key`,
    );
  }
  const keyMatch = /-----BEGIN ((?:RSA |EC )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/
    .exec(keyText);
  if (!keyMatch) {
    throw new CertError(`${keyFile} does not contain a PEM private key`);
  }
  if (keyMatch[1] === "PRIVATE KEY" && await keyMismatch(keyMatch[0], leaf)) {
    throw new CertError(
      `${keyFile} is not the private key of the certificate in ${certFile}`,
    );
  }
  const caPem = pems[pems.length - 1];
  return {
    certChainPem: pems.join(""),
    keyPem: keyMatch[0] + "\n",
    caPem,
    caFingerprint: await fingerprintPem(caPem),
  };
}

// --- generation -----------------------------------------------------------

async function generateKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(EC_ALG, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

/** 16 random bytes, positive and without a leading zero byte (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] & 0x7f) | 0x40;
  return Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
}

async function generateCa(): Promise<{ ca: x509.X509Certificate; caKey: CryptoKey }> {
  const keys = await generateKeys();
  const now = Date.now();
  // A random suffix tells two installations' CAs apart in a trust store.
  const tag = randomSerial().slice(0, 8);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=chat local CA ${tag}, O=chat`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: SIGN_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { ca, caKey: keys.privateKey };
}

async function issueServerCert(
  ca: x509.X509Certificate,
  caKey: CryptoKey,
  names: HostName[],
): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await generateKeys();
  const notBefore = new Date(Date.now() - BACKDATE_MS);
  const notAfter = new Date(notBefore.getTime() + SERVER_VALIDITY_DAYS * DAY_MS);
  // Never outlive the issuer: a chain is only as valid as its shortest link.
  if (notAfter > ca.notAfter) notAfter.setTime(ca.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: "CN=chat server, O=chat",
    issuer: ca.subject,
    notBefore,
    notAfter,
    signingAlgorithm: SIGN_ALG,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) =>
          n.kind === "ip"
            ? { type: "ip" as const, value: formatIp(n.bytes) }
            : { type: "dns" as const, value: n.text }
        ),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  return { cert, keys };
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY") + "\n";
}

// --- checks ---------------------------------------------------------------

/** The SANs a server certificate must carry: defaults first, then `hosts`, without duplicates. */
function requiredNames(hosts: string[]): HostName[] {
  const out: HostName[] = [];
  for (const host of [...DEFAULT_SANS, ...hosts]) {
    if (host.trim() === "") continue;
    const name = parseHost(host);
    if (!name) {
      throw new CertError(`"${host}" is not a valid host name for a certificate`);
    }
    // 0.0.0.0 and :: are bind-all addresses, not names anyone connects to.
    if (name.kind === "ip" && isUnspecified(name.bytes)) continue;
    if (!out.some((n) => sameName(n, name))) out.push(name);
  }
  return out;
}

/** Names in a certificate's subjectAltName extension. */
export function certNames(cert: x509.X509Certificate): HostName[] {
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const out: HostName[] = [];
  for (const n of ext?.names.items ?? []) {
    if (n.type === "ip") {
      const bytes = parseIp(n.value);
      if (bytes) out.push({ kind: "ip", bytes, text: n.value });
    } else if (n.type === "dns") {
      out.push({ kind: "dns", text: n.value.toLowerCase() });
    }
  }
  return out;
}

function isCa(cert: x509.X509Certificate): boolean {
  return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
}

/** Why the server certificate in `certPath` cannot be used, or `null` if it can. */
async function serverCertProblem(
  ca: x509.X509Certificate,
  wanted: HostName[],
  certPath: string,
  keyPath: string,
): Promise<string | null> {
  const certText = await readFileOrThrow(certPath, true);
  if (certText === null) return `${certPath} is missing`;
  const keyText = await readFileOrThrow(keyPath, true);
  if (keyText === null) return `${keyPath} is missing`;
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(splitPemChain(certText)[0]);
  } catch {
    return `${certPath} is not a valid certificate`;
  }
  const issuedByCa = cert.issuer === ca.subject &&
    await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }).catch(
      () => false,
    );
  if (!issuedByCa) return `${certPath} was not issued by ${ca.subject}`;
  const left = cert.notAfter.getTime() - Date.now();
  if (left < RENEW_BEFORE_DAYS * DAY_MS) {
    return left <= 0
      ? `${certPath} expired on ${isoDay(cert.notAfter)}`
      : `${certPath} expires on ${isoDay(cert.notAfter)}`;
  }
  if (cert.notBefore.getTime() > Date.now() + BACKDATE_MS) {
    return `${certPath} is not valid before ${isoDay(cert.notBefore)}`;
  }
  const have = certNames(cert);
  const missing = wanted.find((w) => !have.some((h) => nameCovers(h, w)));
  if (missing) return `${certPath} does not cover ${missing.text}`;
  const keyBlock = /-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----/
    .exec(keyText);
  if (!keyBlock || await keyMismatch(keyBlock[0], cert, true)) {
    return `${keyPath} does not match ${certPath}`;
  }
  return null;
}

async function loadCaKey(
  ca: x509.X509Certificate,
  path: string,
  reason: string,
  startOver: string,
): Promise<CryptoKey> {
  const text = await readFileOrThrow(path, true);
  if (text === null) {
    throw new CertError(
      `${path} is missing, so the server certificate cannot be re-issued (${reason}); restore it or ${startOver}`,
    );
  }
  const block = /-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----/.exec(
    text,
  );
  let key: CryptoKey | null = null;
  if (block) {
    try {
      key = await crypto.subtle.importKey(
        "pkcs8",
        x509.PemConverter.decodeFirst(block[0]),
        EC_ALG,
        true,
        ["sign"],
      );
    } catch {
      key = null;
    }
  }
  if (!key) {
    throw new CertError(`${path} is not a valid private key; ${startOver}`);
  }
  if (!await publicPartsEqual(key, await ca.publicKey.export())) {
    throw new CertError(`${path} is not the key of the CA in the same directory; ${startOver}`);
  }
  return key;
}

/**
 * True when the PKCS#8 `keyPem` demonstrably belongs to another public key
 * than `cert`'s. Keys WebCrypto cannot import (other algorithms) count as a
 * match unless `strict`, leaving the final word to the TLS library.
 */
async function keyMismatch(
  keyPem: string,
  cert: x509.X509Certificate,
  strict = false,
): Promise<boolean> {
  let publicKey: CryptoKey;
  try {
    publicKey = await cert.publicKey.export();
  } catch {
    return strict;
  }
  const alg = publicKey.algorithm as Partial<EcKeyAlgorithm & RsaHashedKeyAlgorithm>;
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey(
      "pkcs8",
      x509.PemConverter.decodeFirst(keyPem),
      alg as AlgorithmIdentifier,
      true,
      ["sign"],
    );
  } catch {
    // Wrong curve or algorithm for this certificate, or not a key at all.
    return true;
  }
  return !await publicPartsEqual(privateKey, publicKey);
}

/** Do a private key and a public key form a pair? Compared through their JWK public parameters. */
async function publicPartsEqual(priv: CryptoKey, pub: CryptoKey): Promise<boolean> {
  const a = await crypto.subtle.exportKey("jwk", priv);
  const b = await crypto.subtle.exportKey("jwk", pub);
  return a.kty === b.kty && a.crv === b.crv && a.x === b.x && a.y === b.y &&
    a.n === b.n && a.e === b.e;
}

// --- files ----------------------------------------------------------------

/** Reads a file; missing → `null` when `optional`, every other failure → CertError. */
async function readFileOrThrow(
  path: string,
  optional: boolean,
): Promise<string | null> {
  try {
    const text = await readOptional(path);
    if (text === null && !optional) {
      throw new CertError(`cannot read ${path}: no such file`);
    }
    return text;
  } catch (e) {
    if (e instanceof CertError) throw e;
    throw new CertError(`cannot read ${path}: ${describeIoError(e)}`);
  }
}

function parseCertOrThrow(text: string, message: string): x509.X509Certificate {
  const pem = splitPemChain(text)[0];
  if (!pem) throw new CertError(message);
  try {
    return new x509.X509Certificate(pem);
  } catch {
    throw new CertError(message);
  }
}

/** Private keys found with loose permissions are narrowed to 0600 (best effort: we may not own them). */
async function tightenMode(path: string): Promise<void> {
  try {
    const info = await Deno.stat(path);
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      await chmodIfPosix(path, PRIVATE_MODE);
    }
  } catch {
    // Missing or not ours: nothing to tighten.
  }
}

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}
