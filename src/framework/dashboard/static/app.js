// The tsetcd dashboard page: renders the scheduler's snapshots (pushed over SSE) and sends the
// user's verbs to the scheduler's /v1 API. Plain browser JavaScript, no dependencies.
'use strict';

const POD_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];
const LAT_COLORS = { p50: '#59a14f', p90: '#f28e2b', p99: '#e15759', walP99: '#4e79a7' };
/** Messages kept on the page at once; older ones drop off. */
const MESSAGES_MAX = 6;
const INFO_MS = 30_000;

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const badge = (text, cls) => `<span class="badge s-${esc(cls ?? text)}">${esc(text)}</span>`;

let last = null;

// ------------------------------------------------------------------ messages

function message(kind, text, key) {
  const box = $('#messages');
  if (key !== undefined) { const old = box.querySelector(`[data-key="${CSS.escape(key)}"]`); if (old !== null) { old.querySelector('span').textContent = text; return; } }
  const el = document.createElement('div');
  el.className = `msg ${kind}`;
  if (key !== undefined) el.dataset.key = key;
  el.innerHTML = `<span></span><button type="button" title="dismiss">×</button>`;
  el.querySelector('span').textContent = text;
  el.querySelector('button').onclick = () => el.remove();
  // Acknowledgements go by themselves; errors stay until dismissed.
  if (kind === 'info') setTimeout(() => el.remove(), INFO_MS);
  box.appendChild(el);
  while (box.children.length > MESSAGES_MAX) box.firstElementChild.remove();
}

/** Messages that come from the snapshot (member unreachable, rejected config) live as long as
 *  the condition does; the page replaces them on every snapshot. */
function stateMessages(errors) {
  const box = $('#messages');
  for (const el of [...box.querySelectorAll('[data-state]')]) el.remove();
  for (const e of errors) {
    const el = document.createElement('div');
    el.className = 'msg error';
    el.dataset.state = '1';
    el.innerHTML = '<span></span>';
    el.querySelector('span').textContent = e;
    box.prepend(el);
  }
}

// ------------------------------------------------------------------ verbs

function confirmDialog(title, text, label) {
  return new Promise((resolve) => {
    const m = $('#confirm');
    $('#confirm-title').textContent = title;
    $('#confirm-text').textContent = text;
    $('.confirm', m).textContent = label;
    m.hidden = false;
    const done = (v) => { m.hidden = true; $('.confirm', m).onclick = null; $('.cancel', m).onclick = null; resolve(v); };
    $('.confirm', m).onclick = () => done(true);
    $('.cancel', m).onclick = () => done(false);
  });
}

const POD_VERBS = {
  restart: { label: 'restart', confirm: null },
  replace: { label: 'replace', confirm: (p) => [`Replace ${p}?`, `This destroys ${p}'s sandbox and all of its data, removes its member from the cluster and starts a new, empty member in its place that copies the data from the others. Replace one pod at a time, and only while the others are healthy.`, `Replace ${p}`] },
  pause: { label: 'pause', confirm: (p) => [`Pause ${p} for debugging?`, `The member of ${p} is stopped and a sleeper keeps the pod, with its sandbox, until you resume it. The cluster runs with one member less meanwhile.`, `Pause ${p}`] },
  resume: { label: 'resume', confirm: null },
};

async function send(method, path, what) {
  try {
    const r = await fetch(path, { method });
    let body = {};
    try { body = await r.json(); } catch { /* not JSON */ }
    if (!r.ok) { message('error', `${what} refused (HTTP ${r.status}): ${body.message ?? r.statusText}`); return false; }
    message('info', `${what}: ${body.message ?? 'accepted'}`);
    return true;
  } catch (err) {
    message('error', `${what} failed: the scheduler did not answer (${err.message})`);
    return false;
  }
}

document.addEventListener('click', async (ev) => {
  const b = ev.target.closest('button[data-verb]');
  if (b === null) return;
  const verb = b.dataset.verb;
  if (b.dataset.pod !== undefined) {
    const pod = b.dataset.pod;
    const v = POD_VERBS[verb];
    if (v.confirm !== null && !(await confirmDialog(...v.confirm(pod)))) return;
    await send('POST', `/v1/pod/${encodeURIComponent(pod)}/${verb}`, `${verb} ${pod}`);
    return;
  }
  if (b.dataset.plan !== undefined) {
    const q = new URLSearchParams();
    if (b.dataset.phase) q.set('phase', b.dataset.phase);
    if (b.dataset.step) q.set('step', b.dataset.step);
    const label = `${verb === 'interrupt' ? 'pause' : verb === 'continue' ? 'resume' : verb} plan ${b.dataset.plan}${b.dataset.step ? ` step ${b.dataset.step}` : ''}`;
    await send('POST', `/v1/plans/${encodeURIComponent(b.dataset.plan)}/${verb}${q.size > 0 ? `?${q}` : ''}`, label);
  }
});

