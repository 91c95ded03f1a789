import { BlockList, isIP } from "node:net";

/**
 * Addresses a webhook may not reach unless configured (WEBHOOK_ALLOWED_PRIVATE_HOSTS): loopback,
 * private, link-local (cloud metadata at 169.254.169.254), shared, benchmark, multicast and reserved
 * ranges, IPv4 and IPv6 — the orders service's own neighbourhood, not a reseller's system.
 */
const INTERNAL = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) INTERNAL.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["64:ff9b::", 96]] as const) INTERNAL.addSubnet(net, bits, "ipv6");

/** An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is checked as the IPv4 address it is. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

export function isInternalAddress(address: string): boolean {
  const a = unmapped(address.replace(/^\[|\]$/g, ""));
  const family = isIP(a);
  if (family === 0) return false;
  return INTERNAL.check(a, family === 4 ? "ipv4" : "ipv6");
}

/** Which internal targets are allowed anyway: exact host names or addresses (e.g. `127.0.0.1` in tests). */
export class TargetPolicy {
  private readonly allowed: ReadonlySet<string>;

  constructor(allowedInternalHosts: readonly string[] = []) {
    this.allowed = new Set(allowedInternalHosts.map((h) => unmapped(h.trim().toLowerCase().replace(/^\[|\]$/g, ""))).filter(Boolean));
  }

  /** Whether a resolved address may be connected to. */
  addressAllowed(address: string): boolean {
    return !isInternalAddress(address) || this.allowed.has(unmapped(address.toLowerCase()));
  }

  /**
   * Why `raw` cannot be a webhook URL (null: it can): only absolute http/https URLs without
   * credentials, and no host that is plainly internal (an internal address, `localhost`, `*.local`,
   * `*.internal`) unless allowed. Names are resolved again at every delivery (see WebhookSender),
   * so a name that later points inside is refused then.
   */
  refusal(raw: string): { code: "validation_failed" | "target_not_allowed"; message: string } | null {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return { code: "validation_failed", message: "url is not an absolute URL" };
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") return { code: "validation_failed", message: "url must be http or https" };
    if (url.username || url.password) return { code: "validation_failed", message: "url must not carry credentials" };
    if (url.hash) return { code: "validation_failed", message: "url must not have a fragment" };
    const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
    if (this.allowed.has(unmapped(host))) return null;
    const internalName = host === "localhost" || /\.(localhost|local|internal|localdomain)\.?$/.test(host) || !host.includes(".") && isIP(host) === 0;
    if (internalName || isInternalAddress(host)) return { code: "target_not_allowed", message: "url points at an internal host; webhooks go to reachable public systems" };
    return null;
  }
}
