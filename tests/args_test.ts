// Unit tests for src/cli/args.ts: argv → the options of chat serve, chat join and chat bench,
// or a UsageError whose message is one readable sentence naming the option and the bad value.
//
// Run: deno test -A tests/args_test.ts

import assert from "node:assert/strict";
import {
  ADMIN_HELP,
  MIN_BENCH_SIZE,
  parseAdminArgs,
  parseBenchArgs,
  parseCheckArgs,
  parseJoinArgs,
  parseServeArgs,
  parseServer,
  SERVE_HELP,
  UsageError,
} from "../src/cli/args.ts";
import { MAX_TEXT_LENGTH } from "../src/protocol/schema.ts";
import { DEFAULT_PORT } from "../src/version.ts";
import { MAX_BENCH_NODES, MAX_SERVERS, MIN_BENCH_NODES } from "../src/cli/options.ts";

/** Runs `fn`, insists it throws a UsageError, checks the message reads as one sentence, returns it. */
function usageError(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof UsageError,
    `expected a UsageError, got ${caught === undefined ? "no error" : String(caught)}`,
  );
  const message = caught.message;
  assert.ok(message.length > 0, "the message is empty");
  assert.doesNotMatch(message, /\n/, `more than one line: ${JSON.stringify(message)}`);
  assert.ok(!message.endsWith("."), `ends in a full stop: ${JSON.stringify(message)}`);
  assert.doesNotMatch(message, /To specify|ERR_/, `names internals: ${JSON.stringify(message)}`);
  assert.ok(message.length <= 160, `too long for one sentence: ${JSON.stringify(message)}`);
  return message;
}

/** The message must name `option` and, when given, quote the bad `value`. */
function assertRefused(fn: () => unknown, option: string, value?: string): string {
  const message = usageError(fn);
  assert.ok(message.includes(option), `${JSON.stringify(message)} does not name ${option}`);
  if (value !== undefined) {
    assert.ok(
      message.includes(`"${value}"`),
      `${JSON.stringify(message)} does not quote the value "${value}"`,
    );
  }
  return message;
}

const serve = (...argv: string[]) => () => parseServeArgs(argv);
const join = (...argv: string[]) => () => parseJoinArgs(argv);
const bench = (...argv: string[]) => () => parseBenchArgs(argv);

// ---- chat serve ---------------------------------------------------------------------------------

Deno.test("serve: defaults", () => {
  assert.deepEqual(parseServeArgs([]), {
    host: "127.0.0.1",
    port: DEFAULT_PORT,
    db: "chat.db",
    certs: "certs",
    cert: undefined,
    key: undefined,
    passwordFile: undefined,
    maxRate: 10,
    handshakeTimeoutMs: 10_000,
    helloTimeoutMs: 10_000,
    idleTimeoutMs: 45_000,
    maxConnectionsPerAddress: 128,
    maxRatePerAddress: undefined,
    newIdsPerAddressPerHour: 60,
    newRoomsPerAddressPerHour: 30,
    maxRooms: 10_000,
    maxConnections: 20_000,
    outputBudgetBytes: 32 * 1024 * 1024,
    logFormat: "text",
    logLevel: "info",
    help: false,
  });
});

/** An environment holding `vars`. */
const env = (vars: Record<string, string>) => (name: string) => vars[name] || undefined;

Deno.test("serve: CHAT_HOST, CHAT_PORT, CHAT_DB, CHAT_CERTS, CHAT_LOG_FORMAT set defaults; flags win", () => {
  const vars = {
    CHAT_HOST: "0.0.0.0",
    CHAT_PORT: "7000",
    CHAT_DB: "/var/lib/chat/chat.db",
    CHAT_CERTS: "/var/lib/chat/certs",
    CHAT_LOG_FORMAT: "json",
  };
  const fromEnv = parseServeArgs([], env(vars));
  assert.equal(fromEnv.host, "0.0.0.0");
  assert.equal(fromEnv.port, 7000);
  assert.equal(fromEnv.db, "/var/lib/chat/chat.db");
  assert.equal(fromEnv.certs, "/var/lib/chat/certs");
  assert.equal(fromEnv.logFormat, "json");
  const flags = parseServeArgs(
    ["--host", "::1", "--port", "0", "--db", "a.db", "--certs", "c", "--log-format", "text"],
    env(vars),
  );
  assert.deepEqual(
    [flags.host, flags.port, flags.db, flags.certs, flags.logFormat],
    ["::1", 0, "a.db", "c", "text"],
  );
  // an empty variable is no setting
  assert.equal(parseServeArgs([], env({ CHAT_PORT: "" })).port, DEFAULT_PORT);
  // a bad value names the variable it came from, or the flag
  assertRefused(() => parseServeArgs([], env({ CHAT_PORT: "http" })), "CHAT_PORT", "http");
  assertRefused(
    () => parseServeArgs([], env({ CHAT_LOG_FORMAT: "xml" })),
    "CHAT_LOG_FORMAT",
    "xml",
  );
  assertRefused(serve("--log-format", "yaml"), "--log-format", "yaml");
  assert.equal(parseServeArgs(["--port", "1"], env({ CHAT_PORT: "http" })).port, 1);
});

