// Unit tests for the full-screen UI's input: key decoding (src/ui/tui/keys.ts) and the input
// line reducer with history, completion and paste (src/ui/tui/input.ts).
//
// Run: deno test -A tests/tui_input_test.ts

import assert from "node:assert/strict";
import { decodeKeys, type Key } from "../src/ui/tui/keys.ts";
import {
  completionsFor,
  emptyInput,
  HISTORY_LIMIT,
  type InputAction,
  type InputContext,
  inputReducer,
  type InputState,
  inputView,
} from "../src/ui/tui/input.ts";
import { lineText } from "../src/ui/bubble.ts";
import { COMMANDS } from "../src/client/commands.ts";

// ---- keys --------------------------------------------------------------------------------------

const k = (name: string, mods: Partial<Record<"shift" | "ctrl" | "alt", boolean>> = {}): Key =>
  ({ kind: "key", name, ...mods }) as Key;

Deno.test("keys: typed text, Enter, Tab, Backspace and Ctrl+letters", () => {
  assert.deepEqual(decodeKeys("héllo 日本").keys, [{ kind: "text", text: "héllo 日本" }]);
  assert.deepEqual(decodeKeys("hi\r").keys, [{ kind: "text", text: "hi" }, k("enter")]);
  assert.deepEqual(decodeKeys("\t\x7f\x08").keys, [k("tab"), k("backspace"), k("backspace")]);
  assert.deepEqual(decodeKeys("\x01\x05\x15\x17\x03\x04").keys, [
    k("ctrl+a"),
    k("ctrl+e"),
    k("ctrl+u"),
    k("ctrl+w"),
    k("ctrl+c"),
    k("ctrl+d"),
  ]);
});

Deno.test("keys: arrows, Home/End, PgUp/PgDn, Delete, F2 in both spellings, Shift+Tab", () => {
  assert.deepEqual(decodeKeys("\x1b[A\x1b[B\x1b[C\x1b[D").keys, [
    k("up"),
    k("down"),
    k("right"),
    k("left"),
  ]);
  assert.deepEqual(decodeKeys("\x1bOA\x1b[H\x1b[F\x1b[1~\x1b[4~").keys, [
    k("up"),
    k("home"),
    k("end"),
    k("home"),
    k("end"),
  ]);
  assert.deepEqual(decodeKeys("\x1b[5~\x1b[6~\x1b[3~").keys, [
    k("pageUp"),
    k("pageDown"),
    k("delete"),
  ]);
  assert.deepEqual(decodeKeys("\x1bOQ\x1b[12~\x1b[Z").keys, [
    k("f2"),
    k("f2"),
    k("tab", { shift: true }),
  ]);
});

Deno.test("keys: modifiers and Alt", () => {
  assert.deepEqual(decodeKeys("\x1b[1;5C\x1b[1;3D").keys, [
    k("right", { ctrl: true }),
    k("left", { alt: true }),
  ]);
  assert.deepEqual(decodeKeys("\x1bb\x1bf\x1b\x7f\x1b\r").keys, [
    k("alt+b", { alt: true }),
    k("alt+f", { alt: true }),
    k("alt+backspace", { alt: true }),
    k("alt+enter", { alt: true }),
  ]);
});

Deno.test("keys: a sequence cut between reads waits for the rest; a lone ESC is Escape", () => {
  const first = decodeKeys("ab\x1b[");
  assert.deepEqual(first.keys, [{ kind: "text", text: "ab" }]);
  assert.equal(first.rest, "\x1b[");
  assert.deepEqual(decodeKeys(first.rest + "A").keys, [k("up")]);
  const lone = decodeKeys("\x1b");
  assert.deepEqual(lone.keys, []);
  assert.equal(lone.rest, "\x1b");
  assert.deepEqual(decodeKeys(lone.rest, true), { keys: [k("escape")], rest: "" });
});

Deno.test("keys: unknown sequences are swallowed whole, never typed", () => {
  const { keys } = decodeKeys("\x1b[?1;2c\x1b[200;5x\x1b[I\x1b[Oa");
  assert.deepEqual(keys, [{ kind: "text", text: "a" }]);
  // C1 controls inside text are dropped
  assert.deepEqual(decodeKeys("a\x9bb").keys, [{ kind: "text", text: "a" }, {
    kind: "text",
    text: "b",
  }]);
});

