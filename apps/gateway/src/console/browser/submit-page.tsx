// Submit a template: a form generated from its paramsSchema (rjsf), artifact fields as uploads.
import Form from '@rjsf/core';
import { useEffect, useMemo, useState } from 'react';
import { ApiError, errorOf, request } from './api-client.js';
import { ErrorBox, useSession } from './common.js';
import { SubmitJobMutation, TemplatesQuery } from './documents.js';
import type { ConsoleTemplatesQuery } from './gql/graphql.js';
import { navigate } from './router.js';
import { schemaValidator } from './schema-validator.js';
import { UploadWidget } from './upload-widget.js';

type Template = ConsoleTemplatesQuery['templates'][number];
type Schema = { properties?: Record<string, { description?: string; title?: string; type?: string }> };

/** Fields that take an artifact id (the templates say so in the description) get the upload widget. */
function uiSchemaOf(schema: Schema) {
  const ui: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {}))
    if (prop.type === 'string' && /artifact id/i.test(prop.description ?? ''))
      ui[name] = { 'ui:widget': 'artifactUpload' };
  return ui;
}

export function SubmitPage() {
  const { key } = useSession();
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [name, setName] = useState('');
  const [formData, setFormData] = useState<Record<string, unknown>>({});
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    request(key, TemplatesQuery).then(
      (d) => {
        setTemplates(d.templates);
        if (d.templates[0]) setName((n) => n || d.templates[0]!.name);
      },
      (e) => setError(errorOf(e)),
    );
  }, [key]);

  const template = templates?.find((t) => t.name === name);
  const schema = (template?.paramsSchema ?? {}) as Schema;
  const uiSchema = useMemo(() => uiSchemaOf(schema), [template]);

  const submit = async ({ formData: params }: { formData?: Record<string, unknown> }) => {
    setBusy(true);
    setError(null);
    try {
      const { submitJob } = await request(key, SubmitJobMutation, { input: { template: name, params } });
      navigate({ page: 'job', id: submitJob.id });
    } catch (e) {
      setError(errorOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="submit-title" className="submit-page">
      <h1 id="submit-title">Submit a job</h1>
      <ErrorBox error={error} title="Not submitted" />
      {templates === null ? (
        <p>Loading templates…</p>
      ) : (
        <>
          <label className="block">
            Template{' '}
            <select
              value={name}
              onChange={(e) => {
                setName(e.target.value);
                setFormData({});
              }}
            >
              {templates.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
          {template?.description ? <p className="muted">{template.description}</p> : null}
          {template ? (
            <Form
              key={template.name}
              schema={template.paramsSchema as object}
              uiSchema={{
                ...uiSchema,
                'ui:submitButtonOptions': {
                  submitText: busy ? 'Submitting…' : 'Submit job',
                  props: { disabled: busy },
                },
              }}
              formData={formData}
              onChange={(e: { formData?: Record<string, unknown> }) => setFormData(e.formData ?? {})}
              onSubmit={submit}
              validator={schemaValidator}
              widgets={{ artifactUpload: UploadWidget }}
              showErrorList={false}
              noHtml5Validate
            />
          ) : null}
        </>
      )}
    </section>
  );
}
