// preload: logs memory every 250 ms to $PROBE_LOG; SIGUSR2 writes a heap snapshot to $PROBE_DIR
const fs = require('fs'), v8 = require('v8'), path = require('path');
const log = process.env.PROBE_LOG;
const dir = process.env.PROBE_DIR || require('os').tmpdir();
const t0 = Date.now();
function rss() { const s = fs.readFileSync('/proc/self/status', 'utf8'); const g = (k) => +(s.match(new RegExp(k + ':\\s+(\\d+)'))||[0,0])[1]; return { rss: g('VmRSS'), anon: g('RssAnon'), file: g('RssFile') }; }
if (log) {
  const t = setInterval(() => {
    const m = process.memoryUsage(); const sp = {};
    for (const s of v8.getHeapSpaceStatistics()) sp[s.space_name] = [+(s.space_size/1048576).toFixed(2), +(s.space_used_size/1048576).toFixed(2)];
    fs.appendFileSync(log, JSON.stringify({ t: Date.now() - t0, ...rss(), heapUsed: +(m.heapUsed/1048576).toFixed(2), heapTotal: +(m.heapTotal/1048576).toFixed(2), ab: +(m.arrayBuffers/1048576).toFixed(2), ext: +(m.external/1048576).toFixed(2), new: sp.new_space, old: sp.old_space, lo: sp.large_object_space }) + '\n');
  }, 250); t.unref();
}
let n = 0;
process.on('SIGUSR2', () => { const f = path.join(dir, `snap-${process.pid}-${n++}.heapsnapshot`); v8.writeHeapSnapshot(f); fs.appendFileSync(path.join(dir,'snaps.txt'), f + '\n'); });
if (process.env.PROBE_SAMPLE_AT) {
  const inspector = require('inspector'); const s = new inspector.Session(); s.connect();
  setTimeout(() => {
    s.post('HeapProfiler.startSampling', { samplingInterval: +(process.env.PROBE_INTERVAL || 4096), includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.PROBE_MINOR !== "0" }, (e) => {
      if (e) console.error('sampling', e);
      setTimeout(() => s.post('HeapProfiler.stopSampling', (e2, r) => {
        if (e2) return console.error(e2);
        fs.writeFileSync(path.join(dir, (process.env.PROBE_TAG || 'alloc') + '.heapprofile'), JSON.stringify(r.profile));
      }), +(process.env.PROBE_SAMPLE_MS || 2000)).unref();
    });
  }, +process.env.PROBE_SAMPLE_AT).unref();
}
