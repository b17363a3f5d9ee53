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

/**
 * A command whose arguments are parsed here: print its help when asked, else load its code and run
 * it. The code is loaded on demand: a client does not carry the server's.
 */
function withHelp<A extends { help: boolean }>(
  parse: (argv: string[]) => A,
  help: string,
  load: () => Promise<(args: Exclude<A, { help: true }>) => Promise<number>>,
): (argv: string[]) => Promise<number> {
  return async (argv) => {
    const args = parse(argv);
    if (args.help) return print(help);
    // not narrowed by the test above, A being generic: what is left is A without its help form
    return await (await load())(args as Exclude<A, { help: true }>);
  };
}

/** The commands by name (bench parses its own arguments). */
const COMMANDS = new Map<string, (argv: string[]) => Promise<number>>(Object.entries({
  serve: withHelp(
    parseServeArgs,
    SERVE_HELP,
    async () => (await import("./cli/serve.ts")).runServe,
  ),
  join: withHelp(parseJoinArgs, JOIN_HELP, async () => (await import("./cli/join.ts")).runJoin),
  check: withHelp(
    parseCheckArgs,
    CHECK_HELP,
    async () => (await import("./cli/check.ts")).runCheck,
  ),
  admin: withHelp(
    parseAdminArgs,
    ADMIN_HELP,
    async () => (await import("./cli/admin.ts")).runAdmin,
  ),
  bench: async (argv: string[]) => (await import("./bench/bench.ts")).runBench(argv),
}));

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const run = COMMANDS.get(command ?? "");
    if (run) return await run(rest);
    switch (command) {
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
      const sub = COMMANDS.has(command ?? "") ? `${command} ` : "";
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
