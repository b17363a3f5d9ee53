// Unit tests for src/cli/permissions.ts: the deno run flags each subcommand gets from the
// launchers. The end-to-end tests run every chat process through these same flags (harness.ts
// chatPermissions), so what is missing here fails there.
//
// Run: deno test -A tests/permissions_test.ts

import assert from "node:assert/strict";
import { type LaunchContext, permissionFlags } from "../src/cli/permissions.ts";
import {
  CHECK_OPTIONS,
  JOIN_OPTIONS,
  loadTestServeArgs,
  localServeArgv,
  SERVE_OPTIONS,
} from "../src/cli/options.ts";

const context = (env: Record<string, string> = {}): LaunchContext => ({
  cwd: "/work",
  env: (name) => env[name],
  program: ["/opt/chat/chat.js"],
  deno: "/opt/deno",
  tmpDir: "/tmp",
  windows: false,
});

/** The flags as a map: --allow-read=a,b → {"--allow-read": ["a", "b"]}; a bare flag → []. */
function grants(argv: string[], env: Record<string, string> = {}): Map<string, string[]> {
  const flags = permissionFlags(argv, context(env));
  assert.equal(flags[0], "--no-prompt", "a missing permission must fail, never prompt");
  return new Map(flags.map((flag) => {
    const [name, value] = flag.split("=", 2);
    return [name, value === undefined ? [] : value.split(",")];
  }));
}

Deno.test("serve: its address, its files, its variables, nothing else", () => {
  const g = grants(["serve", "--port", "0"]);
  assert.deepEqual(g.get("--allow-net"), ["127.0.0.1"]);
  const db = ["/work/chat.db", "/work/chat.db-wal", "/work/chat.db-shm", "/work/chat.db-journal"];
  assert.deepEqual(g.get("--allow-write"), [...db, "/work/certs"]);
  assert.deepEqual(g.get("--allow-read"), [...db, "/work/certs", "/opt/chat/chat.js"]);
  assert.ok(g.get("--allow-env")!.includes("CHAT_PASSWORD"));
  for (const absent of ["--allow-sys", "--allow-run", "--allow-ffi", "--allow-all", "-A"]) {
    assert.ok(!g.has(absent), `serve got ${absent}`);
  }
});

Deno.test("serve: the machine's name only for a wildcard address", () => {
  assert.deepEqual(grants(["serve", "--host", "0.0.0.0"]).get("--allow-sys"), ["hostname"]);
  assert.deepEqual(grants(["serve", "--host", "::"]).get("--allow-net"), ["[::]"]);
  assert.deepEqual(grants(["serve"], { CHAT_HOST: "0.0.0.0" }).get("--allow-sys"), ["hostname"]);
  assert.ok(!grants(["serve", "--host", "::1"]).has("--allow-sys"));
});

Deno.test("serve: --cert/--key are only read; CHAT_DB and CHAT_CERTS move the files", () => {
  const g = grants(["serve", "--cert", "/etc/le/full.pem", "--key=/etc/le/key.pem"]);
  assert.ok(g.get("--allow-read")!.includes("/etc/le/full.pem"));
  assert.ok(g.get("--allow-read")!.includes("/etc/le/key.pem"));
  assert.ok(!g.get("--allow-write")!.some((p) => p.startsWith("/etc")));
  assert.ok(!g.get("--allow-write")!.includes("/work/certs"));
  const env = grants(["serve"], { CHAT_DB: "/var/lib/chat/h.db", CHAT_CERTS: "/var/lib/chat/c" });
  assert.ok(env.get("--allow-write")!.includes("/var/lib/chat/h.db-wal"));
  assert.ok(env.get("--allow-write")!.includes("/var/lib/chat/c"));
  // the flag wins over the variable, as in args.ts
  const both = grants(["serve", "--db", "here.db"], { CHAT_DB: "/elsewhere.db" });
  assert.ok(both.get("--allow-write")!.includes("/work/here.db"));
  assert.ok(!both.get("--allow-write")!.includes("/elsewhere.db"));
  const password = grants(["serve", "--password-file", "pw"]);
  assert.ok(password.get("--allow-read")!.includes("/work/pw"));
});

Deno.test("join: its server only, its state directory, the CA files it may read", () => {
  const g = grants(["join", "--name", "tom", "--server", "chat.example:7000", "--ca", "ca.pem"], {
    HOME: "/home/tom",
  });
  assert.deepEqual(g.get("--allow-net"), ["chat.example:7000"]);
  assert.deepEqual(g.get("--allow-write"), ["/home/tom/.local/state/chat"]);
  for (const path of ["/work/ca.pem", "/work/certs/ca.pem", "/home/tom/.local/state/chat"]) {
    assert.ok(g.get("--allow-read")!.includes(path), path);
  }
  assert.deepEqual(grants(["join", "--server", "[::1]:9"]).get("--allow-net"), ["[::1]:9"]);
  assert.deepEqual(grants(["join"]).get("--allow-net"), ["localhost:7777"]);
  const xdg = grants(["join"], { XDG_STATE_HOME: "/state", HOME: "/home/tom" });
  assert.deepEqual(xdg.get("--allow-write"), ["/state/chat"]);
  assert.ok(!g.has("--allow-run") && !g.has("--allow-sys"));
});

