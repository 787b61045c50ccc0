import { z } from 'zod';
import { IsoDateTime } from './json.js';
import { JobEventType } from './status.js';

/** One entry of a job's event stream, as stored and as sent to subscribers (without `job`). */
export const JobEvent = z.object({
  cursor: z.string().min(1), // opaque to clients; pass back as `after`
  feedCursor: z.string().min(1).optional(), // jobFeed events only: pass back as jobFeed's `after`
  seq: z.number().int().min(1), // per job, contiguous from 1
  jobId: z.string(),
  tenant: z.string(),
  nodeId: z.string().optional(),
  type: JobEventType,
  progress: z.number().min(0).max(1).optional(),
  message: z.string().max(8000).optional(),
  at: IsoDateTime,
});
export type JobEvent = z.infer<typeof JobEvent>;
