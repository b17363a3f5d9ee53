/**
 * The bundle (`deno task bundle`: main.js and its chunks) runs `serve` and `join` from an empty
 * directory: no read of a source-relative path at run time; and `join` loads none of the server's
 * chunks.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { tmpdir } from "node:os";
import { WorkerSearcher } from "../../src/server/search/mod.ts";
import { permissionFlags } from "../../src/cli/permissions.ts";
import { bundleProgram } from "../../scripts/bundle.ts";

const env = { NO_COLOR: "1", RUST_BACKTRACE: "0" };
/** The permissions the npm package's launcher grants `chat ARGV` run from `cwd` (not -A). */
function granted(argv: string[], cwd: string, bundle: string, extra: Record<string, string> = {}) {
  const all: Record<string, string> = { ...Deno.env.toObject(), ...env, ...extra };
  return permissionFlags(argv, {
    cwd,
    env: (name) => all[name],
    program: [bundle],
    deno: Deno.execPath(),
    tmpDir: tmpdir(),
    windows: Deno.build.os === "windows",
  });
}
/** Every process here is killed past this, so no step can wait for ever. */
const PROCESS_LIMIT_MS = 90_000;

Deno.test("the deno bundle runs serve and join from an empty directory", async () => {
  const work = await Deno.makeTempDir({ prefix: "chat-bundle-" });
  const bundle = await bundleProgram(join(work, "chat"));

  const empty = join(work, "empty");
  await Deno.mkdir(empty);
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...granted(["serve", "--port", "0"], empty, dirname(bundle)),
      bundle,
      "serve",
      "--port",
      "0",
    ],
    cwd: empty,
    env,
    stdout: "piped",
    stderr: "piped",
    // also what ends a read of its output that would otherwise wait for ever
    signal: AbortSignal.timeout(PROCESS_LIMIT_MS),
  }).spawn();
  try {
    const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const deadline = Date.now() + 20_000;
    while (!/listening on 127\.0\.0\.1:(\d+)/.test(seen) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(seen)?.[1];
    assert.ok(port, `no listening line in: ${seen}`);
    // keep draining so the server never blocks on a full pipe
    (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })().catch(() => {});

    /** `chat join --name NAME` run from the bundle in the empty directory, `line` as its input. */
    const joinBundled = async (name: string, line: string) => {
      const argv = ["join", "--name", name, "--server", `127.0.0.1:${port}`];
      const state = { XDG_STATE_HOME: join(work, "state") };
      const client = new Deno.Command(Deno.execPath(), {
        args: ["run", ...granted(argv, empty, dirname(bundle), state), bundle, ...argv],
        cwd: empty, // ./certs/ca.pem here is the server's CA
        env: { ...env, ...state },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(PROCESS_LIMIT_MS),
      }).spawn();
      const writer = client.stdin.getWriter();
      await writer.write(new TextEncoder().encode(`${line}\n`));
      await writer.close();
      const out = await client.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout);
    };
    const stdout = await joinBundled("Bundled", "hello from the bundle");
    const bundled = /you are (Bundled_\d{4})/.exec(stdout)?.[1];
    assert.ok(bundled, stdout);
    assert.match(stdout, /Bundled_\d{4}: hello from the bundle/);

    // search through the bundled server, once that message is stored (it was acknowledged)
    const results = await joinBundled("Seeker", "/search FROM the bund");
    assert.match(results, /\* 1 result\b/);
    assert.match(results, /hello from the bundle/);

    // the bundle started as the search worker (it has no worker file beside it) searches the
    // server's database on a connection of its own
    const searcher = new WorkerSearcher(join(empty, "chat.db"), {
      workerUrl: pathToFileURL(bundle),
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const outcome = await Promise.race([
        // as someone in #general, where the message is
        searcher.search({ userId: bundled, pattern: "from THE bundle$", limit: 5 }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("the bundled search worker is silent")),
            20_000,
          );
        }),
      ]);
      assert.ok(outcome.ok, JSON.stringify(outcome));
      assert.equal(outcome.total, 1);
      assert.equal(outcome.messages[0].text, "hello from the bundle");
    } finally {
      clearTimeout(timer);
      searcher.close();
    }
  } finally {
    try {
      server.kill("SIGTERM");
    } catch { /* it exited already: the assertion that failed says why */ }
    await server.status;
    await server.stderr.cancel().catch(() => {});
    await Deno.remove(work, { recursive: true });
  }
});

/** What only the server, its store and drivers bring into the bundle: a marker of each. */
const SERVER_ONLY = ["ZodError", "node:sqlite", "RE2JS", "PostgresError", "NKeysError"];

/** The chunks a module imports at once (`import … from "./chunk.js"`), not those it loads later. */
async function staticClosure(dir: string, entries: string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const code = await Deno.readTextFile(join(dir, name));
    for (const [, imported] of code.matchAll(/^import\s[^;]*?from\s*"\.\/([^"]+)"/gms)) {
      queue.push(imported);
    }
    for (const [, imported] of code.matchAll(/^import\s*"\.\/([^"]+)"/gm)) queue.push(imported);
  }
  return seen;
}

Deno.test("the bundle's join loads the client's chunks only: no zod, store, drivers or server", async () => {
  const work = await Deno.makeTempDir({ prefix: "chat-bundle-split-" });
  try {
    const dir = join(work, "chat");
    await bundleProgram(dir);
    const main = await Deno.readTextFile(join(dir, "main.js"));
    // main.ts imports each command's code with import(): join's own chunk, and what it imports
    const joinChunk = /import\("\.\/(join-[^"]+\.js)"\)/.exec(main)?.[1];
    assert.ok(joinChunk, "main.js loads no join chunk on demand");
    const loaded = await staticClosure(dir, ["main.js", joinChunk]);
    const code = (await Promise.all([...loaded].map((name) => Deno.readTextFile(join(dir, name)))))
      .join("\n");
    for (const marker of SERVER_ONLY) {
      assert.ok(!code.includes(marker), `join loads ${marker}`);
    }
    // and the whole bundle has them: the markers mean something
    const all = (await Promise.all(
      [...Deno.readDirSync(dir)].map((entry) => Deno.readTextFile(join(dir, entry.name))),
    )).join("\n");
    for (const marker of SERVER_ONLY) {
      assert.ok(all.includes(marker), `the bundle has no ${marker}`);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
