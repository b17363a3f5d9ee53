/**
 * Speech bubbles for the full-screen UI, as plain data: a bubble is a list of lines, each line a
 * list of segments `{text, role}`. The text is exact for the terminal — widths come from
 * `string-width` per grapheme (CJK and most emoji take two columns, combining marks none), so
 * borders line up and no line is wider than asked. The role says what a segment is (border,
 * sender, ref, …); colours are a separate layer (tui/style.ts), so tests read plain text.
 *
 * Pure: the clock (`now`, for a temporary message's time left and dates) is a parameter.
 *
 * @example
 * ```ts
 * const lines = renderBubble(message, { width: 60, me: { id: "tom_1234", name: "tom" }, now });
 * console.log(lines.map(lineText).join("\n"));
 * ```
 */
import stringWidth from "string-width";
import type { Shown } from "../client/state.ts";
import { GENERAL_ROOM } from "../protocol/rules.ts";
import { stamp } from "./time.ts";
import { oneLine } from "./sanitize.ts";
import { type NickRole, nickRole } from "./colors.ts";

/** What a segment of a line is; the style layer picks colours by it. */
export type Role =
  | "text"
  | "border"
  | "mine"
  | "quote"
  | "sender"
  | "meta"
  | "direct"
  | "ref"
  | "temp"
  | "mention"
  | "notice"
  | "presence"
  | "error"
  | "marker"
  | "panel"
  | "heading"
  | "status"
  | "statusGood"
  | "statusBad"
  | "input"
  | "hint"
  | "link"
  /** The list of rooms and conversations (tui/hotlist.ts): the one looked at, one with news, one with news for me. */
  | "hotCurrent"
  | "hotActive"
  | "hotHighlight"
  /** A person's name, in their own colour (colors.ts). */
  | NickRole;

/** A run of text of one role. */
export interface Seg {
  text: string;
  role: Role;
  /**
   * Placed at the column the segments before it add up to, by absolute cursor position, with
   * the rest of the line: terminals disagree about the width of some glyphs, and a bubble's right
   * border must not move with them.
   */
  pin?: boolean;
  /** An http(s) URL this text links to (an OSC 8 hyperlink); the text may be cut, the link not. */
  link?: string;
}

/** One terminal line: segments side by side. */
export type StyledLine = Seg[];

/** The text of a line without its roles. */
export function lineText(line: StyledLine): string {
  return line.map((s) => s.text).join("");
}

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** The grapheme clusters of a text (what a person sees as one character). */
export function graphemes(text: string): string[] {
  return Array.from(segmenter.segment(text), (s) => s.segment);
}

/**
 * Code points that make terminals disagree about a grapheme's width: emoji modifiers (skin
 * tones), the zero-width joiner of ZWJ sequences, variation selectors, the keycap mark and
 * regional indicators (flags). tmux 3.3a draws 👍🏽 in 4 cells, string-width says 2, xterm.js 2.
 */
const DISPUTED = /[\u200d\ufe0e\ufe0f\u20e3\u{1f3fb}-\u{1f3ff}\u{1f1e6}-\u{1f1ff}]/u;

/**
 * Columns one grapheme takes in a terminal. For the sequences terminals disagree on, the most
 * any of them takes (its code points drawn one by one): a line then may look shorter than
 * counted on some terminals, never longer, and borders are placed by column anyway (`pin`).
 */
export function cellWidth(grapheme: string): number {
  const width = stringWidth(grapheme);
  if (grapheme.length < 2 || !DISPUTED.test(grapheme)) return width;
  let each = 0;
  for (const codePoint of grapheme) each += stringWidth(codePoint);
  return Math.max(width, each);
}

/** Printable ASCII: a column each. */
const ASCII = /^[\x20-\x7e]*$/;
/** Widths of texts measured lately (the same borders and words come back frame after frame). */
const measured = new Map<string, number>();
const MEASURED_MAX = 4096;

