import { readFileSync } from "node:fs";
import { ConfigError } from "./config.js";

/**
 * A secret from `NAME` or from the file named by `NAME_FILE` (trimmed; e.g. a mounted Kubernetes
 * secret). Errors name the setting and the file, never the secret.
 */
export function readSecret(name: string, value: string | undefined, file: string | undefined): string {
  if (value !== undefined) return value;
  const path = file ?? "";
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${name}_FILE: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const trimmed = text.trim();
  if (trimmed === "") throw new ConfigError(`invalid configuration: ${name}_FILE: ${path} is empty`);
  return trimmed;
}
