// Midge status page: polls /status.json, and shows messages live over Midge's own WebSocket listener (MQTT.js).
/* global mqtt */
'use strict';
(function () {
  const POLL_MS = 2000;
  const MAX_ROWS = 200;
  const $ = (id) => document.getElementById(id);
  let previous = null;
  let websocket = null;
  let client = null;

  function duration(seconds) {
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
  }

  function render(status, now) {
    $('version').textContent = 'v' + status.version;
    $('uptime').textContent = duration(status.uptimeSeconds);
    $('clients').textContent = status.clients.connected;
    $('sessions').textContent = status.clients.sessions + ' sessions';
    $('total-in').textContent = status.messages.received + ' total';
    $('total-out').textContent = status.messages.sent + ' total';
    if (previous) {
      const seconds = Math.max((now - previous.at) / 1000, 0.001);
      $('rate-in').textContent = ((status.messages.received - previous.status.messages.received) / seconds).toFixed(1);
      $('rate-out').textContent = ((status.messages.sent - previous.status.messages.sent) / seconds).toFixed(1);
    }
    previous = { status, at: now };
    $('retained').textContent = status.retained;
    $('subscriptions').textContent = status.subscriptions + ' subscriptions';
    $('queued').textContent = status.queued + ' / ' + status.inflight;
    $('dropped').textContent = status.messages.dropped + ' dropped';
    const store = status.store;
    $('store').textContent = store.kind + (store.dataDir ? ' in ' + store.dataDir + ', durability ' + store.durability : '') + ', ' + store.errors + ' errors';
    const sinks = (status.bridge && status.bridge.sinks) || [];
    $('bridge').textContent = sinks.length === 0 ? 'no bridge configured' : sinks.map((s) => s.name + ': ' + s.state + (s.lag !== undefined ? ', lag ' + s.lag : '')).join('; ');
    const links = status.mqttBridges || [];
    $('mqtt-bridges').textContent = links.length === 0 ? 'no MQTT bridge configured' : links.map((b) =>
      b.name + ': ' + b.state + (b.state !== 'connected' && b.reason ? ' (' + b.reason + ')' : '') +
      ', backlog ' + b.backlog.messages + ' (' + b.backlog.bytes + ' B)' +
      ', out ' + b.forwarded.out + ', in ' + b.forwarded.in + ', dropped ' + b.dropped).join('; ');
    websocket = status.websocket;
  }

  async function poll() {
    try {
      const res = await fetch('status.json', { cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      render(await res.json(), Date.now());
      setState('state', 'up', 'ok');
    } catch (err) {
      setState('state', 'unreachable: ' + err.message, 'bad');
    }
    setTimeout(poll, POLL_MS);
  }

  function setState(id, text, kind) {
    const el = $(id);
    el.textContent = text;
    el.className = 'state ' + (kind || '');
  }

  function addRow(topic, payload, packet) {
    const row = document.createElement('tr');
    const cells = [new Date().toLocaleTimeString(), topic, String(packet.qos), payload];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 3) td.className = 'payload';
      row.appendChild(td);
    });
    const body = $('messages');
    body.insertBefore(row, body.firstChild);
    while (body.childElementCount > MAX_ROWS) body.removeChild(body.lastChild);
  }

  function subscribe(filter) {
    if (!websocket) {
      setState('live-state', 'the broker has no WebSocket listener', 'bad');
      return;
    }
    if (client) client.end(true);
    $('messages').textContent = '';
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = scheme + '://' + location.hostname + ':' + websocket.port + websocket.path;
    setState('live-state', 'connecting to ' + url);
    client = mqtt.connect(url, { protocolVersion: 5, clean: true, reconnectPeriod: 2000, connectTimeout: 5000 });
    client.on('connect', () => {
      client.subscribe(filter, { qos: 0 }, (err, granted) => {
        const refused = err || !granted || granted.some((g) => g.qos >= 0x80);
        setState('live-state', refused ? 'subscription to ' + filter + ' refused' : 'subscribed to ' + filter, refused ? 'bad' : 'ok');
      });
    });
    client.on('message', (topic, payload, packet) => addRow(topic, new TextDecoder().decode(payload), packet));
    client.on('error', (err) => setState('live-state', 'error: ' + err.message, 'bad'));
    client.on('offline', () => setState('live-state', 'disconnected, retrying', 'bad'));
  }

  $('live-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const filter = $('filter').value.trim();
    if (filter) subscribe(filter);
  });
  poll();
})();
