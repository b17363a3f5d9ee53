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
const PARSERS = { serve: parseServeArgs, join: parseJoinArgs, bench: parseBenchArgs };

/** An argv as a shell splits a line without quotes. */
const words = (line: string) => line.split(" ");

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

Deno.test("serve: every option is read", () => {
  const args = parseServeArgs(
    words(
      "--host 0.0.0.0 --port 9000 --db x.db --certs c --cert a.pem --key a.key --password-file pw -h",
    ),
  );
  assert.deepEqual(
    [args.host, args.port, args.db, args.certs, args.cert, args.key, args.passwordFile, args.help],
    ["0.0.0.0", 9000, "x.db", "c", "a.pem", "a.key", "pw", true],
  );
  assert.equal(parseServeArgs(["--help"]).help, true);
});

Deno.test("serve: --cert and --key go together", () => {
  assert.equal(usageError(serve("--cert", "a.pem")), "--cert and --key go together");
  assert.equal(usageError(serve("--key", "a.key")), "--cert and --key go together");
});

// ---- numeric options of chat serve and chat bench --------------------------------------------

/**
 * An option that takes a number: the values it reads (as text, and what they become in `field`),
 * and the values it refuses, each with `refusal`, `, not "VALUE"`.
 */
interface NumberOption {
  command: "serve" | "bench";
  option: string;
  field: string;
  accepts: [text: string, value: number][];
  refusal: string;
  refuses: string[];
}

const PORT_REFUSAL = "must be a port number from 0 to 65535";
const COUNT_REFUSAL = "must be a whole number from 1 to 1000000";
const RATE_REFUSAL = "must be a number of messages per second";
/** A rate: 0 (no limit) and plain decimals. */
const RATE_REFUSED = ["-1", "fast", "1e3", "", ".5", "1.", "Infinity", "NaN"];
const COUNT_REFUSED = ["0", "1000001", "10000000", "1.5", "x", "-1", "", "1e3"];
const BENCH_SIZE_BELOW = String(MIN_BENCH_SIZE - 1);
const BENCH_SIZE_ABOVE = String(MAX_TEXT_LENGTH + 1);

const NUMBER_OPTIONS: NumberOption[] = [
  {
    command: "serve",
    option: "--port",
    field: "port",
    accepts: [["0", 0], ["65535", 65535], ["1", 1], ["8080", 8080], ["00080", 80]],
    refusal: PORT_REFUSAL,
    refuses: ["65536", "70000", "99999", "123456", "abc", "-1", "1.5", "", " 80", "0x50", "1e3"],
  },
  // the timeouts take seconds and become milliseconds; under a millisecond would round to none
  ...[
    ["--handshake-timeout", "handshakeTimeoutMs"],
    ["--hello-timeout", "helloTimeoutMs"],
    ["--idle-timeout", "idleTimeoutMs"],
  ].map(([option, field]) => ({
    command: "serve" as const,
    option,
    field,
    accepts: [
      ["86400", 86_400_000],
      ["0.001", 1],
      ["0.5", 500],
      ["1.25", 1250],
      ["1", 1000],
      ["86399.999", 86_399_999],
    ] as [string, number][],
    refusal: "must be a number of seconds from 0.001 to 86400",
    refuses: ["0", "0.0", "000", "0.0001", "86400.5", "86401", "100000", "x", "1e3", "-5", ".5"]
      .concat(["1.", "Infinity", "NaN", "", "1,5", " 5"]),
  })),
  {
    command: "serve",
    option: "--max-connections-per-address",
    field: "maxConnectionsPerAddress",
    accepts: [["1", 1], ["1000000", 1_000_000], ["0000007", 7]],
    refusal: COUNT_REFUSAL,
    refuses: ["0", "1000001", "9999999", "10000000", "1.5", "x", "-1", "", "1e3"],
  },
  {
    command: "serve",
    option: "--max-rate",
    field: "maxRate",
    accepts: [["0", 0], ["2.5", 2.5], ["100", 100]],
    refusal: RATE_REFUSAL,
    refuses: RATE_REFUSED,
  },
  {
    command: "serve",
    option: "--max-rate-per-address",
    field: "maxRatePerAddress",
    accepts: [["2.5", 2.5]],
    refusal: RATE_REFUSAL,
    refuses: RATE_REFUSED,
  },
  {
    command: "serve",
    option: "--max-new-ids-per-address",
    field: "newIdsPerAddressPerHour",
    accepts: [["0", 0], ["60", 60]], // 0 turns it off
    refusal: "must be a whole number from 0 (no limit) to 1000000",
    refuses: ["1e3", "1000001", "x", "-1"],
  },
  {
    command: "serve",
    option: "--max-connections",
    field: "maxConnections",
    accepts: [["7", 7]],
    refusal: COUNT_REFUSAL,
    refuses: ["0", "1000001"],
  },
  {
    command: "serve",
    option: "--output-budget",
    field: "outputBudgetBytes",
    accepts: [["4", 4 * 1024 * 1024]], // MiB
    refusal: COUNT_REFUSAL,
    refuses: ["0", "1000001"],
  },
  ...["--clients", "--senders", "--messages"].map((option) => ({
    command: "bench" as const,
    option,
    field: option.slice(2),
    accepts: [["1", 1], ["1000000", 1_000_000], ["42", 42]] as [string, number][],
    refusal: COUNT_REFUSAL,
    refuses: COUNT_REFUSED,
  })),
  {
    command: "bench",
    option: "--size",
    field: "size",
    accepts: [
      [String(MIN_BENCH_SIZE), MIN_BENCH_SIZE],
      [String(MAX_TEXT_LENGTH), MAX_TEXT_LENGTH],
      ["1000", 1000],
    ],
    refusal: `must be a whole number from ${MIN_BENCH_SIZE} to ${MAX_TEXT_LENGTH}`,
    refuses: [BENCH_SIZE_BELOW, BENCH_SIZE_ABOVE, "0", "100000", "100.5", "x", "-100", "", "1e2"],
  },
  {
    command: "bench",
    option: "--rate",
    field: "rate",
    accepts: [["0", 0], ["0.5", 0.5], ["999999999", 999_999_999]],
    refusal: RATE_REFUSAL,
    refuses: ["fast", "-1", "1e3", "", ".5", "1.", "1000000000", "Infinity"],
  },
  {
    command: "bench",
    option: "--idle",
    field: "idle",
    accepts: [["0", 0], ["1", 1], ["1000000", 1_000_000]],
    refusal: "must be a whole number from 0 to 1000000",
    refuses: ["1000001", "10000000", "1.5", "x", "-1", "", "1e3"],
  },
  {
    command: "bench",
    option: "--port",
    field: "port",
    accepts: [["65535", 65535], ["0", 0]],
    refusal: PORT_REFUSAL,
    refuses: ["70000", "abc"],
  },
];

