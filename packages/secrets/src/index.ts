export * from "./pin-cipher.js";
export * from "./redact.js";
export * from "./webhook-signature.js";
