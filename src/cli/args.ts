/**
 * Argument parsing and help text for every subcommand (node:util parseArgs, strict).
 * A usage mistake becomes a UsageError: one sentence on stderr, exit code 2.
 */
import { natsAddresses, postgresAddress, redacted } from "./engines.ts";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { helpText } from "../client/commands.ts";
import { MAX_OUTBOX_MESSAGES } from "../client/outbox.ts";
import { keysText } from "../ui/keymap.ts";
import type { Layout } from "../ui/ui.ts";
import {
  GENERAL_ROOM,
  ID_PATTERN,
  nameProblem,
  ROOM_NAME_RULE,
  roomName,
} from "../protocol/rules.ts";
import { DEFAULT_PORT, VERSION } from "../version.ts";
import * as limits from "../server/limits.ts";
import {
  ADMIN_OPTIONS,
  BENCH_OPTIONS,
  CHECK_OPTIONS,
  DEFAULT_CERTS,
  DEFAULT_CHECK_TIMEOUT_S,
  DEFAULT_DB,
  DEFAULT_HOST,
  DEFAULT_LOG_FORMAT,
  DEFAULT_LOG_LEVEL,
  DEFAULT_SERVER,
  defaultStateDirFrom,
  ENV,
  JOIN_OPTIONS,
  LAYOUTS,
  localServer,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  MAX_BENCH_NODES,
  MAX_SERVERS,
  MIB,
  MIN_BENCH_NODES,
  type OptionTable,
  SERVE_OPTIONS,
} from "./options.ts";

/** Reads one environment variable; an empty value counts as unset. */
export type Env = (name: string) => string | undefined;
/** The process environment (needs the launcher's --allow-env for each name read). */
export const processEnv: Env = (name) => Deno.env.get(name) || undefined;

export class UsageError extends Error {}

export const MAIN_HELP = `chat ${VERSION} — a secure terminal chat

Usage:
  chat serve [options]          run a chat server
  chat join --name NAME [...]   join a chat server
  chat check [--server HOST:PORT] is a server up? (exit 0 yes, 1 no; for health checks)
  chat admin op ID | deop ID | ops  grant, revoke, list server operators
  chat bench [options]          measure throughput and latency on this machine
  chat --help | chat COMMAND --help | chat --version
`;