Deno.test("serve --help names every variable it reads", () => {
  for (const name of ["CHAT_HOST", "CHAT_PORT", "CHAT_DB", "CHAT_CERTS", "CHAT_LOG_FORMAT"]) {
    assert.match(SERVE_HELP, new RegExp(name));
  }
});

Deno.test("check: defaults follow the server's environment; errors", () => {
  const plain = parseCheckArgs([], env({}));
  assert.deepEqual(
    [plain.host, plain.port, plain.localCa, plain.timeoutMs],
    ["127.0.0.1", DEFAULT_PORT, "certs/ca.pem", 5_000],
  );
  const beside = parseCheckArgs([], env({ CHAT_PORT: "7100", CHAT_CERTS: "/srv/certs" }));
  assert.deepEqual([beside.port, beside.localCa], [7100, "/srv/certs/ca.pem"]);
  // a wildcard is dialled on loopback, a given address as it is
  const hosts = [["0.0.0.0", "127.0.0.1"], ["::", "::1"], ["10.1.2.3", "10.1.2.3"], ["::1", "::1"]];
  for (const [host, dialled] of hosts) {
    assert.equal(parseCheckArgs([], env({ CHAT_HOST: host })).host, dialled, host);
  }
  assertRefused(() => parseCheckArgs([], env({ CHAT_PORT: "x" })), "CHAT_PORT", "x");
  const given = parseCheckArgs(
    ["--server", "[::1]:9", "--ca", "ca.pem", "--timeout", "0.5"],
    env({ CHAT_PORT: "7100" }),
  );
  assert.deepEqual([given.host, given.port, given.ca, given.timeoutMs], ["::1", 9, "ca.pem", 500]);
  assertRefused(() => parseCheckArgs(["--timeout", "soon"]), "--timeout", "soon");
  assertRefused(() => parseCheckArgs(["--server", "a:b:c"]), "--server", "a:b:c");
  usageError(() => parseCheckArgs(["--ca", "x", "--fingerprint", "y"]));
});

Deno.test("serve: the per-address and server-wide limits", () => {
  const args = parseServeArgs([
    "--max-rate-per-address",
    "2.5",
    "--max-new-ids-per-address",
    "0",
    "--max-connections",
    "7",
    "--output-budget",
    "4",
  ]);
  assert.equal(args.maxRatePerAddress, 2.5);
  assert.equal(args.newIdsPerAddressPerHour, 0, "0 turns it off");
  assert.equal(args.maxConnections, 7);
  assert.equal(args.outputBudgetBytes, 4 * 1024 * 1024);
  assert.equal(
    usageError(() => parseServeArgs(["--max-rate-per-address", "fast"])),
    '--max-rate-per-address must be a number of messages per second, not "fast"',
  );
  assert.equal(
    usageError(() => parseServeArgs(["--max-new-ids-per-address", "1e3"])),
    '--max-new-ids-per-address must be a whole number from 0 (no limit) to 1000000, not "1e3"',
  );
  assert.equal(
    usageError(() => parseServeArgs(["--max-connections", "0"])),
    '--max-connections must be a whole number from 1 to 1000000, not "0"',
  );
  assert.equal(
    usageError(() => parseServeArgs(["--output-budget", "0"])),
    '--output-budget must be a whole number from 1 to 1000000, not "0"',
  );
});

Deno.test("serve: every option is read", () => {
  const args = parseServeArgs([
    "--host",
    "0.0.0.0",
    "--port",
    "9000",
    "--db",
    "x.db",
    "--certs",
    "c",
    "--cert",
    "a.pem",
    "--key",
    "a.key",
    "--password-file",
    "pw",
    "-h",
  ]);
  assert.equal(args.host, "0.0.0.0");
  assert.equal(args.port, 9000);
  assert.equal(args.db, "x.db");
  assert.equal(args.certs, "c");
  assert.equal(args.cert, "a.pem");
  assert.equal(args.key, "a.key");
  assert.equal(args.passwordFile, "pw");
  assert.equal(args.help, true);
  assert.equal(parseServeArgs(["--help"]).help, true);
});

Deno.test("serve: --port accepts 0 and 65535 and the numbers between", () => {
  assert.equal(parseServeArgs(["--port", "0"]).port, 0);
  assert.equal(parseServeArgs(["--port", "65535"]).port, 65535);
  assert.equal(parseServeArgs(["--port", "1"]).port, 1);
  assert.equal(parseServeArgs(["--port=8080"]).port, 8080);
  assert.equal(parseServeArgs(["--port", "00080"]).port, 80);
});

Deno.test("serve: --port refuses what is not a port number", () => {
  assert.equal(
    usageError(serve("--port", "70000")),
    '--port must be a port number from 0 to 65535, not "70000"',
  );
  for (const bad of ["65536", "99999", "123456", "abc", "-1", "1.5", "", " 80", "0x50", "1e3"]) {
    assertRefused(serve(`--port=${bad}`), "--port", bad);
  }
});

