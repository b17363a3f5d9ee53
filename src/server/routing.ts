/**
 * Pure routing decisions: who a direct message goes to, and who may see a message.
 * No sockets, no store: plain data in, plain data out.
 */
import { ID_PATTERN, type User } from "../protocol/schema.ts";

export type Resolution =
  | { ok: true; ids: string[] }
  | {
    ok: false;
    code: "unknown_recipient" | "ambiguous_recipient";
    message: string;
  };

/**
 * Resolves recipients as typed (`alice_1234` or `bob`) to ids.
 * - an id resolves when that id was ever issued, ignoring case (ids are unique ignoring case;
 *   offline people get it on their next join);
 * - a bare name resolves when exactly one online user has exactly that name. One who has it in
 *   another case only (`@bob` when only BOB is online) is not guessed at: a message meant for an
 *   offline bob must not reach BOB. The refusal names the id to write instead.
 * Duplicates collapse. Any unknown or ambiguous entry fails the whole message: nothing is sent.
 * `typed` holds at most MAX_RECIPIENTS entries (the schema's bound), so neither do the ids.
 */
export function resolveRecipients(
  typed: readonly string[],
  online: Iterable<User>,
  canonicalId: (id: string) => string | null,
): Resolution {
  const byName = new Map<string, User[]>();
  for (const user of online) {
    const key = user.name.toLowerCase();
    const users = byName.get(key);
    if (users) users.push(user);
    else byName.set(key, [user]);
  }
  const ids = new Set<string>();
  for (const entry of typed) {
    const id = ID_PATTERN.test(entry) ? canonicalId(entry) : null;
    if (id !== null) {
      ids.add(id);
      continue;
    }
    const folded = byName.get(entry.toLowerCase()) ?? [];
    const named = folded.filter((user) => user.name === entry).map((user) => user.id);
    if (named.length === 1) {
      ids.add(named[0]);
    } else if (named.length > 1) {
      return {
        ok: false,
        code: "ambiguous_recipient",
        message: `@${entry} is ambiguous: ${named.join(", ")} are online; use the full id`,
      };
    } else if (folded.length > 0) {
      const others = folded.map((user) => user.id).join(", ");
      return {
        ok: false,
        code: "ambiguous_recipient",
        message: `nobody online is named exactly ${entry} (${others} differ in case); ` +
          "write the full id if you mean them",
      };
    } else {
      return {
        ok: false,
        code: "unknown_recipient",
        message: ID_PATTERN.test(entry)
          ? `there is no user with the id ${entry}`
          : `nobody named ${entry} is online; use their full id to reach them offline`,
      };
    }
  }
  // at most MAX_RECIPIENTS: the schema refuses more entries, and duplicates only collapse
  return { ok: true, ids: [...ids] };
}

/** Whether `userId` may see a message from `from` to `to` (absent `to` = public). */
export function canSee(userId: string, message: { from: string; to?: readonly string[] }): boolean {
  return message.to === undefined || message.from === userId || message.to.includes(userId);
}

/**
 * The audience of a reply: a reply to a public message is public; a reply to a direct message
 * goes to that conversation's people (its sender and recipients), minus the replier who is the sender.
 */
export function replyAudience(
  replier: string,
  original: { from: string; to?: readonly string[] },
): string[] | undefined {
  if (original.to === undefined) return undefined;
  const people = new Set([original.from, ...original.to]);
  people.delete(replier);
  return people.size > 0 ? [...people] : [replier];
}