export const SERVE_HELP = `Usage: chat serve [options]

Runs a TLS chat server with persistent history. On first run it creates a local
certificate authority and server certificate in the certs directory, and prints
the CA fingerprint and a join command to hand to others.

Options:
  --host HOST           address to listen on (default ${DEFAULT_HOST}; 0.0.0.0 for all)
  --port N              port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --db FILE             history database (default ./${DEFAULT_DB}; created mode 0600)
  --store URL           keep everything in PostgreSQL instead (postgres://USER:PASS@HOST/DB)
  --bus URL             one node of a cluster: the nodes sharing --store talk over this
                        NATS server (nats://HOST:PORT; several, comma-separated); see
                        docs/CLUSTER.md
  --certs DIR           where the generated CA and server certificate live (default
                        ./${DEFAULT_CERTS}; created mode 0700)
  --cert FILE --key FILE  use this certificate chain and key instead (e.g. a public one);
                        SIGHUP reads them again (a renewed certificate, nobody dropped)
  --password-file FILE  require the password in FILE (or set ${ENV.password})
  --log-format FORMAT   ${
  LOG_FORMATS.join(" or ")
} (one JSON object a line) (default ${DEFAULT_LOG_FORMAT}); lines are dated,
                        with a level, and never hold message text, tokens or passwords
  --log-level LEVEL     ${
  LOG_LEVELS.join(", ")
} (default ${DEFAULT_LOG_LEVEL}; debug adds every connection)
  --max-rate N          messages per second per user, sustained (default ${limits.DEFAULT_MAX_RATE};
                        0 = no limit)
  --max-rate-per-address N
                        messages per second from one address, whatever ids it uses
                        (default ${limits.ADDRESS_RATE_FACTOR} × --max-rate; 0 = no limit)
  --max-new-ids-per-address N
                        new ids issued to one address per hour (default ${limits.DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR}; 0 = no limit)
  --max-new-rooms-per-address N
                        rooms created from one address per hour (default ${limits.DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR}; 0 = no limit)
  --max-rooms N         rooms the server keeps (default ${limits.DEFAULT_MAX_ROOMS}); a room is kept for good
  --handshake-timeout S seconds a new connection has for its TLS handshake (default ${
  limits.HANDSHAKE_TIMEOUT_MS / 1000
})
  --hello-timeout S     seconds from the handshake to the client's hello (default ${
  limits.HELLO_TIMEOUT_MS / 1000
})
  --idle-timeout S      seconds of silence before a client is cut (default ${
  limits.IDLE_TIMEOUT_MS / 1000
}; clients ping
                        three times as often)
  --max-connections-per-address N
                        connections from one address not logged in yet (default ${limits.MAX_CONNECTIONS_PER_ADDRESS});
                        one more pushes out a silent or stalled one; logged-in users
                        do not count
  --max-connections N   open connections on the whole server (default ${limits.MAX_CONNECTIONS})
  --output-budget MIB   output the server may hold for slow readers before it stops
                        reading senders (default ${limits.OUTPUT_BUDGET_BYTES / MIB})
  -h, --help            show this help

Environment (an option given on the command line wins):
  ${ENV.host}, ${ENV.port}, ${ENV.db}, ${ENV.certs}, ${ENV.logFormat}, ${ENV.logLevel}
                        --host, --port, --db, --certs, --log-format, --log-level
  ${ENV.store}, ${ENV.bus}   --store, --bus
  ${ENV.password}         the password, when there is no --password-file
`;

export const JOIN_HELP = `Usage: chat join [--name NAME] [options]

Joins a chat server over TLS. The server gives you an id like tom_1234.

Options:
  --name NAME           your name: 1-24 letters, digits, '.', '_' or '-'
  --server HOST:PORT    the server (default ${DEFAULT_SERVER}); for one run as
                        several nodes, all of them: a:7777,b:7777 (at most ${MAX_SERVERS});
                        the first to answer is joined and, when it is lost, the
                        next, as the same id, missing nothing
  --ca FILE             trust this CA certificate for the server
  --fingerprint SHA256:...  the server's CA fingerprint, as chat serve printed it;
                        pinned on first contact, checked on every later one
  --password-file FILE  the server password (or set CHAT_PASSWORD)
  --plain               one line per event on stdout; input lines from stdin
  --json                like --plain, but one JSON object per line (NDJSON)
  --no-bell             no terminal bell on direct messages and mentions
  --no-color            no colours (NO_COLOR does the same); bold, underline and
                        inverse stay
  --layout bubbles|lines  speech bubbles (the default), or one line per message
                        (\`12:43 #ref <alice> text\`, easy to copy); F3 switches
  --room ROOM           where what you type goes (default ${GENERAL_ROOM}; the # may be left
                        out, as a shell takes #word for a comment); joined first if need be
  -h, --help            show this help

Type a message and press Enter to send it to everyone in your room (#general at
first; --room and /join choose another). Start with @id (or @name)
to send it only to those people. The commands (/help lists them too):
${helpText(78).replace(/^/gm, "  ")}

Keys in the full-screen client (/help lists them too):
${keysText(78).replace(/^/gm, "  ")}

Messages typed while disconnected are sent when the connection is back; if you
leave first, they are kept (at most ${MAX_OUTBOX_MESSAGES}, in outbox.json beside tokens.json)
and sent on your next join as the same id.
Without a terminal (or with --plain/--json) the client reads lines from stdin.
When --name is missing at a terminal, the client asks for it.
`;

