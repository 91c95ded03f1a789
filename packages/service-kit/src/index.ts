export * from "./logger.js";
export * from "./nest-logger.js";
export * from "./config.js";
export * from "./health.js";
export * from "./metrics.js";
export * from "./bootstrap.js";
export * from "./json-body.js";
export * from "./tracing.js";
