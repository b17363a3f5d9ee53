/**
 * Whether the store is failing, told to the operator once when it starts and once when it ends:
 * a full disk refuses every write, and a line per refused message would bury the cause.
 */
import type { Log } from "../log.ts";

export class StoreHealth {
  #failing?: { since: number; refused: number };

  constructor(
    readonly log: Log,
    readonly now: () => number = Date.now,
  ) {}

  get failing(): boolean {
    return this.#failing !== undefined;
  }

  /** A store call failed while doing `what`; logged when it is the first failure in a row. */
  failed(what: string, error: unknown): void {
    if (this.#failing) {
      this.#failing.refused++;
      return;
    }
    this.#failing = { since: this.now(), refused: 1 };
    const cause = error instanceof Error ? error.message : String(error);
    this.log.error(
      `the history database failed while ${what}; ` +
        "writes are refused (reads and connections go on) until it works again",
      { cause },
    );
  }

  /** A store write succeeded: if it had been failing, say that it recovered. */
  ok(): void {
    if (!this.#failing) return;
    const { since, refused } = this.#failing;
    this.#failing = undefined;
    const seconds = Math.round((this.now() - since) / 1000);
    this.log.info("the history database works again", { refused, seconds });
  }
}
