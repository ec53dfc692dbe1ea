#!/usr/bin/env node
// Checks that kafkajs (the version installed in this repo, 2.2.4) works against a Kafka
// broker: the admin, idempotent-producer and consumer-group calls the gateway relies on.
//
//   node scripts/kafka/compat-check.mjs 127.0.0.1:19092
//
// Prints PASS/FAIL per step and exits 1 if any step failed (2 on bad usage).
// It creates one topic named compat-check-<time> and deletes it again at the end.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Kafka, CompressionTypes, Partitioners, logLevel } = require('kafkajs');
const kafkajsVersion = require('kafkajs/package.json').version;

const broker = process.argv[2];
if (!broker || process.argv.length > 3) {
  console.error('usage: node scripts/kafka/compat-check.mjs HOST:PORT');
  process.exit(2);
}

const STEP_TIMEOUT_MS = Number(process.env.COMPAT_STEP_TIMEOUT_MS ?? 30000);
const FIRST_BATCH = 300;
const SECOND_BATCH = 50;
const PARTITIONS = 3;
const runId = `${Date.now()}-${process.pid}`;
const topic = `compat-check-${runId}`;
const groupId = `compat-check-group-${runId}`;

// Collect what kafkajs logs at WARN/ERROR instead of printing it in the middle of the
// step list; it is printed at the end, because it tells what a client will see.
const kafkajsLogs = [];
const logCreator = () => ({ level, log }) => {
  const { message, ...extra } = log;
  const name = level === logLevel.ERROR ? 'ERROR' : level === logLevel.WARN ? 'WARN' : String(level);
  const detail = extra.error ? ` (${extra.error})` : '';
  kafkajsLogs.push(`${name} [${log.logger ?? ''}] ${message}${detail}`);
};

const kafka = new Kafka({
  clientId: 'shiftscribe-compat-check',
  brokers: [broker],
  logLevel: logLevel.WARN,
  logCreator,
  connectionTimeout: 5000,
  retry: { retries: 3, initialRetryTime: 200 },
});

const results = [];
let failed = 0;

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function describeError(err) {
  const parts = [`${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`];
  if (err?.type) parts.push(`type=${err.type}`);
  if (err?.code !== undefined) parts.push(`code=${err.code}`);
  if (err?.cause) parts.push(`cause: ${describeError(err.cause)}`);
  return parts.join(' ');
}

