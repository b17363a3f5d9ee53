/**
 * Colours and attributes by role: the one place that decides how things look. Without colour
 * (`--no-color`, NO_COLOR: the same, as no-color.org says) only attributes that are not colours
 * remain (bold, underline, inverse).
 */
import type { Role } from "../bubble.ts";

/** The subset of Ink's `<Text>` props the UI uses. */
export interface TextStyle {
  color?: string;
  backgroundColor?: string;
  bold?: boolean;
  italic?: boolean;
  dimColor?: boolean;
  inverse?: boolean;
  underline?: boolean;
}

const COLOURED: Record<Role, TextStyle> = {
  text: {},
  border: { color: "cyan" },
  mine: { color: "green" },
  quote: { color: "gray", italic: true },
  sender: { color: "cyan", bold: true },
  meta: { color: "gray" },
  direct: { color: "magenta" },
  ref: { color: "yellow" },
  temp: { color: "red" },
  mention: { color: "yellow", bold: true },
  notice: { color: "gray" },
  presence: { color: "gray" },
  error: { color: "red" },
  marker: { color: "yellow" },
  panel: {},
  heading: { color: "black", backgroundColor: "blue" },
  status: { inverse: true },
  statusGood: { inverse: true, color: "green" },
  statusBad: { inverse: true, color: "red", bold: true },
  input: {},
  hint: { color: "gray" },
  link: { color: "blue", underline: true },
  // the room list: the one looked at stands out of the bar, news in bold, news for me in colour
  hotCurrent: { bold: true },
  hotActive: { inverse: true, bold: true },
  hotHighlight: { inverse: true, bold: true, color: "magenta" },
  // names: basic colours that read on dark and light backgrounds (no yellow, white or black)
  nick0: { color: "cyan", bold: true },
  nick1: { color: "magenta", bold: true },
  nick2: { color: "green", bold: true },
  nick3: { color: "blueBright", bold: true },
  nick4: { color: "red", bold: true },
  nick5: { color: "magentaBright", bold: true },
};

const PLAIN: Partial<Record<Role, TextStyle>> = {
  sender: { bold: true },
  mention: { bold: true, underline: true },
  error: { bold: true },
  marker: { bold: true },
  heading: { inverse: true },
  status: { inverse: true },
  statusGood: { inverse: true },
  statusBad: { inverse: true, bold: true },
  link: { underline: true },
  hotCurrent: { bold: true },
  hotActive: { inverse: true, bold: true },
  hotHighlight: { inverse: true, bold: true, underline: true },
  nick0: { bold: true },
  nick1: { bold: true },
  nick2: { bold: true },
  nick3: { bold: true },
  nick4: { bold: true },
  nick5: { bold: true },
};

/** How a role looks, with or without colour. */
export function styleFor(role: Role, color: boolean): TextStyle {
  return color ? COLOURED[role] : PLAIN[role] ?? {};
}
