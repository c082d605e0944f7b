// devices.js — the device list (online state, last seen, latest values,
// kept up to date from the event stream) and the page of one device (its
// latest values, recent telemetry, keys and pending commands).
import { get, el, parseTs, formatValue, timeEl, ago } from './api.js';

const devices = new Map(); // id -> device object of /api/v1/dashboard/devices

function latestList(latest) {
  const names = Object.keys(latest || {}).sort();
  if (!names.length) return el('span', { class: 'muted', text: 'no telemetry yet' });
  const ul = el('ul', { class: 'values' });
  for (const n of names) {
    const v = latest[n];
    ul.append(el('li', { 'data-measurement': n },
      el('span', { class: 'name', text: n }), ' ',
      el('span', { class: 'value', text: formatValue(v && v.value) })));
  }
  return ul;
}

function stateEl(d) {
  const online = !!d.is_online;
  const text = d.status && d.status !== 'active' ? `${online ? 'online' : 'offline'}, ${d.status}` : (online ? 'online' : 'offline');
  return el('span', { class: `state ${online ? 'on' : 'off'}`, text });
}

function row(d) {
  const link = el('a', { href: `#/device/${d.id}`, text: d.name });
  return el('tr', { 'data-device-id': String(d.id) },
    el('th', { scope: 'row', 'data-label': 'Device' }, link,
      el('span', { class: 'muted type', text: d.device_type ? ` ${d.device_type}` : '' })),
    el('td', { 'data-label': 'State', class: 'state-cell' }, stateEl(d)),
    el('td', { 'data-label': 'Last seen', class: 'seen' }, timeEl(parseTs(d.last_seen))),
    el('td', { 'data-label': 'Latest values', class: 'latest' }, latestList(d.latest)));
}

function renderRow(d) {
  const tbody = document.querySelector('#devices tbody');
  const old = tbody.querySelector(`tr[data-device-id="${d.id}"]`);
  const r = row(d);
  if (old) old.replaceWith(r);
  else tbody.append(r);
}

// Load the list; returns the ids (sorted) so the caller can tell whether
// the stream must be opened again.
export async function loadDevices() {
  const status = document.getElementById('devices-status');
  const body = await get('/api/v1/dashboard/devices?limit=1000');
  devices.clear();
  const tbody = document.querySelector('#devices tbody');
  tbody.replaceChildren();
  for (const d of body.devices) {
    devices.set(d.id, d);
    renderRow(d);
  }
  const total = body.meta ? body.meta.total : body.devices.length;
  status.textContent = body.devices.length
    ? `${body.devices.length} of ${total} devices; ${body.devices.filter((d) => d.is_online).length} online.`
    : 'No devices yet: add one with iot-device add.';
  return body.devices.map((d) => d.id).sort((a, b) => a - b);
}

// Refresh the "ago" texts (every few seconds).
export function tick() {
  for (const t of document.querySelectorAll('time[datetime]')) {
    t.textContent = ago(new Date(t.getAttribute('datetime')));
  }
}

// One event of the stream: {"device_id","timestamp","data":{NAME:VALUE}}.
export function applyEvent(ev) {
  const d = devices.get(ev.device_id);
  if (d) {
    d.latest = d.latest || {};
    for (const [name, value] of Object.entries(ev.data || {})) {
      const cur = d.latest[name];
      const ts = parseTs(ev.timestamp);
      if (!cur || !parseTs(cur.timestamp) || (ts && ts >= parseTs(cur.timestamp))) {
        d.latest[name] = { value, timestamp: ev.timestamp };
      }
    }
    d.latest_at = ev.timestamp;
    // A point was just stored: the device was seen now, so it is online.
    d.last_seen = new Date().toISOString();
    d.is_online = true;
    renderRow(d);
  }
  if (current && current.id === ev.device_id) deviceEvent(ev);
}

// ---- the device page ----

let current = null; // the device shown, with its latest values

function cells(tbody, rows, empty, cols) {
  tbody.replaceChildren();
  if (!rows.length) {
    tbody.append(el('tr', {}, el('td', { colspan: String(cols), class: 'muted', text: empty })));
    return;
  }
  for (const r of rows) tbody.append(el('tr', {}, ...r.map((c) => (c instanceof Node ? el('td', {}, c) : el('td', { text: c })))));
}

