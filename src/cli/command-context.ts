import type { ProjectContext } from "../run/project-context.js";
import { openProject as openProjectWith } from "../runner/open-project.js";
import type { Output } from "./output.js";

export { readCatalog } from "../runner/open-project.js";

/** Options every command accepts. */
export interface GlobalOptions {
  readonly config?: string;
}

/**
 * Opens the project of a command (see the runner's `openProject`): notices go to the command's stderr.
 *
 * @example
 * const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
 */
export function openProject(
  options: GlobalOptions,
  output: Output,
  use: "loads" | "reads" = "loads",
  onUnchecked?: (pipeline: string, reason: string) => void,
): Promise<ProjectContext> {
  return openProjectWith({
    ...(options.config !== undefined ? { config: options.config } : {}),
    notice: output.notice,
    use,
    ...(onUnchecked ? { onUnchecked } : {}),
  });
}
