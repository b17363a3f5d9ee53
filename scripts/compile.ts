/**
 * `deno task compile [TARGET...]`: self-contained executables in dist/ for Linux and macOS on
 * x86_64 and arm64, and Windows on x86_64, then dist/SHA256SUMS (`sha256sum -c SHA256SUMS`).
 *
 * `deno compile` downloads the runtime of each target from Deno's download host, so this runs
 * only where that host is reachable (the release workflow, .github/workflows/release.yml), not on
 * our own machines. An executable carries one permission set for every subcommand (Deno fixes it
 * at compile time): the union of what serve, join, check and bench need, no FFI. Per-subcommand
 * permissions are the npm package's and `deno task chat`'s (src/cli/permissions.ts).
 */
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runDeno } from "./bundle.ts";

/** Deno's target triples, and the names of the executables. */
export const TARGETS: Record<string, string> = {
  "x86_64-unknown-linux-gnu": "chat-x86_64-linux",
  "aarch64-unknown-linux-gnu": "chat-aarch64-linux",
  "x86_64-apple-darwin": "chat-x86_64-macos",
  "aarch64-apple-darwin": "chat-aarch64-macos",
  "x86_64-pc-windows-msvc": "chat-x86_64-windows.exe",
};

/** What every subcommand together needs (see the module comment). */
export const COMPILED_PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=hostname",
  // chat bench starts servers: this executable again
  "--allow-run",
  "--no-prompt",
];

const root = fileURLToPath(new URL("../", import.meta.url));

async function compile(target: string, output: string): Promise<void> {
  await runDeno([
    "compile",
    "--quiet",
    // deno task check type-checks (the release workflow runs it first)
    "--no-check",
    ...COMPILED_PERMISSIONS,
    // the search worker is this program started again; compile must know to take it along
    "--include",
    join(root, "src", "server", "search", "worker.ts"),
    // and so is the PostgreSQL store's
    "--include",
    join(root, "src", "server", "store", "postgres_worker.ts"),
    "--target",
    target,
    "--output",
    output,
    join(root, "src", "main.ts"),
  ]).catch((error) => {
    const why = error.message.split("\n").at(-1) ?? "";
    throw new Error(
      `deno compile for ${target} failed (it needs Deno's download host for the runtime): ${why}`,
    );
  });
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

if (import.meta.main) {
  const wanted = Deno.args.length > 0 ? Deno.args : Object.keys(TARGETS);
  const unknown = wanted.filter((target) => !(target in TARGETS));
  if (unknown.length > 0) {
    console.error(
      `compile: unknown target ${unknown[0]}; known: ${Object.keys(TARGETS).join(", ")}`,
    );
    Deno.exit(2);
  }
  const dist = join(root, "dist");
  await Deno.mkdir(dist, { recursive: true });
  const lines: string[] = [];
  try {
    for (const target of wanted) {
      const output = join(dist, TARGETS[target]);
      await compile(target, output);
      lines.push(`${await sha256(output)}  ${basename(output)}`);
      console.log(`${output}`);
    }
  } catch (error) {
    console.error(`compile: ${(error as Error).message}`);
    Deno.exit(1);
  }
  await Deno.writeTextFile(join(dist, "SHA256SUMS"), lines.join("\n") + "\n");
  console.log(`${join(dist, "SHA256SUMS")}: check with sha256sum -c SHA256SUMS in dist/`);
}
