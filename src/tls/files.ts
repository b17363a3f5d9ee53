/**
 * Small file helpers shared by `certs.ts` and `trust.ts`, and by the client's state files
 * (tokens, the outbox).
 *
 * @module
 */
import { dirname } from "node:path";

const IS_WINDOWS = Deno.build.os === "windows";

/** Mode for private keys and pins: owner read/write only. */
export const PRIVATE_MODE = 0o600;
/** Mode for certificates, which are public. */
export const PUBLIC_MODE = 0o644;
/** Mode for directories holding private material. */
export const PRIVATE_DIR_MODE = 0o700;

/** Text of `path`, or `null` when it does not exist; other errors propagate. */
export async function readOptional(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Does `path` exist (as anything)? */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** `chmod` where the platform has it (Windows has no POSIX modes). */
export async function chmodIfPosix(path: string, mode: number): Promise<void> {
  if (!IS_WINDOWS) await Deno.chmod(path, mode);
}

/** Creates `dir` (and parents) with `mode` if missing; an existing dir is left as it is. */
export async function ensureDir(dir: string, mode: number): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode });
}

/**
 * Replaces `path` with `data` atomically: readers see the old or the new
 * content, never half a file. The temporary file is created with `mode`
 * (and chmod-ed, since the umask may have narrowed or the platform ignored it),
 * so a private key is never readable by others, not even for an instant.
 */
export async function writeFileAtomic(
  path: string,
  data: string,
  mode: number,
): Promise<void> {
  const suffix = crypto.getRandomValues(new Uint8Array(6)).reduce(
    (s, b) => s + b.toString(16).padStart(2, "0"),
    "",
  );
  const tmp = `${path}.${suffix}.tmp`;
  try {
    await Deno.writeTextFile(tmp, data, { createNew: true, mode });
    await chmodIfPosix(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  // Belt and braces: rename keeps the temp file's mode, but a pre-existing
  // file on a platform where rename copies could keep the old one.
  await chmodIfPosix(path, mode).catch(() => {});
}

/**
 * The JSON object in `path`: `{}` when there is no file, or when its JSON is no object; a file
 * that is not JSON throws (a SyntaxError), for the caller to decide.
 */
export async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  const text = await readOptional(path);
  if (text === null) return {};
  const parsed = JSON.parse(text);
  return parsed && typeof parsed === "object" ? parsed : {};
}

/**
 * Replaces `path` with `value` as JSON, owner-only (0600, atomically), its directory made
 * private if it is missing: the client's state files (pins, tokens, the outbox).
 */
export async function writePrivateJson(path: string, value: unknown): Promise<void> {
  await ensureDir(dirname(path), PRIVATE_DIR_MODE);
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n", PRIVATE_MODE);
}

/** One readable clause for an I/O error ("permission denied", "is a directory", ...). */
export function describeIoError(e: unknown): string {
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.IsADirectory) return "it is a directory";
  const msg = e instanceof Error ? e.message : String(e);
  // Deno appends ": readfile '/path'"-style context; keep only the reason.
  return msg.replace(/\s*\(os error \d+\)/, "").replace(
    /[,:]\s*(open|readfile|stat|lstat|rename|chmod|mkdir)\s+'.*$/,
    "",
  )
    .trim()
    .toLowerCase() || "unknown error";
}
