/**
 * The per-watch check budget, pure: at most `maxChecks` checks in the first `withinMs` after an
 * order was sent (e.g. 30 in the first hour, 100 in the first day), enforced on the watch itself
 * (its check count and sent time), so it holds whatever schedule places the checks and however
 * often that schedule changes while the watch waits (issue 13).
 *
 * The rule: with `remaining` = maxChecks − checks done, a next check inside the window goes no
 * earlier than
 *
 *     elapsed + (withinMs − elapsed) / 2^remaining      (remaining ≥ 1)
 *     withinMs                                          (remaining ≤ 0)
 *
 * So the last check of the budget can only land at or after the window's end: the window never
 * holds more than `maxChecks` (proof: each check inside it lowers `remaining` by one, and at 0 the
 * next is pushed out of it). The floor halves the time left per check still in hand, so it is
 * negligible while many are left (30 left: under 4 µs per hour) and only spreads the last few
 * checks over the rest of the window, instead of letting a watch spend its budget early and then
 * wait for the window's end. A schedule that stays within the budget on its own is never moved.
 */

/** At most `maxChecks` checks earlier than `withinMs` after the order was sent. */
export interface CheckWindow {
  withinMs: number;
  maxChecks: number;
}

export type CheckBudget = readonly CheckWindow[];

/** The earliest time (ms after sent) the next check may go, after `checksDone` checks made by `elapsedMs`. */
export function earliestNextCheckMs(budget: CheckBudget | undefined, checksDone: number, elapsedMs: number): number {
  let earliest = elapsedMs;
  if (!budget) return earliest;
  for (const { withinMs, maxChecks } of budget) {
    if (elapsedMs >= withinMs) continue;
    const remaining = maxChecks - checksDone;
    const floor = remaining <= 0 ? withinMs : elapsedMs + Math.ceil((withinMs - elapsedMs) / 2 ** remaining);
    earliest = Math.max(earliest, floor);
  }
  return earliest;
}

/** A delay from `elapsedMs` to the next check, pushed back to what the budget allows. */
export function withinBudgetDelayMs(budget: CheckBudget | undefined, checksDone: number, elapsedMs: number, delayMs: number): number {
  return Math.max(delayMs, earliestNextCheckMs(budget, checksDone, elapsedMs) - elapsedMs);
}

/** The checks at times (ms after sent) earlier than `withinMs`. */
export function checksBefore(times: readonly number[], withinMs: number): number {
  let count = 0;
  for (const t of times) if (t < withinMs) count++;
  return count;
}
