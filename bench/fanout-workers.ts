// Drives load-generator processes (bench/fanout-client.ts) for the fan-out benchmark and the
// 1,000-client test: spawns them (with a raised open-files limit), waits for every client to be
// subscribed, starts the count together, and collects their reports.
import type { Subprocess } from "bun";
import type { WorkerReport, WorkerSpec } from "./fanout-client.ts";

const CLIENT_SCRIPT = `${import.meta.dir}/fanout-client.ts`;

interface Worker {
  readonly process: Subprocess<"pipe", "pipe", "inherit">;
  readonly lines: AsyncGenerator<string>;
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
    }
  }
}

async function nextEvent(worker: Worker, event: string, timeoutMs: number): Promise<Record<string, unknown>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`load generator: no "${event}" in ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    for (;;) {
      const line = await Promise.race([worker.lines.next(), timeout]);
      if (line.done) throw new Error(`load generator exited before "${event}"`);
      if (!line.value.startsWith("{")) continue;
      const message = JSON.parse(line.value) as Record<string, unknown>;
      if (message.event === event) return message;
    }
  } finally {
    // A pending timer would keep the bench process alive for minutes after its last line.
    clearTimeout(timer);
  }
}

export class LoadGenerators {
  private readonly workers: Worker[];

  /**
   * One process per spec. Each client needs a file descriptor: the open-files limit is raised to
   * `openFiles`, or to the hard limit where a container does not allow more. At priority "idle"
   * (SCHED_IDLE through chrt, else nice 19) the processes run only on cores the rest of the box
   * leaves: clients standing in for other machines, which do not take a server's core from it.
   */
  constructor(specs: readonly WorkerSpec[], openFiles = 65_536, priority: "normal" | "idle" = "normal") {
    const lowered = priority === "normal" ? "" : Bun.which("chrt") ? "chrt --idle 0 " : "nice -n 19 ";
    this.workers = specs.map((spec) => {
      const child = Bun.spawn(
        [
          "sh",
          "-c",
          `ulimit -n ${openFiles} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ${lowered}bun "$0" "$1"`,
          CLIENT_SCRIPT,
          JSON.stringify(spec),
        ],
        { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
      );
      return { process: child, lines: readLines(child.stdout) };
    });
  }

  get pids(): number[] {
    return this.workers.map((w) => w.process.pid);
  }

  /** Resolves once every client of every process is connected and subscribed. */
  async ready(timeoutMs = 120_000): Promise<void> {
    await Promise.all(this.workers.map((w) => nextEvent(w, "ready", timeoutMs)));
  }

  /** Starts counting everywhere; resolves once every process has started. */
  async start(): Promise<void> {
    for (const w of this.workers) {
      w.process.stdin.write("start\n");
      w.process.stdin.flush();
    }
    await Promise.all(this.workers.map((w) => nextEvent(w, "started", 30_000)));
  }

  /** Stops counting (after every client reached `targets`, if given) and returns the reports. */
  async stop(targets?: Record<string, number>, timeoutMs = 120_000): Promise<WorkerReport[]> {
    for (const w of this.workers) {
      w.process.stdin.write(targets ? `stop ${JSON.stringify(targets)}\n` : "stop\n");
      w.process.stdin.flush();
    }
    const reports = await Promise.all(this.workers.map((w) => nextEvent(w, "report", timeoutMs)));
    await Promise.all(this.workers.map((w) => w.process.exited));
    return reports as unknown as WorkerReport[];
  }

  kill(): void {
    for (const w of this.workers) if (w.process.exitCode === null) w.process.kill("SIGKILL");
  }
}
