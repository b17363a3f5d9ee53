/**
 * The one boundary where text from the server and other people enters what the text UIs print:
 * every event, notice, error and connection status a text UI (the full-screen one, --plain) is
 * given passes through {@link safeUi}, which strips escape sequences and controls from every
 * string in it. Behind it, the UIs only lay text out: tabs, line breaks and widths.
 *
 * The --json UI is not behind it: its lines carry the text exactly, with every control written
 * as `\uXXXX` where they are written (safeJson). What a UI reads of the client's state directly
 * is ids, which the schema allows only letters, digits and `._-` in.
 */
import type { ConnectionStatus } from "../client/client.ts";
import type { ClientEvent, Shown } from "../client/state.ts";
import type { RoomInfo, SessionInfo, User } from "../protocol/schema.ts";
import { sanitizeKeepingTabs } from "./sanitize.ts";
import type { Ui } from "./ui.ts";

/** A string made safe; tabs and line breaks stay, for the UI to lay out. */
export const safeText: (text: string) => string = sanitizeKeepingTabs;

const safeUser = (u: User): User => ({
  id: safeText(u.id),
  name: safeText(u.name),
  ...(u.away !== undefined ? { away: safeText(u.away) } : {}),
});

/** A topic is anyone's text (names and ids are pattern-checked too, and made safe all the same). */
const safeRoom = (r: RoomInfo): RoomInfo => ({
  ...r,
  name: safeText(r.name),
  topic: safeText(r.topic),
  ...(r.topicBy !== undefined ? { topicBy: safeText(r.topicBy) } : {}),
});
const safeRoomName = <T extends { room?: string }>(event: T): T =>
  event.room !== undefined ? { ...event, room: safeText(event.room) } : event;

const safeSession = (s: SessionInfo): SessionInfo => ({
  ...s,
  id: safeText(s.id),
  address: safeText(s.address),
});

/** A copy of a flat object with every string field in it made safe (a reason, ids, an address). */
function safeStrings<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, typeof v === "string" ? safeText(v) : v]),
  ) as T;
}

/** A copy of a message with every string in it made safe. */
export function safeMessage(m: Shown): Shown {
  const safe: Shown = { ...m, from: safeText(m.from), text: safeText(m.text) };
  if (m.to) safe.to = m.to.map(safeText);
  if (m.quote && "text" in m.quote) {
    safe.quote = { from: safeText(m.quote.from), text: safeText(m.quote.text) };
  }
  return safe;
}

/** A copy of an event with every string in it made safe. */
export function safeEvent(event: ClientEvent): ClientEvent {
  switch (event.type) {
    case "welcome":
      return {
        ...event,
        you: safeUser(event.you),
        users: event.users.map(safeUser),
        ...(event.rooms ? { rooms: event.rooms.map(safeRoom) } : {}),
      };
    case "message":
      return { ...event, message: safeMessage(event.message) };
    case "presence":
      return {
        ...safeRoomName(event),
        ...(event.joined ? { joined: safeUser(event.joined) } : {}),
        ...(event.left ? { left: safeUser(event.left) } : {}),
      };
    case "users":
      return { ...safeRoomName(event), users: event.users.map(safeUser) };
    case "results":
      return {
        ...event,
        messages: event.messages.map(safeMessage),
        ...(event.pattern !== undefined ? { pattern: safeText(event.pattern) } : {}),
      };
    case "sessions":
      return { ...event, sessions: event.sessions.map(safeSession) };
    case "rooms":
      return { ...event, rooms: event.rooms.map(safeRoom) };
    case "room":
      return {
        ...event,
        room: safeRoom(event.room),
        ...(event.by !== undefined ? { by: safeText(event.by) } : {}),
        ...(event.user !== undefined ? { user: safeText(event.user) } : {}),
        ...(event.here !== undefined ? { here: safeText(event.here) } : {}),
      };
    case "moderation":
      return safeStrings(event);
    case "ops":
      return {
        ...safeStrings(event),
        server: event.server.map(safeText),
        ...(event.operators ? { operators: event.operators.map(safeText) } : {}),
      };
    case "bans":
      return { ...safeStrings(event), bans: event.bans.map(safeStrings) };
    case "modlog":
      return { ...safeStrings(event), entries: event.entries.map(safeStrings) };
    case "error":
      return { ...event, code: safeText(event.code), message: safeText(event.message) };
    case "goodbye":
      return { ...event, reason: safeText(event.reason), message: safeText(event.message) };
    case "pending":
      return {
        ...event,
        text: safeText(event.text),
        ...(event.to ? { to: event.to.map(safeText) } : {}),
      };
    case "away":
      return {
        ...event,
        user: safeText(event.user),
        ...(event.reason !== undefined ? { reason: safeText(event.reason) } : {}),
      };
    case "deleted":
      return event.by !== undefined ? { ...event, by: safeText(event.by) } : event;
    case "ack":
      return event; // ids and refs, nothing else
  }
}

/** A connection status made safe: why the last attempt failed may quote the server. */
export function safeStatus(status: ConnectionStatus): ConnectionStatus {
  return status.state === "reconnecting" && status.reason !== undefined
    ? { ...status, reason: safeText(status.reason) }
    : status;
}

/** `ui` behind the boundary: everything it is given to show is made safe first. */
export function safeUi(ui: Ui): Ui {
  return {
    start: (handlers) => ui.start(handlers),
    show: (events) => ui.show(events.map(safeEvent)),
    notice: (text) => ui.notice(safeText(text)),
    localError: (text) => ui.localError(safeText(text)),
    help: (topic) => ui.help(topic),
    status: (status) => ui.status(safeStatus(status)),
    leaving: () => ui.leaving(),
    ...(ui.clear ? { clear: () => ui.clear!() } : {}),
    stop: () => ui.stop(),
  };
}
