/**
 * The input line as a pure reducer: editing with a cursor (by grapheme, so an emoji or an
 * accented letter moves and deletes as one), history (Up/Down, the draft kept), Tab completion
 * of `@ids` and `/commands`, and pastes (several lines become one message; too long is refused
 * with a word, never cut or flooded).
 *
 * @example
 * ```ts
 * let state = emptyInput();
 * ({ state } = inputReducer(state, { type: "insert", text: "hi @al" }, context));
 * ({ state } = inputReducer(state, { type: "complete" }, context)); // "hi @alice_1234 "
 * const { submit } = inputReducer(state, { type: "submit" }, context);
 * ```
 */
import { graphemes, type StyledLine, tabWidth, textWidth, visible } from "../bubble.ts";
import { sanitize, sanitizeKeepingTabs } from "../sanitize.ts";

/** Lines kept in the history. */
export const HISTORY_LIMIT = 500;

export interface Completion {
  /** The replaced span of the text. */
  start: number;
  end: number;
  candidates: string[];
  index: number;
}

export interface InputState {
  text: string;
  /** Cursor, as an index into `text` at a grapheme boundary. */
  cursor: number;
  /** Lines sent, oldest first. */
  history: string[];
  /** Which history line is shown; `history.length` means the draft. */
  historyIndex: number;
  /** What was being typed before moving into the history. */
  draft: string;
  /** Set while Tab cycles through several candidates. */
  completion?: Completion;
}

/** Actions that carry nothing but their name. */
export type EditKind =
  | "left"
  | "right"
  | "home"
  | "end"
  | "wordLeft"
  | "wordRight"
  | "backspace"
  | "delete"
  | "killBefore"
  | "killAfter"
  | "killWordBefore"
  | "killWordAfter"
  | "historyUp"
  | "historyDown"
  | "submit"
  | "complete"
  | "completeBack"
  | "newline"
  | "clear";

export type InputAction =
  | { type: "insert"; text: string }
  | { type: "paste"; text: string }
  | { type: EditKind };

export interface InputContext {
  /** Ids of the people online (for `@` completion). */
  users: string[];
  /** Command names and aliases, without the slash (for `/` completion). */
  commands: string[];
  /** Longest message, in UTF-16 code units (a paste beyond it is refused). */
  maxLength: number;
}

export interface InputResult {
  state: InputState;
  /** A line to send. */
  submit?: string;
  /** A word for the person: completion candidates, a refused paste. */
  hint?: string;
}

export function emptyInput(history: string[] = []): InputState {
  return { text: "", cursor: 0, history, historyIndex: history.length, draft: "" };
}

/** Grapheme boundaries of a text: 0, …, text.length. */
function boundaries(text: string): number[] {
  const out = [0];
  let at = 0;
  for (const g of graphemes(text)) out.push(at += g.length);
  return out;
}

function prevBoundary(text: string, at: number): number {
  const b = boundaries(text);
  for (let i = b.length - 1; i >= 0; i--) if (b[i] < at) return b[i];
  return 0;
}

function nextBoundary(text: string, at: number): number {
  for (const b of boundaries(text)) if (b > at) return b;
  return text.length;
}

const isSpace = (ch: string | undefined) => ch !== undefined && /\s/.test(ch);

function wordStart(text: string, at: number): number {
  let i = at;
  while (i > 0 && isSpace(text[i - 1])) i--;
  while (i > 0 && !isSpace(text[i - 1])) i--;
  return i;
}

function wordEnd(text: string, at: number): number {
  let i = at;
  while (i < text.length && isSpace(text[i])) i++;
  while (i < text.length && !isSpace(text[i])) i++;
  return i;
}

function edit(state: InputState, text: string, cursor: number): InputState {
  return { ...state, text, cursor, completion: undefined };
}

function insert(state: InputState, text: string): InputState {
  const t = state.text.slice(0, state.cursor) + text + state.text.slice(state.cursor);
  return edit(state, t, state.cursor + text.length);
}

/** The longest prefix all the strings share (case-insensitively; the first one's spelling). */
function commonPrefix(words: string[]): string {
  let prefix = words[0] ?? "";
  for (const w of words.slice(1)) {
    let i = 0;
    while (i < prefix.length && i < w.length && prefix[i].toLowerCase() === w[i].toLowerCase()) {
      i++;
    }
    prefix = prefix.slice(0, i);
  }
  return prefix;
}

