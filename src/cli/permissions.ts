/**
 * The Deno permissions each run of `chat` needs, computed from its command line and environment
 * before the program starts, so the launchers (src/launch/) grant exactly those instead of -A:
 *
 * - `serve`: listen on its --host; read and write its database (and -wal, -shm, -journal) and its
 *   certificate directory, or only read --cert/--key; read --password-file and the program itself
 *   (the search worker is the program started again); its own environment variables; the
 *   machine's name only for a wildcard --host (it goes into the certificate).
 * - `join`: connect to its --server, each address of a list (a name at its port only: one that
 *   stands for several addresses is dialled at Deno's first); read --ca, --password-file and
 *   ./certs/ca.pem; read and write its state directory (tokens, pins); the environment (the
 *   prompt's libraries probe it). Not permissions but passed the same way: V8 heap flags (a small
 *   young generation, an old one that grows little, memory given back soon after a burst), which
 *   keep the client's memory down in a busy room.
 * - `check`: connect to its --server (each address of a list); read --ca, the server's ca.pem and
 *   the pins.
 * - `admin`: read and write its --db (and -wal, -shm, -journal), and the CHAT_DB variable.
 * - `bench`: starts servers (this program again) and measures them through /proc: run of the Deno
 *   executable and of cat (Deno reads /proc only under -A), read, write of the temporary
 *   directory, net on 127.0.0.1 and its --server. With --store/--bus (--cluster) the servers it
 *   starts get serve's grants for those engines; the bench itself never dials them.
 * - anything else (--help, --version, a mistake): nothing.
 *
 * Option names and defaults come from options.ts, as args.ts parses them; a path the program
 * opens that is not granted here fails the end-to-end tests, which run through these flags.
 *
 * @example
 * ```ts
 * const flags = permissionFlags(["serve", "--port", "0"], {
 *   cwd: "/srv/chat", env: (n) => Deno.env.get(n), program: ["/opt/chat/chat.js"],
 *   deno: Deno.execPath(), tmpDir: "/tmp", windows: false,
 * });
 * // ["--no-prompt", "--allow-net=127.0.0.1", "--allow-read=...", ...]
 * ```
 */
import { natsAddresses, POSTGRES_ENV, postgresAddress } from "./engines.ts";
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import {
  ADMIN_OPTIONS,
  BENCH_OPTIONS,
  CHECK_OPTIONS,
  DEFAULT_CERTS,
  DEFAULT_DB,
  DEFAULT_HOST,
  DEFAULT_SERVER,
  defaultStateDirFrom,
  ENV,
  JOIN_OPTIONS,
  localServer,
  type OptionTable,
  SERVE_OPTIONS,
  STATE_DIR_ENV,
} from "./options.ts";
import { DEFAULT_PORT } from "../version.ts";

export interface LaunchContext {
  /** Where the program will run: relative paths on its command line are relative to this. */
  cwd: string;
  env: (name: string) => string | undefined;
  /** What the program reads of itself at run time: the bundle, or the source directory. */
  program: string[];
  /** The Deno executable (`chat bench` starts servers with it). */
  deno: string;
  /** The system's temporary directory (`chat bench` keeps its servers' files there). */
  tmpDir: string;
  windows: boolean;
}

/** Variables `chat serve` reads. */
export const SERVE_ENV = [
  ENV.host,
  ENV.port,
  ENV.db,
  ENV.certs,
  ENV.logFormat,
  ENV.logLevel,
  ENV.password,
  ENV.command,
  ENV.store,
  ENV.bus,
];
/** Variables `chat check` reads: where the server beside it listens, and where pins are kept. */
export const CHECK_ENV = [ENV.host, ENV.port, ENV.certs, ...STATE_DIR_ENV];

/** The deno run flags for `chat ARGV...`; never throws (a bad command line gets few permissions). */
export function permissionFlags(argv: string[], context: LaunchContext): string[] {
  const [command, ...rest] = argv;
  const flags = new Flags(context);
  const row = Object.hasOwn(COMMAND_FLAGS, command) ? COMMAND_FLAGS[command] : undefined;
  row?.flags(flags, options(rest, row.options), context);
  return flags.toArgs();
}

