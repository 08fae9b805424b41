// node ret.cjs SNAP: for node types of interest, group instances by (retainer name . edge name)
const fs = require('fs');
const s = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const m = s.snapshot.meta, nf = m.node_fields, nfl = nf.length, ef = m.edge_fields, efl = ef.length;
const ntypes = m.node_types[0], etypes = m.edge_types[0], strs = s.strings, N = s.nodes, E = s.edges;
const it = nf.indexOf('type'), iname = nf.indexOf('name'), isz = nf.indexOf('self_size'), iec = nf.indexOf('edge_count');
const et = ef.indexOf('type'), en = ef.indexOf('name_or_index'), eto = ef.indexOf('to_node');
const want = new Set((process.argv[3] || 'object:Object,object:Array,number:(heap number),closure:native_bind,array:(object elements),hidden:system / PropertyArray,string:(string),array:(object properties)').split(','));
const key = (i) => { const t = ntypes[N[i + it]]; let n = strs[N[i + iname]]; if (t === 'number') n = '(heap number)'; if (t.includes('string')) { n = '(string)'; return 'string:(string)'; } return t + ':' + n; };
const agg = new Map();
let ei = 0;
for (let i = 0; i < N.length; i += nfl) {
  const owner = ntypes[N[i + it]] + ':' + strs[N[i + iname]].slice(0, 30);
  const ec = N[i + iec];
  for (let k = 0; k < ec; k++, ei += efl) {
    const to = E[ei + eto]; const tk = key(to);
    if (!want.has(tk)) continue;
    const etype = etypes[E[ei + et]]; if (etype === 'weak') continue;
    const ename = (etype === 'element' || etype === 'hidden') ? `[${etype}]` : String(strs[E[ei + en]]);
    const g = tk + '  <-  ' + owner + ' .' + ename; agg.set(g, (agg.get(g) || 0) + 1);
  }
}
for (const [k, v] of [...agg].filter(([, v]) => v >= 1500).sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(String(v).padStart(6), k);
