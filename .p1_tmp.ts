import * as x509 from "@peculiar/x509";
import tls from "node:tls";
x509.cryptoProvider.set(globalThis.crypto);
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const caKeys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
const now = Date.now();
const ca = await x509.X509CertificateGenerator.createSelfSigned({
  serialNumber: "01", name: "CN=chat local CA", notBefore: new Date(now - 3600e3), notAfter: new Date(now + 3650 * 864e5),
  signingAlgorithm: alg, keys: caKeys,
  extensions: [new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey)],
});
const sKeys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
const srv = await x509.X509CertificateGenerator.create({
  serialNumber: "02", subject: "CN=localhost", issuer: ca.subject, notBefore: new Date(now - 3600e3), notAfter: new Date(now + 396 * 864e5),
  signingAlgorithm: alg, publicKey: sKeys.publicKey, signingKey: caKeys.privateKey,
  extensions: [new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }, { type: "ip", value: "127.0.0.1" }, { type: "ip", value: "::1" }]),
    await x509.AuthorityKeyIdentifierExtension.create(ca),
  ],
});
const pk = await crypto.subtle.exportKey("pkcs8", sKeys.privateKey);
const keyPem = x509.PemConverter.encode(pk, "PRIVATE KEY");
console.log(keyPem, srv.toString("pem"));
console.log(srv.getExtension(x509.SubjectAlternativeNameExtension)!.names.items.map((n) => [n.type, n.value]));
const l = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: srv.toString("pem") + "\n" + ca.toString("pem"), key: keyPem, alpnProtocols: ["chat/1"] });
const port = (l.addr as Deno.NetAddr).port;
(async () => { for await (const c of l) { (async () => { try { await c.handshake(); const buf = new Uint8Array(100); const n = await c.read(buf); console.log("server read", n); c.close(); } catch (e) { console.log("server err", e); } })(); } })();
const c = await Deno.connectTls({ hostname: "localhost", port, caCerts: [ca.toString("pem")], alpnProtocols: ["chat/1"] });
const hs = await c.handshake(); console.log(hs); await c.write(new TextEncoder().encode("hi")); c.close();
await new Promise<void>((res, rej) => {
  const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["chat/1"] }, () => {
    let cert: any = s.getPeerCertificate(true);
    const seen = new Set();
    while (cert && !seen.has(cert)) { seen.add(cert); console.log(cert.subject, cert.fingerprint256, !!cert.raw); if (cert.issuerCertificate === cert) break; cert = cert.issuerCertificate; }
    console.log("alpn", s.alpnProtocol, "checkServerIdentity", tls.checkServerIdentity("localhost", s.getPeerCertificate()));
    s.end(); s.on("close", () => res());
  });
  s.on("error", rej);
});
await new Promise((r) => setTimeout(r, 200));
l.close();