/** Each command's options, and what grants its permissions from them. */
const COMMAND_FLAGS: Record<
  string,
  { options: OptionTable; flags: (flags: Flags, v: Values, context: LaunchContext) => void }
> = {
  serve: { options: SERVE_OPTIONS, flags: serveFlags },
  join: { options: JOIN_OPTIONS, flags: joinFlags },
  check: { options: CHECK_OPTIONS, flags: checkFlags },
  admin: { options: ADMIN_OPTIONS, flags: adminFlags },
  bench: { options: BENCH_OPTIONS, flags: benchFlags },
};

type Values = Record<string, string | boolean | undefined>;

/** The same parse as args.ts, but lenient: mistakes are args.ts's to report. */
function options(argv: string[], table: OptionTable): Values {
  try {
    return parseArgs({ args: argv, options: table, strict: false, allowPositionals: true })
      .values as Values;
  } catch {
    return {};
  }
}

function text(value: string | boolean | undefined): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function serveFlags(flags: Flags, v: Values, context: LaunchContext): void {
  const env = (name: string) => context.env(name) || undefined;
  const host = text(v.host) ?? env(ENV.host) ?? DEFAULT_HOST;
  flags.net(host.includes(":") && !host.startsWith("[") ? `[${host}]` : host);
  if (host === "0.0.0.0" || host === "::" || host === "[::]") flags.sys("hostname");
  const store = postgresAddress(text(v.store) ?? env(ENV.store) ?? "");
  if (store) {
    flags.net(store.net);
    flags.env(...POSTGRES_ENV);
  } else dbFlags(flags, v, context);
  const bus = natsAddresses(text(v.bus) ?? env(ENV.bus) ?? "");
  if (store && typeof bus !== "string") { for (const address of bus.net) flags.net(address); }
  const cert = text(v.cert);
  const key = text(v.key);
  if (cert !== undefined || key !== undefined) {
    if (cert) flags.read(cert);
    if (key) flags.read(key);
  } else {
    flags.readWrite(text(v.certs) ?? env(ENV.certs) ?? DEFAULT_CERTS);
  }
  const passwordFile = text(v["password-file"]);
  if (passwordFile) flags.read(passwordFile);
  for (const path of context.program) flags.read(path);
  flags.env(...SERVE_ENV);
}

/** The server's database: --db, else CHAT_DB, else the default. */
function dbFlags(flags: Flags, v: Values, context: LaunchContext): void {
  const db = text(v.db) ?? (context.env(ENV.db) || undefined) ?? DEFAULT_DB;
  // SQLite's companions: the write-ahead log, its index, and a rollback journal
  for (const file of [db, `${db}-wal`, `${db}-shm`, `${db}-journal`]) flags.readWrite(file);
}

function adminFlags(flags: Flags, v: Values, context: LaunchContext): void {
  dbFlags(flags, v, context);
  flags.env(ENV.db);
}

function joinFlags(flags: Flags, v: Values, context: LaunchContext): void {
  for (const address of servers(text(v.server) ?? DEFAULT_SERVER)) flags.net(address);
  const ca = text(v.ca);
  if (ca) flags.read(ca);
  const passwordFile = text(v["password-file"]);
  if (passwordFile) flags.read(passwordFile);
  flags.read(join(DEFAULT_CERTS, "ca.pem"));
  const state = defaultStateDirFrom(context.env, context.windows);
  if (state) flags.readWrite(state);
  for (const path of context.program) flags.read(path);
  // @inquirer/prompts (asking for a name) reads many variables (CI, TERM, TERM_PROGRAM, CLI_WIDTH,
  // EDITOR, INQUIRER_KEYBINDINGS, …), and node:util's colours NO_COLOR, FORCE_COLOR and their kin
  flags.allEnv();
  // a young generation of 3 MB instead of up to 48: the UI's garbage (a frame, a message's
  // frame and events) is collected young just as well, and the process stays ~50 MB smaller
  // under a flood (docs/BENCHMARKS.md, "Terminal client")
  flags.v8("--max-semi-space-size=1");
  // the old generation grows 15 % past what a full collection leaves, not V8's 1.1–4 times
  // (a client's live data grows slowly: 10,000 kept messages are ~6 MB), and the memory reducer
  // gives back what a burst left 1 s after it instead of 8: 5–10 MB less at peak and when quiet,
  // at no measurable CPU (docs/BENCHMARKS.md, "Terminal client")
  flags.v8("--heap-growing-percent=15");
  flags.v8("--memory-reducer-delay-ms=1000");
}

