export * from "./pin-cipher.js";
export * from "./redact.js";
