// Tests for src/tls: certificate generation, fingerprints, and client trust
// (pinning) against a real Deno.listenTls on 127.0.0.1.
//
// Run: deno test -A tests/tls_test.ts

import assert from "node:assert/strict";
import { X509Certificate as NodeX509 } from "node:crypto";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import {
  CertError,
  ensureServerCerts,
  loadServerCerts,
  SERVER_VALIDITY_DAYS,
  type ServerCerts,
} from "../src/tls/certs.ts";
import {
  derToPem,
  fingerprintDer,
  fingerprintPem,
  fingerprintToHex,
  normalizeFingerprint,
  pemToDer,
  splitPemChain,
} from "../src/tls/fingerprint.ts";
import { compactIp, parseHost, parseIp } from "../src/tls/names.ts";
import {
  forgetPin,
  isCertificateError,
  pinKey,
  pinMismatchWarning,
  pinsFilePath,
  resolveTrust,
  TrustError,
} from "../src/tls/trust.ts";
import { deadline, dirTests, listenChat } from "./tls_fixtures.ts";

x509.cryptoProvider.set(globalThis.crypto);

const DAY_MS = 86_400_000;
const IS_POSIX = Deno.build.os !== "windows";

// --- helpers ----------------------------------------------------------------

/** Each test in its own temp dir, removed afterwards, with an overall time bound. */
const tlsTest = dirTests("chat-tls-test-");

interface ConnRecord {
  bytes: number;
  error?: string;
}