Deno.test("bench: MIN_BENCH_SIZE is 24", () => {
  assert.equal(MIN_BENCH_SIZE, 24);
});

for (const { command, option, field, accepts, refusal, refuses } of NUMBER_OPTIONS) {
  const parse = (argv: string[]) => PARSERS[command](argv) as unknown as Record<string, unknown>;
  Deno.test(`${command}: ${option} reads ${accepts.map(([text]) => text).join(", ")}`, () => {
    for (const [text, value] of accepts) {
      assert.equal(parse([option, text])[field], value, `${option} ${text}`);
      assert.equal(parse([`${option}=${text}`])[field], value, `${option}=${text}`);
    }
  });
  Deno.test(`${command}: ${option} refuses what it does not take, quoting it`, () => {
    for (const bad of refuses) {
      const message = `${option} ${refusal}, not "${bad}"`;
      assert.equal(usageError(() => parse([`${option}=${bad}`])), message);
      // a value that starts with a dash is taken for an option unless it follows `=`
      if (bad.startsWith("-")) {
        assert.match(assertRefused(() => parse([option, bad]), option), /ambiguous/);
      } else assert.equal(usageError(() => parse([option, bad])), message);
    }
  });
}

// ---- what each command refuses outright ---------------------------------------------------------

/**
 * Unknown options, positionals, options without their value and flags given one: each is refused
 * with a message naming it (the first word, an option without its `=value`).
 */
const REFUSED_OUTRIGHT = {
  serve: ["--bogus", "-x", "--name tom", "stray", "--port", "--idle-timeout", "--help=yes"],
  join: ["--bogus", "--port 1", "tom", "--name", "--plain=yes"],
  bench: ["--bogus", "--name x", "100", "--clients", "--raw=yes"],
};

for (const command of ["serve", "join", "bench"] as const) {
  Deno.test(`${command}: unknown options, positionals, missing values and valued flags are refused`, () => {
    for (const line of REFUSED_OUTRIGHT[command]) {
      assertRefused(() => PARSERS[command](words(line)), line.split(/[ =]/)[0]);
    }
  });
}

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
  const args = parseJoinArgs(words(
    "--name tom --server chat.example.com:443 --ca ca.pem --fingerprint SHA256:abc --password-file pw" +
      " --plain --no-bell --no-color -h",
  ));
  assert.deepEqual(
    [args.name, args.host, args.port, args.ca, args.fingerprint, args.passwordFile],
    ["tom", "chat.example.com", 443, "ca.pem", "SHA256:abc", "pw"],
  );
  assert.deepEqual([args.mode, args.bell, args.color, args.help], ["plain", false, false, true]);
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

Deno.test("bench: --server is checked like elsewhere (--port: see the numeric options)", () => {
  assert.equal(usageError(bench("--server", "h:0")), "--server needs a real port, not 0");
  assertRefused(bench("--server", "h:70000"), "--server", "70000");
  assertRefused(bench("--server", "a b"), "--server", "a b");
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