/** What Tab offers for the word before the cursor. */
export function completionsFor(
  text: string,
  cursor: number,
  context: InputContext,
): { start: number; candidates: string[] } {
  let start = cursor;
  while (start > 0 && !isSpace(text[start - 1])) start--;
  const word = text.slice(start, cursor);
  const lower = word.toLowerCase();
  let candidates: string[] = [];
  if (word.startsWith("@")) {
    candidates = context.users
      .filter((id) => `@${id}`.toLowerCase().startsWith(lower))
      .map((id) => `@${id}`);
  } else if (word.startsWith("/") && text.slice(0, start).trim() === "") {
    candidates = context.commands
      .filter((name) => `/${name}`.toLowerCase().startsWith(lower))
      .map((name) => `/${name}`);
  }
  return { start, candidates: [...new Set(candidates)].sort() };
}

function complete(state: InputState, context: InputContext, step: 1 | -1): InputResult {
  const c = state.completion;
  if (c) {
    const index = (c.index + step + c.candidates.length) % c.candidates.length;
    const word = c.candidates[index];
    const text = state.text.slice(0, c.start) + word + state.text.slice(c.end);
    const end = c.start + word.length;
    return {
      state: { ...state, text, cursor: end, completion: { ...c, end, index } },
      hint: c.candidates.join("  "),
    };
  }
  const { start, candidates } = completionsFor(state.text, state.cursor, context);
  const word = state.text.slice(start, state.cursor);
  if (candidates.length === 0) {
    return { state, hint: word.startsWith("@") || word.startsWith("/") ? "no match" : undefined };
  }
  const replace = (by: string, cursor?: number) =>
    state.text.slice(0, start) + by + state.text.slice(state.cursor, cursor);
  if (candidates.length === 1) {
    const after = state.text.slice(state.cursor);
    const space = after.startsWith(" ") ? "" : " ";
    const text = replace(candidates[0] + space);
    return { state: edit(state, text, start + candidates[0].length + 1) };
  }
  const prefix = commonPrefix(candidates);
  if (prefix.length > word.length) {
    return {
      state: edit(state, replace(prefix), start + prefix.length),
      hint: candidates.join("  "),
    };
  }
  // nothing more in common: Tab again walks through them
  const first = step === 1 ? 0 : candidates.length - 1;
  const text = replace(candidates[first]);
  const end = start + candidates[first].length;
  return {
    state: {
      ...state,
      text,
      cursor: end,
      completion: { start, end, candidates, index: first },
    },
    hint: candidates.join("  "),
  };
}

/** Applies one action to the input line. */
export function inputReducer(
  state: InputState,
  action: InputAction,
  context: InputContext,
): InputResult {
  const { text, cursor } = state;
  switch (action.type) {
    case "insert": {
      const clean = visible(sanitize(action.text).replace(/\n/g, ""));
      return { state: clean ? insert(state, clean) : state };
    }
    case "paste": {
      // tabs stay tabs (pasted columns line up, on screen and for the people who get them)
      const clean = sanitizeKeepingTabs(action.text.replace(/\r\n?/g, "\n")).split("\n")
        .map(visible).join("\n").replace(/\n+$/, "");
      if (clean === "") return { state };
      const total = text.length + clean.length;
      if (total > context.maxLength) {
        return {
          state,
          hint: `paste refused: ${clean.length} characters, ${
            text.length > 0
              ? `${context.maxLength - text.length} more fit`
              : `a message holds ${context.maxLength}`
          }`,
        };
      }
      const lines = clean.split("\n").length;
      return {
        state: insert(state, clean),
        hint: lines > 1 ? `pasted ${lines} lines: Enter sends them as one message` : undefined,
      };
    }
    case "left":
      return { state: edit(state, text, prevBoundary(text, cursor)) };
    case "right":
      return { state: edit(state, text, nextBoundary(text, cursor)) };
    case "home":
      return { state: edit(state, text, 0) };
    case "end":
      return { state: edit(state, text, text.length) };
    case "wordLeft":
      return { state: edit(state, text, wordStart(text, cursor)) };
    case "wordRight":
      return { state: edit(state, text, wordEnd(text, cursor)) };
    case "backspace": {
      if (cursor === 0) return { state: edit(state, text, cursor) };
      const at = prevBoundary(text, cursor);
      return { state: edit(state, text.slice(0, at) + text.slice(cursor), at) };
    }
    case "delete": {
      if (cursor === text.length) return { state: edit(state, text, cursor) };
      return {
        state: edit(state, text.slice(0, cursor) + text.slice(nextBoundary(text, cursor)), cursor),
      };
    }
    case "killBefore":
      return { state: edit(state, text.slice(cursor), 0) };
    case "killAfter":
      return { state: edit(state, text.slice(0, cursor), cursor) };
    case "killWordBefore": {
      const at = wordStart(text, cursor);
      return { state: edit(state, text.slice(0, at) + text.slice(cursor), at) };
    }
    case "killWordAfter": {
      const at = wordEnd(text, cursor);
      return { state: edit(state, text.slice(0, cursor) + text.slice(at), cursor) };
    }
    case "historyUp": {
      if (state.historyIndex === 0) return { state: { ...state, completion: undefined } };
      const draft = state.historyIndex === state.history.length ? text : state.draft;
      const line = state.history[state.historyIndex - 1];
      return {
        state: {
          ...state,
          text: line,
          cursor: line.length,
          historyIndex: state.historyIndex - 1,
          draft,
          completion: undefined,
        },
      };
    }
    case "historyDown": {
      if (state.historyIndex >= state.history.length) {
        return { state: { ...state, completion: undefined } };
      }
      const index = state.historyIndex + 1;
      const line = index === state.history.length ? state.draft : state.history[index];
      return {
        state: {
          ...state,
          text: line,
          cursor: line.length,
          historyIndex: index,
          completion: undefined,
        },
      };
    }
    case "complete":
      return complete(state, context, 1);
    case "completeBack":
      return complete(state, context, -1);
    case "newline":
      if (text.length >= context.maxLength) return { state };
      return { state: insert(state, "\n"), hint: "Enter sends all the lines as one message" };
    case "clear":
      return { state: edit(state, "", 0) };
    case "submit": {
      if (text.trim() === "") return { state: edit(state, "", 0) };
      const history = state.history[state.history.length - 1] === text
        ? state.history
        : [...state.history, text].slice(-HISTORY_LIMIT);
      return { state: emptyInput(history), submit: text };
    }
  }
}

