import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ageText } from "../../src/catalog/stream-lag.js";
import { makeProject, sluice } from "../support/cli.js";
import { type ServedDashboard, startServed } from "../support/dashboard.js";
import { serviceAvailable } from "../support/require-service.js";
import {
  createNatsStream,
  deleteNatsStream,
  eventPayloads,
  natsUrl,
  pingNats,
  publishNats,
  uniqueName,
} from "../support/streams.js";
import { dashboardProject } from "./dashboard-fixture.js";
import { CLEAR, hostilePages, hostileProject, SCRIPT, SECRETS } from "./hostile-fixture.js";

// Debian's chromium, never a downloaded browser; flags keep it off the network and out of the GPU.
const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const artifacts = resolve("test-artifacts/dashboard");
const profile = mkdtempSync(join(tmpdir(), "sluice-chromium-"));
let browser: BrowserContext | undefined;
const available = await serviceAvailable(`Chromium at ${CHROMIUM} (apt-get install chromium)`, async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is not installed`);
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
});

// One browser for the file: closed after the last describe.
afterAll(async () => {
  await browser?.close();
  rmSync(profile, { recursive: true, force: true });
});

describe.skipIf(!available)("the dashboard in a real browser", () => {
  let served: ServedDashboard;
  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    served = await startServed(await dashboardProject("duckdb:warehouse.duckdb"), ["serve", "--port", "0"]);
  });
  afterAll(async () => {
    await served?.stop();
  });

  it("clicks from the runs to a failed run, its quarantined rows, and replays it; no value runs as script", async () => {
    const page = await browser!.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const blocked: string[] = [];
    // Every request stays on the dashboard (no CDN).
    page.on("request", (r) => {
      if (!r.url().startsWith(served.url)) blocked.push(r.url());
    });
    // Before the replay below, nothing has been loaded into strict_t: lineage draws that edge dashed.
    await page.goto(`${served.url}/lineage`);
    const unused = page.locator('path[data-edge="pipeline:strict -> table:strict_t"]');
    expect(await unused.getAttribute("class")).toBe("config");
    expect(await unused.evaluate((e) => getComputedStyle(e).strokeDasharray)).not.toBe("none");
    await page.screenshot({ path: join(artifacts, "lineage-before-replay.png"), fullPage: true });
    await page.goto(`${served.url}/runs`);
    await page.screenshot({ path: join(artifacts, "runs.png"), fullPage: true });
    expect(await page.locator("#runs tr").count()).toBe(4);
    await page.locator("#runs tr", { hasText: "failed" }).locator("a").first().click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    expect(await page.locator("#run-status").textContent()).toBe("failed");
    expect(await page.locator("#run-error").textContent()).toMatch(/max_failure_rate/);
    expect(await page.locator("#files").textContent()).toContain("in/strict/s.csv");
    await page.screenshot({ path: join(artifacts, "run-failed.png"), fullPage: true });

    await page.locator("#to-quarantine").click();
    await page.waitForURL(/\/quarantine\?/);
    expect(await page.locator("#quarantine-total").textContent()).toBe("1");
    expect(await page.locator("#quarantine").textContent()).toContain("not_null(id)");
    await page.screenshot({ path: join(artifacts, "quarantine.png"), fullPage: true });

    await page.locator("#replay").click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    expect(await page.locator("main p").first().textContent()).toMatch(/replay of/);
    await page.screenshot({ path: join(artifacts, "replay.png"), fullPage: true });

    // The `<script>` value of a quarantined row shows as text on the quarantine page.
    await page.goto(`${served.url}/quarantine?pipeline=orders`);
    expect(await page.locator("#quarantine").textContent()).toContain("<script>alert(1)</script>");
    expect(await page.locator("#quarantine").textContent()).toContain("b***@example.com");

    // Every other page loads; the quality charts are drawn by the bundled uPlot.
    for (const path of ["/quality?pipeline=orders", "/tables", "/tables/orders", "/lineage", "/health"]) {
      const response = await page.goto(`${served.url}${path}`);
      expect(response?.status(), path).toBe(200);
      await page.screenshot({
        path: join(artifacts, `${path.slice(1).replace(/\W+/g, "-")}.png`),
        fullPage: true,
      });
    }
    await page.goto(`${served.url}/quality?pipeline=orders`);
    await page.waitForSelector("#chart-rows .uplot canvas");
    // Each point sits at a real time (an unparseable one leaves the chart empty).
    const times = await page.evaluate(() =>
      (JSON.parse(document.getElementById("quality-data")!.textContent!) as { started_at: string }[]).map(
        (p) => Date.parse(p.started_at),
      ),
    );
    expect(times.length).toBe(2);
    expect(times.every(Number.isFinite)).toBe(true);
    await page.screenshot({ path: join(artifacts, "quality.png"), fullPage: true });
    expect(dialogs).toEqual([]);
    expect(blocked).toEqual([]);
  });

  it("charts a table's size over time and draws lineage from the recorded runs", async () => {
    const page = await browser!.newPage();
    await page.goto(`${served.url}/tables`);
    await page.locator("#tables a", { hasText: "orders" }).click();
    await page.waitForURL(/\/tables\/orders$/);
    expect(await page.locator("#table-size").textContent()).toMatch(/^2 rows · \d+ KiB after run /);
    await page.waitForSelector("#chart-table-rows .uplot canvas");
    await page.waitForSelector("#chart-table-bytes .uplot canvas");
    // Both loads sit at real times, with their row counts, in the order they happened.
    const points = await page.evaluate(() =>
      (
        JSON.parse(document.getElementById("table-size-data")!.textContent!) as {
          loaded_at: string;
          rows: number;
        }[]
      ).map((p) => [Date.parse(p.loaded_at), p.rows] as const),
    );
    expect(points.map(([, rows]) => rows)).toEqual([1, 2]);
    expect(points.every(([at]) => Number.isFinite(at))).toBe(true);
    expect(points[0]![0]).toBeLessThanOrEqual(points[1]![0]);
    await page.screenshot({ path: join(artifacts, "table-size.png"), fullPage: true });

    await page.goto(`${served.url}/lineage`);
    const recorded = page.locator('path[data-edge="pipeline:orders -> table:orders"]');
    expect(await recorded.getAttribute("class")).toBe("both");
    expect(await recorded.locator("title").textContent()).toMatch(/^2 loads, 2 rows; last /);
    // Recorded edges are solid, configured ones no run has used yet dashed (the strict pipeline's, until
    // the replay in the test before loaded its row).
    const edges = await page
      .locator("svg.lineage path")
      .evaluateAll((paths) =>
        paths.map((p) => [
          p.getAttribute("data-edge"),
          p.getAttribute("class"),
          getComputedStyle(p).strokeDasharray,
        ]),
      );
    expect(edges).toContainEqual(["pipeline:orders -> table:orders", "both", "none"]);
    for (const [edge, origin, dash] of edges) expect(dash === "none", `${edge}`).toBe(origin !== "config");
    await page.screenshot({ path: join(artifacts, "lineage-recorded.png"), fullPage: true });
  });
});

describe.skipIf(!available)("markup and masked values in a real browser", () => {
  let served: ServedDashboard;
  let pages: string[];
  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    const project = await hostileProject();
    pages = hostilePages(project.runs);
    served = await startServed(project.dir, ["serve", "--port", "0"]);
  });
  afterAll(async () => {
    await served?.stop();
  });

  it("no page runs a value as script or shows a masked column's clear value", async () => {
    const page = await browser!.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    for (const path of pages) {
      const response = await page.goto(`${served.url}${path}`);
      expect(response?.status(), path).toBe(200);
      const text = (await page.locator("body").textContent()) ?? "";
      for (const clear of [...CLEAR, ...SECRETS]) expect(text, `${path}: ${clear}`).not.toContain(clear);
      // Markup from values and file names is in no element: no <img>, no <b>, no inline <script>.
      expect(
        await page.locator("main img, main b[onmouseover], script:not([src]):not([type])").count(),
        path,
      ).toBe(0);
    }
    await page.goto(`${served.url}/quarantine?pipeline=orders`);
    expect(await page.locator("#quarantine").textContent()).toContain(SCRIPT);
    await page.screenshot({ path: join(artifacts, "hostile-quarantine.png"), fullPage: true });
    await page.goto(`${served.url}${pages.find((p) => /^\/runs\/[^?]+$/.test(p))}`);
    await page.screenshot({ path: join(artifacts, "hostile-run.png"), fullPage: true });
    expect(dialogs).toEqual([]);
  });
});

const natsAvailable = available && (await serviceAvailable(`NATS JetStream at ${natsUrl}`, pingNats));

interface StreamRun {
  run_id: string;
  pipeline: string;
  status: string;
  stream?: { pending: number | null; oldest_age_ms: number | null; first_position: string };
}

describe.skipIf(!natsAvailable)("stream lag in a real browser", () => {
  const stream = uniqueName("BROWSERLAG").toUpperCase();
  const subject = stream.toLowerCase();
  const TOTAL = 30;
  let served: ServedDashboard | undefined;
  let batches: StreamRun[];

  beforeAll(async () => {
    await createNatsStream(stream, subject);
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: { kind: nats, url: "${natsUrl}", stream: ${stream}, subject: "${subject}.lag", durable: browser }
      batch: { max_rows: 10, max_wait: 200ms }
    target: { table: events }
`);
    // A backlog of three batches: each pull sees the messages not yet acknowledged, its own included.
    await publishNats(`${subject}.lag`, eventPayloads(TOTAL));
    const worker = await sluice(["worker", "--exit-when-idle", "300ms"], dir, { timeoutMs: 60_000 });
    expect(worker.code, worker.stderr).toBe(0);
    served = await startServed(dir, ["serve", "--port", "0"]);
    // The batches as recorded (the objects of `sluice runs --json`), newest first.
    const { runs } = (await (await fetch(`${served.url}/api/runs`)).json()) as { runs: StreamRun[] };
    batches = runs.filter((r) => r.pipeline === "events" && r.stream);
  }, 60_000);
  afterAll(async () => {
    if (served) expect((await served.stop()).code).toBe(0);
    await deleteNatsStream(stream);
  });

  it("the runs page, a batch's page and /metrics show the lag its published batches recorded", async () => {
    expect(batches.map((b) => b.stream!.pending)).toEqual([10, 20, 30]);
    const newest = batches[0]!;
    const { pending, oldest_age_ms: oldest } = newest.stream!;
    const page = await browser!.newPage();
    await page.goto(`${served!.url}/runs`);
    // The stream's last measured lag: its newest published batch's reading, linked to that run.
    const row = page.locator("#stream-lag tr", { hasText: "events" });
    const cells = await row.locator("td").allTextContents();
    expect(cells.slice(0, 3)).toEqual(["events", String(pending), ageText(oldest!)]);
    expect(cells[4]).toBe(newest.run_id);
    // Each batch's row says the lag right before it was published.
    for (const b of batches) {
      const lag = page.locator("#runs tr", { hasText: b.run_id }).locator("td.lag");
      expect(await lag.textContent()).toBe(
        `${b.stream!.pending} pending, oldest ${ageText(b.stream!.oldest_age_ms!)}`,
      );
    }
    await page.screenshot({ path: join(artifacts, "stream-lag.png"), fullPage: true });

    await row.locator("a").click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    expect(await page.locator("#stream-pending").textContent()).toBe(String(pending));
    expect(await page.locator("#stream-oldest").textContent()).toBe(ageText(oldest!));
    await page.screenshot({ path: join(artifacts, "stream-batch.png"), fullPage: true });

    await page.goto(`${served!.url}/metrics`);
    const metrics = (await page.locator("body").textContent()) ?? "";
    expect(metrics).toContain(`sluice_stream_pending_messages{pipeline="events"} ${pending}`);
    expect(metrics).toContain(`sluice_stream_oldest_age_seconds{pipeline="events"} ${oldest! / 1000}`);
  });
});
