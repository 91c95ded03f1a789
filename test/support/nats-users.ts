import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { connectNats, NATS_ROLES, natsUser, renderNatsServerConfig, type NatsConnection, type NatsCredentials, type NatsRole } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { REPO_ROOT } from "./paths.js";

/** Connection status is not the tests' business (a refused subject rejects the call that used it). */
const QUIET = { warn: () => undefined } as unknown as Parameters<typeof connectNats>[0]["logger"];

/**
 * The NATS users of some environments with fresh random passwords, as a private test server runs
 * them: the configuration rendered by the bus (the same one deploy/ uses, with literal passwords),
 * each service's environment variables, and admin connections for the tests' own inspection.
 */
export class NatsUsers {
  private readonly passwords = new Map<string, string>();

  /** `password`: each user's password (default: fresh random ones; the demo keeps its own across runs). */
  constructor(
    readonly environments: readonly string[],
    password: (user: string) => string = () => randomBytes(24).toString("base64url"),
  ) {
    for (const environment of environments) {
      for (const role of NATS_ROLES) this.passwords.set(natsUser(environment, role), password(natsUser(environment, role)));
    }
  }

  /** The server configuration: users, passwords and permissions of every environment. */
  config(): string {
    return renderNatsServerConfig({
      environments: this.environments.map((e) => eventNames(e)),
      password: (environment, role) => ({ literal: this.credentials(environment, role).password }),
    });
  }

  credentials(environment: string, role: NatsRole): NatsCredentials {
    const user = natsUser(environment, role);
    const password = this.passwords.get(user);
    if (password === undefined) throw new Error(`no NATS user ${user}`);
    return { user, password };
  }

  /** A process's NATS settings (NATS_USER, NATS_PASSWORD). */
  env(environment: string, role: NatsRole): Record<string, string> {
    const { user, password } = this.credentials(environment, role);
    return { NATS_USER: user, NATS_PASSWORD: password };
  }

  /** Every password (a test checks none of them reaches a log). */
  allPasswords(): string[] {
    return [...this.passwords.values()];
  }

  /** A connection as one role (tests inspect and inject as `admin`). */
  connect(url: string, environment: string, role: NatsRole, name: string): Promise<NatsConnection> {
    return connectNats({ servers: url, name, logger: QUIET, credentials: this.credentials(environment, role) });
  }
}

const NATS_SETUP = resolve(REPO_ROOT, "packages/service-kit/dist/nats-setup.js");

/** Run the set-up step (creates the environment's stream as its admin user) as a process, as deploy/ does. */
export async function runNatsSetup(env: Record<string, string>): Promise<void> {
  await promisify(execFile)(process.execPath, [NATS_SETUP], { env: { PATH: process.env.PATH ?? "", ...env } });
}
