import type { ApolloServer, BaseContext } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

/**
 * Serves a benchmark's child Apollo Server on loopback (its standalone HTTP server), prints
 * `listening <url>` for the parent, and stops it on SIGTERM/SIGINT.
 */
export async function serveChild(server: ApolloServer<BaseContext>, port: number): Promise<void> {
  const { url } = await startStandaloneServer(server, { listen: { port, host: '127.0.0.1' } });
  process.stdout.write(`listening ${url}\n`);
  const stop = () => void server.stop().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
