/**
 * `chat serve`: certificates, store, listener, banner, a clean stop on SIGINT/SIGTERM, and the
 * certificate read again on SIGHUP.
 */
import { startServer } from "../server/server.ts";
import { SqliteStore } from "../server/store/sqlite.ts";
import type { Store } from "../server/store/store.ts";
import type { Bus } from "../server/cluster/bus.ts";
import type { CommitLog } from "../server/cluster/cluster.ts";
import type { Searcher } from "../server/search/searcher.ts";
import { redacted } from "./engines.ts";
import { databaseFiles, looseFiles } from "../server/store/files.ts";
import { searcherFor } from "../server/search/mod.ts";
import { ensureServerCerts, loadServerCerts } from "../tls/certs.ts";
import { processEnv, readPassword, type ServeArgs } from "./args.ts";
import { chatCommand } from "./command.ts";
import { Logger } from "../server/log.ts";
import { VERSION } from "../version.ts";

/** A failure that stops the server from starting, worded for the person at the keyboard. */
export class ServeError extends Error {}

export async function runServe(args: ServeArgs): Promise<number> {
  const password = await readPassword(args.passwordFile);
  const wildcard = args.host === "0.0.0.0" || args.host === "::";
  // a wildcard address is reached by the machine's name, so that name goes into the certificate
  const advertised = wildcard ? Deno.hostname() : args.host;
  const certs = args.cert && args.key
    ? await loadServerCerts(args.cert, args.key)
    : await ensureServerCerts(args.certs, [advertised]);

  // looser modes than owner-only on what exists already: said once, at start, left as they are
  const loose = looseFiles([
    ...(args.store ? [] : databaseFiles(args.db)),
    ...(args.cert && args.key ? [] : [args.certs]),
  ]);
  const log = new Logger({ format: args.logFormat, level: args.logLevel });
  const { store, searcher, where } = await openStore(args);
  let bus: Bus | undefined;
  if (args.bus) {
    try {
      const { NatsBus } = await import("../server/cluster/nats_bus.ts");
      bus = await NatsBus.open(args.bus.join(","), `chat ${advertised}`, log);
    } catch (error) {
      searcher.close();
      store.close();
      throw new ServeError(
        `cannot reach the bus (NATS) at ${args.bus.map(redacted).join(", ")}: ${
          (error as Error).message
        }`,
      );
    }
  }

  for (const { path, mode } of loose) {
    log.warn(
      `${path} has mode ${mode.toString(8).padStart(4, "0")}, so other users of this ` +
        `machine may read it (direct messages, keys); chmod ${
          path === args.certs ? "700" : "600"
        } it`,
    );
  }
  let server;
  try {
    server = await startServer({
      hostname: args.host,
      port: args.port,
      certChainPem: certs.certChainPem,
      keyPem: certs.keyPem,
      store,
      searcher,
      password,
      maxRate: args.maxRate,
      maxConnectionsPerAddress: args.maxConnectionsPerAddress,
      maxConnections: args.maxConnections,
      maxRatePerAddress: args.maxRatePerAddress,
      newIdsPerAddressPerHour: args.newIdsPerAddressPerHour,
      newRoomsPerAddressPerHour: args.newRoomsPerAddressPerHour,
      maxRooms: args.maxRooms,
      outputBudgetBytes: args.outputBudgetBytes,
      log,
      cluster: bus ? { bus, store: store as Store & CommitLog } : undefined,
      limits: {
        handshakeTimeoutMs: args.handshakeTimeoutMs,
        helloTimeoutMs: args.helloTimeoutMs,
        idleTimeoutMs: args.idleTimeoutMs,
      },
    });
  } catch (error) {
    await bus?.close().catch(() => {});
    searcher.close();
    store.close();
    const code = (error as { code?: string }).code;
    if (error instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
      throw new ServeError(
        `port ${args.port} on ${args.host} is already in use; pick another with --port (0 picks a free one)`,
      );
    }
    if (error instanceof Deno.errors.PermissionDenied || code === "EACCES") {
      throw new ServeError(
        `not allowed to listen on ${args.host}:${args.port}; try a port above 1023`,
      );
    }
    throw new ServeError(`cannot listen on ${args.host}:${args.port}: ${(error as Error).message}`);
  }

  const port = server.addr.port;
  const target = advertised.includes(":") ? `[${advertised}]:${port}` : `${advertised}:${port}`;
  const join = `${
    chatCommand(processEnv)
  } join --server ${target} --fingerprint ${certs.caFingerprint} --name YOUR_NAME`;
  if (args.logFormat === "text") {
    // for the person who started it: what others need
    if (certs.issued?.ca) console.log(`created a new certificate authority in ${args.certs}/`);
    const cluster = bus ? `, one node of a cluster on ${args.bus!.map(redacted).join(", ")}` : "";
    console.log(
      `chat server, history in ${where}${cluster}${password ? ", password required" : ""}`,
    );
    console.log(`listening on ${server.addr.hostname}:${port}`);
    console.log(`CA fingerprint: ${certs.caFingerprint}`);
    console.log(`join with: ${join}`);
  }
  // the banner above says the rest to a person; a JSON log carries it all in this entry
  const detail = args.logFormat === "json"
    ? { db: where, fingerprint: certs.caFingerprint, newCa: certs.issued?.ca === true, join }
    : {};
  log.info("listening", {
    version: VERSION,
    address: server.addr.hostname,
    port,
    password: password !== undefined,
    ...detail,
  });

  const stop = () => void server.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  // SIGHUP: read the certificate again (a renewed one, or the certs directory's, renewed when
  // due) for new connections; those open keep theirs, and a bad one leaves the old in place
  const certsFrom = args.cert && args.key ? `${args.cert} and ${args.key}` : `${args.certs}/`;
  const reload = async () => {
    try {
      const next = args.cert && args.key
        ? await loadServerCerts(args.cert, args.key)
        : await ensureServerCerts(args.certs, [advertised]);
      server.setCertificate(next.certChainPem, next.keyPem);
      log.info("certificate reloaded (SIGHUP); open connections keep theirs", { from: certsFrom });
    } catch (error) {
      log.error("certificate not reloaded, the previous one stays", {
        from: certsFrom,
        cause: (error as Error).message,
      });
    }
  };
  const hangup = () => void reload();
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", hangup);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGHUP", hangup);
  log.info("stopped");
  return 0;
}

/** The store `args` name (SQLite file, or PostgreSQL), with its searcher and how to name it. */
async function openStore(
  args: ServeArgs,
): Promise<{ store: Store; searcher: Searcher; where: string }> {
  if (args.store) {
    const where = redacted(args.store);
    try {
      const { PostgresStore } = await import("../server/store/postgres.ts");
      const store = new PostgresStore(args.store);
      // searches run in a worker with a connection of its own (search/pg_scan.ts)
      return { store, searcher: searcherFor(store, args.store), where };
    } catch (error) {
      throw new ServeError(`cannot open the store ${where}: ${(error as Error).message}`);
    }
  }
  let store: SqliteStore;
  try {
    store = new SqliteStore(args.db);
  } catch (error) {
    throw new ServeError(
      `cannot open the history database ${args.db}: ${(error as Error).message}`,
    );
  }
  return { store, searcher: searcherFor(store, args.db), where: args.db };
}
