/**
 * What the full-screen UI shows, as plain data, and the pure steps that change it: client
 * events in, items (bubbles and notices) out; deletions and expiries take the bubble away in
 * place (no marker: a purged message leaves no trace); search results, the online list and the
 * list of sessions go to a closable panel.
 *
 * Each room and each direct conversation is a view of its own (views.ts): a message goes to
 * its view, which counts what came while it was not looked at and marks where reading stopped.
 * The view on screen keeps its items in `items` (with `anchor` and `unseen`); the others keep
 * theirs in `views`. A live direct message is also shown in the view on screen, so none is missed.
 */
import type { ClientEvent, Shown } from "../../client/state.ts";
import { GENERAL_ROOM } from "../../protocol/rules.ts";
import type { SessionInfo, User } from "../../protocol/schema.ts";
import { isForMe, type Me } from "../bubble.ts";
import { plainLines } from "../plain.ts";
import { oneLine, untab } from "../sanitize.ts";
import { QUIT_CONFIRM_MS } from "../keymap.ts";
import type { ConnectionStatus } from "../../client/client.ts";
import type { HelpTopic } from "../../client/commands.ts";
import type { Layout } from "../ui.ts";
import { emptyInput, type InputState } from "./input.ts";
import type { Anchor } from "./layout.ts";
import { emptyView, isRoom, priority, type View, viewOf } from "./views.ts";

/** Items kept in the pane; the oldest go first past it. */
export const MAX_ITEMS = 2000;

export type NoticeRole = "notice" | "presence" | "error";

export type Item =
  | { kind: "message"; key: string; message: Shown }
  | { kind: "notice"; key: string; text: string; role: NoticeRole }
  /** The commands and keys, laid out for the pane's width when drawn (so they reflow). */
  | { kind: "help"; key: string; topic?: HelpTopic };

export type Panel =
  | { kind: "results"; pattern?: string; total: number; messages: Shown[]; scroll: number }
  /** `online` counts everyone; `users` may be only the first of them, in a large room. */
  | { kind: "who"; users: User[]; online: number; scroll: number }
  /** This user's sessions; `loggedOutOthers` when it is what /logout-others left. */
  | { kind: "sessions"; sessions: SessionInfo[]; loggedOutOthers: boolean; scroll: number };

export interface Model {
  items: Item[];
  /** Undefined while the pane follows the newest messages. */
  anchor?: Anchor;
  /** Messages that arrived below while scrolled up. */
  unseen: number;
  panel?: Panel;
  status: ConnectionStatus;
  input: InputState;
  /** A word beside the status line until the next key: completions, a refused paste. */
  hint?: { text: string; error: boolean };
  me?: Me;
  /** Set once the person asked to leave (the client is finishing up). */
  leaving: boolean;
  /** Speech bubbles or one line per message (F3 switches). */
  layout: Layout;
  /** Why the last reconnect attempt failed, said once for a run of the same reason. */
  lastFailure?: string;
  /** When Ctrl+C was pressed with a line typed: a second one within QUIT_CONFIRM_MS leaves. */
  quitArmedAt?: number;
  /** Counter for notice keys. */
  seq: number;
  /** The view on screen: a room (`#general`) or a conversation (`@bob_1234`); see views.ts. */
  view: string;
  /** Every view, in the order of the list (numbered from 1); see the model's doc. */
  views: View[];
  /** Views looked at before, the latest last: where leaving one goes back to. */
  visited: string[];
  /** Replayed messages count as news: after a reconnect (what was missed), not on the first join. */
  replaysCount: boolean;
}

export function initialModel(layout: Layout = "bubbles", here: string = GENERAL_ROOM): Model {
  return {
    items: [],
    unseen: 0,
    status: { state: "connected" },
    input: emptyInput(),
    leaving: false,
    layout,
    seq: 0,
    view: here,
    views: [emptyView(here, false)],
    visited: [],
    replaysCount: false,
  };
}

// ---- views -------------------------------------------------------------------------------------

/** Visits remembered for going back. */
const MAX_VISITED = 50;

