/**
 * The dashboard's one script and one stylesheet, served from the app itself (no build step, no
 * CDN): the Content-Security-Policy allows scripts and styles from this origin only.
 */

/**
 * Long-polls the page's live endpoint with the last index it saw (the blocking query the agents
 * use: it answers when the cluster changes, or empty after a while) and swaps in the fragments it
 * gets; follows a log stream into a <pre>. Errors back off with jitter; a lost session signs out.
 */
export const APP_JS = `'use strict';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function followIndex(main) {
  let failures = 0;
  for (;;) {
    try {
      const res = await fetch(main.dataset.live + '?index=' + main.dataset.index, { headers: { Accept: 'application/json' } });
      if (res.status === 401) return location.assign('/ui/sign-in');
      if (!res.ok) throw new Error('live update answered ' + res.status);
      const body = await res.json();
      for (const [id, markup] of Object.entries(body.fragments)) {
        const el = document.getElementById(id);
        if (el) el.innerHTML = markup;
      }
      main.dataset.index = body.index;
      failures = 0;
    } catch (err) {
      failures++;
      await sleep(Math.min(30000, 500 * 2 ** failures) * (0.5 + Math.random()));
    }
  }
}
async function followLogs(pre) {
  const res = await fetch(pre.dataset.follow);
  if (!res.ok || !res.body) { pre.textContent = 'logs unavailable (' + res.status + ')'; return; }
  pre.textContent = '';
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = (pre.textContent + value).slice(-200000);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }
}
const main = document.querySelector('main[data-live]');
if (main) followIndex(main);
for (const pre of document.querySelectorAll('pre[data-follow]')) followLogs(pre);
`;

export const APP_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #5b6470; --line: #d5dae0; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9aa4ae; --line: #30363d; --ok: #3fb950; --bad: #f85149; --warn: #d29922; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); }
header nav { display: flex; gap: 1rem; flex: 1; }
main { padding: 1rem 1.2rem; max-width: 80rem; }
a { color: inherit; } a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: .5rem; background: var(--bg); padding: .3rem; }
table { border-collapse: collapse; width: 100%; margin: 0 0 1.6rem; }
caption { text-align: left; font-weight: 600; font-size: 1.1rem; padding: .3rem 0; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { color: var(--muted); font-weight: 500; }
tr.history { color: var(--muted); }
.state-ready, .state-running { color: var(--ok); } .state-down, .state-failed, .state-rejected { color: var(--bad); } .state-pending { color: var(--warn); }
.reason { max-width: 28rem; }
pre { background: rgba(127,127,127,.1); padding: .8rem; overflow: auto; max-height: 24rem; }
form.sign-in { max-width: 26rem; display: grid; gap: .6rem; margin-top: 2rem; }
input, button { font: inherit; padding: .4rem .6rem; }
.error { color: var(--bad); }
`;
