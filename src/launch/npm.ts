/**
 * The `chat` command of the npm package (bundled by `deno task pack` into bin/chat.mjs and run by
 * Node): finds the Deno executable of the `deno` package this package depends on, and runs the
 * bundled program (../chat/main.js and its chunks) with it, with the permissions of the
 * subcommand (launch.ts).
 * Nothing is downloaded at run time: no config, no lockfile, npm and remote imports from the
 * cache only (the bundle has none).
 */
import { createRequire } from "node:module";
import { delimiter, dirname, join } from "node:path";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { launch } from "./launch.ts";
import { shellQuote } from "../cli/quote.ts";

const require = createRequire(import.meta.url);
const bin = fileURLToPath(import.meta.url);
const root = dirname(dirname(bin));
const bundle = join(root, "chat");
const program = join(bundle, "main.js");

let deno: string;
try {
  // the deno package's own locator: its binary, from the platform package npm picked
  deno = require("deno/install_api.cjs").runInstall();
} catch (error) {
  console.error(
    `chat: cannot find the Deno runtime of the deno package (${(error as Error).message})`,
  );
  process.exit(1);
}

launch({
  deno,
  runFlags: ["--no-config", "--no-lock", "--cached-only", "--no-remote"],
  program,
  programFiles: [bundle],
  command: commandName(),
  cwd: process.cwd(),
  // a package.json where chat runs is someone else's project, not ours
  env: { DENO_NO_PACKAGE_JSON: "1" },
}, process.argv.slice(2));

/** `chat` when that name on the PATH is this launcher; else this launcher's full path. */
function commandName(): string {
  // npm's chat.cmd there is a wrapper, not a link to compare: its bin directory is on the PATH
  if (process.platform === "win32") return "chat";
  const self = realpath(process.argv[1] ?? bin);
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    if (realpath(join(dir, "chat")) === self) return "chat";
  }
  return shellQuote(process.argv[1] ?? bin);
}

function realpath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return "";
  }
}
