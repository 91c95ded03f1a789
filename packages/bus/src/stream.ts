import { jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy, type StreamConfig } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { environmentOfStream, type EventNames } from "@pinflow/contracts";
import { BusError, ForeignStreamError } from "./errors.js";

export const DUPLICATE_WINDOW_MS = 15 * 60 * 1000;

/**
 * Create the environment's order event stream if it does not exist (DESIGN.md §3). Safe to call from
 * every service at start. An existing stream of that name must belong to this environment (its
 * description records the environment) and carry exactly the environment's subjects; otherwise
 * this throws ForeignStreamError and the service does not start. With least privilege (nats-access.ts)
 * only the environment's admin user may create it (the set-up step); a service's user that finds no
 * stream gets a BusError saying so.
 */
export async function ensureOrderStream(nc: NatsConnection, names: EventNames): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const existing = await streamConfig(nc, names.stream);
  if (existing) return checkOwnStream(existing, names);
  try {
    await jsm.streams.add({
      name: names.stream,
      description: names.streamDescription,
      subjects: [names.allEvents],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: 0,
      max_msgs: -1,
      max_bytes: -1,
      deny_delete: true,
      deny_purge: true,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
  } catch (error) {
    // Another service may have created it at the same moment (the server then answers "already in use"
    // or, as often, "subjects overlap"): it must be ours too.
    const raced = await streamConfig(nc, names.stream);
    if (raced) return checkOwnStream(raced, names);
    if (isPermissionViolation(error)) {
      throw new BusError(`stream ${names.stream} does not exist and this NATS user may not create it: run the set-up step first (packages/service-kit/dist/nats-setup.js as the environment's admin user)`, { cause: error });
    }
    if (/overlap/i.test(String((error as Error).message))) {
      throw new ForeignStreamError(`subjects ${names.allEvents} of environment ${names.environment} are already taken by another stream on this server: refusing to start`, { cause: error });
    }
    throw error;
  }
}

async function streamConfig(nc: NatsConnection, stream: string): Promise<StreamConfig | undefined> {
  const jsm = await jetstreamManager(nc);
  try {
    return (await jsm.streams.info(stream)).config;
  } catch (error) {
    if (!isNotFound(error)) throw error;
    return undefined;
  }
}

function checkOwnStream(config: Pick<StreamConfig, "description" | "subjects">, names: EventNames): void {
  const owner = environmentOfStream(config.description);
  const subjects = config.subjects ?? [];
  if (owner !== names.environment || subjects.length !== 1 || subjects[0] !== names.allEvents) {
    throw new ForeignStreamError(
      `stream ${names.stream} belongs to ${owner === undefined ? "no recorded environment" : `environment ${JSON.stringify(owner)}`} ` +
        `(subjects ${JSON.stringify(subjects)}), not to environment ${JSON.stringify(names.environment)} (subjects ["${names.allEvents}"]): refusing to start`,
    );
  }
}

export function isNotFound(error: unknown): boolean {
  return /not found/i.test(String((error as Error)?.message ?? error));
}

/** The server refused a subject to this user (its permissions, nats-access.ts). */
export function isPermissionViolation(error: unknown): boolean {
  return /permissions violation/i.test(String((error as Error)?.message ?? error));
}

/** The stream's last sequence now (0 when empty): e.g. where "from now on" starts. */
export async function streamLastSeq(nc: NatsConnection, names: EventNames): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(names.stream)).state.last_seq;
}
