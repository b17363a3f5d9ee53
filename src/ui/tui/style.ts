/**
 * Colours and attributes by role: the one place that decides how things look, as a style and as
 * the SGR sequence that turns it on (the 16 basic colours, which every terminal has). Without
 * colour (`--no-color`, NO_COLOR: the same, as no-color.org says) only attributes that are not
 * colours remain (bold, underline, inverse).
 */
import type { Role } from "../bubble.ts";

/** What a role looks like. */
export interface TextStyle {
  color?: Colour;
  backgroundColor?: Colour;
  bold?: boolean;
  italic?: boolean;
  dimColor?: boolean;
  inverse?: boolean;
  underline?: boolean;
}

/** The 16 basic colours, by chalk's names (gray is bright black). */
type Colour =
  | "black"
  | "red"
  | "green"
  | "yellow"
  | "blue"
  | "magenta"
  | "cyan"
  | "white"
  | "gray"
  | "redBright"
  | "greenBright"
  | "yellowBright"
  | "blueBright"
  | "magentaBright"
  | "cyanBright"
  | "whiteBright";

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

/** SGR foreground codes; a background is the code + 10. */
const FOREGROUND: Record<Colour, number> = {
  black: 30,
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  white: 37,
  gray: 90,
  redBright: 91,
  greenBright: 92,
  yellowBright: 93,
  blueBright: 94,
  magentaBright: 95,
  cyanBright: 96,
  whiteBright: 97,
};

/** The SGR parameters of a style, in a fixed order ("" for none). */
export function sgrParameters(style: TextStyle): string {
  const codes: number[] = [];
  if (style.bold) codes.push(1);
  if (style.dimColor) codes.push(2);
  if (style.italic) codes.push(3);
  if (style.underline) codes.push(4);
  if (style.inverse) codes.push(7);
  if (style.color) codes.push(FOREGROUND[style.color]);
  if (style.backgroundColor) codes.push(FOREGROUND[style.backgroundColor] + 10);
  return codes.join(";");
}

const SGR = {
  true: new Map<Role, string>(),
  false: new Map<Role, string>(),
};

/** The SGR parameters that turn on how a role looks (memoised: called for every segment drawn). */
export function sgrFor(role: Role, color: boolean): string {
  const known = SGR[`${color}`];
  let codes = known.get(role);
  if (codes === undefined) known.set(role, codes = sgrParameters(styleFor(role, color)));
  return codes;
}
