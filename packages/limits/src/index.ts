export * from "./circuit.js";
export * from "./token-bucket.js";
export * from "./provider-gate.js";
