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

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** Whether two times fall on the same day, in local time. */
export function sameDay(a: number, b: number): boolean {
  const [x, y] = [new Date(a), new Date(b)];
  return x.getDate() === y.getDate() && x.getMonth() === y.getMonth() &&
    x.getFullYear() === y.getFullYear();
}

/** The day of a time, in words: "Thursday 3 December 2026" (local time). */
export function dayWords(time: number): string {
  const d = new Date(time);
  return `${DAYS[d.getDay()]} ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}`;
}

/**
 * A message's time as shown beside it: HH:MM:SS (HH:MM with `short`) today; on another day with
 * the date before it ("3 Dec 14:03:05"), and the year too when it is not this year's.
 */
export function stamp(time: number, now: number, short = false): string {
  const hours = short ? clock(time).slice(0, 5) : clock(time);
  if (sameDay(time, now)) return hours;
  const d = new Date(time);
  const year = d.getFullYear() === new Date(now).getFullYear() ? "" : ` ${d.getFullYear()}`;
  return `${d.getDate()} ${MONTHS[d.getMonth()].slice(0, 3)}${year} ${hours}`;
}
