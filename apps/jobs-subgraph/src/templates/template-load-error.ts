/** A template file that cannot be used; the app refuses to boot with it. */
export class TemplateLoadError extends Error {
  readonly code = 'TEMPLATE_INVALID';

  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`template ${file} is invalid: ${problems.join('; ')}`);
    this.name = 'TemplateLoadError';
  }
}
