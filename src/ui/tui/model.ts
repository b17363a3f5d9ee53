/**
 * What the full-screen UI shows, as plain data, and the pure steps that change it: client
 * events in, items (bubbles and notices) out; deletions and expiries take the bubble away in
 * place (no marker: a purged message leaves no trace); search results, the online list and the
 * list of sessions go to a closable panel.
 */
import type { ClientEvent, Shown } from "../../client/state.ts";
import type { SessionInfo, User } from "../../protocol/schema.ts";
import { isForMe, type Me } from "../bubble.ts";
import { plainLines } from "../plain.ts";
import { oneLine, untab } from "../sanitize.ts";
import { QUIT_CONFIRM_MS } from "../keymap.ts";
import type { ConnectionStatus } from "../../client/client.ts";
import type { Layout } from "../ui.ts";
import { emptyInput, type InputState } from "./input.ts";
import type { Anchor } from "./layout.ts";

/** Items kept in the pane; the oldest go first past it. */
export const MAX_ITEMS = 2000;

export type NoticeRole = "notice" | "presence" | "error";

export type Item =
  | { kind: "message"; key: string; message: Shown }
  | { kind: "notice"; key: string; text: string; role: NoticeRole }
  /** The commands and keys, laid out for the pane's width when drawn (so they reflow). */
  | { kind: "help"; key: string };

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
}

export function initialModel(layout: Layout = "bubbles"): Model {
  return {
    items: [],
    unseen: 0,
    status: { state: "connected" },
    input: emptyInput(),
    leaving: false,
    layout,
    seq: 0,
  };
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
export function addHelp(model: Model): Model {
  const item: Item = { kind: "help", key: `n${model.seq + 1}` };
  return bounded({ ...model, seq: model.seq + 1, items: [...model.items, item] });
}

function bounded(model: Model): Model {
  if (model.items.length <= MAX_ITEMS) return model;
  const items = model.items.slice(model.items.length - MAX_ITEMS);
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

/** Adds a message bubble, unless it is already shown. */
export function addMessage(model: Model, message: Shown): Model {
  if (model.items.some((i) => i.kind === "message" && i.key === message.id)) return model;
  const item: Item = { kind: "message", key: message.id, message };
  const unseen = model.anchor && message.from !== model.me?.id ? model.unseen + 1 : model.unseen;
  return bounded({ ...model, items: [...model.items, item], unseen });
}

export interface Applied {
  model: Model;
  /** Ring the bell: a live message direct to me or naming me arrived. */
  bell: boolean;
}

export interface ApplyOptions {
  /** Who is online now, to keep an open online list current. */
  users?: () => User[];
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
        model = { ...model, me: { id: event.you.id, name: event.you.name } };
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
        model = addMessage(model, event.message);
        break;
      case "deleted": {
        model = removeItem(model, event.id);
        // replies stop quoting it, as ClientState's own messages do (the UI keeps copies)
        if (model.items.some((i) => i.kind === "message" && i.message.replyTo === event.id)) {
          model = {
            ...model,
            items: model.items.map((i): Item =>
              i.kind === "message" && i.message.replyTo === event.id
                ? { ...i, message: { ...i.message, quote: { deleted: true } } }
                : i
            ),
          };
        }
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
          // a room's join or part: said, and who is online on the server is unchanged
          if (event.joined || event.left) {
            model = addNotice(model, plainLines(event)[0].slice(2), "presence");
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
      case "room":
      case "away":
        // the line modes' words: the full-screen room list is still to come
        for (const line of plainLines(event)) model = addNotice(model, line.replace(/^\* /, ""));
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
