/**
 * The whole screen from the model, pure: the message pane (bubbles and notices), an optional
 * panel (search results, the online list or your sessions), the status line and the input line, each as
 * styled lines no wider than the terminal, plus where the cursor goes.
 *
 * ```
 * ┌ pane ─────────────────────────────┐  rows - 2 - panel - room list
 * │ bubbles, notices; a "new messages │
 * │ below" marker when scrolled up    │
 * ├ panel (when open) ────────────────┤  up to 40% of the rows
 * ├ room list (more than one view) ───┤  1 (hotlist.ts)
 * ├ status line ──────────────────────┤  1
 * └ input line ───────────────────────┘  1
 * ```
 *
 * The pane shows the view looked at (model.ts): a line with the day above the first message of
 * each day (but today's first, when nothing came before it), and the read marker above the
 * first message that came while the view was not looked at.
 */
import type { Shown } from "../../client/state.ts";
import {
  type Me,
  padEnd,
  renderBubble,
  renderLine,
  type Seg,
  type StyledLine,
  textWidth,
  timeLeft,
  truncate,
  visible,
  wrapText,
} from "../bubble.ts";
import { helpText, type HelpTopic, twoColumns } from "../../client/commands.ts";
import { keysText } from "../keymap.ts";
import type { Layout } from "../ui.ts";
import { sessionLine, sessionsHeading, sortSessions } from "../plain.ts";
import { clock, dayWords, sameDay } from "../time.ts";
import { nickRole } from "../colors.ts";
import { oneLine } from "../sanitize.ts";
import { inputView } from "./input.ts";
import { type Anchor, layoutPane, type PaneSource } from "./layout.ts";
import type { Item, Model, Panel } from "./model.ts";
import { hotEntries, hotlistLine } from "./hotlist.ts";
import { isRoom, VIEW_COMMANDS } from "./views.ts";

export interface ScreenContext {
  cols: number;
  rows: number;
  now: number;
  /** The server, as `host:port`. */
  server: string;
  /** People online. */
  online: number;
  /** Keeps rendered bubbles between frames. */
  cache?: BlockCache;
}

export interface Region {
  top: number;
  height: number;
}

export interface Screen {
  /** Exactly `rows` lines, none wider than `cols`. */
  lines: StyledLine[];
  cursor: { x: number; y: number };
  pane: Region;
  panel?: Region;
  /** The pane's anchor after layout (undefined: following the bottom). */
  anchor?: Anchor;
}

/**
 * Blocks kept at most: many screens' worth, far fewer than the items kept (only what is drawn is
 * rendered; a flood would otherwise keep thousands of blocks nobody scrolls back to).
 */
const MAX_BLOCKS = 1000;

/** Rendered blocks by item key, reused while nothing they depend on changes. */
export class BlockCache {
  #blocks = new Map<string, { signature: string; lines: StyledLine[] }>();