async function step(name, fn) {
  const started = Date.now();
  try {
    const detail = await withTimeout(Promise.resolve().then(fn), STEP_TIMEOUT_MS, name);
    const ms = Date.now() - started;
    console.log(`PASS ${name} (${ms} ms)${detail ? `: ${detail}` : ''}`);
    results.push({ name, ok: true });
    return true;
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}: ${describeError(err)}`);
    results.push({ name, ok: false, error: describeError(err) });
    return false;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// Consume with eachBatch until `expected` messages arrived (or the step times out).
// Each message's offset is resolved and committed at the end of its batch.
async function consumeGroup(label, expected) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
  const received = [];
  let describeResult;
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let resolveDone;
    const done = new Promise((resolve) => {
      resolveDone = resolve;
    });
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary }) => {
        for (const m of batch.messages) {
          received.push({ partition: batch.partition, offset: m.offset, key: m.key?.toString(), value: m.value?.toString() });
          resolveOffset(m.offset);
        }
        await heartbeat();
        await commitOffsetsIfNecessary();
        if (received.length >= expected) resolveDone();
      },
    });
    await withTimeout(done, STEP_TIMEOUT_MS - 2000, `${label}: ${received.length}/${expected} messages received`);
    // Give a late extra message (which would be a bug: duplicates) a moment to show up.
    await new Promise((r) => setTimeout(r, 500));
    describeResult = await admin.describeGroups([groupId]).catch((e) => ({ error: e }));
  } finally {
    await consumer.disconnect();
  }
  return { received, describeResult };
}

const admin = kafka.admin();
const producer = kafka.producer({
  idempotent: true,
  maxInFlightRequests: 1,
  createPartitioner: Partitioners.DefaultPartitioner,
});

console.log(`kafkajs ${kafkajsVersion} against ${broker} (topic ${topic})`);

let groupDescription;

await step('admin connect', () => admin.connect());

await step('admin describeCluster', async () => {
  const c = await admin.describeCluster();
  assert(c.brokers.length === 1, `expected 1 broker, got ${JSON.stringify(c.brokers)}`);
  return `cluster ${c.clusterId}, broker ${c.brokers[0].nodeId} at ${c.brokers[0].host}:${c.brokers[0].port}, controller ${c.controller}`;
});

await step(`admin createTopics (${PARTITIONS} partitions)`, async () => {
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  assert(created === true, `createTopics returned ${created}`);
});

await step('admin listTopics', async () => {
  const topics = await admin.listTopics();
  assert(topics.includes(topic), `topic not listed in ${JSON.stringify(topics)}`);
  return `${topics.length} topics`;
});

await step('admin fetchTopicMetadata', async () => {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  const t = topics.find((x) => x.name === topic);
  assert(t, 'topic missing from metadata');
  assert(t.partitions.length === PARTITIONS, `expected ${PARTITIONS} partitions, got ${t.partitions.length}`);
  assert(t.partitions.every((p) => p.leader >= 0), `partition without leader: ${JSON.stringify(t.partitions)}`);
  return `${t.partitions.length} partitions, leaders ${t.partitions.map((p) => p.leader).join(',')}`;
});

async function produce(count, phase) {
  let acked = 0;
  const chunk = 50;
  for (let i = 0; i < count; i += chunk) {
    const messages = [];
    for (let j = i; j < Math.min(count, i + chunk); j += 1) {
      messages.push({ key: `machine-${j % 7}`, value: JSON.stringify({ phase, seq: j }) });
    }
    const res = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages });
    assert(res.every((r) => r.errorCode === 0), `send errors: ${JSON.stringify(res)}`);
    acked += messages.length;
  }
  return acked;
}

await step(`idempotent producer (acks -1, GZIP) sends ${FIRST_BATCH} keyed messages`, async () => {
  await producer.connect();
  const acked = await produce(FIRST_BATCH, 1);
  assert(acked === FIRST_BATCH, `acked ${acked}`);
});

await step('admin fetchTopicOffsets', async () => {
  const offsets = await admin.fetchTopicOffsets(topic);
  const total = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  assert(offsets.length === PARTITIONS, `expected ${PARTITIONS} partitions, got ${offsets.length}`);
  assert(total === FIRST_BATCH, `high-low adds up to ${total}, expected ${FIRST_BATCH}`);
  return offsets.map((p) => `p${p.partition}:${p.low}-${p.high}`).join(' ');
});

await step(`consumer group (eachBatch) receives all ${FIRST_BATCH} and commits`, async () => {
  const { received } = await consumeGroup('first consumer', FIRST_BATCH);
  assert(received.length === FIRST_BATCH, `received ${received.length}, expected ${FIRST_BATCH}`);
  const seqs = new Set(received.map((m) => JSON.parse(m.value).seq));
  assert(seqs.size === FIRST_BATCH, `${seqs.size} distinct messages`);
  // Keyed messages: every key lands on exactly one partition.
  const keyPartitions = new Map();
  for (const m of received) {
    const seen = keyPartitions.get(m.key) ?? new Set();
    seen.add(m.partition);
    keyPartitions.set(m.key, seen);
  }
  assert([...keyPartitions.values()].every((s) => s.size === 1), 'a key was spread over several partitions');
  return `${received.length} messages, ${keyPartitions.size} keys`;
});

await step('admin fetchOffsets shows the committed offsets', async () => {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] });
  const parts = res.find((r) => r.topic === topic)?.partitions ?? [];
  const total = parts.reduce((n, p) => n + Number(p.offset), 0);
  assert(total === FIRST_BATCH, `committed offsets add up to ${total}: ${JSON.stringify(parts)}`);
  return parts.map((p) => `p${p.partition}:${p.offset}`).join(' ');
});

await step(`producer sends ${SECOND_BATCH} more`, async () => {
  const acked = await produce(SECOND_BATCH, 2);
  assert(acked === SECOND_BATCH, `acked ${acked}`);
});

await step(`second consumer in the same group resumes: only the ${SECOND_BATCH} new ones`, async () => {
  const { received, describeResult } = await consumeGroup('second consumer', SECOND_BATCH);
  groupDescription = describeResult;
  const old = received.filter((m) => JSON.parse(m.value).phase !== 2);
  assert(old.length === 0, `${old.length} already-committed messages delivered again`);
  assert(received.length === SECOND_BATCH, `received ${received.length}, expected ${SECOND_BATCH}`);
  return `${received.length} messages`;
});

await step('admin describeGroups (while the consumer was running)', async () => {
  assert(groupDescription && !groupDescription.error, `describeGroups failed: ${groupDescription?.error && describeError(groupDescription.error)}`);
  const g = groupDescription.groups.find((x) => x.groupId === groupId);
  assert(g, 'group not described');
  assert(g.errorCode === 0, `errorCode ${g.errorCode}`);
  assert(g.protocolType === 'consumer', `protocolType ${g.protocolType}`);
  assert(g.state === 'Stable', `state ${g.state}`);
  assert(g.members.length === 1, `${g.members.length} members`);
  return `state=${g.state} protocol=${g.protocol} members=${g.members.length}`;
});

await step('admin deleteTopics', async () => {
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic], timeout: 10000 });
  // Deletion is asynchronous on the broker: wait until the topic is gone from the list.
  for (let i = 0; i < 50; i += 1) {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) return `gone after ${i} re-checks`;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('topic still listed 10 s after deleteTopics');
});

await admin.disconnect().catch(() => {});

if (kafkajsLogs.length > 0) {
  console.log(`kafkajs logged ${kafkajsLogs.length} warning/error line(s):`);
  for (const line of [...new Set(kafkajsLogs)].slice(0, 20)) console.log(`  ${line}`);
}
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
