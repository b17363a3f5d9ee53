/**
 * The keys of the full-screen client, as a table: /help, `chat join --help` and the README list
 * them from here (tests/keymap_test.ts checks the README and that the UI handles each one).
 * Pure data: the line modes and the argument parser load it without loading the UI.
 */
import { twoColumns } from "../client/commands.ts";

export interface Binding {
  /** As a person reads them. */
  keys: string;
  /** The key names the UI receives for them (keys.ts), for the test that each one is handled. */
  names: string[];
  help: string;
}

/** How long a first Ctrl+C, with a line typed, waits for the second that leaves. */
export const QUIT_CONFIRM_MS = 2_000;

export const KEY_BINDINGS: Binding[] = [
  { keys: "Enter", names: ["enter"], help: "send the line" },
  { keys: "Alt+Enter", names: ["alt+enter"], help: "a new line in the same message" },
  {
    keys: "Tab, Shift+Tab",
    names: ["tab"],
    help: "complete @ids and /commands; again for the next one (a pasted tab stays text)",
  },
  { keys: "Up, Down", names: ["up", "down"], help: "recall what you typed before" },
  {
    keys: "Ctrl+U, Ctrl+K, Ctrl+W",
    names: ["ctrl+u", "ctrl+k", "ctrl+w"],
    help: "delete to the start of the line, to its end, the word before the cursor",
  },
  {
    keys: "PgUp, PgDn, wheel",
    names: ["pageUp", "pageDown"],
    help: "scroll the messages (Shift+drag selects text)",
  },
  {
    keys: "Alt+1 … Alt+9, Alt+0",
    names: [..."1234567890"].map((d) => `alt+${d}`),
    help: "look at 1 … 10 of the room list",
  },
  {
    keys: "Ctrl+N, Ctrl+P",
    names: ["ctrl+n", "ctrl+p"],
    help: "the next or previous in the list",
  },
  { keys: "Alt+A", names: ["alt+a"], help: "the one with news (for you first)" },
  { keys: "Esc", names: ["escape"], help: "close a panel, or jump to the newest messages" },
  { keys: "F2", names: ["f2"], help: "who is online" },
  { keys: "F3", names: ["f3"], help: "bubbles, or one line per message (like --layout lines)" },
  { keys: "Ctrl+R", names: ["ctrl+r"], help: "reconnect now, while disconnected (or /reconnect)" },
  { keys: "Ctrl+L", names: ["ctrl+l"], help: "draw the screen again" },
  {
    keys: "Ctrl+C",
    names: ["ctrl+c"],
    help: `leave (with a line typed: press it twice within ${QUIT_CONFIRM_MS / 1000} s)`,
  },
  { keys: "Ctrl+D", names: ["ctrl+d"], help: "leave, on an empty line" },
];

/** The keys as two columns (see {@link twoColumns}). */
export function keysText(columns = Infinity): string {
  return twoColumns(KEY_BINDINGS.map((b) => [b.keys, b.help]), columns);
}
