import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import type { GraphError, GraphSpec, Json, JsonSchema } from '#libs/contracts';
import { analyzeGraph } from '../planner/graph-structure.js';
import { createAjv, schemaIssues } from '../planner/schema-validation.js';
import { dottedPath } from '../planner/refs.js';
import { findPlaceholders, substituteParams } from './param-placeholders.js';
import { TemplateFile, templateFileName } from './template-file.js';
import { TemplateLoadError } from './template-load-error.js';

/** A template as the public `templates` query lists it (contract PipelineTemplate), plus its version. */
export interface TemplateSummary {
  name: string;
  version: number;
  description?: string;
  paramsSchema: JsonSchema;
}

export type TemplateExpansion =
  { ok: true; name: string; version: number; graph: GraphSpec } | { ok: false; errors: GraphError[] };

interface LoadedTemplate extends TemplateFile {
  file: string;
  validateParams: ValidateFunction;
}

/**
 * `<repo>/templates`: the nearest ancestor of this file that holds both package.json and a templates
 * folder, so it resolves the same from src (jest) and from dist (node).
 */
export const DEFAULT_TEMPLATES_DIR: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate) && statSync(candidate).isDirectory()) {
      return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) return join(process.cwd(), 'templates');
    dir = parent;
  }
})();

/** Splits `thumbnail` or `thumbnail@2` into a name and an optional pinned version. */
function parseTemplateRef(ref: string): { name: string; version?: number } {
  const at = ref.lastIndexOf('@');
  if (at <= 0) return { name: ref };
  const version = Number(ref.slice(at + 1));
  return Number.isInteger(version) && version >= 1 ? { name: ref.slice(0, at), version } : { name: ref };
}

/**
 * The pipeline templates of the repo, validated once at boot. Expanding a template validates its
 * params and substitutes them into its graph; whether the graph's tasks exist is the planner's
 * business (workers come and go).
 */
export class TemplateRegistry {
  /** name → versions, newest first. */
  private readonly byName = new Map<string, LoadedTemplate[]>();

  private constructor(templates: LoadedTemplate[]) {
    for (const template of templates) {
      const versions = this.byName.get(template.name) ?? [];
      versions.push(template);
      versions.sort((a, b) => b.version - a.version);
      this.byName.set(template.name, versions);
    }
  }

  /** Loads every `*.json` in `dir`; throws TemplateLoadError naming the file and each problem. */
  static loadFromDir(dir: string): TemplateRegistry {
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new TemplateLoadError(dir, ['not a directory']);
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
    const ajv = createAjv({ strict: true, useDefaults: true });
    // The file name must be <name>.v<version>.json, so two files cannot define the same version.
    const loaded = files.map((file) => loadTemplateFile(join(dir, file), ajv));
    return new TemplateRegistry(loaded);
  }

  /** The newest version of each template, by name. */
  list(): TemplateSummary[] {
    return [...this.byName.keys()].sort().map((name) => {
      const { version, description, paramsSchema } = this.byName.get(name)![0]!;
      return { name, version, ...(description !== undefined ? { description } : {}), paramsSchema };
    });
  }

  has(ref: string): boolean {
    return this.find(ref) !== undefined;
  }

  /** The graph of template `ref` (`name` = newest version, `name@<version>` = that one) for `params`. */
  expand(ref: string, params: unknown): TemplateExpansion {
    const template = this.find(ref);
    if (!template) {
      const known = [...this.byName.keys()].sort();
      return {
        ok: false,
        errors: [
          {
            code: 'UNKNOWN_TEMPLATE',
            path: 'template',
            message: `no template "${ref}"; known: ${known.length > 0 ? known.join(', ') : 'none'}`,
          },
        ],
      };
    }
    const given = params === undefined || params === null ? {} : params;
    if (typeof given !== 'object' || Array.isArray(given)) {
      return {
        ok: false,
        errors: [{ code: 'INVALID_INPUT', path: 'params', message: 'params must be an object' }],
      };
    }
    // Validation fills in defaults, so it works on a copy: the caller's params stay as given.
    const filled = structuredClone(given) as Record<string, Json>;
    const issues = schemaIssues(template.validateParams, filled);
    if (issues.length > 0) {
      return {
        ok: false,
        errors: issues.map((issue) => ({
          code: 'INVALID_INPUT' as const,
          path: dottedPath(['params', ...issue.path]),
          message: `${dottedPath(['params', ...issue.path])} ${issue.message}`,
        })),
      };
    }
    const nodes = template.graph.nodes.map((node) =>
      node.inputs === undefined ? { ...node } : { ...node, inputs: substituteParams(node.inputs, filled) },
    );
    return { ok: true, name: template.name, version: template.version, graph: { nodes } };
  }

  private find(ref: string): LoadedTemplate | undefined {
    const { name, version } = parseTemplateRef(ref);
    const versions = this.byName.get(name);
    if (!versions) return undefined;
    return version === undefined ? versions[0] : versions.find((t) => t.version === version);
  }
}

function loadTemplateFile(file: string, ajv: ReturnType<typeof createAjv>): LoadedTemplate {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TemplateLoadError(file, [`not readable JSON: ${(e as Error).message}`]);
  }
  const parsed = TemplateFile.safeParse(raw);
  if (!parsed.success) {
    throw new TemplateLoadError(
      file,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  const template = parsed.data;
  const problems: string[] = [];

  const expectedName = templateFileName(template.name, template.version);
  if (basename(file) !== expectedName)
    problems.push(`file name must be ${expectedName} for ${template.name} v${template.version}`);

  let validateParams: ValidateFunction | undefined;
  if (template.paramsSchema.type !== 'object') problems.push('paramsSchema must have "type": "object"');
  try {
    validateParams = ajv.compile(template.paramsSchema);
  } catch (e) {
    problems.push(`paramsSchema does not compile: ${(e as Error).message}`);
  }

  const properties = (template.paramsSchema.properties ?? {}) as Record<string, { default?: unknown }>;
  const required = new Set(
    Array.isArray(template.paramsSchema.required) ? (template.paramsSchema.required as string[]) : [],
  );
  const used = new Set<string>();
  for (const node of template.graph.nodes) {
    for (const placeholder of findPlaceholders(node.inputs)) {
      const where = `node "${node.id}" ${dottedPath(['inputs', ...placeholder.path])}`;
      used.add(placeholder.param);
      if (!Object.hasOwn(properties, placeholder.param)) {
        problems.push(`${where}: $param "${placeholder.param}" is not declared in paramsSchema.properties`);
      } else if (
        placeholder.inArray &&
        !required.has(placeholder.param) &&
        properties[placeholder.param]?.default === undefined
      ) {
        problems.push(
          `${where}: $param "${placeholder.param}" sits in an array, so it must be required or have a default`,
        );
      }
    }
  }
  for (const param of Object.keys(properties)) {
    if (!used.has(param)) problems.push(`param "${param}" is declared but no node uses it`);
  }

  for (const error of analyzeGraph(template.graph.nodes).errors) {
    const where = [error.nodeId && `node "${error.nodeId}"`, error.path].filter(Boolean).join(' ');
    problems.push(`${error.code}${where ? ` at ${where}` : ''}: ${error.message}`);
  }

  if (problems.length > 0 || !validateParams) throw new TemplateLoadError(file, problems);
  return { ...template, file, validateParams };
}
