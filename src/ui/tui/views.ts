/**
 * Views, as irssi's windows and weechat's buffers: each room is one, and so is each direct
 * conversation (one per person, or per group of people written to together). A view is named by
 * its key: the room (`#builds`) or `@` and the other people's ids (`@bob_1234`,
 * `@ann_0001,bob_1234`). Pure data and the small rules about it; the model (model.ts) keeps the
 * views and moves between them.
 */
import { parseInput } from "../../client/commands.ts";
import type { Shown } from "../../client/state.ts";
import { GENERAL_ROOM, ID_PATTERN, roomName } from "../../protocol/rules.ts";
import type { User } from "../../protocol/schema.ts";
import type { Me } from "../bubble.ts";
import type { Anchor } from "./layout.ts";
import type { Item } from "./model.ts";

export interface View {
  key: string;
  /** Its items, while another view is on screen (the model holds the one on screen's). */
  items: Item[];
  anchor?: Anchor;
  unseen: number;
  /** Messages from others since it was last looked at. */
  unread: number;
  /** Of those, the ones for me: naming me, or direct. */
  highlights: number;
  /** When its first unread message was sent: older news comes first among equals. */
  since?: number;
  /** The first message that came while it was not looked at: the read marker is drawn above it. */
  marker?: string;
  /** Looked away from: the next message to come takes the marker. */
  away: boolean;
}

export function emptyView(key: string, away = true): View {
  return { key, items: [], unseen: 0, unread: 0, highlights: 0, away };
}

/** Whether a view is a room (else a direct conversation). */
export const isRoom = (key: string) => key.startsWith("#");

/** The ids a direct conversation's view writes to. */
export function peersOf(key: string): string[] {
  return isRoom(key) ? [] : key.slice(1).split(",").filter((id) => id !== "");
}

/** The view of a conversation with these people (me left out); with nobody else, my notes. */
export function conversationKey(ids: string[], me: Me | undefined): string {
  const others = [...new Set(ids.filter((id) => id !== me?.id))].sort();
  return `@${others.length > 0 ? others.join(",") : me?.id ?? ""}`;
}

/** The view a message belongs to: its room, or the conversation of its sender and recipients. */
export function viewOf(m: Shown, me: Me | undefined): string {
  if (m.to === undefined || m.to.length === 0) return m.room ?? GENERAL_ROOM;
  return conversationKey([m.from, ...m.to], me);
}

/** How much a view's news matters, as weechat ranks its hotlist: 2 for me, 1 news, 0 none. */
export function priority(view: Pick<View, "unread" | "highlights">): number {
  return view.highlights > 0 ? 2 : view.unread > 0 ? 1 : 0;
}

/** The view `/window` names: by its number in the list, its room, or `@` and its people. */
export function findView(views: View[], typed: string): string | undefined {
  if (/^\d+$/.test(typed)) return views[Number(typed) - 1]?.key;
  const room = roomName(typed);
  const person = `@${typed.replace(/^@/, "")}`;
  return views.find((v) => v.key === room)?.key ?? views.find((v) => v.key === person)?.key;
}

/** Someone's id, from their id or their name when one person online has it; any id as typed. */
export function userIdFor(online: User[], typed: string): string | undefined {
  const lower = typed.toLowerCase();
  const exact = online.find((u) => u.id.toLowerCase() === lower);
  if (exact) return exact.id;
  const named = online.filter((u) => u.name.toLowerCase() === lower);
  if (named.length === 1) return named[0].id;
  return ID_PATTERN.test(typed) ? typed : undefined;
}

/**
 * A line as sent from view `key`: in a conversation, a message (or /temp) that names no one
 * goes to its people; anything else as typed.
 */
export function addressed(key: string, line: string): string {
  const peers = peersOf(key);
  if (peers.length === 0) return line;
  const to = peers.map((id) => `@${id}`).join(" ");
  const intent = parseInput(line);
  if (intent.kind === "send" && intent.to === undefined) return `${to} ${intent.text}`;
  if (intent.kind === "temp" && intent.to === undefined) {
    return `/temp ${intent.ttl}s ${to} ${intent.text}`;
  }
  return line;
}

/** Commands of the full-screen client alone, about views (tui.ts runs them; /help lists them). */
export const VIEW_COMMANDS: { name: string; usage: string; help: string }[] = [
  {
    name: "window",
    usage: "/window N|#room|@id",
    help: "look at one of the room list",
  },
  {
    name: "query",
    usage: "/query @id",
    help: "a conversation with someone",
  },
  { name: "close", usage: "/close", help: "close the conversation looked at" },
];
