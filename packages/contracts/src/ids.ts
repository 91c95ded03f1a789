import { z } from "zod";

/** Order ids travel inside NATS subjects, so they must be subject-safe: no dots, wildcards or spaces. */
export const ORDER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const OrderId = z.string().regex(ORDER_ID_PATTERN, "must be 1-64 characters of A-Z a-z 0-9 _ -");
export type OrderId = z.infer<typeof OrderId>;

export const PackageId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "must be a lower-case package id");

export const ProviderName = z.enum(["znet", "xstor"]);
export type ProviderName = z.infer<typeof ProviderName>;

/** A money amount as the provider gave it: a decimal string, never a float. */
export const Money = z.string().regex(/^-?\d+(\.\d+)?$/, "must be a decimal number");
