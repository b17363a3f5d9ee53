/**
 * Line modes: `--plain` prints one readable line per event, `--json` one JSON object per line
 * (NDJSON). Plain output is given text made safe already (safe.ts) and only lays it out; in
 * JSON it is kept whole, and every control and bidi control is written as `\uXXXX` (safeJson,
 * in lines.ts).
 */
import type TableOf from "cli-table3";
import type { ClientEvent, Shown } from "../client/state.ts";
import { GENERAL_ROOM } from "../protocol/rules.ts";
import type { Restriction, RoomInfo, SessionInfo, User } from "../protocol/schema.ts";
import { oneLine, untab } from "./sanitize.ts";
import { clock, dateTime } from "./time.ts";
import type { ConnectionStatus } from "../client/client.ts";

/** Sessions as listed: this device first, then the most recently seen. */
export function sortSessions(sessions: SessionInfo[]): SessionInfo[] {
  return [...sessions].sort((a, b) =>
    Number(b.current) - Number(a.current) || b.lastSeenAt - a.lastSeenAt
  );
}

/** One session: `[id] created … · last seen … · from ADDRESS · this device`, on one line. */
export function sessionLine(s: SessionInfo): string {
  const here = s.current ? " · this device" : "";
  return `[${oneLine(s.id)}] created ${dateTime(s.createdAt)} · last seen ${
    dateTime(s.lastSeenAt)
  } · from ${oneLine(s.address)}${here}`;
}

/** The heading of a list of sessions. */
export function sessionsHeading(count: number, loggedOutOthers: boolean): string {
  return loggedOutOthers
    ? `signed out every other session; ${count} left`
    : `your sessions (${count}); /logout-others signs out all but this one`;
}

