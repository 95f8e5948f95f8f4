export * from "./delta-checkpoint.js";
export * from "./delta-log.js";
export * from "./delta-reader.js";
export * from "./delta-schema.js";
export * from "./delta-snapshot.js";
export * from "./file-pruning.js";
export * from "./lake-table.js";
export * from "./partition-values.js";
