export * from "./eventually.js";
export * from "./ports.js";
export * from "./nats-server.js";
export * from "./postgres.js";
export * from "./random.js";
export * from "./start-together.js";
export * from "./private-postgres.js";
