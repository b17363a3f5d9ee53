/**
 * Which join, part and quit lines to show, as weechat's smart filter does: only those of the room
 * looked at (where what is typed goes); and where many are online (over LARGE_ROOM), only those
 * of people who spoke in the last SPOKE_WITHIN_MS. The others are counted and said now and then
 * as one line ("3 joined, 5 left #general in the last minute"). Pure: the clock is handed in, and
 * the caller asks for the summaries (every SUMMARY_CHECK_MS, say).
 */

/** Over this many online (in a room, or on the server), joins and leaves are filtered. */
export const LARGE_ROOM = 50;
/** Someone who spoke this recently has their joins and leaves shown even in a large room. */
export const SPOKE_WITHIN_MS = 10 * 60_000;
/** Hidden joins and leaves are summed up at most this often (the summary's "last minute"). */
export const SUMMARY_EVERY_MS = 60_000;
/** How often a UI asks for summaries. */
export const SUMMARY_CHECK_MS = 5_000;
/** Speakers remembered at most (the least recent go first): memory stays bounded. */
export const MAX_SPEAKERS = 10_000;

/** Where a join or leave happened: a room, or (undefined) the server: came online or left. */
export interface Change {
  user: string;
  joined: boolean;
  room?: string;
  /** How many are online there now. */
  online: number;
}

/** Hidden changes of one place since its window began. */
interface Hidden {
  joined: number;
  left: number;
  since: number;
}

/** The key for the server itself (online, offline): no room's name is empty. */
const SERVER = "";

export class SmartFilter {
  readonly #now: () => number;
  /** When each user last spoke, by `room\nuser` and by `\nuser` (anywhere), least recent first. */
  readonly #spoke = new Map<string, number>();
  readonly #hidden = new Map<string, Hidden>();

  constructor(now: () => number) {
    this.#now = now;
  }

  /** `user` said something at `time` (in `room`; undefined: a direct message). */
  spoke(user: string, room: string | undefined, time: number): void {
    const at = Math.min(time, this.#now());
    if (room !== undefined) this.#remember(`${room}\n${user}`, at);
    this.#remember(`\n${user}`, at);
  }

  /**
   * Whether to show a join or leave, `here` being the room looked at. One of another room is not
   * shown (nor counted); a hidden one is counted for the next summary.
   */
  show(change: Change, here: string): boolean {
    if (change.room !== undefined && change.room !== here) return false;
    if (change.online <= LARGE_ROOM) return true;
    const key = change.room === undefined ? `\n${change.user}` : `${change.room}\n${change.user}`;
    const spoke = this.#spoke.get(key);
    const now = this.#now();
    if (spoke !== undefined && now - spoke <= SPOKE_WITHIN_MS) return true;
    const place = change.room ?? SERVER;
    let hidden = this.#hidden.get(place);
    if (!hidden) this.#hidden.set(place, hidden = { joined: 0, left: 0, since: now });
    if (change.joined) hidden.joined++;
    else hidden.left++;
    return false;
  }

  /**
   * The summaries due now, one line per place whose first hidden change is SUMMARY_EVERY_MS old;
   * speakers not heard from for SPOKE_WITHIN_MS are forgotten.
   */
  summaries(): string[] {
    const now = this.#now();
    const lines: string[] = [];
    for (const [place, hidden] of this.#hidden) {
      if (now - hidden.since < SUMMARY_EVERY_MS) continue;
      this.#hidden.delete(place);
      lines.push(summaryLine(place === SERVER ? undefined : place, hidden, now));
    }
    for (const [key, time] of this.#spoke) {
      if (now - time <= SPOKE_WITHIN_MS) break; // least recent first: the rest are newer
      this.#spoke.delete(key);
    }
    return lines;
  }

  #remember(key: string, time: number): void {
    const before = this.#spoke.get(key);
    if (before !== undefined && before >= time) return;
    this.#spoke.delete(key); // to the end: the Map stays least recent first
    this.#spoke.set(key, time);
    while (this.#spoke.size > MAX_SPEAKERS) this.#spoke.delete(this.#spoke.keys().next().value!);
  }
}

/** "3 joined, 5 left #general in the last minute"; for the server, came online and left. */
function summaryLine(room: string | undefined, hidden: Hidden, now: number): string {
  const parts: string[] = [];
  if (room === undefined) {
    if (hidden.joined > 0) parts.push(`${hidden.joined} came online`);
    if (hidden.left > 0) parts.push(`${hidden.left} left`);
  } else {
    if (hidden.joined > 0) parts.push(`${hidden.joined} joined`);
    if (hidden.left > 0) parts.push(`${hidden.left} left`);
  }
  const minutes = Math.max(1, Math.round((now - hidden.since) / 60_000));
  const span = minutes === 1 ? "the last minute" : `the last ${minutes} minutes`;
  return `${parts.join(", ")}${room !== undefined ? ` ${room}` : ""} in ${span}`;
}