export interface ServeArgs {
  host: string;
  port: number;
  db: string;
  /** A PostgreSQL URL: the store instead of --db. */
  store?: string;
  /** NATS URLs: this server is one node of a cluster sharing `store`. */
  bus?: string[];
  certs: string;
  cert?: string;
  key?: string;
  passwordFile?: string;
  maxRate: number;
  handshakeTimeoutMs: number;
  helloTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnectionsPerAddress: number;
  /** Undefined: limits.ADDRESS_RATE_FACTOR × maxRate. */
  maxRatePerAddress?: number;
  newIdsPerAddressPerHour: number;
  newRoomsPerAddressPerHour: number;
  maxRooms: number;
  maxConnections: number;
  outputBudgetBytes: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  help: boolean;
}

export interface JoinArgs {
  name?: string;
  /** The first of {@link servers}. */
  host: string;
  port: number;
  /** Every address --server lists, in the order given (one unless it lists the nodes of one server). */
  servers: Address[];
  ca?: string;
  fingerprint?: string;
  passwordFile?: string;
  mode: "interactive" | "plain" | "json";
  bell: boolean;
  color: boolean;
  layout: Layout;
  /** Where what is typed goes (undefined: GENERAL_ROOM). */
  room?: string;
  help: boolean;
}

function parse(
  argv: string[],
  options: OptionTable,
): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false })
      .values as Record<string, string | boolean | undefined>;
  } catch (error) {
    // node's messages are long and name internals; keep the first sentence
    const message = (error as Error).message.split("\n")[0].replace(/\. To specify.*$/, "");
    throw new UsageError(message.endsWith(".") ? message.slice(0, -1) : message);
  }
}

function parsePort(text: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`${what} must be a port number from 0 to 65535, not "${text}"`);
  }
  return Number(text);
}

/** A positive number of seconds (decimals allowed, at most a day) → milliseconds. */
function parseSeconds(text: string, what: string): number {
  const seconds = Number(text);
  // at least a millisecond once in milliseconds: 0.0001 would round to "no time at all"
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || seconds < 0.001 || seconds > 86400) {
    throw new UsageError(
      `${what} must be a number of seconds from 0.001 to 86400, not "${text}"`,
    );
  }
  return Math.round(seconds * 1000);
}

/** A whole number from 1 to 1,000,000. */
function parseCount(text: string, what: string): number {
  if (!/^[0-9]{1,7}$/.test(text) || Number(text) < 1 || Number(text) > 1_000_000) {
    throw new UsageError(`${what} must be a whole number from 1 to 1000000, not "${text}"`);
  }
  return Number(text);
}

/** A whole number from 0 (no limit) to 1,000,000. */
function parseLimit(text: string, what: string): number {
  if (!/^[0-9]{1,7}$/.test(text) || Number(text) > 1_000_000) {
    throw new UsageError(
      `${what} must be a whole number from 0 (no limit) to 1000000, not "${text}"`,
    );
  }
  return Number(text);
}

/** --store and --bus (or CHAT_STORE, CHAT_BUS): a cluster's engines, checked. */
function parseEngines(
  v: Record<string, unknown>,
  env: Env,
): { store?: string; bus?: string[] } {
  const given = (flag: string, variable: string) =>
    v[flag] !== undefined
      ? { text: String(v[flag]), what: `--${flag}` }
      : env(variable) !== undefined && env(variable) !== ""
      ? { text: env(variable)!, what: variable }
      : undefined;
  const store = given("store", ENV.store);
  const bus = given("bus", ENV.bus);
  if (store === undefined) {
    if (bus !== undefined) {
      throw new UsageError(
        `${bus.what} needs --store postgres://…: the nodes of a cluster share one PostgreSQL`,
      );
    }
    return {};
  }
  if (v.db !== undefined) throw new UsageError("--db and --store name two stores; give one");
  if (postgresAddress(store.text) === null) {
    throw new UsageError(
      `${store.what} must be a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE), ` +
        `not "${redacted(store.text)}"`,
    );
  }
  if (bus === undefined) return { store: store.text };
  const nats = natsAddresses(bus.text);
  if (typeof nats === "string") throw new UsageError(`${bus.what} ${nats}`);
  return { store: store.text, bus: nats.servers };
}

