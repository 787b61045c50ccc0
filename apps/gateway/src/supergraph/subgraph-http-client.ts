// Default imports, called through the module object at request time: OpenTelemetry's http instrumentation
// patches the CommonJS module's `request`, which a named ESM import would have bound before the patch (the
// gateway's fetch to a subgraph then carried no traceparent and made no client span).
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';

export interface SubgraphHttpResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * POSTs to the subgraphs on node:http with keep-alive agents, one pool per protocol. Apollo's default
 * fetcher (make-fetch-happen over minipass-fetch and agentkeepalive) built a Request, Headers and a cache
 * policy per call and was the largest single item of the gateway's CPU profile; this does what a GraphQL
 * POST needs and nothing more. A socket failure rejects with Node's error (its `code`, e.g. ECONNREFUSED,
 * is how libs/errors recognises an unreachable subgraph) under the message fetch would give.
 */
export class SubgraphHttpClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, scheduling: 'lifo' });

  post(url: URL, headers: Record<string, string>, body: string): Promise<SubgraphHttpResponse> {
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https.request : http.request)(
        url,
        {
          method: 'POST',
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? '',
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', (err) => reject(failure(url, err)));
        },
      );
      req.on('error', (err) => reject(failure(url, err)));
      req.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function failure(url: URL, err: Error): Error {
  return Object.assign(new Error(`request to ${url.href} failed, reason: ${err.message}`, { cause: err }), {
    code: (err as NodeJS.ErrnoException).code,
  });
}
