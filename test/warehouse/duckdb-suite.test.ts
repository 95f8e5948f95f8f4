import { runWarehouseSuite } from "./warehouse-suite.js";

runWarehouseSuite("duckdb", async () => ({
  spec: "duckdb:warehouse.duckdb",
  cleanup: async () => undefined,
}));
