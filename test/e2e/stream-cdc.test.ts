import { describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";
import { connectField, envelopeSchema, wrapped } from "../support/debezium.js";
import { killWorkerRepeatedly, queryRows } from "../support/stream-worker.js";
import {
  natsAvailable,
  natsTestStream,
  natsUrl,
  publishNats,
  streamAroundTests,
} from "../support/streams.js";

const available = await natsAvailable();
const { stream: STREAM, subject: SUBJECT } = natsTestStream("CDCSTREAM");

interface Row {
  id: number;
  name: string;
  qty: number;
}

const schema = envelopeSchema([
  connectField.int32("id"),
  connectField.string("name"),
  connectField.int32("qty"),
]);

/**
 * A source table changed `events` times at random (inserts of new keys, updates, deletes, keys coming
 * back after a delete) and the Debezium envelopes of those changes, in commit order (`source.lsn`).
 */
function changes(events: number, keys: number): { table: Map<number, Row>; envelopes: string[] } {
  const table = new Map<number, Row>();
  const envelopes: string[] = [];
  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let lsn = 1; lsn <= events; lsn++) {
    const id = 1 + Math.floor(random() * keys);
    const before = table.get(id) ?? null;
    let op: "c" | "u" | "d";
    let after: Row | null;
    if (!before) {
      op = "c";
      after = { id, name: `name ${id} v${lsn}`, qty: lsn % 1000 };
    } else if (random() < 0.75) {
      op = "u";
      after = { ...before, name: `name ${id} v${lsn}`, qty: (before.qty + lsn) % 1000 };
    } else {
      op = "d";
      after = null;
    }
    if (after) table.set(id, after);
    else table.delete(id);
    envelopes.push(wrapped(schema, { op, before, after, source: { lsn }, ts_ms: 1_700_000_000_000 + lsn }));
  }
  return { table, envelopes };
}

describe.skipIf(!available)("Debezium change events on a NATS stream into mode: cdc", () => {
  streamAroundTests(STREAM, SUBJECT);

  it("the final table equals the source table, across many batches and kill -9 of the worker", async () => {
    const { table, envelopes } = changes(6_000, 300);
    // A key's changes span many batches (300 events each, 20 in all); one poison message in the middle.
    await publishNats(`${SUBJECT}.dbz`, [
      ...envelopes.slice(0, 3_000),
      "not a change event",
      ...envelopes.slice(3_000),
    ]);
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  accounts:
    source:
      stream: { kind: nats, url: "${natsUrl}", stream: ${STREAM}, subject: "${SUBJECT}.dbz", durable: cdc, ack_wait: 3s }
      batch: { max_rows: 300, max_wait: 300ms }
    # After a kill, the broker delivers the killed worker's messages again once their ack wait is out:
    # older events may then come after newer ones. A deleted key's row stays (soft) with its position, so
    # an older event of it is recognised and ignored (a hard delete would let it bring the row back).
    target: { table: accounts, mode: cdc, keys: [id], cdc: { soft_delete: true } }
`);
    await killWorkerRepeatedly(dir, 2, { jitterMs: 1_000 });
    const rest = await sluice(["worker", "--exit-when-idle", "4s"], dir, { timeoutMs: 240_000 });
    expect(rest.code, rest.stderr).toBe(0);
    const rows = await queryRows<Row>(
      dir,
      "SELECT id, name, qty FROM accounts WHERE NOT _sluice_deleted ORDER BY id",
    );
    const expected = [...table.values()].sort((a, b) => a.id - b.id);
    // Deletes happened: some keys are gone.
    expect(expected.length).toBeLessThan(300);
    expect(rows).toEqual(expected);
    const [q] = await queryRows<{ n: number }>(
      dir,
      "SELECT count(*) AS n FROM sluice.quarantine WHERE pipeline = 'accounts'",
    );
    expect(q).toEqual({ n: 1 });
  }, 300_000);
});
