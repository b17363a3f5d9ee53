/**
 * Messages typed but not yet answered by the server, kept on disk so that quitting (or losing
 * the process) while disconnected loses nothing: `outbox.json` in the client's state dir (mode
 * 0600, written atomically, beside tokens.json), keyed by server and id. The next join as that id
 * sends them once, with their own refs and `retry: true`: the server acknowledges one it stored
 * already instead of storing it twice (it remembers refs for 24 hours).
 */
import { join } from "node:path";
import type { SendFrame } from "./client.ts";
import { describeIoError, readJsonObject, writePrivateJson } from "../tls/files.ts";

export const OUTBOX_FILE_NAME = "outbox.json";

/**
 * Messages kept per server and id, at most: a person offline for an afternoon types fewer; a
 * script piping a log into a dead server should not fill the disk. Past it, a new message typed
 * while disconnected is refused, with a word, rather than an old one dropped.
 */
export const MAX_OUTBOX_MESSAGES = 200;

type Outboxes = Record<string, Record<string, SendFrame[]>>;

/** A damaged file throws: reported by the caller, not overwritten. */
const load = (stateDir: string) =>
  readJsonObject(join(stateDir, OUTBOX_FILE_NAME)) as Promise<Outboxes>;

/** A kept frame as it may be sent again: a send with a ref and text, nothing else trusted. */
function isSend(value: unknown): value is SendFrame {
  const f = value as Partial<SendFrame> | null;
  return !!f && f.type === "send" && typeof f.ref === "string" && typeof f.text === "string" &&
    (f.to === undefined || (Array.isArray(f.to) && f.to.every((t) => typeof t === "string"))) &&
    (f.replyTo === undefined || typeof f.replyTo === "string") &&
    (f.ttl === undefined || typeof f.ttl === "number");
}

/** The messages kept for `id` on `server`, oldest first (none when there is no file). */
export async function loadOutbox(
  stateDir: string,
  server: string,
  id: string,
): Promise<SendFrame[]> {
  const outboxes = await load(stateDir);
  const kept = Object.hasOwn(outboxes, server) ? outboxes[server]?.[id] : undefined;
  return Array.isArray(kept) ? kept.filter(isSend).slice(0, MAX_OUTBOX_MESSAGES) : [];
}

/** Keeps exactly `frames` for `id` on `server` (none: the entry goes); other entries stay. */
export async function saveOutbox(
  stateDir: string,
  server: string,
  id: string,
  frames: SendFrame[],
): Promise<void> {
  const outboxes = await load(stateDir).catch(() => ({} as Outboxes));
  const forServer = Object.hasOwn(outboxes, server) ? outboxes[server] : (outboxes[server] = {});
  // only what the server needs again: a retry flag is added when sent
  const kept = frames.slice(0, MAX_OUTBOX_MESSAGES).map(({ retry: _, ...frame }) => frame);
  if (kept.length > 0) forServer[id] = kept;
  else delete forServer[id];
  if (Object.keys(forServer).length === 0) delete outboxes[server];
  await writePrivateJson(join(stateDir, OUTBOX_FILE_NAME), outboxes);
}

/**
 * Serializes saves: one write at a time, and of several asked meanwhile only the newest runs.
 * `flush` waits for the last one; a failure is reported once per run (then each save retries).
 */
export function outboxWriter(
  save: (frames: SendFrame[]) => Promise<void>,
  report: (message: string) => void,
): { save(frames: SendFrame[]): void; flush(): Promise<boolean> } {
  let latest: SendFrame[] | undefined;
  let running: Promise<void> | undefined;
  let failed = false;
  let reported = false;
  const run = async () => {
    while (latest !== undefined) {
      const frames = latest;
      latest = undefined;
      try {
        await save(frames);
        failed = false;
      } catch (error) {
        failed = true;
        if (!reported) {
          reported = true;
          report(
            `could not keep unsent messages on disk (${
              describeIoError(error)
            }); they are lost if you quit before they are sent`,
          );
        }
      }
    }
    running = undefined;
  };
  return {
    save(frames) {
      latest = [...frames];
      running ??= run();
    },
    async flush() {
      while (running) await running;
      return !failed;
    },
  };
}
