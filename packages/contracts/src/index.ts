export * from "./ids.js";
export * from "./reasons.js";
export * from "./pin.js";
export * from "./events.js";
export * from "./subjects.js";
export * from "./http.js";
export * from "./asyncapi.js";
export * from "./webhooks.js";
