// node bymod.cjs PROFILE: live sampled bytes attributed to the first module (package or dist file) on the stack, innermost non-node: frame
const p = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const by = new Map(), byLeaf = new Map(); let total = 0;
const modOf = (url) => { if (!url) return null; if (url.startsWith('node:')) return null; const m = url.match(/node_modules\/((@[^/]+\/)?[^/]+)/); if (m) return 'pkg ' + m[1]; const d = url.match(/dist\/(.*)/); return d ? 'midge ' + d[1].replace(/\/[^/]*$/, '/') : url; };
function walk(n, owner) {
  const mod = modOf(n.callFrame.url) || owner;
  if (n.selfSize) { total += n.selfSize; by.set(mod || '(node internals)', (by.get(mod || '(node internals)') || 0) + n.selfSize); }
  for (const c of n.children) walk(c, mod);
}
walk(p.head, null);
console.log('live sampled bytes', total);
for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, +(process.argv[3] || 25))) console.log((v / 1048576).toFixed(2).padStart(7) + ' MiB', (100 * v / total).toFixed(1).padStart(5) + '%', k);