function firstLine(text: string, max = 60): string {
  const line = oneLine(text.split("\n")[0]);
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** What a reply shows of its original: `#ref author: first line`, or that it was deleted. */
export function quoteLine(m: Shown): string | undefined {
  if (!m.replyTo) return undefined;
  if (!m.quote || "deleted" in m.quote) return "(a deleted message)";
  return `${m.replyRef ? `#${m.replyRef} ` : ""}${m.quote.from}: ${firstLine(m.quote.text)}`;
}

const list = (users: User[]) =>
  users.map((u) => u.away !== undefined ? `${u.id} (away: ${oneLine(u.away)})` : u.id).join(", ");
const more = (online: number, users: User[]) =>
  online > users.length ? ` and ${online - users.length} more` : "";

/**
 * One message as plain lines: `#ref 12:01:02 tom_1234: text`, direct shown as `from -> to`, one
 * of a room other than `here` (where what is typed goes) as `from in #room`. The ref is written
 * as the full-screen UI writes it, `#ref`, and typed either way in /reply.
 */
export function plainMessage(m: Shown, here: string = GENERAL_ROOM): string[] {
  const audience = m.to
    ? ` -> ${m.to.join(", ")}`
    : m.room !== undefined && m.room !== here
    ? ` in ${m.room}`
    : "";
  const temp = m.expiresAt ? ` (temporary, until ${clock(m.expiresAt)})` : "";
  const [first, ...rest] = untab(m.text).split("\n");
  const lines: string[] = [];
  const quote = quoteLine(m);
  if (quote) lines.push(`  > ${quote}`);
  if (m.action) {
    // irssi's `* tom waves`; where it went after it, in brackets
    const where = audience === "" ? "" : ` (${audience.trim()})`;
    lines.push(`#${m.ref} ${clock(m.time)} * ${m.from} ${first}${where}${temp}`);
  } else lines.push(`#${m.ref} ${clock(m.time)} ${m.from}${audience}: ${first}${temp}`);
  for (const line of rest) lines.push(`    ${line}`);
  return lines;
}

/**
 * cli-table3, once loadTables() has loaded it: only the line modes draw tables, and the
 * full-screen client would carry it (and the CommonJS loader it brings) for nothing.
 */
let Table: typeof TableOf | undefined;

/** Loads what resultsTable draws with; a line mode awaits it before it shows anything. */
export async function loadTables(): Promise<void> {
  Table ??= (await import("cli-table3")).default;
}

/** Search results as a table (cli-table3, uncoloured: it would colour even into a pipe). */
export function resultsTable(messages: Shown[]): string {
  if (!Table) throw new Error("resultsTable before loadTables");
  const table = new Table({
    head: ["ref", "time", "from", "to", "text"],
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: [null, null, null, 24, 48] as unknown as number[],
  });
  for (const m of messages) {
    table.push([
      m.ref,
      `${new Date(m.time).toISOString().slice(0, 10)} ${clock(m.time)}`,
      m.from,
      m.to ? m.to.join(", ") : "everyone",
      firstLine(m.text, 200),
    ]);
  }
  return table.toString();
}

function resultsHeading(total: number, shown: number): string {
  const count = `${total} result${total === 1 ? "" : "s"}`;
  return shown < total ? `* ${count}, newest ${shown} shown` : `* ${count}`;
}

/**
 * A page of /history: a line saying what it is, then its messages as any others, oldest first.
 */
function historyLines(event: Extract<ClientEvent, { type: "results" }>, here: string): string[] {
  const where = event.room ?? "your rooms";
  const n = event.messages.length;
  if (n === 0) return [`* no earlier messages in ${where}`];
  const lines = [`* ${n} earlier message${n === 1 ? "" : "s"} of ${where}:`];
  const oldestFirst = [...event.messages].sort((a, b) => a.time - b.time || (a.id < b.id ? -1 : 1));
  for (const m of oldestFirst) lines.push(...plainMessage(m, here));
  return lines;
}

/** A room in a line: `#room (3 members, 2 online, invite-only): topic`. */
export function roomLine(room: RoomInfo): string {
  const kind = room.private ? ", invite-only" : "";
  const topic = room.topic ? `: ${oneLine(room.topic)}` : "";
  return `${room.name} (${room.members} member${room.members === 1 ? "" : "s"}, ${room.online} ` +
    `online${kind})${topic}`;
}

/** What a change to a room says, in one line (without the leading `* `). */
export function roomChange(event: Extract<ClientEvent, { type: "room" }>): string {
  const name = event.room.name;
  const here = event.here ? `; what you type goes to ${event.here}` : "";
  switch (event.event) {
    case "joined":
      return `you joined ${roomLine(event.room)}${here}`;
    case "parted":
      return event.notAsked ? `you are no longer in ${name}${here}` : `you left ${name}${here}`;
    case "topic":
      return event.room.topic
        ? `${event.by} set the topic of ${name}: ${oneLine(event.room.topic)}`
        : `${event.by} cleared the topic of ${name}`;
    case "private":
      return `${event.by} made ${name} ${
        event.room.private ? "invite-only" : "public: anyone may join it"
      }`;
    case "invited":
      return event.toMe
        ? `${event.by} invited you to ${name}: /join ${name} to go in`
        : `${event.by} invited ${event.user} to ${name}`;
  }
}

type Moderation = Extract<ClientEvent, { type: "moderation" }>;

/**
 * What an operator did, in one line (without the leading `* `): `bob_1234 was kicked from #ops
 * by alice_1234: spam`; `you were …` when it is about this user. A log entry reads the same.
 */
export function moderationLine(e: Omit<Moderation, "type"> & { message?: string }): string {
  const who = e.toMe
    ? "you"
    : e.user !== undefined
    ? `${e.user}${e.address !== undefined ? ` (and the address ${e.address})` : ""}`
    : `the address ${e.address}`;
  const was = e.toMe ? "were" : "was";
  const until = e.until !== undefined ? ` until ${dateTime(e.until)}` : "";
  const reason = e.reason ? `: ${oneLine(e.reason)}` : "";
  const from = e.room ?? "the server";
  const here = e.here ? `; what you type goes to ${e.here}` : "";
  const line = (() => {
    switch (e.action) {
      case "kicked":
        return `${who} ${was} kicked from ${from} by ${e.by}${reason}`;
      case "banned":
        return `${who} ${was} banned from ${from} by ${e.by}${until}${reason}`;
      case "unbanned":
        return `${who} ${was} unbanned from ${from} by ${e.by}`;
      case "muted":
        return `${who} ${was} muted ${
          e.room ? `in ${e.room}` : "on the server"
        } by ${e.by}${until}` +
          `${reason}; ${e.toMe ? "you" : "they"} may read, not send`;
      case "unmuted":
        return `${who} ${was} unmuted ${e.room ? `in ${e.room}` : "on the server"} by ${e.by}`;
      case "opped":
        return `${who} ${was} made an operator of ${from} by ${e.by}`;
      case "deopped":
        return `${who} ${e.toMe ? "are" : "is"} no longer an operator of ${from} (by ${e.by})`;
      case "deleted":
        return `${e.by} deleted a message of ${who} in ${from}${
          e.message ? ` (${e.message})` : ""
        }`;
      case "dropped":
        return `${from} was removed by ${e.by}${reason}`;
    }
  })();
  return `${line}${here}`;
}

/** `/ops`: the server's operators, and a room's. */
export function opsLines(e: Extract<ClientEvent, { type: "ops" }>): string[] {
  const lines = [`* server operators: ${e.server.length > 0 ? e.server.join(", ") : "none"}`];
  if (e.room !== undefined) {
    const ops = (e.operators ?? []).map((id) => id === e.creator ? `${id} (made it)` : id);
    lines.push(`* operators of ${e.room}: ${ops.length > 0 ? ops.join(", ") : "none"}`);
  }
  return lines;
}

/** One ban or mute as `/bans` lists it. */
function restrictionLine(r: Restriction): string {
  const who = r.user ?? `the address ${r.address}`;
  const until = r.until !== undefined ? ` until ${dateTime(r.until)}` : " until lifted";
  const reason = r.reason ? `: ${oneLine(r.reason)}` : "";
  return `${r.kind} ${who} by ${r.by} since ${dateTime(r.time)}${until}${reason}`;
}

/** `/bans`: those in force, and how to see more. */
export function bansLines(e: Extract<ClientEvent, { type: "bans" }>): string[] {
  const where = e.room ?? "the server";
  const shown = e.bans.length < e.total
    ? `, ${e.offset + 1}–${e.offset + e.bans.length} shown`
    : "";
  const lines = [`* bans and mutes in force on ${where} (${e.total}${shown})`];
  lines.push(...e.bans.map((r) => `  ${restrictionLine(r)}`));
  const next = e.offset + e.bans.length;
  if (e.bans.length > 0 && next < e.total) {
    lines.push(`  more: /bans ${e.room ?? "--server"} ${next}`);
  }
  return lines;
}

/** `/modlog`: entries newest first, and how to see older ones. */
export function modlogLines(e: Extract<ClientEvent, { type: "modlog" }>): string[] {
  const lines = [`* moderation log of ${e.room ?? "the server"}, newest first:`];
  if (e.entries.length === 0) lines.push("  nothing yet");
  for (const entry of e.entries) {
    lines.push(`  [${entry.id}] ${dateTime(entry.time)} ${moderationLine(entry)}`);
  }
  const last = e.entries.at(-1);
  if (e.more && last) lines.push(`  more: /modlog ${e.room ?? "--server"} ${last.id}`);
  return lines;
}

/** What a join or part of a room says (without the leading `* `). */
function roomPresence(event: Extract<ClientEvent, { type: "presence" }>): string {
  if (event.joined) return `${event.joined.id} joined ${event.room} (${event.online} online)`;
  if (event.left) return `${event.left.id} left ${event.room} (${event.online} online)`;
  return `${event.room}: ${event.online} online`;
}

/**
 * The plain-mode lines for one event (possibly none); `here`: the room what is typed goes to.
 * Search results come as a table.
 */
export function plainLines(event: ClientEvent, here: string = GENERAL_ROOM): string[] {
  switch (event.type) {
    case "welcome": {
      const lines = [
        `* you are ${event.you.id}; online (${event.online}): ${list(event.users)}${
          more(event.online, event.users)
        }`,
      ];
      // said when it is news: anything but GENERAL_ROOM alone
      const rooms = (event.rooms ?? []).map((r) => r.name);
      if (rooms.length !== 1 || rooms[0] !== GENERAL_ROOM) {
        lines.push(`* your rooms: ${rooms.length > 0 ? rooms.join(", ") : "none"}`);
      }
      return lines;
    }
    case "message":
      return plainMessage(event.message, here);
    case "deleted":
      return [
        `* message ${event.ref ? `#${event.ref}` : event.id} was ${
          event.reason === "expired" ? "expired" : "deleted"
        }${event.by !== undefined ? ` by ${event.by}` : ""}`,
      ];
    case "presence":
      if (event.room !== undefined) return [`* ${roomPresence(event)}`];
      if (event.joined) return [`* ${event.joined.id} joined (${event.online} online)`];
      if (event.left) return [`* ${event.left.id} left (${event.online} online)`];
      return [`* ${event.online} online`];
    case "users":
      return [
        `* online${event.room ? ` in ${event.room}` : ""} (${event.online}): ${list(event.users)}${
          more(event.online, event.users)
        }`,
      ];
    case "rooms":
      return [
        `* rooms (${event.total}${
          event.rooms.length < event.total ? `, ${event.rooms.length} shown` : ""
        }): /join #name to go in`,
        ...event.rooms.map((r) => `  ${roomLine(r)}`),
      ];
    case "room":
      return [`* ${roomChange(event)}`];
    case "moderation":
      return [`* ${moderationLine(event)}`];
    case "ops":
      return opsLines(event);
    case "bans":
      return bansLines(event);
    case "modlog":
      return modlogLines(event);
    case "results":
      if (event.history) return historyLines(event, here);
      if (event.messages.length === 0) return [resultsHeading(event.total, 0)];
      return [
        resultsHeading(event.total, event.messages.length),
        ...resultsTable(event.messages).split("\n"),
      ];
    case "sessions":
      return [
        `* ${sessionsHeading(event.sessions.length, event.loggedOutOthers)}:`,
        ...sortSessions(event.sessions).map((s) => `  ${sessionLine(s)}`),
      ];
    case "ack":
      return [];
    case "error":
      return [`! ${oneLine(event.message)}`];
    case "goodbye":
      return [`* disconnected by the server: ${oneLine(event.message)}`];
    case "pending":
      return [`* not connected; will send when reconnected: ${firstLine(event.text)}`];
    case "away":
      return [`* ${awayLine(event)}`];
  }
}