function checkFlags(flags: Flags, v: Values, context: LaunchContext): void {
  const env = (name: string) => context.env(name) || undefined;
  for (const address of servers(text(v.server) ?? localServer(env))) flags.net(address);
  const ca = text(v.ca);
  if (ca) flags.read(ca);
  flags.read(join(env(ENV.certs) ?? DEFAULT_CERTS, "ca.pem"));
  const state = defaultStateDirFrom(context.env, context.windows);
  if (state) flags.read(state);
  flags.env(...CHECK_ENV);
}

function benchFlags(flags: Flags, v: Values, context: LaunchContext): void {
  flags.net("127.0.0.1");
  const target = text(v.server);
  if (target) flags.net(server(target));
  flags.run(context.deno);
  // Deno reads /proc only under -A: bench/process.ts has cat read it
  flags.run("cat");
  // /proc (memory and CPU of the servers it starts), their files, its --ca, the program
  flags.allRead();
  flags.readWrite(context.tmpDir);
  flags.allEnv();
}

/** Each address of a --server list (a:7777,b:7777), as --allow-net takes it. */
function servers(value: string): string[] {
  return value.split(",").map((entry) => server(entry.trim()));
}

/** HOST:PORT as --allow-net takes it (IPv6 in brackets); a bad one is args.ts's to refuse. */
function server(value: string): string {
  const match = /^\[([0-9a-fA-F:.]+)\](?::([0-9]+))?$/.exec(value) ??
    /^([A-Za-z0-9.-]+)(?::([0-9]+))?$/.exec(value);
  // grants nothing useful; the parse error comes first (Deno itself refuses a port past 65535)
  if (!match || Number(match[2] ?? 0) > 65535) return "0.0.0.0:0";
  const host = match[1].includes(":") ? `[${match[1]}]` : match[1];
  return `${host}:${match[2] ?? DEFAULT_PORT}`;
}

/** Collects grants, resolving paths against the program's working directory. */
class Flags {
  #net = new Set<string>();
  #read = new Set<string>();
  #write = new Set<string>();
  #env = new Set<string>();
  #sys = new Set<string>();
  #run = new Set<string>();
  #allRead = false;
  #allEnv = false;
  #v8 = new Set<string>();

  constructor(readonly context: LaunchContext) {}

  #path(path: string): string {
    return resolve(this.context.cwd, path);
  }

  net(host: string): void {
    this.#net.add(host);
  }
  read(path: string): void {
    this.#read.add(this.#path(path));
  }
  readWrite(path: string): void {
    this.read(path);
    this.#write.add(this.#path(path));
  }
  allRead(): void {
    this.#allRead = true;
  }
  env(...names: string[]): void {
    for (const name of names) this.#env.add(name);
  }
  allEnv(): void {
    this.#allEnv = true;
  }
  sys(name: string): void {
    this.#sys.add(name);
  }
  run(program: string): void {
    this.#run.add(program);
  }
  /** A V8 flag (heap settings), not a permission. */
  v8(flag: string): void {
    this.#v8.add(flag);
  }

  toArgs(): string[] {
    // a permission missing here must fail, not ask whoever sits at the terminal
    const args = ["--no-prompt"];
    const list = (flag: string, values: Set<string>) => {
      // a comma inside a path would split it: such a path is left ungranted (and fails loudly)
      const usable = [...values].filter((v) => !v.includes(","));
      if (usable.length > 0) args.push(`${flag}=${usable.join(",")}`);
    };
    list("--allow-net", this.#net);
    if (this.#allRead) args.push("--allow-read");
    else list("--allow-read", this.#read);
    list("--allow-write", this.#write);
    if (this.#allEnv) args.push("--allow-env");
    else list("--allow-env", this.#env);
    list("--allow-sys", this.#sys);
    list("--allow-run", this.#run);
    list("--v8-flags", this.#v8);
    return args;
  }
}
