// preload (-r) for `midge bench --scenario latency`: where one message's time goes.
// Load it into the broker (any Node.js broker) and into the load generator, each with SPLIT_LOG set to
// its own file. It records, for every paced benchmark PUBLISH (publisher index 0) that crosses a TCP
// socket of the process, CLOCK_MONOTONIC times (the clock of the payload's send stamp):
//   in   seq stamp t   the socket handed the bytes holding it to JavaScript (Readable push → 'data')
//   out  seq stamp t0 t1   a socket write (_writeGeneric: write or writev) holding it, before and after
// The load generator's `in` lines are the subscriber receiving it. Lines are written at exit/SIGTERM.
// Join both files with `node split-report.cjs BROKER_LOG LOADGEN_LOG`.
'use strict';
const net = require('node:net');
const fs = require('node:fs');
const file = process.env.SPLIT_LOG;
if (file) {
  const lines = [];
  const now = () => process.hrtime.bigint();
  /** Calls fn(seq, stamp) for each QoS 0/1/2 PUBLISH (MQTT 3.1.1) in buf whose payload is a paced benchmark one. */
  const each = (buf, fn) => {
    let i = 0;
    while (i + 2 <= buf.length) {
      const type = buf[i] >> 4;
      let len = 0, mul = 1, j = i + 1;
      for (;;) {
        if (j >= buf.length) return;
        const b = buf[j++];
        len += (b & 127) * mul;
        mul *= 128;
        if ((b & 128) === 0) break;
      }
      const end = j + len;
      if (end > buf.length) return; // split across chunks: not counted
      if (type === 3) {
        const topicLen = buf.readUInt16BE(j);
        const qos = (buf[i] >> 1) & 3;
        const p = j + 2 + topicLen + (qos > 0 ? 2 : 0);
        if (end - p >= 16 && buf.readUInt32BE(p) === 0) fn(buf.readUInt32BE(p + 4), buf.readBigUInt64BE(p + 8));
      }
      i = end;
    }
  };
  const push = net.Socket.prototype.push;
  net.Socket.prototype.push = function (chunk, encoding) {
    if (Buffer.isBuffer(chunk)) {
      const t = now();
      each(chunk, (seq, stamp) => lines.push(`in ${seq} ${stamp} ${t}`));
    }
    return push.call(this, chunk, encoding);
  };
  const writeGeneric = net.Socket.prototype._writeGeneric;
  net.Socket.prototype._writeGeneric = function (writev, data, encoding, cb) {
    // before the call: writevGeneric replaces the entries ({ chunk, encoding }) by their buffers
    const bufs = writev ? data.map((d) => (Buffer.isBuffer(d) ? d : d.chunk)) : [data];
    const t0 = now();
    const r = writeGeneric.call(this, writev, data, encoding, cb);
    const t1 = now();
    for (const b of bufs) if (Buffer.isBuffer(b)) each(b, (seq, stamp) => lines.push(`out ${seq} ${stamp} ${t0} ${t1}`));
    return r;
  };
  const flush = () => {
    if (lines.length > 0) fs.appendFileSync(file, lines.join('\n') + '\n');
    lines.length = 0;
  };
  process.on('exit', flush);
  process.prependListener('SIGTERM', () => {
    flush();
    if (process.listenerCount('SIGTERM') === 1) process.exit(143); // nobody else handles it: the default
  });
}
