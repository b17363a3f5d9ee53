/**
 * The full-screen UI: implements `Ui` for `chat join` on a terminal. It keeps the model
 * (model.ts), turns keys into edits, scrolls and lines to send, composes the screen
 * (screen.ts) and paints it (paint.ts): what arrives is drawn at most FRAME_MS apart, a key's
 * echo at once. The terminal is taken over in `start` and given back in `stop` — or on any crash
 * path (terminal.ts).
 *
 * @example
 * ```ts
 * const ui = tuiUi({ state, server: "localhost:7777", bell: true, color: true });
 * ui.start({ onLine: (line) => chat.line(line), onEnd: () => void chat.leave(EXIT_DRAIN_MS) });
 * ```
 */
import { COMMANDS, type HelpTopic } from "../../client/commands.ts";
import { MAX_TEXT_LENGTH } from "../../protocol/rules.ts";
import type { ClientEvent } from "../../client/state.ts";
import type { ConnectionStatus } from "../../client/client.ts";
import type { Ui, UiContext, UiHandlers } from "../ui.ts";
import type { Key } from "./keys.ts";
import { type EditKind, type InputAction, type InputContext, inputReducer } from "./input.ts";
import { scrollPane } from "./layout.ts";
import {
  addHelp,
  addNotice,
  applyEvents,
  applyStatus,
  busiestView,
  clearItems,
  closeView,
  initialModel,
  lookAt,
  type Model,
  type NoticeRole,
  pressCtrlC,
  stepView,
} from "./model.ts";
import { addressed, conversationKey, findView, isRoom, userIdFor, VIEW_COMMANDS } from "./views.ts";
import { QUIT_CONFIRM_MS } from "../keymap.ts";
import {
  BlockCache,
  composeScreen,
  modelSource,
  paneHeight,
  panelHeight,
  panelScrollMax,
  type Screen,
} from "./screen.ts";
import { paintFrame, type PaintRow, RowWriter } from "./paint.ts";
import { openTerminal, type Terminal, type TerminalHandlers } from "./terminal.ts";
import { type Clock, systemClock } from "../../client/clock.ts";
import { oneLine } from "../sanitize.ts";

/**
 * Least time between two frames drawn for what arrives (a flood of messages is drawn at most
 * 1000 / FRAME_MS times a second); a key is echoed at once.
 */
export const FRAME_MS = 1000 / 30;
/** Lines one wheel notch scrolls. */
const WHEEL_LINES = 3;
/** Least time between two bells. */
const BELL_GAP_MS = 1000;
/** Notices shown again on the main screen when the client stops on its own (not asked to). */
const LAST_WORDS_MS = 10_000;

/** The named keys the UI acts on (KEY_ACTIONS and #named's cases): the key list is checked against it. */
export const HANDLED_KEYS: ReadonlySet<string> = new Set([
  "enter",
  "alt+enter",
  "tab",
  "pageUp",
  "pageDown",
  "ctrl+c",
  "ctrl+r",
  "ctrl+d",
  "ctrl+l",
  "f2",
  "f3",
  "escape",
  "backspace",
  "delete",
  "left",
  "right",
  "home",
  "end",
  "up",
  "down",
  "ctrl+a",
  "ctrl+e",
  "ctrl+b",
  "ctrl+f",
  "ctrl+p",
  "ctrl+n",
  "ctrl+u",
  "ctrl+k",
  "ctrl+w",
  "alt+backspace",
  "alt+d",
  "alt+b",
  "alt+f",
  "alt+a",
  ..."1234567890".split("").map((d) => `alt+${d}`),
]);

const KEY_ACTIONS: Record<string, EditKind> = {
  backspace: "backspace",
  delete: "delete",
  left: "left",
  right: "right",
  home: "home",
  end: "end",
  up: "historyUp",
  down: "historyDown",
  "ctrl+a": "home",
  "ctrl+e": "end",
  "ctrl+b": "left",
  "ctrl+f": "right",
  "ctrl+u": "killBefore",
  "ctrl+k": "killAfter",
  "ctrl+w": "killWordBefore",
  "alt+backspace": "killWordBefore",
  "alt+d": "killWordAfter",
  "alt+b": "wordLeft",
  "alt+f": "wordRight",
};