Deno.test("serve: --port -1 (a dash value without =) is refused and names --port", () => {
  const message = assertRefused(serve("--port", "-1"), "--port");
  assert.match(message, /ambiguous/);
});

Deno.test("serve: the timeouts take seconds and become milliseconds", () => {
  for (
    const [option, field] of [
      ["--handshake-timeout", "handshakeTimeoutMs"],
      ["--hello-timeout", "helloTimeoutMs"],
      ["--idle-timeout", "idleTimeoutMs"],
    ] as const
  ) {
    assert.equal(parseServeArgs([option, "86400"])[field], 86_400_000, `${option} 86400`);
    assert.equal(parseServeArgs([option, "0.001"])[field], 1, `${option} 0.001`);
    assert.equal(parseServeArgs([option, "0.5"])[field], 500, `${option} 0.5`);
    assert.equal(parseServeArgs([option, "1.25"])[field], 1250, `${option} 1.25`);
    assert.equal(parseServeArgs([option, "1"])[field], 1000, `${option} 1`);
    assert.equal(parseServeArgs([option, "86399.999"])[field], 86_399_999, `${option} 86399.999`);
  }
});

Deno.test("serve: the timeouts refuse 0, more than a day and what is not a plain number", () => {
  assert.equal(
    usageError(serve("--idle-timeout", "0")),
    '--idle-timeout must be a number of seconds from 0.001 to 86400, not "0"',
  );
  assert.equal(
    usageError(serve("--idle-timeout", "86401")),
    '--idle-timeout must be a number of seconds from 0.001 to 86400, not "86401"',
  );
  assert.equal(
    usageError(serve("--handshake-timeout", "x")),
    '--handshake-timeout must be a number of seconds from 0.001 to 86400, not "x"',
  );
  assert.equal(
    usageError(serve("--hello-timeout", "1e3")),
    '--hello-timeout must be a number of seconds from 0.001 to 86400, not "1e3"',
  );
  // under a millisecond would round to no time at all
  assert.equal(
    usageError(serve("--idle-timeout", "0.0001")),
    '--idle-timeout must be a number of seconds from 0.001 to 86400, not "0.0001"',
  );
  assert.equal(parseServeArgs(["--idle-timeout", "0.001"]).idleTimeoutMs, 1);
  const bads = [
    "0",
    "0.0",
    "000",
    "86400.5",
    "86401",
    "100000",
    "x",
    "1e3",
    "-5",
    ".5",
    "1.",
    "Infinity",
    "NaN",
    "",
    "1,5",
    " 5",
  ];
  for (const option of ["--handshake-timeout", "--hello-timeout", "--idle-timeout"]) {
    for (const bad of bads) assertRefused(serve(`${option}=${bad}`), option, bad);
  }
});

Deno.test("serve: --max-connections-per-address takes 1 to 1000000", () => {
  const option = "--max-connections-per-address";
  assert.equal(parseServeArgs([option, "1"]).maxConnectionsPerAddress, 1);
  assert.equal(parseServeArgs([option, "1000000"]).maxConnectionsPerAddress, 1_000_000);
  assert.equal(parseServeArgs([option, "0000007"]).maxConnectionsPerAddress, 7);
  assert.equal(
    usageError(serve(option, "0")),
    '--max-connections-per-address must be a whole number from 1 to 1000000, not "0"',
  );
  for (const bad of ["0", "1000001", "9999999", "10000000", "1.5", "x", "-1", "", "1e3"]) {
    assertRefused(serve(`${option}=${bad}`), option, bad);
  }
});

Deno.test("serve: --max-rate takes 0 (no limit) and positive numbers", () => {
  assert.equal(parseServeArgs(["--max-rate", "0"]).maxRate, 0);
  assert.equal(parseServeArgs(["--max-rate", "2.5"]).maxRate, 2.5);
  assert.equal(parseServeArgs(["--max-rate", "100"]).maxRate, 100);
});

Deno.test("serve: --max-rate refuses negatives and what is not a number", () => {
  assert.equal(
    usageError(serve("--max-rate=-1")),
    '--max-rate must be a number of messages per second, not "-1"',
  );
  assert.equal(
    usageError(serve("--max-rate", "fast")),
    '--max-rate must be a number of messages per second, not "fast"',
  );
  for (const bad of ["-1", "fast", "1e3", "", ".5", "1.", "Infinity", "NaN"]) {
    assertRefused(serve(`--max-rate=${bad}`), "--max-rate", bad);
  }
  assertRefused(serve("--max-rate", "-1"), "--max-rate");
});

Deno.test("serve: --cert and --key go together", () => {
  assert.equal(usageError(serve("--cert", "a.pem")), "--cert and --key go together");
  assert.equal(usageError(serve("--key", "a.key")), "--cert and --key go together");
});

