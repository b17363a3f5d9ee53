/**
 * A colour per person: an id hashes to one of a few roles (`nick0`…), the same on every screen
 * and every run, so a person is recognised by colour as well as by name. The roles' colours are
 * chosen in tui/style.ts, from the basic ones that read on dark and light backgrounds alike;
 * without colour (NO_COLOR, --no-color) they are only bold.
 */

/** The roles a name may take, one per colour of the palette. */
export const NICK_ROLES = ["nick0", "nick1", "nick2", "nick3", "nick4", "nick5"] as const;
export type NickRole = typeof NICK_ROLES[number];

/** FNV-1a (32 bits) of a text's UTF-16 code units: small, fast and stable across runs. */
export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * MurmurHash3's finaliser: FNV-1a's low bits follow the parity of the text's characters (ids
 * alike but for their digits would share a colour), so they are mixed before choosing.
 */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The role, hence the colour, of a person's name (ids ignore case, as the server's do). */
export function nickRole(id: string): NickRole {
  return NICK_ROLES[mix(hash(id.toLowerCase())) % NICK_ROLES.length];
}
