/** What the join loop needs from any user interface: line modes and the interactive one alike. */
import type { ConnectionStatus } from "../client/client.ts";
import type { ClientEvent, ClientState } from "../client/state.ts";
import type { HelpTopic } from "../client/commands.ts";

/** What every UI is given to draw from. */
export interface UiContext {
  /** The client's state: who I am, who is online, every message shown (deletions applied). */
  state: ClientState;
  /** The server as the person named it (`host:port`). */
  server: string;
  /** Ring the terminal bell on a direct message or a mention (`--no-bell` turns it off). */
  bell: boolean;
  /** Use colours (off with `--no-color` or NO_COLOR; bold, underline and inverse stay). */
  color: boolean;
  /** How the full-screen UI shows messages at first: speech bubbles, or one line each. */
  layout?: Layout;
}

/** Speech bubbles, or one line per message as in irssi (`12:43 #ref <alice> text`). */
export type Layout = "bubbles" | "lines";

export interface UiHandlers {
  /** One line the person typed (or one line of stdin). */
  onLine(line: string): void | Promise<void>;
  /** The input ended: Ctrl+D, Ctrl+C, or the end of stdin. */
  onEnd(): void;
  /**
   * Asks for the earlier messages of the room what is typed goes to, as /history does (the
   * full-screen UI, on looking at a room that shows none yet); absent: they are not asked for.
   */
  onHistory?(): void;
}

export interface Ui {
  /** Starts reading input. */
  start(handlers: UiHandlers): void;
  /** Shows what happened. */
  show(events: ClientEvent[]): void;
  /** A message from the client itself (help text, a hint). */
  notice(text: string): void;
  /** A mistake of the person's, caught before anything was sent. */
  localError(text: string): void;
  /** The commands (and, on a terminal, the keys): /help; `operators`: /help ops. */
  help(topic?: HelpTopic): void;
  /** The connection's state changed. */
  status(status: ConnectionStatus): void;
  /** The person asked to leave (/exit, Ctrl+C, Ctrl+D, the end of stdin): the client is finishing up. */
  leaving(): void;
  /**
   * Empties the view (/clear): the full-screen UI's message area, a terminal's screen in
   * --plain; elsewhere it says there is nothing to clear.
   */
  clear?(): void;
  /** Stops reading, flushes output, restores the terminal. */
  stop(): Promise<void>;
}
