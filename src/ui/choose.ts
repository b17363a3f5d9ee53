/** Picks the user interface for a mode. */
import { lineUi } from "./lines.ts";
import { promptUi } from "./prompt.ts";
import type { Ui, UiContext } from "./ui.ts";

export function chooseUi(mode: "interactive" | "plain" | "json", context: UiContext): Ui {
  if (mode === "interactive") return promptUi(context);
  return lineUi(mode, context);
}
