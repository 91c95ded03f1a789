import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync, type WriteStream } from "node:fs";
import { serviceMain, type ServiceName } from "./paths.js";

/** One service as a real OS process, its stdout/stderr appended to a log file. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: ServiceName,
    readonly env: Record<string, string>,
    readonly logFile: string,
    readonly port: number,
    /** The script to run (default: the service's start.js in the repository; a `pnpm deploy` bundle's in the deploy test). */
    readonly entry: string = serviceMain(name),
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The process id while it runs (the chaos soak samples its memory and open files from /proc). */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    this.log = createWriteStream(this.logFile, { flags: "a" });
    // SERVICE_NODE_ARGS (test support only): extra node flags, e.g. `--cpu-prof --cpu-prof-dir=…` for a benchmark.
    const nodeArgs = (this.env.SERVICE_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
    const child = spawn(process.execPath, [...nodeArgs, this.entry], {
      env: { PATH: process.env.PATH ?? "", ...this.env, HTTP_PORT: String(this.port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.pipe(this.log, { end: false });
    child.stderr.pipe(this.log, { end: false });
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    this.child = child;
  }

  /** Waits for /readyz; the deadline only bounds a failing start (six Node processes starting at once on two busy cores take a while). */
  async waitReady(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited while starting; log:\n${this.readLog().slice(-3000)}`);
      try {
        const res = await fetch(`${this.url}/readyz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${this.name} not ready after ${timeoutMs} ms; log:\n${this.readLog().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Send a signal and wait for the process to end (SIGKILL for a crash, SIGTERM for a clean stop). */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    await this.exited;
  }

  readLog(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  async close(): Promise<void> {
    await this.kill("SIGTERM");
    await new Promise<void>((resolve) => (this.log ? this.log.end(() => resolve()) : resolve()));
  }
}
