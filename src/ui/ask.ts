/**
 * Asking the person at the terminal, before the chat screen opens: the name when `--name` is
 * missing, the password when the server needs one (`@inquirer/prompts`, loaded only when a
 * question is asked). Never prompts unless stdin and stdout are both terminals: check
 * {@link canPrompt} first and give a clear error instead.
 *
 * @example
 * ```ts
 * if (!args.name) {
 *   if (!canPrompt()) throw new UsageError("--name is required (for example: chat join --name Tom)");
 *   args.name = await askName();
 * }
 * ```
 */
import { nameProblem } from "../protocol/rules.ts";

/** The person pressed Ctrl+C (or Ctrl+D) at a prompt. */
export class PromptCancelled extends Error {
  constructor() {
    super("cancelled at the prompt");
    this.name = "PromptCancelled";
  }
}

/** Whether questions can be asked: stdin and stdout are both terminals. */
export function canPrompt(): boolean {
  try {
    return Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
  } catch {
    return false;
  }
}

async function asking<T>(question: () => Promise<T>): Promise<T> {
  try {
    return await question();
  } catch (error) {
    // inquirer's ExitPromptError (Ctrl+C) and AbortPromptError
    const name = (error as Error)?.name ?? "";
    if (name === "ExitPromptError" || name === "AbortPromptError") throw new PromptCancelled();
    throw error;
  }
}

/** Asks for a display name until it is a valid one (see `nameProblem`). */
export async function askName(): Promise<string> {
  const { input } = await import("@inquirer/prompts");
  const name = await asking(() =>
    input({
      message: "Your name in the chat:",
      validate: (value: string) => nameProblem(value.trim()) ?? true,
      // a refused name is cleared, so what is typed next is a new name, not appended to it
      theme: { validationFailureMode: "clear" },
    })
  );
  return name.trim();
}

/** Asks for the server's password, without echoing it. */
export async function askPassword(): Promise<string> {
  const { password } = await import("@inquirer/prompts");
  return await asking(() =>
    password({
      message: "Server password:",
      mask: "*",
      validate: (value: string) => value !== "" || "the server needs a password",
    })
  );
}
