/**
 * Terminal input bytes (as text) → keys. Pure: the caller keeps the undecoded rest (a sequence
 * cut between two reads, or a paste still arriving) and passes it back with the next chunk.
 *
 * Understands the xterm family: arrows, Home/End, PgUp/PgDn, Delete, F-keys, modifiers
 * (`ESC[1;5C` is Ctrl+Right), Alt+key as ESC+key, bracketed paste (`ESC[200~`…`ESC[201~`) and
 * SGR mouse reports (`ESC[<64;x;yM` is the wheel). Anything else that starts with ESC is
 * swallowed whole, so no escape sequence ever lands in the input line as text.
 *
 * @example
 * ```ts
 * let rest = "";
 * for await (const chunk of chunks) {
 *   const decoded = decodeKeys(rest + chunk);
 *   rest = decoded.rest;
 *   for (const key of decoded.keys) handle(key);
 * }
 * ```
 */

export type KeyName =
  | "enter"
  | "tab"
  | "backspace"
  | "delete"
  | "insert"
  | "escape"
  | "up"
  | "down"
  | "left"
  | "right"
  | "home"
  | "end"
  | "pageUp"
  | "pageDown"
  | `f${number}`
  | `ctrl+${string}`
  | `alt+${string}`;

export type Key =
  /** Typed characters (one read may carry several). */
  | { kind: "text"; text: string }
  /** Pasted text: bracketed paste, or a burst that had a newline inside it. */
  | { kind: "paste"; text: string }
  /** The mouse wheel over row `y` (0-based): -1 up, +1 down. */
  | { kind: "wheel"; delta: -1 | 1; x: number; y: number }
  | { kind: "key"; name: KeyName; shift?: boolean; ctrl?: boolean; alt?: boolean };

export interface Decoded {
  keys: Key[];
  /** Undecoded input to pass back with the next chunk. */
  rest: string;
}

const PASTE_START = "\x1b[200~";
const PASTE_END = "\x1b[201~";
/** A paste whose end marker never comes is let through (and refused for its size) past this. */
export const MAX_PENDING_PASTE = 1 << 20;

const TILDE_KEYS: Record<string, KeyName> = {
  "1": "home",
  "2": "insert",
  "3": "delete",
  "4": "end",
  "5": "pageUp",
  "6": "pageDown",
  "7": "home",
  "8": "end",
  "11": "f1",
  "12": "f2",
  "13": "f3",
  "14": "f4",
  "15": "f5",
  "17": "f6",
  "18": "f7",
  "19": "f8",
  "20": "f9",
  "21": "f10",
  "23": "f11",
  "24": "f12",
};

const LETTER_KEYS: Record<string, KeyName> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
  P: "f1",
  Q: "f2",
  R: "f3",
  S: "f4",
};

/**
 * The Alt+key keys the UI has (input.ts: word moves and deletes; tui.ts: Alt+A and Alt+0…9 pick
 * a view); others are Esc, then text.
 */
export const ALT_LETTERS = new Set(["a", "b", "d", "f", ..."0123456789"]);

function key(name: KeyName, modifier = 1): Key {
  const bits = Math.max(0, modifier - 1);
  const k: Key = { kind: "key", name };
  if (bits & 1) k.shift = true;
  if (bits & 2) k.alt = true;
  if (bits & 4) k.ctrl = true;
  return k;
}

/** Control characters other than Enter, Tab, Backspace and ESC: Ctrl+letter. */
function controlKey(code: number): Key | undefined {
  switch (code) {
    case 0x0d:
    case 0x0a:
      return key("enter");
    case 0x09:
      return key("tab");
    case 0x08:
    case 0x7f:
      return key("backspace");
  }
  if (code >= 0x01 && code <= 0x1a) {
    return key(`ctrl+${String.fromCharCode(code + 0x60)}` as KeyName);
  }
  return undefined; // NUL, ^\ ^] ^^ ^_: nothing
}

/** Normalises pasted text: CRLF and CR become LF. */
function pasted(text: string): Key {
  return { kind: "paste", text: text.replace(/\r\n?/g, "\n") };
}

// deno-lint-ignore no-control-regex -- printable means "not a control character"
const PRINTABLE = /[^\x00-\x1f\x7f-\x9f]/;
// deno-lint-ignore no-control-regex -- likewise
const CONTROL_RUN = /^[^\x00-\x1f\x7f-\x9f]+/;

/**
 * Decodes as much of `input` as forms whole keys. With `final` (nothing more came for a
 * moment), a lone ESC is the Escape key and a cut sequence is dropped rather than kept.
 */