/** An echo server over TLS that records, per connection, how many bytes the client sent. */
function startServer(certs: ServerCerts, hostname = "127.0.0.1") {
  const listener = listenChat(certs, hostname);
  const conns: Promise<ConnRecord>[] = [];
  const handle = async (conn: Deno.TlsConn): Promise<ConnRecord> => {
    const rec: ConnRecord = { bytes: 0 };
    try {
      await conn.handshake();
      const buf = new Uint8Array(1024);
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        rec.bytes += n;
        await conn.write(buf.subarray(0, n));
      }
    } catch (e) {
      rec.error = String(e);
    } finally {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    return rec;
  };
  const loop = (async () => {
    try {
      for await (const conn of listener) conns.push(handle(conn));
    } catch {
      // listener closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    conns,
    async close() {
      listener.close();
      await loop;
      await Promise.all(conns);
    },
  };
}

/** Connects with Deno.connectTls, sends `text`, returns the echo and the negotiated ALPN. */
async function exchange(
  hostname: string,
  port: number,
  caCerts: string[],
  text = "hello",
): Promise<{ echo: string; alpn: string | null }> {
  const conn = await Deno.connectTls({ hostname, port, caCerts, alpnProtocols: ["chat/1"] });
  try {
    const hs = await conn.handshake();
    await conn.write(new TextEncoder().encode(text));
    const buf = new Uint8Array(text.length);
    let got = 0;
    while (got < buf.length) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    return { echo: new TextDecoder().decode(buf.subarray(0, got)), alpn: hs.alpnProtocol };
  } finally {
    conn.close();
  }
}

/** Puts `key` in `certDir` as the server's private key (PKCS#8 PEM). */
async function writeServerKey(certDir: string, key: CryptoKey): Promise<void> {
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", key);
  await Deno.writeTextFile(
    join(certDir, "server-key.pem"),
    x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
  );
}

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

function sans(cert: x509.X509Certificate): string[] {
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return (ext?.names.items ?? []).map((n) =>
    n.type === "ip" ? `IP:${compactIp(parseIp(n.value)!)}` : `DNS:${n.value}`
  );
}

// --- fingerprint.ts -------------------------------------------------------------

tlsTest("fingerprints: format, normalisation of every accepted form, PEM helpers", async (dir) => {
  const certs = await ensureServerCerts(join(dir, "certs"), []);
  const der = pemToDer(certs.caPem);
  const fp = await fingerprintDer(der);
  assert.match(fp, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.equal(await fingerprintPem(certs.caPem), fp);
  assert.equal(certs.caFingerprint, fp);

  // Cross-check against an independent implementation (node:crypto prints colon hex).
  const nodeHex = new NodeX509(certs.caPem).fingerprint256;
  assert.equal(fingerprintToHex(fp), nodeHex);
  const b64 = fp.slice("SHA256:".length);
  const forms = [
    fp,
    `sha256:${b64}`,
    `SHA256:${b64}=`,
    b64,
    `  ${fp}\n`,
    nodeHex,
    nodeHex.toLowerCase(),
    nodeHex.replaceAll(":", ""),
    `SHA256:${nodeHex}`,
    `sha256:${nodeHex.replaceAll(":", "").toLowerCase()}`,
  ];
  for (const form of forms) assert.equal(normalizeFingerprint(form), fp, form);

  for (
    const bad of [
      "",
      "SHA256:",
      "SHA256:abc",
      `SHA256:${b64.slice(1)}`,
      `SHA256:${b64}AA`,
      nodeHex.slice(3),
      `${nodeHex}:00`,
      "SHA1:" + b64,
      "zz".repeat(32),
      `SHA256:${b64.slice(0, -1)}!`,
    ]
  ) {
    assert.equal(normalizeFingerprint(bad), null, bad);
  }

  // PEM round trip: canonical 64-column layout, chain splitting in order.
  const pem = derToPem(der);
  assert.equal(pem, certs.caPem);
  for (const line of pem.trim().split("\n")) assert.ok(line.length <= 64);
  assert.deepEqual(pemToDer(pem), der);
  const chain = splitPemChain(certs.certChainPem);
  assert.equal(chain.length, 2);
  assert.equal(chain[1], certs.caPem);
  // Whitespace, CRLF and surrounding text do not matter.
  const messy = "junk\r\n" + chain.join("\r\n").replaceAll("\n", "\r\n") + "\r\ntrailer";
  assert.deepEqual(splitPemChain(messy), chain);
  assert.deepEqual(splitPemChain("no certificates here"), []);
});

Deno.test("names: IP literals compare by bytes, host names are normalised", () => {
  assert.deepEqual(parseIp("127.0.0.1"), Uint8Array.from([127, 0, 0, 1]));
  assert.deepEqual(parseIp("::1"), parseIp("0:0:0:0:0:0:0:1"));
  assert.deepEqual(parseIp("[::1]"), parseIp("::1"));
  assert.deepEqual(parseIp("::ffff:1.2.3.4"), parseIp("::ffff:102:304"));
  assert.equal(compactIp(parseIp("2001:db8:0:0:1:0:0:1")!), "2001:db8::1:0:0:1");
  for (const bad of ["256.1.1.1", "1.2.3", "1::2::3", "12345::", "localhost", "fe80::1%eth0"]) {
    assert.equal(parseIp(bad), null, bad);
  }
  assert.deepEqual(parseHost("Chat.Example."), { kind: "dns", text: "chat.example" });
  assert.equal(parseHost("bad host"), null);
  assert.equal(parseHost("a/b"), null);
  assert.equal(pinKey("::1", 7), "[::1]:7");
  assert.equal(pinKey("[0:0::1]", 7), "[::1]:7");
  assert.equal(pinKey("LocalHost", 7), "localhost:7");
});

// --- certs.ts ---------------------------------------------------------------------

tlsTest(
  "ensureServerCerts generates a CA and a server certificate with the right properties",
  async (dir) => {
    const certDir = join(dir, "certs");
    const certs = await ensureServerCerts(certDir, ["chat.example", "10.1.2.3", "0.0.0.0"]);
    assert.deepEqual(certs.issued, { ca: true, server: true, reason: "a new CA was generated" });
    for (const f of ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"]) {
      assert.ok((await Deno.stat(join(certDir, f))).isFile, f);
    }
    if (IS_POSIX) {
      assert.equal(await mode(join(certDir, "ca-key.pem")), 0o600);
      assert.equal(await mode(join(certDir, "server-key.pem")), 0o600);
      assert.equal(await mode(certDir), 0o700);
    }
    assert.equal(certs.caPem, await Deno.readTextFile(join(certDir, "ca.pem")));
    assert.equal(certs.keyPem, await Deno.readTextFile(join(certDir, "server-key.pem")));
    assert.match(certs.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);

    const ca = new x509.X509Certificate(certs.caPem);
    const bc = ca.getExtension(x509.BasicConstraintsExtension)!;
    assert.equal(bc.ca, true);
    assert.equal(bc.critical, true);
    const caKu = ca.getExtension(x509.KeyUsagesExtension)!;
    assert.equal(caKu.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.ok(await ca.isSelfSigned());
    assert.ok(ca.notAfter.getTime() - Date.now() > 9 * 365 * DAY_MS);
    assert.equal((ca.publicKey.algorithm as EcKeyAlgorithm).namedCurve, "P-256");

    const [serverPem, caInChain] = splitPemChain(certs.certChainPem);
    assert.equal(caInChain, certs.caPem);
    assert.equal(serverPem, await Deno.readTextFile(join(certDir, "server.pem")));
    const server = new x509.X509Certificate(serverPem);
    assert.deepEqual(sans(server).sort(), [
      "DNS:chat.example",
      "DNS:localhost",
      "IP:10.1.2.3",
      "IP:127.0.0.1",
      "IP:::1",
    ]);
    assert.deepEqual(
      [...server.getExtension(x509.ExtendedKeyUsageExtension)!.usages],
      [x509.ExtendedKeyUsage.serverAuth],
    );
    assert.equal(
      server.getExtension(x509.KeyUsagesExtension)!.usages,
      x509.KeyUsageFlags.digitalSignature,
    );
    assert.equal(server.getExtension(x509.BasicConstraintsExtension)?.ca ?? false, false);
    assert.ok(
      server.notAfter.getTime() - server.notBefore.getTime() <= SERVER_VALIDITY_DAYS * DAY_MS,
    );
    assert.ok(server.notBefore.getTime() <= Date.now());
    assert.equal(server.issuer, ca.subject);
    assert.ok(await server.verify({ publicKey: ca.publicKey, signatureOnly: true }));
    // Node's verifier agrees, and serial numbers differ between the two certificates.
    assert.ok(new NodeX509(serverPem).verify(new NodeX509(certs.caPem).publicKey));
    assert.notEqual(server.serialNumber, ca.serialNumber);
    const chain = await new x509.X509ChainBuilder({ certificates: [ca] }).build(server);
    assert.equal(chain.length, 2);
  },
);

tlsTest(
  "ensureServerCerts reuses the CA, and re-issues the server certificate only when needed",
  async (dir) => {
    const certDir = join(dir, "certs");
    const first = await ensureServerCerts(certDir, ["chat.example"]);

    const again = await ensureServerCerts(certDir, ["chat.example", "CHAT.example."]);
    assert.equal(again.issued, undefined);
    assert.equal(again.caFingerprint, first.caFingerprint);
    assert.equal(again.certChainPem, first.certChainPem);
    assert.equal(again.keyPem, first.keyPem);

    // A host the certificate lacks: new server cert, same CA.
    const more = await ensureServerCerts(certDir, ["chat.example", "other.example", "10.1.2.3"]);
    assert.equal(more.issued?.ca, false);
    assert.equal(more.issued?.server, true);
    assert.match(more.issued!.reason, /does not cover other\.example/);
    assert.equal(more.caFingerprint, first.caFingerprint);
    assert.equal(more.caPem, first.caPem);
    assert.notEqual(more.keyPem, first.keyPem);
    const server = new x509.X509Certificate(splitPemChain(more.certChainPem)[0]);
    assert.ok(sans(server).includes("DNS:other.example"));
    assert.ok(sans(server).includes("IP:10.1.2.3"));
    assert.ok(sans(server).includes("DNS:chat.example"));

    // Missing server.pem: re-issued.
    await Deno.remove(join(certDir, "server.pem"));
    const again2 = await ensureServerCerts(certDir, []);
    assert.match(again2.issued!.reason, /server\.pem is missing/);
    assert.equal(again2.caFingerprint, first.caFingerprint);

    // A server certificate expiring in 10 days: re-issued.
    const caKey = await crypto.subtle.importKey(
      "pkcs8",
      x509.PemConverter.decodeFirst(await Deno.readTextFile(join(certDir, "ca-key.pem"))),
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign"],
    );
    const ca = new x509.X509Certificate(first.caPem);
    const keys = await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["sign", "verify"],
    ) as CryptoKeyPair;
    const short = await x509.X509CertificateGenerator.create({
      serialNumber: "0a",
      subject: "CN=short",
      issuer: ca.subject,
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + 10 * DAY_MS),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: "dns", value: "localhost" },
          { type: "ip", value: "127.0.0.1" },
          { type: "ip", value: "::1" },
        ]),
      ],
    });
    await Deno.writeTextFile(join(certDir, "server.pem"), short.toString("pem"));
    await writeServerKey(certDir, keys.privateKey);
    const renewed = await ensureServerCerts(certDir, []);
    assert.match(renewed.issued!.reason, /server\.pem expires on/);
    const renewedCert = new x509.X509Certificate(splitPemChain(renewed.certChainPem)[0]);
    assert.ok(renewedCert.notAfter.getTime() - Date.now() > 300 * DAY_MS);

    // A key that does not belong to the certificate: re-issued.
    await writeServerKey(certDir, keys.privateKey);
    const rekeyed = await ensureServerCerts(certDir, []);
    assert.match(rekeyed.issued!.reason, /server-key\.pem does not match/);

    // Loose permissions on an existing key are narrowed; chmod also applies to rewritten keys.
    if (IS_POSIX) {
      await Deno.chmod(join(certDir, "server-key.pem"), 0o644);
      await Deno.chmod(join(certDir, "ca-key.pem"), 0o644);
      const loose = await ensureServerCerts(certDir, []);
      assert.equal(loose.issued, undefined);
      assert.equal(await mode(join(certDir, "server-key.pem")), 0o600);
      assert.equal(await mode(join(certDir, "ca-key.pem")), 0o600);
    }

    // Without the CA key the existing server certificate still serves...
    await Deno.rename(join(certDir, "ca-key.pem"), join(dir, "ca-key.pem.offline"));
    const offline = await ensureServerCerts(certDir, []);
    assert.equal(offline.caFingerprint, first.caFingerprint);
    // ...but a re-issue needs it, and the CA is never silently replaced.
    await assert.rejects(
      ensureServerCerts(certDir, ["new.example"]),
      (e: unknown) =>
        e instanceof CertError &&
        /ca-key\.pem is missing, so the server certificate cannot be re-issued/
          .test(e.message),
    );
    assert.equal(
      await fingerprintPem(await Deno.readTextFile(join(certDir, "ca.pem"))),
      first.caFingerprint,
    );
  },
);

