/**
 * The options of every subcommand, their defaults and the environment variables that set them,
 * in one module with no dependencies: args.ts parses with these tables, and the launchers
 * (src/launch/) read the same tables to grant each run the permissions it needs, without loading
 * the program.
 */
import type { ParseArgsConfig } from "node:util";
import { join } from "node:path";
import { DEFAULT_PORT } from "../version.ts";
import {
  DEFAULT_MAX_RATE,
  DEFAULT_MAX_ROOMS,
  DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR,
  DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR,
  HANDSHAKE_TIMEOUT_MS,
  HELLO_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  MAX_CONNECTIONS,
  MAX_CONNECTIONS_PER_ADDRESS,
  OUTPUT_BUDGET_BYTES,
} from "../server/limits.ts";

export type OptionTable = NonNullable<ParseArgsConfig["options"]>;

export const MIB = 1024 * 1024;

/** Where `chat serve` listens unless told otherwise: this machine only. */
export const DEFAULT_HOST = "127.0.0.1";
/** History database, relative to the working directory. */
export const DEFAULT_DB = "chat.db";
/** Generated CA and server certificate, relative to the working directory. */
export const DEFAULT_CERTS = "certs";
/** How `chat serve` writes its log lines, and which (the server's own definitions). */
export {
  DEFAULT_LOG_FORMAT,
  DEFAULT_LOG_LEVEL,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
} from "../server/log.ts";
/** Seconds `chat check` waits for the whole exchange. */
export const DEFAULT_CHECK_TIMEOUT_S = 5;

/**
 * Environment variables read by the chat (and so allowed by the launchers). A flag given on the
 * command line wins over its variable.
 */
export const ENV = {
  host: "CHAT_HOST",
  port: "CHAT_PORT",
  db: "CHAT_DB",
  certs: "CHAT_CERTS",
  logFormat: "CHAT_LOG_FORMAT",
  logLevel: "CHAT_LOG_LEVEL",
  password: "CHAT_PASSWORD",
  /** A cluster's store (PostgreSQL URL) and bus (NATS URL): see src/cli/engines.ts. */
  store: "CHAT_STORE",
  bus: "CHAT_BUS",
  /**
   * Set by the launchers (src/launch/): how a person runs chat where this server was started
   * (`chat`, or the `deno task` form of a checkout), for the join command the banner prints.
   */
  command: "CHAT_COMMAND",
} as const;

/**
 * `chat serve`. The options an environment variable may set (host, port, db, certs, log-format)
 * have no parser default: args.ts needs to see whether the flag was given.
 */
export const SERVE_OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  db: { type: "string" },
  store: { type: "string" },
  bus: { type: "string" },
  certs: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "password-file": { type: "string" },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  "max-rate": { type: "string", default: String(DEFAULT_MAX_RATE) },
  "handshake-timeout": { type: "string", default: String(HANDSHAKE_TIMEOUT_MS / 1000) },
  "hello-timeout": { type: "string", default: String(HELLO_TIMEOUT_MS / 1000) },
  "idle-timeout": { type: "string", default: String(IDLE_TIMEOUT_MS / 1000) },
  "max-connections-per-address": { type: "string", default: String(MAX_CONNECTIONS_PER_ADDRESS) },
  "max-rate-per-address": { type: "string" },
  "max-new-ids-per-address": {
    type: "string",
    default: String(DEFAULT_NEW_IDS_PER_ADDRESS_PER_HOUR),
  },
  "max-new-rooms-per-address": {
    type: "string",
    default: String(DEFAULT_NEW_ROOMS_PER_ADDRESS_PER_HOUR),
  },
  "max-rooms": { type: "string", default: String(DEFAULT_MAX_ROOMS) },
  "max-connections": { type: "string", default: String(MAX_CONNECTIONS) },
  "output-budget": { type: "string", default: String(OUTPUT_BUDGET_BYTES / MIB) },
  help: { type: "boolean", short: "h", default: false },
} satisfies OptionTable;

/** `chat admin op|deop|ops`: the server's database, as `chat serve` finds it. */
export const ADMIN_OPTIONS = {
  db: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} satisfies OptionTable;

/** The server `chat join` and `chat check` dial when none is given. */
export const DEFAULT_SERVER = `localhost:${DEFAULT_PORT}`;
/**
 * The most addresses one `--server` may list (the nodes of one server, tried in turn): enough
 * for any cluster, few enough that a round of failed attempts stays short.
 */
export const MAX_SERVERS = 16;

