// Tests for src/tls/san.ts: the subjectAltName names a client reads from a certificate's DER
// (without @peculiar/x509), against certificates @peculiar/x509 and `chat serve` make.
//
// Run: deno test -A tests/san_test.ts

import assert from "node:assert/strict";
import { X509Certificate as NodeX509 } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { certNames, ensureServerCerts } from "../src/tls/certs.ts";
import { pemToDer, splitPemChain } from "../src/tls/fingerprint.ts";
import { type HostName, nameCovers, parseHost, parseIp } from "../src/tls/names.ts";
import { DerError, sanNames } from "../src/tls/san.ts";

x509.cryptoProvider.set(globalThis.crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;

/** DER of a self-signed certificate with these extensions. */
async function certWith(extensions: x509.Extension[]): Promise<Uint8Array> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=test",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: ALG,
    keys,
    extensions,
  });
  return new Uint8Array(cert.rawData);
}

/** Names as `dns:text` / `ip:text`, for comparing. */
const show = (names: HostName[]) => names.map((n) => `${n.kind}:${n.text}`);

Deno.test("sanNames: DNS names lower-cased, IPv4 and IPv6 as bytes, other kinds skipped", async () => {
  const der = await certWith([
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.SubjectAlternativeNameExtension([
      { type: "dns", value: "Chat.Example" },
      { type: "email", value: "ops@chat.example" },
      { type: "ip", value: "10.1.2.3" },
      { type: "ip", value: "2001:db8::1" },
      { type: "ip", value: "::ffff:102:304" }, // ::ffff:1.2.3.4 (x509 cannot write that form)
      { type: "url", value: "https://chat.example/" },
      { type: "dns", value: "*.rooms.example" },
      { type: "ip", value: "::1" },
    ]),
  ]);
  const names = sanNames(der);
  assert.deepEqual(show(names), [
    "dns:chat.example",
    "ip:10.1.2.3",
    "ip:2001:db8::1",
    "ip:::ffff:102:304",
    "dns:*.rooms.example",
    "ip:::1",
  ]);
  assert.deepEqual(names[1], { kind: "ip", bytes: parseIp("10.1.2.3"), text: "10.1.2.3" });
  assert.deepEqual((names[2] as { bytes: Uint8Array }).bytes, parseIp("2001:db8::1"));
  assert.deepEqual((names[3] as { bytes: Uint8Array }).bytes, parseIp("::ffff:1.2.3.4"));
  // What the client checks with them: IPs by bytes, whatever the spelling; one wildcard label.
  const covers = (host: string) => names.some((n) => nameCovers(n, parseHost(host)!));
  assert.ok(covers("CHAT.example."));
  assert.ok(covers("[0:0::1]"));
  assert.ok(covers("2001:0db8:0:0::1"));
  assert.ok(covers("a.rooms.example"));
  assert.ok(!covers("a.b.rooms.example"));
  assert.ok(!covers("127.0.0.1"));
});

Deno.test("sanNames: a name holding ', DNS:' stays one name (node's subjectAltName string would split it)", async () => {
  const der = await certWith([
    new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "evil, DNS:victim.example" }]),
  ]);
  assert.deepEqual(show(sanNames(der)), ["dns:evil, dns:victim.example"]);
  assert.ok(!sanNames(der).some((n) => nameCovers(n, parseHost("victim.example")!)));
  // The string node:crypto gives, for contrast: ambiguous.
  assert.match(new NodeX509(der).subjectAltName ?? "", /DNS:victim\.example/);
});

Deno.test("sanNames: no extensions, or none for names, give no names", async () => {
  assert.deepEqual(sanNames(await certWith([])), []);
  assert.deepEqual(
    sanNames(await certWith([new x509.BasicConstraintsExtension(true, 0, true)])),
    [],
  );
});

Deno.test("sanNames: a critical extension (the BOOLEAN before the value) is read", async () => {
  const der = await certWith([
    new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }], true),
  ]);
  assert.deepEqual(show(sanNames(der)), ["dns:localhost"]);
});

Deno.test("sanNames: what is not a certificate throws a DerError, never reads past the end", async () => {
  const der = await certWith([
    new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }]),
  ]);
  for (let cut = 0; cut < der.length; cut += 7) {
    assert.throws(() => sanNames(der.subarray(0, cut)), DerError, `cut at ${cut}`);
  }
  assert.throws(() => sanNames(new Uint8Array([0x30, 0x80, 0, 0])), DerError); // BER indefinite
  assert.throws(() => sanNames(new Uint8Array([0x04, 0x01, 0x00])), DerError); // not a SEQUENCE
  assert.throws(() => sanNames(new TextEncoder().encode("-----BEGIN CERTIFICATE-----")), DerError);
});

Deno.test("sanNames agrees with the server's certNames (@peculiar/x509) on what chat serve issues", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-san-test-" });
  try {
    const certs = await ensureServerCerts(dir, ["chat.example", "10.1.2.3", "fe80::7", "0.0.0.0"]);
    const leaf = splitPemChain(certs.certChainPem)[0];
    const mine = sanNames(pemToDer(leaf));
    assert.deepEqual(show(mine), show(certNames(new x509.X509Certificate(leaf))));
    assert.deepEqual(show(mine), [
      "dns:localhost",
      "ip:127.0.0.1",
      "ip:::1",
      "dns:chat.example",
      "ip:10.1.2.3",
      "ip:fe80::7",
    ]);
    assert.deepEqual(sanNames(pemToDer(certs.caPem)), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