tlsTest("ensureServerCerts reports damaged CA files as one readable CertError", async (dir) => {
  const certDir = join(dir, "certs");
  await ensureServerCerts(certDir, []);
  const caPath = join(certDir, "ca.pem");
  const good = await Deno.readTextFile(caPath);

  await Deno.writeTextFile(caPath, "this is not a certificate\n");
  await assert.rejects(ensureServerCerts(certDir, []), (e: unknown) => {
    assert.ok(e instanceof CertError);
    assert.equal(
      e.message,
      `${caPath} is not a valid certificate; remove the ${certDir} directory to generate new ones`,
    );
    assert.ok(!e.message.includes("\n"));
    return true;
  });

  // A PEM block whose DER is garbage.
  await Deno.writeTextFile(caPath, derToPem(new Uint8Array([1, 2, 3, 4, 5])));
  await assert.rejects(ensureServerCerts(certDir, []), CertError);

  // A leaf certificate where the CA should be.
  await Deno.writeTextFile(caPath, await Deno.readTextFile(join(certDir, "server.pem")));
  await assert.rejects(ensureServerCerts(certDir, []), /is not a CA certificate/);

  // CA key present, CA certificate gone: refuse rather than replace.
  await Deno.remove(caPath);
  await assert.rejects(
    ensureServerCerts(certDir, []),
    /ca-key\.pem exists but .*ca\.pem is missing/,
  );

  // Damaged CA key when a re-issue is needed.
  await Deno.writeTextFile(caPath, good);
  await Deno.writeTextFile(join(certDir, "ca-key.pem"), "garbage");
  await assert.rejects(
    ensureServerCerts(certDir, ["needs-reissue.example"]),
    /ca-key\.pem is not a valid private key/,
  );

  // An unreadable file (a directory where the CA should be).
  await Deno.remove(caPath);
  await Deno.mkdir(caPath);
  await assert.rejects(ensureServerCerts(certDir, []), (e: unknown) => {
    assert.ok(e instanceof CertError);
    assert.match(e.message, /^cannot read .*ca\.pem: /);
    return true;
  });

  // A host that cannot be a certificate name.
  await assert.rejects(
    ensureServerCerts(join(dir, "other"), ["bad host!"]),
    /"bad host!" is not a valid host name/,
  );
});

