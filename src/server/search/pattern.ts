/**
 * Search patterns: compiled with re2js (RE2 semantics, linear time in the text), refused when
 * they do not compile or compile too large, and paired with a conservative prefilter — literal
 * runs every match must contain — so most texts never reach the regex engine at all.
 *
 * Pure: no I/O, no clock. Used on the main thread (InlineSearcher) and in the search worker.
 */
import { RE2JS } from "re2js";

/**
 * Largest compiled program (re2js `programSize()`, in instructions) a search may use: matching
 * costs grow with it when re2js cannot use its DFA. At this cap the worst 4,000-character message
 * measured costs 55–140 ms (up to 280 ms with the two shared cores loaded by others):
 * `[a-m].{295}[0-9]` (size 299: the DFA gives up and the NFA runs); `\b(\w*\s*){49}[0-9]` (298)
 * costs 35–100 ms; re2js 1.4.0. That is how far a search can overrun its time budget, checked
 * after each message. For comparison `zzz` is 5 and costs 0.15 ms; `(.*a){60}` is 302. Every
 * literal pattern up to the 256-character pattern limit fits (about one instruction a character).
 */
export const MAX_PATTERN_PROGRAM_SIZE = 300;

/** A pattern ready to search with. */
export interface SearchPattern {
  readonly source: string;
  /** re2js instructions: what bounds the cost per character. */
  readonly programSize: number;
  /** Lower-cased ASCII runs every match contains, longest first (empty: none known). */
  readonly requiredLiterals: readonly string[];
  /** Whether `text` contains a match (case-insensitive). */
  matches(text: string): boolean;
}

export type CompiledPattern =
  | { ok: true; pattern: SearchPattern }
  | { ok: false; code: "bad_pattern"; message: string };

/**
 * Compiles `source` as a case-insensitive RE2 pattern. Never throws: any failure of re2js
 * (syntax errors, and the TypeErrors it throws on some valid patterns such as `\pN`) and a
 * program over {@link MAX_PATTERN_PROGRAM_SIZE} come back as `bad_pattern` with one sentence.
 */
export function compilePattern(source: string): CompiledPattern {
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(source, RE2JS.CASE_INSENSITIVE);
  } catch (error) {
    return { ok: false, code: "bad_pattern", message: describeCompileError(error) };
  }
  const programSize = regex.programSize();
  if (programSize > MAX_PATTERN_PROGRAM_SIZE) {
    return {
      ok: false,
      code: "bad_pattern",
      message: `that pattern is too complex to search with (it compiles to ${programSize} steps, ` +
        `at most ${MAX_PATTERN_PROGRAM_SIZE}); try a shorter or more specific one`,
    };
  }
  const literals = requiredLiterals(source);
  // test() takes re2js's DFA path when it can: 10–40 times faster than matcher().find()
  const matches = literals.length === 0
    ? (text: string) => regex.test(text)
    : (text: string) => containsAll(foldForPrefilter(text), literals) && regex.test(text);
  return { ok: true, pattern: { source, programSize, requiredLiterals: literals, matches } };
}

function describeCompileError(error: unknown): string {
  // re2js's syntax errors name the problem; anything else is a failure inside re2js itself
  if (error instanceof Error && error.name === "RE2JSSyntaxException") {
    const why = error.message.replace("(?i)", "").replace(/^error parsing regexp: /, "");
    return `that pattern is not a valid regular expression: ${why}`;
  }
  return "that pattern could not be compiled by the search engine; try writing it another way";
}

/**
 * The text as the prefilter compares it: lower-cased, with ſ (U+017F) as s. RE2's case folding
 * makes ASCII letters match only their other case, K (U+212A, which toLowerCase makes k) and ſ
 * (which it leaves alone); everything else toLowerCase does can only add matches of a literal,
 * never remove one, so the prefilter stays conservative.
 */
export function foldForPrefilter(text: string): string {
  const lowered = text.toLowerCase();
  return lowered.includes("\u017f") ? lowered.replaceAll("\u017f", "s") : lowered;
}

