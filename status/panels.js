// Midge dashboard, panels: charts of the last 15 minutes (uPlot), the clients table with search and
// kick, and the retained-message browser. Everything comes from the admin API (status.js: midgeDashboard.api).
/* global uPlot */
'use strict';
(function () {
  const { api, canAct, onAuthChange } = window.midgeDashboard;
  const $ = (id) => document.getElementById(id);
  const HISTORY_MS = 5000;
  const CLIENTS_MS = 5000;
  const PAGE = 50;

  function cell(row, text, className) {
    const td = document.createElement('td');
    td.textContent = text === undefined || text === null ? '–' : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function actionButton(row, label, title, onClick) {
    const td = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'act';
    button.textContent = label;
    button.title = title;
    button.disabled = !canAct();
    if (!canAct()) button.title = 'sign in as an admin to ' + title.toLowerCase();
    button.addEventListener('click', onClick);
    td.appendChild(button);
    row.appendChild(td);
  }

  // ---- charts ----

  const palette = { in: '#2f6fdf', out: '#1b9e5a', connections: '#7a4fd1', dropped: '#d14f4f' };
  const charts = [];

  function chart(id, series) {
    const el = $(id);
    const opts = {
      width: Math.max(el.clientWidth, 200),
      height: 170,
      cursor: { drag: { x: false, y: false } },
      // Always the last 15 minutes, so that the time axis reads the same with few samples or none
      scales: { x: { time: true, range: () => [Date.now() / 1000 - 900, Date.now() / 1000] }, y: { range: (_u, min, max) => [0, Math.max(max, 1) * 1.1] } },
      axes: [{ stroke: '#5a6375', grid: { stroke: '#eef1f5' } }, { stroke: '#5a6375', grid: { stroke: '#eef1f5' }, size: 48 }],
      series: [{}].concat(series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: s.color + '22' }))),
    };
    const plot = new uPlot(opts, [[]].concat(series.map(() => [])), el);
    const entry = { plot, el, fields: series.map((s) => s.field) };
    charts.push(entry);
    return entry;
  }

  chart('chart-messages', [
    { label: 'in', field: 'messagesIn', color: palette.in },
    { label: 'out', field: 'messagesOut', color: palette.out },
  ]);
  chart('chart-connections', [{ label: 'connections', field: 'connections', color: palette.connections }]);
  chart('chart-dropped', [{ label: 'dropped', field: 'dropped', color: palette.dropped }]);

  let historyTimer = null;
  async function refreshHistory() {
    clearTimeout(historyTimer);
    try {
      const history = await api('api/v1/history');
      const times = history.samples.map((s) => Date.parse(s.time) / 1000);
      for (const c of charts) c.plot.setData([times].concat(c.fields.map((f) => history.samples.map((s) => s[f]))));
      document.body.dataset.historySamples = String(history.samples.length);
      document.body.dataset.historyPeakIn = String(Math.max(0, ...history.samples.map((s) => s.messagesIn)));
    } catch {
      // status.js shows why the broker cannot be read
    }
    historyTimer = setTimeout(refreshHistory, HISTORY_MS);
  }

  window.addEventListener('resize', () => {
    for (const c of charts) c.plot.setSize({ width: Math.max(c.el.clientWidth, 200), height: 170 });
  });

  // ---- clients ----

  let clientOffset = 0;
  let clientTimer = null;

  async function refreshClients() {
    clearTimeout(clientTimer);
    const q = $('client-query').value.trim();
    const query = 'offset=' + clientOffset + '&limit=' + PAGE + (q ? '&q=' + encodeURIComponent(q) : '');
    try {
      const page = await api('api/v1/clients?' + query);
      renderClients(page);
      if ($('client-state').classList.contains('error')) $('client-state').textContent = '';
      $('client-state').classList.remove('error');
    } catch (err) {
      $('client-rows').textContent = '';
      $('client-state').textContent = err.message;
      $('client-state').classList.add('error');
    }
    clientTimer = setTimeout(refreshClients, CLIENTS_MS);
  }

  function renderClients(page) {
    const body = $('client-rows');
    body.textContent = '';
    for (const c of page.items) {
      const row = document.createElement('tr');
      row.dataset.clientId = c.clientId;
      cell(row, c.clientId, 'mono');
      cell(row, c.username);
      cell(row, c.address, 'mono');
      cell(row, c.listener);
      cell(row, { 3: '3.1', 4: '3.1.1', 5: '5.0' }[c.protocolVersion]);
      cell(row, c.keepalive ? c.keepalive + ' s' : 'none');
      cell(row, c.subscriptionCount);
      cell(row, c.inflight);
      cell(row, c.queued);
      cell(row, c.connectedAt ? new Date(c.connectedAt).toLocaleString() : undefined);
      actionButton(row, 'Kick', 'Disconnect ' + c.clientId, () => kick(c.clientId));
      body.appendChild(row);
    }
    const last = Math.min(page.offset + page.items.length, page.total);
    $('client-count').textContent = page.total === 0 ? 'no clients' : page.offset + 1 + '–' + last + ' of ' + page.total;
    $('client-prev').disabled = page.offset === 0;
    $('client-next').disabled = last >= page.total;
  }

  async function kick(clientId) {
    if (!window.confirm('Disconnect ' + clientId + '? Its session stays; its will is published.')) return;
    try {
      await api('api/v1/clients/' + encodeURIComponent(clientId) + '/kick', { method: 'POST' });
      $('client-state').textContent = 'disconnected ' + clientId;
    } catch (err) {
      $('client-state').textContent = 'could not disconnect ' + clientId + ': ' + err.message;
    }
    refreshClients();
  }

  $('client-search').addEventListener('submit', (event) => event.preventDefault());
  $('client-query').addEventListener('input', () => {
    clientOffset = 0;
    refreshClients();
  });
  $('client-prev').addEventListener('click', () => {
    clientOffset = Math.max(0, clientOffset - PAGE);
    refreshClients();
  });
  $('client-next').addEventListener('click', () => {
    clientOffset += PAGE;
    refreshClients();
  });

  // ---- retained messages ----

  let retainedOffset = 0;

  async function refreshRetained() {
    const filter = $('retained-filter').value.trim() || '#';
    try {
      const page = await api('api/v1/retained?filter=' + encodeURIComponent(filter) + '&offset=' + retainedOffset + '&limit=' + PAGE);
      renderRetained(page);
      if ($('retained-state').classList.contains('error')) $('retained-state').textContent = '';
      $('retained-state').classList.remove('error');
    } catch (err) {
      $('retained-rows').textContent = '';
      $('retained-state').textContent = err.message;
      $('retained-state').classList.add('error');
    }
  }

  function renderRetained(page) {
    const body = $('retained-rows');
    body.textContent = '';
    for (const m of page.items) {
      const row = document.createElement('tr');
      row.dataset.topic = m.topic;
      const topic = cell(row, m.topic, 'mono link');
      topic.title = 'show the whole message';
      topic.addEventListener('click', () => showRetained(m.topic));
      cell(row, m.qos);
      cell(row, m.size);
      cell(row, (m.encoding === 'base64' ? 'base64: ' : '') + m.payload + (m.truncated ? '…' : ''), 'payload');
      actionButton(row, 'Delete', 'Clear the retained message of ' + m.topic, () => removeRetained(m.topic));
      body.appendChild(row);
    }
    const last = Math.min(page.offset + page.items.length, page.total);
    $('retained-count').textContent = page.total === 0 ? 'none' : page.offset + 1 + '–' + last + ' of ' + page.total;
    $('retained-prev').disabled = page.offset === 0;
    $('retained-next').disabled = last >= page.total;
  }

  async function showRetained(topic) {
    const detail = $('retained-detail');
    try {
      const m = await api('api/v1/retained/message?topic=' + encodeURIComponent(topic));
      const facts = [m.topic, 'QoS ' + m.qos + ', ' + m.size + ' bytes' + (m.contentType ? ', ' + m.contentType : '') + (m.expiresAt ? ', expires ' + new Date(m.expiresAt).toLocaleString() : '')];
      detail.textContent = facts.join('\n') + '\n\n' + (m.encoding === 'base64' ? '(base64) ' : '') + m.payload;
    } catch (err) {
      detail.textContent = err.message;
    }
    detail.hidden = false;
  }

  async function removeRetained(topic) {
    if (!window.confirm('Clear the retained message of ' + topic + '?')) return;
    try {
      await api('api/v1/retained/message?topic=' + encodeURIComponent(topic), { method: 'DELETE' });
      $('retained-state').textContent = 'cleared ' + topic;
    } catch (err) {
      $('retained-state').textContent = 'could not clear ' + topic + ': ' + err.message;
    }
    $('retained-detail').hidden = true;
    refreshRetained();
  }

  $('retained-search').addEventListener('submit', (event) => {
    event.preventDefault();
    retainedOffset = 0;
    refreshRetained();
  });
  $('retained-prev').addEventListener('click', () => {
    retainedOffset = Math.max(0, retainedOffset - PAGE);
    refreshRetained();
  });
  $('retained-next').addEventListener('click', () => {
    retainedOffset += PAGE;
    refreshRetained();
  });

  // A client came or went: show it now rather than at the next refresh
  let connected = null;
  window.addEventListener('midge:status', (event) => {
    if (connected !== null && event.detail.clients.connected !== connected) refreshClients();
    connected = event.detail.clients.connected;
  });

  // Signing in or out changes what may be read and done: read everything again
  onAuthChange(() => {
    refreshHistory();
    refreshClients();
    refreshRetained();
  });
})();
