/**
 * The npm package as a user gets it: `deno task pack`'s tarball, `npm install -g` into a
 * temporary prefix (npm may use its registry and cache for the `deno` dependency, nothing else),
 * then from directories that are not the checkout: `chat --version`, `chat serve --port 0`, the
 * join command it printed, pasted into a shell as it is (one client receives what another sends),
 * and `chat check`. Deno gets an empty cache: the installed package downloads nothing when it
 * runs. Every process is bounded and killed with its children at the end.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { pack } from "../../scripts/pack.ts";
import { VERSION } from "../../src/version.ts";
import { makeTempDir, removeDir, withTimeout } from "./harness.ts";

/** Bound on npm install (it may fetch the deno package if its cache lacks it). */
const INSTALL_TIMEOUT_MS = 180_000;
/** Bound on every other wait. */
const WAIT_MS = 30_000;

Deno.test("the npm package installs with npm and runs serve, join, check and --version from anywhere", async () => {
  const work = await makeTempDir("chat-install-");
  const children: Deno.ChildProcess[] = [];
  try {
    const started = Date.now();
    const tarball = await pack(join(work, "dist"));
    const prefix = join(work, "prefix");
    const installed = await run("npm", [
      "install",
      "--global",
      "--prefix",
      prefix,
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      tarball,
    ], { cwd: work, timeoutMs: INSTALL_TIMEOUT_MS });
    assert.equal(installed.code, 0, `npm install failed:\n${installed.stderr}`);
    const installMs = Date.now() - started;

    const env: Record<string, string> = {
      PATH: `${join(prefix, "bin")}:${Deno.env.get("PATH") ?? ""}`,
      HOME: join(work, "home"),
      XDG_STATE_HOME: join(work, "state"),
      // an empty cache: anything the package tried to download would fail (--cached-only)
      DENO_DIR: join(work, "deno-cache"),
      NO_COLOR: "1",
    };
    const serverDir = join(work, "server");
    const clientDir = join(work, "client");
    for (const dir of [env.HOME, serverDir, clientDir]) await Deno.mkdir(dir, { recursive: true });

    const version = await run("chat", ["--version"], { cwd: clientDir, env });
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), `chat ${VERSION}`);

    const server = spawn("sh", ["-c", "exec chat serve --port 0"], { cwd: serverDir, env });
    children.push(server.child);
    const joinLine = await server.out.waitFor(/^join with: (.+)$/m, WAIT_MS);
    const joinCommand = joinLine[1];
    assert.match(
      joinCommand,
      /^chat join --server 127\.0\.0\.1:\d+ --fingerprint SHA256:\S+ --name YOUR_NAME$/,
    );
    const [, port] = /--server 127\.0\.0\.1:(\d+)/.exec(joinCommand)!;
    const [, fingerprint] = /--fingerprint (\S+)/.exec(joinCommand)!;

    // the printed command, pasted as it is (the name filled in) into a shell elsewhere
    const receiver = spawn(
      "sh",
      ["-c", `${joinCommand.replace("YOUR_NAME", "alice")} --json`],
      { cwd: clientDir, env: { ...env, XDG_STATE_HOME: join(work, "state-alice") }, stdin: true },
    );
    children.push(receiver.child);
    await receiver.out.waitFor(/"type":"welcome"/, WAIT_MS);
    const sender = await run(
      "sh",
      ["-c", `${joinCommand.replace("YOUR_NAME", "bob")} --plain`],
      { cwd: clientDir, env, stdin: "hello from the npm package\n" },
    );
    assert.equal(sender.code, 0, sender.stderr);
    await receiver.out.waitFor(/"text":"hello from the npm package"/, WAIT_MS);
    await receiver.child.stdin.close();
    assert.equal((await withTimeout(receiver.child.status, WAIT_MS, "alice's exit")).code, 0);

    const checked = await run("chat", [
      "check",
      "--server",
      `127.0.0.1:${port}`,
      "--fingerprint",
      fingerprint,
    ], { cwd: clientDir, env });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, new RegExp(`^ok: chat ${VERSION.replaceAll(".", "\\.")} at`));

    // SIGTERM reaches the server through the launcher; it stops cleanly
    server.child.kill("SIGTERM");
    const status = await withTimeout(server.child.status, WAIT_MS, "the server's exit");
    assert.equal(status.code, 0, server.out.text + server.err.text);
    assert.match(server.out.text, /\bstopped\b/);
    // nothing was downloaded: no Download line anywhere
    for (const text of [server.err.text, sender.stderr, version.stderr]) {
      assert.doesNotMatch(text, /Download|Initialize/);
    }
    console.log(`pack and npm install: ${(installMs / 1000).toFixed(1)} s`);

    // under a Node that can exec (22.15 and later) the launcher becomes Deno: the process started
    // is the program, with no Node beside it, and signals reach it directly
    const node = await execNode();
    const execDir = join(work, "exec");
    await Deno.mkdir(execDir);
    const direct = spawn(node, [join(prefix, "bin", "chat"), "serve", "--port", "0"], {
      cwd: execDir,
      env,
    });
    children.push(direct.child);
    const [, execPort] = await direct.out.waitFor(/listening on 127\.0\.0\.1:(\d+)/, WAIT_MS);
    assert.equal(basename(await Deno.readLink(`/proc/${direct.child.pid}/exe`)), "deno");
    const execChecked = await run("chat", [
      "check",
      "--server",
      `127.0.0.1:${execPort}`,
      "--ca",
      join(execDir, "certs", "ca.pem"),
    ], { cwd: clientDir, env });
    assert.equal(execChecked.code, 0, execChecked.stderr);
    direct.child.kill("SIGTERM");
    const execStatus = await withTimeout(direct.child.status, WAIT_MS, "the exec'd server's exit");
    assert.equal(execStatus.code, 0, direct.out.text + direct.err.text);
    assert.match(direct.out.text, /\bstopped\b/);
  } finally {
    for (const child of children) await killTree(child);
    await removeDir(work);
  }
});

