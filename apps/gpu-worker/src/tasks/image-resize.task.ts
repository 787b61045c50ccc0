import sharp, { type Metadata } from 'sharp';
import { z } from 'zod';
import { artifactId, defineTask, readBounded, TaskError } from '#libs/task-sdk';
import {
  assertOutputPixels,
  MAX_INPUT_BYTES,
  MAX_INPUT_PIXELS,
  MAX_OUTPUT_PIXELS,
  MAX_SIDE,
  outputSize,
  RASTER_FORMATS,
  sniffRasterFormat,
} from './image-bounds.js';
import { CPU_TASK } from './resources.js';

/**
 * Resizes an image artifact. Without `height` the aspect ratio is kept; with both, the image covers the
 * box and is centre-cropped (exact size, no distortion). The output format defaults to the input's.
 * Hostile inputs are refused as early as possible: each side in the schema (the planner sees it), the
 * output pixels from the inputs and the source header, the source's recorded size before reading it,
 * and any format but png/jpeg/webp from its first bytes, before a decoder sees it.
 */
export const imageResize = defineTask({
  name: 'image.resize',
  version: '1.0.0',
  description: `Resize a png, jpeg or webp image artifact (sharp). Keeps the aspect ratio when height is absent. At most ${MAX_OUTPUT_PIXELS} output pixels.`,
  resources: CPU_TASK,
  input: z.strictObject({
    image: artifactId(),
    width: z.int().min(1).max(MAX_SIDE),
    height: z.int().min(1).max(MAX_SIDE).optional(),
    format: z.enum(RASTER_FORMATS).optional(),
  }),
  output: z.strictObject({
    image: artifactId(),
    width: z.int().min(1),
    height: z.int().min(1),
  }),
  timeoutMs: 120_000,
  attempts: 3,
  artifactFields: ['image'],
  async run(input, ctx) {
    if (input.height !== undefined) assertOutputPixels({ width: input.width, height: input.height });
    const what = `image ${input.image}`;
    const source = await readBounded(ctx, input.image, MAX_INPUT_BYTES, what);
    const sourceFormat = sniffRasterFormat(source, what);
    let header: Metadata;
    try {
      // Reads the header only: dimensions before any pixel is decoded.
      header = await sharp(source, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
    } catch (e) {
      throw new TaskError('INVALID_INPUT', `${what} is not a decodable image: ${(e as Error).message}`, {
        retryable: false,
      });
    }
    if (!header.width || !header.height)
      throw new TaskError('INVALID_INPUT', `${what} has no dimensions`, { retryable: false });
    if (header.width * header.height > MAX_INPUT_PIXELS)
      throw new TaskError(
        'INVALID_INPUT',
        `${what} is ${header.width}x${header.height}; at most ${MAX_INPUT_PIXELS} pixels`,
        { retryable: false },
      );
    // EXIF orientations 5-8 swap the sides once rotated.
    const rotated = (header.orientation ?? 1) >= 5;
    const shown = rotated ? { width: header.height, height: header.width } : header;
    assertOutputPixels(outputSize({ width: shown.width, height: shown.height }, input.width, input.height));
    const format = input.format ?? sourceFormat;
    ctx.progress(0.2, `decoding ${sourceFormat}`);

    const { data, info } = await sharp(source, { limitInputPixels: MAX_INPUT_PIXELS })
      .rotate() // honour EXIF orientation so width/height mean what the viewer sees
      .resize(input.width, input.height, { fit: input.height === undefined ? 'inside' : 'cover' })
      .toFormat(format)
      .toBuffer({ resolveWithObject: true });
    ctx.progress(0.8, `resized to ${info.width}x${info.height} ${format}`);

    const id = await ctx.artifacts.put(data, {
      name: `resized.${format === 'jpeg' ? 'jpg' : format}`,
      contentType: `image/${format}`,
      size: data.length,
    });
    ctx.progress(1, 'stored');
    return { image: id, width: info.width, height: info.height };
  },
});
