// Midge dashboard, core: the admin API client and sign-in, the figures from /status.json, and the
// live view over Midge's own WebSocket listener (MQTT.js). panels.js adds charts, clients and retained messages.
/* global mqtt */
'use strict';
(function () {
  const POLL_MS = 2000;
  const MAX_ROWS = 200;
  const TOKEN_KEY = 'midge.token';
  const $ = (id) => document.getElementById(id);
  let previous = null;
  let websocket = null;
  let client = null;
  let token = sessionStorage.getItem(TOKEN_KEY);
  let who = null;
  const authListeners = [];

  /** Calls the admin API (paths relative to the page); throws an Error with the server's message. */
  async function api(path, options) {
    const opts = options || {};
    const headers = {};
    const sentWith = token;
    if (token) headers.authorization = 'Bearer ' + token;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method: opts.method || 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), cache: 'no-store' });
    const body = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const err = new Error((body && body.message) || 'HTTP ' + res.status);
      err.status = res.status;
      // Only a refusal of the credentials in use now signs out (not one of a request sent before signing in)
      if (res.status === 401 && sentWith === token) signedOut();
      throw err;
    }
    return body;
  }

  function setState(id, text, kind) {
    const el = $(id);
    el.textContent = text;
    el.className = 'state ' + (kind || '');
  }

  function notice(text) {
    $('notice').textContent = text || '';
    $('notice').hidden = !text;
  }

  function duration(seconds) {
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
  }

  const plural = (n, one, many) => n + ' ' + (n === 1 ? one : many);

  // ---- who is signed in ----

  function showWho() {
    const signedIn = who && who.kind !== 'anonymous';
    $('who').textContent = !who ? 'signed out' : signedIn ? who.name + ' (' + who.role + ')' : 'anonymous, read-only';
    $('sign-in-open').hidden = Boolean(signedIn);
    $('sign-out').hidden = !signedIn;
    document.body.classList.toggle('can-act', canAct());
    authListeners.forEach((fn) => fn(who));
  }

  function canAct() {
    return Boolean(who && who.role === 'admin' && !who.readOnly);
  }

  async function refreshWho() {
    try {
      who = await api('api/v1/whoami');
      notice('');
    } catch (err) {
      who = null;
      if (err.status === 401) notice('Sign in to see the broker: this Midge has API tokens or users.');
      else notice(err.message);
    }
    showWho();
  }

  function signedOut() {
    if (token) sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    if (who) {
      who = null;
      showWho();
    }
  }

  async function signIn(event) {
    event.preventDefault();
    const username = $('sign-in-user').value.trim();
    const password = $('sign-in-password').value;
    const typedToken = $('sign-in-token').value.trim();
    $('sign-in-error').textContent = '';
    try {
      if (typedToken) {
        token = typedToken;
      } else {
        token = null;
        const login = await api('api/v1/login', { method: 'POST', body: { username, password } });
        token = login.token;
      }
      who = await api('api/v1/whoami');
      sessionStorage.setItem(TOKEN_KEY, token);
      $('sign-in-form').reset();
      $('sign-in').close();
      notice('');
      showWho();
      poll();
    } catch (err) {
      token = null;
      $('sign-in-error').textContent = err.status === 401 ? 'Bad user name, password or token.' : err.message;
    }
  }

  async function signOut() {
    await api('api/v1/logout', { method: 'POST' }).catch(() => undefined);
    signedOut();
    await refreshWho();
  }

  // ---- figures ----

  function render(status, now) {
    $('version').textContent = 'v' + status.version;
    $('uptime').textContent = duration(status.uptimeSeconds);
    $('clients').textContent = status.clients.connected;
    $('sessions').textContent = plural(status.clients.sessions, 'session', 'sessions');
    $('total-in').textContent = status.messages.received + ' total';
    $('total-out').textContent = status.messages.sent + ' total';
    if (previous) {
      const seconds = Math.max((now - previous.at) / 1000, 0.001);
      $('rate-in').textContent = ((status.messages.received - previous.status.messages.received) / seconds).toFixed(1);
      $('rate-out').textContent = ((status.messages.sent - previous.status.messages.sent) / seconds).toFixed(1);
    }
    previous = { status, at: now };
    $('retained').textContent = status.retained;
    $('subscriptions').textContent = plural(status.subscriptions, 'subscription', 'subscriptions');
    $('queued').textContent = status.queued + ' / ' + status.inflight;
    $('dropped').textContent = status.messages.dropped + ' dropped';
    const store = status.store;
    $('store').textContent = store.kind + (store.dataDir ? ' in ' + store.dataDir + ', durability ' + store.durability : '') + ', ' + plural(store.errors, 'error', 'errors');
    const sinks = (status.bridge && status.bridge.sinks) || [];
    $('bridge').textContent = sinks.length === 0 ? 'no bridge configured' : sinks.map((s) => s.name + ': ' + s.state + (s.lag !== undefined ? ', lag ' + s.lag : '')).join('; ');
    const links = status.mqttBridges || [];
    $('mqtt-bridges').textContent = links.length === 0 ? 'no MQTT bridge configured' : links.map((b) =>
      b.name + ': ' + b.state + (b.state !== 'connected' && b.reason ? ' (' + b.reason + ')' : '') +
      ', backlog ' + b.backlog.messages + ' (' + b.backlog.bytes + ' B)' +
      ', out ' + b.forwarded.out + ', in ' + b.forwarded.in + ', dropped ' + b.dropped).join('; ');
    websocket = status.websocket;
    window.dispatchEvent(new CustomEvent('midge:status', { detail: status }));
  }

  let pollTimer = null;
  async function poll() {
    clearTimeout(pollTimer);
    try {
      render(await api('status.json'), Date.now());
      setState('state', 'up', 'ok');
    } catch (err) {
      setState('state', err.status === 401 ? 'sign in required' : err.status ? err.message : 'unreachable: ' + err.message, 'bad');
    }
    pollTimer = setTimeout(poll, POLL_MS);
  }

  // ---- live view ----

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
    const username = $('live-username').value.trim();
    const password = $('live-password').value;
    setState('live-state', 'connecting to ' + url + (username ? ' as ' + username : ''));
    const options = { protocolVersion: 5, clean: true, reconnectPeriod: 2000, connectTimeout: 5000 };
    if (username) options.username = username;
    if (password) options.password = password;
    const live = mqtt.connect(url, options);
    client = live;
    live.on('connect', () => {
      live.subscribe(filter, { qos: 0 }, (err, granted) => {
        const refused = err || !granted || granted.some((g) => g.qos >= 0x80);
        setState('live-state', refused ? 'subscription to ' + filter + ' refused' : 'subscribed to ' + filter, refused ? 'bad' : 'ok');
      });
    });
    live.on('message', (topic, payload, packet) => addRow(topic, new TextDecoder().decode(payload), packet));
    live.on('error', (err) => {
      setState('live-state', 'error: ' + err.message, 'bad');
      // A refused CONNECT (bad user name or password, not authorized) is not retried: fix the fields and subscribe again
      if (typeof err.code === 'number' && live === client) live.end(true);
    });
    live.on('offline', () => {
      if (live === client && !live.disconnecting) setState('live-state', 'disconnected, retrying', 'bad');
    });
  }

  $('live-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const filter = $('filter').value.trim();
    if (filter) subscribe(filter);
  });
  $('sign-in-open').addEventListener('click', () => $('sign-in').showModal());
  $('sign-in-cancel').addEventListener('click', () => $('sign-in').close());
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);

  window.midgeDashboard = {
    api,
    canAct,
    duration,
    onAuthChange: (fn) => authListeners.push(fn),
  };
  refreshWho().then(() => poll());
})();