/** What an away (or back) says, in one line (without the leading `* `). */
export function awayLine(event: Extract<ClientEvent, { type: "away" }>): string {
  const since = event.since !== undefined ? ` (since ${clock(event.since).slice(0, 5)})` : "";
  if (event.mine) {
    return event.reason !== undefined
      ? `you are away: ${oneLine(event.reason)}; /away alone when you are back`
      : "you are back";
  }
  return event.reason !== undefined
    ? `${event.user} is away: ${oneLine(event.reason)}${since}`
    : `${event.user} is back`;
}

function jsonMessage(m: Shown) {
  const out: Record<string, unknown> = {
    id: m.id,
    ref: m.ref,
    from: m.from,
    to: m.to ?? [],
    room: m.room ?? null,
    text: m.text,
    time: m.time,
  };
  if (m.replyTo) out.replyTo = m.replyTo;
  if (m.quote) out.quote = m.quote;
  if (m.expiresAt) out.expiresAt = m.expiresAt;
  if (m.action) out.action = true;
  if (m.replay) out.replay = true;
  if (m.ignored) out.ignored = true;
  return out;
}

/** The NDJSON object for one event, or null when the event has nothing to say. */
export function jsonEvent(event: ClientEvent, users: () => User[]): Record<string, unknown> | null {
  switch (event.type) {
    case "welcome":
      return {
        type: "welcome",
        you: event.you,
        users: event.users,
        online: event.online,
        rooms: event.rooms,
      };
    case "message":
      return { type: "message", ...jsonMessage(event.message) };
    case "deleted":
      return {
        type: "deleted",
        id: event.id,
        ref: event.ref,
        reason: event.reason,
        ...(event.by !== undefined ? { by: event.by } : {}),
      };
    case "presence":
      return {
        type: "presence",
        ...(event.room !== undefined ? { room: event.room } : {}),
        ...(event.joined ? { joined: event.joined } : {}),
        ...(event.left ? { left: event.left } : {}),
        online: event.online,
        // who is online on the server: a room's join or part does not change it
        ...(event.room === undefined ? { users: users() } : {}),
      };
    case "users":
      return {
        type: "users",
        ...(event.room !== undefined ? { room: event.room } : {}),
        users: event.users,
        online: event.online,
      };
    case "rooms":
      return { type: "rooms", rooms: event.rooms, total: event.total };
    case "room":
      return {
        type: "room",
        event: event.event,
        room: event.room,
        ...(event.by !== undefined ? { by: event.by } : {}),
        ...(event.user !== undefined ? { user: event.user } : {}),
        ...(event.toMe ? { toMe: true } : {}),
        ...(event.here !== undefined ? { here: event.here } : {}),
        ...(event.notAsked ? { notAsked: true } : {}),
      };
    case "moderation":
    case "ops":
    case "bans":
    case "modlog":
      // as the server said it (toMe and here added), without fields it left out
      return definedOnly({ ...event });
    case "results":
      return { type: "results", total: event.total, messages: event.messages.map(jsonMessage) };
    case "sessions":
      return {
        type: "sessions",
        sessions: sortSessions(event.sessions).map((s) => ({
          id: s.id,
          current: s.current,
          createdAt: s.createdAt,
          lastSeenAt: s.lastSeenAt,
          address: s.address,
        })),
        loggedOutOthers: event.loggedOutOthers,
      };
    case "ack":
      return { type: "ack", id: event.id };
    case "error":
      return { type: "error", code: event.code, message: event.message };
    case "goodbye":
      return { type: "goodbye", reason: event.reason, message: event.message };
    case "pending":
      return { type: "pending", text: event.text, to: event.to ?? [] };
    case "away":
      return {
        type: "away",
        user: event.user,
        ...(event.reason !== undefined ? { reason: event.reason } : {}),
        ...(event.since !== undefined ? { since: event.since } : {}),
        mine: event.mine,
      };
  }
}

function definedOnly(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}

/** The plain line for a change of the connection's state. */
export function plainStatus(status: ConnectionStatus, now = Date.now()): string {
  if (status.state !== "reconnecting") return `* ${status.state}`;
  const seconds = Math.max(0, Math.round((status.retryAt - now) / 1000));
  const why = status.reason ? `; the last attempt failed: ${oneLine(status.reason)}` : "";
  return `* connection lost; reconnecting in ${seconds} s (attempt ${status.attempt})${why}`;
}

/** The NDJSON object for a change of the connection's state. */
export function jsonStatus(status: ConnectionStatus): Record<string, unknown> {
  if (status.state !== "reconnecting") return { type: "status", state: status.state };
  return {
    type: "status",
    state: "reconnecting",
    retryAt: status.retryAt,
    attempt: status.attempt,
    ...(status.reason ? { reason: status.reason } : {}),
  };
}
