/**
 * The terminal, at the edge: raw mode, the alternate screen, bracketed paste and wheel
 * reporting on the way in; all of it undone on the way out — on a normal stop, on Deno.exit,
 * on an uncaught error, and on SIGTERM/SIGHUP — so the shell gets its screen back exactly.
 * Keys are read from stdin and decoded (keys.ts); writes are synchronous, so nothing is left
 * half-written when the process ends.
 */
import { decodeKeys, type Key } from "./keys.ts";

const CSI = "\x1b[";
/**
 * Alternate screen (saving the cursor), bracketed paste, mouse buttons (for the wheel) in SGR,
 * and autowrap off: a row the terminal finds wider than counted (a glyph it draws wider) is cut
 * at the right edge instead of wrapping onto the next row or, on the last row, scrolling the
 * whole screen.
 */
export const ENTER_SEQUENCE =
  `${CSI}?1049h${CSI}?2004h${CSI}?1000h${CSI}?1006h${CSI}?7l${CSI}?25l${CSI}H${CSI}2J`;
/** Every mode above turned off (autowrap back on), attributes reset, the cursor shown, the main screen back. */
export const LEAVE_SEQUENCE =
  `${CSI}0m${CSI}?7h${CSI}?1006l${CSI}?1000l${CSI}?2004l${CSI}?25h${CSI}?1049l`;

/** How long a lone ESC waits for the rest of a sequence before it counts as the Escape key. */
const ESC_WAIT_MS = 40;
/** How long an unfinished bracketed paste waits for its end marker. */
const PASTE_WAIT_MS = 1000;

const encoder = new TextEncoder();

export interface TerminalHandlers {
  onKey(key: Key): void;
  /** The window changed size. */
  onResize(): void;
  /** stdin ended or failed: the terminal is gone. */
  onEnd(): void;
  /** SIGINT from outside (Ctrl+C itself arrives as a key in raw mode). */
  onInterrupt(): void;
}

export interface Terminal {
  readonly cols: number;
  readonly rows: number;
  write(text: string): void;
  /** Undoes everything `openTerminal` did; safe to call more than once. */
  restore(): void;
  /** Whether the terminal is still ours. */
  readonly open: boolean;
}

function writeAllSync(text: string): void {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
}

function size(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
}

/** Takes over the terminal. */
export function openTerminal(handlers: TerminalHandlers): Terminal {
  let open = true;
  let broken = false;
  let { columns: cols, rows } = size();

  const write = (text: string) => {
    if (!open || broken || text === "") return;
    try {
      writeAllSync(text);
    } catch {
      broken = true; // the terminal went away; stdin's end will follow
    }
  };

  const signals: [Deno.Signal, () => void][] = [];
  const listen = (signal: Deno.Signal, handler: () => void) => {
    try {
      Deno.addSignalListener(signal, handler);
      signals.push([signal, handler]);
    } catch {
      // not on this platform
    }
  };

  const restore = () => {
    if (!open) return;
    open = false;
    for (const [signal, handler] of signals) {
      try {
        Deno.removeSignalListener(signal, handler);
      } catch {
        // already gone
      }
    }
    globalThis.removeEventListener("unload", restore);
    globalThis.removeEventListener("error", restore);
    globalThis.removeEventListener("unhandledrejection", restore);
    if (!broken) {
      try {
        writeAllSync(LEAVE_SEQUENCE);
      } catch {
        // nothing to restore on a terminal that is gone
      }
    }
    try {
      Deno.stdin.setRaw(false);
    } catch {
      // not a terminal any more
    }
  };

  // crash paths: an uncaught error, Deno.exit from anywhere, a kill
  globalThis.addEventListener("unload", restore);
  globalThis.addEventListener("error", restore);
  globalThis.addEventListener("unhandledrejection", restore);
  const die = (code: number) => () => {
    restore();
    Deno.exit(code);
  };
  listen("SIGTERM", die(143));
  listen("SIGHUP", die(129));
  listen("SIGQUIT", die(131));
  listen("SIGINT", () => handlers.onInterrupt());
  listen("SIGWINCH", () => {
    ({ columns: cols, rows } = size());
    handlers.onResize();
  });

  Deno.stdin.setRaw(true);
  write(ENTER_SEQUENCE);

  // keys
  (async () => {
    const buffer = new Uint8Array(64 * 1024);
    const decoder = new TextDecoder();
    let rest = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const emit = (keys: Key[]) => {
      for (const key of keys) if (open) handlers.onKey(key);
    };
    try {
      while (open) {
        const n = await Deno.stdin.read(buffer);
        if (n === null || !open) break;
        clearTimeout(timer);
        const decoded = decodeKeys(rest + decoder.decode(buffer.subarray(0, n), { stream: true }));
        rest = decoded.rest;
        emit(decoded.keys);
        if (rest !== "") {
          timer = setTimeout(() => {
            const last = decodeKeys(rest, true);
            rest = "";
            emit(last.keys);
          }, rest.startsWith(`${CSI}200~`) ? PASTE_WAIT_MS : ESC_WAIT_MS);
        }
      }
    } catch {
      // stdin failed: the terminal is gone
    }
    clearTimeout(timer);
    if (open) handlers.onEnd();
  })();

  return {
    get cols() {
      return cols;
    },
    get rows() {
      return rows;
    },
    write,
    restore,
    get open() {
      return open;
    },
  };
}
