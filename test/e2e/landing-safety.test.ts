import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

const orders = `orders:
  source: { path: "in/orders/*.csv" }
  max_failure_rate: 0.5
  target: { table: orders }`;

/** A folder outside the project, where nothing may ever be written by Sluice. */
function outside(): string {
  return mkdtempSync(join(tmpdir(), "sluice-outside-"));
}

/** Every file below a folder (relative paths). */
function filesBelow(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

async function count(dir: string, table = "orders"): Promise<number> {
  const r = await sluice(["query", `select count(*) as n from ${table}`, "--json"], dir);
  expect(r.code).toBe(0);
  return Number(r.json<{ n: number }[]>()[0]!.n);
}

describe("symbolic links planted in the landing zone", () => {
  it("refuses to archive through a linked archive/<pipeline> folder: nothing published, the file stays", async () => {
    const dir = makeProject(pipelineYaml(orders), { "landing/in/orders/a.csv": "id\n1\n2\n" });
    const elsewhere = outside();
    mkdirSync(join(dir, "landing/archive"), { recursive: true });
    symlinkSync(elsewhere, join(dir, "landing/archive/orders"));

    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.status).toBe("failed");
    expect(run.error).toMatch(/archive\/orders: .*symbolic link/);
    expect(filesBelow(elsewhere)).toEqual([]);
    expect(existsSync(join(dir, "landing/in/orders/a.csv"))).toBe(true);

    // Nothing was published: once the link is gone, the file loads (exactly once) and is archived.
    unlinkSync(join(dir, "landing/archive/orders"));
    const again = await sluice(["run", "--json"], dir);
    expect(again.code).toBe(0);
    expect(again.json<RunJson>().runs[0]!.files[0]!.status).toBe("loaded");
    expect(await count(dir)).toBe(2);
    expect(filesBelow(elsewhere)).toEqual([]);
  });

  it("refuses a linked unprocessed/ folder for a failed file, and a linked quarantine/ folder", async () => {
    const dir = makeProject(
      pipelineYaml(`orders:
  source: { path: "in/orders/*.csv", on_malformed: fail }
  target: { table: orders }
bad:
  source: { path: "in/bad/*.csv" }
  columns: { id: { type: bigint } }
  max_failure_rate: 0.9
  target: { table: bad }`),
      {
        "landing/in/orders/broken.csv": 'id,name\n1,"unterminated\n',
        "landing/in/bad/b.csv": "id\n1\nx\n",
      },
    );
    const elsewhere = outside();
    symlinkSync(elsewhere, join(dir, "landing/unprocessed"));
    symlinkSync(elsewhere, join(dir, "landing/quarantine"));

    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    const [broken, bad] = r.json<RunJson>().runs;
    expect(broken!.error).toMatch(/unprocessed: .*symbolic link/);
    expect(bad!.status).toBe("failed");
    expect(bad!.error).toMatch(/quarantine: .*symbolic link/);
    // The failed run wrote no quarantine file, so its report names none.
    expect((bad as unknown as { quarantine: string | null }).quarantine).toBeNull();
    expect(filesBelow(elsewhere)).toEqual([]);
    expect(existsSync(join(dir, "landing/in/orders/broken.csv"))).toBe(true);
    expect(existsSync(join(dir, "landing/in/bad/b.csv"))).toBe(true);
    // Printed too: the file's own error, and the run's reason for keeping it in in/.
    const human = await sluice(["run", "orders"], dir);
    expect(human.stdout).toMatch(/error: in\/orders\/broken\.csv: malformed row/);
    expect(human.stdout).toMatch(/error: unprocessed: is a symbolic link/);
  });

  it("refuses a linked logs/ folder", async () => {
    const dir = makeProject(pipelineYaml(orders), { "landing/in/orders/a.csv": "id\n1\n" });
    const elsewhere = outside();
    symlinkSync(elsewhere, join(dir, "landing/logs"));
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    expect(r.json<RunJson>().runs[0]!.error).toMatch(/logs: .*symbolic link/);
    expect(filesBelow(elsewhere)).toEqual([]);
    expect(existsSync(join(dir, "landing/in/orders/a.csv"))).toBe(true);
  });

  it("reports linked files and folders inside in/ as failed, by name, and never moves what they point to", async () => {
    const dir = makeProject(
      pipelineYaml(`orders:
  source: { path: "in/orders/**/*.csv" }
  target: { table: orders }`),
      { "landing/in/orders/real.csv": "id\n1\n" },
    );
    const elsewhere = outside();
    writeFileSync(join(elsewhere, "secret.csv"), "id\n99\n");
    mkdirSync(join(elsewhere, "folder"));
    writeFileSync(join(elsewhere, "folder", "inner.csv"), "id\n98\n");
    symlinkSync(join(elsewhere, "secret.csv"), join(dir, "landing/in/orders/link.csv"));
    symlinkSync(join(elsewhere, "folder"), join(dir, "landing/in/orders/sub"));
    symlinkSync(join(elsewhere, "secret.csv"), join(dir, "landing/in/orders/notes.txt"));

    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    const run = r.json<RunJson>().runs[0]!;
    const byPath = Object.fromEntries(run.files.map((f) => [f.path, f]));
    expect(Object.keys(byPath).sort()).toEqual(["in/orders/link.csv", "in/orders/real.csv", "in/orders/sub"]);
    expect(byPath["in/orders/real.csv"]!.status).toBe("loaded");
    for (const link of ["in/orders/link.csv", "in/orders/sub"]) {
      expect(byPath[link]!.status).toBe("failed");
      expect(byPath[link]!.error).toMatch(/is a symbolic link/);
    }
    expect(await count(dir)).toBe(1);
    expect(filesBelow(elsewhere)).toEqual(["folder/inner.csv", "secret.csv"]);
    const human = await sluice(["run"], dir);
    expect(human.stdout).toMatch(/in\/orders\/link\.csv: is a symbolic link/);
  });

  it("does not read or move files through a linked glob folder", async () => {
    const dir = makeProject(pipelineYaml(orders));
    const elsewhere = outside();
    writeFileSync(join(elsewhere, "x.csv"), "id\n7\n");
    mkdirSync(join(dir, "landing/in"), { recursive: true });
    symlinkSync(elsewhere, join(dir, "landing/in/orders"));
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.files.map((f) => [f.path, f.status])).toEqual([["in/orders", "failed"]]);
    expect(run.files[0]!.error).toMatch(/in\/orders: is a symbolic link/);
    expect(filesBelow(elsewhere)).toEqual(["x.csv"]);
  });

  it("refuses a linked lake table folder", async () => {
    const dir = makeProject(
      pipelineYaml(`orders:
  source: { path: "in/orders/*.csv" }
  target: { lake: { table: orders, format: delta } }`),
      { "landing/in/orders/a.csv": "id\n1\n" },
    );
    const elsewhere = outside();
    mkdirSync(join(dir, "lake"));
    symlinkSync(elsewhere, join(dir, "lake/orders"));
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    expect(r.json<RunJson>().runs[0]!.error).toMatch(/orders: is a symbolic link/);
    expect(filesBelow(elsewhere)).toEqual([]);
    expect(existsSync(join(dir, "landing/in/orders/a.csv"))).toBe(true);

    // The lake's staging folder: its cleanup of old leftovers must not reach behind a link.
    unlinkSync(join(dir, "lake/orders"));
    writeFileSync(join(elsewhere, "old.bin"), "keep me");
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    utimesSync(join(elsewhere, "old.bin"), twoDaysAgo, twoDaysAgo);
    rmSync(join(dir, "lake/.sluice-tmp"), { recursive: true, force: true });
    symlinkSync(elsewhere, join(dir, "lake/.sluice-tmp"));
    const staged = await sluice(["run", "--json"], dir);
    expect(staged.code).toBe(1);
    expect(staged.json<RunJson>().runs[0]!.error).toMatch(/\.sluice-tmp: is a symbolic link/);
    expect(filesBelow(elsewhere)).toEqual(["old.bin"]);
  });
});

