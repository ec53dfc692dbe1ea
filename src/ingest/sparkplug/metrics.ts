// The Sparkplug host's counters as Prometheus metrics, read at scrape time.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { SparkplugHost } from './host.js'

export function registerSparkplugMetrics(registry: Registry, host: SparkplugHost): void {
  const counter = (name: string, help: string, read: (s: ReturnType<SparkplugHost['stats']>) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(read(host.stats()))
      },
    })
  new Counter({
    name: 'shiftscribe_sparkplug_messages_total',
    help: 'Sparkplug B messages parsed, by type (NBIRTH, NDATA, …)',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [type, n] of Object.entries(host.stats().messages)) this.inc({ type }, n)
    },
  })
  new Counter({
    name: 'shiftscribe_sparkplug_ignored_metrics_total',
    help: 'Sparkplug metrics that gave no reading, by why (string, not_sensor, null, unsupported_type, unmappable, …)',
    labelNames: ['why'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [why, n] of Object.entries(host.stats().ignoredMetrics)) this.inc({ why }, n)
    },
  })
  counter('shiftscribe_sparkplug_rebirth_requests_total', 'Rebirth requests sent (NCMD Node Control/Rebirth)', (s) => s.rebirthRequests)
  counter('shiftscribe_sparkplug_seq_gaps_total', 'Sequence number gaps seen', (s) => s.seqGaps)
  counter('shiftscribe_sparkplug_state_reasserted_total', 'Times the host saw its STATE marked offline while connected and published online again', (s) => s.stateReasserted)
  counter('shiftscribe_sparkplug_stale_deaths_total', 'NDEATH/DDEATH ignored: from an earlier session (bdSeq) or of an unknown edge node or device', (s) => s.staleDeaths)
  new Gauge({
    name: 'shiftscribe_sparkplug_edge_nodes',
    help: 'Edge nodes known, by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { nodes } = host.stats()
      this.set({ state: 'online' }, nodes.online)
      this.set({ state: 'offline' }, nodes.offline)
    },
  })
  new Gauge({
    name: 'shiftscribe_sparkplug_devices',
    help: 'Devices known, by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { devices } = host.stats()
      this.set({ state: 'online' }, devices.online)
      this.set({ state: 'offline' }, devices.offline)
    },
  })
}