Deno.test("serve: unknown options, positionals, missing values and valued flags are refused", () => {
  assertRefused(serve("--bogus"), "--bogus");
  assertRefused(serve("-x"), "-x");
  assertRefused(serve("--name", "tom"), "--name");
  assertRefused(serve("stray"), "stray");
  assertRefused(serve("--port"), "--port");
  assertRefused(serve("--idle-timeout"), "--idle-timeout");
  assertRefused(serve("--help=yes"), "--help");
});

// ---- chat join ----------------------------------------------------------------------------------

Deno.test("join: defaults", () => {
  const args = parseJoinArgs([]);
  assert.equal(args.name, undefined);
  assert.equal(args.host, "localhost");
  assert.equal(args.port, DEFAULT_PORT);
  assert.equal(args.ca, undefined);
  assert.equal(args.fingerprint, undefined);
  assert.equal(args.passwordFile, undefined);
  assert.equal(args.mode, "interactive");
  assert.equal(args.bell, true);
  assert.equal(args.color, !Deno.env.get("NO_COLOR"));
  assert.equal(args.help, false);
});

Deno.test("join: every option is read", () => {
  const args = parseJoinArgs([
    "--name",
    "tom",
    "--server",
    "chat.example.com:443",
    "--ca",
    "ca.pem",
    "--fingerprint",
    "SHA256:abc",
    "--password-file",
    "pw",
    "--plain",
    "--no-bell",
    "--no-color",
    "-h",
  ]);
  assert.equal(args.name, "tom");
  assert.equal(args.host, "chat.example.com");
  assert.equal(args.port, 443);
  assert.equal(args.ca, "ca.pem");
  assert.equal(args.fingerprint, "SHA256:abc");
  assert.equal(args.passwordFile, "pw");
  assert.equal(args.mode, "plain");
  assert.equal(args.bell, false);
  assert.equal(args.color, false);
  assert.equal(args.help, true);
  assert.equal(parseJoinArgs(["--json"]).mode, "json");
});

Deno.test("join: --room picks where input goes, in its one spelling; a bad name is a usage error", () => {
  assert.equal(parseJoinArgs([]).room, undefined);
  assert.equal(parseJoinArgs(["--room", "#Builds"]).room, "#builds");
  // unquoted, a shell takes #builds for a comment: the # may be left out
  assert.equal(parseJoinArgs(["--room", "builds"]).room, "#builds");
  assert.equal(
    usageError(join("--room", "build!")),
    `--room "build!" is not allowed: a room name is '#' and 1 to 32 of a-z, 0-9, '-' and '_'`,
  );
  assert.match(usageError(join("--room", `#${"x".repeat(33)}`)), /1 to 32/);
});

Deno.test("serve: --max-rooms and --max-new-rooms-per-address (0 = no limit)", () => {
  const args = parseServeArgs(["--max-rooms", "3", "--max-new-rooms-per-address", "0"]);
  assert.deepEqual([args.maxRooms, args.newRoomsPerAddressPerHour], [3, 0]);
  assert.match(usageError(serve("--max-rooms", "0")), /--max-rooms/);
});

Deno.test("join: --plain and --json exclude each other", () => {
  assert.equal(usageError(join("--plain", "--json")), "choose one of --plain and --json");
});

Deno.test("join: --name accepts 1 to 24 allowed characters", () => {
  assert.equal(parseJoinArgs(["--name", "a"]).name, "a");
  assert.equal(parseJoinArgs(["--name", "x".repeat(24)]).name, "x".repeat(24));
  assert.equal(parseJoinArgs(["--name", "A.b_c-9"]).name, "A.b_c-9");
});

Deno.test("join: --name refuses what is not a name, quoting it", () => {
  for (const bad of ["", "x".repeat(25), "has space", "tom!", "émile", "bob_1234"]) {
    const message = assertRefused(join("--name", bad), "--name", bad);
    assert.match(message, /is not allowed: /);
  }
  assert.match(usageError(join("--name", "bob_1234")), /4 to 8 digits/);
});

Deno.test("join: --server accepts HOST, HOST:PORT and [v6]:PORT", () => {
  const server = (text: string) => {
    const { host, port } = parseJoinArgs(["--server", text]);
    return { host, port };
  };
  assert.deepEqual(server("example.com"), { host: "example.com", port: DEFAULT_PORT });
  assert.deepEqual(server("h:1"), { host: "h", port: 1 });
  assert.deepEqual(server("h:65535"), { host: "h", port: 65535 });
  assert.deepEqual(server("10.0.0.1:8080"), { host: "10.0.0.1", port: 8080 });
  assert.deepEqual(server("[::1]:8080"), { host: "::1", port: 8080 });
  assert.deepEqual(server("[::1]"), { host: "::1", port: DEFAULT_PORT });
});

