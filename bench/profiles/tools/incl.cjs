// node incl.cjs PROFILE [N] [fromSec]: inclusive (self + callees) time per function of a .cpuprofile, from fromSec to its end
const p = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const from = +(process.argv[4] || 0) * 1e6;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children || []) parent.set(c, n.id);
const modOf = (url) => { if (!url) return '(vm)'; const m = url.match(/node_modules\/((@[^/]+\/)?[^/]+)/); if (m) return m[1]; const d = url.match(/dist\/(.*)/); return d ? d[1] : url.replace(/^node:/, ''); };
const incl = new Map(); let t = p.startTime, total = 0;
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i]; t += dt; if (t - p.startTime < from) continue;
  let id = p.samples[i]; if (byId.get(id).callFrame.functionName === '(idle)') continue; total += dt;
  const seen = new Set();
  while (id !== undefined) { const cf = byId.get(id).callFrame; const k = `${cf.functionName || '(anon)'} ${modOf(cf.url)}:${cf.lineNumber + 1}`; if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) || 0) + dt); } id = parent.get(id); }
}
console.log('busy ms', (total / 1000).toFixed(0));
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, +(process.argv[3] || 40))) console.log((100 * v / total).toFixed(1).padStart(5) + '%', k);
