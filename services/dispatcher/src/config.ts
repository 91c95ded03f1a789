import type { ProviderName } from "@pinflow/contracts";
import type { ProviderLimits } from "@pinflow/limits";
import {
  checkProviderAccounts,
  priceGuard,
  priceGuardSettings,
  providerAccounts,
  providerAccountSettings,
  providerLimits,
  providerLimitSettings,
  type ProviderAccounts,
} from "@pinflow/provider-config";
import { BaseConfig, KeyStoreConfig, loadConfig, msSetting, natsAccess, pgTimeouts, type NatsAccess } from "@pinflow/service-kit";
import { z } from "zod";
import { DEFAULT_POLICY, type DispatchPolicy, type PriceGuard } from "./dispatch.js";

/** Provider accounts: shared by the service and the catalog import command. */
export const ProviderEnv = z.object(providerAccountSettings({ znetMs: 15_000, xstorMs: 30_000 /* x-stor: 15–30 s is normal for a placement */ }));

export const DispatcherEnv = BaseConfig.extend({
  ...ProviderEnv.shape,
  ...KeyStoreConfig.shape,
  CATALOG_FILE: z.string().min(1),
  /** The PIN keyring (`keyId:base64(32 bytes)[,…]`, first one encrypts): a PIN in a place reply is sealed at once. */
  PIN_KEYS: z.string().min(1),
  RECONCILE_MAX_TRIES: z.coerce.number().int().min(1).max(100).default(8),
  /** First reconcile delay after an ambiguous placement; doubles per unclear answer. */
  RECONCILE_BASE_MS: msSetting(2_000),
  RECONCILE_MAX_DELAY_MS: msSetting(60_000),
  /** How long the row stays held past a provider call's timeout before another replica may take over. */
  LEASE_MARGIN_MS: msSetting(15_000),
  CONSUMER_ACK_WAIT_MS: msSetting(30_000).pipe(z.number().min(1_000)),
  CONSUMER_BATCH: z.coerce.number().int().min(1).max(10).default(5),
  /**
   * OrderCreated messages one replica handles at once. Each provider takes at most its concurrency
   * in calls plus twice that in queued handlers (replica-slots.ts): keep this above the sum over
   * providers of 3 × <PROVIDER>_CONCURRENCY, so a stalled provider never takes another's handlers.
   */
  DISPATCH_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).default(48),
  /** The consumer's max_ack_pending (all replicas): orders waiting for a provider count; far above any backlog. */
  CONSUMER_MAX_ACK_PENDING: z.coerce.number().int().min(100).default(10_000),
  /** Handler failures of one OrderCreated (not database outages; waiting never counts) before it is dead-lettered. */
  CONSUMER_MAX_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  /** The consumer's max_deliver: every delivery counts, waits too; a backstop far above any legitimate wait. */
  CONSUMER_MAX_DELIVER: z.coerce.number().int().min(10).default(20_000),
  // Per-provider limits, shared by every replica through the dispatcher's database (its share of each account).
  ...providerLimitSettings({ znet: 2, xstor: 4 }),
  /** How often the provider balances are read for the pinflow_provider_balance gauge (0 = never). */
  BALANCE_REFRESH_MS: msSetting(60_000),
  /** How long an order may wait while its provider's calls are held back (paused, circuit open, shut out, not configured) before review. */
  DISPATCH_DEADLINE_MS: msSetting(30 * 60_000).pipe(z.number().min(1_000)),
  /** Offers are placed only at a known price unless allowed per provider. */
  ...priceGuardSettings(),
}).superRefine(checkProviderAccounts);

export type DispatcherEnv = z.infer<typeof DispatcherEnv>;

export type ProviderConfigs = ProviderAccounts;

export interface DispatcherConfig extends ProviderConfigs {
  natsUrl: string;
  /** PINFLOW_ENV: the stream, subjects and durable names derive from it. */
  environment: string;
  databaseUrl: string;
  /** The orders database, where the API keys are (read only). */
  authDatabaseUrl: string;
  authMaxFailures: number;
  authFailureWindowMs: number;
  /** PostgreSQL connect / statement / query / idle-in-transaction limits (PG_*_TIMEOUT_MS). */
  pgTimeouts: ReturnType<typeof pgTimeouts>;
  httpPort: number;
  httpHost: string;
  /** The dispatcher's NATS user and TLS (the password is never logged). */
  nats: NatsAccess;
  catalogFile: string;
  /** PIN_KEYS: never logged. */
  pinKeys: string;
  reconcileMaxTries: number;
  reconcileBaseMs: number;
  reconcileMaxDelayMs: number;
  leaseMarginMs: number;
  ackWaitMs: number;
  batch: number;
  concurrency: number;
  maxAckPending: number;
  maxFailures: number;
  maxDeliver: number;
  /** For every configured provider. */
  limits: Partial<Record<ProviderName, ProviderLimits>>;
  defaultRetryAfterMs: number;
  gateMaxWaitMs: number;
  balanceRefreshMs: number;
  priceGuard: PriceGuard;
  dispatchDeadlineMs: number;
}

