export * from "./api-key.js";
export * from "./principal.js";
export * from "./key-store.js";
export * from "./throttle.js";
export * from "./authenticator.js";
export * from "./http.js";
export * from "./access.js";