Deno.test("keys: bracketed paste is one key, even when it arrives in pieces", () => {
  assert.deepEqual(decodeKeys("\x1b[200~line 1\r\nline 2\x1b[201~x").keys, [
    { kind: "paste", text: "line 1\nline 2" },
    { kind: "text", text: "x" },
  ]);
  const part = decodeKeys("\x1b[200~first\rsec");
  assert.deepEqual(part.keys, []);
  const rest = decodeKeys(part.rest + "ond\x1b[201~");
  assert.deepEqual(rest.keys, [{ kind: "paste", text: "first\nsecond" }]);
});

Deno.test("keys: a burst with a line break inside is a paste (no bracketed paste), not lines", () => {
  assert.deepEqual(decodeKeys("one\rtwo\rthree\r").keys, [{
    kind: "paste",
    text: "one\ntwo\nthree",
  }]);
  // a line and its Enter in one read is still typing
  assert.deepEqual(decodeKeys("one\r").keys, [{ kind: "text", text: "one" }, k("enter")]);
});

Deno.test("keys: the mouse wheel (SGR and X10 reports); clicks are ignored", () => {
  assert.deepEqual(decodeKeys("\x1b[<64;10;5M\x1b[<65;10;5M\x1b[<0;3;3M\x1b[<0;3;3m").keys, [
    { kind: "wheel", delta: -1, x: 9, y: 4 },
    { kind: "wheel", delta: 1, x: 9, y: 4 },
  ]);
  const x10 = `\x1b[M${String.fromCharCode(96, 33 + 4, 33 + 2)}`;
  assert.deepEqual(decodeKeys(x10).keys, [{ kind: "wheel", delta: -1, x: 4, y: 2 }]);
});

// ---- the input line ----------------------------------------------------------------------------

const context: InputContext = {
  users: ["alice_1111", "alfred_2222", "bob_3333"],
  commands: ["reply", "delete", "temp", "search", "who", "users", "help", "?", "exit", "quit"],
  maxLength: 100,
};

function run(state: InputState, ...actions: InputAction[]): InputState {
  for (const action of actions) state = inputReducer(state, action, context).state;
  return state;
}

const typed = (text: string, cursor = text.length): InputState => ({
  ...emptyInput(),
  text,
  cursor,
});

Deno.test("input: typing, cursor moves and deletes work by grapheme", () => {
  let s = run(emptyInput(), { type: "insert", text: "ae\u0301👩‍👩‍👧z" });
  assert.equal(s.cursor, s.text.length);
  s = run(s, { type: "left" });
  assert.equal(s.text.slice(s.cursor), "z");
  s = run(s, { type: "backspace" }); // the whole family goes
  assert.equal(s.text, "ae\u0301z");
  s = run(s, { type: "left" }, { type: "delete" }); // é as one
  assert.equal(s.text, "az");
  s = run(s, { type: "home" }, { type: "insert", text: ">" }, { type: "end" }, {
    type: "insert",
    text: "<",
  });
  assert.equal(s.text, ">az<");
  // backspace at the start and delete at the end do nothing
  assert.equal(run(typed("x", 0), { type: "backspace" }).text, "x");
  assert.equal(run(typed("x"), { type: "delete" }).text, "x");
});

Deno.test("input: Ctrl+U, Ctrl+K, Ctrl+W, Alt+D and word moves", () => {
  assert.deepEqual(pick(run(typed("hello big world", 9), { type: "killBefore" })), [" world", 0]);
  assert.deepEqual(pick(run(typed("hello big world", 9), { type: "killAfter" })), ["hello big", 9]);
  assert.deepEqual(pick(run(typed("hello big world  "), { type: "killWordBefore" })), [
    "hello big ",
    10,
  ]);
  assert.deepEqual(pick(run(typed("hello big world", 5), { type: "killWordAfter" })), [
    "hello world",
    5,
  ]);
  assert.equal(run(typed("hello big world"), { type: "wordLeft" }).cursor, 10);
  assert.equal(run(typed("hello big world", 0), { type: "wordRight" }).cursor, 5);
});

const pick = (s: InputState) => [s.text, s.cursor];

Deno.test("input: Enter submits and clears; blank lines are not sent", () => {
  const r = inputReducer(typed("hi all"), { type: "submit" }, context);
  assert.equal(r.submit, "hi all");
  assert.equal(r.state.text, "");
  assert.deepEqual(r.state.history, ["hi all"]);
  const blank = inputReducer(typed("   "), { type: "submit" }, context);
  assert.equal(blank.submit, undefined);
  assert.deepEqual(blank.state.history, []);
});

