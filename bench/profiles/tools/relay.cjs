// node relay.cjs PORT: the least a Node.js MQTT 3.1.1 broker can do for `midge bench --scenario latency`,
// as a control for what Node.js itself costs. It answers CONNECT, SUBSCRIBE and PINGREQ, and writes
// every QoS 0 PUBLISH, as received, straight to every connection that subscribed to anything (no topic
// matching, no sessions, no limits). Not a broker: for latency measurements only.
'use strict';
const net = require('node:net');
const subscribers = new Set();
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    const buf = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    let i = 0;
    for (;;) {
      if (i + 2 > buf.length) break;
      let len = 0, mul = 1, j = i + 1, complete = false;
      while (j < buf.length) {
        const b = buf[j++];
        len += (b & 127) * mul;
        mul *= 128;
        if ((b & 128) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || j + len > buf.length) break;
      const type = buf[i] >> 4;
      if (type === 1) socket.write(Buffer.from([0x20, 2, 0, 0])); // CONNACK accepted
      else if (type === 8) {
        socket.write(Buffer.from([0x90, 3, buf[j], buf[j + 1], 0])); // SUBACK QoS 0
        subscribers.add(socket);
      } else if (type === 3) {
        const frame = buf.subarray(i, j + len);
        for (const s of subscribers) s.write(frame);
      } else if (type === 12) socket.write(Buffer.from([0xd0, 0])); // PINGRESP
      else if (type === 14) socket.end();
      i = j + len;
    }
    pending = buf.subarray(i);
  });
  socket.on('close', () => subscribers.delete(socket));
  socket.on('error', () => socket.destroy());
});
server.listen(Number(process.argv[2] ?? 1883), '127.0.0.1');
