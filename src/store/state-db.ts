// The state database: minute buckets, the sensor registry, machine states, anomalies, shifts and
// their KPIs, detector state, the consumed Kafka offsets and an outbox — one SQLite file (WAL), so that a
// batch's effects and its offsets commit in one transaction.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { GatewayError } from '../errors.js'

export type StateDb = Database.Database

/** A row of `buckets`: one sensor's readings in one event-time minute. */
export interface BucketRow {
  key: string
  minute: number
  count: number
  sum: number
  sumsq: number
  min: number
  max: number
  first_ts: number
  first_value: number
  last_ts: number
  last_value: number
}

/** A row of `machine_states`: a machine's state from Sparkplug B births and deaths. */
export interface MachineStateRow {
  site: string
  line: string
  machine: string
  state: 'online' | 'offline'
  /** Event time of the change into `state`. */
  since: number
  /** The Sparkplug message that made that change: NBIRTH, DBIRTH, NDEATH or DDEATH. */
  cause: string
  /** Event time of the newest message applied for the machine. */
  updated_at_event: number
}

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE buckets (
    key TEXT NOT NULL,
    minute INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum REAL NOT NULL,
    sumsq REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    first_ts INTEGER NOT NULL,
    first_value REAL NOT NULL,
    last_ts INTEGER NOT NULL,
    last_value REAL NOT NULL,
    PRIMARY KEY (key, minute)
  ) WITHOUT ROWID;
  CREATE INDEX buckets_by_minute ON buckets (minute);

  CREATE TABLE sensors (
    key TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    line TEXT NOT NULL,
    machine TEXT NOT NULL,
    sensor TEXT NOT NULL,
    unit TEXT,
    first_ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    last_value REAL NOT NULL,
    readings INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
  ) WITHOUT ROWID;

  CREATE TABLE detector_state (key TEXT PRIMARY KEY, state TEXT NOT NULL) WITHOUT ROWID;

  CREATE TABLE anomalies (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    site TEXT NOT NULL,
    line TEXT NOT NULL,
    machine TEXT NOT NULL,
    sensor TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    observed REAL NOT NULL,
    expected REAL,
    detail TEXT NOT NULL,
    clock TEXT NOT NULL
  );
  CREATE INDEX anomalies_by_start ON anomalies (started_at);
  CREATE INDEX anomalies_open ON anomalies (state) WHERE state = 'open';

  CREATE TABLE shifts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    date TEXT NOT NULL,
    start_ts INTEGER NOT NULL,
    end_ts INTEGER NOT NULL,
    closed_by TEXT NOT NULL,
    closed_at_event INTEGER NOT NULL
  );

  CREATE TABLE shift_kpis (
    shift_id TEXT NOT NULL,
    key TEXT NOT NULL,
    line TEXT NOT NULL,
    machine TEXT NOT NULL,
    sensor TEXT NOT NULL,
    count INTEGER NOT NULL,
    mean REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    std REAL NOT NULL,
    coverage_pct REAL NOT NULL,
    delta REAL,
    PRIMARY KEY (shift_id, key)
  ) WITHOUT ROWID;

  CREATE TABLE shift_machine_kpis (
    shift_id TEXT NOT NULL,
    line TEXT NOT NULL,
    machine TEXT NOT NULL,
    parts REAL,
    rejects REAL,
    reject_rate_pct REAL,
    coverage_pct REAL NOT NULL,
    anomalies INTEGER NOT NULL,
    PRIMARY KEY (shift_id, line, machine)
  ) WITHOUT ROWID;

  CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    schema TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  );
  `,
  `
  CREATE TABLE narratives (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    site TEXT NOT NULL,
    scope TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    headline TEXT NOT NULL,
    body TEXT NOT NULL,
    highlights TEXT NOT NULL,
    facts TEXT NOT NULL,
    generator TEXT NOT NULL,
    grounding TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revision INTEGER NOT NULL DEFAULT 1
  );
  CREATE INDEX narratives_by_period ON narratives (period_start);
  CREATE INDEX narratives_by_scope ON narratives (kind, scope, period_start);
  `,
  // 3: answers of the question agent (the message as published, JSON).
  `
  CREATE TABLE answers (
    question_id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
  );
  CREATE INDEX answers_by_time ON answers (created_at);
  `,
  // 4: machine state from Sparkplug B births and deaths (machine_state messages on the readings
  // topic). One row per machine: `since` and `cause` describe the last change of state,
  // `updated_at_event` is the event time of the newest message applied (older ones are ignored).
  // anomalies.cause: what an `offline` anomaly was caused by (NDEATH or DDEATH); null otherwise.
  `
  CREATE TABLE machine_states (
    site TEXT NOT NULL,
    line TEXT NOT NULL,
    machine TEXT NOT NULL,
    state TEXT NOT NULL,
    since INTEGER NOT NULL,
    cause TEXT NOT NULL,
    updated_at_event INTEGER NOT NULL,
    PRIMARY KEY (site, line, machine)
  ) WITHOUT ROWID;
  ALTER TABLE anomalies ADD COLUMN cause TEXT;
  `,
]

export function openStateDb(file: string, options: { readonly?: boolean; synchronous?: 'normal' | 'full' } = {}): StateDb {
  try {
    if (!options.readonly) mkdirSync(dirname(file), { recursive: true })
    const db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false })
    if (!options.readonly) {
      db.pragma('journal_mode = WAL')
      db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
      migrate(db)
    }
    db.pragma('busy_timeout = 5000')
    return db
  } catch (err) {
    throw new GatewayError('STORE_FAILED', `state database ${file}: cannot open (${err instanceof Error ? err.message : String(err)})`, { cause: err })
  }
}

function migrate(db: StateDb): void {
  const version = db.pragma('user_version', { simple: true }) as number
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] ?? '')
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}

export function getMeta(db: StateDb, name: string): string | undefined {
  return (db.prepare('SELECT value FROM meta WHERE name = ?').get(name) as { value: string } | undefined)?.value
}

export function setMeta(db: StateDb, name: string, value: string): void {
  db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, value)
}

export function readOffsets(db: StateDb, topic: string): Map<number, number> {
  const rows = db.prepare('SELECT partition, next_offset AS next FROM offsets WHERE topic = ?').all(topic) as { partition: number; next: number }[]
  return new Map(rows.map((r) => [r.partition, r.next]))
}
