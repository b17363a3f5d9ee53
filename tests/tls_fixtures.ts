/**
 * Fixtures of the tests against real TLS on 127.0.0.1 (tests/tls_test.ts, tests/failover_test.ts):
 * a test in its own temp dir with a time bound, and a listener as a chat server opens one.
 */
import type { ServerCerts } from "../src/tls/certs.ts";

/** How long one such test may take: a hung handshake fails the test instead of the run. */
export const TLS_TEST_TIMEOUT_MS = 30_000;

/** Rejects if `p` takes longer than `ms`, so a hung handshake fails the test instead of the run. */
export async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A maker of tests, each a Deno.test with its own temp dir (named `prefix`…) removed afterwards,
 * bounded in time.
 */
export function dirTests(
  prefix: string,
): (name: string, fn: (dir: string) => Promise<void>) => void {
  return (name, fn) =>
    Deno.test(name, async () => {
      const dir = await Deno.makeTempDir({ prefix });
      try {
        await deadline(fn(dir), TLS_TEST_TIMEOUT_MS, name);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
}

/** A TLS listener on `hostname` with these certificates, offering the chat protocol (ALPN). */
export function listenChat(certs: ServerCerts, hostname = "127.0.0.1"): Deno.TlsListener {
  return Deno.listenTls({
    hostname,
    port: 0,
    cert: certs.certChainPem,
    key: certs.keyPem,
    alpnProtocols: ["chat/1"],
  });
}