tlsTest(
  "loadServerCerts reads a user-supplied chain and key, fingerprinting the last certificate",
  async (dir) => {
    const generated = await ensureServerCerts(join(dir, "certs"), []);
    const chainFile = join(dir, "fullchain.pem");
    const keyFile = join(dir, "privkey.pem");
    await Deno.writeTextFile(chainFile, generated.certChainPem);
    await Deno.writeTextFile(keyFile, generated.keyPem);
    const loaded = await loadServerCerts(chainFile, keyFile);
    assert.equal(loaded.caFingerprint, generated.caFingerprint);
    assert.equal(loaded.caPem, generated.caPem);
    assert.equal(loaded.certChainPem, generated.certChainPem);
    assert.equal(loaded.keyPem, generated.keyPem);

    // A lone leaf: its own fingerprint is the one to pin.
    const leafOnly = join(dir, "leaf.pem");
    await Deno.writeTextFile(leafOnly, splitPemChain(generated.certChainPem)[0]);
    const lone = await loadServerCerts(leafOnly, keyFile);
    assert.equal(
      lone.caFingerprint,
      await fingerprintPem(splitPemChain(generated.certChainPem)[0]),
    );

    await assert.rejects(loadServerCerts(join(dir, "missing.pem"), keyFile), (e: unknown) => {
      assert.ok(e instanceof CertError);
      assert.match(e.message, /^cannot read .*missing\.pem: no such file$/);
      return true;
    });
    await assert.rejects(loadServerCerts(keyFile, keyFile), /does not contain a PEM certificate/);
    await assert.rejects(
      loadServerCerts(chainFile, chainFile),
      /does not contain a PEM private key/,
    );
    const otherKey = join(dir, "other-key.pem");
    await Deno.writeTextFile(otherKey, await Deno.readTextFile(join(dir, "certs", "ca-key.pem")));
    await assert.rejects(
      loadServerCerts(chainFile, otherKey),
      /is not the private key of the certificate/,
    );
  },
);