/**
 * What the full-screen UI runs on besides its context: the real terminal, the system's clock
 * and process. Unit tests pass fakes for any of them.
 */
export interface TuiDeps {
  /** The time, frame pacing and the once-a-second tick. */
  clock: Clock;
  /** Takes the terminal over (terminal.ts). */
  openTerminal(handlers: TerminalHandlers): Terminal;
  /** Ends the process at once: asked to leave a second time. */
  exit(code: number): void;
}

const SYSTEM: TuiDeps = {
  clock: systemClock,
  openTerminal,
  exit: (code) => Deno.exit(code),
};

/** The full-screen UI for an interactive terminal. */
export function tuiUi(context: UiContext, deps: Partial<TuiDeps> = {}): Ui {
  return new TuiController(context, { ...SYSTEM, ...deps });
}

class TuiController implements Ui {
  #context: UiContext;
  #deps: TuiDeps;
  #clock: Clock;
  #model: Model;
  #handlers?: UiHandlers;
  #terminal?: Terminal;
  #cache = new BlockCache();
  #writer: RowWriter;
  #screen?: Screen;
  /** Cancels the render scheduled, if one is. */
  #scheduled?: () => void;
  /** When the render scheduled is due. */
  #scheduledAt = 0;
  #lastPaint = -Infinity;
  #painted?: PaintRow[];
  #stopTicker?: () => void;
  #lastBell = 0;
  #askedToLeave = false;
  #stopped = false;
  #recent: { time: number; text: string; role: NoticeRole }[] = [];
  /** The view on screen when the client last followed it (see #follow). */
  #followed: string;
  /** Room views whose history was asked for by themselves (once each, see #backfill). */
  #backfilled = new Set<string>();
  /** Of those, the ones whose answer has not come yet (an empty one is not announced). */
  #backfilling = new Set<string>();

  constructor(context: UiContext, deps: TuiDeps) {
    this.#context = context;
    this.#deps = deps;
    this.#clock = deps.clock;
    // the view looked at first is the room what is typed goes to (--room)
    this.#model = initialModel(context.layout, context.state.room);
    this.#followed = this.#model.view;
    this.#writer = new RowWriter(context.color);
  }

  // ---- Ui -------------------------------------------------------------------------------------

