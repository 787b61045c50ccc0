import { z } from 'zod';
import { JsonSchema, NodeSpec } from '#libs/contracts';

export const TEMPLATE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

/** A pipeline template as stored in `templates/<name>.v<version>.json`. */
export const TemplateFile = z
  .object({
    name: z.string().regex(TEMPLATE_NAME_PATTERN, 'a template name is lowercase letters, digits and -'),
    version: z.number().int().min(1),
    description: z.string().max(2000).optional(),
    /** JSON Schema of the params; must describe an object. Defaults fill in omitted params. */
    paramsSchema: JsonSchema,
    /** The graph; inputs may hold `{ "$param": "<name>" }` placeholders for the params. */
    graph: z.object({ nodes: z.array(NodeSpec).min(1, 'a template needs at least one node') }).strict(),
  })
  .strict();
export type TemplateFile = z.infer<typeof TemplateFile>;

/** `thumbnail.v1.json` for name `thumbnail`, version 1: the file name says what it holds. */
export const templateFileName = (name: string, version: number): string => `${name}.v${version}.json`;