/** The view on screen's entry in `views`, items and all. */
function park(model: Model): Model {
  const { items, anchor, unseen } = model;
  return {
    ...model,
    views: model.views.map((v) => v.key === model.view ? { ...v, items, anchor, unseen } : v),
  };
}

/** `key`'s items on screen (nothing else changes: see lookAt). */
function load(model: Model, key: string): Model {
  const view = model.views.find((v) => v.key === key)!;
  return { ...model, view: key, items: view.items, anchor: view.anchor, unseen: view.unseen };
}

/** Applies `step` to the view `key` as if it were on screen, then puts back the one that was. */
function inView(model: Model, key: string, step: (model: Model) => Model): Model {
  if (key === model.view) return step(model);
  const back = model.view;
  return load(park(step(load(park(model), key))), back);
}

/** Changes the entry of view `key`. */
function updateView(model: Model, key: string, change: (view: View) => Partial<View>): Model {
  return { ...model, views: model.views.map((v) => (v.key === key ? { ...v, ...change(v) } : v)) };
}

/**
 * Conversations kept in the list at most (anyone may write to anyone): past it, the first one
 * opened without news goes (else the first one), never the one looked at.
 */
export const MAX_CONVERSATIONS = 50;

/** Makes sure view `key` exists (a new one goes at the end of the list). */
export function openView(model: Model, key: string): Model {
  if (model.views.some((v) => v.key === key)) return model;
  let views = [...model.views, emptyView(key)];
  const conversations = views.filter((v) => !isRoom(v.key) && v.key !== model.view);
  if (conversations.length > MAX_CONVERSATIONS) {
    const gone = conversations.find((v) => priority(v) === 0) ?? conversations[0];
    views = views.filter((v) => v !== gone);
  }
  return { ...model, views, visited: model.visited.filter((k) => views.some((v) => v.key === k)) };
}

/**
 * Puts view `key` on screen (opening it if need be): its news counts as read, and the view left
 * gets its read marker afresh, above the first message that comes while it is not looked at.
 */
export function lookAt(model: Model, key: string): Model {
  if (key === model.view) return model;
  const left = model.view;
  model = park(openView(model, key));
  model = updateView(model, left, () => ({ marker: undefined, away: true }));
  model = updateView(model, key, () => ({ unread: 0, highlights: 0, since: undefined }));
  const visited = [...model.visited.filter((k) => k !== left && k !== key), left];
  return { ...load(model, key), visited: visited.slice(-MAX_VISITED) };
}

/** The view `step` places away from the one on screen: -1 the previous in the list, +1 the next. */
export function stepView(model: Model, step: number): string {
  const at = model.views.findIndex((v) => v.key === model.view);
  const n = model.views.length;
  return model.views[(((at + step) % n) + n) % n].key;
}

/** The view with the news that matters most (as weechat's Alt+A), if any has news. */
export function busiestView(model: Model): string | undefined {
  const active = model.views.filter((v) => v.key !== model.view && priority(v) > 0);
  active.sort((a, b) => priority(b) - priority(a) || (a.since ?? 0) - (b.since ?? 0));
  return active[0]?.key;
}

/**
 * Takes view `key` out of the list (a room left, a conversation closed); when it was on screen,
 * the one looked at before it comes back (else the first).
 */
export function closeView(model: Model, key: string): Model {
  if (!model.views.some((v) => v.key === key) || model.views.length === 1) return model;
  if (key === model.view) {
    const back = [...model.visited].reverse().find((k) =>
      k !== key && model.views.some((v) => v.key === k)
    ) ?? model.views.find((v) => v.key !== key)!.key;
    model = lookAt(model, back);
  }
  return {
    ...model,
    views: model.views.filter((v) => v.key !== key),
    visited: model.visited.filter((k) => k !== key),
  };
}

