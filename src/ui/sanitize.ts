/**
 * Terminal safety: text from another person must never reach a terminal as control or escape
 * sequences (colour, cursor moves, title setting, hyperlinks, bidi overrides that reorder a line).
 */

// ESC/CSI/OSC/DCS sequences first (so their parameters go with them), then any lone control.
const ESCAPE_SEQUENCE =
  // deno-lint-ignore no-control-regex -- matching control characters is the point
  /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b[\]PX^_]|[\x90\x9d\x98\x9e\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c|$)|\x1b[ -/]*[0-~]?/g;
/** Beyond C0: DEL, C1 (8-bit CSI, OSC, ST ...) and the Unicode bidi controls. */
const BEYOND_C0 = "\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";
// C0 except tab and newline, and everything beyond C0
const CONTROL = new RegExp(`[\\x00-\\x08\\x0b-\\x1f${BEYOND_C0}]`, "g");
// JSON.stringify escapes C0 itself; the rest would reach a terminal raw from `--json | cat`.
// U+2028/2029 too: line-splitting readers (Python's splitlines) would cut an NDJSON line there.
const JSON_UNSAFE = new RegExp(`[${BEYOND_C0}\\u2028\\u2029]`, "g");

/** Removes escape sequences and control characters; keeps tabs (as spaces) and newlines. */
export function sanitize(text: string): string {
  return untab(sanitizeKeepingTabs(text));
}

/**
 * Like {@link sanitize}, but tabs stay tabs, for a caller that expands them to tab stops where it
 * knows the columns (bubble.ts expandTabs), so pasted columns line up.
 */
export function sanitizeKeepingTabs(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, "").replace(CONTROL, "");
}

/** Like {@link sanitize}, on one line: newlines become spaces. */
export function sanitizeLine(text: string): string {
  return oneLine(sanitizeKeepingTabs(text));
}

/** Tabs as four spaces, where no tab stops are kept (plain lines, notices). */
export function untab(text: string): string {
  return text.replace(/\t/g, "    ");
}

/** Text made safe already, on one line: tabs as four spaces, line breaks as spaces. */
export function oneLine(text: string): string {
  return untab(text).replace(/\r?\n/g, " ");
}

/**
 * `JSON.stringify`, one line, with every control and bidi control (the ones {@link sanitize}
 * strips, and U+2028/2029) written as `\uXXXX`: safe to print, and it parses back to the same
 * strings. Those characters only ever occur inside JSON strings, where the escape means the same.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    JSON_UNSAFE,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
