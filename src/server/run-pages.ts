import type { QuarantineRecord } from "../catalog/quarantine.js";
import type { RunDocument } from "../catalog/runs.js";
import { ageText, type PipelineStreamLag, streamLagOf, streamLagText } from "../catalog/stream-lag.js";
import { html, query, type SafeHtml } from "./html.js";
import type { LiveRun } from "./live-runs.js";

type Rows = { read?: number; loaded?: number; quarantined?: number; malformed?: number; duplicates?: number };

function duration(run: RunDocument): string {
  const ms = Date.parse(String(run.finished_at)) - Date.parse(String(run.started_at));
  if (!Number.isFinite(ms)) return "";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The runs list: filters, live runs, the page of runs and a pager. */
export function runsBody(options: {
  runs: RunDocument[];
  live: LiveRun[];
  pipelines: string[];
  filter: {
    pipeline?: string | undefined;
    status?: string | undefined;
    from?: string | undefined;
    until?: string | undefined;
  };
  page: number;
  pageSize: number;
  /** The last measured lag of each stream pipeline (shown above the runs when there is any). */
  streamLag?: readonly PipelineStreamLag[];
}): SafeHtml {
  const { filter, page } = options;
  const pageLink = (p: number) => `/runs${query({ ...filter, page: p })}`;
  const streamLag = options.streamLag ?? [];
  // Stream batches carry the lag when they were pulled: a column once any run of the page has one.
  const lagColumn = options.runs.some((r) => streamLagOf(r));
  return html`<form class="filters" method="get" action="/runs">
<label>pipeline<select name="pipeline"><option value="">all</option>${options.pipelines.map(
    (p) => html`<option${p === filter.pipeline ? html` selected` : ""}>${p}</option>`,
  )}</select></label>
<label>status<select name="status"><option value="">any</option>${["succeeded", "failed", "skipped"].map(
    (s) => html`<option${s === filter.status ? html` selected` : ""}>${s}</option>`,
  )}</select></label>
<label>from<input type="date" name="from" value="${filter.from ?? ""}"></label>
<label>until<input type="date" name="until" value="${filter.until ?? ""}"></label>
<button type="submit">Filter</button></form>
${
  options.live.length > 0
    ? html`<h2>In flight</h2><table id="live"><tr><th>pipeline</th><th>since</th><th>files</th><th>bytes</th><th>current file</th></tr>${options.live.map(
        (l) =>
          html`<tr><td class="status-running">${l.pipeline}</td><td>${l.since}</td><td class="num">${l.filesDone} / ${l.filesTotal}</td><td class="num">${l.bytesDone} / ${l.bytesTotal}</td><td>${l.current ?? ""}</td></tr>`,
      )}</table>`
    : ""
}
${
  streamLag.length > 0
    ? html`<h2>Stream lag</h2><table id="stream-lag"><tr><th>pipeline</th><th>pending messages</th><th>oldest message</th><th>measured</th><th>by run</th></tr>${streamLag.map(
        (l) =>
          html`<tr><td>${l.pipeline}</td><td class="num">${l.pending ?? ""}</td><td class="num">${l.oldest_age_ms === null ? "" : ageText(l.oldest_age_ms)}</td><td>${l.measured_at}</td><td><a href="/runs/${encodeURIComponent(l.run_id)}">${l.run_id}</a></td></tr>`,
      )}</table><h2>Runs</h2>`
    : ""
}
<table id="runs"><tr><th>run</th><th>pipeline</th><th>status</th><th>started</th><th>duration</th><th>files</th><th>read</th><th>loaded</th><th>quarantined</th>${lagColumn ? html`<th>lag</th>` : ""}<th>error</th></tr>
${options.runs.map((r) => {
  const rows = (r.rows ?? {}) as Rows;
  const lag = streamLagOf(r);
  return html`<tr><td><a href="/runs/${encodeURIComponent(String(r.run_id))}">${r.run_id}</a></td><td>${r.pipeline}</td><td class="status-${String(r.status)}">${r.status}</td><td>${r.started_at}</td><td class="num">${duration(r)}</td><td class="num">${Array.isArray(r.files) ? r.files.length : 0}</td><td class="num">${rows.read ?? 0}</td><td class="num">${rows.loaded ?? 0}</td><td class="num">${rows.quarantined ?? 0}</td>${lagColumn ? html`<td class="lag">${lag ? streamLagText(lag) : ""}</td>` : ""}<td class="error">${r.error ?? ""}</td></tr>`;
})}</table>
${options.runs.length === 0 ? html`<p class="muted">no runs match</p>` : ""}
<div class="pager">${page > 1 ? html`<a href="${pageLink(page - 1)}">← newer</a>` : ""}${options.runs.length === options.pageSize ? html`<a href="${pageLink(page + 1)}">older →</a>` : ""}</div>`;
}

/** One run in full: counts, files with archive paths, checks, error, warnings, the run log. */
export function runDetailBody(run: RunDocument, log: string | undefined, csrf: string): SafeHtml {
  const rows = (run.rows ?? {}) as Rows;
  const files = (run.files ?? []) as Record<string, unknown>[];
  const checks = (run.checks ?? []) as Record<string, unknown>[];
  const replayable = run.status === "failed" || Number(rows.quarantined ?? 0) > 0;
  const id = encodeURIComponent(String(run.run_id));
  return html`<p>pipeline <b>${run.pipeline}</b> · <span class="status-${String(run.status)}" id="run-status">${run.status}</span> · started ${run.started_at} · finished ${run.finished_at} · ${duration(run)}${run.replay_of ? html` · replay of <a href="/runs/${encodeURIComponent(String(run.replay_of))}">${run.replay_of}</a>` : ""}</p>
${run.error ? html`<p class="error" id="run-error">${run.error}</p>` : ""}
<table><tr><th>read</th><th>loaded</th><th>quarantined</th><th>malformed</th><th>duplicates</th></tr>
<tr><td class="num">${rows.read ?? 0}</td><td class="num">${rows.loaded ?? 0}</td><td class="num">${rows.quarantined ?? 0}</td><td class="num">${rows.malformed ?? 0}</td><td class="num">${rows.duplicates ?? 0}</td></tr></table>
${Number(rows.quarantined ?? 0) > 0 ? html`<p><a id="to-quarantine" href="/quarantine${query({ pipeline: String(run.pipeline), run: String(run.run_id) })}">Quarantined rows of this run →</a></p>` : ""}
${replayable ? html`<form method="post" action="/runs/${id}/replay"><input type="hidden" name="csrf" value="${csrf}"><button id="replay" type="submit">Replay this run</button> <span class="muted">re-processes its failed files and re-checks its quarantined rows under the current config</span></form>` : ""}
${streamBody(run)}
<h2>Files</h2><table id="files"><tr><th>status</th><th>path</th><th>archived to</th><th>sha256</th><th>error</th></tr>${files.map(
    (f) =>
      html`<tr><td>${f.status}</td><td>${f.path}</td><td>${f.archived_to ?? ""}</td><td><code>${String(f.sha256 ?? "").slice(0, 12)}</code></td><td class="error">${f.error ?? ""}</td></tr>`,
  )}</table>
<h2>Checks</h2>${checks.length === 0 ? html`<p class="muted">no checks</p>` : html`<table id="checks"><tr><th>check</th><th>severity</th><th>failed</th></tr>${checks.map((c) => html`<tr><td>${c.name}</td><td>${c.severity}</td><td class="num">${c.failed}</td></tr>`)}</table>`}
${Array.isArray(run.warnings) && run.warnings.length > 0 ? html`<h2>Warnings</h2><ul>${(run.warnings as string[]).map((w) => html`<li>${w}</li>`)}</ul>` : ""}
${Array.isArray(run.anomalies) && run.anomalies.length > 0 ? html`<h2>Anomalies</h2><ul>${(run.anomalies as string[]).map((w) => html`<li>${w}</li>`)}</ul>` : ""}
<h2>Run log</h2>${log === undefined ? html`<p class="muted">${run.log ? `${run.log}: not readable` : "no log"}</p>` : html`<pre id="log">${log}</pre>`}`;
}

/** A stream batch's facts: where it was read, its positions, and the lag right before it was published. */
function streamBody(run: RunDocument): SafeHtml | "" {
  const stream = run.stream as Record<string, unknown> | undefined;
  const lag = streamLagOf(run);
  if (!stream || !lag) return "";
  return html`<h2>Stream</h2><table id="stream"><tr><th>source</th><th>messages</th><th>poison</th><th>positions</th><th>redelivered, published before</th><th>pending messages</th><th>oldest message</th></tr>
<tr><td>${stream.source}</td><td class="num">${stream.messages}</td><td class="num">${stream.poison}</td><td>${stream.first_position} … ${stream.last_position}</td><td class="num">${stream.redelivered_published}</td><td class="num" id="stream-pending">${lag.pending ?? ""}</td><td class="num" id="stream-oldest">${lag.oldest_age_ms === null ? "" : ageText(lag.oldest_age_ms)}</td></tr></table>`;
}

/** The quarantine browser: pipeline and run filters, one page of rows, CSV export. */
export function quarantineBody(options: {
  pipelines: string[];
  pipeline: string | undefined;
  runId: string | undefined;
  rows: QuarantineRecord[];
  total: number;
  page: number;
  pageSize: number;
  csrf: string;
}): SafeHtml {
  const { pipeline, runId, page, pageSize, total } = options;
  const link = (p: number) => `/quarantine${query({ pipeline, run: runId, page: p })}`;
  const columns = [...new Set(options.rows.flatMap((r) => Object.keys(r.values ?? {})))];
  return html`<form class="filters" method="get" action="/quarantine">
<label>pipeline<select name="pipeline">${options.pipelines.map((p) => html`<option${p === pipeline ? html` selected` : ""}>${p}</option>`)}</select></label>
<label>run<input name="run" value="${runId ?? ""}" placeholder="any run"></label><button type="submit">Show</button></form>
${
  pipeline
    ? html`<p><span id="quarantine-total">${total}</span> quarantined row${total === 1 ? "" : "s"}${runId ? html` in run <a href="/runs/${encodeURIComponent(runId)}">${runId}</a>` : ""} · <a id="csv" href="/quarantine.csv${query({ pipeline, run: runId })}">export CSV</a></p>
${runId && total > 0 ? html`<form method="post" action="/runs/${encodeURIComponent(runId)}/replay"><input type="hidden" name="csrf" value="${options.csrf}"><button id="replay" type="submit">Replay run ${runId}</button></form>` : ""}
<table id="quarantine"><tr><th>run</th><th>file</th><th>line</th><th>rules</th><th>reasons</th>${columns.map((c) => html`<th>${c}</th>`)}<th>raw</th></tr>
${options.rows.map(
  (r) =>
    html`<tr><td><a href="/runs/${encodeURIComponent(r.run_id)}">${r.run_id}</a></td><td>${r.file ?? ""}</td><td class="num">${r.line ?? ""}</td><td>${r.rules.join(", ")}</td><td>${r.reasons.join("; ")}</td>${columns.map((c) => html`<td>${cell(r.values?.[c])}</td>`)}<td>${r.values ? "" : (r.raw ?? "")}</td></tr>`,
)}</table>
<div class="pager">${page > 1 ? html`<a href="${link(page - 1)}">← previous</a>` : ""}<span class="muted">page ${page} of ${Math.max(1, Math.ceil(total / pageSize))}</span>${page * pageSize < total ? html`<a href="${link(page + 1)}">next →</a>` : ""}</div>`
    : html`<p class="muted">choose a pipeline</p>`
}`;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
