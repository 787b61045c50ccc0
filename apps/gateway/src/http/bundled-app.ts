import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Response } from 'express';

export interface BundledAppOptions {
  /** For logs and the 503 text: 'console', 'GraphiQL'. */
  label: string;
  /** Where `npm run build` put the bundle. */
  dir: string;
  built(dir: string): boolean;
  /** Bundles it now (esbuild, a dev dependency): for a checkout that was not built. */
  build(dir: string): Promise<void>;
  /** Content types of the bundle's files by extension. */
  types: Record<string, string>;
  /** Cache-Control of the assets. */
  assetCacheControl: string;
  logger: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/**
 * A browser app the gateway serves from its esbuild bundle (the console, the GraphiQL playground): bundles it
 * once on first use when the checkout was not built, serves its assets by file name, and its HTML page, or a
 * 503 naming what is missing.
 */
export class BundledApp {
  private building: Promise<void> | null = null;

  constructor(private readonly o: BundledAppOptions) {}

  private ready(): Promise<void> {
    if (this.o.built(this.o.dir)) return Promise.resolve();
    this.building ??= (async () => {
      this.o.logger.info({ dir: this.o.dir }, `${this.o.label} bundle missing; bundling it once`);
      await this.o.build(this.o.dir);
    })().catch((e: unknown) => {
      this.building = null;
      throw e;
    });
    return this.building;
  }

  /**
   * One file of the bundle by its plain name (no path, no '..'); 404 for anything else. Its ETag is set here
   * (the apps turn Express's automatic one off), so a `no-cache` asset is revalidated with a 304.
   */
  serveAsset(res: Response, name: string): void {
    if (!/^[\w.-]+$/.test(name) || name.includes('..')) return void res.status(404).end();
    void this.ready()
      .then(() => readFile(join(this.o.dir, name)))
      .then(
        (body) => {
          res
            .type(this.o.types[extname(name)] ?? 'application/octet-stream')
            .setHeader('cache-control', this.o.assetCacheControl)
            .setHeader('etag', `"${createHash('sha1').update(body).digest('base64url')}"`);
          if (res.req.fresh) res.status(304).end();
          else res.send(body);
        },
        () => res.status(404).end(),
      );
  }

  /** The app's HTML page, once its bundle exists. */
  servePage(res: Response, html: string, headers: Record<string, string> = {}): void {
    void this.ready().then(
      () => {
        for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
        res.type('text/html; charset=utf-8').send(html);
      },
      (e: unknown) => {
        this.o.logger.error(
          { err: e instanceof Error ? e.message : String(e) },
          `${this.o.label} unavailable`,
        );
        res
          .status(503)
          .type('text/plain')
          .send(`the ${this.o.label} bundle is missing and could not be built (esbuild is a dev dependency)`);
      },
    );
  }
}
