/**
 * The server's log: one line per event, dated (RFC 3339, UTC), with a level, as text for people
 * or JSON for journald/Loki. It carries what an operator needs and nothing private: never a
 * message's text, a token or a password.
 *
 * Events a client can cause by the thousand a second (refused connections, rate limits, bad
 * frames) are counted instead, and summed up at most once per SUMMARY_INTERVAL_MS, so a flood
 * of them cannot fill the disk with the log.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];
export const DEFAULT_LOG_LEVEL: LogLevel = "info";
export const DEFAULT_LOG_FORMAT: LogFormat = "text";

/** How often counted events are summed up in one line (when there were any). */
export const SUMMARY_INTERVAL_MS = 10_000;
/** Addresses named in a summary line of one reason: the busiest. */
export const SUMMARY_ADDRESSES = 3;

export type LogFields = Record<string, string | number | boolean | undefined>;

/** What the server's parts log through. */
export interface Log {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Counts an event of `reason` from `address`; summed up later by `summarize`. */
  count(reason: string, address?: string): void;
  /** Logs what was counted since the last call (the server calls it now and then). */
  summarize?(): void;
}

/** A log that drops everything (tests of other things, tools). */
export const silentLog: Log = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  count() {},
};

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where a finished line goes (stdout by default). */
  write?: (line: string) => void;
  now?: () => number;
}

export class Logger implements Log {
  readonly #level: number;
  readonly #format: LogFormat;
  readonly #write: (line: string) => void;
  readonly #now: () => number;
  /** Counted events since the last summary: reason → address → count. */
  #counted = new Map<string, Map<string, number>>();

  constructor(options: LoggerOptions = {}) {
    this.#level = LOG_LEVELS.indexOf(options.level ?? DEFAULT_LOG_LEVEL);
    this.#format = options.format ?? DEFAULT_LOG_FORMAT;
    this.#write = options.write ?? ((line) => console.log(line));
    this.#now = options.now ?? Date.now;
  }

  debug(message: string, fields?: LogFields): void {
    this.#log("debug", message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.#log("info", message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.#log("warn", message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.#log("error", message, fields);
  }

  count(reason: string, address = "?"): void {
    let byAddress = this.#counted.get(reason);
    if (!byAddress) this.#counted.set(reason, byAddress = new Map());
    byAddress.set(address, (byAddress.get(address) ?? 0) + 1);
  }

  /**
   * One warn line per reason counted since the last call: how many, and the busiest addresses.
   * The server calls it every SUMMARY_INTERVAL_MS.
   */
  summarize(): void {
    const counted = this.#counted;
    if (counted.size === 0) return;
    this.#counted = new Map();
    for (const [reason, byAddress] of counted) {
      let total = 0;
      for (const n of byAddress.values()) total += n;
      const busiest = [...byAddress].sort((a, b) => b[1] - a[1]).slice(0, SUMMARY_ADDRESSES)
        .map(([address, n]) => `${address} (${n})`).join(", ");
      this.#log("warn", "refused", {
        reason,
        count: total,
        addresses: byAddress.size,
        busiest,
      });
    }
  }

  #log(level: LogLevel, message: string, fields?: LogFields): void {
    if (LOG_LEVELS.indexOf(level) < this.#level) return;
    this.#write(formatLine(this.#format, this.#now(), level, message, fields));
  }
}

/** A field value written as it is: no spaces, quotes, `=`, backslashes or controls. */
// deno-lint-ignore no-control-regex
const BARE_VALUE = /^[^\s"=\\\u0000-\u001f\u007f-\u009f]+$/;

/** One log line: `TIME LEVEL message key=value …` or a JSON object. */
export function formatLine(
  format: LogFormat,
  time: number,
  level: LogLevel,
  message: string,
  fields: LogFields = {},
): string {
  const when = new Date(time).toISOString();
  if (format === "json") {
    const entry: Record<string, unknown> = { time: when, level, msg: message };
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined && !(key in entry)) entry[key] = value;
    }
    return JSON.stringify(entry);
  }
  let line = `${when} ${level.toUpperCase().padEnd(5)} ${message}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = String(value);
    // a value with spaces, quotes or controls is quoted (JSON rules), so a line parses back
    line += ` ${key}=${BARE_VALUE.test(text) ? text : JSON.stringify(text)}`;
  }
  return line;
}
