// Preload (NODE_OPTIONS="--require .../store-ops.cjs"): counts a Midge process's LevelDB batch operations by key prefix
// (m message, d delivery, f send frontier, s session, i inbound, r retained), their key and value bytes, commits, and
// page reads (getMany calls and keys, iterators); appends one JSON line to $STORE_OPS_OUT at exit (processes that committed only).
const path = require('path');
let CB, CL;
try {
  const main = require.resolve('classic-level');
  CB = require(path.join(path.dirname(main), 'chained-batch.js')).ChainedBatch;
  CL = require(main).ClassicLevel;
} catch { return; }
const c = { commits: 0, puts: {}, dels: {}, keyBytes: 0, valueBytes: 0, getMany: 0, getManyKeys: 0, iterators: 0 };
const prefix = (k) => (typeof k === 'string' ? k[0] : String.fromCharCode(k[0]));
const put = CB.prototype._put, del = CB.prototype._del, write = CB.prototype._write;
CB.prototype._put = function (k, v) { const x = prefix(k); c.puts[x] = (c.puts[x] || 0) + 1; c.keyBytes += Buffer.byteLength(k); c.valueBytes += v.byteLength; return put.call(this, k, v); };
CB.prototype._del = function (k) { const x = prefix(k); c.dels[x] = (c.dels[x] || 0) + 1; c.keyBytes += Buffer.byteLength(k); return del.call(this, k); };
CB.prototype._write = function (o) { c.commits++; return write.call(this, o); };
const getMany = CL.prototype._getMany; CL.prototype._getMany = function (keys, ...rest) { c.getMany++; c.getManyKeys += keys.length; return getMany.call(this, keys, ...rest); };
const iterator = CL.prototype._iterator; CL.prototype._iterator = function (...args) { c.iterators++; return iterator.apply(this, args); };
process.on('exit', () => { if (c.commits > 0) require('fs').appendFileSync(process.env.STORE_OPS_OUT || 'store-ops.jsonl', JSON.stringify({ pid: process.pid, ...c }) + '\n'); });