describe("file names", () => {
  it("archives a file whose name is too long to take the timestamp, and does not see it again", async () => {
    const long = `${"a".repeat(240)}.csv`;
    const wide = `${"é".repeat(120)}.csv`; // 244 bytes
    const dir = makeProject(pipelineYaml(orders), {
      [`landing/in/orders/${long}`]: "id\n1\n",
      [`landing/in/orders/${wide}`]: "id\n2\n",
    });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.files.map((f) => f.status)).toEqual(["loaded", "loaded"]);
    for (const file of run.files) {
      expect(file.warnings).toEqual([]);
      const name = file.archived_to!.split("/").pop()!;
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
      expect(name).toMatch(/_\d{14}\.csv$/);
      expect(existsSync(join(dir, "landing", file.archived_to!))).toBe(true);
    }
    expect(readdirSync(join(dir, "landing/in/orders"))).toEqual([]);
    const again = await sluice(["run", "--json"], dir);
    expect(again.code).toBe(0);
    expect(again.json<RunJson>().runs[0]!.files).toEqual([]);
  });

  it("loads, reports and archives a file whose name is not valid UTF-8, under an escaped name", async () => {
    const dir = makeProject(pipelineYaml(orders));
    const folder = join(dir, "landing/in/orders");
    mkdirSync(folder, { recursive: true });
    const raw = Buffer.concat([Buffer.from(`${folder}/caf`), Buffer.from([0xe9, 0xff]), Buffer.from(".csv")]);
    writeFileSync(raw, "id\n5\n");

    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const file = r.json<RunJson>().runs[0]!.files[0]!;
    expect(file.path).toBe("in/orders/caf\\xE9\\xFF.csv");
    expect(file.status).toBe("loaded");
    expect(file.archived_to).toMatch(/^archive\/orders\/\d{4}\/\d{2}\/caf\\xE9\\xFF_\d{14}\.csv$/);
    expect(readFileSync(join(dir, "landing", file.archived_to!), "utf8")).toBe("id\n5\n");
    expect(readdirSync(folder)).toEqual([]);
    const q = await sluice(["query", "select _sluice_source_file as f, id from orders", "--json"], dir);
    expect(q.json()).toEqual([{ f: "in/orders/caf\\xE9\\xFF.csv", id: 5 }]);
  });
});

