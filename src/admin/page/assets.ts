/**
 * The admin page's stylesheet and script, served from /admin/assets so the Content-Security-Policy can forbid
 * every inline script and style. No build step and no CDN.
 */
export const ADMIN_CSS = `
:root { --fg:#1d2330; --muted:#5d6677; --line:#e3e6ec; --bg:#f7f8fa; --accent:#3451b2;
  --processed:#1a7f37; --ignored:#6e7781; --failed:#cf222e; --parked:#9a6700; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif; color:var(--fg); background:var(--bg); }
header { background:#fff; border-bottom:1px solid var(--line); padding:12px 24px; display:flex; gap:16px; align-items:baseline; }
header h1 { font-size:18px; margin:0; } header a { color:inherit; text-decoration:none; }
main { padding:16px 24px; max-width:1400px; }
form.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:end; background:#fff; padding:12px; border:1px solid var(--line); border-radius:8px; }
form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
input, select, button { font:inherit; padding:5px 8px; border:1px solid #c9ced8; border-radius:6px; background:#fff; }
button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
button.secondary { background:#fff; color:var(--fg); border-color:#c9ced8; }
table { width:100%; border-collapse:collapse; margin-top:12px; background:#fff; border:1px solid var(--line); border-radius:8px; overflow:hidden; }
th, td { text-align:left; padding:8px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:12px; color:var(--muted); font-weight:600; background:#fbfbfc; }
tr:hover td { background:#f3f5fa; }
td.id a { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:13px; color:var(--accent); }
td.error { color:var(--failed); max-width:380px; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.status { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; color:#fff; }
.status-processed { background:var(--processed); } .status-ignored { background:var(--ignored); }
.status-failed { background:var(--failed); } .status-parked { background:var(--parked); }
.pager { margin-top:12px; display:flex; gap:12px; align-items:center; color:var(--muted); }
.pager a { color:var(--accent); }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; background:#fff; padding:12px; border:1px solid var(--line); border-radius:8px; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; }
pre.payload { background:#0f1420; color:#dce3f0; padding:12px; border-radius:8px; overflow:auto; max-height:60vh; font-size:12.5px; }
.notice { padding:8px 12px; border-radius:6px; background:#fff8c5; border:1px solid #e5d28a; margin:8px 0; }
.empty { padding:24px; text-align:center; color:var(--muted); }
`

export const ADMIN_JS = `
// Show every time in the browser's own time zone; the server renders UTC ISO-8601.
for (const el of document.querySelectorAll('time[datetime]')) {
  const d = new Date(el.getAttribute('datetime'))
  if (!Number.isNaN(d.getTime())) {
    el.title = el.getAttribute('datetime')
    el.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })
  }
}
`
