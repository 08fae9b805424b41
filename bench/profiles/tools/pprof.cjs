// node pprof.cjs PROFILE.pb.gz [N]: a Go CPU profile (nats-server's prof_port) by self and by cumulative time per function
const zlib = require('zlib');
const buf = zlib.gunzipSync(require('fs').readFileSync(process.argv[2]));
const N = +(process.argv[3] || 30);
// Minimal protobuf reader: fields of one message as [field, wireType, value] (value: number or Buffer)
function fields(b) {
  const out = []; let i = 0;
  const varint = () => { let r = 0n, s = 0n; for (;;) { const x = b[i++]; r |= BigInt(x & 0x7f) << s; s += 7n; if (x < 0x80) return r; } };
  while (i < b.length) {
    const key = Number(varint()); const f = key >> 3, w = key & 7;
    if (w === 0) out.push([f, w, varint()]);
    else if (w === 2) { const n = Number(varint()); out.push([f, w, b.subarray(i, i + n)]); i += n; }
    else if (w === 1) { out.push([f, w, b.readBigUInt64LE(i)]); i += 8; }
    else if (w === 5) { out.push([f, w, BigInt(b.readUInt32LE(i))]); i += 4; }
    else throw new Error('wire type ' + w);
  }
  return out;
}
function packed(v) { if (typeof v === 'bigint') return [v]; const r = []; let i = 0; while (i < v.length) { let x = 0n, s = 0n; for (;;) { const c = v[i++]; x |= BigInt(c & 0x7f) << s; s += 7n; if (c < 0x80) break; } r.push(x); } return r; }
const strings = [], samples = [], locs = new Map(), funcs = new Map();
for (const [f, , v] of fields(buf)) {
  if (f === 6) strings.push(v.toString('utf8'));
  else if (f === 2) { const s = { loc: [], val: [] }; for (const [g, , x] of fields(v)) { if (g === 1) s.loc.push(...packed(x)); if (g === 2) s.val.push(...packed(x)); } samples.push(s); }
  else if (f === 4) { let id, fn = []; for (const [g, , x] of fields(v)) { if (g === 1) id = x; if (g === 4) for (const [h, , y] of fields(x)) if (h === 1) fn.push(y); } locs.set(id, fn); }
  else if (f === 5) { let id, name; for (const [g, , x] of fields(v)) { if (g === 1) id = x; if (g === 2) name = x; } funcs.set(id, name); }
}
const name = (fid) => strings[Number(funcs.get(fid))] || '?';
const self = new Map(), cum = new Map(); let total = 0;
for (const s of samples) {
  const v = Number(s.val[s.val.length - 1]); total += v;
  const names = s.loc.flatMap((l) => (locs.get(l) || []).map(name));
  if (names[0]) self.set(names[0], (self.get(names[0]) || 0) + v);
  for (const n of new Set(names)) cum.set(n, (cum.get(n) || 0) + v);
}
console.log('total ms', (total / 1e6).toFixed(0));
const show = (m, title) => { console.log('--- ' + title); for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, N)) console.log((100 * v / total).toFixed(1).padStart(5) + '%', k); };
show(self, 'self'); show(cum, 'cumulative');
