import { z } from "zod";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parse configuration from the environment; a bad value stops the service with a clear message (never echoing secrets). */
export function loadConfig<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = process.env): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}

/** Settings every service has. */
export const BaseConfig = z.object({
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  DATABASE_URL: z.string().min(1),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535),
  HTTP_HOST: z.string().default("127.0.0.1"),
});

export const msSetting = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