/** Columns a text takes, grapheme by grapheme. */
export function textWidth(text: string): number {
  if (ASCII.test(text)) return text.length;
  let width = measured.get(text);
  if (width !== undefined) return width;
  width = 0;
  for (const g of graphemes(text)) width += cellWidth(g);
  if (measured.size >= MEASURED_MAX) measured.clear();
  measured.set(text, width);
  return width;
}

/** Printable ASCII and tabs: nothing visible() would drop. */
const PRINTABLE_OR_TAB = /^[\x20-\x7e\t]*$/;

/**
 * Drops graphemes that take no column (zero-width spaces, joiners left alone): a terminal
 * draws nothing for them, and a renderer that counts each grapheme as at least one column would
 * shift everything after them.
 */
export function visible(text: string): string {
  // a tab has no width of its own: it is expanded where its column is known (expandTabs)
  if (PRINTABLE_OR_TAB.test(text)) return text; // each a grapheme of one column (or a tab)
  return graphemes(text).filter((g) => g === "\t" || cellWidth(g) > 0).join("");
}

/** Tab stops every this many columns, as terminals have them. */
export const TAB_SIZE = 8;

/** Columns a tab takes when it starts at column `col`. */
export function tabWidth(col: number): number {
  return TAB_SIZE - (col % TAB_SIZE);
}

/** Tabs become spaces up to the next tab stop (columns counted from the start of `line`). */
export function expandTabs(line: string): string {
  if (!line.includes("\t")) return line;
  let out = "";
  let col = 0;
  for (const g of graphemes(line)) {
    if (g === "\t") {
      const n = tabWidth(col);
      out += " ".repeat(n);
      col += n;
    } else {
      out += g;
      col += cellWidth(g);
    }
  }
  return out;
}

const spaces = (n: number) => " ".repeat(Math.max(0, n));

/** Pads with spaces on the right to `width` columns. */
export function padEnd(text: string, width: number): string {
  return text + spaces(width - textWidth(text));
}

/** Cuts a one-line text to `width` columns, ending in "…" when something was cut. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  if (textWidth(text) <= width) return text;
  let out = "";
  let used = 0;
  for (const g of graphemes(text)) {
    const w = cellWidth(g);
    if (used + w > width - 1) break;
    out += g;
    used += w;
  }
  return out + "…";
}

/** Splits one word into pieces no wider than `width` (a wide grapheme never straddles). */
function breakWord(word: string, width: number): string[] {
  const pieces: string[] = [];
  let piece = "";
  let used = 0;
  for (let g of graphemes(word)) {
    let w = cellWidth(g);
    if (w > width) [g, w] = ["…", 1]; // a wide character in a one-column space
    if (used + w > width && piece !== "") {
      pieces.push(piece);
      piece = "";
      used = 0;
    }
    piece += g;
    used += w;
  }
  if (piece !== "" || pieces.length === 0) pieces.push(piece);
  return pieces;
}

/** A piece of a wrapped line: text, or a link shown as `text` (the URL, cut when too wide). */
export interface Piece {
  text: string;
  link?: string;
}

/**
 * The http(s) URL a word starts with, and the punctuation after it (a sentence's full stop, a
 * closing bracket that opened before the URL); undefined when the word is not one.
 */
