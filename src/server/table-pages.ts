import type { TableSizePoint } from "../catalog/table-sizes.js";
import type { TableLoads, TableSummary } from "../catalog/tables.js";
import type { LoadRecord } from "../warehouse/warehouse.js";
import { html, jsonScript, query, type SafeHtml } from "./html.js";

/** Lake tables as the tables page lists them. */
export interface LakeTableVersions {
  readonly table: string;
  readonly versions: readonly { version: number; timestamp: string; operation: string }[];
  readonly error?: string;
}

/** Every loaded warehouse table, and the lake tables with their versions. */
export function tablesBody(tables: TableSummary[], lake: LakeTableVersions[]): SafeHtml {
  return html`<table id="tables"><tr><th>table</th><th>pipelines</th><th>loads</th><th>inserted</th><th>updated</th><th>deleted</th><th>last load</th></tr>
${tables.map(
  (t) =>
    html`<tr><td><a href="/tables/${encodeURIComponent(t.table)}">${t.table}</a></td><td>${t.pipelines.join(", ")}</td><td class="num">${t.loads}</td><td class="num">${t.inserted}</td><td class="num">${t.updated}</td><td class="num">${t.deleted}</td><td>${t.last_loaded_at}</td></tr>`,
)}</table>${tables.length === 0 ? html`<p class="muted">no loads yet</p>` : ""}
${
  lake.length > 0
    ? html`<h2>Lake tables</h2>${lake.map(
        (l) =>
          html`<h3>${l.table}</h3>${l.error ? html`<p class="error">${l.error}</p>` : html`<table><tr><th>version</th><th>time</th><th>operation</th></tr>${l.versions.map((v) => html`<tr><td class="num">${v.version}</td><td>${v.timestamp}</td><td>${v.operation}</td></tr>`)}</table>`}`,
      )}`
    : ""
}`;
}

/** A table's size after each run that loaded it: the latest figures, and charts drawn by /assets/charts.js. */
export function tableSizeBody(sizes: readonly TableSizePoint[]): SafeHtml {
  const last = sizes.at(-1);
  if (!last) return html`<h2>Size over time</h2><p class="muted">no sizes recorded yet</p>`;
  const bytes = last.bytes === null ? "bytes not known yet" : `${(last.bytes / 1024).toFixed(0)} KiB`;
  return html`<h2>Size over time</h2><p id="table-size">${last.rows} rows · ${bytes} after run <a href="/runs/${encodeURIComponent(last.run_id)}">${last.run_id}</a></p>
<div class="chart" id="chart-table-rows"></div><div class="chart" id="chart-table-bytes"></div>${jsonScript("table-size-data", sizes)}`;
}

/** Loads the table page lists; older ones are in `sluice history` and the API. */
export const HISTORY_SHOWN = 100;

/** A table's last loads (read newest `HISTORY_SHOWN`), newest first, each with a rollback link while it is in effect. */
export function tableHistoryBody(table: string, history: TableLoads): SafeHtml {
  const { loads, total, latestInEffect } = history;
  const older = total - loads.length;
  return html`<h2>Loads</h2>${older > 0 ? html`<p class="muted" id="older-loads">the last ${loads.length} of ${total} loads; all of them: <code>sluice history ${table}</code> or <a href="/api/tables/${encodeURIComponent(table)}/history${query({ limit: total })}">the API</a></p>` : ""}<table id="history"><tr><th>run</th><th>pipeline</th><th>mode</th><th>inserted</th><th>updated</th><th>deleted</th><th>loaded at</th><th>state</th><th></th></tr>
${[...loads]
  .reverse()
  .map(
    (l) =>
      html`<tr><td><a href="/runs/${encodeURIComponent(l.run_id)}">${l.run_id}</a></td><td>${l.pipeline}</td><td>${l.mode}</td><td class="num">${l.inserted}</td><td class="num">${l.updated}</td><td class="num">${l.deleted}</td><td>${l.loaded_at}</td><td>${l.rolled_back_by ? `rolled back by ${l.rolled_back_by}` : ""}</td><td>${
        !l.rolled_back_by && l.mode !== "rollback" && l.run_id !== latestInEffect
          ? html`<a class="rollback" href="/tables/${encodeURIComponent(table)}/rollback${query({ to: l.run_id })}">roll back to here…</a>`
          : ""
      }</td></tr>`,
  )}</table>`;
}

/** The confirmation step of a rollback: what will be undone, and a POST form. */
export function rollbackConfirmBody(
  table: string,
  to: string,
  undone: readonly LoadRecord[],
  csrf: string,
): SafeHtml {
  return html`<p>Restore <b>${table}</b> exactly as it was after run <b>${to}</b>. This undoes ${undone.length} load${undone.length === 1 ? "" : "s"}:</p>
<ul>${undone.map((l) => html`<li>${l.run_id} (${l.pipeline}, ${l.mode}: +${l.inserted} ~${l.updated} -${l.deleted})</li>`)}</ul>
<form method="post" action="/tables/${encodeURIComponent(table)}/rollback"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="to" value="${to}">
<button class="danger" id="confirm-rollback" type="submit">Roll back ${table}</button> <a href="/tables/${encodeURIComponent(table)}">cancel</a></form>`;
}
