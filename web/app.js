// app.js — the dashboard's start: signing in with a person's API token,
// the views (#/ overview, #/device/ID), the one live event stream that
// feeds them, signing out.
import { get, stream, token, setToken, clearToken, ApiError } from './api.js';
import { loadDevices, applyEvent, tick, showDevice, leaveDevice, clearDevice, clearDevices } from './devices.js';
import { loadCharts, stopCharts, chartEvent } from './charts.js';

const $ = (id) => document.getElementById(id);
let live = null;
let streamIds = '';
let broken = false; // the stream failed since it was last live

function show(view) {
  for (const v of ['signin-view', 'overview-view', 'device-view']) $(v).hidden = v !== view;
  $('nav').hidden = view === 'signin-view';
}

function setLive(state) {
  // Live again after a break (iot-httpd restarted, PostgreSQL back): the
  // stream replays nothing, so what was stored meanwhile is read anew.
  if (state === 'retrying') broken = true;
  const back = state === 'live' && broken;
  if (back) broken = false;
  const text = { connecting: 'Live: connecting…', live: 'Live', retrying: 'Live: reconnecting…', denied: 'Live: refused', off: 'Live: off' };
  $('live').textContent = text[state] || state;
  $('live').dataset.state = state;
  document.body.dataset.live = state;
  if (state === 'denied') signOut('Your token is no longer accepted: sign in again.');
  if (back) route();
}

function onEvent(ev) {
  applyEvent(ev);
  chartEvent(ev);
}

// The stream over the devices listed: opened again when the list changes.
function follow(ids) {
  const key = ids.join(',');
  if (live && key === streamIds) return;
  if (live) live.close();
  streamIds = key;
  live = stream('/api/v1/dashboard/stream', onEvent, setLive);
}

function failed(where, e) {
  if (e instanceof ApiError && e.status === 401) {
    signOut('Your token is no longer accepted: sign in again.');
    return;
  }
  $(where).textContent = `Could not load: ${e.message}`;
}

async function route() {
  if (!token()) {
    show('signin-view');
    return;
  }
  const m = /^#\/device\/(\d+)$/.exec(location.hash);
  try {
    if (m) {
      show('device-view');
      await showDevice(Number(m[1]));
    } else {
      leaveDevice();
      document.title = 'IoTFlow';
      show('overview-view');
      follow(await loadDevices());
      await loadCharts();
    }
  } catch (e) {
    failed(m ? 'device-status' : 'devices-status', e);
  }
  if (!m) return;
  if (!live) follow([]);
}

function signOut(message) {
  clearToken();
  if (live) live.close();
  live = null;
  streamIds = '';
  broken = false;
  // What this person saw goes with the token: whoever signs in next in
  // this tab sees nothing of it, even while their own is loading.
  stopCharts(true);
  clearDevices();
  clearDevice();
  setLiveText();
  $('signin-error').textContent = message || '';
  $('token').value = '';
  show('signin-view');
  $('token').focus();
}

function setLiveText() {
  $('live').textContent = 'Live: off';
  $('live').dataset.state = 'off';
  document.body.dataset.live = 'off';
}

async function signIn(ev) {
  ev.preventDefault();
  const t = $('token').value.trim();
  const err = $('signin-error');
  err.textContent = '';
  if (!t) {
    err.textContent = 'Enter your API token.';
    $('token').focus();
    return;
  }
  try {
    await get('/api/v1/dashboard/devices?limit=1', t);
  } catch (e) {
    err.textContent = e instanceof ApiError && (e.status === 401 || e.status === 403)
      ? 'This token was not accepted. Check it with "iot-user token list", or make a new one with "iot-user token create".'
      : `Could not sign in: ${e.message}`;
    $('token').select();
    return;
  }
  setToken(t);
  $('token').value = '';
  $('main').focus();
  if (location.hash !== '#/' && !/^#\/device\/\d+$/.test(location.hash)) location.hash = '#/'; // route() by hashchange
  else await route();
}

// The list again every minute: devices that went quiet turn offline (the
// server's online window decides), new devices join the stream.
async function relist() {
  if (!token() || $('overview-view').hidden) return;
  try {
    follow(await loadDevices());
  } catch (e) {
    failed('devices-status', e);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', () => signOut('Signed out.'));
  window.addEventListener('hashchange', route);
  setInterval(tick, 5000);
  setInterval(relist, 60000);
  route();
});
