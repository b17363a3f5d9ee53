/**
 * `deno task chat`: runs src/main.ts from this checkout with the permissions of the subcommand
 * (launch.ts), in the directory the task was started from (deno task itself runs in the
 * checkout; INIT_CWD is where the person was).
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import process from "node:process";
import { launch } from "./launch.ts";
import { shellQuote } from "../cli/quote.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const config = join(root, "deno.json");

// `deno install -g -n chat … src/launch/task.ts --command=chat` (README) bakes this first
// argument in: the name the installed command goes by
let args = process.argv.slice(2);
let command = `deno task --config ${shellQuote(config)} chat`;
if (args[0]?.startsWith("--command=")) {
  command = args[0].slice("--command=".length);
  args = args.slice(1);
}

launch({
  deno: process.execPath,
  runFlags: ["--config", config],
  program: join(root, "src", "main.ts"),
  programFiles: [join(root, "src")],
  // works from any directory, as printed
  command,
  cwd: process.env.INIT_CWD || process.cwd(),
}, args);
