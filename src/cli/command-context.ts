import { configError, loadProject } from "../config/load-config.js";
import { validateProject } from "../config/validate-project.js";
import { createProjectContext, type ProjectContext } from "../runner/project-context.js";
import type { Output } from "./output.js";

/** Options every command accepts. */
export interface GlobalOptions {
  readonly config?: string;
}

/**
 * Loads and fully validates the project, then resolves its storages and warehouse.
 * Configuration problems surface as one CONFIG_INVALID error (exit 2) before any data is touched.
 */
export async function openProject(options: GlobalOptions, output: Output): Promise<ProjectContext> {
  const project = await loadProject({ configPath: options.config });
  const problems = await validateProject(project.config);
  if (problems.length > 0) throw configError("sluice.yaml", problems);
  return createProjectContext(project, { notice: output.notice });
}
