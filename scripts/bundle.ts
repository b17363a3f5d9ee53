/**
 * `deno task bundle`: the program as a bundle in dist/chat/ — main.js and the chunks it loads on
 * demand (`deno run -A dist/chat/main.js serve`). Split, not one file: `chat join` then loads the
 * client's code only, not the server's, the store's drivers and zod (about 13 MB less RSS for a
 * client, docs/BENCHMARKS.md). The npm package (scripts/pack.ts) ships the same directory.
 *
 * Usage: deno task bundle [OUT_DIR]   (default dist/chat/; emptied first)
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The entry the bundler writes for src/main.ts; the other files are its chunks. */
export const BUNDLE_ENTRY = "main.js";

const root = fileURLToPath(new URL("../", import.meta.url));

/** Runs `deno ARGS` in the checkout; on failure, throws with what it printed. */
export async function runDeno(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    // its error, not a Rust backtrace after it
    env: { RUST_BACKTRACE: "0" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr).trim());
}

/** Bundles src/main.ts into `outDir`; returns the path of its entry. */
export async function bundleProgram(outDir: string): Promise<string> {
  const entry = join(root, "src", "main.ts");
  await runDeno([
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--code-splitting",
    "--outdir",
    outDir,
    entry,
  ])
    .catch((error) => {
      throw new Error(`deno bundle failed: ${error.message}`);
    });
  return join(outDir, BUNDLE_ENTRY);
}

if (import.meta.main) {
  const outDir = Deno.args[0] ?? join(root, "dist", "chat");
  try {
    // chunks are named by their content: old ones would stay beside the new ones
    await Deno.remove(outDir, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    console.log(await bundleProgram(outDir));
  } catch (error) {
    console.error(`bundle: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