export function parseServeArgs(argv: string[], env: Env = processEnv): ServeArgs {
  const v = parse(argv, SERVE_OPTIONS);
  /** The flag, else its environment variable, else the default; `what` names the source in errors. */
  const pick = (flag: string, variable: string, fallback: string) => {
    if (v[flag] !== undefined) return { text: String(v[flag]), what: `--${flag}` };
    const value = env(variable);
    return value === undefined
      ? { text: fallback, what: `--${flag}` }
      : { text: value, what: variable };
  };
  const port = pick("port", ENV.port, String(DEFAULT_PORT));
  const logFormat = pick("log-format", ENV.logFormat, DEFAULT_LOG_FORMAT);
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat.text)) {
    throw new UsageError(
      `${logFormat.what} must be ${LOG_FORMATS.join(" or ")}, not "${logFormat.text}"`,
    );
  }
  const logLevel = pick("log-level", ENV.logLevel, DEFAULT_LOG_LEVEL);
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel.text)) {
    throw new UsageError(
      `${logLevel.what} must be one of ${LOG_LEVELS.join(", ")}, not "${logLevel.text}"`,
    );
  }
  if ((v.cert === undefined) !== (v.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  const rate = (option: string) => {
    const text = String(v[option]);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) {
      throw new UsageError(`--${option} must be a number of messages per second, not "${text}"`);
    }
    return Number(text);
  };
  const engines = parseEngines(v, env);
  return {
    host: pick("host", ENV.host, DEFAULT_HOST).text,
    port: parsePort(port.text, port.what),
    db: pick("db", ENV.db, DEFAULT_DB).text,
    ...engines,
    certs: pick("certs", ENV.certs, DEFAULT_CERTS).text,
    logFormat: logFormat.text as LogFormat,
    logLevel: logLevel.text as LogLevel,
    cert: v.cert as string | undefined,
    key: v.key as string | undefined,
    passwordFile: v["password-file"] as string | undefined,
    maxRate: rate("max-rate"),
    maxRatePerAddress: v["max-rate-per-address"] === undefined
      ? undefined
      : rate("max-rate-per-address"),
    newIdsPerAddressPerHour: parseLimit(
      String(v["max-new-ids-per-address"]),
      "--max-new-ids-per-address",
    ),
    newRoomsPerAddressPerHour: parseLimit(
      String(v["max-new-rooms-per-address"]),
      "--max-new-rooms-per-address",
    ),
    maxRooms: parseCount(String(v["max-rooms"]), "--max-rooms"),
    maxConnections: parseCount(String(v["max-connections"]), "--max-connections"),
    outputBudgetBytes: parseCount(String(v["output-budget"]), "--output-budget") * MIB,
    handshakeTimeoutMs: parseSeconds(String(v["handshake-timeout"]), "--handshake-timeout"),
    helloTimeoutMs: parseSeconds(String(v["hello-timeout"]), "--hello-timeout"),
    idleTimeoutMs: parseSeconds(String(v["idle-timeout"]), "--idle-timeout"),
    maxConnectionsPerAddress: parseCount(
      String(v["max-connections-per-address"]),
      "--max-connections-per-address",
    ),
    help: Boolean(v.help),
  };
}

/** Where a server listens, as --server gives it. */
export interface Address {
  host: string;
  port: number;
}

/** Splits HOST:PORT, [v6]:PORT or HOST (default port). */
export function parseServer(text: string): Address {
  const match = /^\[([0-9a-fA-F:.]+)\](?::([0-9]+))?$/.exec(text) ??
    /^([A-Za-z0-9.-]+)(?::([0-9]+))?$/.exec(text);
  if (!match) throw new UsageError(`--server must look like HOST:PORT, not "${text}"`);
  const port = match[2] ? parsePort(match[2], "--server") : DEFAULT_PORT;
  // one rule for both spellings: a server to dial has a real port
  if (port === 0) throw new UsageError("--server needs a real port, not 0");
  return { host: match[1], port };
}

