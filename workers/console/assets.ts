/**
 * The console's stylesheet and script, served from `/admin/static/` (the CSP allows scripts and
 * styles from the Worker only, so nothing is inline). No build step: plain CSS and ES2020.
 */
export const consoleCss = `
:root { color-scheme: light dark; --accent: #2f6fdf; --bad: #c0392b; --good: #2e8b57; --warn: #c98a00; --line: #8884; font: 15px/1.45 system-ui, sans-serif; }
body { margin: 0; }
header { display: flex; gap: 2rem; align-items: center; padding: .6rem 1.5rem; border-bottom: 1px solid var(--line); }
nav { display: flex; gap: 1.2rem; align-items: center; flex: 1; }
nav a[aria-current=page] { font-weight: 600; text-decoration: none; }
nav form { margin-left: auto; }
main { padding: 1rem 1.5rem 3rem; max-width: 72rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 1rem; margin: 1rem 0; }
.narrow { max-width: 26rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: 1rem; }
.cards b { display: block; font-size: 1.5rem; }
label { display: block; margin: .4rem 0; }
input:not([type=radio]):not([type=checkbox]), textarea, select { display: block; width: 100%; box-sizing: border-box; padding: .35rem; font: inherit; }
.row { display: flex; gap: 1rem; flex-wrap: wrap; align-items: end; }
.row > label { flex: 1; min-width: 10rem; }
.row > .grow { flex: 3; }
.filter select { min-width: 14rem; }
button { font: inherit; padding: .4rem 1rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.link { background: none; border: none; color: var(--accent); padding: 0; }
button.danger { background: var(--bad); border-color: var(--bad); }
.actions { display: flex; gap: .6rem; margin: 1rem 0; }
.progress { display: flex; gap: .6rem; align-items: center; }
progress { width: 100%; min-width: 8rem; height: 1.1rem; }
.campaign progress { height: 1.6rem; }
.counters { display: flex; gap: 1.5rem; flex-wrap: wrap; }
.counters dt { font-size: .8rem; opacity: .7; }
.counters dd { margin: 0; font-size: 1.3rem; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; }
svg[data-chart] { width: 100%; height: 140px; border: 1px solid var(--line); border-radius: 6px; }
svg[data-chart] polyline { fill: none; stroke: var(--accent); stroke-width: 2; vector-effect: non-scaling-stroke; }
svg[data-chart] line { stroke: var(--good); stroke-width: 1; stroke-dasharray: 6 4; vector-effect: non-scaling-stroke; }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 1rem; border: 1px solid var(--line); font-size: .85rem; }
.badge.online, .badge.succeeded, .badge.completed { color: var(--good); }
.badge.offline, .badge.dead, .badge.failed { color: var(--bad); }
.badge.warning, .badge.running, .badge.queued { color: var(--warn); }
.notice { padding: .6rem 1rem; border-left: 4px solid var(--good); }
.error { padding: .6rem 1rem; border-left: 4px solid var(--bad); }
.error-text { color: var(--bad); }
ul.plain { list-style: none; padding: 0; }
pre { overflow: auto; font-size: .8rem; }
.method { font-family: monospace; padding: 0 .4rem; border-radius: 4px; border: 1px solid var(--line); }
`;

export const consoleJs = `'use strict';
// Live campaign progress: each element with data-events follows its campaign's server-sent events
// (the operations page's cards follow the dashboard's the same way: their data-field values).
// Browsers keep at most 6 connections per host, so at most 4 streams are opened per page.
(() => {
  const HISTORY = 120;

  function follow(el) {
    const source = new EventSource(el.dataset.events);
    const line = el.querySelector('[data-line]');
    const samples = [];
    // A campaign counts sent, failed, blocked and unknown; a bulk job processed and failed.
    const bulk = el.dataset.kind === 'bulk';
    const show = (c) => {
      const done = bulk ? c.processed + c.failed : c.sent + c.failed + c.blocked + c.unknown;
      el.dataset.status = c.status;
      samples.push({ t: performance.now(), done });
      if (samples.length > HISTORY + 1) samples.shift();
      const rates = samples.slice(1).map((s, i) => ((s.done - samples[i].done) * 1000) / Math.max(s.t - samples[i].t, 1));
      const now = rates.length ? rates[rates.length - 1] : 0;
      for (const f of el.querySelectorAll('[data-field]')) {
        const key = f.dataset.field;
        if (key === 'progress') {
          f.max = Math.max(c.total, 1);
          f.value = c.total === 0 ? (c.status === 'completed' ? 1 : 0) : done;
        } else if (key === 'percent') {
          f.textContent = (c.total === 0 ? (c.status === 'completed' ? 100 : 0) : Math.floor((done / c.total) * 100)) + '%';
        } else if (key === 'rate') {
          f.textContent = now.toFixed(1);
        } else if (key in c) {
          f.textContent = String(c[key]);
        }
      }
      // Only the actions the live status allows (a campaign that completes loses Pause and Cancel).
      for (const form of el.querySelectorAll('[data-when]')) form.hidden = !form.dataset.when.split(' ').includes(c.status);
      if (line) {
        const top = Math.max(c.rate_per_second || 0, ...rates, 1) * 1.1;
        const limit = el.querySelector('[data-limit]');
        if (limit && c.rate_per_second) {
          const y = (120 - (c.rate_per_second / top) * 115).toFixed(1);
          limit.setAttribute('y1', y);
          limit.setAttribute('y2', y);
        }
        // The x axis grows with the run up to HISTORY seconds, then scrolls.
        const span = Math.max(rates.length - 1, 30);
        line.setAttribute('points', rates.map((r, i) => ((i * 600) / span).toFixed(1) + ',' + (120 - (r / top) * 115).toFixed(1)).join(' '));
      }
    };
    source.addEventListener('progress', (e) => show(JSON.parse(e.data)));
    source.addEventListener('done', (e) => {
      show(JSON.parse(e.data));
      source.close();
    });
  }

  document.querySelectorAll('[data-events]').forEach((el, i) => {
    if (i < 4) follow(el);
  });

  // Forms that ask first (cancel a campaign).
  document.addEventListener('submit', (e) => {
    const question = e.target.dataset && e.target.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });
})();
`;

/** A flare: the tab's icon. */
export const favicon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M8 1 C11 5 13 7 13 10 A5 5 0 0 1 3 10 C3 7 5 5 8 1Z" fill="#e8590c"/></svg>`;