export function urlIn(word: string): { url: string; rest: string } | undefined {
  if (!/^https?:\/\/[^/\s]/i.test(word)) return undefined;
  let url = word;
  for (;;) {
    const last = url[url.length - 1];
    const unbalanced = last === ")" && url.split("(").length < url.split(")").length;
    if (!/[.,;:!?'"\]]/.test(last) && !unbalanced) break;
    url = url.slice(0, -1);
  }
  return { url, rest: word.slice(url.length) };
}

/**
 * The target of an OSC 8 hyperlink for a URL as shown, or undefined when it cannot safely be
 * one: http(s) only, no control character, space or bidi control inside (anything non-ASCII is
 * percent-encoded, so the sequence holds printable ASCII alone).
 */
export function linkTarget(url: string): string | undefined {
  if (!/^https?:\/\/[^/\s]/i.test(url)) return undefined;
  let target: string;
  try {
    target = url.replace(/[^\x21-\x7e]/gu, (ch) => encodeURIComponent(ch));
  } catch {
    return undefined; // a lone surrogate
  }
  // deno-lint-ignore no-control-regex -- a link must not carry a control character
  return /^[\x21-\x7e]+$/.test(target) && !/[\x00-\x20\x7f]/.test(target) ? target : undefined;
}

/**
 * Word-wraps one line of text (no newlines) to `width` columns, as pieces. Runs of spaces
 * between words stay; a wrapped line starts at its word; a word wider than a line is broken
 * across lines — except a URL, which is never split: it starts its own line and, if it is wider
 * than a line, is shown cut ("…") while its link keeps it whole.
 */
export function wrapPieces(text: string, width: number): Piece[][] {
  width = Math.max(1, width);
  const lines: Piece[][] = [];
  let line: Piece[] = [];
  let used = 0;
  const breakLine = () => {
    const last = line[line.length - 1];
    if (last && !last.link) last.text = last.text.trimEnd();
    lines.push(line.filter((p) => p.text !== ""));
    line = [];
    used = 0;
  };
  const add = (piece: Piece, w: number) => {
    const last = line[line.length - 1];
    if (last && !last.link && !piece.link) last.text += piece.text;
    else line.push({ ...piece });
    used += w;
  };
  for (const token of text.match(/ +|[^ ]+/g) ?? []) {
    const w = textWidth(token);
    if (token.startsWith(" ")) {
      if (used + w <= width) add({ text: token }, w);
      else if (used > 0) breakLine(); // spaces at a break are where the line ends
      continue;
    }
    const found = urlIn(token);
    const link = found && linkTarget(found.url);
    if (found && link) {
      const shown = truncate(found.url, width);
      const urlWidth = textWidth(shown);
      if (used > 0 && used + urlWidth > width) breakLine();
      add({ text: shown, link }, urlWidth);
      if (found.rest !== "") {
        const restWidth = textWidth(found.rest);
        if (used + restWidth > width) breakLine();
        add({ text: found.rest }, restWidth);
      }
      continue;
    }
    if (used + w <= width) {
      add({ text: token }, w);
      continue;
    }
    if (used > 0) breakLine();
    if (w <= width) {
      add({ text: token }, w);
      continue;
    }
    const pieces = breakWord(token, width);
    for (const piece of pieces.slice(0, -1)) lines.push([{ text: piece }]);
    const lastPiece = pieces[pieces.length - 1];
    add({ text: lastPiece }, textWidth(lastPiece));
  }
  breakLine();
  return lines;
}

/** {@link wrapPieces} as plain strings (links shown as their text). */
export function wrapLine(text: string, width: number): string[] {
  return wrapPieces(text, width).map((line) => line.map((p) => p.text).join(""));
}

/** Wraps a text that may hold newlines; every line is at most `width` columns. */
export function wrapText(text: string, width: number): string[] {
  return text.split("\n").flatMap((line) => wrapLine(line, width));
}

/** "4s left", "2m 05s left", "3h 20m left", "2d 4h left"; "expiring" at or past the end. */
export function timeLeft(ms: number): string {
  if (ms <= 0) return "expiring";
  const s = Math.ceil(ms / 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s left`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s left`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${two(Math.floor(s / 60) % 60)}m left`;
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h left`;
}

/** Who I am, for placing my bubbles and spotting mentions of me. */
export interface Me {
  id: string;
  name: string;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");

/** The last patterns made, for whom (every message and bubble line asks, always for the same me). */
let mentions: { id: string; name: string; all: RegExp; one: RegExp } | undefined;

/**
 * Matches my id or name as a word (optionally after @), case-insensitive: `all` (global, for
 * matchAll, which works on a copy and leaves it at lastIndex 0) or `one` (for test, stateless).
 */
function mentionPattern(me: Me, which: "all" | "one"): RegExp {
  if (mentions?.id !== me.id || mentions.name !== me.name) {
    const names = [me.id, me.name].filter((n) => n !== "").map(escapeRegExp).join("|");
    const source = `(?<![A-Za-z0-9._-])@?(?:${names})(?![A-Za-z0-9_-])`;
    mentions = {
      id: me.id,
      name: me.name,
      all: new RegExp(source, "gi"),
      one: new RegExp(source, "i"),
    };
  }
  return mentions[which];
}

/** Whether a message from someone else is for me in particular: direct to me, or naming me. */
export function isForMe(m: Shown, me: Me | undefined): boolean {
  if (!me || m.from === me.id) return false;
  if (m.to?.includes(me.id)) return true;
  return mentionPattern(me, "one").test(m.text);
}

/** Splits a line into text and mention segments. */
function withMentions(text: string, me: Me | undefined): StyledLine {
  if (!me || text === "") return [{ text, role: "text" }];
  const out: StyledLine = [];
  let last = 0;
  for (const match of text.matchAll(mentionPattern(me, "all"))) {
    if (match.index > last) out.push({ text: text.slice(last, match.index), role: "text" });
    out.push({ text: match[0], role: "mention" });
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), role: "text" });
  return out;
}

/** A wrapped line's pieces as segments: links as links, mentions of me marked (not in mine). */
export function pieceSegments(pieces: Piece[], me: Me | undefined, mine: boolean): StyledLine {
  return pieces.flatMap((p): StyledLine =>
    p.link
      ? [{ text: p.text, role: "link", link: p.link }]
      : mine
      ? [{ text: p.text, role: "text" }]
      : withMentions(p.text, me)
  );
}

/**
 * The lines of a message's text (made safe already: ui/safe.ts) as shown: tabs expanded to tab
 * stops, what has no width dropped, blank lines at either end trimmed.
 */
export function shownLines(text: string): string[] {
  const source = text.split("\n").map((l) => visible(expandTabs(l)));
  while (source.length > 1 && source[source.length - 1].trim() === "") source.pop();
  while (source.length > 1 && source[0].trim() === "") source.shift();
  return source;
}

export interface BubbleOptions {
  /** Columns available: no line is wider. */
  width: number;
  /** The person at this screen: their bubbles go on the right, mentions of them stand out. */
  me?: Me;
  /** The current time (ms since the epoch), for a temporary message's time left and dates. */
  now: number;
  /** The room being looked at: a message of another room names it (default GENERAL_ROOM). */
  here?: string;
}

/** The widest text inside a bubble for a pane of `width` columns. */
export function innerWidthFor(width: number): number {
  return Math.max(1, Math.min(width - 4, Math.max(20, Math.min(60, Math.floor(width * 0.7) - 4))));
}

/** The line a reply shows of its original: "> author: first line", or that it was deleted. */
function quoteText(m: Shown, me: Me | undefined): string | undefined {
  if (!m.replyTo) return undefined;
  if (!m.quote || "deleted" in m.quote) return "> (a deleted message)";
  const author = m.quote.from === me?.id ? "you" : visible(m.quote.from);
  const first = visible(oneLine(m.quote.text.split("\n")[0]));
  return `> ${m.replyRef ? `#${m.replyRef} ` : ""}${author}: ${first}`;
}

/** The room of a public message when it is not `here` (shown only then). */
function elsewhere(m: Shown, here = GENERAL_ROOM): string | undefined {
  if (m.to !== undefined && m.to.length > 0) return undefined;
  const room = m.room ?? GENERAL_ROOM;
  return room !== here ? room : undefined;
}

/** The parts of the line under a bubble: sender, audience, time, ref, time left. */
function metaParts(m: Shown, options: BubbleOptions, mine: boolean): StyledLine {
  const { me, now } = options;
  const name = (id: string) => (id === me?.id ? "you" : visible(id));
  const parts: StyledLine = [{
    text: mine ? "you" : name(m.from),
    role: mine ? "mine" : nickRole(m.from),
  }];
  if (m.to && m.to.length > 0) {
    parts.push({ text: `Direct to ${m.to.map(name).join(", ")}`, role: "direct" });
  } else {
    // the room, when it is not the one looked at
    parts.push({ text: elsewhere(m, options.here) ?? "Public", role: "meta" });
  }
  parts.push({ text: stamp(m.time, now), role: "meta" });
  parts.push({ text: `#${m.ref}`, role: "ref" });
  if (m.expiresAt !== undefined) parts.push({ text: timeLeft(m.expiresAt - now), role: "temp" });
  return parts;
}

/** Joins parts with " · " into lines of at most `width` columns. */
function joinParts(parts: StyledLine, width: number): StyledLine[] {
  const lines: StyledLine[] = [];
  let line: StyledLine = [];
  let used = 0;
  for (const part of parts) {
    const text = truncate(part.text, width);
    const w = textWidth(text);
    if (used > 0 && used + 3 + w > width) {
      lines.push(line);
      line = [];
      used = 0;
    }
    if (used > 0) {
      line.push({ text: " · ", role: "meta" });
      used += 3;
    }
    line.push({ text, role: part.role });
    used += w;
  }
  if (line.length > 0) lines.push(line);
  return lines;
}

function widthOf(line: StyledLine): number {
  return line.reduce((sum, s) => sum + textWidth(s.text), 0);
}

/** Stands for the head of a line while its text is wrapped (one column, never in a message's text: private use). */
const PLACEHOLDER = "\ue000";

/** Below this many columns for the text, wrapped lines of the lines layout are not indented. */
const MIN_INDENTED_TEXT = 20;

/**
 * One message as one line (more when it wraps), as in irssi: `12:43 #ref <alice> text`, a direct
 * message as `<alice → bob_1234>`, a reply's quote on a line above, a temporary message's time
 * left after it. No borders or padding inside the text, so a selection copies the message as it
 * was written; wrapped lines are indented under the text, and a URL is never split (see
 * wrapPieces) and is a link.
 */
export function renderLine(m: Shown, options: BubbleOptions): StyledLine[] {
  const width = Math.max(1, Math.floor(options.width));
  const me = options.me;
  const mine = me !== undefined && m.from === me.id;
  const name = (id: string) => visible(id);
  // irssi's <nick:#channel> for a room other than the one looked at
  const room = elsewhere(m, options.here);
  const to = m.to && m.to.length > 0 ? ` → ${m.to.map(name).join(", ")}` : room ? `:${room}` : "";
  // an action is irssi's `* alice waves`
  const who = m.action ? `* ${name(m.from)}${to}` : `<${name(m.from)}${to}>`;
  const head: StyledLine = [
    { text: `${stamp(m.time, options.now, true)} `, role: "meta" },
    { text: `#${m.ref} `, role: "ref" },
    { text: who, role: mine ? "mine" : m.to?.length ? "direct" : nickRole(m.from) },
    { text: " ", role: "text" },
  ];
  const headWidth = widthOf(head);
  const indent = width - headWidth >= MIN_INDENTED_TEXT ? headWidth : 0;
  const lines: StyledLine[] = [];
  const quote = quoteText(m, me);
  if (quote) lines.push([{ text: truncate(`${spaces(indent)}${quote}`, width), role: "quote" }]);
  const temp = m.expiresAt !== undefined ? ` (${timeLeft(m.expiresAt - options.now)})` : "";
  const body = shownLines(m.text).flatMap((line, i) => {
    // the first line starts after the head: a placeholder as wide as the head (less the indent
    // every line has) is wrapped with it, then taken out again
    const lead = i === 0 && headWidth < width ? headWidth - indent : 0;
    if (lead === 0) return wrapPieces(line, width - indent);
    const wrapped = wrapPieces(`${PLACEHOLDER.repeat(lead - 1)} ${line}`, width - indent);
    wrapped[0] = wrapped[0].map((p, n) => (n === 0 ? { ...p, text: p.text.slice(lead) } : p))
      .filter((p) => p.text !== "");
    return wrapped;
  });
  const [first = [], ...rest] = headWidth < width ? body : [[], ...body];
  lines.push(
    fitHead(head, width, indent === 0 && first.length === 0 ? [] : pieceSegments(first, me, mine)),
  );
  for (const pieces of rest) {
    lines.push([{ text: spaces(indent), role: "text" }, ...pieceSegments(pieces, me, mine)]);
  }
  if (temp) {
    const last = lines[lines.length - 1];
    if (widthOf(last) + textWidth(temp) <= width) last.push({ text: temp, role: "temp" });
    else lines.push([{ text: truncate(`${spaces(indent)}${temp.trim()}`, width), role: "temp" }]);
  }
  return lines;
}

/** The head of a line, cut to `width` when even it is too wide, then the text after it. */
function fitHead(head: StyledLine, width: number, text: StyledLine): StyledLine {
  if (widthOf(head) <= width) return [...head, ...text];
  const out: StyledLine = [];
  let used = 0;
  for (const seg of head) {
    const shown = truncate(seg.text, width - used);
    if (shown !== "") out.push({ ...seg, text: shown });
    used += textWidth(shown);
    if (used >= width) break;
  }
  return out;
}

/**
 * One message as a speech bubble: others' on the left, mine on the right; a reply's quote at
 * the top inside; under it the sender, Public or Direct (with the recipients), the time, the
 * ref to type in /reply or /delete, and for a temporary message the time it has left. Text from
 * other people comes made safe (ui/safe.ts). Every line is at most `width` columns; mine are padded on the
 * left to end at the right edge.
 */
export function renderBubble(m: Shown, options: BubbleOptions): StyledLine[] {
  const width = Math.max(1, Math.floor(options.width));
  const me = options.me;
  const mine = me !== undefined && m.from === me.id;
  const source = shownLines(m.action ? `* ${m.from} ${m.text}` : m.text);
  const meta = metaParts(m, options, mine);
  const quote = quoteText(m, me);

  if (width < 6) {
    // too narrow for borders: the text, wrapped, then who and when
    const lines: StyledLine[] = [];
    if (quote) lines.push([{ text: truncate(quote, width), role: "quote" }]);
    for (const pieces of source.flatMap((l) => wrapPieces(l, width))) {
      lines.push(pieceSegments(pieces, me, mine));
    }
    return [...lines, ...joinParts(meta, width)];
  }

  const innerMax = innerWidthFor(width);
  const body = source.flatMap((line) => wrapPieces(line, innerMax));
  const bodyWidth = (pieces: Piece[]) => pieces.reduce((n, p) => n + textWidth(p.text), 0);
  let inner = Math.max(1, ...body.map(bodyWidth));
  if (quote) inner = Math.max(inner, Math.min(innerMax, textWidth(quote)));
  const left = mine ? width - (inner + 4) : 0;
  const indent = (line: StyledLine): StyledLine =>
    left > 0 ? [{ text: spaces(left), role: "text" }, ...line] : line;
  const border = (text: string): Seg => ({ text, role: mine ? "mine" : "border" });
  // the right border is pinned to its column: a glyph a terminal draws wider or narrower than
  // counted moves the text beside it, never the border
  const inside = (content: StyledLine, w: number): StyledLine =>
    indent([
      border("│ "),
      ...content,
      { text: spaces(inner - w), role: "text" },
      { ...border(" │"), pin: true },
    ]);
  const edge = (left: string, right: string): StyledLine =>
    indent([border(`${left}${"─".repeat(inner + 2)}`), { ...border(right), pin: true }]);

  const lines: StyledLine[] = [edge("╭", "╮")];
  if (quote) {
    const text = truncate(quote, inner);
    lines.push(inside([{ text, role: "quote" }], textWidth(text)));
  }
  for (const pieces of body) {
    lines.push(inside(pieceSegments(pieces, me, mine), bodyWidth(pieces)));
  }
  lines.push(edge("╰", "╯"));

  // the line under the bubble: from its left edge for others, to its right edge for mine
  for (const line of joinParts(meta, width - 1)) {
    const w = widthOf(line);
    const pad = mine ? width - w - 1 : 1;
    lines.push([{ text: spaces(pad), role: "text" }, ...line]);
  }
  return lines;
}
