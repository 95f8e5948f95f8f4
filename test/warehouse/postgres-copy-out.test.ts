import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyOut } from "../../src/warehouse/postgres-copy-out.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

/** Everything a COPY stream gives, joined, and COPY's row count. */
async function read(client: pg.Client, stream: ReturnType<typeof copyTo>): Promise<[Buffer, number]> {
  const parts: Buffer[] = [];
  const copy = client.query(stream);
  await pipeline(
    copy,
    new Writable({
      write(chunk, _encoding, done) {
        parts.push(chunk);
        done();
      },
    }),
  );
  return [Buffer.concat(parts), copy.rowCount];
}

describe.skipIf(!available)("copyOut", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await db?.cleanup();
  });

  it("gives the same bytes and count as pg-copy-streams: rows of every length, messages split across socket reads", async () => {
    // 300k rows of 1 to ~2,000 bytes: many socket reads, so message headers and rows fall across them.
    const sql = `COPY (SELECT g, repeat(chr(65 + g % 26), ((g::bigint * 7919) % 2000)::int), CASE WHEN g % 5 = 0 THEN NULL ELSE 'x,"y"' || chr(10) || 'z' END
      FROM generate_series(1, 300000) g) TO STDOUT WITH (FORMAT csv)`;
    const [ours, ourCount] = await read(client, copyOut(sql));
    const [theirs, theirCount] = await read(client, copyTo(sql));
    expect(ourCount).toBe(300000);
    expect(theirCount).toBe(300000);
    expect(ours.length).toBe(theirs.length);
    expect(ours.equals(theirs)).toBe(true);
    // The connection is the query's again afterwards.
    expect((await client.query("SELECT 41 + 1 AS n")).rows[0].n).toBe(42);
  });

  it("an error in the middle of the rows fails the stream with the server's message; the connection stays usable", async () => {
    const sql = `COPY (SELECT g, 100 / (150000 - g) FROM generate_series(1, 200000) g) TO STDOUT WITH (FORMAT csv)`;
    await expect(read(client, copyOut(sql))).rejects.toThrow(/division by zero/);
    expect((await client.query("SELECT 1 AS n")).rows[0].n).toBe(1);
  });

  it("an empty result ends with a count of 0", async () => {
    const [bytes, count] = await read(
      client,
      copyOut("COPY (SELECT 1 WHERE false) TO STDOUT WITH (FORMAT csv)"),
    );
    expect(bytes.length).toBe(0);
    expect(count).toBe(0);
  });

  it("notices sent while rows are copied are not rows", async () => {
    await client.query(`CREATE FUNCTION noisy(i int) RETURNS int LANGUAGE plpgsql AS $$
      BEGIN IF i % 1000 = 0 THEN RAISE NOTICE 'at %', i; END IF; RETURN i; END $$`);
    const sql = "COPY (SELECT noisy(g) FROM generate_series(1, 5000) g) TO STDOUT WITH (FORMAT csv)";
    const [ours, count] = await read(client, copyOut(sql));
    expect(count).toBe(5000);
    expect(ours.toString()).toBe(`${Array.from({ length: 5000 }, (_, i) => i + 1).join("\n")}\n`);
  });
});
