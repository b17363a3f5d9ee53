/**
 * What the nodes of a cluster say to each other on the bus, as JSON: each message names the node
 * it comes from. Checked on arrival like any input (a node of another version, a stray publisher
 * on the same subjects): a message that does not parse is dropped and counted, never trusted.
 */
import { z } from "zod";
import { User } from "../../protocol/schema.ts";
import type { Commit } from "./sequencer.ts";

const Quote = z.union([
  z.object({ from: z.string(), text: z.string() }),
  z.object({ deleted: z.literal(true) }),
]);

const StoredMessage = z.object({
  seq: z.number().int().nonnegative(),
  id: z.string(),
  from: z.string(),
  to: z.array(z.string()).optional(),
  room: z.string().optional(),
  text: z.string(),
  time: z.number(),
  replyTo: z.string().optional(),
  quote: Quote.optional(),
  expiresAt: z.number().optional(),
  action: z.boolean().optional(),
});

const CommittedPurge = z.object({
  id: z.string(),
  from: z.string(),
  to: z.array(z.string()).optional(),
  room: z.string().optional(),
  reason: z.enum(["deleted", "expired"]),
  by: z.string().optional(),
});

export const CommitMessage = z.object({
  node: z.string(),
  commitNo: z.number().int().positive(),
  messages: z.array(StoredMessage),
  purges: z.array(CommittedPurge),
});

const Online = z.object({ user: User, since: z.number() });

export const PresenceMessage = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("join"), node: z.string(), user: User, since: z.number() }),
  z.object({ kind: z.literal("leave"), node: z.string(), id: z.string() }),
  z.object({
    kind: z.literal("beat"),
    node: z.string(),
    users: z.array(Online),
    /** Whether `users` is everyone on the node (not cut at HEARTBEAT_USERS_LIMIT). */
    complete: z.boolean(),
  }),
  z.object({ kind: z.literal("stop"), node: z.string() }),
]);
export type PresenceMessage = z.infer<typeof PresenceMessage>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** A bus message checked against `schema`, or null when it does not parse. */
export function decode<T>(schema: z.ZodType<T>, data: Uint8Array): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(decoder.decode(data)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function commitMessage(node: string, commit: Commit): Uint8Array {
  return encode({ node, ...commit });
}
