/**
 * One run of `chat join` once it is in: each line typed (or read from stdin) is parsed once and
 * done by its row of the command table, messages are sent within the outbox's bound, and
 * leaving waits — boundedly — for the server to answer what was sent, then says what is left.
 * The join command (cli/join.ts) wires it to a ChatClient, the outbox on disk and a UI.
 */
import { ID_PATTERN } from "../protocol/rules.ts";
import type { ChatClient, Ending, SendFrame } from "./client.ts";
import { type Clock, systemClock } from "./clock.ts";
import {
  type CommandContext,
  type HelpTopic,
  type Outgoing,
  parseInput,
  perform,
} from "./commands.ts";
import type { Ignores } from "./ignore.ts";
import { MAX_OUTBOX_MESSAGES } from "./outbox.ts";
import type { ClientState } from "./state.ts";

/** How often a script's input, held back by a full outbox, looks for room again. */
export const OUTBOX_WAIT_MS = 100;
/** Longest wait, at the end of stdin, for the server to answer what was sent (reconnects included). */
export const DRAIN_TIMEOUT_MS = 30_000;
/**
 * Longest wait on /exit or Ctrl+C in the interactive client, while connected: a person is
 * waiting. Disconnected, it does not wait at all: what is unsent is kept on disk (outbox.ts).
 */
export const EXIT_DRAIN_MS = 3_000;

/** "N message(s)". */
export const messages = (n: number) => `${n} message${n === 1 ? "" : "s"}`;

/** What a chat tells the person; every UI (ui/ui.ts) is one. */
export interface ChatUi {
  notice(text: string): void;
  localError(text: string): void;
  help(topic?: HelpTopic): void;
  /** The person asked to leave: the client is finishing up. */
  leaving(): void;
  /** Empties the view (/clear), where there is one. */
  clear?(): void;
}

export interface ChatOptions {
  client: ChatClient;
  state: ClientState;
  ui: ChatUi;
  /**
   * A person at a terminal, else a script. A script's input waits for room in a full outbox
   * (nothing it wrote is dropped), its leaving waits for answers even while disconnected, and
   * its exit code says whether everything went.
   */
  interactive: boolean;
  /** The outbox on disk (outbox.ts outboxWriter). */
  outbox: { save(frames: SendFrame[]): void; flush(): Promise<boolean> };
  /** Saves what is unsent now and tells the client it is kept. */
  keepUnsent(): void;
  /** This id on this server (`host:port`), for the last words. */
  id: string;
  where: string;
  clock?: Clock;
  /** The people ignored on this server, kept on disk (ignore.ts). */
  ignores?: Ignores;
}

/** What is said once the client has stopped, and the exit code. */
export interface Farewell {
  words: string[];
  code: number;
}

export class Chat {
  readonly #o: ChatOptions;
  readonly #clock: Clock;
  #over = false;
  #leaving?: Promise<void>;
  #code = 0;
  readonly #words: string[] = [];
  /** What the commands act through: this client and the UI. */
  readonly context: CommandContext;

