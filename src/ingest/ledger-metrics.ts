// The loss ledger as Prometheus metrics. Values are read from the journal's persistent ledger
// at scrape time, so they survive restarts and always balance:
//   received = journaled + quarantined
//   journaled + quarantined = delivered + pending + dropped
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { QUARANTINE_REASONS } from '../bus/messages.js'
import type { Clock } from '../util/clock.js'
import type { Journal } from './journal.js'

export interface LedgerMetrics {
  observeSend(sendMs: number): void
}

export function registerLedgerMetrics(registry: Registry, journal: Journal, clock: Clock): LedgerMetrics {
  const fromLedger = (name: string, help: string, read: (l: ReturnType<Journal['ledger']>) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(read(journal.ledger()))
      },
    })

  fromLedger('shiftscribe_ingest_messages_total', 'MQTT messages committed to the journal (a redelivery counts again)', (l) => l.messages)
  fromLedger('shiftscribe_ingest_received_total', 'Records received: readings of good messages plus quarantined messages', (l) => l.received)
  fromLedger('shiftscribe_ingest_journaled_total', 'Readings journaled for factory.readings', (l) => l.journaled)
  new Counter({
    name: 'shiftscribe_ingest_quarantined_total',
    help: 'Messages quarantined, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset()
      const byReason = journal.ledger().quarantinedByReason
      for (const reason of QUARANTINE_REASONS) this.inc({ reason }, byReason[reason])
    },
  })
  fromLedger('shiftscribe_journal_delivered_total', 'Records acknowledged by the local Kafka and removed from the journal', (l) => l.delivered)
  fromLedger('shiftscribe_journal_dropped_total', 'Records dropped undelivered because the journal was full (policy drop-oldest)', (l) => l.dropped)

  new Gauge({
    name: 'shiftscribe_journal_pending',
    help: 'Records in the journal not yet acknowledged by the local Kafka',
    registers: [registry],
    collect() {
      this.set(journal.ledger().pending)
    },
  })
  new Gauge({
    name: 'shiftscribe_journal_pending_bytes',
    help: 'Bytes (keys + values) of the pending records',
    registers: [registry],
    collect() {
      this.set(journal.ledger().pendingBytes)
    },
  })
  new Gauge({
    name: 'shiftscribe_journal_oldest_pending_age_seconds',
    help: 'Age of the oldest pending record (0 when none)',
    registers: [registry],
    collect() {
      const oldest = journal.oldestPendingReceivedAt()
      this.set(oldest === undefined ? 0 : Math.max(0, (clock.now() - oldest) / 1000))
    },
  })
  new Gauge({
    name: 'shiftscribe_journal_file_bytes',
    help: 'Size of the journal database and its WAL on disk',
    registers: [registry],
    collect() {
      this.set(journal.fileBytes())
    },
  })
  const sendSeconds = new Histogram({
    name: 'shiftscribe_pump_send_seconds',
    help: 'Time from a batch send to the Kafka ack (acks=all)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const sentRecords = new Counter({ name: 'shiftscribe_pump_batches_total', help: 'Batches acknowledged by the local Kafka', registers: [registry] })

  return {
    observeSend(sendMs) {
      sendSeconds.observe(sendMs / 1000)
      sentRecords.inc()
    },
  }
}
