/** Picks the user interface for a mode: the full-screen one on a terminal, else a line mode. */
import { lineUi } from "./lines.ts";
import { tuiUi } from "./tui/tui.ts";
import type { Ui, UiContext } from "./ui.ts";

export function chooseUi(mode: "interactive" | "plain" | "json", context: UiContext): Ui {
  if (mode === "interactive") return tuiUi(context);
  return lineUi(mode, context);
}
