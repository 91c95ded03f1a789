/**
 * The Kubernetes overlays as rendered (`kubectl kustomize`), and their objects validated against the
 * Kubernetes API schemas (kubernetes-models: the OpenAPI schemas of the API, offline).
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../support/paths.js";

export const OVERLAYS_DIR = join(REPO_ROOT, "deploy/overlays");

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export function overlayNames(): string[] {
  return readdirSync(OVERLAYS_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** Every object of an overlay, as `kubectl kustomize` renders it (the catalog lives outside deploy/: no load restrictor). */
export function renderOverlay(name: string): K8sObject[] {
  const text = execFileSync("kubectl", ["kustomize", "--load-restrictor", "LoadRestrictionsNone", join(OVERLAYS_DIR, name)], { encoding: "utf8", maxBuffer: 32 * 1024 * 1024 });
  return parseYamlObjects(text);
}

export function parseYamlObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/**
 * The module of kubernetes-models for an apiVersion: `apps/v1` → kubernetes-models/apps/v1, `v1` →
 * kubernetes-models/v1; the Prometheus Operator's kinds (the alert rules) from its own models.
 */
function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith("monitoring.coreos.com/")) return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

type Model = new (data: unknown) => { validate(): void };

/** Problems of one object against its kind's schema (empty: valid). An unknown kind is a problem too. */
export async function validateObject(object: K8sObject): Promise<string[]> {
  const where = `${object.kind ?? "?"}/${object.metadata?.name ?? "?"}`;
  if (typeof object.apiVersion !== "string" || typeof object.kind !== "string") return [`${where}: no apiVersion/kind`];
  let models: Record<string, unknown>;
  try {
    models = (await import(modelModule(object.apiVersion))) as Record<string, unknown>;
  } catch {
    return [`${where}: no schema for apiVersion ${object.apiVersion}`];
  }
  const Kind = models[object.kind] as Model | undefined;
  if (typeof Kind !== "function") return [`${where}: no schema for ${object.apiVersion} ${object.kind}`];
  const problems = unknownFields(object);
  try {
    new Kind(object).validate();
  } catch (error) {
    problems.push(`${where}: ${(error as Error).message}`);
  }
  return problems;
}

/**
 * The schemas allow extra properties: a misspelt field (`readinesProbe`) would pass them and be
 * dropped by the API server. Containers are where such typos hide: their keys are checked by name.
 */
const CONTAINER_FIELDS = new Set([
  "args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle", "livenessProbe", "name", "ports", "readinessProbe",
  "resizePolicy", "resources", "restartPolicy", "securityContext", "startupProbe", "stdin", "stdinOnce", "terminationMessagePath",
  "terminationMessagePolicy", "tty", "volumeDevices", "volumeMounts", "workingDir",
]);

function unknownFields(object: K8sObject): string[] {
  const problems: string[] = [];
  for (const container of containersOf(object)) {
    for (const key of Object.keys(container)) {
      if (!CONTAINER_FIELDS.has(key)) problems.push(`${object.kind}/${object.metadata.name}: container ${String(container.name)} has unknown field ${key}`);
    }
  }
  return problems;
}

/** The pod template of a workload (Deployment, StatefulSet, Job), if it has one. */
export function podSpecOf(object: K8sObject): Record<string, unknown> | undefined {
  const spec = object.spec as { template?: { spec?: Record<string, unknown> } } | undefined;
  return spec?.template?.spec;
}

export function containersOf(object: K8sObject): Record<string, unknown>[] {
  return (podSpecOf(object)?.containers as Record<string, unknown>[] | undefined) ?? [];
}

/** Validate every object of every overlay; the problems, prefixed by overlay. */
export async function validateOverlays(names: readonly string[] = overlayNames()): Promise<{ objects: number; problems: string[] }> {
  let objects = 0;
  const problems: string[] = [];
  for (const name of names) {
    const rendered = renderOverlay(name);
    objects += rendered.length;
    for (const object of rendered) for (const p of await validateObject(object)) problems.push(`${name}: ${p}`);
  }
  return { objects, problems };
}
