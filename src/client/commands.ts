/**
 * The input line → an intent. Commands live in one table (name, aliases, usage, help, parse),
 * so /help and completion come from it. Nothing here does I/O.
 */
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from "../protocol/schema.ts";

export type Intent =
  | { kind: "none" }
  | { kind: "send"; text: string; to?: string[] }
  | { kind: "reply"; ref: string; text: string }
  | { kind: "delete"; ref: string }
  | { kind: "temp"; ttl: number; text: string; to?: string[] }
  | { kind: "search"; pattern: string }
  | { kind: "who" }
  | { kind: "sessions" }
  | { kind: "logoutOthers" }
  | { kind: "reconnect" }
  | { kind: "help" }
  | { kind: "exit" }
  | { kind: "usage"; message: string };

export interface Command {
  name: string;
  aliases: string[];
  /** Also spelled `.name` (the original's spellings); such a line must look like the command. */
  dotted?: boolean;
  usage: string;
  help: string;
  /** Turns the text after the command word into an intent. */
  parse(args: string): Intent;
}

/** Default lifetime of a temporary message, seconds. */
export const DEFAULT_TEMP_SECONDS = 60;
export { MAX_TTL_SECONDS as MAX_TEMP_SECONDS, MIN_TTL_SECONDS as MIN_TEMP_SECONDS };

const usage = (command: Command): Intent => ({ kind: "usage", message: `usage: ${command.usage}` });

/** Splits `@a @b text` into recipients and text; recipients are undefined when there are none. */
export function splitRecipients(line: string): { to?: string[]; text: string } {
  const to: string[] = [];
  let rest = line.trimStart();
  for (;;) {
    const match = /^@(\S*)(?:\s+|$)/.exec(rest);
    if (!match) break;
    to.push(match[1]);
    rest = rest.slice(match[0].length);
  }
  return to.length ? { to, text: rest } : { text: rest };
}

/**
 * Parses `30s`, `5m`, `2h`, `1d`; null when it is not a duration. The unit is required, so
 * `/temp 3 little pigs` is a message about pigs, not a 3-second one.
 */
export function parseDuration(text: string): number | null {
  const match = /^([0-9]{1,7})([smhd])$/.exec(text);
  if (!match) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as "s"];
  return Number(match[1]) * unit;
}

function directOrPublic(line: string, what: string): Intent {
  const { to, text } = splitRecipients(line);
  if (to?.some((r) => r === "")) return { kind: "usage", message: "write a name or id after @" };
  if (text.trim() === "") return { kind: "usage", message: `write ${what} after the recipients` };
  return to ? { kind: "send", to, text } : { kind: "send", text };
}

export const COMMANDS: Command[] = [
  {
    name: "reply",
    dotted: true,
    aliases: [],
    usage: "/reply REF text",
    help: "reply to the message with that ref, quoting it",
    parse(args) {
      const match = /^(\S+)\s+([\s\S]*\S[\s\S]*)$/.exec(args.trim());
      return match ? { kind: "reply", ref: match[1], text: match[2] } : usage(this);
    },
  },
  {
    name: "delete",
    dotted: true,
    aliases: [],
    usage: "/delete REF",
    help: "delete a message of yours, for everyone",
    parse(args) {
      const ref = args.trim();
      return /^\S+$/.test(ref) ? { kind: "delete", ref } : usage(this);
    },
  },
  {
    name: "temp",
    dotted: true,
    aliases: [],
    usage: "/temp [30s|5m|2h|1d] [@id ...] text",
    help: `send a message that disappears after a while (default ${DEFAULT_TEMP_SECONDS}s)`,
    parse(args) {
      let rest = args.trim();
      let ttl = DEFAULT_TEMP_SECONDS;
      const first = /^(\S+)\s*/.exec(rest);
      // a bare number is a duration missing its unit, not text: said, never guessed
      if (first && /^[0-9]+$/.test(first[1])) {
        return {
          kind: "usage",
          message: `a duration needs a unit: did you mean /temp ${first[1]}s …? ` +
            `(to send a number, give the time first: /temp ${DEFAULT_TEMP_SECONDS}s ${first[1]} …)`,
        };
      }
      // a word of digits and letters only (5m, 90x) is meant as a duration; "3." is text
      if (first && /^[0-9]+[A-Za-z]+$/.test(first[1])) {
        const seconds = parseDuration(first[1]);
        if (seconds === null) {
          return {
            kind: "usage",
            message: `"${first[1]}" is not a duration like 30s, 5m, 2h or 1d`,
          };
        }
        if (seconds < MIN_TTL_SECONDS || seconds > MAX_TTL_SECONDS) {
          return { kind: "usage", message: "a temporary message lasts from 1s to 7d" };
        }
        ttl = seconds;
        rest = rest.slice(first[0].length);
      }
      const intent = directOrPublic(rest, "the message");
      if (intent.kind !== "send") return rest.trim() === "" ? usage(this) : intent;
      const { text, to } = intent;
      return to ? { kind: "temp", ttl, text, to } : { kind: "temp", ttl, text };
    },
  },
  {
    name: "search",
    dotted: true,
    aliases: [],
    usage: "/search PATTERN",
    help: "search everything you can see with a regular expression (case-insensitive)",
    parse(args) {
      const pattern = args.trim();
      return pattern ? { kind: "search", pattern } : usage(this);
    },
  },
  {
    name: "who",
    aliases: ["users"],
    usage: "/who",
    help: "list who is online",
    parse: () => ({ kind: "who" }),
  },
  {
    name: "sessions",
    aliases: [],
    usage: "/sessions",
    help: "list where you are signed in: each session's start, last use and address",
    parse: () => ({ kind: "sessions" }),
  },
  {
    name: "logout-others",
    aliases: [],
    usage: "/logout-others",
    help: "sign out all your other sessions (their tokens stop working)",
    // it cannot be undone: a stray word after it is more likely a slip than a wish
    parse(args) {
      return args.trim() === "" ? { kind: "logoutOthers" } : usage(this);
    },
  },
  {
    name: "reconnect",
    aliases: [],
    usage: "/reconnect",
    help: "while disconnected, try to connect again now instead of waiting (Ctrl+R too)",
    parse: () => ({ kind: "reconnect" }),
  },
  {
    name: "help",
    aliases: ["?"],
    usage: "/help",
    help: "list the commands (and, in the full-screen client, the keys)",
    parse: () => ({ kind: "help" }),
  },
  {
    name: "exit",
    dotted: true,
    aliases: ["quit"],
    usage: "/exit",
    help: "leave the chat",
    parse: () => ({ kind: "exit" }),
  },
];