export function decodeKeys(input: string, final = false): Decoded {
  const keys: Key[] = [];
  // A burst of typed text with a line break or a tab inside (not just a line break, or a single
  // Tab, at its end) was pasted by a terminal without bracketed paste: one paste (not sent until
  // Enter), never a flood of lines, and its tabs are text, not completion. Keys typed faster
  // than they are read ("@ali" then Tab) end with the Tab: that one is the key.
  if (!input.includes("\x1b")) {
    const inner = input.replace(/[\r\n]+$/, "");
    const typedThenTab = /^[^\r\n\t]+\t$/.test(inner);
    if (!typedThenTab && /[\r\n\t]/.test(inner) && PRINTABLE.test(inner)) {
      return { keys: [pasted(inner)], rest: "" };
    }
  }
  let i = 0;
  while (i < input.length) {
    const ch = input[i];
    const code = ch.charCodeAt(0);
    if (ch !== "\x1b") {
      const run = CONTROL_RUN.exec(input.slice(i));
      if (run) {
        keys.push({ kind: "text", text: run[0] });
        i += run[0].length;
        continue;
      }
      const k = controlKey(code);
      if (k) keys.push(k);
      i++;
      continue;
    }
    // ESC: a sequence, Alt+key, or the Escape key itself
    if (input.startsWith(PASTE_START, i)) {
      const end = input.indexOf(PASTE_END, i + PASTE_START.length);
      if (end < 0) {
        if (input.length - i > MAX_PENDING_PASTE || final) {
          keys.push(pasted(input.slice(i + PASTE_START.length)));
          return { keys, rest: "" };
        }
        return { keys, rest: input.slice(i) };
      }
      keys.push(pasted(input.slice(i + PASTE_START.length, end)));
      i = end + PASTE_END.length;
      continue;
    }
    const next = input[i + 1];
    if (next === undefined) {
      if (final) keys.push(key("escape"));
      return { keys, rest: final ? "" : input.slice(i) };
    }
    if (next === "[") {
      const consumed = csi(input, i, keys, final);
      if (consumed === 0) return { keys, rest: input.slice(i) };
      i += consumed;
      continue;
    }
    if (next === "O") {
      const last = input[i + 2];
      if (last === undefined) {
        if (final) {
          keys.push({ kind: "key", name: "alt+o", alt: true });
          return { keys, rest: "" };
        }
        return { keys, rest: input.slice(i) };
      }
      const name = LETTER_KEYS[last];
      if (name) keys.push(key(name));
      i += 3;
      continue;
    }
    if (next === "\x1b") {
      keys.push(key("escape"));
      i += 1;
      continue;
    }
    // Alt+key, for the Alt keys the UI has; ESC and any other character in one read is the
    // Escape key and then that character (Esc pressed, then "/search …", arriving together): a
    // character is never swallowed as an Alt key that does nothing
    const nextCode = next.charCodeAt(0);
    if (nextCode === 0x7f || nextCode === 0x08) {
      keys.push({ kind: "key", name: "alt+backspace", alt: true });
    } else if (nextCode === 0x0d) {
      keys.push({ kind: "key", name: "alt+enter", alt: true });
    } else if (ALT_LETTERS.has(next)) {
      keys.push({ kind: "key", name: `alt+${next}` as KeyName, alt: true });
    } else {
      keys.push(key("escape"));
      i += 1;
      continue;
    }
    i += 2;
  }
  return { keys, rest: "" };
}

/**
 * Decodes one CSI sequence at `input[i]` (which is ESC, then `[`); returns the characters it
 * took, or 0 when the sequence is not complete yet.
 */
function csi(input: string, i: number, keys: Key[], final: boolean): number {
  // X10 mouse report: ESC [ M and three bytes
  if (input[i + 2] === "M") {
    if (input.length < i + 6) return final ? input.length - i : 0;
    const b = input.charCodeAt(i + 3) - 32;
    const x = input.charCodeAt(i + 4) - 33;
    const y = input.charCodeAt(i + 5) - 33;
    if (b & 64) keys.push({ kind: "wheel", delta: b & 1 ? 1 : -1, x, y });
    return 6;
  }
  let j = i + 2;
  while (j < input.length && /[0-?]/.test(input[j])) j++;
  while (j < input.length && /[ -/]/.test(input[j])) j++;
  if (j >= input.length) return final ? input.length - i : 0;
  const finalChar = input[j];
  const length = j + 1 - i;
  if (!/[@-~]/.test(finalChar)) return length - 1; // malformed: drop what came before it
  const params = input.slice(i + 2, j);
  if (params.startsWith("<")) {
    // SGR mouse: ESC [ < b ; x ; y M|m
    const [b, x, y] = params.slice(1).split(";").map(Number);
    if (finalChar === "M" && b & 64 && !(b & 2)) {
      keys.push({ kind: "wheel", delta: b & 1 ? 1 : -1, x: x - 1, y: y - 1 });
    }
    return length;
  }
  const numbers = params.split(";");
  const modifier = Number(numbers[1] ?? 1) || 1;
  if (finalChar === "~") {
    const name = TILDE_KEYS[numbers[0]];
    if (name) keys.push(key(name, modifier));
    return length;
  }
  if (finalChar === "Z") {
    keys.push({ kind: "key", name: "tab", shift: true });
    return length;
  }
  const name = LETTER_KEYS[finalChar];
  if (name) keys.push(key(name, modifier));
  return length;
}