Deno.test("join: --server refuses a bad shape, an out-of-range port and port 0", () => {
  assert.equal(usageError(join("--server", "h:0")), "--server needs a real port, not 0");
  assert.equal(
    usageError(join("--server", "h:65536")),
    '--server must be a port number from 0 to 65535, not "65536"',
  );
  assert.equal(
    usageError(join("--server", "a b")),
    '--server must look like HOST:PORT, not "a b"',
  );
  for (const bad of ["", "h:", "h:abc", "h:-1", "h:1:2", "user@h", "[::1", "[zz]:80", "h/x"]) {
    assertRefused(join(`--server=${bad}`), "--server", bad);
  }
  assertRefused(join("--server", "h:70000"), "--server", "70000");
  assertRefused(join("--server", "[::1]:70000"), "--server", "70000");
  assertRefused(join("--server", "h:1234567"), "--server", "1234567");
});

Deno.test("parseServer: splits and defaults like --server", () => {
  assert.deepEqual(parseServer("h"), { host: "h", port: DEFAULT_PORT });
  assert.deepEqual(parseServer("h:65535"), { host: "h", port: 65535 });
  assert.deepEqual(parseServer("[fe80::1]:1"), { host: "fe80::1", port: 1 });
  assert.equal(usageError(() => parseServer("h:0")), "--server needs a real port, not 0");
  assert.equal(usageError(() => parseServer("[::1]:0")), "--server needs a real port, not 0");
});

Deno.test("join: unknown options and positionals are refused", () => {
  assertRefused(join("--bogus"), "--bogus");
  assertRefused(join("--port", "1"), "--port");
  assertRefused(join("tom"), "tom");
  assertRefused(join("--name"), "--name");
  assertRefused(join("--plain=yes"), "--plain");
});

// ---- chat bench ---------------------------------------------------------------------------------

Deno.test("bench: defaults", () => {
  assert.deepEqual(parseBenchArgs([]), {
    clients: 100,
    senders: 1,
    messages: 10000,
    rate: 0,
    size: 100,
    idle: 0,
    server: undefined,
    ca: undefined,
    raw: false,
    rawTls: "node",
    flood: false,
    json: false,
    help: false,
    forwarder: false,
    port: 0,
    certs: undefined,
    nodes: 1,
  });
});

Deno.test("bench: --clients, --senders and --messages take 1 to 1000000", () => {
  for (
    const [option, field] of [
      ["--clients", "clients"],
      ["--senders", "senders"],
      ["--messages", "messages"],
    ] as const
  ) {
    assert.equal(parseBenchArgs([option, "1"])[field], 1, `${option} 1`);
    assert.equal(parseBenchArgs([option, "1000000"])[field], 1_000_000, `${option} 1000000`);
    assert.equal(parseBenchArgs([option, "42"])[field], 42, `${option} 42`);
  }
});

Deno.test("bench: --clients, --senders and --messages refuse 0, too many and non-integers", () => {
  assert.equal(
    usageError(bench("--clients", "0")),
    '--clients must be a whole number from 1 to 1000000, not "0"',
  );
  assert.equal(
    usageError(bench("--clients", "1000001")),
    '--clients must be a whole number from 1 to 1000000, not "1000001"',
  );
  for (const option of ["--clients", "--senders", "--messages"]) {
    for (const bad of ["0", "1000001", "10000000", "1.5", "x", "-1", "", "1e3"]) {
      assertRefused(bench(`${option}=${bad}`), option, bad);
    }
  }
});

Deno.test("bench: --size takes MIN_BENCH_SIZE to MAX_TEXT_LENGTH", () => {
  assert.equal(MIN_BENCH_SIZE, 24);
  assert.equal(parseBenchArgs(["--size", String(MIN_BENCH_SIZE)]).size, MIN_BENCH_SIZE);
  assert.equal(parseBenchArgs(["--size", String(MAX_TEXT_LENGTH)]).size, MAX_TEXT_LENGTH);
  assert.equal(parseBenchArgs(["--size", "1000"]).size, 1000);
});

Deno.test("bench: --size refuses below MIN_BENCH_SIZE, above MAX_TEXT_LENGTH and non-integers", () => {
  const below = String(MIN_BENCH_SIZE - 1);
  const above = String(MAX_TEXT_LENGTH + 1);
  assert.equal(
    usageError(bench("--size", below)),
    `--size must be a whole number from ${MIN_BENCH_SIZE} to ${MAX_TEXT_LENGTH}, not "${below}"`,
  );
  assert.equal(
    usageError(bench("--size", above)),
    `--size must be a whole number from ${MIN_BENCH_SIZE} to ${MAX_TEXT_LENGTH}, not "${above}"`,
  );
  for (const bad of [below, above, "0", "100000", "100.5", "x", "-100", "", "1e2"]) {
    assertRefused(bench(`--size=${bad}`), "--size", bad);
  }
});

Deno.test("bench: --rate takes 0 and positive numbers", () => {
  assert.equal(parseBenchArgs(["--rate", "0"]).rate, 0);
  assert.equal(parseBenchArgs(["--rate", "0.5"]).rate, 0.5);
  assert.equal(parseBenchArgs(["--rate", "999999999"]).rate, 999_999_999);
});

