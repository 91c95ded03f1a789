export * from "./provider.js";
export * from "./redact.js";
export * from "./http-get.js";
export * from "./znet/parse.js";
export * from "./znet/map-player.js";
export * from "./znet/client.js";
// x-stor: its parsers share names with znet's, so they are exported under x-stor names.
export {
  parsePlaceReply as parseXstorPlaceReply,
  parseCheckReply as parseXstorCheckReply,
  parseBalanceReply as parseXstorBalanceReply,
  parseProducts as parseXstorProducts,
  refusalReason as xstorRefusalReason,
  statusMeaning as xstorStatusMeaning,
  checkEntryResult as xstorCheckEntryResult,
} from "./xstor/parse.js";
export type {
  XstorCheckBy,
  XstorCheckQuery,
  XstorCheckFailure,
  XstorProduct,
  XstorProductListResult,
  XstorQtyValues,
  XstorStatusMeaning,
} from "./xstor/parse.js";
export * from "./xstor/client.js";
export * from "./pin-rule.js";
export { maskCheckResult, maskPlaceResult } from "./client-results.js";
