/**
 * The people this client ignores, by id (ignoring case): their messages, mentions and bells are
 * not shown (view.ts applies it). Kept per server in `ignores.json` in the client's state dir
 * (mode 0600, written atomically, beside tokens.json), so it holds across runs; bounded.
 */
import { join } from "node:path";
import { ID_PATTERN } from "../protocol/rules.ts";
import { readJsonObject, writePrivateJson } from "../tls/files.ts";

export const IGNORES_FILE_NAME = "ignores.json";
/** People ignored per server, at most: past it, /ignore asks to /unignore someone first. */
export const MAX_IGNORED = 500;

/** The list itself: pure, no I/O. Ids are kept as typed, matched ignoring case. */
export class IgnoreList {
  /** By lower-cased id, the id as typed, in the order they were added. */
  readonly #ids = new Map<string, string>();

  constructor(ids: readonly string[] = []) {
    for (const id of ids) if (this.add(id) === "full") break;
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Whether `id` is ignored (ignoring case). */
  has(id: string): boolean {
    return this.#ids.has(id.toLowerCase());
  }

  /** Ignores `id` (an id: `name_1234`); what came of it. */
  add(id: string): "added" | "already" | "full" | "not_an_id" {
    if (!ID_PATTERN.test(id)) return "not_an_id";
    if (this.has(id)) return "already";
    if (this.#ids.size >= MAX_IGNORED) return "full";
    this.#ids.set(id.toLowerCase(), id);
    return "added";
  }

  /** Stops ignoring `id`; false when it was not ignored. */
  remove(id: string): boolean {
    return this.#ids.delete(id.toLowerCase());
  }

  /** The ids ignored, oldest first. */
  list(): string[] {
    return [...this.#ids.values()];
  }
}

type IgnoreFile = Record<string, unknown>;

/** The ids ignored on `server` (none when there is no file); a damaged file throws. */
export async function loadIgnores(stateDir: string, server: string): Promise<string[]> {
  const all = await readJsonObject(join(stateDir, IGNORES_FILE_NAME)) as IgnoreFile;
  const kept = Object.hasOwn(all, server) ? all[server] : undefined;
  return Array.isArray(kept)
    ? kept.filter((id): id is string => typeof id === "string" && ID_PATTERN.test(id))
      .slice(0, MAX_IGNORED)
    : [];
}

/** Keeps exactly `ids` for `server` (none: its entry goes); other servers' lists stay. */
export async function saveIgnores(
  stateDir: string,
  server: string,
  ids: readonly string[],
): Promise<void> {
  const path = join(stateDir, IGNORES_FILE_NAME);
  const all = await readJsonObject(path).catch(() => ({})) as IgnoreFile;
  if (ids.length > 0) all[server] = ids.slice(0, MAX_IGNORED);
  else delete all[server];
  await writePrivateJson(path, all);
}

/** The list and where it is kept, as the commands use it. */
export interface Ignores {
  readonly list: IgnoreList;
  /** Writes the list to disk. */
  save(): Promise<void>;
}