/** The rooms of a welcome: a view each (the first welcome lists them in its order, #general first). */
function roomViews(model: Model, rooms: string[]): Model {
  const first = model.me === undefined;
  const listed = new Set(rooms);
  // rooms left meanwhile (on another device) go, unless on screen
  let views = model.views.filter((v) =>
    !isRoom(v.key) || listed.has(v.key) || v.key === model.view
  );
  for (const room of rooms) if (!views.some((v) => v.key === room)) views.push(emptyView(room));
  if (first) {
    const order = [GENERAL_ROOM, ...rooms.filter((r) => r !== GENERAL_ROOM)];
    const rank = (v: View) =>
      isRoom(v.key) && listed.has(v.key) ? order.indexOf(v.key) : order.length;
    views = [...views].sort((a, b) => rank(a) - rank(b));
  }
  return { ...model, views, visited: model.visited.filter((k) => views.some((v) => v.key === k)) };
}

/** The hint after a first Ctrl+C with a line typed. */
export const QUIT_HINT = `Ctrl+C again within ${
  QUIT_CONFIRM_MS / 1000
} s leaves (the line you typed is not sent)`;

/**
 * Ctrl+C: leaves at once on an empty line; with a line typed, only when pressed again within
 * QUIT_CONFIRM_MS (the first one says so), so a half-typed message is not lost to a slip.
 */
export function pressCtrlC(model: Model, now: number): { model: Model; quit: boolean } {
  const armed = model.quitArmedAt !== undefined && now - model.quitArmedAt <= QUIT_CONFIRM_MS;
  if (model.input.text.trim() === "" || armed) {
    return { model: { ...model, quitArmedAt: undefined }, quit: true };
  }
  return {
    model: { ...model, quitArmedAt: now, hint: { text: QUIT_HINT, error: true } },
    quit: false,
  };
}

/** Adds the commands and keys to the pane (/help). */
export function addHelp(model: Model, topic?: HelpTopic): Model {
  const item: Item = { kind: "help", key: `n${model.seq + 1}`, ...(topic ? { topic } : {}) };
  return bounded({ ...model, seq: model.seq + 1, items: [...model.items, item] });
}

function bounded(model: Model): Model {
  if (model.items.length <= MAX_ITEMS) return model;
  const items = model.items.slice(model.items.length - MAX_ITEMS);
  const ids = shownIds.get(model.items);
  if (ids) {
    for (const dropped of model.items.slice(0, model.items.length - MAX_ITEMS)) {
      if (dropped.kind === "message") ids.delete(dropped.key);
    }
    handOn(model.items, items, ids);
  }
  let anchor = model.anchor;
  if (anchor && !items.some((i) => i.key === anchor!.key)) anchor = { key: items[0].key, line: 0 };
  return { ...model, items, anchor };
}

/** Adds a notice line (or several) to the pane. */
export function addNotice(model: Model, text: string, role: NoticeRole = "notice"): Model {
  const item: Item = { kind: "notice", key: `n${model.seq + 1}`, text: untab(text), role };
  return bounded({ ...model, seq: model.seq + 1, items: [...model.items, item] });
}

/** Empties the message area (/clear): what was shown stays in the client's state and history. */
export function clearItems(model: Model): Model {
  return { ...model, items: [], anchor: undefined, unseen: 0 };
}

/** Removes an item; an anchor on it moves to the item after it (or before it, at the end). */
export function removeItem(model: Model, key: string): Model {
  const index = model.items.findIndex((i) => i.key === key);
  if (index < 0) return model;
  const items = model.items.filter((_, i) => i !== index);
  let anchor = model.anchor;
  if (anchor?.key === key) {
    const next = items[index] ?? items[index - 1];
    anchor = next ? { key: next.key, line: 0 } : undefined;
  }
  return { ...model, items, anchor, unseen: anchor ? model.unseen : 0 };
}

/**
 * The ids of the messages in an items array, so that a message arriving is not checked against
 * every item (2,000 of them, 50 times a second in a busy room). Made on first use for an array
 * and handed on to the array that grows from it (addMessage, bounded); an array made any other
 * way (a removal, /clear) gets its own on first use.
 */
const shownIds = new WeakMap<Item[], Set<string>>();

function idsOf(items: Item[]): Set<string> {
  let ids = shownIds.get(items);
  if (!ids) {
    ids = new Set();
    for (const i of items) if (i.kind === "message") ids.add(i.key);
    shownIds.set(items, ids);
  }
  return ids;
}

