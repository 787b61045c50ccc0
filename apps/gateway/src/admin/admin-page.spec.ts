import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { withoutExternalLinks } from './admin-page.js';

describe('withoutExternalLinks', () => {
  it("removes the CDN stylesheet from bull-board's installed page and keeps the local assets", () => {
    const ui = dirname(createRequire(import.meta.url).resolve('@bull-board/ui/package.json'));
    const page = readFileSync(join(ui, 'dist/index.ejs'), 'utf8');
    expect(page).toMatch(/https:\/\/fonts\.googleapis\.com/); // what the rewrite is for
    const html = withoutExternalLinks(page);
    expect(html).not.toMatch(/<(?:link|script)\b[^>]*(?:href|src)=["']?(?:https?:)?\/\//i);
    expect(html).toMatch(/<link href="static\/css\/[^"]+\.css" rel="stylesheet">/);
    expect(html).toMatch(/<script defer src="static\/js\/main\.[^"]+\.js"><\/script>/);
    expect(html).toContain('<base href="<%= basePath %>" />');
  });

  it('handles quoting styles and protocol-relative URLs', () => {
    expect(
      withoutExternalLinks(
        `<head><link rel=stylesheet href=//cdn.example/x.css><link href='static/a.css'></head>`,
      ),
    ).toBe(`<head><link href='static/a.css'></head>`);
    expect(withoutExternalLinks(`<LINK HREF="http://x/y.css" rel="preconnect">\n<p>`)).toBe('<p>');
  });
});
