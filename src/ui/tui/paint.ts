/**
 * Frames → bytes for the terminal, pure. Ink turns the screen into one frame (a string per
 * row, with SGR colours); this paints a frame over the previous one by rewriting only the rows
 * that changed, inside a synchronized update, and then puts the cursor where the input line's
 * cursor is.
 *
 * No row can spill into another, whatever width the terminal gives a glyph: each row is placed by
 * absolute cursor position and cleared first, autowrap is off while the UI runs (terminal.ts), and
 * a row's pinned tail (a bubble's right border) is placed at its column by absolute position too,
 * then the rest of the row cleared — so a terminal that draws a glyph wider than counted hides
 * text under the border instead of pushing the border out of line.
 */

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

/**
 * What to write to show `next` where `previous` was (undefined: the screen is in an unknown
 * state — after a resize or Ctrl+L — so everything is drawn afresh).
 */
export function paintFrame(
  previous: readonly (string | PaintRow)[] | undefined,
  next: readonly (string | PaintRow)[],
  rows: number,
  cursor: { x: number; y: number } | undefined,
  cols = Infinity,
): string {
  let out = SYNC_START + HIDE_CURSOR;
  if (!previous) out += `${CSI}0m${CSI}H${CSI}2J`;
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
