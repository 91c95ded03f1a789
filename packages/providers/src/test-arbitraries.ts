/**
 * Shared by the providers' property tests (znet, x-stor parse-props specs): the shape checks every
 * parsed result must pass, and the generic reply bodies both feed their parsers. Test-only.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { isPinPlaceholder } from "./pin-rule.js";
import type { BalanceResult, CheckResult, PlaceResult } from "./provider.js";

export const REASONS = ["insufficient_balance", "product_unavailable", "invalid_player", "auth_failed", "duplicate_reference", "provider_error"];

export const keys = (v: object): string[] => Object.keys(v).sort();
export const isStrOrNull = (v: unknown): boolean => v === null || typeof v === "string";

/** A well-formed PlaceResult; `providerCode`: what a refusal's provider code must match, when the provider has a format. */
export function assertPlace(r: PlaceResult, opts: { providerCode?: RegExp } = {}): void {
  switch (r.kind) {
    case "accepted":
      assert.deepEqual(keys(r), ["balance", "cost", "kind", "pin", "providerOrderId"]);
      assert.match(r.cost, /^\d+(\.\d+)?$/);
      assert.ok(isStrOrNull(r.balance) && isStrOrNull(r.pin) && isStrOrNull(r.providerOrderId));
      assert.ok(r.pin === null || !isPinPlaceholder(r.pin), `a placeholder taken as a PIN: ${JSON.stringify(r.pin)}`);
      return;
    case "refused":
      assert.deepEqual(keys(r), ["kind", "message", "providerCode", "reasonCode"]);
      if (opts.providerCode !== undefined) assert.match(r.providerCode, opts.providerCode);
      assert.ok(typeof r.providerCode === "string" && typeof r.message === "string" && REASONS.includes(r.reasonCode));
      return;
    case "ambiguous":
      assertUnclearKeys(r);
      assert.ok(r.cause.length > 0);
      return;
    default:
      assert.fail(`not a PlaceResult: ${JSON.stringify(r)}`);
  }
}

/** An unclear result: a cause, and `accessDenied: true` only when the provider shut us out. */
function assertUnclearKeys(r: { cause: string; accessDenied?: true }): void {
  if (r.accessDenied === undefined) assert.deepEqual(keys(r), ["cause", "kind"]);
  else assert.deepEqual([keys(r), r.accessDenied], [["accessDenied", "cause", "kind"], true]);
}

/** A well-formed CheckResult; `pin`: a further check of a done PIN (beyond non-empty and trimmed). */
export function assertCheck(r: CheckResult, opts: { pin?: (pin: string) => boolean } = {}): void {
  switch (r.kind) {
    case "pending":
    case "cancelled":
      assert.deepEqual(keys(r), ["kind", "note"]);
      assert.ok(isStrOrNull(r.note));
      return;
    case "done":
      assert.deepEqual(keys(r), ["kind", "note", "pin"]);
      assert.ok(r.pin !== "" && r.pin === r.pin.trim());
      assert.ok(!isPinPlaceholder(r.pin), `a placeholder taken as a PIN: ${JSON.stringify(r.pin)}`);
      if (opts.pin !== undefined) assert.ok(opts.pin(r.pin), `unexpected PIN ${JSON.stringify(r.pin)}`);
      return;
    case "not_found":
      assert.deepEqual(keys(r), ["kind", "message"]);
      return;
    case "unknown":
      assertUnclearKeys(r);
      assert.ok(r.cause.length > 0);
      return;
    default:
      assert.fail(`not a CheckResult: ${JSON.stringify(r)}`);
  }
}

export function assertBalance(r: BalanceResult): void {
  if (r.kind === "ok") assert.match(r.balance, /^-?\d+(\.\d+)?$/);
  else if (r.kind === "failed") assert.ok(r.cause.length > 0);
  else assert.fail(`not a BalanceResult: ${JSON.stringify(r)}`);
}

/** Arbitrary text of every kind (ASCII, any code unit, graphemes): the provider-neutral part of the reply bodies. */
export const anyText: fc.Arbitrary<string>[] = [fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" })];

/** Bodies that must never be read as an answer: empty, blank, or HTML (a `<html>` page, or anything starting with `<`). */
export function riskyBodies(bodies: fc.Arbitrary<string>, ...more: fc.Arbitrary<string>[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constant(""),
    fc.string({ unit: fc.constantFrom(" ", "\n", "\t", "\r") }),
    bodies.map((b) => `<html>${b}`),
    ...more,
    bodies.map((b) => ` <${b}`),
  );
}

/**
 * What providers put in a PIN field when there is no PIN: blank, dashes, `null`, `N/A` and the like,
 * in any case and with any padding. None of them is ever a PIN.
 */
export const pinPlaceholder: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom("", "-", "--", "---", "—", "–", "null", "NULL", "Null", "N/A", "n/a", "NA", "none", "None", "nil", "undefined", "yok", "Yok", "...", "*", "***", "_", "0"),
    fc.constantFrom("", " ", "  ", "\t", "\n"),
    fc.constantFrom("", " ", "  ", "\r\n"),
  )
  .map(([p, before, after]) => `${before}${p}${after}`);

/** A PIN as providers deliver it: letters, digits, dashes and spaces (several codes or a serial), never a placeholder. */
export const pinValue: fc.Arbitrary<string> = fc
  .tuple(
    fc.stringMatching(/^[A-Z0-9]{4,8}$/),
    fc.array(fc.stringMatching(/^[A-Z0-9]{2,8}$/), { maxLength: 3 }),
    fc.constantFrom("-", " ", " / "),
  )
  .map(([head, rest, sep]) => [head, ...rest].join(sep))
  .filter((p) => /\d/.test(p) && /[A-Z]/.test(p) && p.length >= 6);