  get(key: string, signature: string, render: () => StyledLine[]): StyledLine[] {
    const hit = this.#blocks.get(key);
    if (hit && hit.signature === signature) return hit.lines;
    const lines = render();
    if (this.#blocks.size >= MAX_BLOCKS) this.#blocks.clear();
    this.#blocks.set(key, { signature, lines });
    return lines;
  }
}

const NOTICE_PREFIX = { notice: "* ", presence: "· ", error: "! " } as const;

/** The lines of /help: the commands, then the keys, each wrapped under its own column. */
function helpLines(width: number, topic?: HelpTopic): StyledLine[] {
  const room = Math.max(1, width - 3);
  const views = twoColumns(VIEW_COMMANDS.map((c): [string, string] => [c.usage, c.help]), room);
  const text = topic === "operators"
    ? `Operators' commands:\n${helpText(room, "operators")}`
    : `Commands:\n${helpText(room, "everyday")}\n\nRooms and conversations:\n${views}\n\n` +
      `Keys:\n${keysText(room)}`;
  // wrapped again only where even the two columns cannot fit (a very narrow pane)
  return text.split("\n").flatMap((line) => line.length <= room ? [line] : wrapText(line, room))
    .map((line, i): StyledLine => [
      { text: i === 0 ? " * " : "   ", role: "notice" },
      { text: line, role: "notice" },
    ]);
}

/**
 * The lines of one item in a pane `width` columns wide: a message as a bubble (a blank line
 * above it) or as one line (see renderLine), a notice wrapped under its first word.
 */
export function itemLines(
  item: Item,
  width: number,
  me: Me | undefined,
  now: number,
  layout: Layout = "bubbles",
  here?: string,
): StyledLine[] {
  if (item.kind === "message") {
    if (layout === "lines") {
      const lines = renderLine(item.message, { width: Math.max(1, width - 1), me, now, here });
      return lines.map((line): StyledLine => [{ text: " ", role: "text" }, ...line]);
    }
    const bubble = renderBubble(item.message, { width: Math.max(1, width - 2), me, now, here });
    return [[], ...bubble.map((line): StyledLine => [{ text: " ", role: "text" }, ...line])];
  }
  if (item.kind === "help") return helpLines(width, item.topic);
  const prefix = NOTICE_PREFIX[item.role];
  const room = Math.max(1, width - 1 - prefix.length);
  const text = item.text.split("\n").map(visible).join("\n");
  return wrapText(text, room).map((line, i): StyledLine => [
    { text: ` ${i === 0 ? prefix : " ".repeat(prefix.length)}`, role: item.role },
    { text: line, role: item.role },
  ]);
}

function signature(
  item: Item,
  width: number,
  me: Me | undefined,
  now: number,
  layout: Layout,
  above: string,
): string {
  if (item.kind !== "message") return `${width}`;
  const m = item.message;
  const quote = m.quote && "deleted" in m.quote ? "gone" : "";
  const left = m.expiresAt !== undefined ? timeLeft(m.expiresAt - now) : "";
  const today = sameDay(m.time, now) ? "" : `${new Date(now).getFullYear()}`;
  return `${layout}|${width}|${me?.id ?? ""}|${quote}|${
    m.replyRef ?? ""
  }|${left}|${today}|${above}`;
}

/** A line across the pane with `label` in its middle. */
export function ruler(label: string, cols: number, role: Seg["role"]): StyledLine {
  const text = ` ${label} `;
  const w = textWidth(text);
  if (w >= cols) return [{ text: truncate(label, cols), role }];
  const side = Math.min(4, Math.floor((cols - w) / 2));
  return [
    { text: "─".repeat(side), role },
    { text, role },
    { text: "─".repeat(cols - w - side), role },
  ];
}

/** The read marker's label. */
export const READ_MARKER = "unread";

/** Where the view looked at shows its read marker, the view's room, and so on (see paneSource). */
export interface PaneMarks {
  /** The key of the item the read marker goes above. */
  marker?: string;
  /** The room looked at: messages of other rooms name theirs. */
  here?: string;
}

/** The pane's items as a layout source for a pane `width` columns wide. */
export function paneSource(
  items: Item[],
  width: number,
  me: Me | undefined,
  now: number,
  cache = new BlockCache(),
  layout: Layout = "bubbles",
  marks: PaneMarks = {},
): PaneSource {
  let index: Map<string, number> | undefined;
  /** The time of the last message before item i (null: none), found once walking back. */
  const memo = new Map<number, number | null>();
  const previousTime = (i: number): number | null => {
    const path: number[] = [];
    let found: number | null = null;
    for (let j = i;; j--) {
      const known = memo.get(j);
      if (known !== undefined) {
        found = known;
        break;
      }
      path.push(j);
      const item = items[j - 1];
      if (!item) break;
      if (item.kind === "message") {
        found = item.message.time;
        break;
      }
    }
    for (const k of path) memo.set(k, found);
    return found;
  };
  /** The lines drawn above item i: the read marker, a new day. */
  const above = (i: number): StyledLine[] => {
    const item = items[i];
    if (item.kind !== "message") return [];
    const lines: StyledLine[] = [];
    if (marks.marker === item.key && i > 0) lines.push(ruler(READ_MARKER, width, "marker"));
    const time = item.message.time;
    const previous = previousTime(i);
    if (previous === null ? !sameDay(time, now) : !sameDay(previous, time)) {
      lines.push(ruler(dayWords(time), width, "meta"));
    }
    return lines;
  };
  return {
    length: items.length,
    key: (i) => items[i].key,
    lines: (i) => {
      const extra = above(i);
      const shape = extra.map((line) => line.map((s) => s.text).join("")).join("|");
      return cache.get(
        items[i].key,
        signature(items[i], width, me, now, layout, `${marks.here ?? ""}|${shape}`),
        () => [...extra, ...itemLines(items[i], width, me, now, layout, marks.here)],
      );
    },
    indexOf(key) {
      index ??= new Map(items.map((item, i) => [item.key, i]));
      return index.get(key) ?? -1;
    },
  };
}

/** Rows the panel takes (0 when none is open). */
export function panelHeight(
  panel: Panel | undefined,
  cols: number,
  rows: number,
  me: Me | undefined,
): number {
  if (!panel || rows < 6) return 0;
  // the same lines as drawn ("(you)" widens the cells of the online list)
  const wanted = 1 + panelContent(panel, cols, 0, me).length;
  const most = Math.max(2, Math.floor((rows - 2) * 0.4));
  return Math.min(wanted, most, rows - 3);
}

/** Rows the room list takes: one, once there is more than one view (and rows to spare). */
export function roomListRows(model: Model, rows: number): number {
  return model.views.length > 1 && rows >= 5 ? 1 : 0;
}

/** Rows the message pane takes. */
export function paneHeight(model: Model, cols: number, rows: number): number {
  const hint = rows >= 6 ? hintRows(model, cols).length : 0;
  const list = roomListRows(model, rows);
  return Math.max(
    0,
    rows - 2 - hint - list - panelHeight(model.panel, cols, rows - hint - list, model.me),
  );
}

/** The items on screen as a layout source, with the view's marks (see paneSource). */
export function modelSource(
  model: Model,
  cols: number,
  now: number,
  cache?: BlockCache,
): PaneSource {
  const view = model.views.find((v) => v.key === model.view);
  const here = isRoom(model.view) ? model.view : undefined;
  return paneSource(model.items, cols, model.me, now, cache, model.layout, {
    marker: view?.marker,
    here,
  });
}

function resultLine(m: Shown, me: Me | undefined, cols: number, now: number): StyledLine {
  const name = (id: string) => (id === me?.id ? "you" : visible(id));
  const d = new Date(m.time);
  const date = sameDay(m.time, now)
    ? ""
    : `${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} `;
  const to = m.to && m.to.length > 0 ? ` → ${m.to.map(name).join(", ")}` : "";
  const parts: StyledLine = [
    { text: ` #${m.ref}`, role: "ref" },
    { text: ` ${date}${clock(m.time)} `, role: "meta" },
    { text: `${name(m.from)}${to}`, role: m.to?.length ? "direct" : nickRole(m.from) },
    { text: `: ${visible(oneLine(m.text))}`, role: "panel" },
  ];
  return fit(parts, cols);
}

/** The panel's lines below its heading. */
function panelContent(panel: Panel, cols: number, now: number, me?: Me): StyledLine[] {
  if (panel.kind === "results") {
    if (panel.messages.length === 0) return [[{ text: "  nothing found", role: "panel" }]];
    const newestFirst = [...panel.messages].sort((a, b) => (a.id < b.id ? 1 : -1));
    return newestFirst.map((m) => resultLine(m, me, cols, now));
  }
  if (panel.kind === "sessions") {
    // visible() drops what has no width
    return sortSessions(panel.sessions).map((s) => [
      { text: ` ${truncate(visible(sessionLine(s)), cols - 1)}`, role: "panel" },
    ]);
  }
  const ids = panel.users.map((u) => visible(u.id)).sort();
  const away = new Set(panel.users.filter((u) => u.away !== undefined).map((u) => visible(u.id)));
  const labels = ids.map((id) =>
    `${id === me?.id ? `${id} (you)` : id}${away.has(id) ? " (away)" : ""}`
  );
  const cell = Math.max(...labels.map(textWidth), 1) + 3;
  const perRow = Math.max(1, Math.floor((cols - 1) / cell));
  const lines: StyledLine[] = [];
  for (let i = 0; i < labels.length; i += perRow) {
    const row = labels.slice(i, i + perRow).map((l) => padEnd(l, cell)).join("");
    lines.push([{ text: ` ${truncate(row.trimEnd(), cols - 1)}`, role: "panel" }]);
  }
  return lines;
}

function panelHeading(panel: Panel, connected: boolean): string {
  if (panel.kind === "who") {
    const shown = panel.users.length < panel.online ? `, first ${panel.users.length} shown` : "";
    // while disconnected nobody says who left or came: the list is as it was
    const stale = connected ? "" : " as of the last connection";
    return ` Online (${panel.online}${shown})${stale} · Esc closes`;
  }
  if (panel.kind === "sessions") {
    const heading = sessionsHeading(panel.sessions.length, panel.loggedOutOthers);
    return ` ${heading[0].toUpperCase()}${heading.slice(1)} · Esc closes`;
  }
  const count = `${panel.total} result${panel.total === 1 ? "" : "s"}`;
  const shown = panel.messages.length < panel.total
    ? `, newest ${panel.messages.length} shown`
    : "";
  const what = panel.pattern ? ` for ${visible(oneLine(panel.pattern))}` : "";
  return ` Search${what}: ${count}${shown} · refs work in /reply · Esc closes`;
}

/** A row cut where its first pinned segment starts: the head from column 0, the tail at `col`. */
export interface SplitRow {
  head: StyledLine;
  tail: StyledLine;
  /** The tail's column (counted), and the column after it. */
  col: number;
  end: number;
}

/** Splits a row at its first pinned segment (see Seg.pin); a row without one is all head. */
export function splitPinned(line: StyledLine): SplitRow {
  const at = line.findIndex((seg) => seg.pin);
  const head = at < 0 ? line : line.slice(0, at);
  const tail = at < 0 ? [] : line.slice(at);
  const col = head.reduce((n, s) => n + textWidth(s.text), 0);
  return { head, tail, col, end: col + tail.reduce((n, s) => n + textWidth(s.text), 0) };
}

/** Cuts a styled line to `width` columns (a line that fits is given back as it is). */
export function fit(line: StyledLine, width: number): StyledLine {
  let used = 0;
  for (let i = 0; i < line.length; i++) {
    const seg = line[i];
    const w = textWidth(seg.text);
    if (used + w <= width) {
      used += w;
      continue;
    }
    const out = line.slice(0, i);
    if (used < width) out.push({ ...seg, text: truncate(seg.text, width - used) });
    return out;
  }
  return line;
}

/** A line filled to `width` with one role (for bars). */
function bar(segs: StyledLine, width: number, role: Seg["role"]): StyledLine {
  const line = fit(segs, width);
  const used = line.reduce((n, s) => n + textWidth(s.text), 0);
  return used < width ? [...line, { text: " ".repeat(width - used), role }] : line;
}

function statusText(model: Model, now: number): Seg {
  if (model.leaving) return { text: "leaving…", role: "statusBad" };
  const s = model.status;
  if (s.state === "connected") return { text: "connected", role: "statusGood" };
  if (s.state === "offline") return { text: "offline", role: "statusBad" };
  if (s.state === "connecting") return { text: "connecting…", role: "statusBad" };
  const seconds = Math.max(0, Math.ceil((s.retryAt - now) / 1000));
  return {
    text: seconds > 0 ? `reconnecting in ${seconds} s` : "reconnecting…",
    role: "statusBad",
  };
}

/** Keys worth knowing, at the right of the status line when there is no hint (longest that fits). */
export const KEY_HINTS = [
  "PgUp/PgDn scroll · F2 who · Tab complete · Ctrl+C quit",
  "PgUp/PgDn · F2 who · Ctrl+C quit",
  "F2 who · Ctrl+C quit",
];
/** At the right of the status line while waiting to reconnect. */
export const RETRY_HINT = "Ctrl+R retries now";

/** A hint longer than this share of the columns gets rows of its own above the status line. */
const HINT_SHARE = 0.5;
/** Rows a long hint takes at most (wrapped at words; cut with … past them). */
export const MAX_HINT_ROWS = 3;

/** The rows a long hint takes above the status line (none when it fits on the status line). */
export function hintRows(model: Model, cols: number): StyledLine[] {
  const hint = model.hint;
  if (!hint || cols < 4 || textWidth(hint.text) <= Math.floor(cols * HINT_SHARE) - 2) return [];
  const role = hint.error ? "statusBad" : "status";
  let lines = wrapText(hint.text, cols - 2);
  if (lines.length > MAX_HINT_ROWS) {
    lines = lines.slice(0, MAX_HINT_ROWS);
    lines[MAX_HINT_ROWS - 1] = truncate(`${lines[MAX_HINT_ROWS - 1]} …`, cols - 2);
  }
  return lines.map((line) => bar([{ text: ` ${line}`, role }], cols, role));
}

/** A part of the status line; the lowest `keep` goes first when the columns run out. */
interface Field {
  segs: StyledLine;
  keep: number;
}

/**
 * The status line, from fields that are dropped whole when the columns run out — the key hints
 * first, then the server, who is online, and my id; the connection's state (and a short hint)
 * stay. A word is never cut in the middle unless even the state alone does not fit.
 */
function statusLine(model: Model, ctx: ScreenContext): StyledLine {
  const connected = model.status.state === "connected" && !model.leaving;
  const online = `${ctx.online} online${connected ? "" : " (stale)"}`;
  const state = statusText(model, ctx.now);
  const hint = model.hint && hintRows(model, ctx.cols).length === 0 ? model.hint : undefined;
  const left: Field[] = [
    {
      segs: [{ text: model.me ? visible(model.me.id) : "…", role: "status" }],
      keep: 3,
    },
    { segs: [{ text: ctx.server, role: "status" }], keep: 1 },
    { segs: [{ text: online, role: "status" }], keep: 2 },
    { segs: [state], keep: 9 },
  ];
  const right: Field | undefined = hint
    ? { segs: [{ text: hint.text, role: hint.error ? "statusBad" : "status" }], keep: 8 }
    : model.status.state === "reconnecting" && !model.leaving
    ? { segs: [{ text: RETRY_HINT, role: "status" }], keep: 4 }
    : undefined;
  const widthOf = (f: Field) => f.segs.reduce((n, s) => n + textWidth(s.text), 0);
  const total = (fields: Field[], r: Field | undefined) =>
    1 + fields.reduce((n, f, i) => n + widthOf(f) + (i > 0 ? 3 : 0), 0) + 1 +
    (r ? widthOf(r) + 1 : 0);
  let fields = left;
  let tail = right;
  // drop the least wanted field until what is left fits
  while (total(fields, tail) > ctx.cols) {
    const candidates = [...fields, ...(tail ? [tail] : [])].filter((f) => f !== left[3]);
    if (candidates.length === 0) break;
    const least = candidates.reduce((a, b) => (b.keep < a.keep ? b : a));
    if (least === tail) tail = undefined;
    else fields = fields.filter((f) => f !== least);
  }
  const line: StyledLine = [{ text: " ", role: "status" }];
  fields.forEach((f, i) => {
    if (i > 0) line.push({ text: " · ", role: "status" });
    line.push(...f.segs);
  });
  line.push({ text: " ", role: "status" });
  const used = line.reduce((n, s) => n + textWidth(s.text), 0);
  const room = ctx.cols - used - 1;
  const end = tail?.segs ??
    (connected ? KEY_HINTS.filter((k) => textWidth(k) <= room).slice(0, 1) : [])
      .map((text): Seg => ({ text, role: "status" }));
  const endWidth = end.reduce((n, s) => n + textWidth(s.text), 0);
  if (end.length > 0 && endWidth <= room) {
    line.push({ text: " ".repeat(room - endWidth), role: "status" }, ...end);
  }
  return bar(line, ctx.cols, "status");
}

function marker(model: Model, cols: number): StyledLine {
  const text = model.unseen > 0
    ? ` ${model.unseen} new message${model.unseen === 1 ? "" : "s"} below · PgDn · Esc jumps `
    : " more below · PgDn · Esc jumps ";
  const w = textWidth(text);
  if (w >= cols) return [{ text: truncate(text.trim(), cols), role: "marker" }];
  const side = Math.floor((cols - w) / 2);
  return [
    { text: "─".repeat(side), role: "marker" },
    { text, role: "marker" },
    { text: "─".repeat(cols - w - side), role: "marker" },
  ];
}

/** Composes the screen. */
export function composeScreen(model: Model, ctx: ScreenContext): Screen {
  const { cols, rows } = ctx;
  if (cols <= 0 || rows <= 0) {
    return { lines: [], cursor: { x: 0, y: 0 }, pane: { top: 0, height: 0 } };
  }
  const input = inputView(model.input, cols);
  const inputLine = fit(input.line, cols);
  if (rows === 1) {
    return { lines: [inputLine], cursor: { x: input.cursorX, y: 0 }, pane: { top: 0, height: 0 } };
  }
  const status = statusLine(model, ctx);
  // a long hint takes rows of its own above the status line, wrapped (when there are rows)
  const hint = rows >= 6 ? hintRows(model, cols) : [];
  const list = roomListRows(model, rows) > 0
    ? [bar(hotlistLine(hotEntries(model.views, model.view), cols), cols, "status")]
    : [];
  const panelH = panelHeight(model.panel, cols, rows - hint.length - list.length, model.me);
  const paneH = Math.max(0, rows - 2 - hint.length - list.length - panelH);
  const source = modelSource(model, cols, ctx.now, ctx.cache);
  const view = layoutPane(source, paneH, model.anchor);
  const pane = view.rows.map((line) => fit(line, cols));
  if (view.anchor && paneH > 0) pane[paneH - 1] = marker(model, cols);

  const lines: StyledLine[] = [...pane];
  let panel: Region | undefined;
  if (model.panel && panelH > 0) {
    const content = panelContent(model.panel, cols, ctx.now, model.me);
    const room = panelH - 1;
    const scroll = Math.max(0, Math.min(model.panel.scroll, content.length - room));
    const more = content.length - room - scroll;
    let heading = panelHeading(model.panel, model.status.state === "connected");
    if (scroll > 0 || more > 0) {
      heading += ` · PgUp/PgDn (${scroll + 1}–${scroll + room} of ${content.length})`;
    }
    lines.push(bar([{ text: heading, role: "heading" }], cols, "heading"));
    for (const line of content.slice(scroll, scroll + room)) lines.push(fit(line, cols));
    while (lines.length < paneH + panelH) lines.push([]);
    panel = { top: paneH, height: panelH };
  }
  lines.push(...hint, ...list, status, inputLine);
  return {
    lines,
    cursor: { x: Math.min(cols - 1, input.cursorX), y: rows - 1 },
    pane: { top: 0, height: paneH },
    panel,
    anchor: view.anchor,
  };
}

/** How far a panel can scroll (for clamping its offset). */
export function panelScrollMax(
  panel: Panel,
  cols: number,
  rows: number,
  me: Me | undefined,
): number {
  const h = panelHeight(panel, cols, rows, me);
  return Math.max(0, panelContent(panel, cols, 0, me).length - (h - 1));
}
