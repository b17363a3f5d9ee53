/**
 * Screens → bytes for the terminal. Each composed row (styled segments, screen.ts) is written as
 * text with SGR styles (style.ts) and OSC 8 links, once: a row that comes back unchanged (the
 * same line, as the pane's cached bubbles are) is not written again. A frame is painted over the
 * previous one by rewriting only the rows that changed, inside a synchronized update, and then
 * the cursor is put where the input line's cursor is.
 *
 * No row can spill into another, whatever width the terminal gives a glyph: each row is placed by
 * absolute cursor position and cleared first, autowrap is off while the UI runs (terminal.ts), and
 * a row's pinned tail (a bubble's right border) is placed at its column by absolute position too,
 * then the rest of the row cleared — so a terminal that draws a glyph wider than counted hides
 * text under the border instead of pushing the border out of line.
 */

import type { StyledLine } from "../bubble.ts";
import { fit, splitPinned } from "./screen.ts";
import { sgrFor } from "./style.ts";

const CSI = "\x1b[";
/** Begin / end a synchronized update (terminals that don't know it ignore it). */
export const SYNC_START = `${CSI}?2026h`;
export const SYNC_END = `${CSI}?2026l`;
export const HIDE_CURSOR = `${CSI}?25l`;
export const SHOW_CURSOR = `${CSI}?25h`;

/** One row to paint: its text from the first column, and what is pinned at a column after it. */
export interface PaintRow {
  text: string;
  /** Drawn at column `col` (0-based); the row is cleared after it when `end` < the columns. */
  tail?: { col: number; text: string; end: number };
}

const normal = (row: string | PaintRow | undefined): PaintRow =>
  typeof row === "string" ? { text: row } : row ?? { text: "" };

const same = (a: PaintRow, b: PaintRow) =>
  a.text === b.text && a.tail?.col === b.tail?.col && a.tail?.text === b.tail?.text &&
  a.tail?.end === b.tail?.end;

/** A row the terminal holds but no frame drew (scrolled in): never the same as one to draw. */
const BLANK: PaintRow = { text: "\0" };

/**
 * How many rows the region's content moved up from `previous` to `next` — the most rows kept
 * by scrolling, if scrolling keeps more than repainting in place would — or 0.
 */
function scrolledBy(
  previous: readonly (string | PaintRow)[],
  next: readonly (string | PaintRow)[],
  top: number,
  height: number,
): number {
  let kept = 0;
  for (let i = top; i < top + height; i++) if (same(normal(previous[i]), normal(next[i]))) kept++;
  let best = 0;
  const first = normal(next[top]);
  for (let k = 1; k < height; k++) {
    if (!same(normal(previous[top + k]), first)) continue;
    let matched = 0;
    for (let i = top; i < top + height - k; i++) {
      if (same(normal(previous[i + k]), normal(next[i]))) matched++;
    }
    if (matched > kept) {
      kept = matched;
      best = k;
    }
  }
  return best;
}

/**
 * What to write to show `next` where `previous` was (undefined: the screen is in an unknown
 * state — after a resize or Ctrl+L — so everything is drawn afresh). With `scroll` (the message
 * pane), content that moved up is scrolled by the terminal inside that region (DECSTBM, then
 * index at its bottom) and only the rows it brings in are written: in a busy room a frame writes
 * the new messages' rows instead of every row of the pane.
 */
export function paintFrame(
  previous: readonly (string | PaintRow)[] | undefined,
  next: readonly (string | PaintRow)[],
  rows: number,
  cursor: { x: number; y: number } | undefined,
  cols = Infinity,
  scroll?: { top: number; height: number },
): string {
  let out = SYNC_START + HIDE_CURSOR;
  if (!previous) out += `${CSI}0m${CSI}H${CSI}2J`;
  else if (scroll && scroll.height > 1 && scroll.top >= 0 && scroll.top + scroll.height <= rows) {
    const { top, height } = scroll;
    const k = scrolledBy(previous, next, top, height);
    if (k > 0) {
      // the region's rows move up k inside it (rows above and below stay); IND at its bottom
      // scrolls the region in every terminal since the VT100. DECSTBM's reset homes the cursor.
      out += `${CSI}0m${CSI}${top + 1};${top + height}r${CSI}${top + height};1H` +
        "\x1bD".repeat(k) + `${CSI}r`;
      const moved = [...previous];
      for (let i = top; i < top + height; i++) {
        moved[i] = i + k < top + height ? previous[i + k] : BLANK;
      }
      previous = moved;
    }
  }
  for (let row = 0; row < rows; row++) {
    const line = normal(next[row]);
    if (previous && same(normal(previous[row]), line)) continue;
    out += `${CSI}${row + 1};1H${CSI}0m${CSI}2K${line.text}${CSI}0m`;
    const tail = line.tail;
    if (tail) {
      out += `${CSI}${row + 1};${tail.col + 1}H${tail.text}${CSI}0m`;
      if (tail.end < cols) out += `${CSI}K`;
    }
  }
  if (cursor) out += `${CSI}${cursor.y + 1};${cursor.x + 1}H${SHOW_CURSOR}`;
  return out + SYNC_END;
}

/** OSC 8: `text` as a hyperlink to `url` (made safe by bubble.ts linkTarget). */
const hyperlink = (url: string, text: string) => `\x1b]8;;${url}\x07${text}\x1b]8;;\x07`;

/**
 * A styled line as the terminal's text, no wider than `width` columns (cut with … as
 * screen.ts's fit does; a wide glyph never straddles the edge): each run of segments that look
 * the same under one SGR sequence, every style reset before the next, and nothing left on after.
 */
export function styledText(line: StyledLine, color: boolean, width: number): string {
  let out = "";
  let current = "";
  for (const seg of fit(line, width)) {
    if (seg.text === "") continue;
    const sgr = sgrFor(seg.role, color);
    if (sgr !== current) {
      out += sgr === "" ? `${CSI}0m` : `${CSI}0;${sgr}m`;
      current = sgr;
    }
    out += seg.link ? hyperlink(seg.link, seg.text) : seg.text;
  }
  return current === "" ? out : `${out}${CSI}0m`;
}

/**
 * Turns composed rows into rows to paint, each line written once: a line seen before (the
 * same object, at the same width) gives the same row back, so the diff finds it unchanged at
 * once and nothing is styled or measured again.
 */
export class RowWriter {
  #rows = new WeakMap<StyledLine, { cols: number; row: PaintRow }>();
  constructor(readonly color: boolean) {}

  row(line: StyledLine, cols: number): PaintRow {
    const known = this.#rows.get(line);
    if (known && known.cols === cols) return known.row;
    const split = splitPinned(line);
    const text = styledText(split.head, this.color, cols);
    const row: PaintRow = split.tail.length > 0 && split.col < cols
      ? {
        text,
        tail: {
          col: split.col,
          text: styledText(split.tail, this.color, cols - split.col),
          end: split.end,
        },
      }
      : { text };
    this.#rows.set(line, { cols, row });
    return row;
  }
}
