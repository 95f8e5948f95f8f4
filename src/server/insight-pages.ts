import type { WarehouseHealth } from "../catalog/health.js";
import type { QualityPoint } from "../catalog/quality.js";
import { html, jsonScript, type SafeHtml } from "./html.js";

/** Quality over time of one pipeline: charts drawn by /assets/charts.js from the embedded data. */
export function qualityBody(
  pipelines: string[],
  pipeline: string | undefined,
  points: QualityPoint[],
): SafeHtml {
  const anomalies = points.filter((p) => p.anomalies.length > 0);
  return html`<form class="filters" method="get" action="/quality"><label>pipeline<select name="pipeline">${pipelines.map(
    (p) => html`<option${p === pipeline ? html` selected` : ""}>${p}</option>`,
  )}</select></label><button type="submit">Show</button></form>
${
  points.length === 0
    ? html`<p class="muted">no runs with rows yet</p>`
    : html`<h2>Failure rate</h2><div class="chart" id="chart-failure"></div>
<h2>Rows per run</h2><div class="chart" id="chart-rows"></div>
<h2>Null share per column</h2><div class="chart" id="chart-nulls"></div>
<h2>Anomalies</h2>${anomalies.length === 0 ? html`<p class="muted">none</p>` : html`<ul id="anomalies">${anomalies.map((a) => html`<li><a href="/runs/${encodeURIComponent(a.run_id)}">${a.started_at}</a>: ${a.anomalies.join("; ")}</li>`)}</ul>`}
${jsonScript("quality-data", points)}`
}`;
}

const msText = (ms: number) => (ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(1)} s`);

const kb = (n: number | null | undefined) =>
  n === null || n === undefined ? "" : `${(n / 1024).toFixed(0)} KiB`;

/** Warehouse health: table sizes; on PostgreSQL index usage, slow statements, connections and the pool. */
export function healthBody(h: WarehouseHealth): SafeHtml {
  return html`<p>warehouse: <b>${h.kind}</b>${h.database_bytes ? html` · file ${kb(h.database_bytes)}` : ""}</p>
<h2>Tables</h2><table id="table-sizes"><tr><th>schema</th><th>table</th><th>rows</th><th>size</th></tr>${h.tables.map(
    (t) =>
      html`<tr><td>${t.schema}</td><td>${t.table}</td><td class="num">${t.rows}</td><td class="num">${kb(t.bytes)}</td></tr>`,
  )}</table>
${
  h.indexes
    ? html`<h2>Index usage</h2><table id="indexes"><tr><th>table</th><th>index</th><th>scans</th><th>size</th></tr>${h.indexes.map(
        (i) =>
          html`<tr><td>${i.schema}.${i.table}</td><td>${i.index}</td><td class="num">${i.scans}</td><td class="num">${kb(i.bytes)}</td></tr>`,
      )}</table>
<h2>Slow statements</h2>${
        h.slow_statements
          ? html`<table><tr><th>statement</th><th>calls</th><th>mean ms</th><th>total ms</th></tr>${h.slow_statements.map(
              (s) =>
                html`<tr><td><code>${s.query.slice(0, 300)}</code></td><td class="num">${s.calls}</td><td class="num">${s.mean_ms.toFixed(1)}</td><td class="num">${s.total_ms.toFixed(0)}</td></tr>`,
            )}</table>`
          : html`<p class="muted">pg_stat_statements is not installed in this database</p>`
      }
<h2>Connections</h2><table id="connections"><tr><th>state</th><th>connections</th><th>waiting on locks or I/O</th><th>longest in state</th></tr>${(h.connections ?? []).map((c) => html`<tr><td>${c.state}</td><td class="num">${c.count}</td><td class="num">${c.waiting}</td><td class="num">${msText(c.longest_ms)}</td></tr>`)}</table>
${h.pool ? html`<p id="pool">dashboard pool: ${h.pool.total} open, ${h.pool.idle} idle, ${h.pool.waiting} waiting; ${h.pool.checkouts} checkouts waited ${msText(h.pool.checkouts > 0 ? h.pool.wait_ms_total / h.pool.checkouts : 0)} on average, ${msText(h.pool.wait_ms_max)} at most</p>` : ""}`
    : ""
}`;
}

/** Draws the quality charts with uPlot (served from the package, no CDN). */
export const CHARTS_SCRIPT = `(function(){
var el=document.getElementById("quality-data");if(!el||!window.uPlot)return;
var pts=JSON.parse(el.textContent);var xs=pts.map(function(p){return Date.parse(p.started_at)/1000;});
function draw(id,series,data){var box=document.getElementById(id);if(!box)return;
new uPlot({width:Math.max(320,box.clientWidth-20),height:220,series:[{}].concat(series),scales:{x:{time:true}}},[xs].concat(data),box);}
var anomaly=pts.map(function(p){return p.anomalies.length>0?p.failure_rate:null;});
draw("chart-failure",[{label:"failure rate",stroke:"#b42318"},{label:"anomaly",stroke:"#f79009",points:{size:9},width:0}],[pts.map(function(p){return p.failure_rate;}),anomaly]);
draw("chart-rows",[{label:"read",stroke:"#1d4ed8"},{label:"loaded",stroke:"#17803d"},{label:"quarantined",stroke:"#b42318"}],[pts.map(function(p){return p.read;}),pts.map(function(p){return p.loaded;}),pts.map(function(p){return p.quarantined;})]);
var cols={};pts.forEach(function(p){Object.keys(p.profile||{}).forEach(function(c){cols[c]=1;});});
var names=Object.keys(cols).slice(0,8);var colors=["#1d4ed8","#17803d","#b42318","#7a5af8","#f79009","#0e9384","#c11574","#667085"];
if(names.length>0)draw("chart-nulls",names.map(function(c,i){return {label:c,stroke:colors[i]};}),names.map(function(c){return pts.map(function(p){var m=(p.profile||{})[c];return m&&m.null_share!=null?m.null_share:null;});}));
})();
(function(){
var el=document.getElementById("table-size-data");if(!el||!window.uPlot)return;
var pts=JSON.parse(el.textContent);var xs=pts.map(function(p){return Date.parse(p.loaded_at)/1000;});
function draw(id,label,stroke,ys){var box=document.getElementById(id);if(!box)return;
new uPlot({width:Math.max(320,box.clientWidth-20),height:200,series:[{},{label:label,stroke:stroke}],scales:{x:{time:true},y:{range:function(u,min,max){return [0,(max||1)*1.1];}}}},[xs,ys],box);}
draw("chart-table-rows","rows","#1d4ed8",pts.map(function(p){return p.rows;}));
draw("chart-table-bytes","KiB","#17803d",pts.map(function(p){return p.bytes==null?null:p.bytes/1024;}));
})();`;
