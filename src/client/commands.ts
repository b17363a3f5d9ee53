/**
 * The input line → an intent → what it does. Commands live in one table, a row each: name,
 * aliases, usage, help, how its arguments parse and what it does, so /help, completion, parsing
 * and the action all come from the row. Parsing does no I/O; an action acts through the
 * {@link CommandContext} a Chat gives it (chat.ts).
 */
import {
  awayProblem,
  ID_PATTERN,
  MAX_HISTORY_LIMIT,
  MAX_MODERATION_SECONDS,
  MAX_RECIPIENTS,
  MAX_TEXT_LENGTH,
  MAX_TTL_SECONDS,
  MIN_MODERATION_SECONDS,
  MIN_TTL_SECONDS,
  reasonProblem,
  ROOM_NAME_RULE,
  roomName,
  topicProblem,
} from "../protocol/rules.ts";
import type { ServerFrame } from "../protocol/schema.ts";
import type { Request, SendFrame } from "./client.ts";
import { type Ignores, MAX_IGNORED } from "./ignore.ts";
import type { Shown } from "./state.ts";

export type Intent =
  | { kind: "none" }
  | { kind: "send"; text: string; to?: string[] }
  | { kind: "me"; text: string; to?: string[] }
  | { kind: "msg"; text: string; to: string[] }
  | { kind: "away"; reason?: string }
  | { kind: "back" }
  | { kind: "ignore"; user?: string }
  | { kind: "unignore"; user: string }
  | { kind: "clear" }
  | { kind: "reply"; ref: string; text: string }
  | { kind: "delete"; ref: string }
  | { kind: "temp"; ttl: number; text: string; to?: string[] }
  | { kind: "search"; pattern: string }
  | { kind: "history"; limit: number }
  | { kind: "who"; room?: string }
  | { kind: "join"; room: string; private?: boolean }
  | { kind: "part"; room?: string }
  | { kind: "rooms" }
  | { kind: "topic"; topic: string }
  | { kind: "invite"; user: string }
  | { kind: "private"; private: boolean }
  | { kind: "ops"; room?: string }
  | ({ kind: "op" } & Aimed)
  | ({ kind: "deop" } & Aimed)
  | ({ kind: "kick" } & Aimed & { reason?: string })
  | ({ kind: "ban" } & Aimed & { duration?: number; reason?: string })
  | ({ kind: "mute" } & Aimed & { duration?: number; reason?: string })
  | ({ kind: "unban" } & Aimed)
  | ({ kind: "unmute" } & Aimed)
  | { kind: "bans"; room?: string; server?: boolean; offset?: number }
  | { kind: "modlog"; room?: string; server?: boolean; before?: number }
  | { kind: "droproom"; room: string; reason?: string }
  | { kind: "sessions" }
  | { kind: "logoutOthers" }
  | { kind: "reconnect" }
  | { kind: "help"; topic?: HelpTopic }
  | { kind: "exit" }
  | { kind: "usage"; message: string };

/**
 * Whom a moderation command is about and where: a user (or, for a server-wide ban, an address,
 * and `withAddress` for both); a room (default: the one typed in) or the whole `server`.
 */
export interface Aimed {
  user?: string;
  address?: string;
  withAddress?: boolean;
  room?: string;
  server?: boolean;
}

type Usage = Extract<Intent, { kind: "usage" }>;
/** The intents a command row parses to (a plain line is a "send"; "none" and "usage" do no more). */
export type CommandKind = Exclude<Intent["kind"], "none" | "send" | "usage">;
type IntentOf<K extends Intent["kind"]> = Extract<Intent, { kind: K }>;

/** A message as a command asks for it: the client gives it its ref and sends it. */
export type Outgoing = Omit<SendFrame, "type" | "ref" | "retry">;

/** What an action works with: the running client and its UI (chat.ts provides it). */
/** What /help shows: everyday commands, or (`operators`) those of room and server operators. */
export type HelpTopic = "operators";
/** The words after /help that ask for the operators' commands. */
const OPERATOR_TOPICS = ["ops", "operators", "op", "moderation", "mod"];

