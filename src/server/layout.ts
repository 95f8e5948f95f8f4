import { html, type SafeHtml } from "./html.js";

const NAV = [
  ["/runs", "Runs"],
  ["/quarantine", "Quarantine"],
  ["/quality", "Quality"],
  ["/tables", "Tables"],
  ["/lineage", "Lineage"],
  ["/health", "Health"],
] as const;

/** A whole page: navigation, title and body; scripts only from /assets/. */
export function page(
  title: string,
  body: SafeHtml,
  options: { scripts?: string[]; active?: string } = {},
): string {
  return `<!doctype html>${
    html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Sluice</title>
<link rel="stylesheet" href="/assets/sluice.css">
${(options.scripts ?? []).some((s) => s.includes("uplot")) ? html`<link rel="stylesheet" href="/assets/uplot.css">` : ""}
</head><body>
<header><a class="brand" href="/runs">Sluice</a><nav>${NAV.map(
      ([href, label]) =>
        html`<a href="${href}"${options.active === href ? html` class="active"` : ""}>${label}</a>`,
    )}<a href="/metrics">Metrics</a></nav></header>
<main><h1>${title}</h1>${body}</main>
${(options.scripts ?? []).map((s) => html`<script src="${s}"></script>`)}
</body></html>`.text
  }`;
}

/** The dashboard's stylesheet (served as /assets/sluice.css; no inline styles, so the CSP stays strict). */
export const STYLESHEET = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{display:flex;gap:1.5rem;align-items:center;background:#1d2430;padding:.6rem 1rem}
header a{color:#cfd6e0;text-decoration:none}header a.active,header a:hover{color:#fff}
.brand{font-weight:700;color:#fff}nav{display:flex;gap:1rem}
main{padding:1rem 1.5rem}h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;background:#fff;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #e3e6ea;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.status-succeeded{color:#17803d}.status-failed{color:#b42318;font-weight:600}.status-skipped{color:#667085}
.status-running{color:#1d4ed8;font-weight:600}
form.filters{display:flex;gap:.5rem;flex-wrap:wrap;align-items:end;margin-bottom:.5rem}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#475467}
.pager{display:flex;gap:1rem;margin:.5rem 0}.error{color:#b42318}.muted{color:#667085}
pre{background:#fff;border:1px solid #e3e6ea;padding:.5rem;overflow:auto;max-height:30rem}
button{cursor:pointer}.danger{background:#b42318;color:#fff;border:0;padding:.4rem .8rem;border-radius:3px}
.chart{background:#fff;margin:.5rem 0 1.5rem;padding:.5rem;border:1px solid #e3e6ea}
svg.lineage{background:#fff;border:1px solid #e3e6ea}svg.lineage text{font-size:12px}
svg.lineage rect{fill:#eef4ff;stroke:#4b6cb7}svg.lineage rect.file{fill:#f3f4f6;stroke:#667085}
svg.lineage rect.table{fill:#ecfdf3;stroke:#17803d}svg.lineage path{fill:none;stroke:#98a2b3;stroke-width:1.5}svg.lineage path.config{stroke-dasharray:5 4}svg.lineage g.runs rect{stroke-dasharray:3 2}
code{background:#eef0f3;padding:0 .2rem}
`;
