/** Read figures out of Prometheus' text exposition format (what every service's /metrics answers). Pure. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    if (!Number.isNaN(value)) samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

/** The sum of every series of `name` (null when there is none). */
export function total(samples: readonly Sample[], name: string, where: Record<string, string> = {}): number | null {
  const matching = samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v));
  return matching.length === 0 ? null : matching.reduce((sum, s) => sum + s.value, 0);
}

/** The largest value of any series of `name` (null when there is none). */
export function largest(samples: readonly Sample[], name: string): number | null {
  const matching = samples.filter((s) => s.name === name);
  return matching.length === 0 ? null : Math.max(...matching.map((s) => s.value));
}

/** A histogram's mean over every series (`_sum / _count`); null without observations. */
export function histogramMean(samples: readonly Sample[], name: string): number | null {
  const count = total(samples, `${name}_count`);
  const sum = total(samples, `${name}_sum`);
  return count === null || sum === null || count === 0 ? null : sum / count;
}