  start(handlers: UiHandlers): void {
    this.#handlers = handlers;
    this.#terminal = this.#deps.openTerminal({
      onKey: (key) => this.#key(key),
      onResize: () => {
        this.#painted = undefined; // paint everything afresh
        this.#changed("now");
      },
      onEnd: () => this.#end(),
      onInterrupt: () => this.#end(),
    });
    this.#stopTicker = this.#clock.every(1000, () => this.#tick());
    this.#changed("now");
  }

  show(events: ClientEvent[]): void {
    const applied = applyEvents(this.#model, events, {
      users: () => [...this.#context.state.users.values()],
      quietHistory: this.#backfilling,
    });
    for (const event of events) {
      if (event.type === "results" && event.history) this.#backfilling.delete(event.room ?? "");
    }
    this.#model = applied.model;
    this.#follow();
    for (const event of events) {
      if (event.type === "error" || event.type === "goodbye") {
        this.#remember(event.message, "error");
      }
    }
    const now = this.#clock.now();
    if (applied.bell && this.#context.bell && now - this.#lastBell >= BELL_GAP_MS) {
      this.#lastBell = now;
      this.#terminal?.write("\x07");
    }
    this.#changed();
  }

  notice(text: string): void {
    this.#model = addNotice(this.#model, text, "notice");
    this.#remember(text, "notice");
    this.#changed();
  }

  help(topic?: HelpTopic): void {
    this.#model = addHelp(this.#model, topic);
    this.#changed();
  }

  localError(text: string): void {
    this.#model = addNotice(this.#model, text, "error");
    this.#remember(text, "error");
    this.#changed();
  }

  status(status: ConnectionStatus): void {
    const before = this.#model.seq;
    this.#model = applyStatus(this.#model, status);
    if (this.#model.seq > before && status.state === "reconnecting" && status.reason) {
      this.#remember(status.reason, "error");
    }
    this.#changed();
  }

  clear(): void {
    this.#model = clearItems(this.#model);
    this.#changed("now");
  }

  leaving(): void {
    // a second Ctrl+C from now on leaves at once (see #end)
    this.#askedToLeave = true;
    this.#model = { ...this.#model, leaving: true };
    this.#changed();
  }

  stop(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#stopped = true;
    this.#stopTicker?.();
    this.#scheduled?.();
    this.#terminal?.restore();
    if (!this.#askedToLeave) {
      // the client stops on its own (connection lost, refused): say why on the main screen
      const since = this.#clock.now() - LAST_WORDS_MS;
      for (const { text, role } of this.#recent.filter((r) => r.time >= since).slice(-5)) {
        console.error(`${role === "error" ? "!" : "*"} ${text}`);
      }
    }
    return Promise.resolve();
  }

  // ---- rendering ------------------------------------------------------------------------------

  #remember(text: string, role: NoticeRole): void {
    // printed on the main screen when the UI ends, one line each
    this.#recent.push({ time: this.#clock.now(), text: oneLine(text), role });
    if (this.#recent.length > 20) this.#recent.shift();
  }

  /**
   * Something changed: draw it. What arrives is drawn at most once per FRAME_MS (a burst is one
   * frame); a key is drawn "soon" — as soon as the keys read with it are handled, whenever the
   * last frame was; a resize "now".
   */
  #changed(when: "paced" | "soon" | "now" = "paced"): void {
    if (this.#stopped) return;
    if (when === "now") {
      this.#scheduled?.();
      this.#scheduled = undefined;
      this.#render();
      return;
    }
    const now = this.#clock.now();
    const wait = when === "soon" ? 0 : Math.max(0, this.#lastPaint + FRAME_MS - now);
    if (this.#scheduled) {
      if (this.#scheduledAt <= now + wait) return;
      this.#scheduled();
    }
    this.#scheduledAt = now + wait;
    this.#scheduled = this.#clock.after(wait, () => {
      this.#scheduled = undefined;
      this.#render();
    });
  }

  #size(): { cols: number; rows: number } {
    return { cols: this.#terminal?.cols ?? 80, rows: this.#terminal?.rows ?? 24 };
  }

  /** Composes the screen and paints what changed since the last frame. */
  #render(): void {
    if (this.#stopped || !this.#terminal?.open) return;
    this.#lastPaint = this.#clock.now();
    const { cols, rows } = this.#size();
    const screen = composeScreen(this.#model, {
      cols,
      rows,
      now: this.#lastPaint,
      server: this.#context.server,
      online: this.#context.state.online,
      cache: this.#cache,
    });
    // the layout may have found the view back at the bottom: follow from here on
    if (this.#model.anchor && !screen.anchor) {
      this.#model = { ...this.#model, anchor: undefined, unseen: 0 };
    }
    this.#screen = screen;
    const next = screen.lines.map((line) => this.#writer.row(line, cols));
    const text = paintFrame(this.#painted, next, rows, screen.cursor, cols, screen.pane);
    this.#painted = next;
    this.#terminal.write(text);
  }

  #tick(): void {
    const armed = this.#model.quitArmedAt;
    if (armed !== undefined && this.#clock.now() - armed > QUIT_CONFIRM_MS) {
      // the first Ctrl+C has lapsed: its hint goes with it
      this.#model = { ...this.#model, quitArmedAt: undefined, hint: undefined };
      this.#changed();
    }
    const m = this.#model;
    const counting = m.status.state === "reconnecting" ||
      m.items.some((i) => i.kind === "message" && i.message.expiresAt !== undefined);
    if (counting) this.#changed();
  }

  // ---- input ----------------------------------------------------------------------------------

  #inputContext(): InputContext {
    return {
      users: [...this.#context.state.users.keys()],
      commands: [
        ...COMMANDS.flatMap((c) => [c.name, ...c.aliases]),
        ...VIEW_COMMANDS.map((c) => c.name),
      ],
      maxLength: MAX_TEXT_LENGTH,
    };
  }

  #edit(action: InputAction): void {
    const result = inputReducer(this.#model.input, action, this.#inputContext());
    this.#model = {
      ...this.#model,
      input: result.state,
      hint: result.hint
        ? { text: result.hint, error: result.hint.startsWith("paste refused") }
        : undefined,
    };
    if (result.submit !== undefined) this.#submit(result.submit);
  }

  #submit(line: string): void {
    // sending takes the view back to the newest messages
    this.#model = { ...this.#model, anchor: undefined, unseen: 0 };
    if (this.#viewCommand(line)) return;
    // in a conversation, a message with no recipients goes to its people
    void this.#handlers?.onLine(addressed(this.#model.view, line));
  }

  /** What the client's state must follow: what is typed goes to the room looked at. */
  #follow(): void {
    const view = this.#model.view;
    if (isRoom(view) && this.#context.state.room !== view) this.#context.state.room = view;
    if (view !== this.#followed) {
      this.#followed = view;
      this.#backfill();
    }
  }

  /**
   * Switched to a room view that shows no messages yet: its history is asked for, once (a quiet
   * room shows what was said before). What is typed goes to that room already (#follow).
   */
  #backfill(): void {
    const view = this.#model.view;
    if (!isRoom(view) || this.#model.me === undefined || this.#backfilled.has(view)) return;
    if (this.#model.items.some((i) => i.kind === "message")) return;
    this.#backfilled.add(view);
    this.#backfilling.add(view);
    this.#handlers?.onHistory?.();
  }

  #look(key: string | undefined): void {
    if (key === undefined) return;
    this.#model = lookAt(this.#model, key);
    this.#follow();
  }

  /** Runs a command about views (VIEW_COMMANDS, /part in a conversation); false: not one. */
  #viewCommand(line: string): boolean {
    const match = /^\/(\w+)(?:\s+(.*))?$/.exec(line.trim());
    if (!match) return false;
    const [, word, rest = ""] = match;
    const arg = rest.trim();
    const conversation = !isRoom(this.#model.view);
    const error = (text: string) => {
      this.#model = addNotice(this.#model, text, "error");
      return true;
    };
    switch (word.toLowerCase()) {
      case "window": {
        const key = findView(this.#model.views, arg);
        if (key === undefined) return error(`no room or conversation ${arg || "?"} in the list`);
        this.#look(key);
        return true;
      }
      case "query": {
        const id = userIdFor([...this.#context.state.users.values()], arg.replace(/^@/, ""));
        if (id === undefined) {
          return error(`/query @id: no one online has the id or the name ${arg || "?"}`);
        }
        this.#look(conversationKey([id], this.#model.me));
        return true;
      }
      case "close":
      case "part":
      case "leave":
        if (!conversation || (word !== "close" && arg !== "")) {
          if (word === "close") return error("/close closes a conversation; /part leaves a room");
          return false;
        }
        this.#model = closeView(this.#model, this.#model.view);
        this.#follow();
        return true;
      case "topic":
      case "invite":
      case "private":
      case "history":
        return conversation
          ? error(`/${word} is about a room: look at one first (Alt+1, /window #room)`)
          : false;
    }
    return false;
  }

  #scroll(delta: number): void {
    const { cols, rows } = this.#size();
    const height = paneHeight(this.#model, cols, rows);
    const source = modelSource(this.#model, cols, this.#clock.now(), this.#cache);
    const anchor = scrollPane(source, height, this.#model.anchor, delta);
    this.#model = { ...this.#model, anchor, unseen: anchor ? this.#model.unseen : 0 };
  }

  #scrollPanel(delta: number): void {
    const panel = this.#model.panel;
    if (!panel) return;
    const { cols, rows } = this.#size();
    const max = panelScrollMax(panel, cols, rows, this.#model.me);
    const scroll = Math.max(0, Math.min(max, panel.scroll + delta));
    this.#model = { ...this.#model, panel: { ...panel, scroll } };
  }

  #page(direction: -1 | 1): void {
    const { cols, rows } = this.#size();
    if (this.#model.panel) {
      const h = panelHeight(this.#model.panel, cols, rows, this.#model.me);
      this.#scrollPanel(direction * Math.max(1, h - 2));
    } else {
      const h = paneHeight(this.#model, cols, rows);
      this.#scroll(direction * Math.max(1, h - 2));
    }
  }

  #end(): void {
    if (this.#model.leaving && this.#askedToLeave) {
      // asked twice: leave now, without waiting for the server
      this.#terminal?.restore();
      console.error("chat: left without waiting for the server's answers");
      return this.#deps.exit(130);
    }
    this.#askedToLeave = true;
    this.#model = { ...this.#model, leaving: true };
    this.#changed();
    this.#handlers?.onEnd();
  }

  #key(key: Key): void {
    if (this.#stopped) return;
    const hadHint = this.#model.hint;
    if (hadHint) this.#model = { ...this.#model, hint: undefined };
    // any other key ends a first Ctrl+C's wait for the second
    const ctrlC = key.kind === "key" && key.name === "ctrl+c";
    if (!ctrlC && this.#model.quitArmedAt !== undefined) {
      this.#model = { ...this.#model, quitArmedAt: undefined };
    }
    switch (key.kind) {
      case "text":
        this.#edit({ type: "insert", text: key.text });
        break;
      case "paste":
        this.#edit({ type: "paste", text: key.text });
        break;
      case "wheel": {
        const panel = this.#screen?.panel;
        if (panel && key.y >= panel.top && key.y < panel.top + panel.height) {
          this.#scrollPanel(key.delta * WHEEL_LINES);
        } else {
          this.#scroll(key.delta * WHEEL_LINES);
        }
        break;
      }
      case "key":
        this.#named(key);
        break;
    }
    this.#changed("soon");
  }

  #named(key: Extract<Key, { kind: "key" }>): void {
    const name = key.name;
    if ((name === "left" || name === "right") && (key.ctrl || key.alt)) {
      return this.#edit({ type: name === "left" ? "wordLeft" : "wordRight" });
    }
    const action = KEY_ACTIONS[name];
    if (action) return this.#edit({ type: action });
    const digit = /^alt\+(\d)$/.exec(name);
    if (digit) return this.#look(this.#model.views[(Number(digit[1]) + 9) % 10]?.key);
    switch (name) {
      case "ctrl+n":
        return this.#look(stepView(this.#model, 1));
      case "ctrl+p":
        return this.#look(stepView(this.#model, -1));
      case "alt+a":
        return this.#look(busiestView(this.#model));
      case "enter":
        return this.#edit({ type: "submit" });
      case "alt+enter":
        return this.#edit({ type: "newline" });
      case "tab":
        return this.#edit({ type: key.shift ? "completeBack" : "complete" });
      case "pageUp":
        return this.#page(-1);
      case "pageDown":
        return this.#page(1);
      case "ctrl+c": {
        if (this.#model.leaving) return this.#end();
        const pressed = pressCtrlC(this.#model, this.#clock.now());
        this.#model = pressed.model;
        return pressed.quit ? this.#end() : undefined;
      }
      case "ctrl+r":
        // the same as typing /reconnect, without touching the line being typed
        return void this.#handlers?.onLine("/reconnect");
      case "f3": {
        const layout = this.#model.layout === "bubbles" ? "lines" : "bubbles";
        // the anchor's line numbers belong to the old layout: follow the newest again
        this.#model = { ...this.#model, layout, anchor: undefined, unseen: 0 };
        return;
      }
      case "ctrl+d":
        if (this.#model.input.text === "") return this.#end();
        return this.#edit({ type: "delete" });
      case "ctrl+l":
        this.#painted = undefined;
        this.#model = { ...this.#model, anchor: undefined, unseen: 0 };
        return;
      case "f2":
        if (this.#model.panel?.kind === "who") {
          this.#model = { ...this.#model, panel: undefined };
        } else {
          this.#model = {
            ...this.#model,
            panel: {
              kind: "who",
              users: [...this.#context.state.users.values()],
              online: this.#context.state.online,
              scroll: 0,
            },
          };
        }
        return;
      case "escape":
        if (this.#model.panel) this.#model = { ...this.#model, panel: undefined };
        else if (this.#model.anchor) this.#model = { ...this.#model, anchor: undefined, unseen: 0 };
        return;
    }
  }
}
