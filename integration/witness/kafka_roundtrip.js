// Independent witness: with kafkajs, create a topic, produce N records and
// consume them back with a consumer group. Prints one JSON summary line.
// Usage: node kafka_roundtrip.js BROKER TOPIC N
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const [broker, topic, nStr] = process.argv.slice(2);
  const n = parseInt(nStr, 10);
  const kafka = new Kafka({ clientId: 'meshwork-witness-kafkajs', brokers: [broker], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < n; i++) messages.push({ key: `k${i}`, value: `v${i}`, headers: { ce_id: `kafkajs-${i}` } });
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `${topic}.group` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${seen.size} of ${n} in time`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        if (message.headers.ce_id.toString() !== `kafkajs-${message.key.toString().slice(1)}`) {
          reject(new Error(`header mismatch on ${message.key}`));
        }
        seen.add(message.value.toString());
        if (seen.size === n) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  console.log(JSON.stringify({ produced: n, consumed: seen.size }));
}

main().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
