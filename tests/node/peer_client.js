// The MongoDB Node driver against the wire-protocol peer (tests/peers/).
//
//   node tests/node/peer_client.js MONGODB_URI
//
// Opens a change stream on nodetest.items (fullDocument: updateLookup), then
// inserts, updates, finds and deletes, and prints one JSON line per result:
//   {"found": [...]}                 the find after the writes
//   {"event": {op, key, doc}}        each change event, in order
//   {"done": true}
// Exits 1 with {"error": "..."} on any failure (the test shows it).
'use strict';

const { MongoClient } = require('mongodb');

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main() {
  const uri = process.argv[2];
  if (!uri) {
    throw new Error('usage: node peer_client.js MONGODB_URI');
  }
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10000 });
  try {
    await client.connect();
    const items = client.db('nodetest').collection('items');
    const stream = items.watch([], { fullDocument: 'updateLookup', maxAwaitTimeMS: 200 });
    // The driver sends the aggregate on first use: start it before writing.
    await stream.tryNext();
    await items.insertOne({ _id: 1, n: 1 });
    await items.insertMany([{ _id: 2, n: 2 }, { _id: 3, n: 3 }]);
    await items.updateOne({ _id: 1 }, { $set: { n: 10 }, $inc: { hits: 1 } });
    await items.replaceOne({ _id: 2 }, { n: 20 });
    const found = await items.find({ n: { $gte: 3 } }).sort({ n: 1 }).toArray();
    print({ found });
    await items.deleteOne({ _id: 3 });
    for (let i = 0; i < 6; i++) {
      const ev = await stream.next();
      print({ event: { op: ev.operationType, key: ev.documentKey._id,
                       doc: ev.fullDocument === undefined ? null : ev.fullDocument } });
    }
    await stream.close();
    print({ done: true });
  } finally {
    await client.close();
  }
}

main().catch((err) => {
  print({ error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
