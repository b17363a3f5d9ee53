/**
 * The interactive client until the full-screen UI lands: a readline prompt, with each event
 * printed above it. Ctrl+C and Ctrl+D leave; the terminal is left as it was found.
 */
import process from "node:process";
import { clearLine, createInterface, cursorTo } from "node:readline";
import { plainLines } from "./plain.ts";
import type { Ui, UiContext, UiHandlers } from "./ui.ts";

export function promptUi(_context: UiContext): Ui {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  rl.setPrompt("> ");
  const print = (lines: string[]) => {
    if (lines.length === 0) return;
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    process.stdout.write(lines.join("\n") + "\n");
    rl.prompt(true);
  };
  let ended = false;
  return {
    start(handlers: UiHandlers) {
      const end = () => {
        if (ended) return;
        ended = true;
        handlers.onEnd();
      };
      rl.on("line", (line) => {
        handlers.onLine(line);
        if (!ended) rl.prompt();
      });
      rl.on("close", end); // Ctrl+D
      rl.on("SIGINT", end); // Ctrl+C
      rl.prompt();
    },
    show(events) {
      print(events.flatMap((event) => plainLines(event, false)));
    },
    notice(text) {
      print(text.split("\n").map((l) => `* ${l}`));
    },
    localError(text) {
      print([`! ${text}`]);
    },
    status(status) {
      if (status.state === "reconnecting") {
        const seconds = Math.max(0, Math.round((status.retryAt - Date.now()) / 1000));
        print([`* connection lost; reconnecting in ${seconds} s`]);
      } else print([`* ${status.state}`]);
    },
    stop() {
      ended = true;
      clearLine(process.stdout, 0);
      cursorTo(process.stdout, 0);
      rl.close();
      return Promise.resolve();
    },
  };
}
