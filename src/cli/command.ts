/**
 * How a person runs chat where this process runs, for the join command `chat serve` prints:
 * the launcher says so (CHAT_COMMAND: `chat` when installed, the `deno task` form in a
 * checkout); otherwise this very process's form, which works as printed on this machine.
 */
import { fileURLToPath } from "node:url";
import { shellQuote } from "./quote.ts";
import { ENV } from "./options.ts";
import type { Env } from "./args.ts";

export function chatCommand(env: Env): string {
  const given = env(ENV.command);
  if (given) return given;
  if (Deno.build.standalone) return shellQuote(Deno.execPath());
  const main = Deno.mainModule.startsWith("file:")
    ? fileURLToPath(Deno.mainModule)
    : Deno.mainModule;
  // started without a launcher (deno run -A …): the same again, from any directory
  const config = main.endsWith("/src/main.ts") ? main.replace(/src\/main\.ts$/, "deno.json") : "";
  let hasConfig = false;
  try {
    hasConfig = config !== "" && Deno.statSync(config).isFile;
  } catch { /* a bundle, or not allowed to look: run it as it is */ }
  return `deno run -A ${hasConfig ? `--config ${shellQuote(config)} ` : ""}${shellQuote(main)}`;
}
