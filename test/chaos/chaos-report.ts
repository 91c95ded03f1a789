/** The chaos report as text: the figures first, then what went wrong (if anything), then the faults. */
import type { ChaosReport } from "./chaos-run.js";

export function formatReport(r: ChaosReport): string {
  const c = r.checks;
  const line = (label: string, f: { count: number; examples: string[] }) =>
    [`  ${label.padEnd(44)} ${f.count}`, ...f.examples.map((e) => `      ${e}`)].join("\n");
  const out = [
    `chaos run: seed ${r.seed}, ${r.created}/${r.orders} orders created in ${(r.loadMs / 1000).toFixed(1)} s (${r.createRetries} retried POSTs), settled after ${(r.settleMs / 1000).toFixed(1)} s more; whole run ${(r.durationMs / 1000).toFixed(1)} s`,
    `  outcomes: ${JSON.stringify(r.outcomes)}`,
    `  faults: ${r.faults.length} (${r.faultErrors.length} could not be applied), hostile requests ${r.hostile.sent} ${JSON.stringify(r.hostile.byStatus)}`,
    line("replicas that crashed on their own (goal 0)", { count: r.crashes.length, examples: r.crashes.slice(0, 8) }),
    `  ${"failed starts, repeated by the supervisor".padEnd(44)} ${r.startFailures.length}${r.startFailures.length ? ` (${[...new Set(r.startFailures)].slice(0, 3).join("; ")})` : ""}`,
    line("orders the API never accepted (goal 0)", c.notCreated),
    line("double placements at the simulators (goal 0)", c.doublePlacements),
    line("orders not completed/failed/review (goal 0)", c.notSettled),
    line("issued PINs the customer cannot read (goal 0)", c.pinsUnreadable),
    `  ${"PINs held for orders in review (operator)".padEnd(44)} ${c.pinsAwaitingReview}`,
    line("orders without exactly 1 terminal event (0)", c.terminalEvents),
    `  ${"malformed events on the stream".padEnd(44)} ${c.malformedEvents}`,
    line("orders rows: rebuilt ≠ live (goal 0)", c.rebuild.orders),
    line("dispatcher rows: rebuilt ≠ live (goal 0)", c.rebuild.dispatcher),
    line("status-poller rows: rebuilt ≠ live (goal 0)", c.rebuild["status-poller"]),
    line("plaintext PINs/secrets in logs/tables/events", c.secretsFound),
    `  verdict: ${c.passed && r.crashes.length === 0 ? "PASS" : "FAIL"}`,
  ];
  if (r.faultErrors.length > 0) out.push("  fault errors:", ...r.faultErrors.map((e) => `    ${e}`));
  if (r.growth.length > 0) {
    out.push("  processes (after warm-up): name pid span rss first→last (max) MB, fds first→last (max)");
    for (const g of r.growth) {
      const mb = (kb: number) => (kb / 1024).toFixed(1);
      out.push(`    ${g.name.padEnd(16)} ${String(g.pid).padEnd(8)} ${(g.spanMs / 1000).toFixed(0).padStart(5)} s  ${mb(g.firstRssKb)}→${mb(g.lastRssKb)} (${mb(g.maxRssKb)})  ${g.firstFds}→${g.lastFds} (${g.maxFds})`);
      // A process that lived through several windows: its median memory per window, so a climb shows.
      if (g.windows.length > 2) out.push(`      median RSS per window, MB: ${g.windows.map((w) => mb(w.medianRssKb)).join(" ")}`);
    }
  }
  out.push("  fault schedule:", ...r.faults.map((f) => `    ${f}`));
  return out.join("\n");
}

/**
 * Why a start failed, from waitReady's error (its first line, then the log's tail): the message of
 * the last fatal log line when there is one (e.g. "status poller failed to start"), else the first line.
 */
export function whyNotStarted(message: string): string {
  const fatal = message.split("\n").filter((line) => line.includes('"level":60')).pop();
  const msg = fatal === undefined ? undefined : /"msg":"([^"]*)"/.exec(fatal)?.[1];
  const err = fatal === undefined ? undefined : /"err":\{"type":"[^"]*","message":"([^"]*)"/.exec(fatal)?.[1];
  if (msg !== undefined) return err === undefined ? msg : `${msg}: ${err}`;
  return message.split("\n")[0]!.slice(0, 200);
}