/** Whether `folded` (see {@link foldForPrefilter}) contains every literal. */
export function containsAll(folded: string, literals: readonly string[]): boolean {
  for (const literal of literals) if (!folded.includes(literal)) return false;
  return true;
}

/**
 * Literal runs of ASCII characters that every match of `pattern` (RE2 syntax, matched
 * case-insensitively) must contain, lower-cased, longest first. Conservative: whatever is not
 * understood gives no literal at all (an empty list), so a text is never wrongly skipped.
 * Understood: literal characters and escaped punctuation; `.`, `^`, `$`, classes `[...]` (with
 * no `[` inside), `\d \s \w \b \A \z \pX \p{..}`, control escapes, `\x..` and non-ASCII
 * characters as atoms that end a run; groups `(..)`, `(?:..)`, `(?P<n>..)`, `(?<n>..)`; the
 * quantifiers `? * + {n} {n,} {n,m}` (lazy too). Not understood: `|` anywhere outside a class,
 * flag groups `(?i)`, `\Q..\E`, octal and other escapes, nested quantifiers.
 */
export function requiredLiterals(pattern: string): string[] {
  // \Q...\E quotes text with rules of its own; "\\Q" (an escaped backslash) is refused too
  if (pattern.includes("\\Q")) return [];
  const parser = new LiteralParser(pattern);
  let runs: string[];
  try {
    runs = parser.sequence(0);
  } catch (error) {
    if (error === NOT_UNDERSTOOD) return [];
    throw error;
  }
  // only the ASCII letters fold, and only to their lower case (see foldForPrefilter)
  const lowered = [...new Set(runs.map((run) => run.toLowerCase()))]
    .sort((a, b) => b.length - a.length);
  // a run inside a longer one adds nothing
  return lowered.filter((run, i) => !lowered.slice(0, i).some((longer) => longer.includes(run)));
}

const NOT_UNDERSTOOD = Symbol("not understood");

/** One thing a quantifier can follow: a literal character, a group's runs, or anything else. */
type Atom = { char: string } | { group: string[] } | "other";

/** A quantifier's least count, or null when the next character starts none. */
type Quantifier = { min: number } | null;

const REPEAT = /^\{(\d+)(?:,(\d*))?\}/;

class LiteralParser {
  readonly #source: string;
  #at = 0;

  constructor(source: string) {
    this.#source = source;
  }

