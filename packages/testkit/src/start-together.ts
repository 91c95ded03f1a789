import { TestDatabase } from "./postgres.js";
import { TestNatsServer } from "./nats-server.js";

export interface FreshInfra {
  databaseUrl: string;
  natsUrl: string;
}

/** One service's start-up, split so that only its steps (not the connecting) are raced. */
export interface StartUpRace<C> {
  /** Open one replica's connections. */
  connect(infra: FreshInfra, replica: number): Promise<C>;
  /** The start-up steps main.ts runs, in its order; every replica runs them at the same moment. */
  startUp(ctx: C): Promise<void>;
  close(ctx: C): Promise<void>;
}

/**
 * `rounds` times: a fresh database and a fresh nats-server, `replicas` replicas connected, then all
 * their start-ups released at once. Returns one line per start-up that failed (none: all succeeded).
 */
export async function raceStartUps<C>(label: string, rounds: number, race: StartUpRace<C>, replicas = 2): Promise<string[]> {
  const failures: string[] = [];
  for (let round = 1; round <= rounds; round++) {
    const nats = new TestNatsServer();
    const db = new TestDatabase(label);
    const contexts: C[] = [];
    try {
      await nats.start();
      await db.create();
      for (let i = 0; i < replicas; i++) contexts.push(await race.connect({ databaseUrl: db.url, natsUrl: nats.url }, i));
      const results = await Promise.allSettled(contexts.map((ctx) => race.startUp(ctx)));
      results.forEach((r, i) => {
        if (r.status === "rejected") failures.push(`round ${round}, replica ${i + 1}: ${(r.reason as Error)?.message ?? r.reason}`);
      });
    } finally {
      for (const ctx of contexts) await race.close(ctx).catch(() => undefined);
      await db.drop().catch(() => undefined);
      await nats.destroy();
    }
  }
  return failures;
}