/** Finds a command by name or alias. */
export function findCommand(word: string): Command | undefined {
  const name = word.toLowerCase();
  return COMMANDS.find((c) => c.name === name || c.aliases.includes(name));
}

/**
 * Parses one input line. `/cmd` runs a command; the original's `.reply .delete .temp .search
 * .exit` spellings do too, but only by their exact names and, for `.exit`, alone on the line, so
 * "...", ".net is fun" or ".exit strategy" stay text. `//text` sends "/text"; `@a @b text` is
 * direct.
 */
export function parseInput(line: string): Intent {
  const trimmed = line.trim();
  if (trimmed === "") return { kind: "none" };
  if (trimmed.startsWith("//")) return { kind: "send", text: trimmed.slice(1) };
  // command words may have inner hyphens (/logout-others)
  const match = /^([/.])([A-Za-z?]+(?:-[A-Za-z]+)*)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (match) {
    const [, sigil, word, args] = match;
    if (sigil === "/") {
      const command = findCommand(word);
      if (command) return command.parse(args ?? "");
      return { kind: "usage", message: `unknown command /${word}; /help lists the commands` };
    }
    const command = COMMANDS.find((c) => c.dotted && c.name === word.toLowerCase());
    const takesArgs = command?.usage.includes(" ");
    if (command && (takesArgs || args === undefined)) return command.parse(args ?? "");
  }
  if (trimmed.startsWith("/")) {
    return { kind: "usage", message: "unknown command; /help lists the commands (// sends a /)" };
  }
  return directOrPublic(trimmed, "a message");
}

/**
 * The /help text, from the table: usage, then what it does, wrapped under itself so no line is
 * longer than `columns` (where it can be: `chat join --help` asks for 80, the TUI its width).
 */
export function helpText(columns = Infinity): string {
  return twoColumns([
    ["text", "send to everyone"],
    ["@id [@id ...] text", "send only to those people (@name: the one person online so named)"],
    ...COMMANDS.map((c): [string, string] => [c.usage, c.help]),
  ], columns);
}

/**
 * Rows of `[left, right]` as two columns, the right one wrapped at words under itself so that
 * no line is longer than `columns` (where it can be: the right column keeps 20 at least).
 */
export function twoColumns(rows: [string, string][], columns = Infinity): string {
  const width = Math.max(...rows.map(([left]) => left.length));
  const room = Math.max(20, columns - width - 2);
  return rows.map(([left, right]) => {
    const lines = [""];
    for (const word of right.split(" ")) {
      const last = lines.length - 1;
      if (lines[last] && lines[last].length + 1 + word.length > room) lines.push(word);
      else lines[last] = lines[last] ? `${lines[last]} ${word}` : word;
    }
    return lines.map((line, i) => `${(i === 0 ? left : "").padEnd(width)}  ${line}`.trimEnd())
      .join("\n");
  }).join("\n");
}
