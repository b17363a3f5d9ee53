/**
 * A test worker for tests/pg_store_test.ts: one node of a cluster, committing on its own
 * PostgresStore as fast as it can, and reporting what each of its commits did.
 */
import { PostgresStore } from "../src/server/store/postgres.ts";
import { GENERAL_ROOM } from "../src/protocol/schema.ts";
import { IdTakenError, type Write } from "../src/server/store/store.ts";

export interface CommitterJob {
  url: string;
  node: string;
  commits: number;
  batch: number;
  /** Instead of committing, issue ids `id0_0001`… (as many as `commits`): what became of each. */
  identities?: boolean;
}

/** What one commit did, as its node saw it. */
export interface CommitSeen {
  commitNo: number;
  inserted: { id: string; seq: number }[];
  purged: string[];
}

const scope = globalThis as unknown as {
  onmessage: (event: MessageEvent<CommitterJob>) => void;
  postMessage(
    message: { seen: CommitSeen[] } | { issued: string[] } | { error: string },
  ): void;
};

scope.onmessage = ({ data: job }) => {
  try {
    const store = new PostgresStore(job.url);
    if (job.identities) {
      const issued: string[] = [];
      for (let i = 0; i < job.commits; i++) {
        try {
          store.createIdentity({
            id: `id${i}_0001`,
            name: `id${i}`,
            tokenHash: job.node,
            createdAt: i,
          });
          issued.push("issued");
        } catch (error) {
          issued.push(error instanceof IdTakenError ? "taken" : String(error));
        }
      }
      store.close();
      scope.postMessage({ issued });
      return;
    }
    const seen: CommitSeen[] = [];
    const mine: string[] = [];
    for (let c = 0; c < job.commits; c++) {
      const writes: Write[] = [];
      // every third commit also purges one of this node's earlier messages
      const victim = c % 3 === 2 ? mine.shift() : undefined;
      if (victim) writes.push({ kind: "purge", id: victim, reason: "deleted" });
      for (let i = 0; i < job.batch; i++) {
        const id = `${job.node}-${c}-${i}`;
        writes.push({
          kind: "insert",
          message: { id, from: `${job.node}_0001`, room: GENERAL_ROOM, text: id, time: c },
        });
      }
      const results = store.commit(writes);
      const inserted = results.flatMap((r) => "seq" in r ? [{ id: r.id, seq: r.seq }] : []);
      mine.push(...inserted.map((m) => m.id));
      seen.push({ commitNo: store.lastCommitNo, inserted, purged: victim ? [victim] : [] });
    }
    store.close();
    scope.postMessage({ seen });
  } catch (error) {
    scope.postMessage({ error: String(error) });
  }
};