// --- real TLS -----------------------------------------------------------------------

tlsTest(
  "Deno.listenTls serves the generated chain; connectTls verifies it by name and by IP",
  async (dir) => {
    const certs = await ensureServerCerts(join(dir, "certs"), ["chat.example"]);
    const other = await ensureServerCerts(join(dir, "other"), []);
    const server = startServer(certs);
    try {
      for (const hostname of ["localhost", "127.0.0.1"]) {
        const { echo, alpn } = await exchange(
          hostname,
          server.port,
          [certs.caPem],
          `hi ${hostname}`,
        );
        assert.equal(echo, `hi ${hostname}`);
        assert.equal(alpn, "chat/1");
      }
      // A different CA (even one with the same kind of name) must fail verification.
      const err = await exchange("localhost", server.port, [other.caPem]).then(
        () => null,
        (e) => e,
      );
      assert.ok(err instanceof Error, "connecting with a different CA must fail");
      assert.ok(isCertificateError(err), String(err));
      // Without any CA the system roots do not know ours.
      const err2 = await exchange("localhost", server.port, []).then(() => null, (e) => e);
      assert.ok(isCertificateError(err2), String(err2));
      assert.ok(!isCertificateError(new Error("Connection refused")));
    } finally {
      await server.close();
    }
    const records = await Promise.all(server.conns);
    assert.deepEqual(records.slice(0, 2).map((r) => r.bytes), [
      "hi localhost".length,
      "hi 127.0.0.1".length,
    ]);
  },
);

// --- trust.ts -------------------------------------------------------------------

