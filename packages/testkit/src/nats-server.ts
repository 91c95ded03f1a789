import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

export interface TestNatsServerOptions {
  /**
   * A nats-server configuration (e.g. the users and permissions rendered by the bus's
   * renderNatsServerConfig): written to the store directory (mode 0600) and loaded with `-c`; the
   * address, port and JetStream storage still come from the command line.
   */
  config?: string;
  /** Where JetStream keeps its files (default: a fresh temporary directory); kept across runs when given. */
  storeDir?: string;
  /** The port (default: a free one). */
  port?: number;
}

/**
 * A private JetStream server for one test file: its own port and store
 * directory, so tests never share state with the running system or each
 * other, and can be stopped and started again to test reconnects.
 */
export class TestNatsServer {
  private child: ChildProcess | undefined;
  readonly storeDir: string;
  port: number;
  /** The server's log (only kept for a server with a configuration: it shows permission violations). */
  readonly logFile: string;

  constructor(private readonly opts: TestNatsServerOptions = {}) {
    this.storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), "pinflow-nats-"));
    mkdirSync(this.storeDir, { recursive: true });
    this.port = opts.port ?? 0;
    this.logFile = join(this.storeDir, "nats-server.log");
  }

  /** The server's process id while it runs (benchmarks read its memory from /proc). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    const args = ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir];
    if (this.opts.config !== undefined) {
      const configFile = join(this.storeDir, "nats-server.conf");
      writeFileSync(configFile, this.opts.config, { mode: 0o600 });
      args.unshift("-c", configFile);
      args.push("-l", this.logFile);
    }
    this.child = spawn(NATS_SERVER_BIN, args, {
      stdio: "ignore",
    });
    await waitForPort(this.port, 10_000);
    return this;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
