/**
 * giveTree never follows a link: a process of the task uid swapping an entry of a tree it can already write for
 * a symlink (between giveTree's readdir and its chown) must not make root chown or chmod the link's target (any
 * file of the machine). Runs as root only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, testCommandTaskUidBase } from '#libs/testing';
import { giveTree } from './task-user.js';

const asRoot = process.getuid?.() === 0;
const uid = testCommandTaskUidBase();
const user = { uid, gid: uid, name: 'nobody' };

const SWAPPER = `
const fs = require('node:fs');
const [dir, target] = process.argv.slice(1);
const f = dir + '/data', tmp = dir + '/data.real';
for (;;) {
  try { fs.renameSync(f, tmp); fs.symlinkSync(target, f); } catch {}
  try { fs.unlinkSync(f); fs.renameSync(tmp, f); } catch {}
}
`;

(asRoot ? describe : describe.skip)('giveTree and links swapped in after its readdir', () => {
  let swapper: ChildProcess | undefined;
  afterAll(() => swapper?.kill('SIGKILL'));

  it('root never chowns or chmods a file outside the attempt for the task uid', async () => {
    const base = tempDir('review-give-tree');
    chmodSync(base, 0o711);
    // stands for /etc/passwd: a root-owned file the task must never own
    const target = join(base, 'root-owned.conf');
    writeFileSync(target, 'root:x:0:0', { mode: 0o644 });
    const inputDir = join(base, 'input');
    mkdirSync(inputDir);
    writeFileSync(join(inputDir, 'data'), 'input artifact');
    await giveTree(inputDir, user); // the dir is the task uid's from here on
    swapper = spawn(process.execPath, ['-e', SWAPPER, inputDir, target], {
      uid: user.uid,
      gid: user.gid,
      stdio: 'ignore',
    });
    // the old walk lost this race within ~100 ms; a link now fails the open (ELOOP) instead
    const until = Date.now() + 3_000;
    while (Date.now() < until && statSync(target).uid !== user.uid)
      await giveTree(inputDir, user).catch(() => undefined);
    swapper.kill('SIGKILL');
    const st = statSync(target);
    expect(st.uid).toBe(0);
    expect(st.mode & 0o777).toBe(0o644);
  }, 60_000);
});
