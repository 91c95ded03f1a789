import type { DispatchRow } from "./dispatch.js";

/**
 * A dispatch row without what is not a fact (lease, next-check time, version, write time), for
 * comparing a live row with its fold. `ignoreHoldSince`: a hold's `since` left out too (drives whose
 * events are stamped at another moment than the decision).
 */
export function rowFacts(row: DispatchRow | null, opts: { ignoreHoldSince?: boolean } = {}): Record<string, unknown> | null {
  if (row === null) return null;
  const { version: _v, updatedAt: _u, ...rest } = row as DispatchRow & { leaseUntil?: unknown; nextTryAt?: unknown };
  const r: Record<string, unknown> = { ...rest };
  delete r["leaseUntil"];
  delete r["nextTryAt"];
  if (opts.ignoreHoldSince === true && r["hold"] !== null && typeof r["hold"] === "object") r["hold"] = { ...(r["hold"] as object), since: "-" };
  return r;
}
