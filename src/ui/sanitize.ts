/**
 * Terminal safety: text from another person must never reach a terminal as control or escape
 * sequences (colour, cursor moves, title setting, hyperlinks, bidi overrides that reorder a line).
 */

// ESC/CSI/OSC/DCS sequences first (so their parameters go with them), then any lone control.
const ESCAPE_SEQUENCE =
  // deno-lint-ignore no-control-regex -- matching control characters is the point
  /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b[\]PX^_]|[\x90\x9d\x98\x9e\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c|$)|\x1b[ -/]*[0-~]?/g;
// C0 except tab and newline, DEL, C1, and the Unicode bidi controls
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Removes escape sequences and control characters; keeps tabs (as spaces) and newlines. */
export function sanitize(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, "").replace(CONTROL, "").replace(/\t/g, "    ");
}

/** Like {@link sanitize}, on one line: newlines become spaces. */
export function sanitizeLine(text: string): string {
  return sanitize(text).replace(/\r?\n/g, " ");
}