tlsTest(
  "resolveTrust: --fingerprint first contact pins the CA without sending application data",
  async (dir) => {
    const certs = await ensureServerCerts(join(dir, "certs"), []);
    const server = startServer(certs);
    const stateDir = join(dir, "state", "chat");
    const base = {
      host: "localhost",
      port: server.port,
      stateDir,
      localCaFile: join(dir, "no-such-ca.pem"),
      probeTimeoutMs: 5_000,
    };
    try {
      // The hex form openssl prints works as well as the SSH form.
      const hex = fingerprintToHex(certs.caFingerprint);
      const trust = await resolveTrust({ ...base, fingerprint: hex.toLowerCase() });
      assert.deepEqual(trust, {
        caCerts: [certs.caPem],
        source: "fingerprint",
        fingerprint: certs.caFingerprint,
      });
      // The probe connection carried no application data and ended cleanly.
      assert.equal(server.conns.length, 1);
      const probe = await deadline(server.conns[0], 5_000, "probe connection to end");
      assert.equal(probe.bytes, 0);
      assert.equal(probe.error, undefined, "the probe closes cleanly (close_notify)");

      // The pin is stored privately, keyed by host:port.
      const pinsPath = pinsFilePath(stateDir);
      if (IS_POSIX) {
        assert.equal(await mode(pinsPath), 0o600);
        assert.equal(await mode(stateDir), 0o700);
      }
      const pins = JSON.parse(await Deno.readTextFile(pinsPath));
      assert.deepEqual(Object.keys(pins), [`localhost:${server.port}`]);
      assert.equal(pins[`localhost:${server.port}`].ca, certs.caPem);
      assert.equal(pins[`localhost:${server.port}`].fingerprint, certs.caFingerprint);
      assert.ok(!Number.isNaN(Date.parse(pins[`localhost:${server.port}`].pinnedAt)));
      // No stray temp files next to it.
      const names = [];
      for await (const e of Deno.readDir(stateDir)) names.push(e.name);
      assert.deepEqual(names, ["known_servers.json"]);

      // The returned CA really works for the connection that follows.
      const { echo } = await exchange("localhost", server.port, trust.caCerts!);
      assert.equal(echo, "hello");

      // Next time, the pin is used, with or without the (same) fingerprint.
      assert.deepEqual(await resolveTrust(base), {
        caCerts: [certs.caPem],
        source: "pinned",
        fingerprint: certs.caFingerprint,
      });
      const same = await resolveTrust({ ...base, fingerprint: certs.caFingerprint });
      assert.equal(same.source, "pinned");
      assert.equal(server.conns.length, 2, "a pinned server is not probed again");

      // The pin is per host:port: 127.0.0.1 is a different key.
      const byIp = await resolveTrust({
        ...base,
        host: "127.0.0.1",
        fingerprint: certs.caFingerprint,
      });
      assert.equal(byIp.source, "fingerprint");
      const pins2 = JSON.parse(await Deno.readTextFile(pinsPath));
      assert.deepEqual(Object.keys(pins2).sort(), [
        `127.0.0.1:${server.port}`,
        `localhost:${server.port}`,
      ]);
    } finally {
      await server.close();
    }
  },
);

