// What the gateway knows about each Sparkplug edge node and device: whether it is born, its
// bdSeq, and the metrics its birth certificate declared (name, alias, datatype, the sensor
// it maps to). Kept in the journal's SQLite database and written when a birth or death is
// parsed, so it is durable before that message is acked, and a restart decodes aliased data
// that was queued while the gateway was away.
import type Database from 'better-sqlite3'

export interface MetricDef {
  name: string
  alias?: number
  datatype: number
  /** The sensor segment; null when the metric is not sensor data (skipped, string, unmappable). */
  sensor: string | null
  unit?: string
}

export interface DeviceRecord {
  device: string
  online: boolean
  /** An NBIRTH came after this device's DBIRTH: its aliases are not trusted until it is born again. */
  stale: boolean
  metrics: MetricDef[]
  bornAt?: number
  /** Event time of the offline state last sent for it (a birth's online state is never earlier). */
  offlineAt?: number
}

export interface NodeRecord {
  group: string
  edge: string
  online: boolean
  bdSeq?: number
  /** A rebirth was requested (seq gap, unknown alias, data before birth); data waits for the NBIRTH. */
  awaitingRebirth: boolean
  metrics: MetricDef[]
  bornAt?: number
  offlineAt?: number
  devices: Map<string, DeviceRecord>
}

export interface SparkplugStore {
  load(): Map<string, NodeRecord>
  saveNode(node: NodeRecord): void
  saveDevice(nodeKey: string, device: DeviceRecord): void
}

export function nodeKey(group: string, edge: string): string {
  return `${group}/${edge}`
}

export function createSparkplugStore(db: Database.Database): SparkplugStore {
  db.exec(`
    CREATE TABLE IF NOT EXISTS sparkplug_nodes (
      node TEXT PRIMARY KEY,
      grp TEXT NOT NULL,
      edge TEXT NOT NULL,
      online INTEGER NOT NULL,
      bd_seq INTEGER,
      awaiting_rebirth INTEGER NOT NULL,
      metrics TEXT NOT NULL,
      born_at INTEGER,
      offline_at INTEGER
    );
    CREATE TABLE IF NOT EXISTS sparkplug_devices (
      node TEXT NOT NULL,
      device TEXT NOT NULL,
      online INTEGER NOT NULL,
      stale INTEGER NOT NULL,
      metrics TEXT NOT NULL,
      born_at INTEGER,
      offline_at INTEGER,
      PRIMARY KEY (node, device)
    );
  `)
  const upsertNode = db.prepare(
    `INSERT INTO sparkplug_nodes (node, grp, edge, online, bd_seq, awaiting_rebirth, metrics, born_at, offline_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (node) DO UPDATE SET online = excluded.online, bd_seq = excluded.bd_seq, awaiting_rebirth = excluded.awaiting_rebirth,
       metrics = excluded.metrics, born_at = excluded.born_at, offline_at = excluded.offline_at`,
  )
  const upsertDevice = db.prepare(
    `INSERT INTO sparkplug_devices (node, device, online, stale, metrics, born_at, offline_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (node, device) DO UPDATE SET online = excluded.online, stale = excluded.stale, metrics = excluded.metrics, born_at = excluded.born_at,
       offline_at = excluded.offline_at`,
  )

  return {
    load() {
      const nodes = new Map<string, NodeRecord>()
      const rows = db.prepare('SELECT * FROM sparkplug_nodes').all() as {
        node: string
        grp: string
        edge: string
        online: number
        bd_seq: number | null
        awaiting_rebirth: number
        metrics: string
        born_at: number | null
        offline_at: number | null
      }[]
      for (const r of rows) {
        nodes.set(r.node, {
          group: r.grp,
          edge: r.edge,
          online: r.online === 1,
          ...(r.bd_seq === null ? {} : { bdSeq: r.bd_seq }),
          awaitingRebirth: r.awaiting_rebirth === 1,
          metrics: JSON.parse(r.metrics) as MetricDef[],
          ...(r.born_at === null ? {} : { bornAt: r.born_at }),
          ...(r.offline_at === null ? {} : { offlineAt: r.offline_at }),
          devices: new Map(),
        })
      }
      const devices = db.prepare('SELECT * FROM sparkplug_devices').all() as {
        node: string
        device: string
        online: number
        stale: number
        metrics: string
        born_at: number | null
        offline_at: number | null
      }[]
      for (const d of devices) {
        nodes.get(d.node)?.devices.set(d.device, {
          device: d.device,
          online: d.online === 1,
          stale: d.stale === 1,
          metrics: JSON.parse(d.metrics) as MetricDef[],
          ...(d.born_at === null ? {} : { bornAt: d.born_at }),
          ...(d.offline_at === null ? {} : { offlineAt: d.offline_at }),
        })
      }
      return nodes
    },
    saveNode(n) {
      upsertNode.run(nodeKey(n.group, n.edge), n.group, n.edge, n.online ? 1 : 0, n.bdSeq ?? null, n.awaitingRebirth ? 1 : 0, JSON.stringify(n.metrics), n.bornAt ?? null, n.offlineAt ?? null)
    },
    saveDevice(key, d) {
      upsertDevice.run(key, d.device, d.online ? 1 : 0, d.stale ? 1 : 0, JSON.stringify(d.metrics), d.bornAt ?? null, d.offlineAt ?? null)
    },
  }
}
