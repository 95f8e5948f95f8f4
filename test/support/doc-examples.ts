import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** What the doc-examples test does with a fenced yaml block (convention: docs/internals.md). */
export type ExampleUse = "run" | "validate-only" | "fragment";

/** A fenced yaml block of a Markdown page. */
export interface DocExample {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly yaml: string;
  readonly use: ExampleUse;
}

const markerPattern = /^<!--\s*example:\s*([\w-]+)\s*-->$/;
const uses: readonly string[] = ["run", "validate-only", "fragment"];

/**
 * The yaml blocks of one page. A block with a top-level `pipelines:` key is a complete project (`run`);
 * any other is a `fragment`. `<!-- example: validate-only -->` or `<!-- example: fragment -->` on the line
 * before the fence overrides that; an unknown marker throws, so a typo cannot silently skip an example.
 */
export function extractYamlExamples(file: string, markdown: string): DocExample[] {
  const lines = markdown.split("\n");
  const examples: DocExample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)(```+|~~~+)\s*(\S*)/.exec(lines[i]!);
    if (!fence) continue;
    const close = lines.findIndex((l, j) => j > i && l.trim().startsWith(fence[2]!));
    const end = close === -1 ? lines.length : close;
    if (fence[3] === "yaml" || fence[3] === "yml") {
      const yaml = lines.slice(i + 1, end).join("\n");
      const marker = markerPattern.exec(lines[i - 1]?.trim() ?? "");
      if (marker && !uses.includes(marker[1]!)) {
        throw new Error(`${file}:${i}: unknown example marker "${marker[1]}" (one of ${uses.join(", ")})`);
      }
      const use = (marker?.[1] as ExampleUse | undefined) ?? (/^pipelines:/m.test(yaml) ? "run" : "fragment");
      examples.push({ file, line: i + 1, yaml: `${yaml}\n`, use });
    }
    i = end;
  }
  return examples;
}

/** The yaml blocks of README.md and every docs/*.md page of the repository at `root`. */
export function repositoryExamples(root: string): DocExample[] {
  const pages = [
    "README.md",
    ...readdirSync(join(root, "docs"))
      .filter((f) => f.endsWith(".md"))
      .sort()
      .map((f) => `docs/${f}`),
  ];
  return pages.flatMap((page) => extractYamlExamples(page, readFileSync(join(root, page), "utf8")));
}
