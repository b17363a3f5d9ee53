/**
 * Line modes: `--plain` prints one readable line per event, `--json` one JSON object per line
 * (NDJSON). Plain output is given text made safe already (safe.ts) and only lays it out; in
 * JSON it is kept whole, and every control and bidi control is written as `\uXXXX` (safeJson,
 * in lines.ts).
 */
import Table from "cli-table3";
import type { ClientEvent, Shown } from "../client/state.ts";
import { GENERAL_ROOM, type RoomInfo, type SessionInfo, type User } from "../protocol/schema.ts";
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

/** Search results as a table (cli-table3, uncoloured: it would colour even into a pipe). */
export function resultsTable(messages: Shown[]): string {
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
      return `you left ${name}${here}`;
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
        }`,
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
    case "results":
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
      return { type: "deleted", id: event.id, ref: event.ref, reason: event.reason };
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
      };
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
