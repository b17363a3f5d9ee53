/**
 * What of the client's events a person is shown: the filter between the client's state and its
 * UI. Messages (mentions and bells with them, and those of a /history page), joins, leaves, aways
 * and invitations of people ignored are not shown; joins and leaves go through the smart filter
 * (smart_filter.ts). In --json everything is passed on, for scripts: a message from someone
 * ignored is only marked `ignored`.
 */
import type { IgnoreList } from "./ignore.ts";
import { SmartFilter } from "./smart_filter.ts";
import type { ClientEvent } from "./state.ts";

export interface ViewOptions {
  ignores: IgnoreList;
  /** The room looked at (where what is typed goes), now. */
  here(): string;
  now(): number;
  /** --json: nothing is left out. */
  everything: boolean;
}

export class View {
  readonly #o: ViewOptions;
  readonly #smart: SmartFilter;

  constructor(options: ViewOptions) {
    this.#o = options;
    this.#smart = new SmartFilter(options.now);
  }

  /** The events to show, of those the client reported. */
  filter(events: ClientEvent[]): ClientEvent[] {
    const { ignores, everything } = this.#o;
    const out: ClientEvent[] = [];
    for (const event of events) {
      if (event.type === "message") {
        const m = event.message;
        this.#smart.spoke(m.from, m.room, m.time);
        if (!ignores.has(m.from)) out.push(event);
        else if (everything) out.push({ ...event, message: { ...m, ignored: true } });
        continue;
      }
      if (everything) {
        out.push(event);
        continue;
      }
      if (event.type === "presence") {
        const who = event.joined ?? event.left;
        if (who === undefined) {
          out.push(event); // a large room's count
          continue;
        }
        if (ignores.has(who.id)) continue;
        const change = { user: who.id, joined: event.joined !== undefined, online: event.online };
        const room = event.room !== undefined ? { room: event.room } : {};
        if (this.#smart.show({ ...change, ...room }, this.#o.here())) out.push(event);
        continue;
      }
      if (event.type === "away" && !event.mine && ignores.has(event.user)) continue;
      // a page of /history is shown as messages are: without those of people ignored
      if (event.type === "results" && event.history) {
        out.push({ ...event, messages: event.messages.filter((m) => !ignores.has(m.from)) });
        continue;
      }
      // anyone may invite anyone to a room of theirs: from someone ignored, it is not shown
      if (event.type === "room" && event.toMe && event.by !== undefined && ignores.has(event.by)) {
        continue;
      }
      out.push(event);
    }
    return out;
  }

  /** Summaries of joins and leaves not shown, when due (see SmartFilter.summaries). */
  summaries(): string[] {
    return this.#o.everything ? [] : this.#smart.summaries();
  }
}
