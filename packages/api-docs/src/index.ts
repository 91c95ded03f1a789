export * from "./openapi.js";
