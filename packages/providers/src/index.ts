export * from "./provider.js";
export * from "./redact.js";
export * from "./http-get.js";
export * from "./znet/parse.js";
export * from "./znet/map-player.js";
export * from "./znet/client.js";