Deno.test("bench: --rate refuses what is not a plain number", () => {
  assert.equal(
    usageError(bench("--rate", "fast")),
    '--rate must be a number of messages per second, not "fast"',
  );
  for (const bad of ["fast", "-1", "1e3", "", ".5", "1.", "1000000000", "Infinity"]) {
    assertRefused(bench(`--rate=${bad}`), "--rate", bad);
  }
});

Deno.test("bench: --idle takes 0 to 1000000", () => {
  assert.equal(parseBenchArgs(["--idle", "0"]).idle, 0);
  assert.equal(parseBenchArgs(["--idle", "1"]).idle, 1);
  assert.equal(parseBenchArgs(["--idle", "1000000"]).idle, 1_000_000);
});

Deno.test("bench: --idle refuses too many and what is not a whole number", () => {
  assert.equal(
    usageError(bench("--idle", "1000001")),
    '--idle must be a whole number from 0 to 1000000, not "1000001"',
  );
  for (const bad of ["1000001", "10000000", "1.5", "x", "-1", "", "1e3"]) {
    assertRefused(bench(`--idle=${bad}`), "--idle", bad);
  }
});

Deno.test("bench: --raw-tls picks node or deno, and only with --raw", () => {
  assert.equal(parseBenchArgs(["--raw"]).rawTls, "node");
  assert.equal(parseBenchArgs(["--raw"]).raw, true);
  assert.equal(parseBenchArgs(["--raw", "--raw-tls", "deno"]).rawTls, "deno");
  assert.equal(parseBenchArgs(["--raw", "--raw-tls", "node"]).rawTls, "node");
  assert.equal(parseBenchArgs(["--forwarder", "--raw-tls", "deno"]).rawTls, "deno");
  assert.equal(
    usageError(bench("--raw", "--raw-tls", "openssl")),
    '--raw-tls must be node or deno, not "openssl"',
  );
  assertRefused(bench("--raw", "--raw-tls="), "--raw-tls", "");
  assertRefused(bench("--raw", "--raw-tls", "Deno"), "--raw-tls", "Deno");
  assert.equal(
    usageError(bench("--raw-tls", "deno")),
    "--raw-tls goes with --raw (it picks the raw forwarder's TLS stack)",
  );
  assertRefused(bench("--raw-tls", "node"), "--raw");
});

Deno.test("bench: --flood goes with neither --rate nor --raw", () => {
  assert.equal(parseBenchArgs(["--flood"]).flood, true);
  assert.equal(parseBenchArgs(["--flood", "--rate", "0"]).flood, true);
  assert.equal(parseBenchArgs(["--flood", "--idle", "5", "--server", "h:1"]).flood, true);
  assert.equal(
    usageError(bench("--flood", "--rate", "100")),
    "--flood and --rate do not go together (a flood follows no schedule)",
  );
  assert.equal(
    usageError(bench("--flood", "--raw")),
    "--flood does not go with --raw (the forwarder has no bound to measure)",
  );
  assertRefused(bench("--flood=yes"), "--flood");
});

Deno.test("bench: --ca goes with --server", () => {
  assert.equal(
    usageError(bench("--ca", "ca.pem")),
    "--ca goes with --server (the bench's own server has its own CA)",
  );
  const args = parseBenchArgs(["--server", "h:9000", "--ca", "ca.pem"]);
  assert.deepEqual(args.server, { host: "h", port: 9000 });
  assert.equal(args.ca, "ca.pem");
});

Deno.test("bench: --server and --port are checked like elsewhere", () => {
  assert.equal(usageError(bench("--server", "h:0")), "--server needs a real port, not 0");
  assertRefused(bench("--server", "h:70000"), "--server", "70000");
  assertRefused(bench("--server", "a b"), "--server", "a b");
  assert.equal(parseBenchArgs(["--port", "65535"]).port, 65535);
  assert.equal(parseBenchArgs(["--port", "0"]).port, 0);
  assert.equal(
    usageError(bench("--port", "70000")),
    '--port must be a port number from 0 to 65535, not "70000"',
  );
  assertRefused(bench("--port=abc"), "--port", "abc");
});

const PG = "postgres://chat:pw@db:5433/scratch";
const NATS = "nats://n1:4222";

Deno.test("bench: --cluster N takes 2 to 8 nodes on --store and --bus", () => {
  const args = parseBenchArgs(["--cluster", "3", "--store", PG, "--bus", `${NATS},n2`]);
  assert.equal(args.nodes, 3);
  assert.equal(args.store, PG);
  assert.deepEqual(args.bus, [NATS, "n2"]);
  assert.equal(
    parseBenchArgs(["--cluster", String(MIN_BENCH_NODES), "--store", PG, "--bus", NATS]).nodes,
    2,
  );
  assert.equal(
    parseBenchArgs(["--cluster", String(MAX_BENCH_NODES), "--store", PG, "--bus", NATS]).nodes,
    8,
  );
  for (const bad of ["0", "1", "9", "2.5", "two", "", "-3"]) {
    assertRefused(bench(`--cluster=${bad}`, "--store", PG, "--bus", NATS), "--cluster", bad);
  }
});