  /** A concatenation up to the end or an unmatched `)` (inside a group): its required runs. */
  sequence(depth: number): string[] {
    const source = this.#source;
    const runs: string[] = [];
    let run = "";
    const endRun = () => {
      if (run !== "") runs.push(run);
      run = "";
    };
    while (this.#at < source.length) {
      const c = source[this.#at];
      if (c === "|") throw NOT_UNDERSTOOD;
      if (c === ")") {
        if (depth === 0) throw NOT_UNDERSTOOD;
        break;
      }
      const atom = this.#atom();
      const quantifier = this.#quantifier();
      if (quantifier !== null && this.#startsQuantifier()) throw NOT_UNDERSTOOD;
      if (atom === "other") {
        endRun();
      } else if ("group" in atom) {
        endRun();
        if (quantifier === null || quantifier.min >= 1) runs.push(...atom.group);
      } else if (quantifier === null) {
        run += atom.char;
      } else if (quantifier.min === 0) {
        endRun();
      } else {
        // c+ or c{2,}: the run so far ends with one c, and the run after starts with one
        run += atom.char;
        endRun();
        run = atom.char;
      }
    }
    endRun();
    return runs;
  }

  #atom(): Atom {
    const source = this.#source;
    const c = source[this.#at];
    switch (c) {
      case "(":
        return this.#group();
      case "[":
        this.#skipClass();
        return "other";
      case "\\":
        return this.#escape();
      case ".":
      case "^":
      case "$":
        this.#at++;
        return "other";
      case "*":
      case "+":
      case "?":
        throw NOT_UNDERSTOOD; // a quantifier with nothing to repeat
      case "{":
        // "{" that reads as a repeat count quantifies; otherwise RE2 takes it literally
        if (REPEAT.test(source.slice(this.#at))) throw NOT_UNDERSTOOD;
        this.#at++;
        return { char: "{" };
    }
    const code = source.codePointAt(this.#at)!;
    if (code >= 0x80) {
      this.#at += code > 0xffff ? 2 : 1;
      return "other";
    }
    this.#at++;
    return { char: c };
  }

  #group(): Atom {
    const source = this.#source;
    this.#at++; // (
    if (source[this.#at] === "?") {
      if (source.startsWith("?:", this.#at)) {
        this.#at += 2;
      } else if (source.startsWith("?P<", this.#at) || source.startsWith("?<", this.#at)) {
        const close = source.indexOf(">", this.#at);
        if (close < 0) throw NOT_UNDERSTOOD;
        this.#at = close + 1;
      } else {
        throw NOT_UNDERSTOOD; // flags: (?i) (?s:...) and the like
      }
    }
    const group = this.sequence(1);
    if (source[this.#at] !== ")") throw NOT_UNDERSTOOD;
    this.#at++;
    return { group };
  }

  /** Past a class `[...]`; any `[` inside (POSIX `[:alpha:]`, or a literal one) is refused. */
  #skipClass(): void {
    const source = this.#source;
    this.#at++; // [
    if (source[this.#at] === "^") this.#at++;
    if (source[this.#at] === "]") this.#at++; // first, "]" is itself
    while (this.#at < source.length) {
      const c = source[this.#at];
      if (c === "[") throw NOT_UNDERSTOOD;
      if (c === "]") {
        this.#at++;
        return;
      }
      // an escape's next character never ends the class (\p{..} and \x{..} hold no "]")
      this.#at += c === "\\" ? 2 : 1;
    }
    throw NOT_UNDERSTOOD;
  }

  #escape(): Atom {
    const source = this.#source;
    this.#at++; // backslash
    if (this.#at >= source.length) throw NOT_UNDERSTOOD;
    const c = source[this.#at];
    this.#at++;
    if ("AzbBdDsSwWafnrtv".includes(c)) return "other";
    if (c === "p" || c === "P" || c === "x") {
      if (source[this.#at] === "{") {
        const close = source.indexOf("}", this.#at);
        if (close < 0) throw NOT_UNDERSTOOD;
        this.#at = close + 1;
      } else {
        const width = c === "x" ? 2 : 1;
        if (this.#at + width > source.length) throw NOT_UNDERSTOOD;
        this.#at += width;
      }
      return "other";
    }
    // RE2: an escaped ASCII character that is not a letter or digit stands for itself
    if (c.charCodeAt(0) < 0x80 && !/[A-Za-z0-9]/.test(c)) return { char: c };
    throw NOT_UNDERSTOOD;
  }

  #quantifier(): Quantifier {
    const source = this.#source;
    const c = source[this.#at];
    let min: number;
    if (c === "*" || c === "?") {
      min = 0;
      this.#at++;
    } else if (c === "+") {
      min = 1;
      this.#at++;
    } else if (c === "{") {
      const repeat = REPEAT.exec(source.slice(this.#at));
      if (!repeat) return null; // a literal "{", read as the next atom
      // RE2 reads {01} as literal text, not a count: too subtle to follow
      if (/^0\d/.test(repeat[1]) || /^0\d/.test(repeat[2] ?? "")) throw NOT_UNDERSTOOD;
      min = Number(repeat[1]);
      this.#at += repeat[0].length;
    } else {
      return null;
    }
    if (source[this.#at] === "?") this.#at++; // lazy: the same strings match
    return { min };
  }

  #startsQuantifier(): boolean {
    const source = this.#source;
    const c = source[this.#at];
    return c === "*" || c === "+" || c === "?" ||
      (c === "{" && REPEAT.test(source.slice(this.#at)));
  }
}
