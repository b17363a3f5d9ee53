/**
 * What both launchers do (the `chat` command of the npm package, and `deno task chat` in a
 * checkout): work out the permissions this run needs (cli/permissions.ts), then run the program
 * with Deno under exactly those, passing signals on and ending with its exit code.
 *
 * Written against node: modules only, so the same code runs under Node (the npm package's bin)
 * and under Deno (the task).
 */
import { spawn } from "node:child_process";
import { constants, tmpdir } from "node:os";
import process from "node:process";
import { permissionFlags } from "../cli/permissions.ts";
import { ENV } from "../cli/options.ts";

export interface Launch {
  /** The Deno executable. */
  deno: string;
  /** `deno run` flags that say how to load the program (config, lockfile, cache). */
  runFlags: string[];
  /** The program: src/main.ts, or the bundle. */
  program: string;
  /** What the program reads of itself at run time (its search worker starts it again). */
  programFiles: string[];
  /** How a person runs chat this way; `chat serve` prints its join command with it. */
  command: string;
  /** The working directory of the program. */
  cwd: string;
  /** Extra environment for Deno itself. */
  env?: Record<string, string>;
}

/** Node's exec (22.15 and later, not on Windows): this process becomes another program. */
type Execve = (file: string, args: string[], env: Record<string, string>) => never;

/**
 * Where Node can exec, the launcher becomes Deno: no Node process waits beside the program for its
 * whole run (about 45 MB of RSS beside a client of 60 – 80), and signals and the exit code are
 * Deno's own. Returns only when it cannot (older Node, Windows, Deno under `deno task chat`, or
 * an exec that failed): then the launcher runs Deno as its child.
 */
function becomeDeno(deno: string, args: string[], env: Record<string, string | undefined>): void {
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve !== "function" || process.platform === "win32") return;
  const defined = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  try {
    execve.call(process, deno, [deno, ...args], defined);
  } catch {
    // not an executable there, say: spawn() fails the same way and says so in one sentence
  }
}

/** Signals a supervisor sends to the launcher, meant for the program. */
const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Runs `chat ARGV...` as `launch` says, and exits the process with its exit code. */
export function launch(options: Launch, argv: string[]): void {
  const flags = permissionFlags(argv, {
    cwd: options.cwd,
    env: (name) => process.env[name],
    program: options.programFiles,
    deno: options.deno,
    tmpDir: tmpdir(),
    windows: process.platform === "win32",
  });
  const env: Record<string, string | undefined> = {
    ...process.env,
    ...options.env,
    [ENV.command]: options.command,
    // nothing to download, and nobody to tell about a newer Deno
    DENO_NO_UPDATE_CHECK: "1",
  };
  // a Rust backtrace is no error message for a person
  delete env.RUST_BACKTRACE;
  const args = ["run", ...options.runFlags, ...flags, options.program, ...argv];
  // exec keeps this process's directory: only where that is the program's
  if (options.cwd === process.cwd()) becomeDeno(options.deno, args, env);
  const child = spawn(options.deno, args, { cwd: options.cwd, env, stdio: "inherit" });
  const forward = (signal: NodeJS.Signals) => () => {
    try {
      child.kill(signal);
    } catch { /* it has exited */ }
  };
  if (process.platform !== "win32") {
    for (const signal of FORWARDED) process.on(signal, forward(signal));
  }
  child.on("error", (error) => {
    console.error(`chat: cannot start Deno (${options.deno}): ${error.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    // killed by a signal: the shell convention, 128 + its number
    process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
  });
}
