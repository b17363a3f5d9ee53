/**
 * Line modes: `--plain` prints one readable line per event, `--json` one JSON object per line
 * (NDJSON). Plain output is given text made safe already (safe.ts) and only lays it out; in
 * JSON it is kept whole, and every control and bidi control is written as `\uXXXX` (safeJson,
 * in lines.ts).
 */
import Table from "cli-table3";
import type { ClientEvent, Shown } from "../client/state.ts";
import type { SessionInfo, User } from "../protocol/schema.ts";
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

const list = (users: User[]) => users.map((u) => u.id).join(", ");
const more = (online: number, users: User[]) =>
  online > users.length ? ` and ${online - users.length} more` : "";

/**
 * One message as plain lines: `#ref 12:01:02 tom_1234: text`, direct shown as `from -> to`. The
 * ref is written as the full-screen UI writes it, `#ref`, and typed either way in /reply.
 */
export function plainMessage(m: Shown): string[] {
  const audience = m.to ? ` -> ${m.to.join(", ")}` : "";
  const temp = m.expiresAt ? ` (temporary, until ${clock(m.expiresAt)})` : "";
  const [first, ...rest] = untab(m.text).split("\n");
  const lines: string[] = [];
  const quote = quoteLine(m);
  if (quote) lines.push(`  > ${quote}`);
  lines.push(`#${m.ref} ${clock(m.time)} ${m.from}${audience}: ${first}${temp}`);
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

/** The plain-mode lines for one event (possibly none). Search results come as a table. */
export function plainLines(event: ClientEvent): string[] {
  switch (event.type) {
    case "welcome":
      return [
        `* you are ${event.you.id}; online (${event.online}): ${list(event.users)}${
          more(event.online, event.users)
        }`,
      ];
    case "message":
      return plainMessage(event.message);
    case "deleted":
      return [
        `* message ${event.ref ? `#${event.ref}` : event.id} was ${
          event.reason === "expired" ? "expired" : "deleted"
        }`,
      ];
    case "presence":
      if (event.joined) return [`* ${event.joined.id} joined (${event.online} online)`];
      if (event.left) return [`* ${event.left.id} left (${event.online} online)`];
      return [`* ${event.online} online`];
    case "users":
      return [`* online (${event.online}): ${list(event.users)}${more(event.online, event.users)}`];
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
  }
}

function jsonMessage(m: Shown) {
  const out: Record<string, unknown> = {
    id: m.id,
    ref: m.ref,
    from: m.from,
    to: m.to ?? [],
    text: m.text,
    time: m.time,
  };
  if (m.replyTo) out.replyTo = m.replyTo;
  if (m.quote) out.quote = m.quote;
  if (m.expiresAt) out.expiresAt = m.expiresAt;
  if (m.replay) out.replay = true;
  return out;
}

/** The NDJSON object for one event, or null when the event has nothing to say. */
export function jsonEvent(event: ClientEvent, users: () => User[]): Record<string, unknown> | null {
  switch (event.type) {
    case "welcome":
      return { type: "welcome", you: event.you, users: event.users, online: event.online };
    case "message":
      return { type: "message", ...jsonMessage(event.message) };
    case "deleted":
      return { type: "deleted", id: event.id, ref: event.ref, reason: event.reason };
    case "presence":
      return {
        type: "presence",
        ...(event.joined ? { joined: event.joined } : {}),
        ...(event.left ? { left: event.left } : {}),
        online: event.online,
        users: users(),
      };
    case "users":
      return { type: "users", users: event.users, online: event.online };
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
