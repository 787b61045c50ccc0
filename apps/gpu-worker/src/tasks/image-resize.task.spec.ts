import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createLocalTaskContext, runTask, schemaDisagreements, type LocalTaskContext } from '#libs/task-sdk';
import { REPO_ROOT } from '#libs/testing';
import { MAX_SIDE } from './image-bounds.js';
import { imageResize } from './image-resize.task.js';

const samplePng = new URL('../../../../data/sample.png', import.meta.url);

let dir: string;
let ctx: LocalTaskContext;
let image: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resize-'));
  ctx = await createLocalTaskContext({ rootDir: dir });
  image = await ctx.artifacts.put(await readFile(samplePng), {
    name: 'sample.png',
    contentType: 'image/png',
  });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('image.resize', () => {
  it('keeps the aspect ratio without height and keeps the source format', async () => {
    const out = await runTask(imageResize, { image, width: 48 }, ctx);
    expect(out).toMatchObject({ width: 48, height: 32 }); // sample.png is 96x64
    const stored = await ctx.stored(out.image);
    expect(stored).toMatchObject({ name: 'resized.png', contentType: 'image/png' });
    const meta = await sharp(await readFile(stored.path)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 48, 32]);
    expect(ctx.progressUpdates.at(-1)).toEqual({ fraction: 1, message: 'stored' });
  });

  it('produces exactly width x height in the asked format when both are given', async () => {
    const out = await runTask(imageResize, { image, width: 20, height: 30, format: 'webp' }, ctx);
    expect(out).toMatchObject({ width: 20, height: 30 });
    const stored = await ctx.stored(out.image);
    expect(stored.contentType).toBe('image/webp');
    const meta = await sharp(await readFile(stored.path)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 20, 30]);
    const jpeg = await runTask(imageResize, { image, width: 200, format: 'jpeg' }, ctx);
    expect(jpeg).toMatchObject({ width: 200, height: 133 });
    expect((await ctx.stored(jpeg.image)).name).toBe('resized.jpg');
  });

  it('refuses bytes that are not an image, and bad sizes, as non-retryable bad input', async () => {
    const text = await ctx.artifacts.put(Buffer.from('not an image'), {
      name: 'a.txt',
      contentType: 'text/plain',
    });
    await expect(runTask(imageResize, { image: text, width: 10 }, ctx)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      retryable: false,
    });
    await expect(runTask(imageResize, { image, width: 0 }, ctx)).rejects.toThrow(/width/);
    await expect(runTask(imageResize, { image, width: 10, format: 'gif' }, ctx)).rejects.toThrow(/format/);
  });

  it('refuses hostile sizes and formats before decoding', async () => {
    // 1x1 → 16384x16384 is refused by the schema the planner validates with
    await expect(runTask(imageResize, { image, width: 16384, height: 16384 }, ctx)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      retryable: false,
    });
    expect(imageResize.manifest().inputSchema.properties).toMatchObject({
      width: { maximum: 8192 },
      height: { maximum: 8192 },
    });
    // within each side but over the output pixels, refused before the source is read
    let reads = 0;
    const counting = {
      ...ctx,
      artifacts: { ...ctx.artifacts, read: (id: string) => (reads++, ctx.artifacts.read(id)) },
    };
    await expect(runTask(imageResize, { image, width: 8192, height: 8192 }, counting)).rejects.toThrow(
      /output would be 8192x8192 = 67108864 pixels; at most 40000000/,
    );
    expect(reads).toBe(0);
    // without height, from the source header (96x64 → 8192 wide is 5461 high: fine; a 1x64 strip is not)
    const strip = await ctx.artifacts.put(
      await sharp({ create: { width: 1, height: 64, channels: 3, background: '#fff' } })
        .png()
        .toBuffer(),
      { name: 'strip.png', contentType: 'image/png' },
    );
    await expect(runTask(imageResize, { image: strip, width: 8192 }, ctx)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/8192x524288/),
    });
    // only the declared raster formats: an SVG never reaches the decoder
    const svg = await ctx.artifacts.put(
      Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
      ),
      { name: 'a.svg', contentType: 'image/svg+xml' },
    );
    await expect(runTask(imageResize, { image: svg, width: 10 }, ctx)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/is not a png, jpeg, webp image/),
    });
    const gif = await ctx.artifacts.put(
      await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } })
        .gif()
        .toBuffer(),
      { name: 'a.gif', contentType: 'image/gif' },
    );
    await expect(runTask(imageResize, { image: gif, width: 2 }, ctx)).rejects.toThrow(
      /not a png, jpeg, webp/,
    );
  });

  it("bounds the thumbnail template's width where it bounds a side, so a too-large width is refused on params.width", async () => {
    const template = JSON.parse(await readFile(join(REPO_ROOT, 'templates/thumbnail.v1.json'), 'utf8'));
    expect(template.paramsSchema.properties.width.maximum).toBe(MAX_SIDE);
  });

  it('advertises JSON Schemas that agree with zod', () => {
    expect(
      schemaDisagreements(imageResize, {
        input: [
          { image: 'a', width: 1 },
          { image: 'a', width: 1, height: 2, format: 'jpeg' },
          { image: 'a', width: 1.5 },
          { image: 'a', width: 8193 },
          { image: 'a', width: 16384, height: 16384 },
          { image: 'a', width: 1, format: 'bmp' },
          { image: 'a' },
          { image: 'a', width: 1, scale: 2 },
        ],
        output: [
          { image: 'b', width: 1, height: 1 },
          { image: 'b', width: 0, height: 1 },
        ],
      }),
    ).toEqual([]);
  });
});
