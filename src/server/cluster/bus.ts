/**
 * The bus between the nodes of a cluster: subjects and bytes, nothing more. NATS carries it
 * (nats_bus.ts); what travels on it is in wire.ts. Delivery is at most once: whatever must not
 * be lost (a commit) can also be read from the store, and presence is repeated by heartbeats.
 */
export interface Bus {
  publish(subject: string, data: Uint8Array): void;
  /** Calls `onMessage` for each message on `subject`, in the order the bus delivers them. */
  subscribe(subject: string, onMessage: (data: Uint8Array) => void): void;
  /** The largest message it carries (NATS: the server's max_payload); a larger one is not sent. */
  readonly maxPayload: number;
  /** Whether it is connected now (a reconnect is under way when not). */
  readonly connected: boolean;
  /**
   * How many times it has connected again after losing its connection: what it carried
   * meanwhile is lost, and the cluster reads from the store what it keeps (cluster.ts).
   */
  readonly reconnects: number;
  /** Sends what is buffered, then disconnects. */
  close(): Promise<void>;
}

/** The subjects of one cluster, all under one prefix. */
export function subjects(prefix: string) {
  return {
    /** What a node committed: every node delivers it in commit order. */
    commit: `${prefix}.commit`,
    /** Joins, leaves, heartbeats and stops of nodes. */
    presence: `${prefix}.presence`,
    /** Rooms and moderation: what changed on one node that the others apply or tell (wire.ts). */
    event: `${prefix}.event`,
  } as const;
}

/** The prefix of every subject a cluster uses (one NATS server can carry several clusters). */
export const DEFAULT_SUBJECT_PREFIX = "chat.v1";
