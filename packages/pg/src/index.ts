export * from "./pool.js";
export * from "./migrate.js";
export * from "./outbox.js";
export * from "./checkpoint.js";
export * from "./schema.js";
export * from "./dead-letter.js";