/** `ids`, right for `to`, become its set; `from` (which may still be in use) gets its own again. */
function handOn(from: Item[], to: Item[], ids: Set<string>): void {
  shownIds.delete(from);
  shownIds.set(to, ids);
}

/** Adds a message bubble, unless it is already shown. */
export function addMessage(model: Model, message: Shown): Model {
  const ids = idsOf(model.items);
  if (ids.has(message.id)) return model;
  const item: Item = { kind: "message", key: message.id, message };
  // at the cap, the oldest is left out of the one copy made (not copied, then cut by bounded)
  const full = model.items.length >= MAX_ITEMS && model.anchor === undefined;
  const items = model.items.slice(full ? model.items.length + 1 - MAX_ITEMS : 0);
  items.push(item);
  if (full) {
    for (let i = 0; i < model.items.length + 1 - MAX_ITEMS; i++) {
      const dropped = model.items[i];
      if (dropped.kind === "message") ids.delete(dropped.key);
    }
  }
  ids.add(message.id);
  handOn(model.items, items, ids);
  const unseen = model.anchor && message.from !== model.me?.id ? model.unseen + 1 : model.unseen;
  return bounded({ ...model, items, unseen });
}

/**
 * A message from the client, to its view: counted there as news (and marking where reading
 * stopped) when that view is not on screen and the message is someone else's. A live direct
 * message is shown on screen too, wherever that is.
 */
export function receive(model: Model, message: Shown): Model {
  const key = viewOf(message, model.me);
  model = openView(model, key);
  if (key === model.view) return addMessage(model, message);
  const before = model.views.find((v) => v.key === key)!.items;
  model = inView(model, key, (m) => addMessage(m, message));
  const added = model.views.find((v) => v.key === key)!.items !== before;
  const news = added && message.from !== model.me?.id && (!message.replay || model.replaysCount);
  if (news) {
    const forMe = isForMe(message, model.me);
    model = updateView(model, key, (v) => ({
      unread: v.unread + 1,
      highlights: v.highlights + (forMe ? 1 : 0),
      since: v.since ?? message.time,
      ...(v.away && v.marker === undefined ? { marker: message.id } : {}),
    }));
  }
  const direct = message.to !== undefined && message.to.length > 0;
  return direct && !message.replay ? addMessage(model, message) : model;
}

/** Whether message `a` came after message `b` (by time, then id: ULIDs sort by time). */
const after = (a: Shown, b: Shown) => a.time > b.time || (a.time === b.time && a.id > b.id);

/**
 * A page of /history, into the view of `room`: each message not shown yet goes before the first
 * one shown that is later (so, mostly, above all of them), in time order. It is not news: no
 * count, no read marker, no bell. Asked for in a view that shows messages already, the pane
 * moves to the first of them. As many as the view has room for (MAX_ITEMS) are placed, the
 * newest of them.
 */
export function addHistory(
  model: Model,
  room: string,
  messages: Shown[],
  quiet = false,
): Model {
  if (!model.views.some((v) => v.key === room)) return model; // left meanwhile
  const page = messages.filter((m) => viewOf(m, model.me) === room);
  return inView(model, room, (m) => {
    const ids = idsOf(m.items);
    const fresh = page.filter((p) => !ids.has(p.id)).sort((a, b) => (after(a, b) ? 1 : -1));
    const taken = fresh.slice(Math.max(0, fresh.length - (MAX_ITEMS - m.items.length)));
    if (fresh.length === 0) return quiet ? m : addNotice(m, `no earlier messages in ${room}`);
    if (taken.length === 0) return m;
    const shown = m.items.some((i) => i.kind === "message");
    const items = [...m.items];
    let at = 0;
    for (const message of taken) {
      while (at < items.length) {
        const item = items[at];
        if (item.kind === "message" && after(item.message, message)) break;
        at++;
      }
      items.splice(at++, 0, { kind: "message", key: message.id, message });
      ids.add(message.id);
    }
    handOn(m.items, items, ids);
    return { ...m, items, ...(shown ? { anchor: { key: taken[0].id, line: 0 } } : {}) };
  });
}