/**
 * Splits --server's list: one address, or several separated by commas (the nodes of one server,
 * tried in this order). Each is HOST:PORT, [v6]:PORT or HOST; spaces around one are dropped.
 */
export function parseServers(text: string): Address[] {
  if (!text.includes(",")) return [parseServer(text)];
  const entries = text.split(",").map((entry) => entry.trim());
  if (entries.length > MAX_SERVERS) {
    throw new UsageError(
      `--server lists ${entries.length} addresses; at most ${MAX_SERVERS} are allowed`,
    );
  }
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    if (entry === "") {
      throw new UsageError(
        `--server has an empty address (number ${index + 1} of ${entries.length}); ` +
          "separate addresses with single commas, as in a:7777,b:7777",
      );
    }
    const address = parseServer(entry);
    const key = `${address.host.toLowerCase()}:${address.port}`;
    if (seen.has(key)) throw new UsageError(`--server lists ${entry} twice`);
    seen.add(key);
    return address;
  });
}

export function parseJoinArgs(argv: string[], env: Env = processEnv): JoinArgs {
  const v = parse(argv, JOIN_OPTIONS);
  if (v.plain && v.json) throw new UsageError("choose one of --plain and --json");
  const layout = LAYOUTS.find((l) => l === v.layout);
  if (!layout) throw new UsageError(`--layout must be bubbles or lines, not "${v.layout}"`);
  const name = v.name as string | undefined;
  if (name !== undefined) {
    const problem = nameProblem(name);
    if (problem) throw new UsageError(`--name "${name}" is not allowed: ${problem}`);
  }
  const servers = parseServers(String(v.server));
  const { host, port } = servers[0];
  const room = v.room === undefined ? undefined : roomName(String(v.room));
  if (room === null) throw new UsageError(`--room "${v.room}" is not allowed: ${ROOM_NAME_RULE}`);
  return {
    name,
    host,
    port,
    servers,
    ca: v.ca as string | undefined,
    fingerprint: v.fingerprint as string | undefined,
    passwordFile: v["password-file"] as string | undefined,
    mode: v.json ? "json" : v.plain ? "plain" : "interactive",
    bell: !v["no-bell"],
    // NO_COLOR (any non-empty value) turns colours off, as https://no-color.org asks
    color: !v["no-color"] && !env("NO_COLOR"),
    layout,
    ...(room !== undefined ? { room } : {}),
    help: Boolean(v.help),
  };
}

// ---- chat admin ------------------------------------------------------------------------------

export const ADMIN_HELP = `Usage: chat admin op ID | deop ID | ops [--db FILE]

Grants and revokes server operators in the server's database, whether the server
runs or not: it reads them afresh on every use, so nothing needs a restart.
A server operator may moderate every room, ban and mute on the whole server (and
by address), and read the whole moderation log (/ops, /ban, /mute, /modlog).

  op ID                 make ID (the id the server issued, e.g. alice_1234) a
                        server operator
  deop ID               take that back
  ops                   list the server operators

Options:
  --db FILE             the server's database (default ./${DEFAULT_DB}, or ${ENV.db})
  -h, --help            show this help
`;

export type AdminArgs =
  | { action: "op" | "deop"; id: string; db: string; help: false }
  | { action: "ops"; db: string; help: false }
  | { help: true };

export function parseAdminArgs(argv: string[], env: Env = processEnv): AdminArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: ADMIN_OPTIONS,
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0].replace(/\.$/, ""));
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  const db = (values.db as string | undefined) ?? env(ENV.db) ?? DEFAULT_DB;
  const [action, id, ...extra] = positionals;
  if (action === "ops" && id === undefined) return { action, db, help: false };
  if ((action === "op" || action === "deop") && id !== undefined && extra.length === 0) {
    if (!ID_PATTERN.test(id)) {
      throw new UsageError(`"${id}" is not an id like alice_1234 (as /who shows it)`);
    }
    return { action, id, db, help: false };
  }
  throw new UsageError("say op ID, deop ID or ops");
}

