/**
 * The message pane's geometry, pure: which lines of which items show in a pane of a given
 * height, and where a scroll lands. The view either follows the bottom (new messages push
 * older ones up) or is anchored at an item's line, so new messages, deletions below the view
 * and a resize never move what the person is reading.
 *
 * @example
 * ```ts
 * const view = layoutPane(source, 20, undefined); // following the newest
 * const anchor = scrollPane(source, 20, undefined, -19); // one page up
 * ```
 */
import type { StyledLine } from "../bubble.ts";

/** The top row of an anchored view: line `line` of the item with key `key`. */
export interface Anchor {
  key: string;
  line: number;
}

/** The items in order, each with its lines for the current width (computed on demand). */
export interface PaneSource {
  readonly length: number;
  key(index: number): string;
  lines(index: number): StyledLine[];
  /** Index of the item with this key, or -1. */
  indexOf(key: string): number;
}

export interface PaneView {
  /** Exactly `height` rows. */
  rows: StyledLine[];
  /** The anchor after normalising; undefined when the view follows the bottom. */
  anchor?: Anchor;
  /** Lines exist above the first row. */
  above: boolean;
  /** Lines exist below the last row. */
  below: boolean;
}

interface Position {
  index: number;
  line: number;
}

/** Builds a source over an array of blocks (handy for tests). */
export function arraySource(blocks: { key: string; lines: StyledLine[] }[]): PaneSource {
  return {
    length: blocks.length,
    key: (i) => blocks[i].key,
    lines: (i) => blocks[i].lines,
    indexOf: (key) => blocks.findIndex((b) => b.key === key),
  };
}

/** Where the anchor is, clamped to the item's lines; undefined when it is gone or empty. */
function resolve(source: PaneSource, anchor: Anchor | undefined): Position | undefined {
  if (!anchor) return undefined;
  let index = source.indexOf(anchor.key);
  if (index < 0) return undefined;
  // an item with no lines cannot hold the view: the next one that has some does
  while (index < source.length && source.lines(index).length === 0) index++;
  if (index >= source.length) return undefined;
  const count = source.lines(index).length;
  return { index, line: Math.max(0, Math.min(anchor.line, count - 1)) };
}

/** Lines from `from` to the end, up to `limit`. */
function linesFrom(source: PaneSource, from: Position, limit: number): StyledLine[] {
  const out: StyledLine[] = [];
  for (let i = from.index; i < source.length && out.length < limit; i++) {
    const lines = source.lines(i);
    for (let l = i === from.index ? from.line : 0; l < lines.length && out.length < limit; l++) {
      out.push(lines[l]);
    }
  }
  return out;
}

/** The last `limit` lines, and the position of the first of them. */
function linesAtEnd(source: PaneSource, limit: number): { lines: StyledLine[]; top: Position } {
  const out: StyledLine[] = [];
  let top: Position = { index: 0, line: 0 };
  for (let i = source.length - 1; i >= 0 && out.length < limit; i--) {
    const lines = source.lines(i);
    for (let l = lines.length - 1; l >= 0 && out.length < limit; l--) {
      out.push(lines[l]);
      top = { index: i, line: l };
    }
  }
  return { lines: out.reverse(), top };
}

function isStart(source: PaneSource, at: Position): boolean {
  if (at.line > 0) return false;
  for (let i = 0; i < at.index; i++) if (source.lines(i).length > 0) return false;
  return true;
}

/** Lays out the pane: anchored at `anchor`, or following the bottom when it is undefined. */
export function layoutPane(
  source: PaneSource,
  height: number,
  anchor: Anchor | undefined,
): PaneView {
  height = Math.max(0, height);
  const at = resolve(source, anchor);
  if (at) {
    const rows = linesFrom(source, at, height + 1);
    if (rows.length > height) {
      return {
        rows: rows.slice(0, height),
        anchor: { key: source.key(at.index), line: at.line },
        above: !isStart(source, at),
        below: true,
      };
    }
    // the anchor is within a page of the bottom: follow it from here on
  }
  const { lines, top } = linesAtEnd(source, height);
  const blank: StyledLine[] = Array.from({ length: height - lines.length }, () => []);
  return {
    rows: [...blank, ...lines],
    anchor: undefined,
    above: lines.length === height && !isStart(source, top),
    below: false,
  };
}

/** Moves `at` by `delta` lines (negative: up), stopping at the ends. */
function move(source: PaneSource, at: Position, delta: number): Position {
  let { index, line } = at;
  while (delta < 0) {
    if (line > 0) {
      line--;
      delta++;
      continue;
    }
    let prev = index - 1;
    while (prev >= 0 && source.lines(prev).length === 0) prev--;
    if (prev < 0) break;
    index = prev;
    line = source.lines(prev).length - 1;
    delta++;
  }
  while (delta > 0) {
    if (line < source.lines(index).length - 1) {
      line++;
      delta--;
      continue;
    }
    let next = index + 1;
    while (next < source.length && source.lines(next).length === 0) next++;
    if (next >= source.length) break;
    index = next;
    line = 0;
    delta--;
  }
  return { index, line };
}

/**
 * Scrolls by `delta` lines (negative: towards older messages). Returns the new anchor, or
 * undefined when the view reaches the bottom and follows it again.
 */
export function scrollPane(
  source: PaneSource,
  height: number,
  anchor: Anchor | undefined,
  delta: number,
): Anchor | undefined {
  if (height <= 0) return anchor;
  const at = resolve(source, anchor) ?? (() => {
    const end = linesAtEnd(source, height);
    return end.lines.length < height ? undefined : end.top;
  })();
  if (!at) return undefined; // everything fits: nothing to scroll
  const to = move(source, at, delta);
  if (linesFrom(source, to, height + 1).length <= height) return undefined;
  return { key: source.key(to.index), line: to.line };
}
