import type { ApolloServerPlugin, BaseContext } from '@apollo/server';

/** Longest operation name kept as a label value; longer ones are cut. */
export const MAX_OPERATION_NAME_LENGTH = 64;
/** Distinct operation names labelled per process; later new names are counted as `other`. */
export const MAX_OPERATION_NAMES = 200;
/**
 * New names one tenant may add to the labels: past it, that tenant's new names are `other`, so that a tenant
 * making names up cannot take every label and leave the others' operations unnamed.
 */
export const MAX_OPERATION_NAMES_PER_TENANT = 20;

export type OperationOutcome = 'ok' | 'error';

/** Observes one finished HTTP GraphQL operation (bound to the histogram in gateway-metrics.ts). */
export type ObserveOperation = (
  type: string,
  name: string,
  outcome: OperationOutcome,
  seconds: number,
) => void;

/**
 * Keeps the `name` label bounded: clients choose operation names, so an unnamed one is `anonymous`, a name
 * that is not a GraphQL name is `invalid`, long ones are cut, and past `max` distinct names new ones are `other`;
 * each tenant adds at most `perTenant` of them (a name already labelled keeps its label for everyone).
 */
export class OperationNameLabels {
  private readonly seen = new Set<string>();
  /** Names each tenant added; at most `max` entries, since every add takes one of the `max` names. */
  private readonly addedBy = new Map<string, number>();

  constructor(
    private readonly max = MAX_OPERATION_NAMES,
    private readonly perTenant = MAX_OPERATION_NAMES_PER_TENANT,
  ) {}

  label(name: string | null | undefined, tenant = ''): string {
    if (!name) return 'anonymous';
    if (!/^[_A-Za-z][_0-9A-Za-z]*$/.test(name)) return 'invalid';
    const cut = name.slice(0, MAX_OPERATION_NAME_LENGTH);
    if (this.seen.has(cut)) return cut;
    const added = this.addedBy.get(tenant) ?? 0;
    if (this.seen.size >= this.max || added >= this.perTenant) return 'other';
    this.seen.add(cut);
    this.addedBy.set(tenant, added + 1);
    return cut;
  }
}

/**
 * Times every HTTP GraphQL request from its arrival at Apollo to its response, by operation type (`unknown`
 * when the document did not parse or validate), bounded name and outcome (`error` when the response has errors).
 */
export function operationMetricsPlugin<C extends BaseContext & { identity?: { tenant: string } }>(
  observe: ObserveOperation,
  names = new OperationNameLabels(),
): ApolloServerPlugin<C> {
  return {
    async requestDidStart({ contextValue }) {
      const tenant = contextValue.identity?.tenant;
      const started = process.hrtime.bigint();
      let failed = false;
      return {
        async didEncounterErrors() {
          failed = true;
        },
        async willSendResponse({ operation, operationName, request }) {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const name = names.label(operation?.name?.value ?? operationName ?? request.operationName, tenant);
          observe(operation?.operation ?? 'unknown', name, failed ? 'error' : 'ok', seconds);
        },
      };
    },
  };
}