Deno.test("input: history with Up/Down keeps the draft; repeats are stored once", () => {
  let s = emptyInput();
  for (const line of ["one", "two", "two", "three"]) {
    s = run(s, { type: "insert", text: line }, { type: "submit" });
  }
  assert.deepEqual(s.history, ["one", "two", "three"]);
  s = run(s, { type: "insert", text: "draft" }, { type: "historyUp" });
  assert.equal(s.text, "three");
  s = run(s, { type: "historyUp" }, { type: "historyUp" }, { type: "historyUp" });
  assert.equal(s.text, "one"); // stops at the oldest
  s = run(s, { type: "historyDown" }, { type: "historyDown" }, { type: "historyDown" });
  assert.equal(s.text, "draft");
  assert.equal(s.cursor, 5);
  s = run(s, { type: "historyDown" });
  assert.equal(s.text, "draft");
  // a bounded history
  let many = emptyInput();
  for (let i = 0; i < HISTORY_LIMIT + 20; i++) {
    many = run(many, { type: "insert", text: `l${i}` }, { type: "submit" });
  }
  assert.equal(many.history.length, HISTORY_LIMIT);
});

Deno.test("completion: one @id completes with a space; several go to their common prefix", () => {
  const one = inputReducer(typed("hi @bo"), { type: "complete" }, context);
  assert.deepEqual(pick(one.state), ["hi @bob_3333 ", 13]);
  const several = inputReducer(typed("@a"), { type: "complete" }, context);
  assert.equal(several.state.text, "@al");
  assert.equal(several.hint, "@alfred_2222  @alice_1111");
});

Deno.test("completion: Tab again cycles (Shift+Tab back); typing ends the cycle", () => {
  let s = run(typed("@al"), { type: "complete" });
  assert.equal(s.text, "@alfred_2222");
  s = run(s, { type: "complete" });
  assert.equal(s.text, "@alice_1111");
  s = run(s, { type: "complete" });
  assert.equal(s.text, "@alfred_2222");
  s = run(s, { type: "completeBack" });
  assert.equal(s.text, "@alice_1111");
  s = run(s, { type: "insert", text: " hi" });
  assert.equal(s.completion, undefined);
  assert.equal(s.text, "@alice_1111 hi");
});

Deno.test("completion: /commands from the table, only at the start of the line", () => {
  assert.equal(run(typed("/rep"), { type: "complete" }).text, "/reply ");
  assert.equal(run(typed("/s"), { type: "complete" }).text, "/search ");
  const e = inputReducer(typed("/e"), { type: "complete" }, context);
  assert.equal(e.state.text, "/exit ");
  assert.deepEqual(completionsFor("say /rep", 8, context).candidates, []);
  assert.equal(inputReducer(typed("/zz"), { type: "complete" }, context).hint, "no match");
  // mid-line: completes the word before the cursor, keeps the rest
  const mid = run(typed("@bo hello", 3), { type: "complete" });
  assert.equal(mid.text, "@bob_3333 hello");
});

Deno.test("completion: /sessions and /logout-others come from the command table", () => {
  const real: InputContext = {
    ...context,
    commands: COMMANDS.flatMap((c) => [c.name, ...c.aliases]),
  };
  const complete = (text: string) =>
    inputReducer(typed(text), { type: "complete" }, real).state.text;
  assert.equal(complete("/log"), "/logout-others ");
  assert.equal(complete("/logout-o"), "/logout-others ");
  assert.equal(complete("/ses"), "/sessions ");
});

Deno.test("completion: ids of 5 to 8 digits complete like 4-digit ones", () => {
  const long: InputContext = { ...context, users: ["zoe_12345", "zed_12345678", "zed_0042"] };
  const complete = (text: string) =>
    inputReducer(typed(text), { type: "complete" }, long).state.text;
  assert.equal(complete("@zo"), "@zoe_12345 ");
  assert.equal(complete("@zed_1"), "@zed_12345678 ");
  assert.deepEqual(completionsFor("@zed", 4, long).candidates, ["@zed_0042", "@zed_12345678"]);
});