export interface CommandContext {
  /** Sends a message (a script's input may wait here for room in a full outbox). */
  send(message: Outgoing): void | Promise<void>;
  /** Sends a request; resolves with the frame that answered it. */
  request(request: Request): Promise<ServerFrame>;
  /** The message a typed ref stands for, among those shown. */
  resolveRef(typed: string): Shown | undefined;
  /** The room what is typed goes to. */
  here(): string;
  /** Ends the wait before the next reconnect attempt (see ChatClient.reconnectNow). */
  reconnectNow(): "retrying" | "connected" | "busy";
  /** A word from the client itself. */
  notice(text: string): void;
  /** A mistake of the person's, caught before anything was sent. */
  error(text: string): void;
  /** Shows the commands (and, on a terminal, the keys); `operators`: the operators' commands. */
  help(topic?: HelpTopic): void;
  /** Leaves: the client finishes up and stops. */
  leave(): void;
  /** The people ignored, kept on disk per server (ignore.ts); absent: /ignore is not offered. */
  ignores?: Ignores;
  /** Empties the view (/clear); absent: there is nothing to empty. */
  clear?(): void;
  /** The id of the oldest message of `room` shown so far (/history asks for those before it). */
  oldest?(room: string): string | undefined;
}

export interface Command<K extends CommandKind = CommandKind> {
  /** The intent this row parses to, which names the row again when it is run. */
  kind: K;
  /** The command word (as typed after `/`). */
  name: string;
  aliases: string[];
  /** Also spelled `.name` (the original's spellings); such a line must look like the command. */
  dotted?: boolean;
  usage: string;
  help: string;
  /** For room and server operators: listed by `/help ops`, not by `/help`. */
  forOperators?: true;
  /** Turns the text after the command word into an intent. */
  parse(args: string): IntentOf<K> | Usage;
  /** Does it. */
  run(intent: IntentOf<K>, context: CommandContext): void | Promise<void>;
}

/** A row of the table, of whichever kind. */
export type AnyCommand = { [K in CommandKind]: Command<K> }[CommandKind];

/**
 * A row, its parse and action typed by its kind; named as its kind and with no aliases unless it
 * says otherwise.
 */
const command = <K extends CommandKind>(
  row: Omit<Command<K>, "aliases" | "name"> & { aliases?: string[]; name?: string },
): Command<K> => ({ aliases: [], name: row.kind, ...row });

/** The kinds whose intent may be the kind alone. */
type BareKind = { [K in CommandKind]: { kind: K } extends IntentOf<K> ? K : never }[CommandKind];

/** A row that takes no arguments: `/name` alone (what follows the word is not read). */
const bare = <K extends BareKind>(
  row: Omit<Command<K>, "aliases" | "name" | "usage" | "parse"> & {
    aliases?: string[];
    name?: string;
  },
): Command<K> =>
  command<K>({
    usage: `/${row.name ?? row.kind}`,
    parse: () => ({ kind: row.kind }) as IntentOf<K>,
    ...row,
  });

/** Default lifetime of a temporary message, seconds. */
export const DEFAULT_TEMP_SECONDS = 60;
/** Messages /history asks for when no number is given. */
export const DEFAULT_HISTORY_MESSAGES = 50;
export { MAX_TTL_SECONDS as MAX_TEMP_SECONDS, MIN_TTL_SECONDS as MIN_TEMP_SECONDS };

const usage = (row: { usage: string }): Usage => ({
  kind: "usage",
  message: `usage: ${row.usage}`,
});

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

function directOrPublic(line: string, what: string): IntentOf<"send"> | Usage {
  const { to, text } = splitRecipients(line);
  if (to?.some((r) => r === "")) return { kind: "usage", message: "write a name or id after @" };
  if (text.trim() === "") return { kind: "usage", message: `write ${what} after the recipients` };
  return to ? { kind: "send", to, text } : { kind: "send", text };
}

/** A room as typed (`#` optional); usage when it is not a room name. */
function typedRoom(typed: string): { room: string } | Usage {
  const room = roomName(typed);
  return room ? { room } : { kind: "usage", message: ROOM_NAME_RULE };
}

/** The message a typed ref stands for, or an error saying it is not shown here. */
function shownRef(ref: string, context: CommandContext): Shown | undefined {
  const target = context.resolveRef(ref);
  if (!target) context.error(`no message with the ref ${ref} is shown here`);
  return target;
}

/** What a moderation command may be given beyond `@id`. */
interface AimRules {
  /** `--server` (the whole server instead of a room). */
  server?: boolean;
  /** `--address [ADDR]` (a server-wide ban). */
  address?: boolean;
  duration?: boolean;
  reason?: boolean;
}

/** The options a moderation command may be given, as `rules` allow them. */
function optionsOf(rules: AimRules): string[] {
  return [...(rules.server ? ["--server"] : []), ...(rules.address ? ["--address"] : [])];
}