// ---- chat check ------------------------------------------------------------------------------

export const CHECK_HELP =
  `Usage: chat check [--server HOST:PORT] [--ca FILE | --fingerprint SHA256:...]

Checks that a chat server answers: connects, completes TLS (verifying the server as
chat join does), and exchanges a protocol ping without logging in. Prints the server's
version and the round-trip time; exits 0 when it answered, 1 when it did not. Made for
health checks (systemd, containers): see docs/DEPLOY.md.

Options:
  --server HOST:PORT    the server (default: the one started beside it, at ${ENV.host}
                        and ${ENV.port}; ${DEFAULT_HOST}:${DEFAULT_PORT} without them); a server's
                        nodes, as a:7777,b:7777, are tried in order: the first to
                        answer counts
  --ca FILE             trust this CA certificate (default: a pinned one, else
                        ${ENV.certs}/ca.pem or ./${DEFAULT_CERTS}/ca.pem, else the system roots)
  --fingerprint SHA256:...  the server's CA fingerprint, as chat serve printed it
                        (checked, not pinned)
  --timeout S           seconds allowed for the whole check (default ${DEFAULT_CHECK_TIMEOUT_S})
  -h, --help            show this help
`;

export interface CheckArgs {
  /** The first of {@link servers}. */
  host: string;
  port: number;
  /** Every address --server lists, tried in order until one answers. */
  servers: Address[];
  ca?: string;
  fingerprint?: string;
  /** The CA of a server started beside this check (CHAT_CERTS or ./certs), trusted when present. */
  localCa: string;
  timeoutMs: number;
  help: boolean;
}

export function parseCheckArgs(argv: string[], env: Env = processEnv): CheckArgs {
  const v = parse(argv, CHECK_OPTIONS);
  if (v.ca !== undefined && v.fingerprint !== undefined) {
    throw new UsageError("choose one of --ca and --fingerprint");
  }
  // beside the server it checks (a container, a systemd unit), it finds it as the server found
  // its own settings
  const port = env(ENV.port);
  if (port !== undefined) parsePort(port, ENV.port);
  const server = v.server === undefined ? localServer(env) : String(v.server);
  const servers = parseServers(server);
  const { host, port: serverPort } = servers[0];
  return {
    host,
    port: serverPort,
    servers,
    ca: v.ca as string | undefined,
    fingerprint: v.fingerprint as string | undefined,
    localCa: join(env(ENV.certs) ?? DEFAULT_CERTS, "ca.pem"),
    timeoutMs: parseSeconds(String(v.timeout), "--timeout"),
    help: Boolean(v.help),
  };
}

/** Reads a password from FILE (first line) or the CHAT_PASSWORD variable. */
export async function readPassword(
  file: string | undefined,
  env: Env = processEnv,
): Promise<string | undefined> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch {
      throw new UsageError(`cannot read the password file ${file}`);
    }
    const password = text.split(/\r?\n/)[0];
    if (password === "") throw new UsageError(`the password file ${file} is empty`);
    return password;
  }
  return env(ENV.password);
}

/**
 * The per-user state directory (pins, tokens, unsent messages): `$XDG_STATE_HOME/chat`, else
 * `~/.local/state/chat` (`%LOCALAPPDATA%\chat` on Windows).
 */
export function defaultStateDir(env: Env = processEnv): string {
  const dir = defaultStateDirFrom(env, Deno.build.os === "windows");
  if (!dir) {
    throw new Error("cannot find a home directory to keep pinned servers in; set XDG_STATE_HOME");
  }
  return dir;
}

// ---- chat bench ------------------------------------------------------------------------------

import { MAX_TEXT_LENGTH } from "../protocol/rules.ts";