Deno.test("paste: several lines become one message's text; too long is refused whole", () => {
  const r = inputReducer(typed("note: "), { type: "paste", text: "a\r\nb\rc\n" }, context);
  assert.equal(r.state.text, "note: a\nb\nc");
  assert.match(r.hint!, /pasted 3 lines: Enter sends them as one message/);
  assert.equal(inputReducer(r.state, { type: "submit" }, context).submit, "note: a\nb\nc");
  const big = inputReducer(typed("x"), { type: "paste", text: "y".repeat(150) }, context);
  assert.equal(big.state.text, "x"); // nothing inserted, nothing sent
  assert.match(big.hint!, /^paste refused: 150 characters, 99 more fit/);
  // escape sequences in a paste are dropped
  const esc = inputReducer(emptyInput(), { type: "paste", text: "\x1b[31mred\x1b[0m" }, context);
  assert.equal(esc.state.text, "red");
});

Deno.test("inputView: the cursor column counts wide characters; the view slides to it", () => {
  const view = inputView(typed("日本語ab", 3), 40);
  assert.equal(lineText(view.line), "› 日本語ab");
  assert.equal(view.cursorX, 2 + 6);
  const long = "x".repeat(100);
  const end = inputView(typed(long), 30);
  assert.equal(end.cursorX, 29);
  assert.ok(lineText(end.line).length <= 30);
  const start = inputView(typed(long, 0), 30);
  assert.equal(start.cursorX, 2);
  const lines = inputView(typed("a\nb"), 30);
  assert.equal(lineText(lines.line), "› a↵b");
});

// ---- issue 13: tabs pasted without bracketed paste, Esc and a character in one read, marks ----

Deno.test("keys: a burst with a tab inside is a paste (kept as text), a Tab alone is the key", () => {
  // a terminal without bracketed paste delivers a pasted row of a table in one read
  assert.deepEqual(decodeKeys("name\tqty\tprice").keys, [
    { kind: "paste", text: "name\tqty\tprice" },
  ]);
  assert.deepEqual(decodeKeys("\t").keys, [k("tab")]);
  // typed faster than read: the text, then the Tab key (completion), not a paste
  assert.deepEqual(decodeKeys("@al\t").keys, [{ kind: "text", text: "@al" }, k("tab")]);
  assert.deepEqual(decodeKeys("a\tb\t").keys, [{ kind: "paste", text: "a\tb\t" }]);
});

Deno.test("paste: tabs stay tabs in the line (bracketed or not) and show at tab stops", () => {
  const pasted = run(emptyInput(), { type: "paste", text: "name\tqty\tprice" });
  assert.equal(pasted.text, "name\tqty\tprice");
  const { submit } = inputReducer(pasted, { type: "submit" }, context);
  assert.equal(submit, "name\tqty\tprice");
  assert.equal(lineText(inputView(pasted, 40).line), "› name    qty     price");
});

Deno.test("keys: Esc and a character in one read is Escape, then the character — never Alt+/", () => {
  assert.deepEqual(decodeKeys("\x1b/search foo").keys, [
    k("escape"),
    { kind: "text", text: "/search foo" },
  ]);
  assert.deepEqual(decodeKeys("\x1b.temp").keys, [k("escape"), { kind: "text", text: ".temp" }]);
  // the Alt keys the line has still work
  assert.deepEqual(decodeKeys("\x1bb\x1bd\x1bf").keys, [
    k("alt+b", { alt: true }),
    k("alt+d", { alt: true }),
    k("alt+f", { alt: true }),
  ]);
  // and the line typed after Esc is sent as the command it is
  const state = run(emptyInput(), { type: "insert", text: "/search foo" });
  assert.equal(inputReducer(state, { type: "submit" }, context).submit, "/search foo");
});

Deno.test("inputView: a … marks each edge beyond which text is hidden", () => {
  const text = "abcdefghijklmnopqrstuvwxyz0123456789";
  const atStart = inputView(typed(text, 0), 20);
  assert.equal(lineText(atStart.line), "› abcdefghijklmnopq…");
  assert.equal(atStart.cursorX, 2);
  const inside = inputView(typed(text, 25), 20);
  assert.match(lineText(inside.line), /^› …[a-z0-9]+…$/);
  assert.equal(textWidthOf(inside.line), 20);
  const atEnd = inputView(typed(text), 20);
  assert.match(lineText(atEnd.line), /^› …[a-z0-9]+$/);
  assert.ok(lineText(atEnd.line).endsWith("6789"));
  assert.equal(atEnd.cursorX, 19);
  // nothing hidden, no mark
  assert.equal(lineText(inputView(typed("short"), 20).line), "› short");
});

const textWidthOf = (line: { text: string }[]) => line.reduce((n, s) => n + [...s.text].length, 0);