// ------------------------------------------------------------------ rendering

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}

function renderService(s) {
  $('#service-name').textContent = s.name;
  document.title = `${s.name} · tsetcd`;
  const ready = last.pods.filter((p) => p.state === 'RUNNING').length;
  const facts = [
    ['VIP', `${s.options.etcd.tls_enabled ? 'https' : 'http'}://${s.vip}`],
    ['TLS', s.tls],
    ['pods', `${ready} of ${last.pods.length} running`],
    ['configuration', `#${s.configId}${s.deployed ? '' : ' (first deploy not complete)'}`],
    ['scheduler API', location.origin + '/v1/'],
  ];
  $('#service-facts').innerHTML = facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd data-fact="${esc(k)}">${esc(v)}</dd>`).join('');
  const rows = [];
  for (const [g, props] of Object.entries(s.options)) {
    for (const [k, v] of Object.entries(props)) {
      const set = s.userOptions?.[g] !== undefined && Object.prototype.hasOwnProperty.call(s.userOptions[g], k);
      rows.push(`<tr class="${set ? 'set' : 'default'}"><td>${esc(g)}.${esc(k)}</td><td class="v">${esc(JSON.stringify(v))}</td><td>${set ? 'set' : 'default'}</td></tr>`);
    }
  }
  $('#options-table').innerHTML = rows.join('');
}

function renderPlans(plans) {
  $('#plan-list').innerHTML = plans.map((p) => {
    const b = p.body;
    // Both, always: a plan paused while COMPLETE looks COMPLETE, and must still be resumable.
    const verbs = p.verbs ? `<span class="buttons"><button type="button" data-verb="interrupt" data-plan="${esc(p.name)}">pause</button><button type="button" data-verb="continue" data-plan="${esc(p.name)}">resume</button></span>` : '';
    const phases = b.phases.length === 0 ? '<div class="phase empty">no steps (nothing to recover)</div>' : b.phases.map((ph) => `
      <div class="phase" data-phase="${esc(ph.name)}">
        <div class="phase-head"><span>${esc(ph.name)}</span><span class="strategy">${esc(ph.strategy)}</span>${badge(ph.status)}</div>
        <ul class="steps">${ph.steps.map((st) => `<li data-step="${esc(st.name)}">${badge(st.status)}<span class="mono">${esc(st.name)}</span>${st.message && st.status !== 'COMPLETE' ? `<span class="msg">${esc(st.message)}</span>` : ''}${p.verbs && st.status !== 'COMPLETE' ? `<button type="button" data-verb="restart" data-plan="${esc(p.name)}" data-phase="${esc(ph.name)}" data-step="${esc(st.name)}">force-restart</button>` : ''}</li>`).join('')}</ul>
      </div>`).join('');
    const errors = b.errors.length > 0 ? `<div class="err">${b.errors.map(esc).join('<br>')}</div>` : '';
    return `<div class="plan" id="plan-${esc(p.name)}" data-status="${esc(b.status)}">
      <div class="plan-head"><span class="name">${esc(p.title)}</span><span class="strategy">${esc(b.strategy)} strategy</span>${badge(b.status)}${verbs}</div>
      ${phases}${errors}</div>`;
  }).join('');
}

function renderPods(pods) {
  $('#pod-table tbody').innerHTML = pods.map((p) => {
    const health = p.state === 'PAUSED' || p.kind !== 'member' ? badge('–', 'idle') : p.healthy ? badge('healthy') : badge('unhealthy');
    const ready = p.ready ? badge('ready') : badge('not ready', 'not-ready');
    const role = p.leader ? '<span class="badge leader">leader</span>' : p.raftTerm !== null ? '<span class="mono">follower</span>' : '–';
    const busy = p.busy ? ` <span class="mono">(${esc(p.busy)}…)</span>` : '';
    const alarms = p.alarms.length > 0 ? p.alarms.map((a) => badge(a, 'alarm')).join(' ') : '<span class="mono">none</span>';
    const verbs = ['restart', 'replace', p.goal === 'PAUSED' ? 'resume' : 'pause'].map((v) =>
      `<button type="button" data-verb="${v}" data-pod="${esc(p.name)}"${v === 'replace' ? ' class="danger"' : ''}>${v}</button>`).join('');
    const problems = [p.error, p.lastError].filter((x) => x);
    return `<tr class="pod-row" data-pod="${esc(p.name)}" data-state="${esc(p.state)}" data-healthy="${p.healthy}" data-leader="${p.leader}" data-member-id="${esc(p.memberId ?? '')}">
      <td><strong>${esc(p.name)}</strong><div class="mono">${esc(p.taskName)}${p.pid ? ` pid ${p.pid}` : ''}</div></td>
      <td class="state">${badge(p.state)}${busy}</td>
      <td class="health">${health}</td>
      <td class="ready">${ready}</td>
      <td class="role">${role}</td>
      <td class="mono member-id">${esc(p.memberId ?? '–')}</td>
      <td class="mono">${esc(p.clientUrl)}<br>${esc(p.peerUrl)}</td>
      <td class="mono raft">${p.raftTerm ?? '–'} / ${p.raftIndex ?? '–'}</td>
      <td class="mono db">${bytes(p.dbSizeBytes)}</td>
      <td class="alarms">${alarms}</td>
      <td class="actions">${verbs}</td>
    </tr>${problems.length > 0 ? `<tr class="pod-err" data-pod-error="${esc(p.name)}"><td></td><td colspan="10" class="err">${problems.map(esc).join('<br>')}</td></tr>` : ''}`;
  }).join('');
}

// ------------------------------------------------------------------ plots

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** lines: [{name, color, values: (number|null)[]}], t: ms timestamps. */
function plot(name, t, lines, fmt, minMax = 0) {
  const svg = $(`svg[data-plot="${name}"]`);
  const W = 420, H = 170, L = 46, R = 8, T = 8, B = 20;
  let max = 0;
  for (const l of lines) for (const v of l.values) if (v !== null && v > max) max = v;
  max = niceMax(Math.max(max, minMax));
  const t0 = t.length > 0 ? t[0] : 0, t1 = t.length > 1 ? t[t.length - 1] : t0 + 1;
  const x = (ms) => L + ((ms - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  let out = '';
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    out += `<line class="grid" x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}"/><text x="${L - 4}" y="${y(v) + 3}" text-anchor="end">${esc(fmt(v))}</text>`;
  }
  if (t.length > 1) {
    const span = Math.round((t1 - t0) / 1000);
    out += `<text x="${L}" y="${H - 5}">-${span}s</text><text x="${W - R}" y="${H - 5}" text-anchor="end">now</text>`;
  } else out += `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">collecting…</text>`;
  for (const l of lines) {
    let seg = [];
    const flush = () => { if (seg.length > 0) out += `<polyline data-series="${esc(l.name)}" stroke="${l.color}" points="${seg.join(' ')}"/>`; seg = []; };
    l.values.forEach((v, i) => { if (v === null) flush(); else seg.push(`${x(t[i]).toFixed(1)},${y(v).toFixed(1)}`); });
    if (seg.length === 1) seg.push(seg[0]);
    flush();
  }
  svg.innerHTML = out;
  $(`[data-legend="${name}"]`).innerHTML = lines.map((l) => {
    const lastV = [...l.values].reverse().find((v) => v !== null);
    return `<span><i style="background:${l.color}"></i>${esc(l.name)}${lastV !== undefined ? ` ${esc(fmt(lastV))}` : ''}</span>`;
  }).join('');
}

