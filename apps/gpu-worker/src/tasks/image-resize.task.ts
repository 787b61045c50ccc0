import sharp from 'sharp';
import { z } from 'zod';
import { artifactId, defineTask, TaskError } from '#libs/task-sdk';
import { CPU_TASK } from './resources.js';

const FORMATS = ['png', 'jpeg', 'webp'] as const;
type Format = (typeof FORMATS)[number];
const MAX_SIDE = 16_384;
// Refuse decompression bombs: ~100 megapixels is far above any thumbnail source we expect.
const MAX_INPUT_PIXELS = 100_000_000;

/**
 * Resizes an image artifact. Without `height` the aspect ratio is kept; with both, the image covers the
 * box and is centre-cropped (exact size, no distortion). The output format defaults to the input's
 * when that is png/jpeg/webp, else png.
 */
export const imageResize = defineTask({
  name: 'image.resize',
  version: '1.0.0',
  description: 'Resize an image artifact (sharp). Keeps the aspect ratio when height is absent.',
  resources: CPU_TASK,
  input: z.strictObject({
    image: artifactId(),
    width: z.int().min(1).max(MAX_SIDE),
    height: z.int().min(1).max(MAX_SIDE).optional(),
    format: z.enum(FORMATS).optional(),
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
    const source = await ctx.artifacts.read(input.image);
    let sourceFormat: string | undefined;
    try {
      sourceFormat = (await sharp(source, { limitInputPixels: MAX_INPUT_PIXELS }).metadata()).format;
    } catch (e) {
      throw new TaskError(
        'INVALID_INPUT',
        `image ${input.image} is not a decodable image: ${(e as Error).message}`,
        {
          retryable: false,
        },
      );
    }
    const format: Format =
      input.format ?? (FORMATS.includes(sourceFormat as Format) ? (sourceFormat as Format) : 'png');
    ctx.progress(0.2, `decoding ${sourceFormat ?? 'image'}`);

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