export const BENCH_HELP = `Usage: chat bench [options]

Measures the chat server on this machine. Starts one on 127.0.0.1 with a temporary
database and certificates (or measures --server), logs in N receiving clients over
real TLS, drives S senders, and reports delivered messages per second, send-to-receive
latency (p50, p99, max), the server's peak memory, persisted messages per second and
the time the clients took to log in.

Options:
  --clients N           receiving clients (default 100)
  --senders S           sending clients (default 1)
  --messages M          messages in all, shared among the senders (default 10000)
  --rate R              messages per second in all (default 0: as fast as the server takes)
  --size BYTES          length of each message's text (default 100)
  --idle N              also log in N idle connections to a fresh server and report its
                        memory per connection
  --server HOST:PORT    measure a running server instead (start it with --max-rate 0
                        --max-rate-per-address 0 --max-new-ids-per-address 0, and
                        --max-connections-per-address and --max-connections above N)
  --ca FILE             trust this CA certificate for --server (default ./certs/ca.pem)
  --raw                 run the same load against a bare TLS forwarder (no parsing, no
                        storage) in the same run, and report ours as a ratio of it
  --raw-tls node|deno   the forwarder's TLS stack: node (node:tls, the server's own; the
                        default) or deno (Deno.listenTls, cheaper per write but unable to
                        cut a connection that stalls its handshake, so the server cannot
                        use it)
  --flood               each sender writes its messages as fast as its socket takes them,
                        without waiting for acks or deliveries; reports the deliveries
                        expected and arrived, the receivers the server cut (goodbye or a
                        lost connection) and the acks. A cut receiver is not waited for;
                        the run ends when every other one has every message, or when
                        nothing has moved for a while (reported as stalled)
  --store URL           run the server on PostgreSQL (postgres://USER:PASS@HOST/DB), not a
                        temporary SQLite file; the bench writes its ids and messages there
                        and deletes nothing: give it a scratch database
  --cluster N           start N nodes (${MIN_BENCH_NODES} to ${MAX_BENCH_NODES}) on --store and --bus (or ${ENV.store},
                        ${ENV.bus}); receiver i on node i % N, every sender on node 1; adds
                        latency on the senders' node and on the others, CPU and RSS per node
  --bus URL             the NATS of the --cluster (nats://HOST:PORT)
  --json                print one JSON line instead of a table
  -h, --help            show this help

Progress goes to stderr, the report to stdout.
`;

/** The TLS stacks the raw forwarder can run on. */
export type RawTls = "node" | "deno";

export interface BenchArgs {
  clients: number;
  senders: number;
  messages: number;
  /** Messages per second in all; 0 = as fast as the server takes them. */
  rate: number;
  size: number;
  idle: number;
  server?: { host: string; port: number };
  ca?: string;
  raw: boolean;
  rawTls: RawTls;
  /** Senders write as fast as their sockets take, with no window (see BENCH_HELP). */
  flood: boolean;
  json: boolean;
  help: boolean;
  /** Hidden: run the bare TLS forwarder that --raw measures, on `port` with the certs in `certs`. */
  forwarder: boolean;
  port: number;
  certs?: string;
  /** Nodes to start (--cluster N); 1: one server. */
  nodes: number;
  /** A PostgreSQL URL: the store of the server (or of every node) instead of a temporary SQLite. */
  store?: string;
  /** NATS URLs: the bus of a cluster (with nodes > 1). */
  bus?: string[];
}

/** Smallest --size: the send time and a space have to fit in the text. */
export const MIN_BENCH_SIZE = 24;

