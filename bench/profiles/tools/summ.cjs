// node summ.cjs SNAP [SNAP2]: self size by (type,name), top entries; with two snapshots, the diff
const fs = require('fs');
function load(f) {
  const s = JSON.parse(fs.readFileSync(f, 'utf8'));
  const m = s.snapshot.meta, nf = m.node_fields, nfl = nf.length, types = m.node_types[0], strs = s.strings, N = s.nodes;
  const it = nf.indexOf('type'), iname = nf.indexOf('name'), isz = nf.indexOf('self_size');
  const agg = new Map(); let total = 0;
  for (let i = 0; i < N.length; i += nfl) {
    const t = types[N[i + it]]; let name = strs[N[i + iname]];
    if (t === 'string' || t === 'concatenated string' || t === 'sliced string') name = '(string)';
    if (t === 'code') name = '(code)';
    if (t === 'number') name = '(heap number)';
    if (name.length > 60) name = name.slice(0, 60);
    const k = t + ':' + name; const e = agg.get(k) || [0, 0]; e[0]++; e[1] += N[i + isz]; agg.set(k, e); total += N[i + isz];
  }
  return { agg, total };
}
const a = load(process.argv[2]);
if (process.argv[3]) {
  const b = load(process.argv[3]); const per = +(process.argv[4] || 1);
  const rows = [];
  for (const [k, e] of b.agg) { const o = a.agg.get(k) || [0, 0]; rows.push([k, e[0] - o[0], e[1] - o[1]]); }
  for (const [k, o] of a.agg) if (!b.agg.has(k)) rows.push([k, -o[0], -o[1]]);
  rows.sort((x, y) => Math.abs(y[2]) - Math.abs(x[2]));
  console.log('total self', a.total, '->', b.total, 'diff', b.total - a.total, 'per unit', ((b.total - a.total) / per).toFixed(1));
  for (const r of rows.slice(0, +(process.argv[5] || 40))) console.log(String(r[2]).padStart(10), String(r[1]).padStart(8), (r[2] / per).toFixed(1).padStart(8), (r[1] / per).toFixed(2).padStart(6), r[0]);
} else {
  const rows = [...a.agg].sort((x, y) => y[1][1] - x[1][1]);
  console.log('total self', a.total);
  for (const [k, e] of rows.slice(0, 45)) console.log(String(e[1]).padStart(10), String(e[0]).padStart(8), k);
}
