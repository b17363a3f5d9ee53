/** Picks the user interface for a mode: the full-screen one on a terminal, else a line mode. */
import { lineUi } from "./lines.ts";
import { safeUi } from "./safe.ts";
import { tuiUi } from "./tui/tui.ts";
import type { Ui, UiContext } from "./ui.ts";

export function chooseUi(mode: "interactive" | "plain" | "json", context: UiContext): Ui {
  // JSON carries every text exactly, its controls escaped where each line is written
  if (mode === "json") return lineUi(mode, context);
  // what the text UIs print is made safe here, once
  return safeUi(mode === "interactive" ? tuiUi(context) : lineUi(mode, context));
}
