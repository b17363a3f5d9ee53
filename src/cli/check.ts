/**
 * `chat check`: is the server up? TCP, TLS verified as `chat join` verifies it, then a protocol
 * `ping` before any `hello` (no login, no id used up, nothing stored); the server's `pong` to a
 * connection not logged in carries its version. Exit 0 when it answered, 1 otherwise: a health
 * check for systemd and containers.
 */
import { type CheckArgs, defaultStateDir } from "./args.ts";
import { ConnectError, Connection } from "../client/connection.ts";
import { pinMismatchWarning, resolveTrust, type TrustOptions } from "../tls/trust.ts";

/** What a check found. */
export interface CheckResult {
  /** The address that answered (of several, the first to). */
  where: string;
  /** The server's version, when it said (servers before 0.1.0's check did not). */
  version?: string;
  /** Ping to pong, over the established connection, in milliseconds. */
  rttMs: number;
  /** TCP connect and TLS handshake, in milliseconds. */
  connectMs: number;
}

/**
 * Runs one check within `args.timeoutMs`: of several addresses, each in turn until one answers
 * (one not trusted stops the check). Throws ConnectError (or a TrustError) when it fails.
 */
export async function check(args: CheckArgs): Promise<CheckResult> {
  const servers = args.servers;
  const label = servers.map(({ host, port }) => `${host}:${port}`).join(",");
  const deadline = Date.now() + args.timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let connection: Connection | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ConnectError(`${label} did not answer within ${args.timeoutMs / 1000} s`)),
      args.timeoutMs,
    );
  });
  try {
    return await Promise.race([timeout, run()]);
  } finally {
    clearTimeout(timer);
    connection?.close();
  }

  async function run(): Promise<CheckResult> {
    const trustOptions: TrustOptions = {
      host: args.host,
      port: args.port,
      others: servers.slice(1),
      caFile: args.ca,
      fingerprint: args.fingerprint,
      stateDir: defaultStateDir(),
      localCaFile: args.localCa,
      keepPin: false,
      probeTimeoutMs: Math.max(1, deadline - Date.now()),
    };
    const trust = await resolveTrust(trustOptions);
    const failures: string[] = [];
    for (const { host, port } of servers) {
      try {
        return await ask(host, port, trust.caCerts);
      } catch (error) {
        if (error instanceof ConnectError && error.certificate && trust.source === "pinned") {
          throw new ConnectError(pinMismatchWarning({ ...trustOptions, host, port }), true);
        }
        if (servers.length === 1 || (error instanceof ConnectError && error.certificate)) {
          throw error;
        }
        failures.push((error as Error).message);
      }
    }
    throw new ConnectError(failures.join("; "));
  }

  /** Connects to one address and asks it for a pong. */
  async function ask(host: string, port: number, caCerts?: string[]): Promise<CheckResult> {
    const where = `${host}:${port}`;
    const started = performance.now();
    connection?.close();
    connection = await Connection.open({ host, port, caCerts });
    const connected = performance.now();
    connection.send({ type: "ping" });
    for (;;) {
      const incoming = await connection.read();
      if (incoming === null) {
        throw new ConnectError(`${where} closed the connection without answering the ping`);
      }
      if ("bad" in incoming) throw new ConnectError(`${where} answered: ${incoming.bad}`);
      const frame = incoming.frame;
      if (frame.type === "pong") {
        return {
          where,
          version: frame.server?.version,
          rttMs: performance.now() - connected,
          connectMs: connected - started,
        };
      }
      if (frame.type === "goodbye") {
        throw new ConnectError(`${where} said goodbye: ${frame.message}`);
      }
      // anything else (an error about us, say) is not the answer; the timeout bounds the wait
    }
  }
}

/** `chat check`: one line on stdout, exit 0; a failure is one sentence from main.ts, exit 1. */
export async function runCheck(args: CheckArgs): Promise<number> {
  const result = await check(args);
  const version = result.version ? `chat ${result.version}` : "a chat server of unknown version";
  console.log(
    `ok: ${version} at ${result.where}, round trip ${format(result.rttMs)} ` +
      `(TCP and TLS ${format(result.connectMs)})`,
  );
  return 0;
}

function format(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`;
}
