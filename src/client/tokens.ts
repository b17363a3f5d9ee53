/**
 * The client's memory of who it is on each server: `tokens.json` in the user's state dir
 * (mode 0600), keyed by server (its CA fingerprint, or host:port) and name. The token reclaims
 * the same id on the next join; the server hands out a new one at each welcome, which replaces
 * it here. Names are keys in one JSON file, never parts of a path.
 */
import { join } from "node:path";
import { describeIoError, readJsonObject, writePrivateJson } from "../tls/files.ts";

export const TOKENS_FILE_NAME = "tokens.json";

export interface Saved {
  id: string;
  token: string;
}

type Tokens = Record<string, Record<string, Saved>>;

async function load(stateDir: string): Promise<Tokens> {
  try {
    return await readJsonObject(join(stateDir, TOKENS_FILE_NAME)) as Tokens;
  } catch (error) {
    if (error instanceof SyntaxError) return {}; // a damaged file costs the ids, not the chat
    throw error;
  }
}

/**
 * The saved identity for `name` on `server` ("host:port"), if any. A file that cannot be read
 * costs the saved id, not the chat (saving will then fail, and say so).
 */
export async function loadToken(
  stateDir: string,
  server: string,
  name: string,
): Promise<Saved | undefined> {
  const saved = (await load(stateDir).catch(() => ({} as Tokens)))[server]?.[name];
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
  const tokens = await load(stateDir);
  const forServer = Object.hasOwn(tokens, server) ? tokens[server] : (tokens[server] = {});
  forServer[name] = saved;
  await writePrivateJson(join(stateDir, TOKENS_FILE_NAME), tokens);
}

/**
 * Forgets the identity of `name` on `server` if its token is still `token` (the one the server
 * revoked): a newer one saved meanwhile by another run on this account stays.
 */
export async function forgetToken(
  stateDir: string,
  server: string,
  name: string,
  token: string,
): Promise<void> {
  const tokens = await load(stateDir);
  const forServer = Object.hasOwn(tokens, server) ? tokens[server] : undefined;
  if (!forServer || !Object.hasOwn(forServer, name) || forServer[name]?.token !== token) return;
  delete forServer[name];
  if (Object.keys(forServer).length === 0) delete tokens[server];
  await writePrivateJson(join(stateDir, TOKENS_FILE_NAME), tokens);
}

/**
 * Wraps a save so that a failure is reported once per run, not at every reconnect: tokens now
 * change at each welcome, so after a failed save the next run will not get this id back.
 */
export function reportingSaves(
  save: (saved: Saved) => Promise<void>,
  report: (message: string) => void,
): (saved: Saved) => Promise<void> {
  let reported = false;
  return async (saved) => {
    try {
      await save(saved);
    } catch (error) {
      if (reported) return;
      reported = true;
      report(
        `could not save your id token (${
          describeIoError(error)
        }); the next chat join will get a new id, not ${saved.id}`,
      );
    }
  };
}
