import { ArtifactListPosition } from '#libs/contracts';
import { DomainError } from '#libs/errors';

/**
 * A place in a job's artifact list, opaque to clients: `c:<commitSeq>:<id>` for an artifact the scheduler
 * committed, `<createdMs>:<name>:<id>` for one an older release committed (the form every cursor that release
 * answered has, so a cursor a client held across the upgrade still names its place).
 */
export const encodeArtifactCursor = (p: ArtifactListPosition): string =>
  Buffer.from('commitSeq' in p ? `c:${p.commitSeq}:${p.id}` : `${p.createdMs}:${p.name}:${p.id}`).toString(
    'base64url',
  );

/**
 * The position a cursor names, parsed by the contract (ArtifactListPosition): a forged one (a number past any
 * date or 16 digits, a name or id storage never makes, anything else) is BAD_USER_INPUT and never reaches Redis.
 */
export function decodeArtifactCursor(cursor: string): ArtifactListPosition {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  const r =
    parts.length !== 3
      ? undefined
      : parts[0] === 'c'
        ? ArtifactListPosition.safeParse({ commitSeq: parts[1], id: parts[2] })
        : ArtifactListPosition.safeParse({ createdMs: parts[0], name: parts[1], id: parts[2] });
  if (!r?.success)
    throw new DomainError('BAD_USER_INPUT', `"${cursor.slice(0, 100)}" is not a cursor of this list`);
  return r.data;
}