function renderPlots(series, pods) {
  const t = series.tMs;
  const perPod = (rec) => pods.map((p, i) => ({ name: p.name, color: POD_COLORS[i % POD_COLORS.length], values: rec[p.name] ?? [] }));
  const num = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2).replace(/\.?0+$/, '') || '0');
  plot('proposals', t, perPod(series.proposalsPerSec), num);
  plot('latency', t, Object.entries(LAT_COLORS).map(([k, c]) => ({ name: k === 'walP99' ? 'WAL fsync p99' : k, color: c, values: series.latencyMs[k] })), num);
  plot('leader', t, [{ name: 'changes', color: '#6b4fbb', values: series.leaderChanges }], (v) => v.toFixed(0), 4);
  plot('dbsize', t, perPod(series.dbBytes), bytes);
}

function render(snap) {
  last = snap;
  renderService(snap.service);
  renderPlans(snap.plans);
  renderPods(snap.pods);
  renderPlots(snap.series, snap.pods);
  stateMessages(snap.errors);
  document.body.dataset.updated = String(snap.generatedAtMs);
}

// ------------------------------------------------------------------ live updates

function connect() {
  const conn = $('#conn');
  const es = new EventSource('api/events');
  es.addEventListener('snapshot', (ev) => {
    conn.className = 'conn conn-live';
    conn.textContent = 'live';
    try { render(JSON.parse(ev.data)); } catch (err) { message('error', `could not show the scheduler's data: ${err.message}`, 'render'); }
  });
  es.onerror = () => {
    conn.className = 'conn conn-lost';
    conn.textContent = 'disconnected: retrying';
    if (es.readyState === EventSource.CLOSED) { es.close(); setTimeout(connect, 2000); }
  };
}

connect();
