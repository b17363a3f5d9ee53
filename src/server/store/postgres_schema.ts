/**
 * The PostgreSQL schema: SqliteStore's tables with the same columns, types and meaning (so rows
 * read the same way, rows.ts), plus what a cluster needs: one counter row that hands out message
 * seqs and commit numbers without gaps, and the commit number on each message and purge.
 */

/** Advisory lock held while the schema is created: nodes opening one database at once wait. */
export const SCHEMA_LOCK = 0x6368_6174_0001; // "chat" 1
/**
 * Advisory lock every group commit takes first, on every node: commits are serialized cluster
 * wide, as SQLite's single writer serializes them, so commit order is seq order.
 */
export const COMMIT_LOCK = 0x6368_6174_0002; // "chat" 2

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS identities (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_seq BIGINT NOT NULL DEFAULT 0
);
-- Tom_0001 and tom_0001 must not both exist (SQLite: COLLATE NOCASE)
CREATE UNIQUE INDEX IF NOT EXISTS identities_id_nocase ON identities (lower(id));
CREATE INDEX IF NOT EXISTS identities_by_token ON identities (token_hash);
-- one row per device holding a token for an id; the token rotates on every use
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,            -- compared ignoring case, as the id it belongs to
  token_hash TEXT NOT NULL,
  prev_hash TEXT,
  rotated_at BIGINT,
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  address TEXT NOT NULL DEFAULT '',
  revoked_at BIGINT
);
CREATE INDEX IF NOT EXISTS sessions_by_token ON sessions (token_hash);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (lower(user_id), last_seen_at);
CREATE INDEX IF NOT EXISTS sessions_by_prev ON sessions (prev_hash) WHERE prev_hash IS NOT NULL;
-- the one row that numbers messages and commits: updated under COMMIT_LOCK, so both are gapless
-- and in commit order (a sequence leaves gaps, and its values commit out of order)
CREATE TABLE IF NOT EXISTS chat_counters (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq BIGINT NOT NULL,              -- the highest message seq given out
  commit_no BIGINT NOT NULL         -- the number of the last group commit
);
INSERT INTO chat_counters (id, seq, commit_no) VALUES (1, 0, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS messages (
  seq BIGINT PRIMARY KEY,           -- from chat_counters
  id TEXT NOT NULL UNIQUE,
  sender TEXT NOT NULL,
  recipients TEXT,                  -- JSON array of ids; NULL for a public message
  room TEXT,
  text TEXT NOT NULL,
  time BIGINT NOT NULL,
  reply_to TEXT,
  expires_at BIGINT,
  purged TEXT,                      -- NULL while live; 'deleted' or 'expired' once the text is gone
  purged_after BIGINT,
  action INTEGER,
  commit_no BIGINT NOT NULL,        -- the commit that stored it
  purged_commit BIGINT              -- the commit that purged it
);
CREATE INDEX IF NOT EXISTS messages_expiring ON messages (expires_at)
  WHERE expires_at IS NOT NULL AND purged IS NULL;
CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room, seq) WHERE room IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_live_by_room ON messages (room, seq)
  WHERE room IS NOT NULL AND purged IS NULL;
CREATE INDEX IF NOT EXISTS messages_by_commit ON messages (commit_no);
CREATE INDEX IF NOT EXISTS messages_by_purge_commit ON messages (purged_commit)
  WHERE purged_commit IS NOT NULL;
-- a resume's purges, by where they go (SQLite scans for them: a smaller table)
CREATE INDEX IF NOT EXISTS messages_by_purge ON messages (purged_after, seq)
  WHERE purged IS NOT NULL;
CREATE TABLE IF NOT EXISTS sent_refs (
  user_id TEXT NOT NULL,
  ref TEXT NOT NULL,
  message_id TEXT NOT NULL,
  time BIGINT NOT NULL,
  PRIMARY KEY (user_id, ref)
);
CREATE INDEX IF NOT EXISTS sent_refs_by_time ON sent_refs (time);
CREATE TABLE IF NOT EXISTS audience (
  user_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (user_id, seq)
);
CREATE INDEX IF NOT EXISTS audience_by_seq ON audience (seq);
CREATE TABLE IF NOT EXISTS rooms (
  name TEXT PRIMARY KEY,
  topic TEXT NOT NULL DEFAULT '',
  topic_by TEXT,
  topic_at BIGINT,
  private INTEGER NOT NULL DEFAULT 0,
  creator TEXT,
  created_at BIGINT NOT NULL,
  dropped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS room_members (
  user_id TEXT NOT NULL,
  room TEXT NOT NULL REFERENCES rooms(name),
  joined_at BIGINT NOT NULL,
  PRIMARY KEY (user_id, room)
);
CREATE INDEX IF NOT EXISTS room_members_by_room ON room_members (room);
CREATE TABLE IF NOT EXISTS room_operators (
  room TEXT NOT NULL REFERENCES rooms(name),
  user_id TEXT NOT NULL,
  PRIMARY KEY (room, user_id)
);
CREATE TABLE IF NOT EXISTS room_invites (
  room TEXT NOT NULL REFERENCES rooms(name),
  user_id TEXT NOT NULL,
  invited_by TEXT NOT NULL,
  time BIGINT NOT NULL,
  PRIMARY KEY (room, user_id)
);
CREATE TABLE IF NOT EXISTS server_operators (
  user_id TEXT NOT NULL,
  granted_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS server_operators_nocase ON server_operators (lower(user_id));
CREATE TABLE IF NOT EXISTS restrictions (
  kind TEXT NOT NULL,
  scope TEXT NOT NULL,
  target TEXT NOT NULL,
  on_address INTEGER NOT NULL DEFAULT 0,
  by TEXT NOT NULL,
  reason TEXT,
  time BIGINT NOT NULL,
  until BIGINT,
  PRIMARY KEY (kind, scope, target)
);
CREATE INDEX IF NOT EXISTS restrictions_by_target ON restrictions (target, kind);
CREATE INDEX IF NOT EXISTS restrictions_by_scope ON restrictions (scope, time);
CREATE INDEX IF NOT EXISTS restrictions_ending ON restrictions (until) WHERE until IS NOT NULL;
CREATE TABLE IF NOT EXISTS modlog (
  seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  time BIGINT NOT NULL,
  action TEXT NOT NULL,
  by TEXT NOT NULL,
  room TEXT,
  user_id TEXT,
  address TEXT,
  reason TEXT,
  until BIGINT,
  message TEXT
);
CREATE INDEX IF NOT EXISTS modlog_by_room ON modlog (room, seq) WHERE room IS NOT NULL;
`;
