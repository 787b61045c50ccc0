import { TaskError } from '#libs/task-sdk';

/** The raster formats image.resize declares; anything else (SVG, TIFF, GIF, HEIF...) is refused. */
export const RASTER_FORMATS = ['png', 'jpeg', 'webp'] as const;
export type RasterFormat = (typeof RASTER_FORMATS)[number];

/** Each output side, in the input schema (the planner refuses more). */
export const MAX_SIDE = 8_192;
/** Output pixels: 1×1 → 8192×8192 would still be 67 MP of raw pixels in the runner. */
export const MAX_OUTPUT_PIXELS = 40_000_000;
/** Decompression bombs: ~100 megapixels is far above any thumbnail source we expect. */
export const MAX_INPUT_PIXELS = 100_000_000;
/** Recorded size of the source artifact, checked before a byte is read. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

const invalid = (message: string) => new TaskError('INVALID_INPUT', message, { retryable: false });

/**
 * The format from the first bytes, before any decoder sees them: only the declared raster formats pass,
 * so an SVG (an XML document a decoder would fetch and render) never reaches sharp.
 */
export function sniffRasterFormat(bytes: Buffer, what: string): RasterFormat {
  if (
    bytes.length >= 8 &&
    bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  )
    return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (
    bytes.length >= 12 &&
    bytes.toString('latin1', 0, 4) === 'RIFF' &&
    bytes.toString('latin1', 8, 12) === 'WEBP'
  )
    return 'webp';
  throw invalid(`${what} is not a ${RASTER_FORMATS.join(', ')} image`);
}

/** Output size of a resize (fit 'inside' without height, exact box with it), from the source header. */
export function outputSize(
  source: { width: number; height: number },
  width: number,
  height: number | undefined,
): { width: number; height: number } {
  if (height !== undefined) return { width, height };
  return { width, height: Math.max(1, Math.round((width * source.height) / source.width)) };
}

/** Refuses an output over MAX_OUTPUT_PIXELS before anything is decoded or allocated. */
export function assertOutputPixels(out: { width: number; height: number }): void {
  if (out.width * out.height > MAX_OUTPUT_PIXELS)
    throw invalid(
      `the output would be ${out.width}x${out.height} = ${out.width * out.height} pixels; at most ${MAX_OUTPUT_PIXELS}`,
    );
}