Deno.test("check: reads, never writes", () => {
  const g = grants(["check"], { CHAT_PORT: "7100", CHAT_CERTS: "/srv/certs", HOME: "/root" });
  assert.deepEqual(g.get("--allow-net"), ["127.0.0.1:7100"]);
  assert.deepEqual(grants(["check"], { CHAT_HOST: "::" }).get("--allow-net"), ["[::1]:7777"]);
  assert.ok(g.get("--allow-read")!.includes("/srv/certs/ca.pem"));
  assert.ok(!g.has("--allow-write"));
});

Deno.test("--version, --help and mistakes get no permission at all", () => {
  for (const argv of [[], ["--version"], ["--help"], ["nonsense"], ["-A"]]) {
    assert.deepEqual(permissionFlags(argv, context()), ["--no-prompt"], argv.join(" "));
  }
});

Deno.test("every option is known to be a path or not, so a new one cannot slip by", () => {
  // the options whose values are files or directories the program opens, and are granted
  const paths: Record<string, string[]> = {
    serve: ["db", "certs", "cert", "key", "password-file"],
    join: ["ca", "password-file"],
    check: ["ca"],
  };
  const others: Record<string, string[]> = {
    serve: [
      "host",
      "port",
      "log-format",
      "log-level",
      "max-rate",
      "handshake-timeout",
      "hello-timeout",
      "idle-timeout",
      "max-connections-per-address",
      "max-rate-per-address",
      "max-new-ids-per-address",
      "max-new-rooms-per-address",
      "max-rooms",
      "max-connections",
      "output-budget",
      // URLs of the cluster's engines: granted as net (their host:port), not as paths
      "store",
      "bus",
    ],
    join: ["name", "server", "fingerprint", "layout", "room"],
    check: ["server", "fingerprint", "timeout"],
  };
  const tables = { serve: SERVE_OPTIONS, join: JOIN_OPTIONS, check: CHECK_OPTIONS };
  for (const [command, table] of Object.entries(tables)) {
    const strings = Object.entries(table).filter(([, o]) => o.type === "string").map(([n]) => n);
    assert.deepEqual(
      strings.sort(),
      [...paths[command], ...others[command]].sort(),
      `chat ${command}: classify each new option here, and grant what a path option opens`,
    );
    for (const option of paths[command]) {
      const g = grants([command, `--${option}`, `/x/${option}`]);
      assert.ok(
        g.get("--allow-read")!.includes(`/x/${option}`),
        `chat ${command} --${option} is not granted`,
      );
    }
  }
});

Deno.test("admin: reads and writes the server's database (--db, else CHAT_DB), nothing else", () => {
  const g = grants(["admin", "op", "ann_0001", "--db", "data/chat.db"]);
  assert.deepEqual(g.get("--allow-write"), [
    "/work/data/chat.db",
    "/work/data/chat.db-wal",
    "/work/data/chat.db-shm",
    "/work/data/chat.db-journal",
  ]);
  assert.deepEqual(g.get("--allow-env"), ["CHAT_DB"]);
  assert.ok(!g.has("--allow-net") && !g.has("--allow-run"));
  const env = grants(["admin", "ops"], { CHAT_DB: "/srv/chat.db" });
  assert.ok(env.get("--allow-write")!.includes("/srv/chat.db"));
});

Deno.test("serve: a node of a cluster reaches its PostgreSQL and NATS, and no database file", () => {
  const store = "postgres://chat@db.example/chat"; // the default port: 5432
  const g = grants(["serve", "--store", store, "--bus", "nats://n1:4222,n2"]);
  assert.deepEqual(g.get("--allow-net"), ["127.0.0.1", "db.example:5432", "n1:4222", "n2:4222"]);
  assert.ok(!(g.get("--allow-write") ?? []).some((p) => p.includes("chat.db")));
  assert.ok(g.get("--allow-env")!.includes("PGPASSWORD"), "the PostgreSQL client's variables");
  const env = grants(["serve"], { CHAT_STORE: "postgresql://db:6000/x" });
  assert.ok(env.get("--allow-net")!.includes("db:6000"));
});

Deno.test("bench --cluster: its nodes reach the engines; the bench itself only its nodes", () => {
  const store = "postgres://chat@db.example:5433/scratch";
  const bus = "nats://n1:4222";
  const bench = grants(["bench", "--cluster", "2", "--store", store, "--bus", bus]);
  // the bench talks to its nodes over TLS; the nodes, not it, talk to PostgreSQL and NATS
  assert.deepEqual(bench.get("--allow-net"), ["127.0.0.1"]);
  assert.deepEqual(bench.get("--allow-run"), ["/opt/deno", "cat"]);
  // a node is started with what `chat serve` gets for the same command line (process.ts
  // selfCommand): bench.ts builds it with localServeArgv, the load-test limits and the engines
  const node = grants(
    localServeArgv("/tmp/b/node1.db", "/tmp/b/certs", [
      ...loadTestServeArgs(1000),
      "--store",
      store,
      "--bus",
      bus,
    ]),
  );
  assert.deepEqual(node.get("--allow-net"), ["127.0.0.1", "db.example:5433", "n1:4222"]);
  assert.ok(!(node.get("--allow-write") ?? []).some((p) => p.includes("node1.db")));
});
