import { describe } from "vitest";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { runWarehouseSuite } from "./warehouse-suite.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!available)("postgres", () => {
  runWarehouseSuite("postgres", async () => {
    const db = await createTestDatabase();
    return { spec: db.url, cleanup: db.cleanup };
  });
});