/** How the full-screen client shows messages at first (F3 switches): speech bubbles. */
export const DEFAULT_LAYOUT = "bubbles";
/** `--layout`'s values: speech bubbles, or one line per message as in irssi. */
export const LAYOUTS = ["bubbles", "lines"] as const;

export const JOIN_OPTIONS = {
  name: { type: "string" },
  server: { type: "string", default: DEFAULT_SERVER },
  ca: { type: "string" },
  fingerprint: { type: "string" },
  "password-file": { type: "string" },
  plain: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  "no-bell": { type: "boolean", default: false },
  "no-color": { type: "boolean", default: false },
  layout: { type: "string", default: DEFAULT_LAYOUT },
  room: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} satisfies OptionTable;

/** `chat check`: --server defaults to localhost on CHAT_PORT (see args.ts). */
export const CHECK_OPTIONS = {
  server: { type: "string" },
  ca: { type: "string" },
  fingerprint: { type: "string" },
  timeout: { type: "string", default: String(DEFAULT_CHECK_TIMEOUT_S) },
  help: { type: "boolean", short: "h", default: false },
} satisfies OptionTable;

export const BENCH_OPTIONS = {
  clients: { type: "string", default: "100" },
  senders: { type: "string", default: "1" },
  messages: { type: "string", default: "10000" },
  rate: { type: "string", default: "0" },
  size: { type: "string", default: "100" },
  idle: { type: "string", default: "0" },
  server: { type: "string" },
  ca: { type: "string" },
  raw: { type: "boolean", default: false },
  "raw-tls": { type: "string" },
  flood: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  forwarder: { type: "boolean", default: false },
  port: { type: "string", default: "0" },
  certs: { type: "string" },
  cluster: { type: "string" },
  store: { type: "string" },
  bus: { type: "string" },
} satisfies OptionTable;

/** Nodes `chat bench --cluster N` may start: two at least, and few enough for one machine. */
export const MIN_BENCH_NODES = 2;
export const MAX_BENCH_NODES = 8;

/** Variables that say where a user's state (tokens, pins) lives. */
export const STATE_DIR_ENV = ["XDG_STATE_HOME", "LOCALAPPDATA", "HOME", "USERPROFILE"];

/**
 * The per-user state directory: `$XDG_STATE_HOME/chat`, else `~/.local/state/chat`
 * (`%LOCALAPPDATA%\chat` on Windows); undefined without a home directory.
 */
export function defaultStateDirFrom(
  env: (name: string) => string | undefined,
  windows: boolean,
): string | undefined {
  const xdg = env("XDG_STATE_HOME");
  if (xdg) return join(xdg, "chat");
  const local = windows ? env("LOCALAPPDATA") : undefined;
  if (local) return join(local, "chat");
  const home = env("HOME") || env("USERPROFILE");
  return home ? join(home, ".local", "state", "chat") : undefined;
}

/**
 * The server `chat check` dials when given none: the one started beside it, at its CHAT_HOST (a
 * wildcard address is reached on loopback) and CHAT_PORT. Not "localhost", which may resolve to
 * ::1 first while the server listens on IPv4 only.
 */
export function localServer(env: (name: string) => string | undefined): string {
  const host = env(ENV.host) || DEFAULT_HOST;
  const port = env(ENV.port) || String(DEFAULT_PORT);
  const dial = host === "0.0.0.0" ? "127.0.0.1" : host === "::" || host === "[::]" ? "::1" : host;
  return `${dial.includes(":") && !dial.startsWith("[") ? `[${dial}]` : dial}:${port}`;
}

/** `chat serve` on 127.0.0.1 with a port the system picks, for a run that owns db and certs. */
export function localServeArgv(db: string, certs: string, more: string[] = []): string[] {
  // a node of a cluster keeps everything in its --store instead
  const store = more.includes("--store") ? [] : ["--db", db];
  return ["serve", "--host", "127.0.0.1", "--port", "0", ...store, "--certs", certs, ...more];
}

/**
 * What a load test lifts on the server it starts: every client comes from 127.0.0.1 with a new
 * name, so no rate or per-address limit; thousands of handshakes queue up behind each other, so
 * time rather than a timeout.
 */
export function loadTestServeArgs(connections: number): string[] {
  return [
    "--max-rate",
    "0",
    "--max-rate-per-address",
    "0",
    "--max-new-ids-per-address",
    "0",
    "--max-new-rooms-per-address",
    "0",
    "--max-connections-per-address",
    String(connections),
    "--max-connections",
    String(connections),
    "--handshake-timeout",
    "60",
    "--hello-timeout",
    "60",
  ];
}
