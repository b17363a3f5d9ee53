/** What the join loop needs from any user interface: line modes and the interactive one alike. */
import type { ClientEvent } from "../client/state.ts";

export interface UiHandlers {
  /** One line the person typed (or one line of stdin). */
  onLine(line: string): void;
  /** The input ended: Ctrl+D, Ctrl+C, or the end of stdin. */
  onEnd(): void;
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
  /** Stops reading, flushes output, restores the terminal. */
  stop(): Promise<void>;
}