/** A notice in view `key` (on screen when there is no such view). */
function noticeIn(model: Model, key: string, text: string, role: NoticeRole = "notice"): Model {
  if (!model.views.some((v) => v.key === key)) key = model.view;
  return inView(model, key, (m) => addNotice(m, text, role));
}

/** Applies `step` to every view (for what concerns them all: a deletion). */
function everyView(model: Model, step: (model: Model) => Model): Model {
  for (const { key } of model.views) model = inView(model, key, step);
  return model;
}

/** A message deleted or expired, out of the view on screen: its bubble, the quotes of it, its marker. */
function deleted(model: Model, id: string): Model {
  const at = model.items.findIndex((i) => i.key === id);
  const marked = model.views.find((v) => v.key === model.view)?.marker === id;
  if (marked) {
    // the marker stays where it was: above the next message, if there is one
    const next = model.items.slice(at + 1).find((i) => i.kind === "message")?.key;
    model = updateView(model, model.view, () => ({ marker: next }));
  }
  model = removeItem(model, id);
  // replies stop quoting it, as ClientState's own messages do (the UI keeps copies)
  if (model.items.some((i) => i.kind === "message" && i.message.replyTo === id)) {
    model = {
      ...model,
      items: model.items.map((i): Item =>
        i.kind === "message" && i.message.replyTo === id
          ? { ...i, message: { ...i.message, quote: { deleted: true } } }
          : i
      ),
    };
  }
  return model;
}

/**
 * A room joined, left, its topic or privacy set, an invitation: the room's view follows (joined
 * on request: looked at; left: gone, back to the view looked at before), said in that view.
 */
function roomEvent(model: Model, event: Extract<ClientEvent, { type: "room" }>): Model {
  const room = event.room.name;
  if (event.event === "joined") {
    model = openView(model, room);
    if (event.here === room) model = lookAt(model, room);
    return noticeIn(model, room, plainLines(event)[0].slice(2));
  }
  if (event.event === "parted") {
    model = closeView(model, room);
    // what is typed goes to the view looked at now (the controller makes the client follow)
    const said = event.here !== undefined ? { ...event, here: model.view } : event;
    return addNotice(model, plainLines(said)[0].slice(2));
  }
  const where = event.event === "invited" && event.toMe ? model.view : room;
  return noticeIn(model, where, plainLines(event)[0].slice(2));
}

/**
 * What an operator did, said in the view of its room. Kicked or banned from a room, or the room
 * removed, this user's view of it closes, as a part does.
 */
function moderationEvent(model: Model, event: Extract<ClientEvent, { type: "moderation" }>): Model {
  const room = event.room;
  if (
    room !== undefined &&
    (event.action === "dropped" ||
      (event.toMe && (event.action === "kicked" || event.action === "banned")))
  ) {
    model = closeView(model, room);
    const said = event.here !== undefined ? { ...event, here: model.view } : event;
    return addNotice(model, plainLines(said)[0].slice(2));
  }
  const line = plainLines(event)[0].slice(2);
  return room !== undefined ? noticeIn(model, room, line) : addNotice(model, line);
}

export interface Applied {
  model: Model;
  /** Ring the bell: a live message direct to me or naming me arrived. */
  bell: boolean;
}

export interface ApplyOptions {
  /** Who is online now, to keep an open online list current. */
  users?: () => User[];
  /** Rooms whose history the client asked for by itself: an empty page there says nothing. */
  quietHistory?: ReadonlySet<string>;
}

/**
 * A new connection state. The status line has no room for why a reconnect attempt failed, so
 * the reason goes to the pane, once for a run of attempts failing the same way.
 */
export function applyStatus(model: Model, status: ConnectionStatus): Model {
  // an attempt under way ("connecting") comes between two failures: it does not end the run
  const said = status.state === "connected" ? undefined : model.lastFailure;
  const next = { ...model, status, lastFailure: said };
  if (status.state !== "reconnecting" || !status.reason || status.reason === said) return next;
  return addNotice(
    { ...next, lastFailure: status.reason },
    `reconnecting: ${status.reason}`,
    "error",
  );
}

