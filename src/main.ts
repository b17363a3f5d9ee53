/**
 * The one entrypoint: `chat serve`, `chat join`, `chat check`, `chat admin`, `chat bench`,
 * `chat --help`,
 * `chat --version`.
 * Every failure ends as one sentence on stderr and an exit code: 2 for usage, 1 otherwise.
 */
import {
  ADMIN_HELP,
  CHECK_HELP,
  JOIN_HELP,
  MAIN_HELP,
  parseAdminArgs,
  parseCheckArgs,
  parseJoinArgs,
  parseServeArgs,
  SERVE_HELP,
  UsageError,
} from "./cli/args.ts";
import { PromptCancelled } from "./ui/ask.ts";
import { VERSION } from "./version.ts";
import { sanitizeLine } from "./ui/sanitize.ts";
import { isSearchWorker, runSearchWorker } from "./server/search/worker_main.ts";
import { workerData } from "node:worker_threads";
import { isPostgresWorkerData } from "./server/store/postgres_bridge.ts";

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "serve": {
        const args = parseServeArgs(rest);
        if (args.help) return print(SERVE_HELP);
        // each command's code is loaded on demand: a client does not carry the server's
        const { runServe } = await import("./cli/serve.ts");
        return await runServe(args);
      }
      case "join": {
        const args = parseJoinArgs(rest);
        if (args.help) return print(JOIN_HELP);
        const { runJoin } = await import("./cli/join.ts");
        return await runJoin(args);
      }
      case "check": {
        const args = parseCheckArgs(rest);
        if (args.help) return print(CHECK_HELP);
        const { runCheck } = await import("./cli/check.ts");
        return await runCheck(args);
      }
      case "admin": {
        const args = parseAdminArgs(rest);
        if (args.help) return print(ADMIN_HELP);
        const { runAdmin } = await import("./cli/admin.ts");
        return await runAdmin(args);
      }
      case "bench": {
        const { runBench } = await import("./bench/bench.ts");
        return await runBench(rest);
      }
      case "--version":
      case "-V":
        return print(`chat ${VERSION}\n`);
      case "--help":
      case "-h":
      case "help":
        return print(MAIN_HELP);
      case undefined:
        console.error(MAIN_HELP.trimEnd());
        return 2;
      default:
        throw new UsageError(
          `unknown command "${command}"; the commands are serve, join, check, admin and bench`,
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      const sub = ["join", "serve", "check", "admin", "bench"].includes(command ?? "")
        ? `${command} `
        : "";
      console.error(`chat: ${error.message} (see chat ${sub}--help)`);
      return 2;
    }
    if (error instanceof PromptCancelled) {
      console.error("chat: cancelled at the prompt");
      return 1;
    }
    if (error instanceof Deno.errors.NotCapable) {
      // the launcher grants each command what it needs (cli/permissions.ts): this is our bug
      console.error(
        `chat: ${error.message.replace(/, run again with.*$/, "")}, which this command was not ` +
          "granted; please report it",
      );
      return 1;
    }
    // every expected failure is an Error with a readable message; never show a stack trace
    const message = error instanceof Error ? error.message : String(error);
    // it may quote the server (a refusal, a certificate's names): printed safe
    console.error(`chat: ${sanitizeLine(message)}`);
    return 1;
  }
}

function print(text: string): number {
  console.log(text.trimEnd());
  return 0;
}

if (isSearchWorker()) {
  // the single-file bundle started as the server's search worker (server/search/): no CLI here
  runSearchWorker();
} else if (isPostgresWorkerData(workerData)) {
  // …or as the PostgreSQL store's worker (server/store/postgres.ts), which loads the driver
  const { runPostgresWorker } = await import("./server/store/postgres_worker_main.ts");
  runPostgresWorker(workerData);
} else if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
