/** `chat bench`: see issue 6. Placeholder until the load generator lands. */
import { UsageError } from "../cli/args.ts";

export function runBench(_argv: string[]): Promise<number> {
  throw new UsageError("chat bench is not built yet");
}