tlsTest(
  "resolveTrust: wrong fingerprint, changed identity, and pin mismatch are refused",
  async (dir) => {
    const certs = await ensureServerCerts(join(dir, "certs"), []);
    const other = await ensureServerCerts(join(dir, "other"), []);
    const stateDir = join(dir, "state");
    const server = startServer(certs);
    const base = () => ({
      host: "localhost",
      port: server.port,
      stateDir,
      localCaFile: join(dir, "certs", "ca.pem"),
      probeTimeoutMs: 5_000,
    });
    try {
      // A fingerprint the server does not present: refused, nothing pinned.
      await assert.rejects(
        resolveTrust({ ...base(), fingerprint: other.caFingerprint }),
        (e: unknown) => {
          assert.ok(e instanceof TrustError);
          assert.equal(
            e.message,
            `the server at localhost:${server.port} presented a certificate with fingerprint ${certs.caFingerprint}, not the ${other.caFingerprint} you gave; refusing to connect`,
          );
          return true;
        },
      );
      await assert.rejects(Deno.stat(pinsFilePath(stateDir)), Deno.errors.NotFound);
      const probe = await deadline(server.conns[0], 5_000, "probe connection to end");
      assert.equal(probe.bytes, 0);

      // The server's own (leaf) fingerprint is not a usable anchor: say which to use.
      const leafFp = await fingerprintPem(certs.certChainPem);
      await assert.rejects(
        resolveTrust({ ...base(), fingerprint: leafFp }),
        new RegExp(`not of its CA; give the CA fingerprint ${escape(certs.caFingerprint)}`),
      );

      // Malformed fingerprint.
      await assert.rejects(resolveTrust({ ...base(), fingerprint: "SHA256:nope" }), TrustError);

      // Pin, then a different --fingerprint: SSH-like warning naming the pins file.
      await resolveTrust({ ...base(), fingerprint: certs.caFingerprint });
      await assert.rejects(
        resolveTrust({ ...base(), fingerprint: other.caFingerprint }),
        (e: unknown) => {
          assert.ok(e instanceof TrustError);
          assert.match(e.message, /^WARNING: /);
          assert.ok(e.message.includes(other.caFingerprint));
          assert.ok(e.message.includes(certs.caFingerprint));
          assert.ok(e.message.includes(pinsFilePath(stateDir)));
          assert.ok(e.message.includes(`localhost:${server.port}`));
          return true;
        },
      );

      // The server regenerates its certificates: the pinned CA no longer
      // verifies, and the caller shows the warning. (A second listener stands in
      // for the same server; the pin is copied to its address.)
      const regenerated = startServer(other);
      try {
        const pins = JSON.parse(await Deno.readTextFile(pinsFilePath(stateDir)));
        pins[`localhost:${regenerated.port}`] = pins[`localhost:${server.port}`];
        await Deno.writeTextFile(pinsFilePath(stateDir), JSON.stringify(pins));
        const opts = { ...base(), port: regenerated.port };
        const again = await resolveTrust(opts);
        assert.equal(again.source, "pinned");
        const err = await exchange("localhost", regenerated.port, again.caCerts!).then(
          () => null,
          (e) => e,
        );
        assert.ok(isCertificateError(err), String(err));
        const warning = pinMismatchWarning(opts);
        assert.ok(
          warning.startsWith(
            `WARNING: the certificate of localhost:${regenerated.port} has changed since you pinned it.`,
          ),
          warning,
        );
        assert.ok(warning.includes(certs.caFingerprint), "warning names the pinned fingerprint");
        assert.match(warning, /Refusing to connect/);
        assert.ok(
          warning.includes(
            `remove the entry for localhost:${regenerated.port} from ${pinsFilePath(stateDir)}`,
          ),
          warning,
        );
        assert.ok(warning.includes("(or run with --fingerprint NEW after removing it)"));

        // After forgetting the pin, the new fingerprint can be pinned.
        await forgetPin(stateDir, "LOCALHOST", regenerated.port);
        const repinned = await resolveTrust({ ...opts, fingerprint: other.caFingerprint });
        assert.equal(repinned.source, "fingerprint");
        assert.deepEqual(repinned.caCerts, [other.caPem]);
        // The other server's pin is untouched.
        const left = JSON.parse(await Deno.readTextFile(pinsFilePath(stateDir)));
        assert.equal(left[`localhost:${server.port}`].fingerprint, certs.caFingerprint);
      } finally {
        await regenerated.close();
      }
      await forgetPin(stateDir, "never-pinned.example", 1); // no-op
    } finally {
      await server.close();
    }
  },
);

tlsTest("resolveTrust: --ca wins, then pin, then local CA, then system roots", async (dir) => {
  const certs = await ensureServerCerts(join(dir, "certs"), []);
  const other = await ensureServerCerts(join(dir, "other"), []);
  const stateDir = join(dir, "state");
  const localCaFile = join(dir, "certs", "ca.pem");
  const base = { host: "localhost", port: 1, stateDir };

  // Nothing at all: system roots.
  assert.deepEqual(await resolveTrust({ ...base, localCaFile: join(dir, "absent.pem") }), {
    source: "system",
  });
  // A local ./certs/ca.pem.
  assert.deepEqual(await resolveTrust({ ...base, localCaFile }), {
    caCerts: [certs.caPem],
    source: "local-ca",
    fingerprint: certs.caFingerprint,
  });

  // A pin beats the local CA. (Written the way resolveTrust writes it.)
  await Deno.mkdir(stateDir, { recursive: true });
  await Deno.writeTextFile(
    pinsFilePath(stateDir),
    JSON.stringify({
      [pinKey("localhost", 1)]: {
        ca: other.caPem,
        fingerprint: other.caFingerprint,
        pinnedAt: new Date().toISOString(),
      },
    }),
  );
  assert.equal((await resolveTrust({ ...base, localCaFile })).source, "pinned");

  // --ca beats the pin and even a conflicting --fingerprint; a chain file keeps every certificate.
  const caFile = join(dir, "bundle.pem");
  await Deno.writeTextFile(caFile, certs.caPem + other.caPem);
  assert.deepEqual(
    await resolveTrust({ ...base, localCaFile, caFile, fingerprint: certs.caFingerprint }),
    { caCerts: [certs.caPem, other.caPem], source: "ca-file", fingerprint: certs.caFingerprint },
  );
  await assert.rejects(
    resolveTrust({ ...base, caFile: join(dir, "missing.pem") }),
    /^TrustError: cannot read the CA file .*missing\.pem: no such file$/,
  );
  await Deno.writeTextFile(join(dir, "junk.pem"), "junk");
  await assert.rejects(
    resolveTrust({ ...base, caFile: join(dir, "junk.pem") }),
    /does not contain a PEM certificate/,
  );
  // A PEM block whose contents are no certificate (the good CA first, the bad one second).
  const garbage = derToPem(new TextEncoder().encode("no certificate in here at all"));
  await Deno.writeTextFile(join(dir, "bad.pem"), certs.caPem + garbage);
  await assert.rejects(
    resolveTrust({ ...base, caFile: join(dir, "bad.pem") }),
    /^TrustError: .*bad\.pem contains a certificate that cannot be parsed$/,
  );
  const cut = derToPem(pemToDer(certs.caPem).subarray(0, 200));
  await Deno.writeTextFile(join(dir, "cut.pem"), cut);
  await assert.rejects(
    resolveTrust({ ...base, caFile: join(dir, "cut.pem") }),
    /cut\.pem contains a certificate that cannot be parsed/,
  );

  // A damaged local CA is reported, not silently skipped.
  await assert.rejects(
    resolveTrust({ ...base, port: 2, localCaFile: join(dir, "junk.pem") }),
    TrustError,
  );

  // A damaged pins file or pin entry is reported with the file to fix.
  await Deno.writeTextFile(pinsFilePath(stateDir), "{not json");
  await assert.rejects(resolveTrust({ ...base, localCaFile }), /known_servers\.json is damaged/);
  await Deno.writeTextFile(
    pinsFilePath(stateDir),
    JSON.stringify({
      [pinKey("localhost", 1)]: { ca: other.caPem, fingerprint: certs.caFingerprint },
    }),
  );
  await assert.rejects(
    resolveTrust({ ...base, localCaFile }),
    /the pin for localhost:1 .* is damaged/,
  );
});