function renderLatest() {
  const latest = current.latest || {};
  const rows = Object.keys(latest).sort().map((n) => [n, formatValue(latest[n].value), timeEl(parseTs(latest[n].timestamp))]);
  cells(document.querySelector('#device-latest tbody'), rows, 'No telemetry yet.', 3);
}

function recentRow(ts, values) {
  const text = Object.keys(values).sort().map((n) => `${n} ${formatValue(values[n])}`).join(', ');
  const d = parseTs(ts);
  return el('tr', {}, el('td', {}, el('time', { datetime: d ? d.toISOString() : null, text: d ? d.toLocaleString() : ts })),
    el('td', { text }));
}

function deviceEvent(ev) {
  current.latest = current.latest || {};
  for (const [n, v] of Object.entries(ev.data || {})) current.latest[n] = { value: v, timestamp: ev.timestamp };
  renderLatest();
  const tbody = document.querySelector('#device-recent tbody');
  const empty = tbody.querySelector('td[colspan]');
  if (empty) empty.parentElement.remove();
  tbody.prepend(recentRow(ev.timestamp, ev.data || {}));
  while (tbody.children.length > 100) tbody.lastElementChild.remove();
}

function fact(dl, name, value) {
  dl.append(el('dt', { text: name }), el('dd', {}, value instanceof Node ? value : document.createTextNode(value || '–')));
}

// The device page empty: nothing of a device shown before (another
// device, or another person's) stays while one loads or fails to.
export function clearDevice() {
  current = null;
  document.title = 'IoTFlow';
  document.getElementById('device-h').textContent = 'Device';
  document.getElementById('device-facts').replaceChildren();
  for (const t of ['device-latest', 'device-keys', 'device-commands', 'device-recent']) {
    document.querySelector(`#${t} tbody`).replaceChildren();
  }
  document.getElementById('device-status').textContent = '';
}

// The list empty (signing out: the next person sees nothing of it).
export function clearDevices() {
  devices.clear();
  document.querySelector('#devices tbody').replaceChildren();
  document.getElementById('devices-status').textContent = '';
}

export async function showDevice(id) {
  clearDevice();
  const status = document.getElementById('device-status');
  status.textContent = 'Loading…';
  const [one, recent, pending] = await Promise.all([
    get(`/api/v1/dashboard/devices/${id}`),
    get(`/api/v1/telemetry/${id}?start_time=-24h&limit=50`),
    get(`/api/v1/devices/${id}/control/pending`),
  ]);
  const d = one.device;
  current = d;
  document.getElementById('device-h').textContent = d.name;
  document.title = `${d.name} — IoTFlow`;
  const dl = document.getElementById('device-facts');
  dl.replaceChildren();
  fact(dl, 'State', stateEl(d));
  fact(dl, 'Last seen', timeEl(parseTs(d.last_seen)));
  fact(dl, 'Type', d.device_type);
  fact(dl, 'Location', d.location);
  fact(dl, 'Firmware', d.firmware_version);
  fact(dl, 'Id', String(d.id));
  renderLatest();
  cells(document.querySelector('#device-keys tbody'), one.keys.map((k) => [k.key_prefix, k.state,
    timeEl(parseTs(k.last_used)), String(k.usage_count ?? 0), k.expires_at ? parseTs(k.expires_at).toLocaleString() : '–']),
  'No keys.', 5);
  cells(document.querySelector('#device-commands tbody'), pending.map((c) => [c.command, c.status,
    timeEl(parseTs(c.created_at)), c.expires_at ? parseTs(c.expires_at).toLocaleString() : '–']),
  'No pending commands.', 4);
  const tbody = document.querySelector('#device-recent tbody');
  tbody.replaceChildren();
  for (const r of recent.data) tbody.append(recentRow(r.timestamp, r.measurements || {}));
  if (!recent.data.length) cells(tbody, [], 'Nothing in the last 24 hours.', 2);
  status.textContent = '';
}

export function leaveDevice() {
  current = null;
}
