/**
 * The line modes' UI: input lines from stdin, one line (plain) or one JSON object (NDJSON) per
 * event on stdout, written in order through one writer.
 */
import { helpText } from "../client/commands.ts";
import { jsonEvent, jsonStatus, plainLines, plainStatus } from "./plain.ts";
import type { Ui, UiContext, UiHandlers } from "./ui.ts";
import { oneLine, safeJson, untab } from "./sanitize.ts";

const encoder = new TextEncoder();
/** Home, erase the screen, erase the scrollback. */
const CLEAR_SCREEN = "\x1b[H\x1b[2J\x1b[3J";

export function lineUi(mode: "plain" | "json", context: UiContext): Ui {
  const users = () => [...context.state.users.values()];
  const out = Deno.stdout.writable.getWriter();
  let writing: Promise<void> = Promise.resolve();
  let broken = false;
  const write = (text: string) => {
    if (broken || text === "") return;
    // a closed pipe (`| head`) must not crash the client
    writing = out.write(encoder.encode(text)).catch(() => {
      broken = true;
    });
  };
  const emit = (lines: string[], objects: (Record<string, unknown> | null)[]) => {
    if (mode === "json") {
      write(objects.filter((o) => o !== null).map((o) => safeJson(o) + "\n").join(""));
    } else {
      write(lines.map((l) => l + "\n").join(""));
    }
  };
  let reading: Promise<void> | undefined;
  return {
    start(handlers: UiHandlers) {
      reading = (async () => {
        let rest = "";
        try {
          for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
            const parts = (rest + chunk).split("\n");
            rest = parts.pop()!;
            // one at a time: a line that must wait (the outbox is full) holds back the rest
            for (const line of parts) await handlers.onLine(line.replace(/\r$/, ""));
          }
        } catch {
          // stdin closed under us: same as its end
        }
        if (rest !== "") await handlers.onLine(rest);
        handlers.onEnd();
      })();
    },
    show(events) {
      // the room typed in, as it is once these events are applied
      const here = context.state.room;
      emit(events.flatMap((e) => plainLines(e, here)), events.map((e) => jsonEvent(e, users)));
    },
    notice(text) {
      emit(untab(text).split("\n").map((l) => `* ${l}`), [{ type: "notice", message: text }]);
    },
    help(topic) {
      this.notice(helpText(Infinity, topic ?? "everyday"));
    },
    localError(text) {
      emit([`! ${oneLine(text)}`], [{ type: "error", code: "usage", message: text }]);
    },
    status(status) {
      // an attempt starting is noise in a log: its outcome (connected, or the next retry) is said
      if (status.state === "connecting") return;
      emit([plainStatus(status)], [jsonStatus(status)]);
    },
    leaving() {
      // the line modes say nothing until the last words
    },
    clear() {
      // a terminal's screen is cleared (as `clear` does); a log or a pipe is kept whole
      if (mode === "plain" && Deno.stdout.isTerminal()) write(CLEAR_SCREEN);
      else this.notice("/clear clears a terminal; this output is not one, so nothing was cleared");
    },
    async stop() {
      await writing;
      void reading;
    },
  };
}
