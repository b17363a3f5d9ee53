/**
 * The client's memory of who it is on each server: `tokens.json` in the user's state dir
 * (mode 0600), keyed by server (its CA fingerprint, or host:port) and name. The token reclaims the same id on the next join.
 * Names are keys in one JSON file, never parts of a path.
 */
import { join } from "node:path";
import {
  ensureDir,
  PRIVATE_DIR_MODE,
  PRIVATE_MODE,
  readOptional,
  writeFileAtomic,
} from "../tls/files.ts";

export const TOKENS_FILE_NAME = "tokens.json";

export interface Saved {
  id: string;
  token: string;
}

type Tokens = Record<string, Record<string, Saved>>;

async function load(stateDir: string): Promise<Tokens> {
  const text = await readOptional(join(stateDir, TOKENS_FILE_NAME));
  if (text === null) return {};
  try {
    const parsed = JSON.parse(text);
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {}; // a damaged file costs the ids, not the chat
  }
}

/** The saved identity for `name` on `server` ("host:port"), if any. */
export async function loadToken(
  stateDir: string,
  server: string,
  name: string,
): Promise<Saved | undefined> {
  const saved = (await load(stateDir))[server]?.[name];
  return saved && typeof saved.token === "string" && typeof saved.id === "string"
    ? saved
    : undefined;
}

/** Remembers the identity the server gave `name` on `server`. */
export async function saveToken(
  stateDir: string,
  server: string,
  name: string,
  saved: Saved,
): Promise<void> {
  await ensureDir(stateDir, PRIVATE_DIR_MODE);
  const tokens = await load(stateDir);
  const forServer = Object.hasOwn(tokens, server) ? tokens[server] : (tokens[server] = {});
  forServer[name] = saved;
  await writeFileAtomic(
    join(stateDir, TOKENS_FILE_NAME),
    JSON.stringify(tokens, null, 2) + "\n",
    PRIVATE_MODE,
  );
}
