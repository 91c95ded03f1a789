import { execFile } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./ports.js";
import { waitForPort } from "./nats-server.js";

const run = promisify(execFile);

/** Where initdb/pg_ctl live (Debian puts them under /usr/lib/postgresql/<v>/bin; /usr/local/bin links them here). */
export const PG_BIN_DIR = process.env.PG_BIN_DIR ?? "/usr/local/bin";
/** The system user a cluster runs as when the tests run as root (initdb and postgres refuse root). */
const PG_OS_USER = process.env.PG_OS_USER ?? "postgres";

/**
 * A private PostgreSQL cluster (initdb + pg_ctl on a free port, its own data directory) for tests
 * that stop and restart the database server: the machine's shared PostgreSQL is never touched.
 * Trust authentication on 127.0.0.1 only; fsync off (the machine does not crash in a test, a
 * stopped server keeps every commit), synchronous commit on (a commit the client saw survives an
 * immediate stop).
 */
export class PrivatePostgres {
  readonly dataDir: string;
  port = 0;
  private readonly root: string;

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), "pinflow-pg-"));
    this.dataDir = join(this.root, "data");
  }

  /** The superuser's URL of the maintenance database (TestDatabase's admin URL). */
  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get logFile(): string {
    return join(this.root, "postgres.log");
  }

  /** The postmaster's process id while it runs (read from its pid file). */
  get pid(): number | undefined {
    const file = join(this.dataDir, "postmaster.pid");
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /** initdb (first time only) and start. */
  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    if (!existsSync(this.dataDir)) {
      if (asRoot()) {
        chmodSync(this.root, 0o755);
        chownSync(this.root, ...(await osUserIds()));
      }
      await pgTool("initdb", ["-D", this.dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
    }
    const options = [
      `-p ${this.port}`,
      "-c listen_addresses=127.0.0.1",
      `-c unix_socket_directories=${this.root}`,
      "-c fsync=off",
      "-c full_page_writes=off",
      "-c max_connections=300",
      "-c shared_buffers=64MB",
    ].join(" ");
    await pgTool("pg_ctl", ["-D", this.dataDir, "-l", this.logFile, "-o", options, "-w", "-t", "60", "start"]);
    await waitForPort(this.port, 30_000);
    return this;
  }

  /**
   * Stop the server: "immediate" is a crash (no checkpoint, every connection cut, recovery on the
   * next start), "fast" a clean stop that still ends every session at once.
   */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    if (this.pid === undefined) return;
    await pgTool("pg_ctl", ["-D", this.dataDir, "-m", mode, "-w", "-t", "60", "stop"]).catch(() => undefined);
  }

  /** Stop (as `mode`) and start again on the same port and data. */
  async restart(mode: "fast" | "immediate" = "immediate"): Promise<void> {
    await this.stop(mode);
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.stop("immediate");
    rmSync(this.root, { recursive: true, force: true });
  }
}

function asRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

async function osUserIds(): Promise<[number, number]> {
  const uid = Number((await run("id", ["-u", PG_OS_USER])).stdout.trim());
  const gid = Number((await run("id", ["-g", PG_OS_USER])).stdout.trim());
  return [uid, gid];
}

async function pgTool(tool: string, args: string[]): Promise<void> {
  const bin = join(PG_BIN_DIR, tool);
  if (asRoot()) await run("runuser", ["-u", PG_OS_USER, "--", bin, ...args], { cwd: tmpdir() });
  else await run(bin, args, { cwd: tmpdir() });
}
