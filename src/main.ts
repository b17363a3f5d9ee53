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

/**
 * The name the server gives its search worker (server/search/worker_main.ts SEARCH_WORKER_NAME;
 * tests/join_weight_test.ts holds them equal): checked here without loading the server's search
 * code (node:sqlite, re2js, zod), which every other command would carry for nothing.
 */
export const SEARCH_WORKER_NAME = "chat-search";

/** True in a worker started as the search worker (as worker_main.ts isSearchWorker). */
function startedAsSearchWorker(): boolean {
  return (globalThis as { name?: unknown }).name === SEARCH_WORKER_NAME &&
    typeof (globalThis as { postMessage?: unknown }).postMessage === "function";
}

if (startedAsSearchWorker()) {
  // the single-file bundle started as the server's search worker (server/search/): no CLI here.
  // What the server posts while the worker's code loads waits for its handler, in order.
  const scope = globalThis as unknown as { onmessage: ((event: MessageEvent) => void) | null };
  const early: MessageEvent[] = [];
  scope.onmessage = (event) => early.push(event);
  const { runSearchWorker } = await import("./server/search/worker_main.ts");
  runSearchWorker();
  for (const event of early) scope.onmessage?.(event);
} else if (isPostgresWorkerData(workerData)) {
  // …or as the PostgreSQL store's worker (server/store/postgres.ts), which loads the driver
  const { runPostgresWorker } = await import("./server/store/postgres_worker_main.ts");
  runPostgresWorker(workerData);
} else if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
