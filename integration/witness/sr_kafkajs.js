// Independent witness: @kafkajs/confluent-schema-registry against a
// Confluent-compatible registry, with kafkajs on real Kafka: register a
// schema, encode COUNT records, produce, consume and decode them.
// Usage: node sr_kafkajs.js REGISTRY_URL BROKER TOPIC COUNT
// Prints {"id": N, "decoded": [...]}.
const { Kafka, logLevel } = require('kafkajs');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

const schema = JSON.stringify({
  type: 'record', name: 'Reading', namespace: 'plant.witness',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'celsius', type: 'double' },
  ],
});

async function main() {
  const [url, broker, topic, nStr] = process.argv.slice(2);
  const n = parseInt(nStr, 10);
  const registry = new SchemaRegistry({ host: url });
  const { id } = await registry.register({ type: SchemaType.AVRO, schema }, { subject: `${topic}-value` });
  const again = await registry.getLatestSchemaId(`${topic}-value`);
  if (again !== id) throw new Error(`latest id ${again} != registered ${id}`);

  const kafka = new Kafka({ clientId: 'meshwork-witness-sr', brokers: [broker], logLevel: logLevel.ERROR });
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < n; i++) {
    messages.push({ key: `s${i}`, value: await registry.encode(id, { sensor: `s${i}`, celsius: 20 + i / 2 }) });
  }
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `${topic}.js` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const decoded = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`decoded ${decoded.length} of ${n}`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        decoded.push(await registry.decode(message.value));
        if (decoded.length === n) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  console.log(JSON.stringify({ id, decoded }));
}

main().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
