// node hp.cjs PROFILE [N]: self bytes by function (url:line) and by allocation stack top-3
const p = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const self = new Map(); let total = 0; const stacks = new Map();
function walk(n, chain) {
  const cf = n.callFrame; const fn = `${cf.functionName || '(anon)'} ${(cf.url || '').replace(/.*\/(node_modules\/|dist\/)?/, '')}:${cf.lineNumber + 1}`;
  const c = chain.concat(fn);
  const b = n.selfSize; if (b) { self.set(fn, (self.get(fn) || 0) + b); total += b; const k = c.slice(-4).join(' < ').replace(/ < /g, ' <- '); stacks.set(k, (stacks.get(k) || 0) + b); }
  for (const ch of n.children) walk(ch, c);
}
walk(p.head, []);
const N = +(process.argv[3] || 25);
console.log('total sampled bytes', total);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, N)) console.log((100 * v / total).toFixed(1).padStart(5) + '%', k);
console.log('--- stacks (leaf last) ---');
for (const [k, v] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, N)) console.log((100 * v / total).toFixed(1).padStart(5) + '%', k.split(' <- ').reverse().join(' <- '));
