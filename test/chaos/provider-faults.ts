/**
 * The simulators' rules during a chaos run: one rule per player kind (scenario.ts), plus the
 * provider-wide fault windows open at the moment (a catch-all rule added last wins over the kinds).
 */
import type { XstorSimulator } from "../simulators/xstor.js";
import type { ZnetSimulator } from "../simulators/znet.js";
import { PLAYER_KINDS, type ProviderWindow } from "./scenario.js";

/** Balance the simulators start with and get back after a no-balance window (TRY). */
export const CHAOS_BALANCE = 100_000_000;

export class ProviderFaults {
  private readonly open = new Map<ProviderWindow, number>();

  constructor(
    private readonly znet: ZnetSimulator,
    private readonly xstor: XstorSimulator,
  ) {
    this.apply();
  }

  /** Opens `window` (windows of the same kind may overlap: it closes when the last one does). */
  openWindow(window: ProviderWindow): void {
    this.open.set(window, (this.open.get(window) ?? 0) + 1);
    this.apply();
  }

  closeWindow(window: ProviderWindow): void {
    const n = (this.open.get(window) ?? 0) - 1;
    if (n <= 0) this.open.delete(window);
    else this.open.set(window, n);
    this.apply();
  }

  /** Only the per-kind rules, every window closed. */
  closeAll(): void {
    this.open.clear();
    this.apply();
  }

  private apply(): void {
    this.znet.clearRules();
    this.xstor.clearRules();
    for (const kind of PLAYER_KINDS) {
      if (kind.znet) this.znet.addRule({ playerId: `${kind.prefix}-`, match: "prefix", ...kind.znet });
      if (kind.xstor) this.xstor.addRule({ playerId: `${kind.prefix}-`, match: "prefix", ...kind.xstor });
    }
    const all = { playerId: "", match: "prefix" } as const;
    this.znet.setBalance(this.open.has("znet-no-balance") ? 0 : CHAOS_BALANCE);
    for (const window of this.open.keys()) {
      switch (window) {
        case "znet-place-500":
          this.znet.addRule({ ...all, placeFault: "http500" });
          break;
        case "znet-drop-after-accept":
          this.znet.addRule({ ...all, placeFault: "drop-after-accept" });
          break;
        case "znet-check-html":
          this.znet.addRule({ ...all, checkFault: "html" });
          break;
        case "znet-slow":
          this.znet.addRule({ ...all, placeFault: "slow-accept", slowMs: 3_000 });
          break;
        case "xstor-place-500":
          this.xstor.addRule({ ...all, placeFault: "http500" });
          break;
        case "xstor-check-empty":
          this.xstor.addRule({ ...all, checkFault: "empty" });
          break;
        case "znet-no-balance":
          break;
      }
    }
  }
}