/** Read and check the environment; passwords and tokens come from the env or a file (trimmed), never echoed. */
export function loadDispatcherConfig(env: NodeJS.ProcessEnv = process.env): DispatcherConfig {
  const e = loadConfig(DispatcherEnv, env);
  const providers = providerConfigs(e);
  // A slot whose holder died is free again once its call would have timed out.
  const limits = providerLimits(e, providers, (timeoutMs) => timeoutMs + e.LEASE_MARGIN_MS);
  return {
    natsUrl: e.NATS_URL,
    nats: natsAccess(e),
    environment: e.PINFLOW_ENV,
    databaseUrl: e.DATABASE_URL,
    authDatabaseUrl: e.AUTH_DATABASE_URL,
    authMaxFailures: e.AUTH_MAX_FAILURES,
    authFailureWindowMs: e.AUTH_FAILURE_WINDOW_MS,
    pgTimeouts: pgTimeouts(e),
    httpPort: e.HTTP_PORT,
    httpHost: e.HTTP_HOST,
    catalogFile: e.CATALOG_FILE,
    pinKeys: e.PIN_KEYS,
    ...providers,
    reconcileMaxTries: e.RECONCILE_MAX_TRIES,
    reconcileBaseMs: e.RECONCILE_BASE_MS,
    reconcileMaxDelayMs: e.RECONCILE_MAX_DELAY_MS,
    leaseMarginMs: e.LEASE_MARGIN_MS,
    ackWaitMs: e.CONSUMER_ACK_WAIT_MS,
    batch: e.CONSUMER_BATCH,
    concurrency: e.DISPATCH_CONCURRENCY,
    maxAckPending: e.CONSUMER_MAX_ACK_PENDING,
    maxFailures: e.CONSUMER_MAX_FAILURES,
    maxDeliver: e.CONSUMER_MAX_DELIVER,
    limits,
    defaultRetryAfterMs: e.PROVIDER_RETRY_AFTER_MS,
    gateMaxWaitMs: e.GATE_MAX_WAIT_MS,
    balanceRefreshMs: e.BALANCE_REFRESH_MS,
    priceGuard: priceGuard(e),
    dispatchDeadlineMs: e.DISPATCH_DEADLINE_MS,
  };
}

/** The provider accounts of an already-checked environment (secrets read from their files). */
export function providerConfigs(e: z.infer<typeof ProviderEnv>): ProviderConfigs {
  return providerAccounts(e);
}

/** Just the provider accounts (the catalog import command): `DATABASE_URL` plus the provider settings. */
export function loadProviderConfigs(env: NodeJS.ProcessEnv = process.env): ProviderConfigs & { databaseUrl: string } {
  const e = loadConfig(ProviderEnv.extend({ DATABASE_URL: z.string().min(1) }).superRefine(checkProviderAccounts), env);
  return { ...providerConfigs(e), databaseUrl: e.DATABASE_URL };
}

/** The dispatch rules' policy from the configuration (the service and the rebuild command fold with the same one). */
export function dispatchPolicy(config: DispatcherConfig): DispatchPolicy {
  // A row stays held for the longest provider call plus a margin.
  const timeoutMs = Math.max(config.znet?.timeoutMs ?? 0, config.xstor?.timeoutMs ?? 0);
  return {
    ...DEFAULT_POLICY,
    maxReconcileTries: config.reconcileMaxTries,
    retryBaseMs: config.reconcileBaseMs,
    retryMaxMs: config.reconcileMaxDelayMs,
    leaseMs: timeoutMs + config.leaseMarginMs,
    // Waiting for PlacementStarted's acknowledgement uses half the margin: the call's timeout still fits in the lease after it.
    startAckMs: Math.max(250, Math.floor(config.leaseMarginMs / 2)),
    priceGuard: config.priceGuard,
    dispatchDeadlineMs: config.dispatchDeadlineMs,
  };
}
