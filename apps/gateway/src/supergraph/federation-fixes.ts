import { isVariable, VariableCollector } from '@apollo/federation-internals';

const FIXED = Symbol.for('switchyard.federation.linearVariableCollection');

/**
 * Makes the query planner's search for variables in argument values linear. @apollo/federation-internals
 * 2.14.4's `collectVariablesInValue` walks a list twice (its items, then the same items again as the keys of an
 * object), so the work doubles with every level of list nesting in a literal argument: `[[[…1…]]]` nested 28 deep
 * (about 200 bytes, well inside every document limit) held the gateway's event loop for 43 s, 30 deep for minutes,
 * stopping every request and subscription of every tenant. The planner reaches that function only through
 * `VariableCollector.collectInArguments`, replaced here with a walk that visits each value once, in the same
 * order (so the variables a fetch declares, and their order, are unchanged). Idempotent; called before the
 * gateway or the subscription planner plans anything. docs/decisions/0009-federation-variable-walk.md.
 */
export function fixFederationVariableCollection(): void {
  const proto = VariableCollector.prototype as VariableCollector & { [FIXED]?: true };
  if (proto[FIXED]) return;
  proto.collectInArguments = function collectInArguments(
    this: VariableCollector,
    args: Record<string, unknown>,
  ): void {
    for (const value of Object.values(args)) collectVariables(value, this);
  };
  proto[FIXED] = true;
}

/** Every variable in `value`, depth first, items and fields in order; an explicit stack (no recursion). */
function collectVariables(value: unknown, collector: VariableCollector): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (isVariable(v)) {
      collector.add(v);
      continue;
    }
    if (!v || typeof v !== 'object') continue;
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v);
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
}
