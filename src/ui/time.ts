/**
 * Times as the UIs write them, in local time. Apart from plain.ts, so the full-screen UI's
 * bubbles and panels do not load the line modes (and their table library) for a clock.
 */

/** HH:MM:SS in local time. */
export function clock(time: number): string {
  const d = new Date(time);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0"))
    .join(":");
}

/** YYYY-MM-DD HH:MM:SS in local time; "unknown" for a time no date can hold. */
export function dateTime(time: number): string {
  const d = new Date(time);
  if (Number.isNaN(d.getTime())) return "unknown";
  const date = [d.getFullYear(), d.getMonth() + 1, d.getDate()]
    .map((n, i) => String(n).padStart(i === 0 ? 4 : 2, "0")).join("-");
  return `${date} ${clock(time)}`;
}
