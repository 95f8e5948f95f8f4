import { existsSync, realpathSync } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * How to call this CLI again from the current folder, for the hints it prints: `sluice` when that name on
 * PATH is this copy (installed globally or linked), `npx sluice` when it runs from a project's
 * node_modules, else `node <absolute path of the entry script>` (a clone that is not linked).
 *
 * @example
 * output.line(`next: ${cliName()} runs`);
 */
export function cliName(env: NodeJS.ProcessEnv = process.env, script = process.argv[1]): string {
  const self = real(script);
  if (self === undefined) return "sluice";
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "sluice");
    if (existsSync(candidate) && real(candidate) === self) return "sluice";
  }
  if (/[\\/]node_modules[\\/]/.test(self)) return "npx sluice";
  return `node ${/[\s"'$`\\]/.test(self) ? JSON.stringify(self) : self}`;
}

function real(path: string | undefined): string | undefined {
  try {
    return path === undefined ? undefined : realpathSync(path);
  } catch {
    return undefined;
  }
}
