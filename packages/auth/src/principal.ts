import type { Role } from "./api-key.js";

/** Who is calling: a valid, unrevoked key. `tenantId` null: an operator or admin of every tenant. */
export interface Principal {
  keyId: string;
  role: Role;
  tenantId: string | null;
}

/** Whether the caller may see an order of `tenantId` (a customer: only its own; an operator: its scope). */
export function canSeeTenant(principal: Principal, tenantId: string): boolean {
  if (principal.role === "admin") return false;
  return principal.tenantId === null || principal.tenantId === tenantId;
}

/** The caller owns the order: a customer key of the order's tenant (only the owner reads a PIN). */
export function isOwner(principal: Principal, tenantId: string): boolean {
  return principal.role === "customer" && principal.tenantId === tenantId;
}
