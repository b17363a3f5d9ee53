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
  | { kind: "help" }
  | { kind: "exit" }
  | { kind: "usage"; message: string };

export interface Command {
  name: string;
  aliases: string[];
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

/** Parses `30s`, `5m`, `2h`, `1d` (or a bare number of seconds); null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const match = /^([0-9]{1,7})([smhd]?)$/.exec(text);
  if (!match) return null;
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2]]!;
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
    aliases: [],
    usage: "/temp [30s|5m|2h|1d] [@id ...] text",
    help: `send a message that disappears after a while (default ${DEFAULT_TEMP_SECONDS}s)`,
    parse(args) {
      let rest = args.trim();
      let ttl = DEFAULT_TEMP_SECONDS;
      const first = /^(\S+)\s*/.exec(rest);
      if (first && /^[0-9]/.test(first[1])) {
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
      return { kind: "temp", ttl, text: intent.text, to: intent.to };
    },
  },
  {
    name: "search",
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
    name: "help",
    aliases: ["?"],
    usage: "/help",
    help: "list the commands",
    parse: () => ({ kind: "help" }),
  },
  {
    name: "exit",
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
 * Parses one input line. `/cmd` and the original's `.cmd` spellings run commands (`.` only for
 * known commands, so "..." or ".net" stay text); `//text` sends "/text"; `@a @b text` is direct.
 */
export function parseInput(line: string): Intent {
  const trimmed = line.trim();
  if (trimmed === "") return { kind: "none" };
  if (trimmed.startsWith("//")) return { kind: "send", text: trimmed.slice(1) };
  const match = /^([/.])([A-Za-z?]+)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (match) {
    const command = findCommand(match[2]);
    if (command) return command.parse(match[3] ?? "");
    if (match[1] === "/") {
      return { kind: "usage", message: `unknown command /${match[2]}; /help lists the commands` };
    }
  }
  if (trimmed.startsWith("/")) {
    return { kind: "usage", message: "unknown command; /help lists the commands (// sends a /)" };
  }
  return directOrPublic(trimmed, "a message");
}

/** The /help text, from the table. */
export function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  const lines = [
    "text                    send to everyone",
    "@id [@id ...] text      send only to those people (@name works when one person online has it)",
    ...COMMANDS.map((c) => `${c.usage.padEnd(Math.max(width, 23))} ${c.help}`),
  ];
  return lines.join("\n");
}