/**
 * Why the words after a moderation command's options are not its reason, or null when they may
 * be: an option it does not take where its options are (`--serve`), or one of its own after the
 * reason began (`spam --server`), which would otherwise be taken as the reason's text.
 */
function strayOption(rest: string, rules: AimRules, row: { usage: string }): Usage | null {
  if (rest === "") return null;
  const own = optionsOf(rules);
  const said = (message: string): Usage => ({
    kind: "usage",
    message: `${message} (usage: ${row.usage})`,
  });
  const words = rest.split(/\s+/);
  if (/^--[A-Za-z]/.test(words[0]) && !own.includes(words[0])) {
    return said(`${row.usage.split(" ")[0]} has no option ${words[0]}`);
  }
  if (!rules.reason) return null;
  const late = words.find((word) => own.includes(word));
  return late === undefined ? null : said(`${late} goes before the reason`);
}

/**
 * `@id [#room | --server [--address]] [DURATION] [reason…]`, or `--address ADDR` instead of
 * `@id`, as `rules` allow, the options in any order before the reason; the room, when neither is
 * given, is the one typed in (at run time). An option it does not take, or one after the reason
 * began, is a usage error, never text of the reason.
 */
function parseAimed(
  args: string,
  rules: AimRules,
  row: { usage: string },
): (Aimed & { duration?: number; reason?: string }) | Usage {
  const out: Aimed & { duration?: number; reason?: string } = {};
  let rest = args.trim();
  for (let word = /^(\S+)\s*/.exec(rest); word; word = /^(\S+)\s*/.exec(rest)) {
    const token = word[1];
    if (out.user === undefined && out.address === undefined && /^@/.test(token)) {
      if (!/^@[A-Za-z0-9._-]{1,33}$/.test(token)) return usage(row);
      out.user = token.slice(1);
    } else if (out.room === undefined && !out.server && /^#/.test(token)) {
      const typed = typedRoom(token);
      if (!("room" in typed)) return typed;
      out.room = typed.room;
    } else if (rules.server && token === "--server") {
      out.server = true;
    } else if (rules.address && token === "--address") {
      out.server = true;
      if (out.user !== undefined) out.withAddress = true;
      else {
        rest = rest.slice(word[0].length);
        const address = /^(\S+)\s*/.exec(rest);
        if (!address) return { kind: "usage", message: "write the address after --address" };
        out.address = address[1];
        word = address;
      }
    } else if (rules.duration && out.duration === undefined && /^[0-9]+[A-Za-z]*$/.test(token)) {
      const seconds = parseDuration(token);
      if (seconds === null) {
        return { kind: "usage", message: `"${token}" is not a duration like 30s, 5m, 2h or 1d` };
      }
      if (seconds < MIN_MODERATION_SECONDS || seconds > MAX_MODERATION_SECONDS) {
        return {
          kind: "usage",
          message: "a ban or mute lasts from 1s to 366d (or, with none, until lifted)",
        };
      }
      out.duration = seconds;
    } else break;
    rest = rest.slice(word[0].length);
  }
  // a room after --server: the same slip as before it, not the reason
  if ((out.room !== undefined || /^#/.test(rest)) && out.server) {
    return { kind: "usage", message: "name a room or --server, not both" };
  }
  const stray = strayOption(rest, rules, row);
  if (stray !== null) return stray;
  if (out.user === undefined && out.address === undefined) return usage(row);
  if (rest !== "") {
    if (!rules.reason) return usage(row);
    const problem = reasonProblem(rest);
    if (problem !== null) return { kind: "usage", message: problem };
    out.reason = rest;
  }
  return out;
}

/** The commands aimed at someone (`@id`, or for a ban an address). */
type AimedKind = "op" | "deop" | "kick" | "ban" | "unban" | "mute" | "unmute";

/** The parse of a row aimed at someone (`rules`: what else it takes): its kind and the aim. */
function aimedAs<K extends Exclude<AimedKind, "unban">>(
  kind: K,
  rules: AimRules,
) {
  return function (this: { usage: string }, args: string): IntentOf<K> | Usage {
    const aimed = parseAimed(args, rules, this);
    return "kind" in aimed ? aimed : { kind, ...aimed } as IntentOf<K>;
  };
}

/** The parse of a row taking `[#room]`: its kind, with the room when one is typed. */
function roomOrNone<K extends "who" | "part" | "ops">(kind: K) {
  return (args: string): IntentOf<K> | Usage => {
    if (args.trim() === "") return { kind } as IntentOf<K>;
    const typed = typedRoom(args.trim());
    return "room" in typed ? { kind, room: typed.room } as IntentOf<K> : typed;
  };
}

/** The action of a row about the room typed in: its request there, with the rest of the intent. */
function requestHere(
  intent: IntentOf<"topic"> | IntentOf<"invite"> | IntentOf<"private">,
  context: CommandContext,
): void {
  // each of these intents holds its request's fields but the room, under the same names
  const { kind, ...fields } = intent;
  void context.request({ type: kind, room: context.here(), ...fields } as Request);
}

/** Where a moderation request is about: `room` (default: the one typed in), or the server. */
function scopeOf(intent: { room?: string; server?: boolean }, context: CommandContext) {
  return intent.server ? {} : { room: intent.room ?? context.here() };
}

/** Who a request is about, as the frame names them. */
function aimOf(intent: Aimed) {
  return {
    ...(intent.user !== undefined ? { user: intent.user } : {}),
    ...(intent.address !== undefined ? { address: intent.address } : {}),
    ...(intent.withAddress ? { withAddress: true } : {}),
  };
}

/**
 * The action of every row aimed at someone: its request, with where (by default the room typed
 * in), whom, and the duration and reason when given. Each row's parse took only what its request
 * carries (op, deop and kick: no --server, so always a room; only a ban an address).
 */
function requestAimed(
  intent: Aimed & { kind: AimedKind; duration?: number; reason?: string },
  context: CommandContext,
): void {
  // a Request of the intent's kind: its parse gave it no field that kind's request lacks
  void context.request({
    type: intent.kind,
    ...scopeOf(intent, context),
    ...aimOf(intent),
    ...(intent.duration !== undefined ? { duration: intent.duration } : {}),
    ...(intent.reason !== undefined ? { reason: intent.reason } : {}),
  } as Request);
}

/** `[#room | --server] [N]`: where a list is of, and where it goes on from. */
function parseListArgs(
  args: string,
  row: { usage: string },
): { room?: string; server?: boolean; from?: number } | Usage {
  const match = /^(?:(#\S+|--server)\s*)?([0-9]{1,9})?$/.exec(args.trim());
  if (!match) return usage(row);
  const out: { room?: string; server?: boolean; from?: number } = {};
  if (match[1] === "--server") out.server = true;
  else if (match[1] !== undefined) {
    const typed = typedRoom(match[1]);
    if (!("room" in typed)) return typed;
    out.room = typed.room;
  }
  if (match[2] !== undefined) out.from = Number(match[2]);
  return out;
}

/**
 * The parse of a list row, `[#room | --server] [N]`: its kind, where, and N as `page` says where
 * the list goes on from.
 */
function listAs<K extends "bans" | "modlog">(
  kind: K,
  page: (from: number) => Omit<IntentOf<K>, "kind" | "room" | "server">,
) {
  return function (this: { usage: string }, args: string): IntentOf<K> | Usage {
    const list = parseListArgs(args, this);
    if ("kind" in list) return list;
    const { from, ...where } = list;
    return { kind, ...where, ...(from !== undefined ? page(from) : {}) } as IntentOf<K>;
  };
}

/** The action of a list row: its request, where it is of and where it goes on from. */
function requestList(
  intent: IntentOf<"bans"> | IntentOf<"modlog">,
  context: CommandContext,
): void {
  // the rest of the intent: its offset (bans) or entry to read back from (modlog), if any
  const { kind, room, server, ...from } = intent;
  void context.request({ type: kind, ...scopeOf({ room, server }, context), ...from } as Request);
}

export const COMMANDS: AnyCommand[] = [
  command({
    kind: "me",
    aliases: ["action"],
    usage: "/me [@id ...] text",
    help: "an action, shown as `* you text` (to those people only, with @ids)",
    parse(args) {
      const intent = directOrPublic(args, "what you do");
      if (intent.kind !== "send") return args.trim() === "" ? usage(this) : intent;
      return intent.to
        ? { kind: "me", text: intent.text, to: intent.to }
        : { kind: "me", text: intent.text };
    },
    run: ({ text, to }, context) => context.send({ text, to, action: true }),
  }),
  command({
    kind: "msg",
    usage: "/msg @id text",
    help: "a direct message, the same as @id text (the @ may be left out of the first)",
    parse(args) {
      // irssi's `/msg bob hi`: the first word names someone, with or without its @
      const intent = directOrPublic(args.trim().replace(/^(?!@)(\S)/, "@$1"), "the message");
      if (intent.kind === "usage") return args.trim() === "" ? usage(this) : intent;
      return intent.to ? { kind: "msg", text: intent.text, to: intent.to } : usage(this);
    },
    run: ({ text, to }, context) => context.send({ text, to }),
  }),
  command<"away">({
    kind: "away",
    usage: "/away [reason]",
    help: "say you are away (shown in /who, and told once to whoever writes to you); " +
      "/away alone: back",
    parse(args) {
      const reason = args.trim();
      if (reason === "") return { kind: "away" };
      const problem = awayProblem(reason);
      return problem ? { kind: "usage", message: problem } : { kind: "away", reason };
    },
    run: ({ reason }, context) =>
      void context.request({ type: "away", ...(reason !== undefined ? { reason } : {}) }),
  }),
  bare({
    kind: "back",
    help: "say you are back (the same as /away alone)",
    run: (_, context) => void context.request({ type: "away" }),
  }),
  command({
    kind: "ignore",
    usage: "/ignore [@id]",
    help:
      `hide someone's messages, mentions and bells, kept for this server (at most ${MAX_IGNORED}); ` +
      "alone: who you ignore",
    parse(args) {
      const typed = args.trim();
      if (typed === "") return { kind: "ignore" };
      const user = typedId(typed);
      return user === undefined ? usage(this) : { kind: "ignore", user };
    },
    run: ({ user }, context) => ignore(context, user),
  }),
  command({
    kind: "unignore",
    usage: "/unignore @id",
    help: "show someone's messages again",
    parse(args) {
      const user = typedId(args.trim());
      return user === undefined ? usage(this) : { kind: "unignore", user };
    },
    run: ({ user }, context) => unignore(context, user),
  }),
  bare({
    kind: "clear",
    help: "clear the screen (on a terminal; messages stay, for /reply and /search)",
    run: (_, context) =>
      context.clear ? context.clear() : context.notice("there is no screen to clear here"),
  }),
  command({
    kind: "reply",
    dotted: true,
    usage: "/reply REF text",
    help: "reply to the message with that ref, quoting it",
    parse(args) {
      const match = /^(\S+)\s+([\s\S]*\S[\s\S]*)$/.exec(args.trim());
      return match ? { kind: "reply", ref: match[1], text: match[2] } : usage(this);
    },
    run({ ref, text }, context) {
      const target = shownRef(ref, context);
      if (target) return context.send({ text, replyTo: target.id });
    },
  }),
  command({
    kind: "delete",
    dotted: true,
    usage: "/delete REF",
    help: "delete a message of yours (an operator: anyone's in their room), for everyone",
    parse(args) {
      const ref = args.trim();
      return /^\S+$/.test(ref) ? { kind: "delete", ref } : usage(this);
    },
    run({ ref }, context) {
      const target = shownRef(ref, context);
      if (!target) return;
      context.request({ type: "delete", id: target.id }).then((answer) => {
        if (answer.type === "ack") context.notice(`deleted the message #${target.ref}`);
      });
    },
  }),
  command({
    kind: "temp",
    dotted: true,
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
    run: ({ text, to, ttl }, context) => context.send({ text, to, ttl }),
  }),
  command({
    kind: "search",
    dotted: true,
    usage: "/search PATTERN",
    help: "search everything you can see with a regular expression (case-insensitive)",
    parse(args) {
      const pattern = args.trim();
      return pattern ? { kind: "search", pattern } : usage(this);
    },
    run: ({ pattern }, context) => void context.request({ type: "search", pattern }),
  }),
  command({
    kind: "history",
    usage: "/history [N]",
    help:
      `the room's N messages (default ${DEFAULT_HISTORY_MESSAGES}, at most ${MAX_HISTORY_LIMIT}) ` +
      "before the oldest shown; again: further back",
    parse(args) {
      const typed = args.trim();
      if (typed === "") return { kind: "history", limit: DEFAULT_HISTORY_MESSAGES };
      if (!/^[0-9]{1,6}$/.test(typed)) return usage(this);
      const limit = Number(typed);
      if (limit < 1 || limit > MAX_HISTORY_LIMIT) {
        return { kind: "usage", message: `/history asks for 1 to ${MAX_HISTORY_LIMIT} messages` };
      }
      return { kind: "history", limit };
    },
    run: ({ limit }, context) => {
      const room = context.here();
      const before = context.oldest?.(room);
      void context.request({ type: "history", room, limit, ...(before ? { before } : {}) });
    },
  }),
  command({
    kind: "who",
    aliases: ["users"],
    usage: "/who [#room]",
    help: "list who is online (in a room of yours: who of its members)",
    parse: roomOrNone("who"),
    run: ({ room }, context) => void context.request({ type: "who", ...(room ? { room } : {}) }),
  }),
  command({
    kind: "join",
    usage: "/join #room [--private]",
    help: "go into a room, made for you if new (--private: invite-only); what you type goes there",
    parse(args) {
      const match = /^(\S+)(\s+--private)?$/.exec(args.trim());
      if (!match) return usage(this);
      const typed = typedRoom(match[1]);
      if (!("room" in typed)) return typed;
      return match[2] ? { kind: "join", room: typed.room, private: true } : {
        kind: "join",
        room: typed.room,
      };
    },
    // where the next lines go depends on the answer: a script's next line waits for it
    run: ({ room, private: invited }, context) =>
      answered(context.request({ type: "join", room, ...(invited ? { private: true } : {}) })),
  }),
  command({
    kind: "part",
    aliases: ["leave"],
    usage: "/part [#room]",
    help: "leave a room (by default the one you type in); its messages stop coming",
    parse: roomOrNone("part"),
    run: ({ room }, context) =>
      answered(context.request({ type: "part", room: room ?? context.here() })),
  }),
  bare({
    kind: "rooms",
    aliases: ["list"],
    help: "list the public rooms and yours, with members, who is online and topics",
    run: (_, context) => void context.request({ type: "rooms" }),
  }),
  command({
    kind: "topic",
    usage: "/topic text",
    help: "set the topic of the room you type in (/topic -delete clears it)",
    parse(args) {
      const text = args.trim();
      if (text === "") return usage(this);
      const topic = text === "-delete" ? "" : text;
      const problem = topicProblem(topic);
      return problem ? { kind: "usage", message: problem } : { kind: "topic", topic };
    },
    run: requestHere,
  }),
  command({
    kind: "invite",
    usage: "/invite @id",
    help: "let someone into the room you type in, when it is invite-only, and tell them",
    parse(args) {
      const match = /^@?([A-Za-z0-9._-]{1,33})$/.exec(args.trim());
      return match ? { kind: "invite", user: match[1] } : usage(this);
    },
    run: requestHere,
  }),
  command({
    kind: "private",
    usage: "/private [on|off]",
    help: "make the room you type in invite-only, or public again (its operators only)",
    parse(args) {
      const word = args.trim().toLowerCase();
      if (word === "" || word === "on") return { kind: "private", private: true };
      return word === "off" ? { kind: "private", private: false } : usage(this);
    },
    run: requestHere,
  }),
  command({
    kind: "ops",
    usage: "/ops [#room]",
    help: "list the server's operators and those of a room (by default the one you type in)",
    parse: roomOrNone("ops"),
    run: ({ room }, context) => void context.request({ type: "ops", room: room ?? context.here() }),
  }),
  command({
    kind: "op",
    forOperators: true,
    usage: "/op @id [#room]",
    help: "make a member an operator of the room (its operators only)",
    parse: aimedAs("op", {}),
    run: requestAimed,
  }),
  command({
    kind: "deop",
    forOperators: true,
    usage: "/deop @id [#room]",
    help: "take that back (never from whoever made the room)",
    parse: aimedAs("deop", {}),
    run: requestAimed,
  }),
  command({
    kind: "kick",
    forOperators: true,
    usage: "/kick @id [#room] [reason]",
    help: "put someone out of the room (they may join again), saying why",
    parse: aimedAs("kick", { reason: true }),
    run: requestAimed,
  }),
  command({
    kind: "ban",
    forOperators: true,
    usage: "/ban @id [#room|--server] [2h] [why]",
    help: "keep someone out of the room for a while (30m, 2h, 1d; without: until /unban); " +
      "a server operator: --server for the whole server, --address also where they connect " +
      "from, /ban --address ADDR an address",
    parse: aimedAs("ban", { server: true, address: true, duration: true, reason: true }),
    run: requestAimed,
  }),
  command({
    kind: "unban",
    forOperators: true,
    usage: "/unban @id [#room|--server]",
    help: "lift a ban (/unban --address ADDR: one on an address)",
    parse(args) {
      const aimed = parseAimed(args, { server: true, address: true }, this);
      if ("kind" in aimed) return aimed;
      // an unban names the ban it lifts: an id's, or an address's
      return aimed.withAddress ? usage(this) : { kind: "unban", ...aimed };
    },
    run: requestAimed,
  }),
  command({
    kind: "mute",
    forOperators: true,
    usage: "/mute @id [#room|--server] [2h] [why]",
    help: "someone may read but not send in the room, for a while or until /unmute " +
      "(a server operator: --server for anywhere)",
    parse: aimedAs("mute", { server: true, duration: true, reason: true }),
    run: requestAimed,
  }),
  command({
    kind: "unmute",
    forOperators: true,
    usage: "/unmute @id [#room|--server]",
    help: "lift a mute",
    parse: aimedAs("unmute", { server: true }),
    run: requestAimed,
  }),
  command({
    kind: "bans",
    forOperators: true,
    usage: "/bans [#room|--server] [FROM]",
    help: "list the bans and mutes in force in the room (or on the server), from the FROMth",
    parse: listAs("bans", (offset) => ({ offset })),
    run: requestList,
  }),
  command({
    kind: "modlog",
    forOperators: true,
    usage: "/modlog [#room|--server] [BEFORE]",
    help: "read the moderation log of the room (or all of it), newest first, before entry BEFORE",
    // entries are numbered from 1: before 0 is none, so from the newest
    parse: listAs("modlog", (before) => (before ? { before } : {})),
    run: requestList,
  }),
  command({
    kind: "droproom",
    forOperators: true,
    usage: "/droproom #room [reason]",
    help: "remove a room, its messages and members with it, freeing its name " +
      "(server operators; ergo's /CS DROP)",
    parse(args) {
      // the room is always typed: removing the one typed in by a slip would be too easy
      const match = /^(\S+)\s*([\s\S]*)$/.exec(args.trim());
      if (!match || !match[1].startsWith("#")) return usage(this);
      const typed = typedRoom(match[1]);
      if (!("room" in typed)) return typed;
      const reason = match[2].trim();
      if (reason === "") return { kind: "droproom", room: typed.room };
      const problem = reasonProblem(reason);
      return problem !== null
        ? { kind: "usage", message: problem }
        : { kind: "droproom", room: typed.room, reason };
    },
    run: ({ room, reason }, context) =>
      void context.request({ type: "droproom", room, ...(reason !== undefined ? { reason } : {}) }),
  }),
  bare({
    kind: "sessions",
    help: "list where you are signed in: each session's start, last use and address",
    run: (_, context) => void context.request({ type: "sessions" }),
  }),
  command({
    kind: "logoutOthers",
    name: "logout-others",
    usage: "/logout-others",
    help: "sign out all your other sessions (their tokens stop working)",
    // it cannot be undone: a stray word after it is more likely a slip than a wish
    parse(args) {
      return args.trim() === "" ? { kind: "logoutOthers" } : usage(this);
    },
    run: (_, context) => void context.request({ type: "logout_others" }),
  }),
  bare({
    kind: "reconnect",
    help: "while disconnected, try to connect again now instead of waiting (Ctrl+R too)",
    run(_, context) {
      const outcome = context.reconnectNow();
      if (outcome === "connected") context.notice("already connected");
      if (outcome === "busy") context.notice("connecting already");
    },
  }),
  command({
    kind: "help",
    aliases: ["?"],
    usage: "/help [ops]",
    help: "list the commands (and, in the full-screen client, the keys)",
    parse(args) {
      const topic = args.trim().toLowerCase();
      if (topic === "") return { kind: "help" };
      return OPERATOR_TOPICS.includes(topic) ? { kind: "help", topic: "operators" } : usage(this);
    },
    run: ({ topic }, context) => context.help(topic),
  }),
  bare({
    kind: "exit",
    dotted: true,
    aliases: ["quit"],
    help: "leave the chat",
    run: (_, context) => context.leave(),
  }),
];

/** Someone as typed after /ignore or /unignore (`@` optional): one word. */
function typedId(typed: string): string | undefined {
  const match = /^@?(\S+)$/.exec(typed);
  return match ? match[1] : undefined;
}

/** Why a word is not someone to ignore: ignoring is by id. */
const NOT_AN_ID = "ignoring is by id, as name_1234 (/who lists them)";

/** /ignore: the list, or one more on it, kept on disk. */
async function ignore(context: CommandContext, user: string | undefined): Promise<void> {
  const ignores = context.ignores;
  if (!ignores) return context.error("this client keeps no ignore list");
  if (user === undefined) {
    const ids = ignores.list.list();
    return context.notice(
      ids.length === 0
        ? "you ignore nobody; /ignore @id hides someone"
        : `you ignore (${ids.length}): ${ids.join(", ")}`,
    );
  }
  const outcome = ignores.list.add(user);
  if (outcome === "already") return context.notice(`you ignore ${user} already`);
  if (outcome === "full") {
    return context.error(
      `you ignore ${MAX_IGNORED} people already, the most kept; /unignore someone first`,
    );
  }
  if (outcome === "not_an_id") return context.error(NOT_AN_ID);
  await keep(context, ignores);
  context.notice(`ignoring ${user}: their messages, mentions and bells are not shown`);
}

/** /unignore: one less on the list, kept on disk. */
async function unignore(context: CommandContext, user: string): Promise<void> {
  const ignores = context.ignores;
  if (!ignores) return context.error("this client keeps no ignore list");
  if (!ID_PATTERN.test(user)) return context.error(NOT_AN_ID);
  if (!ignores.list.remove(user)) return context.notice(`you do not ignore ${user}`);
  await keep(context, ignores);
  context.notice(`no longer ignoring ${user}`);
}

/** Saves the list; a failure is said (the list holds for this run all the same). */
async function keep(context: CommandContext, ignores: Ignores): Promise<void> {
  await ignores.save().catch((error) =>
    context.error(
      `could not keep the ignore list on disk (${
        error instanceof Error ? error.message : error
      }); it holds until you leave`,
    )
  );
}

/** Finds a command by name or alias. */
export function findCommand(word: string): AnyCommand | undefined {
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
 * What the server would refuse anyway, said before sending: a text over the length limit, too
 * many recipients.
 */
function refusal(text: string, to?: string[]): string | undefined {
  if (text.length > MAX_TEXT_LENGTH) {
    return `a message is at most ${MAX_TEXT_LENGTH} characters; this one has ${text.length}`;
  }
  if (to && to.length > MAX_RECIPIENTS) {
    return `a direct message goes to at most ${MAX_RECIPIENTS} people; this one names ${to.length}`;
  }
}

/**
 * Does what a parsed line asks: a message is sent, a command runs its row's action, a mistake
 * is said. Resolves once a script's next line may be read (see CommandContext.send).
 */
/** Resolves once a request is answered, whatever the answer (shown as an event already). */
const answered = (request: Promise<unknown>): Promise<void> => request.then(() => {});

export function perform(intent: Intent, context: CommandContext): void | Promise<void> {
  if (intent.kind === "none") return;
  if (intent.kind === "usage") return context.error(intent.message);
  if ("text" in intent) {
    const refused = refusal(intent.text, "to" in intent ? intent.to : undefined);
    if (refused) return context.error(refused);
  }
  if (intent.kind === "send") return context.send({ text: intent.text, to: intent.to });
  const row = COMMANDS.find((c) => c.kind === intent.kind)!;
  // the row found by the intent's kind takes that intent
  return (row.run as (intent: Intent, context: CommandContext) => void | Promise<void>)(
    intent,
    context,
  );
}

/**
 * The help text, from the table: usage, then what it does, wrapped under itself so no line is
 * longer than `columns` (where it can be: `chat join --help` asks for 80, the TUI its width).
 * `shown`: every command (`chat join --help`), those of /help (`everyday`, with a pointer to the
 * rest) or the operators' (`/help ops`).
 */
export function helpText(
  columns = Infinity,
  shown: HelpTopic | "everyday" | "all" = "all",
): string {
  const rows = (forOperators: boolean) =>
    COMMANDS.filter((c) => !!c.forOperators === forOperators)
      .map((c): [string, string] => [c.usage, c.help]);
  if (shown === "operators") return twoColumns(rows(true), columns);
  return twoColumns([
    ["text", "send to everyone"],
    ["@id [@id ...] text", "send only to those people (@name: the one person online so named)"],
    ...(shown === "all" ? COMMANDS.map((c): [string, string] => [c.usage, c.help]) : rows(false)),
    ...(shown === "all" ? [] : [["/help ops", OPERATORS_HINT] as [string, string]]),
  ], columns);
}

/** What /help says of the operators' commands it leaves out. */
const OPERATORS_HINT = `the commands of room and server operators (${
  COMMANDS.filter((c) => c.forOperators).map((c) => `/${c.name}`).join(" ")
})`;

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
