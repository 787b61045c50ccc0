import { testCommandTaskUidBase } from '#libs/testing';
import type { CommandTaskUserSettings } from '../../runner/ipc-protocol.js';

/**
 * Who the specs' command tasks run as (as root): `nobody`'s group and this test run's uids (libs/testing
 * testCommandTaskUidBase), never the production default 61000 + slot, which another test run or a worker on
 * the same machine may be using (each command's clean-up kills every process of its uid).
 */
export function testCommandTaskUser(slot = 0): CommandTaskUserSettings {
  return { user: 'nobody', uidBase: testCommandTaskUidBase(), slot };
}