tlsTest(
  "resolveTrust: unreachable server and name mismatch are clear errors, nothing pinned",
  async (dir) => {
    const certs = await ensureServerCerts(join(dir, "certs"), []);
    const stateDir = join(dir, "state");

    // A port nobody listens on (bound, then released).
    const tmp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const freePort = (tmp.addr as Deno.NetAddr).port;
    tmp.close();
    await assert.rejects(
      resolveTrust({
        host: "127.0.0.1",
        port: freePort,
        stateDir,
        fingerprint: certs.caFingerprint,
      }),
      (e: unknown) => {
        assert.ok(e instanceof TrustError);
        assert.match(
          e.message,
          new RegExp(`^cannot reach 127\\.0\\.0\\.1:${freePort} to check its certificate`),
        );
        return true;
      },
    );

    // A server whose certificate does not name the host we dial (127.0.0.2 is loopback on Linux).
    let server: ReturnType<typeof startServer> | null = null;
    try {
      server = startServer(certs, "127.0.0.2");
    } catch (error) {
      // all of 127/8 is loopback on Linux, so there it must work; elsewhere it may not exist
      if (Deno.build.os === "linux") throw error;
    }
    if (server) {
      try {
        await assert.rejects(
          resolveTrust({
            host: "127.0.0.2",
            port: server.port,
            stateDir,
            fingerprint: certs.caFingerprint,
            probeTimeoutMs: 5_000,
          }),
          /matches the fingerprint but is not valid for the name 127\.0\.0\.2 \(it covers localhost, 127\.0\.0\.1, ::1\)/,
        );
      } finally {
        await server.close();
      }
    }

    // A silent server (accepts TCP, never answers TLS): the probe gives up in time.
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const acceptLoop = (async () => {
      try {
        for await (const c of silent) held.push(c);
      } catch {
        // closed
      }
    })();
    try {
      const started = Date.now();
      await assert.rejects(
        resolveTrust({
          host: "127.0.0.1",
          port: (silent.addr as Deno.NetAddr).port,
          stateDir,
          fingerprint: certs.caFingerprint,
          probeTimeoutMs: 300,
        }),
        /timed out after .* waiting for the TLS handshake/,
      );
      assert.ok(Date.now() - started < 5_000);
    } finally {
      silent.close();
      await acceptLoop;
      for (const c of held) c.close();
    }
    await assert.rejects(Deno.stat(pinsFilePath(stateDir)), Deno.errors.NotFound);
  },
);

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