/** Shown at an edge of the input line when text is hidden beyond it. */
export const MORE_MARK = "…";

/**
 * The input line as shown in `width` columns after a prompt: a line break shows as "↵", a tab
 * as spaces to the next tab stop, and when the text is wider than the line the view slides
 * sideways to keep the cursor in sight, with a "…" at the edge where text is hidden. Returns the
 * line and the cursor's column.
 */
export function inputView(
  state: InputState,
  width: number,
  prompt = "› ",
): { line: StyledLine; cursorX: number } {
  const promptWidth = textWidth(prompt);
  const room = Math.max(1, width - promptWidth);
  // cells: [shown text, width, index in state.text where the grapheme starts]
  const cells: { text: string; width: number; at: number; newline: boolean }[] = [];
  let at = 0;
  let col = 0;
  for (const g of graphemes(state.text)) {
    const newline = g === "\n" || g === "\r\n";
    const shown = newline ? "↵" : g === "\t" ? " ".repeat(tabWidth(col)) : g;
    const w = textWidth(shown);
    cells.push({ text: shown, width: w, at, newline });
    at += g.length;
    col += w;
  }
  const total = col;
  let cursorCol = 0;
  for (const cell of cells) if (cell.at < state.cursor) cursorCol += cell.width;
  // keep the cursor inside (it needs a cell of its own after the text): scroll so that it sits
  // at the right edge when past it; a mark takes a cell at each edge where text is hidden
  const fit = (left: boolean, right: boolean) => {
    const avail = room - (left ? 1 : 0) - (right ? 1 : 0);
    const start = Math.max(0, cursorCol - avail + 1);
    return { left, avail, start, ok: (start > 0) === left && (start + avail < total) === right };
  };
  const marks = room > 3
    ? [fit(false, false), fit(false, true), fit(true, false), fit(true, true)].find((f) => f.ok)
    : undefined;
  const { left, avail, start } = marks ?? { ...fit(false, false), left: false };
  const line: StyledLine = [{ text: prompt, role: "hint" }];
  if (left) line.push({ text: MORE_MARK, role: "hint" });
  let pos = 0;
  let used = 0;
  let shownFrom = -1;
  let hiddenAfter = false;
  for (const cell of cells) {
    const from = pos;
    pos += cell.width;
    if (from < start) continue;
    if (used + cell.width > avail) {
      hiddenAfter = true;
      break;
    }
    if (shownFrom < 0) shownFrom = from;
    const role = cell.newline ? "hint" : "input";
    const last = line[line.length - 1];
    if (last.role === role && last !== line[0] && !(left && last === line[1])) {
      last.text += cell.text;
    } else line.push({ text: cell.text, role });
    used += cell.width;
  }
  if (hiddenAfter) {
    line.push({ text: " ".repeat(Math.max(0, avail - used)), role: "input" });
    line.push({ text: MORE_MARK, role: "hint" });
  }
  if (shownFrom < 0) shownFrom = cursorCol;
  return { line, cursorX: promptWidth + (left ? 1 : 0) + cursorCol - shownFrom };
}