/** Applies what the client reported. */
export function applyEvents(
  model: Model,
  events: ClientEvent[],
  options: ApplyOptions = {},
): Applied {
  let bell = false;
  for (const event of events) {
    switch (event.type) {
      case "welcome": {
        const again = model.me !== undefined;
        if (event.rooms) model = roomViews(model, event.rooms.map((r) => r.name));
        model = { ...model, me: { id: event.you.id, name: event.you.name }, replaysCount: again };
        const count = event.online ?? event.users.length;
        const online = `${count} online${count > 1 ? "" : " (only you, for now)"}`;
        model = addNotice(
          model,
          again
            ? `reconnected as ${event.you.id}; ${online}`
            : `you are ${event.you.id}; ${online} · /help lists the commands`,
        );
        break;
      }
      case "message":
        if (!event.message.replay && isForMe(event.message, model.me)) bell = true;
        model = receive(model, event.message);
        break;
      case "deleted": {
        model = everyView(model, (m) => deleted(m, event.id));
        // an operator's deletion of someone else's message is said (the author's own is not)
        if (event.by !== undefined) model = addNotice(model, plainLines(event)[0].slice(2));
        const panel = model.panel;
        if (panel?.kind === "results" && panel.messages.some((m) => m.id === event.id)) {
          model = {
            ...model,
            panel: {
              ...panel,
              messages: panel.messages.filter((m) => m.id !== event.id),
              total: Math.max(0, panel.total - 1),
            },
          };
        }
        break;
      }
      case "presence":
        if (event.room !== undefined) {
          // a room's join or part: said in its view, and who is online on the server is unchanged
          if (event.joined || event.left) {
            model = noticeIn(model, event.room, plainLines(event)[0].slice(2), "presence");
          }
          break;
        }
        if (event.joined) {
          model = addNotice(
            model,
            `${event.joined.id} joined · ${event.online} online`,
            "presence",
          );
        } else if (event.left) {
          model = addNotice(
            model,
            `${event.left.id} left · ${event.online} online`,
            "presence",
          );
        }
        if (model.panel?.kind === "who" && options.users) {
          // the list is copied only when it is on screen
          model = {
            ...model,
            panel: { ...model.panel, users: options.users(), online: event.online },
          };
        }
        break;
      case "users":
        model = {
          ...model,
          panel: { kind: "who", users: event.users, online: event.online, scroll: 0 },
        };
        break;
      case "results":
        if (event.history) {
          // a page of history goes to its room's view (asked in a room view, always of one room)
          const room = event.room ?? model.view;
          model = addHistory(model, room, event.messages, options.quietHistory?.has(room));
          break;
        }
        model = {
          ...model,
          panel: {
            kind: "results",
            pattern: event.pattern,
            total: event.total,
            messages: event.messages,
            scroll: 0,
          },
        };
        break;
      case "sessions":
        if (event.loggedOutOthers) {
          model = addNotice(model, "signed out every other session of yours", "notice");
        }
        model = {
          ...model,
          panel: {
            kind: "sessions",
            sessions: event.sessions,
            loggedOutOthers: event.loggedOutOthers,
            scroll: 0,
          },
        };
        break;
      case "rooms":
      case "away":
      case "ops":
      case "bans":
      case "modlog":
        // the line modes' words
        for (const line of plainLines(event)) model = addNotice(model, line.replace(/^\* /, ""));
        break;
      case "room":
        model = roomEvent(model, event);
        break;
      case "moderation":
        model = moderationEvent(model, event);
        break;
      case "ack":
        break;
      case "error":
        model = addNotice(model, oneLine(event.message), "error");
        break;
      case "pending":
        model = addNotice(
          model,
          `not connected; will send when reconnected: ${oneLine(event.text)}`,
          "notice",
        );
        break;
      case "goodbye":
        model = addNotice(
          model,
          `disconnected by the server: ${oneLine(event.message)}`,
          "error",
        );
        break;
    }
  }
  return { model, bell };
}
