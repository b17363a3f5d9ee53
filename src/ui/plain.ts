/**
 * Line modes: `--plain` prints one readable line per event, `--json` one JSON object per line
 * (NDJSON). Text from other people is sanitized for plain output; JSON escapes it by itself.
 */
import type { ClientEvent, Shown } from "../client/state.ts";
import type { User } from "../protocol/schema.ts";
import { sanitize, sanitizeLine } from "./sanitize.ts";

/** HH:MM:SS in local time. */
export function clock(time: number): string {
  const d = new Date(time);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0"))
    .join(":");
}

function firstLine(text: string, max = 60): string {
  const line = sanitizeLine(text.split("\n")[0]);
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

const list = (users: User[]) => users.map((u) => u.id).join(", ");

/** One message as plain lines: `[ref] 12:01:02 tom_1234: text`, direct shown as `from -> to`. */
export function plainMessage(m: Shown, quoted?: Shown, replyMissing = false): string[] {
  const audience = m.to ? ` -> ${m.to.join(", ")}` : "";
  const temp = m.expiresAt ? ` (temporary, until ${clock(m.expiresAt)})` : "";
  const [first, ...rest] = sanitize(m.text).split("\n");
  const lines: string[] = [];
  if (quoted) lines.push(`  > [${quoted.ref}] ${quoted.from}: ${firstLine(quoted.text)}`);
  else if (replyMissing) lines.push("  > (a message that was deleted or is not shown here)");
  lines.push(`[${m.ref}] ${clock(m.time)} ${m.from}${audience}: ${first}${temp}`);
  for (const line of rest) lines.push(`    ${line}`);
  return lines;
}

/** The plain-mode lines for one event (possibly none). */
export function plainLines(event: ClientEvent): string[] {
  switch (event.type) {
    case "welcome":
      return [`* you are ${event.you.id}; online (${event.users.length}): ${list(event.users)}`];
    case "message":
      return plainMessage(event.message, event.quoted, event.replyMissing);
    case "deleted":
      return [
        `* message ${event.ref ? `[${event.ref}]` : event.id} was ${
          event.reason === "expired" ? "expired" : "deleted"
        }`,
      ];
    case "presence":
      if (event.joined) return [`* ${event.joined.id} joined (${event.online} online)`];
      if (event.left) return [`* ${event.left.id} left (${event.online} online)`];
      return [];
    case "users":
      return [`* online (${event.users.length}): ${list(event.users)}`];
    case "results":
      return [
        `* ${event.total} result${event.total === 1 ? "" : "s"}`,
        ...event.messages.flatMap((m) => plainMessage(m)),
      ];
    case "ack":
      return [];
    case "error":
      return [`! ${sanitizeLine(event.message)}`];
    case "goodbye":
      return [`* disconnected by the server: ${sanitizeLine(event.message)}`];
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
  if (m.expiresAt) out.expiresAt = m.expiresAt;
  if (m.replay) out.replay = true;
  return out;
}

/** The NDJSON object for one event, or null when the event has nothing to say. */
export function jsonEvent(event: ClientEvent, users: () => User[]): Record<string, unknown> | null {
  switch (event.type) {
    case "welcome":
      return { type: "welcome", you: event.you, users: event.users };
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
      return { type: "users", users: event.users };
    case "results":
      return { type: "results", total: event.total, messages: event.messages.map(jsonMessage) };
    case "ack":
      return { type: "ack", id: event.id };
    case "error":
      return { type: "error", code: event.code, message: event.message };
    case "goodbye":
      return { type: "goodbye", reason: event.reason, message: event.message };
  }
}