// ---- processes ---------------------------------------------------------------------------------

/** Where .ci/run installs a Node 22 when the machine's cannot exec. */
const CI_NODE = join(
  Deno.env.get("HOME") ?? "/root",
  ".cache",
  "chat-ci",
  "node22",
  "node_modules",
  ".bin",
  "node",
);

/** A Node with process.execve (22.15 and later): the machine's `node`, else .ci/run's. */
async function execNode(): Promise<string> {
  for (const node of ["node", CI_NODE]) {
    const probe = await run(node, [
      "-e",
      "process.exit(typeof process.execve === 'function' ? 0 : 1)",
    ], {
      cwd: Deno.cwd(),
    }).catch(() => ({ code: 1 }));
    if (probe.code === 0) return node;
  }
  throw new Error(
    `the launcher's exec test needs Node 22.15 or later: none on the PATH nor at ${CI_NODE} ` +
      "(.ci/run installs one there: npm install --prefix ~/.cache/chat-ci/node22 node@22)",
  );
}

interface Output {
  text: string;
  waitFor(pattern: RegExp, ms: number): Promise<RegExpExecArray>;
  done: Promise<void>;
}

/** Drains a stream to its end, keeping its text; `waitFor` is bounded. */
function collect(stream: ReadableStream<Uint8Array>): Output {
  const output: Output = {
    text: "",
    done: Promise.resolve(),
    async waitFor(pattern, ms) {
      const end = Date.now() + ms;
      for (;;) {
        const match = pattern.exec(output.text);
        if (match) return match;
        if (Date.now() > end) {
          throw new Error(`no ${pattern} within ${ms} ms in:\n${output.text}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
  output.done = (async () => {
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output.text += chunk;
    } catch { /* killed */ }
  })();
  return output;
}

function spawn(
  command: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string>; stdin?: boolean },
) {
  const child = new Deno.Command(command, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    clearEnv: true,
    stdin: opts.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { child, out: collect(child.stdout), err: collect(child.stderr) };
}

/** Runs a command to its end (killed with its children past the bound). */
async function run(
  command: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; stdin?: string; timeoutMs?: number },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = opts.env ?? Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => name !== "RUST_BACKTRACE"),
  );
  const { child, out, err } = spawn(command, args, {
    cwd: opts.cwd,
    env,
    stdin: opts.stdin !== undefined,
  });
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(opts.stdin));
    await writer.close();
  }
  try {
    const status = await withTimeout(
      child.status,
      opts.timeoutMs ?? WAIT_MS,
      `${command} ${args[0]}`,
    );
    await Promise.all([out.done, err.done]);
    return { code: status.code, stdout: out.text, stderr: err.text };
  } catch (error) {
    await killTree(child);
    throw error;
  }
}

/** SIGKILLs a process and all its descendants (sh → node launcher → deno), found in /proc. */
async function killTree(child: Deno.ChildProcess): Promise<void> {
  const exited = await Promise.race([
    child.status.then(() => true, () => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 0)),
  ]);
  if (exited) return; // its pid may belong to someone else by now
  const pids = [child.pid, ...descendants(child.pid)];
  for (const pid of pids.reverse()) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone already */ }
  }
  await child.status.catch(() => {});
}

function descendants(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // the parent pid is the second field after the command (which may hold spaces)
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry.name)]);
    } catch { /* exited meanwhile */ }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0 && found.length < 1000) {
    for (const pid of parents.get(queue.shift()!) ?? []) {
      found.push(pid);
      queue.push(pid);
    }
  }
  return found;
}