export function parseBenchArgs(argv: string[], env: Env = processEnv): BenchArgs {
  const v = parse(argv, BENCH_OPTIONS);
  const rate = String(v.rate);
  if (!/^[0-9]{1,9}(\.[0-9]+)?$/.test(rate)) {
    throw new UsageError(`--rate must be a number of messages per second, not "${rate}"`);
  }
  const size = String(v.size);
  if (
    !/^[0-9]{1,5}$/.test(size) || Number(size) < MIN_BENCH_SIZE ||
    Number(size) > MAX_TEXT_LENGTH
  ) {
    throw new UsageError(
      `--size must be a whole number from ${MIN_BENCH_SIZE} to ${MAX_TEXT_LENGTH}, not "${size}"`,
    );
  }
  const idle = String(v.idle);
  if (idle !== "0" && (!/^[0-9]{1,7}$/.test(idle) || Number(idle) > 1_000_000)) {
    throw new UsageError(`--idle must be a whole number from 0 to 1000000, not "${idle}"`);
  }
  const rawTls = String(v["raw-tls"] ?? "node");
  if (rawTls !== "node" && rawTls !== "deno") {
    throw new UsageError(`--raw-tls must be node or deno, not "${rawTls}"`);
  }
  if (v["raw-tls"] !== undefined && !v.raw && !v.forwarder) {
    throw new UsageError("--raw-tls goes with --raw (it picks the raw forwarder's TLS stack)");
  }
  if (v.flood && Number(rate) > 0) {
    throw new UsageError("--flood and --rate do not go together (a flood follows no schedule)");
  }
  if (v.flood && v.raw) {
    // the forwarder bounds nothing it holds: a flood would only measure how much memory it takes
    throw new UsageError("--flood does not go with --raw (the forwarder has no bound to measure)");
  }
  if (v.ca !== undefined && v.server === undefined) {
    throw new UsageError("--ca goes with --server (the bench's own server has its own CA)");
  }
  const engines = parseBenchEngines(v, env);
  return {
    clients: parseCount(String(v.clients), "--clients"),
    senders: parseCount(String(v.senders), "--senders"),
    messages: parseCount(String(v.messages), "--messages"),
    rate: Number(rate),
    size: Number(size),
    idle: Number(idle),
    server: v.server === undefined ? undefined : parseServer(String(v.server)),
    ca: v.ca as string | undefined,
    raw: Boolean(v.raw),
    rawTls,
    flood: Boolean(v.flood),
    json: Boolean(v.json),
    help: Boolean(v.help),
    forwarder: Boolean(v.forwarder),
    port: parsePort(String(v.port), "--port"),
    certs: v.certs as string | undefined,
    ...engines,
  };
}

/**
 * --cluster, --store and --bus. CHAT_STORE and CHAT_BUS are read only with --cluster, as serve
 * reads them: a plain `chat bench` never writes into a database it was not pointed at.
 */
function parseBenchEngines(
  v: Record<string, unknown>,
  env: Env,
): { nodes: number; store?: string; bus?: string[] } {
  if (v.cluster === undefined) {
    if (v.bus !== undefined) {
      throw new UsageError("--bus goes with --cluster N (one server on --store needs no bus)");
    }
    if (v.store !== undefined && v.server !== undefined) {
      throw new UsageError("--store goes with the bench's own server, not --server");
    }
    const { store } = parseEngines(v, () => undefined);
    return { nodes: 1, ...(store === undefined ? {} : { store }) };
  }
  const text = String(v.cluster);
  if (
    !/^[0-9]{1,2}$/.test(text) || Number(text) < MIN_BENCH_NODES ||
    Number(text) > MAX_BENCH_NODES
  ) {
    throw new UsageError(
      `--cluster must be a number of nodes from ${MIN_BENCH_NODES} to ${MAX_BENCH_NODES}, not "${text}"`,
    );
  }
  for (const [flag, what] of [["server", "a running server"], ["raw", "the raw forwarder"]]) {
    if (v[flag]) {
      throw new UsageError(
        `--cluster does not go with --${flag} (it starts its nodes, not ${what})`,
      );
    }
  }
  if (v.idle !== undefined && String(v.idle) !== "0") {
    throw new UsageError(
      "--cluster does not go with --idle (idle memory is measured on one server)",
    );
  }
  const { store, bus } = parseEngines(v, env);
  if (store === undefined || bus === undefined) {
    throw new UsageError(
      `--cluster needs --store postgres://… and --bus nats://… (or ${ENV.store} and ${ENV.bus})`,
    );
  }
  return { nodes: Number(text), store, bus };
}
