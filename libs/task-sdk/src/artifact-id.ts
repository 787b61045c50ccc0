import { z } from 'zod';

/**
 * An input or output field holding an artifact id. A plain bounded string in both planes (the planner
 * cannot know which ids exist; the worker's storage refuses unknown or foreign ones when reading).
 */
export const artifactId = () => z.string().min(1).max(256).describe('artifact id');