Deno.test("bench: --cluster reads CHAT_STORE and CHAT_BUS as serve does; flags win", () => {
  const vars = env({ CHAT_STORE: PG, CHAT_BUS: NATS });
  const args = parseBenchArgs(["--cluster", "2"], vars);
  assert.equal(args.store, PG);
  assert.deepEqual(args.bus, [NATS]);
  const flags = parseBenchArgs(["--cluster", "2", "--bus", "nats://other:1"], vars);
  assert.deepEqual(flags.bus, ["nats://other:1"]);
  // without --cluster the variables are not read: a plain bench never writes into that store
  const plain = parseBenchArgs([], vars);
  assert.equal(plain.store, undefined);
  assert.equal(plain.bus, undefined);
  assert.equal(plain.nodes, 1);
});

Deno.test("bench: --cluster needs both engines, and neither --server, --raw nor --idle", () => {
  const needs =
    "--cluster needs --store postgres://… and --bus nats://… (or CHAT_STORE and CHAT_BUS)";
  assert.equal(usageError(() => parseBenchArgs(["--cluster", "2"], env({}))), needs);
  assert.equal(usageError(() => parseBenchArgs(["--cluster", "2", "--store", PG], env({}))), needs);
  assert.match(
    usageError(() => parseBenchArgs(["--cluster", "2", "--bus", NATS], env({}))),
    /^--bus needs --store postgres:/,
  );
  assert.equal(
    usageError(bench("--cluster", "2", "--store", PG, "--bus", NATS, "--server", "h:1")),
    "--cluster does not go with --server (it starts its nodes, not a running server)",
  );
  assert.equal(
    usageError(bench("--cluster", "2", "--store", PG, "--bus", NATS, "--raw")),
    "--cluster does not go with --raw (it starts its nodes, not the raw forwarder)",
  );
  assert.equal(
    usageError(bench("--cluster", "2", "--store", PG, "--bus", NATS, "--idle", "10")),
    "--cluster does not go with --idle (idle memory is measured on one server)",
  );
  // the engines are checked as serve checks them, the password hidden
  const store = usageError(
    bench("--cluster", "2", "--store", "mysql://u:secret@h/d", "--bus", NATS),
  );
  assert.match(store, /^--store must be a PostgreSQL URL/);
  assert.ok(!store.includes("secret"), store);
  assertRefused(bench("--cluster", "2", "--store", PG, "--bus", "http://n1"), "--bus", "http://n1");
});

Deno.test("bench: --store alone runs one server on PostgreSQL; --bus only with --cluster", () => {
  const args = parseBenchArgs(["--store", PG]);
  assert.equal(args.nodes, 1);
  assert.equal(args.store, PG);
  assert.equal(args.bus, undefined);
  assert.equal(
    usageError(bench("--store", PG, "--bus", NATS)),
    "--bus goes with --cluster N (one server on --store needs no bus)",
  );
  assert.equal(
    usageError(bench("--store", PG, "--server", "h:1")),
    "--store goes with the bench's own server, not --server",
  );
  assert.match(usageError(bench("--store", "chat.db")), /^--store must be a PostgreSQL URL/);
});

Deno.test("bench: the other flags are read", () => {
  const args = parseBenchArgs(["--json", "-h", "--forwarder", "--certs", "d"]);
  assert.equal(args.json, true);
  assert.equal(args.help, true);
  assert.equal(args.forwarder, true);
  assert.equal(args.certs, "d");
});

Deno.test("bench: unknown options and positionals are refused", () => {
  assertRefused(bench("--bogus"), "--bogus");
  assertRefused(bench("--name", "x"), "--name");
  assertRefused(bench("100"), "100");
  assertRefused(bench("--clients"), "--clients");
  assertRefused(bench("--raw=yes"), "--raw");
});

Deno.test("admin: op ID, deop ID, ops; --db, else CHAT_DB, else ./chat.db; anything else is usage", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(parseAdminArgs(["op", "ann_0001"], env({})), {
    action: "op",
    id: "ann_0001",
    db: "chat.db",
    help: false,
  });
  assert.deepEqual(parseAdminArgs(["ops"], env({ CHAT_DB: "/srv/c.db" })), {
    action: "ops",
    db: "/srv/c.db",
    help: false,
  });
  assert.equal(
    (parseAdminArgs(["deop", "ann_0001", "--db", "x.db"], env({ CHAT_DB: "y" })) as { db: string })
      .db,
    "x.db",
  );
  assert.deepEqual(parseAdminArgs(["--help"]), { help: true });
  for (const argv of [[], ["op"], ["op", "ann"], ["ops", "x"], ["kick", "ann_0001"], ["--nope"]]) {
    assert.throws(() => parseAdminArgs(argv, env({})), UsageError, argv.join(" "));
  }
  assert.match(ADMIN_HELP, /chat admin op ID \| deop ID \| ops/);
});

