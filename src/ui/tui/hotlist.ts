/**
 * The room list above the status line, as weechat's hotlist: every view numbered as Alt+N picks
 * it, the one looked at in brackets, news as a count — `(3)` — and news for me (naming me, or
 * direct) with a `!` — `(1!)`:
 *
 * ```
 *  1:#general [2:#builds] 3:#ops(1!) 4:@bob_1234(2!)
 * ```
 *
 * When the list is wider than the screen, the views with news come first, as weechat orders its
 * hotlist (news for me, then news, the oldest first), after the one looked at; quiet views are
 * counted as `+N`, and long names are cut (`#a-very-l…`) before anything with news is left out
 * (the one looked at keeps its name).
 */
import { type Seg, type StyledLine, textWidth, truncate } from "../bubble.ts";
import { priority, type View } from "./views.ts";

export interface HotEntry {
  /** Its number in the list (Alt+N). */
  n: number;
  name: string;
  unread: number;
  highlights: number;
  current: boolean;
  /** For the order among equals: when its news began. */
  since: number;
}

/** The views as entries of the list. */
export function hotEntries(views: View[], current: string): HotEntry[] {
  return views.map((v, i) => ({
    n: i + 1,
    name: v.key,
    unread: v.key === current ? 0 : v.unread,
    highlights: v.key === current ? 0 : v.highlights,
    current: v.key === current,
    since: v.since ?? 0,
  }));
}

/** An entry's text, its name cut to `nameWidth` columns. */
function entryText(e: HotEntry, nameWidth = Infinity): string {
  const count = e.unread > 0 ? `(${e.unread}${e.highlights > 0 ? "!" : ""})` : "";
  const text = `${e.n}:${truncate(e.name, Math.max(2, nameWidth))}${count}`;
  return e.current ? `[${text}]` : text;
}

function entrySeg(e: HotEntry, nameWidth?: number): Seg {
  const role = e.current
    ? "hotCurrent"
    : e.highlights > 0
    ? "hotHighlight"
    : e.unread > 0
    ? "hotActive"
    : "status";
  return { text: entryText(e, nameWidth), role };
}

/** Segments joined by a space, and `+N` for those left out. */
function join(segs: Seg[], left: number): StyledLine {
  const line: StyledLine = [{ text: " ", role: "status" }];
  segs.forEach((seg, i) => {
    if (i > 0) line.push({ text: " ", role: "status" });
    line.push(seg);
  });
  if (left > 0) line.push({ text: ` +${left}`, role: "status" });
  return line;
}

const widthOf = (line: StyledLine) => line.reduce((n, s) => n + textWidth(s.text), 0);

/** Name widths tried, in turn, before views with news are left out. */
const NAME_WIDTHS = [Infinity, 16, 10, 6];

/** The list in `width` columns (see the module's doc). */
export function hotlistLine(entries: HotEntry[], width: number): StyledLine {
  const all = join(entries.map((e) => entrySeg(e)), 0);
  if (widthOf(all) <= width) return all;
  const current = entries.filter((e) => e.current);
  const news = entries.filter((e) => !e.current && priority(e) > 0)
    .sort((a, b) => priority(b) - priority(a) || a.since - b.since || a.n - b.n);
  for (let keep = news.length; keep >= 0; keep--) {
    const shown = [...current, ...news.slice(0, keep)];
    for (const nameWidth of NAME_WIDTHS) {
      // the one looked at keeps its name whole
      const segs = shown.map((e) => entrySeg(e, e.current ? Infinity : nameWidth));
      const line = join(segs, entries.length - shown.length);
      if (widthOf(line) <= width) return line;
    }
  }
  // not even the one looked at fits: what does, cut
  return [{ text: truncate(` ${entryText(current[0] ?? entries[0], 6)}`, width), role: "status" }];
}