  constructor(options: ChatOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    options.client.ended.then(() => (this.#over = true));
    const { client, state, ui } = options;
    this.context = {
      send: (message) => this.#send(message),
      request: (request) => client.request(request),
      resolveRef: (typed) => state.resolveRef(typed),
      here: () => state.room,
      reconnectNow: () => client.reconnectNow(),
      notice: (text) => ui.notice(text),
      error: (text) => ui.localError(text),
      help: (topic) => ui.help(topic),
      leave: () => void this.leave(EXIT_DRAIN_MS),
      ignores: options.ignores,
      clear: ui.clear ? () => ui.clear!() : undefined,
      oldest: (room) => state.oldest(room),
    };
  }

  /** One line typed; resolves when the next may be read (see #send). */
  line(line: string): void | Promise<void> {
    return perform(parseInput(line), this.context);
  }

  /**
   * Waits (at most `drainMs`) for the server to answer what was sent, then says goodbye. A
   * person leaving while disconnected does not wait: the messages not sent yet are kept on disk
   * and go out on the next join; the last words say how many.
   */
  leave(drainMs: number): Promise<void> {
    this.#o.ui.leaving();
    return this.#leaving ??= (async () => {
      const { client, interactive, outbox, id, where } = this.#o;
      if (client.unsent().length > 0) this.#o.keepUnsent(); // kept even if the wait is cut short
      const wait = !interactive || client.connected;
      const answered = wait ? await client.drain(drainMs) : client.unanswered === 0;
      const unsent = client.unsent();
      outbox.save(unsent);
      const saved = await outbox.flush();
      if (unsent.length > 0) {
        this.#words.push(
          saved
            ? `${messages(unsent.length)} not sent yet: ${
              unsent.length === 1 ? "it goes" : "they go"
            } out the next time you join as ${id} on ${where}`
            : `${messages(unsent.length)} could not be sent, nor kept on disk`,
        );
        if (!saved || !interactive) this.#code = 1;
      } else if (!answered && client.unanswered > 0 && !interactive) {
        this.#words.push(
          `${client.unanswered} request(s) were not acknowledged by the server before leaving`,
        );
        this.#code = 1;
      }
      client.close();
    })();
  }

  /** Once the client has ended: what to say last, and the exit code. */
  async farewell(ending: Ending): Promise<Farewell> {
    await this.#leaving;
    if (!this.#leaving) {
      // the client stopped on its own (refused, signed out): what was unsent stays on disk
      const unsent = this.#o.client.unsent();
      this.#o.outbox.save(unsent);
      if (unsent.length > 0 && await this.#o.outbox.flush()) {
        this.#words.push(
          `${messages(unsent.length)} not sent yet: kept for the next join as ${this.#o.id}`,
        );
      }
    }
    return { words: this.#words, code: ending.code !== 0 ? ending.code : this.#code };
  }

  /** No room for another unsent message: disconnected, with the outbox full. */
  #outboxFull(): boolean {
    const { client } = this.#o;
    return !client.connected && client.unsent().length >= MAX_OUTBOX_MESSAGES;
  }

  /**
   * Sends a message. Disconnected with the outbox full, a person is told it was not sent; a
   * script's input is not read further until there is room (nothing it wrote is dropped).
   */
  async #send(message: Outgoing): Promise<void> {
    const { client, ui, interactive, state } = this.#o;
    if (this.#outboxFull() && !interactive) {
      while (this.#outboxFull() && !this.#over) {
        await new Promise<void>((resolve) => this.#clock.after(OUTBOX_WAIT_MS, resolve));
      }
    }
    if (this.#outboxFull()) {
      return ui.localError(
        `not sent: you are not connected, and ${MAX_OUTBOX_MESSAGES} messages (the most kept) ` +
          "are waiting to be sent already",
      );
    }
    // a public message goes to the room typed in (a reply goes where its original is)
    const room = message.to === undefined && message.replyTo === undefined
      ? { room: message.room ?? state.room }
      : {};
    client.request({ type: "send", ...message, ...room }).then((answer) => {
      const waiting = answer.type === "ack" ? this.#waitingFor(message.to) : [];
      if (waiting.length > 0) {
        ui.notice(
          `${waiting.join(", ")} ${waiting.length === 1 ? "is" : "are"} not online: ` +
            "the message waits on the server and reaches them when they join",
        );
      }
    });
  }

  /** Recipients that are exact ids of people not online: the message waits for them. */
  #waitingFor(to: string[] | undefined): string[] {
    const { state } = this.#o;
    // only a complete list of who is online can say who is not (a large room sends the first)
    if (!to || state.users.size < state.online) return [];
    const online = new Set([...state.users.keys()].map((u) => u.toLowerCase()));
    return to.filter((r) => ID_PATTERN.test(r) && !online.has(r.toLowerCase()));
  }
}
