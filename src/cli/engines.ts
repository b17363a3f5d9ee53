/**
 * `chat serve --store postgres://… --bus nats://…`: the addresses of the two engines a cluster
 * runs on, checked once here for args.ts (a clear sentence) and permissions.ts (what to grant).
 */

/** PostgreSQL's and NATS's own default ports. */
export const POSTGRES_DEFAULT_PORT = 5432;
export const NATS_DEFAULT_PORT = 4222;
/** NATS servers a --bus may name. */
export const MAX_BUS_SERVERS = 16;

/**
 * Environment variables the PostgreSQL client (postgres.js 3, parseOptions) reads for whatever
 * the URL leaves out: under narrowed permissions, reading one not granted would throw, so every
 * name it may read is granted (PGPASSWORD keeps a password out of the command line).
 */
export const POSTGRES_ENV = [
  "PGHOST",
  "PGPORT",
  "PGDATABASE",
  "PGUSER",
  "PGUSERNAME",
  "PGPASSWORD",
  "PGAPPNAME",
  "PGTARGETSESSIONATTRS",
  // one per option it takes: "PG" + the option's name in capitals
  ...[
    "max",
    "ssl",
    "sslnegotiation",
    "idle_timeout",
    "connect_timeout",
    "max_lifetime",
    "max_pipeline",
    "backoff",
    "keep_alive",
    "prepare",
    "debug",
    "fetch_types",
    "publications",
    "target_session_attrs",
  ].map((option) => `PG${option.toUpperCase()}`),
  // the user name when neither the URL nor PGUSER gives one
  "USERNAME",
  "USER",
  "LOGNAME",
];

/** A --store value: a PostgreSQL URL, and the host:port it dials; or null when it is not one. */
export function postgresAddress(value: string): { url: string; net: string } | null {
  if (!/^postgres(ql)?:\/\//.test(value)) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.hostname === "") return null;
  return { url: value, net: `${url.hostname}:${url.port || POSTGRES_DEFAULT_PORT}` };
}

/** A --bus value: NATS URLs (comma-separated), and the host:port of each; or a reason it is not. */
export function natsAddresses(value: string): { servers: string[]; net: string[] } | string {
  const entries = value.split(",").map((entry) => entry.trim());
  if (entries.some((entry) => entry === "")) return "has an empty entry";
  if (entries.length > MAX_BUS_SERVERS) return `names more than ${MAX_BUS_SERVERS} servers`;
  const net: string[] = [];
  for (const entry of entries) {
    let url: URL;
    try {
      url = new URL(entry.includes("://") ? entry : `nats://${entry}`);
    } catch {
      return `has "${entry}", which is not nats://HOST:PORT`;
    }
    if (url.protocol !== "nats:" || url.hostname === "") {
      return `has "${entry}", which is not nats://HOST:PORT`;
    }
    net.push(`${url.hostname}:${url.port || NATS_DEFAULT_PORT}`);
  }
  return { servers: entries, net };
}

/** A URL fit for a log line or an error: its password (if any) hidden. */
export function redacted(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return value.replace(/:[^:@/]*@/, ":***@");
  }
}