describe("a file loaded but not moved", () => {
  it("is reported with archived_to null (printed and stored), and the next run moves it", async () => {
    const dir = makeProject(pipelineYaml(orders), { "landing/in/orders/a.csv": "id\n1\n" });
    // A file where the year folder should be: the move after the commit fails.
    const stamp = new Date().toISOString();
    addFile(dir, `landing/archive/orders/${stamp.slice(0, 4)}`, "in the way");
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.files[0]!.status).toBe("loaded");
    expect(run.files[0]!.archived_to).toBeNull();
    expect(run.files[0]!.warnings.join()).toMatch(
      /could not be moved to archive\/orders\/.*the next run moves it/,
    );
    const stored = await sluice(["runs", run.run_id, "--json"], dir);
    expect(stored.json<RunJson["runs"][number]>().files[0]!.archived_to).toBeNull();
    expect(existsSync(join(dir, "landing/in/orders/a.csv"))).toBe(true);

    rmSync(join(dir, `landing/archive/orders/${stamp.slice(0, 4)}`));
    const again = await sluice(["run", "--json"], dir);
    const file = again.json<RunJson>().runs[0]!.files[0]!;
    expect(file.status).toBe("skipped_duplicate");
    expect(existsSync(join(dir, "landing", file.archived_to!))).toBe(true);
    expect(existsSync(join(dir, "landing/in/orders/a.csv"))).toBe(false);
    expect(await count(dir)).toBe(1);
  });
});

describe("files restore", () => {
  const daily = `daily:
  source: { path: "in/daily/*.csv" }
  target: { table: daily }`;

  it("refuses an absolute or escaping --to, and a destination through a link", async () => {
    const dir = makeProject(pipelineYaml(daily), { "landing/in/daily/export.csv": "id\n1\n" });
    expect((await sluice(["run"], dir)).code).toBe(0);
    const elsewhere = outside();
    for (const to of [join(elsewhere, "x.csv"), "../x.csv", "in/../../x.csv"]) {
      const r = await sluice(["files", "restore", "export.csv", "--version", "1", "--to", to], dir);
      expect(r.code, to).toBe(2);
      expect(r.stderr).toMatch(/--to .*: give a path inside the landing zone/);
    }
    expect(existsSync(join(dir, "x.csv"))).toBe(false);
    symlinkSync(elsewhere, join(dir, "landing/in/daily/again"));
    const linked = await sluice(
      ["files", "restore", "export.csv", "--version", "1", "--to", "in/daily/again/x.csv"],
      dir,
    );
    expect(linked.code).toBe(1);
    expect(linked.stderr).toMatch(/in\/daily\/again: .*symbolic link/);
    expect(filesBelow(elsewhere)).toEqual([]);
    // A landing-relative --to still works.
    const ok = await sluice(
      ["files", "restore", "export.csv", "--version", "1", "--to", "in/daily/y.csv"],
      dir,
    );
    expect(ok.code).toBe(0);
    expect(readFileSync(join(dir, "landing/in/daily/y.csv"), "utf8")).toBe("id\n1\n");
  });
});

describe("work folders of killed runs", () => {
  it("a run removes the work folders that killed runs left in the temp folder, and only those", async () => {
    const temp = mkdtempSync(join(tmpdir(), "sluice-tmpdir-"));
    const dir = makeProject(pipelineYaml(orders), { "landing/in/orders/a.csv": "id\n1\n" });
    const big = `id,text\n${Array.from({ length: 400_000 }, (_, i) => `${i},row number ${i}`).join("\n")}\n`;
    addFile(dir, "landing/in/orders/big.csv", big);
    const env = { TMPDIR: temp };
    // Kill -9 a run once its work folder exists.
    const { spawn } = await import("node:child_process");
    const { cliPath } = await import("../support/cli.js");
    const child = spawn(process.execPath, [cliPath, "run"], { cwd: dir, env: { ...process.env, ...env } });
    const exited = new Promise((done) => child.once("exit", done));
    for (let i = 0; i < 600 && !readdirSync(temp).some((n) => n.startsWith("sluice-run-")); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill("SIGKILL");
    await exited;
    const left = readdirSync(temp).filter((n) => n.startsWith("sluice-"));
    expect(left.some((n) => n.startsWith("sluice-run-"))).toBe(true);
    // A folder of a live process (this one) is never taken.
    const live = readdirSync(temp)
      .find((n) => n.startsWith("sluice-run-"))!
      .replace(/-\d+-([A-Za-z0-9]+)$/, `-${process.pid}-$1`);
    mkdirSync(join(temp, live));

    const r = await sluice(["run", "--json"], dir, { env });
    expect(r.code).toBe(0);
    expect(readdirSync(temp).filter((n) => n.startsWith("sluice-"))).toEqual([live]);
  });
});
