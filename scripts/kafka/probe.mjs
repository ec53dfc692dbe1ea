#!/usr/bin/env node
// Readiness probe of scripts/services: does a Kafka broker answer on each of its listeners?
// "Answers" means a kafkajs admin listTopics (a Metadata round trip, which only succeeds once
// the KRaft broker is unfenced); on a secured listener that includes the TLS handshake with
// hostname verification and, on SASL_SSL, authentication with each mechanism given.
//
//   node scripts/kafka/probe.mjs --plaintext 127.0.0.1:29092 \
//     [--sasl-ssl 127.0.0.1:29094 --mechanisms plain,scram-sha-256,scram-sha-512 \
//      --user gateway --password-file F] [--mtls 127.0.0.1:29095] [--tls-dir DIR]
//
// Exit 0: every listener answers. 1: the plaintext one does not (still starting). 3: it
// does, but a secured one does not; one line per failure says which and why. 2: bad usage.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs');

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      plaintext: { type: 'string' },
      'sasl-ssl': { type: 'string' },
      mtls: { type: 'string' },
      'tls-dir': { type: 'string' },
      mechanisms: { type: 'string', default: 'plain,scram-sha-256,scram-sha-512' },
      user: { type: 'string' },
      'password-file': { type: 'string' },
    },
  }));
  if (!options.plaintext) throw new Error('--plaintext HOST:PORT is required');
  if ((options['sasl-ssl'] || options.mtls) && !options['tls-dir']) throw new Error('--tls-dir is required for TLS listeners');
  if (options['sasl-ssl'] && (!options.user || !options['password-file'])) throw new Error('--sasl-ssl needs --user and --password-file');
} catch (error) {
  console.error(`probe: ${error.message}`);
  process.exit(2);
}

// Never hang: scripts/services polls again.
setTimeout(() => {
  console.log('probe: no answer within 8 s');
  process.exit(1);
}, 8000).unref();

async function answers(broker, extra = {}) {
  const kafka = new Kafka({
    clientId: 'shiftscribe-services-probe',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    authenticationTimeout: 3000,
    requestTimeout: 3000,
    retry: { retries: 0 },
    ...extra,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

try {
  await answers(options.plaintext);
} catch (error) {
  console.log(`PLAINTEXT ${options.plaintext}: ${error.message}`);
  process.exit(1);
}

const checks = [];
const tlsDir = options['tls-dir'];
const file = (name) => readFileSync(join(tlsDir, name));
if (options['sasl-ssl']) {
  for (const mechanism of options.mechanisms.split(',').filter(Boolean)) {
    checks.push({
      label: `SASL_SSL ${options['sasl-ssl']} (${mechanism})`,
      run: () => {
        const password = readFileSync(options['password-file'], 'utf8').trim();
        return answers(options['sasl-ssl'], { ssl: { ca: file('ca.crt') }, sasl: { mechanism, username: options.user, password } });
      },
    });
  }
}
if (options.mtls) {
  checks.push({
    label: `MTLS ${options.mtls}`,
    run: () => answers(options.mtls, { ssl: { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key') } }),
  });
}
const results = await Promise.allSettled(checks.map(async (check) => check.run()));
let failed = 0;
results.forEach((result, i) => {
  if (result.status === 'rejected') {
    failed += 1;
    console.log(`${checks[i].label}: ${result.reason?.message ?? result.reason}`);
  }
});
process.exit(failed > 0 ? 3 : 0);
