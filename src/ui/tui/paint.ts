/**
 * Frames → bytes for the terminal, pure. Ink turns the screen into one frame (a string per
 * row, with SGR colours); this paints a frame over the previous one by rewriting only the rows
 * that changed, each at its absolute position, inside a synchronized update, and then puts the
 * cursor where the input line's cursor is. No row ever scrolls the screen: each is at most as
 * wide as the terminal and is written where it belongs.
 */

const CSI = "\x1b[";
/** Begin / end a synchronized update (terminals that don't know it ignore it). */
export const SYNC_START = `${CSI}?2026h`;
export const SYNC_END = `${CSI}?2026l`;
export const HIDE_CURSOR = `${CSI}?25l`;
export const SHOW_CURSOR = `${CSI}?25h`;

/**
 * What to write to show `next` where `previous` was (undefined: the screen is in an unknown
 * state — after a resize or Ctrl+L — so everything is drawn afresh).
 */
export function paintFrame(
  previous: readonly string[] | undefined,
  next: readonly string[],
  rows: number,
  cursor: { x: number; y: number } | undefined,
): string {
  let out = SYNC_START + HIDE_CURSOR;
  if (!previous) out += `${CSI}0m${CSI}H${CSI}2J`;
  for (let row = 0; row < rows; row++) {
    const line = next[row] ?? "";
    if (previous && (previous[row] ?? "") === line) continue;
    out += `${CSI}${row + 1};1H${CSI}0m${CSI}2K${line}${CSI}0m`;
  }
  if (cursor) out += `${CSI}${cursor.y + 1};${cursor.x + 1}H${SHOW_CURSOR}`;
  return out + SYNC_END;
}