Deno.test("serve: --store and --bus (or CHAT_STORE, CHAT_BUS) make a node of a cluster", () => {
  const url = "postgres://chat:secret@db.example:5433/chat";
  const node = parseServeArgs(["--store", url, "--bus", "nats://a:4222, nats://b:4223"]);
  assert.equal(node.store, url);
  assert.deepEqual(node.bus, ["nats://a:4222", "nats://b:4223"]);
  assert.equal(parseServeArgs(["--store", url]).bus, undefined, "one server on PostgreSQL");
  const fromEnv = parseServeArgs([], env({ CHAT_STORE: url, CHAT_BUS: "nats://a" }));
  assert.equal(fromEnv.store, url);
  assert.deepEqual(fromEnv.bus, ["nats://a"]);
  assert.equal(parseServeArgs([]).store, undefined, "SQLite stays the default");
});

Deno.test("serve: --store and --bus refuse what cannot work, in one sentence", () => {
  assertRefused(serve("--bus", "nats://a:4222"), "--store");
  assertRefused(() => parseServeArgs([], env({ CHAT_BUS: "nats://a" })), "CHAT_BUS");
  assertRefused(serve("--store", "chat.db"), "--store", "chat.db");
  assertRefused(serve("--store", "mysql://x/y"), "--store", "mysql://x/y");
  assertRefused(serve("--db", "x.db", "--store", "postgres://h/d"), "--db");
  const pg = ["--store", "postgres://h/d"];
  assertRefused(serve(...pg, "--bus", "nats://a,,nats://b"), "--bus");
  assertRefused(serve(...pg, "--bus", "http://a:80"), "--bus");
  const many = Array.from({ length: 17 }, (_, i) => `nats://n${i}`).join(",");
  assert.match(assertRefused(serve(...pg, "--bus", many), "--bus"), /16/);
  // a password in the URL is never repeated in an error
  const message = usageError(serve("--store", "postgresx://u:hunter2@h/d"));
  assert.doesNotMatch(message, /hunter2/);
});

Deno.test("join: --server lists the nodes of one server, in order, each HOST:PORT", () => {
  const args = parseJoinArgs(["--server", "a.example:7001,10.0.0.2:7002,[::1]:7003,b"]);
  assert.deepEqual(args.servers, [
    { host: "a.example", port: 7001 },
    { host: "10.0.0.2", port: 7002 },
    { host: "::1", port: 7003 },
    { host: "b", port: DEFAULT_PORT },
  ]);
  // the first is also the one address a single-server caller sees
  assert.deepEqual([args.host, args.port], ["a.example", 7001]);
  // spaces around an entry of a list are dropped (a quoted "a:1, b:2")
  assert.deepEqual(parseJoinArgs(["--server", "a:1, b:2"]).servers, [
    { host: "a", port: 1 },
    { host: "b", port: 2 },
  ]);
  // one address is as before: one entry
  assert.deepEqual(parseJoinArgs(["--server", "h:1"]).servers, [{ host: "h", port: 1 }]);
  assert.deepEqual(parseJoinArgs([]).servers, [{ host: "localhost", port: DEFAULT_PORT }]);
  const sixteen = Array.from({ length: MAX_SERVERS }, (_, i) => `n${i}:7777`).join(",");
  assert.equal(parseJoinArgs(["--server", sixteen]).servers.length, MAX_SERVERS);
});

Deno.test("join: --server refuses an empty entry, a bad port, a repeat and more than 16", () => {
  for (const bad of ["a:1,,b:2", "a:1,", ",a:1", "a:1, ,b:2"]) {
    assert.match(
      assertRefused(join("--server", bad), "--server"),
      /^--server has an empty address \(number [0-9]+ of [0-9]+\); separate addresses with single commas/,
      bad,
    );
  }
  assert.equal(
    usageError(join("--server", "a:1,b:70000")),
    '--server must be a port number from 0 to 65535, not "70000"',
  );
  assert.equal(usageError(join("--server", "a:1,b:0")), "--server needs a real port, not 0");
  assertRefused(join("--server", "a:1,b c:2"), "--server", "b c:2");
  assert.equal(usageError(join("--server", "a:1,b:2,A:1")), "--server lists A:1 twice");
  const seventeen = Array.from({ length: MAX_SERVERS + 1 }, (_, i) => `n${i}:7777`).join(",");
  assert.equal(
    usageError(join("--server", seventeen)),
    `--server lists ${MAX_SERVERS + 1} addresses; at most ${MAX_SERVERS} are allowed`,
  );
});

Deno.test("check: --server takes a list as join does", () => {
  const args = parseCheckArgs(["--server", "a:1,b:2"]);
  assert.deepEqual(args.servers, [{ host: "a", port: 1 }, { host: "b", port: 2 }]);
  assert.deepEqual([args.host, args.port], ["a", 1]);
  assert.deepEqual(parseCheckArgs([], (name) => ({ CHAT_PORT: "7100" })[name]).servers, [
    { host: "127.0.0.1", port: 7100 },
  ]);
  assertRefused(() => parseCheckArgs(["--server", "a:1,,b:2"]), "--server");
});
